"""Market regime of a quote: volatility and spread buckets (the names of ``risk.regimes``).

- ``wide_spread`` when ``spread_bps`` ≥ ``wide_spread_bps``;
- else ``high_vol`` when the trailing realised volatility ``vol_bps`` ≥ ``high_vol_bps``;
- else ``normal``.

Realised volatility (bps) is √ of the sum of squared mid returns (bps) over the quotes in
``(t − window_s, t]`` (the first quote seen has no return), the same quantity as the feature
study's ``vol_bps`` column (:func:`aurora.pipeline.study.realized_vol_bps`).
"""

from __future__ import annotations

import math

NORMAL = "normal"
HIGH_VOL = "high_vol"
WIDE_SPREAD = "wide_spread"


def classify(spread_bps: float, vol_bps: float, *, wide_spread_bps: float, high_vol_bps: float) -> str:
    """The regime name of one quote (a NaN spread or volatility counts as calm)."""
    if spread_bps >= wide_spread_bps:
        return WIDE_SPREAD
    if vol_bps >= high_vol_bps:
        return HIGH_VOL
    return NORMAL


class RealizedVol:
    """Trailing realised volatility (bps) over ``window_s`` seconds of receive time, streaming.

    :meth:`add` appends a quote's squared return (two list appends); :meth:`at` brings the
    window's running sum up to date when a decision needs it — adding the new terms, taking out
    those that left — and re-sums the window exactly (``math.fsum``) once as many terms have left
    as it holds, so rounding error never builds up over a day (amortised O(1) a quote)."""

    __slots__ = ("_added", "_dropped", "_first", "_prev_mid", "_r2", "_sum", "_ts", "_window_ns")

    def __init__(self, window_s: float) -> None:
        if not (math.isfinite(window_s) and window_s > 0):
            raise ValueError(f"volatility window must be positive seconds, got {window_s}")
        self._window_ns = round(window_s * 1e9)
        self._ts: list[int] = []
        self._r2: list[float] = []
        self._first = 0  # index of the oldest term still in the window
        self._added = 0  # terms [_first, _added) are in _sum
        self._sum = 0.0
        self._dropped = 0  # terms taken out of _sum since it was last re-summed exactly
        self._prev_mid = math.nan

    def add(self, ts_ns: int, mid: float) -> None:
        """A quote at ``ts_ns`` with mid price ``mid`` (receive times must not decrease)."""
        prev, self._prev_mid = self._prev_mid, mid
        if not math.isnan(prev):  # the first quote has no return
            r = (mid - prev) / prev * 1e4
            self._ts.append(ts_ns)
            self._r2.append(r * r)

    def at(self, ts_ns: int) -> float:
        """The volatility (bps) over ``(ts_ns − window_s, ts_ns]``; ``ts_ns`` not before the last
        quote added and never decreasing between calls."""
        ts, r2 = self._ts, self._r2
        n = len(ts)
        self._sum += sum(r2[self._added:n])
        self._added = n
        lim = ts_ns - self._window_ns
        first = i = self._first
        while i < n and ts[i] <= lim:
            i += 1
        if i > first:
            self._sum -= sum(r2[first:i])
            self._dropped += i - first
        if self._dropped > n - i:
            self._sum = math.fsum(r2[i:n])
            self._dropped = 0
        if i > 4096 and i > n // 2:  # forget what left the window, now and then
            del ts[:i], r2[:i]
            self._added -= i
            i = 0
        self._first = i
        return math.sqrt(max(self._sum, 0.0))
