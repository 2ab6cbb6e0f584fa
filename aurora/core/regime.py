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

    :meth:`add` costs a few list appends per quote; :meth:`at` sums the window exactly
    (``math.fsum``) when a decision needs it, so nothing accumulates rounding error over a day."""

    __slots__ = ("_first", "_prev_mid", "_r2", "_ts", "_window_ns")

    def __init__(self, window_s: float) -> None:
        if not (math.isfinite(window_s) and window_s > 0):
            raise ValueError(f"volatility window must be positive seconds, got {window_s}")
        self._window_ns = round(window_s * 1e9)
        self._ts: list[int] = []
        self._r2: list[float] = []
        self._first = 0  # index of the oldest term that may still be in the window
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
        ts = self._ts
        lim = ts_ns - self._window_ns
        i = self._first
        n = len(ts)
        while i < n and ts[i] <= lim:
            i += 1
        if i > 4096 and i > n // 2:  # forget what left the window, now and then
            del ts[:i], self._r2[:i]
            i = 0
        self._first = i
        return math.sqrt(math.fsum(self._r2[i:]))
