"""Pace a replay on the wall clock: ``--speed S`` plays ``S`` seconds of market time per second.

Events before ``start_ns`` (the feature warm-up) pass at once; from the first event at or after
it, event ``e`` is released no earlier than ``wall0 + (ts_e − ts_first) / S`` seconds, so a
replay at speed 1 unfolds like the recorded session did and a dashboard watching the runner's
metrics sees it happen. A slow consumer is never made slower: lateness is not paid back.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator

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
