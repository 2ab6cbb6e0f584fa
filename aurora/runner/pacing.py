"""A replay on the wall clock: pace it (``--speed``) and report its progress.

``--speed S`` plays ``S`` seconds of market time per second.

Events before ``start_ns`` (the feature warm-up) pass at once; from the first event at or after
it, event ``e`` is released no earlier than ``wall0 + (ts_e − ts_first) / S`` seconds, so a
replay at speed 1 unfolds like the recorded session did and a dashboard watching the runner's
metrics sees it happen. A slow consumer is never made slower: lateness is not paid back.

:class:`Progress` reports, every few seconds of wall time, how far the replay has come in market
time, so a long replay is not silent (:func:`reported` feeds it from an event iterator).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime

from aurora.core.features import NS


def paced(events: Iterable[tuple], speed: float, start_ns: int, *,
          clock: Callable[[], float] = time.monotonic,
          sleep: Callable[[float], None] = time.sleep) -> Iterator[tuple]:
    """Yield ``events`` (``ev[1]`` is the receive time, ns) at ``speed`` × market time."""
    if not speed > 0:
        raise ValueError(f"speed must be a positive factor of market time, got {speed}")
    wall0 = first = None
    for ev in events:
        ts = ev[1]
        if ts >= start_ns:
            if first is None:
                wall0, first = clock(), ts
            else:
                wait = (ts - first) / NS / speed - (clock() - wall0)
                if wait > 0:
                    sleep(wait)
        yield ev


class Progress:
    """Every ``every_s`` seconds of wall time, ``report`` a line such as
    ``replay 40%: market 2024-08-08T23:12:05Z, 1,204,000 events`` when called with the events done
    and the market time reached (the replay's fast path calls it once per kernel run)."""

    def __init__(self, start_ns: int, end_ns: int, report: Callable[[str], None], *, every_s: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.start_ns, self.span = start_ns, max(end_ns - start_ns, 1)
        self.report, self.every_s, self.clock = report, every_s, clock
        self.next_at = clock() + every_s

    def __call__(self, events: int, ts_ns: int) -> None:
        if self.clock() >= self.next_at:
            done = min(max((ts_ns - self.start_ns) / self.span, 0.0), 1.0)
            when = datetime.fromtimestamp(ts_ns / NS, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            self.report(f"replay {done:.0%}: market {when}, {events:,} events")
            self.next_at = self.clock() + self.every_s


def reported(events: Iterable[tuple], progress: Progress) -> Iterator[tuple]:
    """Yield ``events``, telling ``progress`` how far they have come."""
    for n, ev in enumerate(events, 1):
        # the clock is read once per 1024 events: a per-event read would cost more than the rest
        if not n & 1023:
            progress(n, ev[1])
        yield ev
