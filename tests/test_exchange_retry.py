"""exchange retry timing with an injected clock and sleeper: backoff schedule, Retry-After,
no request leaves before the barrier opens, fatal errors are never retried."""

from __future__ import annotations

import asyncio
import json

import ccxt
import pytest

from aurora.config import load_settings
from aurora.exchange import Backoff, FilterRejectedError, Gateway, RateLimitedError, RetryableError


class FakeTime:
    """A monotonic clock that only moves when something sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 9))
        self.now += seconds


@pytest.fixture
def gw_time(home):
    t = FakeTime()
    gw = Gateway(load_settings(home=home, env={}), clock=t.clock, sleep=t.sleep)
    yield gw, t
    asyncio.run(gw.close())


def _binance_error(gw: Gateway, status: int, code: int | None, msg: str, headers: dict | None = None):
    """The exception ccxt raises for this response (through the gateway's exchange object)."""
    payload = None if code is None else {"code": code, "msg": msg}
    try:
        gw.exchange.handle_errors(status, "R", "http://x/api/v3/order", "GET", headers or {},
                                  msg if payload is None else json.dumps(payload), payload, {}, "")
    except ccxt.BaseError as exc:
        return exc
    raise AssertionError("no error raised")


def _failing(errors, result="ok"):
    calls = []

    async def fn():
        calls.append(len(calls))
        if len(calls) <= len(errors):
            raise errors[len(calls) - 1]
        return result
    return fn, calls


def test_backoff_schedule_from_config_defaults(settings):
    b = Backoff.from_settings(settings.http)
    assert [b.delay(k) for k in range(b.retries)] == [0.4, 0.8, 1.6, 3.2, 6.4]
    assert b.delay(10) == 6.4


def test_retryable_reads_back_off_then_succeed(gw_time):
    gw, t = gw_time
    fn, calls = _failing([_binance_error(gw, 503, None, "Service Unavailable")] * 3)
    assert asyncio.run(gw._call("read", fn)) == "ok"
    assert len(calls) == 4 and t.sleeps == [0.4, 0.8, 1.6]
    assert gw.error_counts[("read", "retryable")] == 3


def test_retries_run_out_after_backoff_retries(gw_time):
    gw, t = gw_time
    fn, calls = _failing([ccxt.RequestTimeout("t")] * 10)
    with pytest.raises(RetryableError):
        asyncio.run(gw._call("read", fn))
    assert len(calls) == 6 and t.sleeps == [0.4, 0.8, 1.6, 3.2, 6.4]


def test_fatal_errors_are_not_retried(gw_time):
    gw, t = gw_time
    fn, calls = _failing([_binance_error(gw, 400, -1013, "Filter failure: LOT_SIZE")])
    with pytest.raises(FilterRejectedError):
        asyncio.run(gw._call("read", fn))
    assert len(calls) == 1 and t.sleeps == []


def test_retry_after_is_honoured_and_blocks_every_request(gw_time):
    gw, t = gw_time
    start = t.now
    ban = _binance_error(gw, 418, -1003, "Way too many requests; IP banned", {"Retry-After": "30"})
    assert gw.barrier.blocked_until == start + 30  # blocked as the response arrived
    fn, _ = _failing([ban])
    assert asyncio.run(gw._call("read", fn)) == "ok"
    assert t.now >= start + 30 and sum(t.sleeps) == 30


def test_a_429_without_retry_after_waits_the_backoff(gw_time):
    gw, t = gw_time
    err = _binance_error(gw, 429, -1003, "Too many requests")
    fn, _ = _failing([err, err])
    assert asyncio.run(gw._call("read", fn)) == "ok"
    assert t.now - 1000.0 == pytest.approx(0.4 + 0.8)


def test_no_request_leaves_the_process_before_the_barrier_opens(gw_time):
    """The gateway's exchange waits at the barrier right before sending (ccxt's fetch): the
    request below goes to a closed loopback port only after the fake clock reached the deadline."""
    gw, t = gw_time
    gw.barrier.block_for(12.5)
    deadline = gw.barrier.blocked_until

    async def go():
        try:
            await gw.exchange.fetch("http://127.0.0.1:9/api/v3/time")
        except ccxt.BaseError as exc:
            return exc, t.now
    exc, sent_at = asyncio.run(go())
    assert sent_at >= deadline and t.sleeps == [12.5]
    assert isinstance(exc, ccxt.NetworkError)


def test_rate_limited_error_says_when_banned():
    assert RateLimitedError("x", http_status=418).banned
    assert not RateLimitedError("x", http_status=429).banned
