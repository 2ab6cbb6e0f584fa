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
from collections import deque

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
    """Streaming trailing realised volatility (bps) over ``window_s`` seconds of receive time.

    Terms leaving the window are subtracted from the running sum, which is re-added exactly
    from the window's terms once as many terms have left as it holds (amortised O(1) a quote),
    so rounding error never builds up over a day."""

    __slots__ = ("_dropped", "_prev_mid", "_sum", "_terms", "_window_ns")

    def __init__(self, window_s: float) -> None:
        if not (math.isfinite(window_s) and window_s > 0):
            raise ValueError(f"volatility window must be positive seconds, got {window_s}")
        self._window_ns = round(window_s * 1e9)
        self._terms: deque[tuple[int, float]] = deque()
        self._sum = 0.0
        self._dropped = 0
        self._prev_mid = math.nan

    def update(self, ts_ns: int, mid: float) -> float:
        """Add the quote at ``ts_ns`` with mid price ``mid``; returns the volatility (bps) at it."""
        prev, self._prev_mid = self._prev_mid, mid
        terms = self._terms
        if not math.isnan(prev):  # not the first quote
            r = (mid - prev) / prev * 1e4
            terms.append((ts_ns, r * r))
            self._sum += r * r
        lim = ts_ns - self._window_ns
        while terms and terms[0][0] <= lim:
            self._sum -= terms.popleft()[1]
            self._dropped += 1
        if self._dropped > len(terms):
            self._sum = math.fsum(t for _, t in terms)
            self._dropped = 0
        return math.sqrt(max(self._sum, 0.0))
