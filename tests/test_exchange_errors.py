"""exchange taxonomy: every Binance error response goes through ccxt's real binance.handle_errors
(as subclassed by the gateway) and lands in one kind; network failures depend on the operation."""

from __future__ import annotations

import json

import ccxt
import pytest

from aurora.exchange import (
    KINDS,
    AuthenticationError,
    BadRequestError,
    ClockSkewError,
    DuplicateOrderError,
    FilterRejectedError,
    OrderNotFoundError,
    OrderRejectedError,
    RateLimitedError,
    RequestBarrier,
    RetryableError,
    UnknownStateError,
    classify,
)
from aurora.exchange._exchange import BinanceWire

URL = "http://127.0.0.1:9/api/v3/order"


class _Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


def _raise_from_response(status: int, code: int | None, msg: str, headers: dict | None = None,
                         rate_limits: list | None = None):
    """Run ccxt's binance error handling on one HTTP response; return what it raised."""
    sink = rate_limits if rate_limits is not None else []
    wire = BinanceWire({}, RequestBarrier(_Clock()), lambda s, r: sink.append((s, r)))
    payload = None if code is None else {"code": code, "msg": msg}
    body = msg if code is None else json.dumps(payload)
    with pytest.raises(ccxt.BaseError) as info:
        wire.handle_errors(status, "Reason", URL, "POST", headers or {}, body, payload, {}, "")
    return info.value


# (HTTP status, Binance code, message) -> (class on create, class on read)
CASES = [
    (400, -1013, "Filter failure: LOT_SIZE", FilterRejectedError, FilterRejectedError),
    (400, -1013, "Filter failure: NOTIONAL", FilterRejectedError, FilterRejectedError),
    (400, -1013, "Filter failure: PRICE_FILTER", FilterRejectedError, FilterRejectedError),
    (400, -1111, "Precision is over the maximum defined for this asset.", FilterRejectedError,
     FilterRejectedError),
    (400, -4014, "Price not increased by tick size.", FilterRejectedError, FilterRejectedError),
    (400, -4164, "Order's notional must be no smaller than 5.0", FilterRejectedError, FilterRejectedError),
    (400, -2010, "Duplicate order sent.", DuplicateOrderError, DuplicateOrderError),
    (400, -2010, "Account has insufficient balance for requested action.", OrderRejectedError,
     OrderRejectedError),
    (400, -2010, "Order would immediately match and take.", OrderRejectedError, OrderRejectedError),
    (400, -2011, "Unknown order sent.", OrderNotFoundError, OrderNotFoundError),
    (400, -2013, "Order does not exist.", OrderNotFoundError, OrderNotFoundError),
    (400, -1021, "Timestamp for this request is outside of the recvWindow.", ClockSkewError, ClockSkewError),
    (400, -1022, "Signature for this request is not valid.", AuthenticationError, AuthenticationError),
    (401, -2014, "API-key format invalid.", AuthenticationError, AuthenticationError),
    (401, -2015, "Invalid API-key, IP, or permissions for action.", AuthenticationError, AuthenticationError),
    (429, -1003, "Too many requests; current limit is 6000 request weight per 1 MINUTE.", RateLimitedError,
     RateLimitedError),
    (418, -1003, "Way too many requests; IP banned until 1700000000000.", RateLimitedError, RateLimitedError),
    (400, -1015, "Too many new orders; current limit is 50 orders per 10 SECOND.", RateLimitedError,
     RateLimitedError),
    (500, -1001, "Internal error; unable to process your request. Please try again.", UnknownStateError,
     RetryableError),
    (400, -1006, "An unexpected response was received from the message bus. Execution status unknown.",
     UnknownStateError, RetryableError),
    (400, -1007, "Timeout waiting for response from backend server. Send status unknown; execution status "
     "unknown.", UnknownStateError, RetryableError),
    (503, None, "Service Unavailable", UnknownStateError, RetryableError),
    (502, None, "Bad Gateway", UnknownStateError, RetryableError),
    (504, None, "Gateway Timeout", UnknownStateError, RetryableError),
    (400, -1121, "Invalid symbol.", BadRequestError, BadRequestError),
    (400, -1102, "Mandatory parameter 'quantity' was not sent, was empty/null, or malformed.",
     BadRequestError, BadRequestError),
]


@pytest.mark.parametrize("status, code, msg, on_create, on_read", CASES)
def test_every_binance_error_lands_in_one_kind(status, code, msg, on_create, on_read):
    exc = _raise_from_response(status, code, msg)
    created, read = classify(exc, "create"), classify(exc, "read")
    assert type(created) is on_create
    assert type(read) is on_read
    assert created.kind in KINDS
    assert (created.code, created.http_status) == (code, status)
    assert (msg in str(created)) or code is None
    fields = created.fields()
    assert fields["kind"] == created.kind and fields["error"] == on_create.__name__


def test_ccxt_classes_alone_would_mislead():
    """Why the code is read: ccxt calls a duplicate a plain InvalidOrder and -1013 a BadRequest."""
    dup = _raise_from_response(400, -2010, "Duplicate order sent.")
    assert type(dup) is ccxt.InvalidOrder and not isinstance(dup, ccxt.DuplicateOrderId)
    assert type(_raise_from_response(400, -1013, "Filter failure: NOTIONAL")) is ccxt.BadRequest


def test_rate_limits_carry_retry_after_and_block_at_once():
    seen: list = []
    exc = _raise_from_response(418, -1003, "Way too many requests; IP banned", {"Retry-After": "120"}, seen)
    err = classify(exc, "create")
    assert isinstance(err, RateLimitedError) and err.banned and err.retry_after_s == 120.0
    assert seen == [(418, 120.0)]
    exc = _raise_from_response(429, -1003, "Too many requests", {"retry-after": "7"}, seen)
    assert classify(exc, "read").retry_after_s == 7.0 and not classify(exc, "read").banned
    exc = _raise_from_response(429, -1003, "Too many requests", {"Retry-After": "soon"})
    assert classify(exc, "read").retry_after_s is None


@pytest.mark.parametrize("exc", [ccxt.RequestTimeout("binance POST " + URL),
                                 ccxt.ExchangeNotAvailable("binance POST " + URL),
                                 ccxt.NetworkError("connection reset"), TimeoutError(),
                                 ConnectionResetError()])
def test_network_failures_are_unknown_for_orders_and_retryable_for_reads(exc):
    assert type(classify(exc, "create")) is UnknownStateError
    assert type(classify(exc, "read")) is RetryableError
    assert type(classify(exc, "cancel")) is RetryableError


def test_anything_else_is_fatal_and_named():
    err = classify(ValueError("boom"), "read")
    assert err.kind == "fatal" and "ValueError" in str(err)
