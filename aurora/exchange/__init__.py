"""Exchange gateway: the only part of the project that talks to an exchange (ccxt).

One async :class:`Gateway` runs against Binance, the Binance spot testnet or the local venue,
chosen by ``exchange.target`` in config. Errors follow one taxonomy (``kind`` retryable |
rate_limited | unknown_state | fatal)::

    GatewayError
    ├── RetryableError
    │   └── ClockSkewError
    ├── RateLimitedError
    ├── UnknownStateError
    └── FatalError
        ├── AuthenticationError
        ├── FilterRejectedError
        ├── OrderRejectedError
        │   └── DuplicateOrderError
        ├── OrderNotFoundError
        └── BadRequestError

(which Binance codes and ccxt classes land where: ``aurora/exchange/_errors.py``).
:func:`round_order` over :func:`filters_from_settings` rounds orders without a connection by
the same rule the gateway applies with ccxt.
"""

from aurora.exchange._errors import (
    KINDS,
    AuthenticationError,
    BadRequestError,
    ClockSkewError,
    DuplicateOrderError,
    FatalError,
    FilterRejectedError,
    GatewayError,
    OrderNotFoundError,
    OrderRejectedError,
    RateLimitedError,
    RetryableError,
    UnknownStateError,
    classify,
)
from aurora.exchange._exchange import DepthTap, override_urls
from aurora.exchange._filters import check_configured, filters_from_market, filters_from_settings, round_order
from aurora.exchange._gateway import Gateway
from aurora.exchange._retry import Backoff, RequestBarrier
from aurora.exchange._wire import Balance, Bbo, Book, OrderReport, Trade

__all__ = [
    "KINDS",
    "AuthenticationError",
    "Backoff",
    "BadRequestError",
    "Balance",
    "Bbo",
    "Book",
    "ClockSkewError",
    "DepthTap",
    "DuplicateOrderError",
    "FatalError",
    "FilterRejectedError",
    "Gateway",
    "GatewayError",
    "OrderNotFoundError",
    "OrderRejectedError",
    "OrderReport",
    "RateLimitedError",
    "RequestBarrier",
    "RetryableError",
    "Trade",
    "UnknownStateError",
    "check_configured",
    "classify",
    "filters_from_market",
    "filters_from_settings",
    "override_urls",
    "round_order",
]
