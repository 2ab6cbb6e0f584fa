"""Backoff schedule and the request barrier that keeps the gateway from hammering the exchange.

Delays double from ``http.backoff_initial_s`` up to ``http.backoff_max_s`` for at most
``http.backoff_retries`` retries (defaults 0.4, 0.8, 1.6, 3.2, 6.4 s). After a 429 or 418 the
:class:`RequestBarrier` holds every REST request of the gateway until the exchange's
``Retry-After`` (or the backoff delay, whichever is longer) has passed. Time comes from an
injectable monotonic clock and sleeper, so tests run the schedule without waiting.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aurora.exchange._errors import GatewayError, RateLimitedError

Clock = Callable[[], float]
Sleeper = Callable[[float], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff: retry ``k`` (0-based) waits ``min(max_s, initial_s·2^k)`` seconds."""

    initial_s: float
    max_s: float
    retries: int

    @classmethod
    def from_settings(cls, http: Any) -> Backoff:
        return cls(http.backoff_initial_s, http.backoff_max_s, http.backoff_retries)

    def delay(self, attempt: int) -> float:
        return min(self.max_s, self.initial_s * 2.0 ** attempt)

    def wait_s(self, error: GatewayError, attempt: int) -> float:
        """Seconds to wait before retry ``attempt`` after ``error``: the backoff delay, or the
        exchange's Retry-After when it is longer."""
        delay = self.delay(attempt)
        if isinstance(error, RateLimitedError) and error.retry_after_s is not None:
            return max(delay, error.retry_after_s)
        return delay


class RequestBarrier:
    """No request passes before ``blocked_until`` (monotonic seconds)."""

    def __init__(self, clock: Clock = time.monotonic, sleep: Sleeper = asyncio.sleep) -> None:
        self.clock = clock
        self.sleep = sleep
        self.blocked_until = 0.0

    def block_for(self, seconds: float) -> None:
        self.blocked_until = max(self.blocked_until, self.clock() + seconds)

    async def wait(self) -> None:
        while (left := self.blocked_until - self.clock()) > 0:
            await self.sleep(left)
