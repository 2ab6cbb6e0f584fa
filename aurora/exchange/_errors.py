"""One error taxonomy for everything the exchange says, from ccxt's class AND Binance's code.

::

    GatewayError                    .kind, .code (Binance), .http_status, .op, .retry_after_s
    ├── RetryableError              "retryable": the request did nothing; send it again after a backoff
    │   └── ClockSkewError          -1021 timestamp outside recvWindow: resync the clock, then retry
    ├── RateLimitedError            "rate_limited": 429 / -1003 / -1015, 418 (IP banned); honour Retry-After
    ├── UnknownStateError           "unknown_state": an order request whose outcome is unknown (timeout,
    │                               network error, 5xx, -1006, -1007): look the order up before a resend
    └── FatalError                  "fatal": retrying cannot help
        ├── AuthenticationError     -1022, -2014, -2015, -1125, HTTP 401, a rejected private-stream subscribe
        ├── FilterRejectedError     -1013, -1111, -4xxx, a PRICE_FILTER/LOT_SIZE/NOTIONAL message, or
        │                           refused before sending (``.violations`` names the filters)
        ├── OrderRejectedError      -2010 and kin: insufficient balance, LIMIT_MAKER would cross, …
        │   └── DuplicateOrderError -2010 "Duplicate order sent.": proof the client order id exists
        ├── OrderNotFoundError      -2011 "Unknown order sent.", -2013 "Order does not exist."
        └── BadRequestError         other rejected parameters, an unknown symbol, a config mismatch

ccxt maps -2010 to ``InvalidOrder`` (never ``DuplicateOrderId``), -1013 to ``BadRequest``, 418 and
429 to ``DDoSProtection``, and every network failure and 5xx to a ``NetworkError`` subclass: the
class alone cannot tell a duplicate from a rejection nor a lost order from a refused one, so
:func:`classify` reads the Binance code and message that :class:`_BinanceWire` keeps on the
exception. The same network failure is ``unknown_state`` for an order being placed (``op ==
"create"``) and ``retryable`` for a read or a cancel, which are safe to repeat.
"""

from __future__ import annotations

import re
from typing import ClassVar, Literal

import ccxt

Op = Literal["create", "cancel", "read", "stream"]
KINDS = ("retryable", "rate_limited", "unknown_state", "fatal")


class GatewayError(Exception):
    """Base of every error the gateway raises; ``kind`` is one of :data:`KINDS`."""

    kind: ClassVar[str] = "fatal"

    def __init__(self, message: str, *, op: Op | None = None, code: int | None = None,
                 http_status: int | None = None, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.op = op
        self.code = code
        self.http_status = http_status
        self.retry_after_s = retry_after_s

    def fields(self) -> dict[str, object]:
        """The error as event/metric fields: kind, class, code, HTTP status, op, message."""
        return {"kind": self.kind, "error": type(self).__name__, "code": self.code,
                "http_status": self.http_status, "op": self.op, "message": str(self)}


class RetryableError(GatewayError):
    kind = "retryable"


class ClockSkewError(RetryableError):
    pass


class RateLimitedError(GatewayError):
    kind = "rate_limited"

    @property
    def banned(self) -> bool:
        """HTTP 418: the IP is banned until Retry-After for ignoring earlier 429s."""
        return self.http_status == 418


class UnknownStateError(GatewayError):
    kind = "unknown_state"


class FatalError(GatewayError):
    kind = "fatal"


class AuthenticationError(FatalError):
    pass


class FilterRejectedError(FatalError):
    def __init__(self, message: str, *, violations: tuple[str, ...] = (), **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.violations = violations


class OrderRejectedError(FatalError):
    pass


class DuplicateOrderError(OrderRejectedError):
    pass


class OrderNotFoundError(FatalError):
    pass


class BadRequestError(FatalError):
    pass


_AUTH_CODES = frozenset({-1002, -1022, -1125, -2014, -2015})
_FILTER_CODES = frozenset({-1013, -1111})
_RATE_CODES = frozenset({-1003, -1015})
_RETRY_CODES = frozenset({-1000, -1001, -1008})
_UNKNOWN_CODES = frozenset({-1006, -1007})
_FILTER_WORDS = ("PRICE_FILTER", "LOT_SIZE", "NOTIONAL", "Filter failure", "Precision is over")
_CODE_RE = re.compile(r'"code"\s*:\s*(-?\d+)')
_MSG_RE = re.compile(r'"msg"\s*:\s*"((?:[^"\\]|\\.)*)"')


def wire_details(exc: BaseException) -> tuple[int | None, int | None, str, float | None]:
    """(HTTP status, Binance code, Binance message, Retry-After s) kept on a ccxt exception by the
    gateway's exchange class, else read from the message ccxt built from the response body."""
    text = str(exc)
    status = getattr(exc, "aurora_http_status", None)
    code = getattr(exc, "aurora_code", None)
    msg = getattr(exc, "aurora_msg", None)
    if code is None and (m := _CODE_RE.search(text)):
        code = int(m.group(1))
    if msg is None:
        msg = m.group(1) if (m := _MSG_RE.search(text)) else text
    return status, code, msg, getattr(exc, "aurora_retry_after_s", None)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (Binance sends whole seconds); ``None`` if absent or
    not a number of seconds."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def classify(exc: BaseException, op: Op) -> GatewayError:
    """The taxonomy's error for ``exc`` raised by ccxt (or the network) during ``op``."""
    if isinstance(exc, GatewayError):
        return exc
    status, code, msg, retry_after = wire_details(exc)
    kw = {"op": op, "code": code, "http_status": status, "retry_after_s": retry_after}
    text = f"{op}: {msg}" if code is None else f"{op}: Binance {code} {msg}"
    if code in _AUTH_CODES or status == 401:
        return AuthenticationError(text, **kw)
    if status in (418, 429) or code in _RATE_CODES \
            or isinstance(exc, ccxt.DDoSProtection | ccxt.RateLimitExceeded):
        return RateLimitedError(text, **kw)
    if code == -1021 or (isinstance(exc, ccxt.InvalidNonce) and not isinstance(exc, ccxt.ChecksumError)):
        return ClockSkewError(text, **kw)
    if code == -2010 and "Duplicate order" in msg:
        return DuplicateOrderError(text, **kw)
    if code in (-2011, -2013) or isinstance(exc, ccxt.OrderNotFound):
        return OrderNotFoundError(text, **kw)
    if isinstance(exc, ccxt.AuthenticationError):
        return AuthenticationError(text, **kw)
    if code in _FILTER_CODES or (code is not None and -4999 <= code <= -4000) \
            or any(w in msg for w in _FILTER_WORDS):
        return FilterRejectedError(text, **kw)
    if code == -2010 or isinstance(exc, ccxt.InsufficientFunds | ccxt.InvalidOrder):
        return OrderRejectedError(text, **kw)
    ambiguous = (code in _UNKNOWN_CODES or code in _RETRY_CODES or (status is not None and status >= 500)
                 or isinstance(exc, ccxt.NetworkError | ccxt.OperationFailed | OSError | TimeoutError))
    if ambiguous:
        # -1000/-1001/-1008 and 5xx: Binance says the execution status of an order is unknown.
        return UnknownStateError(text, **kw) if op == "create" else RetryableError(text, **kw)
    if isinstance(exc, ccxt.BaseError):
        return BadRequestError(text, **kw)
    return FatalError(f"{op}: {type(exc).__name__}: {exc}", **kw)
