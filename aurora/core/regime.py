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

import numba as nb
import numpy as np

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


@nb.njit(cache=True, inline="always")
def vol_push(ts_buf: np.ndarray, r2_buf: np.ndarray, n: int, prev_mid: float, ts_ns: int,  # noqa: PLR0917
             mid: float) -> int:
    """Append the squared mid return (bps²) of a quote at ``ts_ns`` with mid ``mid`` after one with
    ``prev_mid`` to ``buf[:n]`` (room for it is the caller's); returns the new length. A NaN
    ``prev_mid`` (the first quote) has no return: nothing is appended."""
    if np.isnan(prev_mid):
        return n
    r = (mid - prev_mid) / prev_mid * 1e4
    ts_buf[n] = ts_ns
    r2_buf[n] = r * r
    return n + 1


# one quote at a time, the plain-Python body: numba's dispatch costs ~8 µs a call, the body < 1 µs
_vol_push = vol_push.py_func


@nb.njit(cache=True)
def _slide(ts: np.ndarray, r2: np.ndarray, n: int, added: int, first: int,  # noqa: PLR0917
           lim: int, total: float) -> tuple[float, int]:
    """The window's running sum ``total`` plus the terms ``[added, n)`` minus those from ``first``
    up to the first one after ``lim``, and that one's index. Each group is summed on its own,
    left to right, before it is added or taken out (as ``total += sum(new)`` would)."""
    new = 0.0
    for k in range(added, n):
        new += r2[k]
    total += new
    i = first
    while i < n and ts[i] <= lim:
        i += 1
    if i > first:
        gone = 0.0
        for k in range(first, i):
            gone += r2[k]
        total -= gone
    return total, i


class RealizedVol:
    """Trailing realised volatility (bps) over ``window_s`` seconds of receive time, streaming.

    :meth:`add` appends a quote's squared return to a buffer (:func:`vol_push`, which the
    replay's fast path calls in its kernel on the same buffers, see :meth:`buffers`); :meth:`at`
    brings the window's running sum up to date when a decision needs it — adding the new terms,
    taking out those that left — and re-sums the window exactly (``math.fsum``) once as many terms
    have left as it holds, so rounding error never builds up over a day (amortised O(1) a quote).
    A full buffer first drops what left the window, then doubles."""

    __slots__ = ("_added", "_dropped", "_first", "_n", "_prev_mid", "_r2", "_sum", "_ts", "_window_ns")

    def __init__(self, window_s: float, capacity: int = 4096) -> None:
        if not (math.isfinite(window_s) and window_s > 0):
            raise ValueError(f"volatility window must be positive seconds, got {window_s}")
        self._window_ns = round(window_s * 1e9)
        self._ts = np.zeros(max(int(capacity), 16), dtype=np.int64)
        self._r2 = np.zeros(self._ts.size)
        self._n = 0  # terms in the buffers
        self._first = 0  # index of the oldest term still in the window
        self._added = 0  # terms [_first, _added) are in _sum
        self._sum = 0.0
        self._dropped = 0  # terms taken out of _sum since it was last re-summed exactly
        self._prev_mid = math.nan

    def add(self, ts_ns: int, mid: float) -> None:
        """A quote at ``ts_ns`` with mid price ``mid`` (receive times must not decrease)."""
        if self._n == self._ts.size:
            self.make_room()
        self._n = _vol_push(self._ts, self._r2, self._n, self._prev_mid, ts_ns, mid)
        self._prev_mid = mid

    def buffers(self) -> tuple[np.ndarray, np.ndarray, int, float]:
        """(times, squared returns, terms held, last mid) for a kernel that appends with
        :func:`vol_push` and hands the new length and mid back through :meth:`pushed`."""
        return self._ts, self._r2, self._n, self._prev_mid

    def pushed(self, n: int, prev_mid: float) -> None:
        """Take the length and last mid after a kernel appended to :meth:`buffers`."""
        self._n, self._prev_mid = n, prev_mid

    def make_room(self) -> None:
        """Drop the terms that left the window (moving the rest to the front); double the buffers
        when that frees less than half of them."""
        k, n = self._first, self._n
        if k:
            self._ts[: n - k] = self._ts[k:n]
            self._r2[: n - k] = self._r2[k:n]
            self._n, self._added, self._first = n - k, self._added - k, 0
        if self._n * 2 > self._ts.size:
            self._ts = np.concatenate([self._ts, np.zeros_like(self._ts)])
            self._r2 = np.concatenate([self._r2, np.zeros_like(self._r2)])

    def at(self, ts_ns: int) -> float:
        """The volatility (bps) over ``(ts_ns − window_s, ts_ns]``; ``ts_ns`` not before the last
        quote added and never decreasing between calls."""
        n = self._n
        first = self._first
        self._sum, i = _slide(self._ts, self._r2, n, self._added, first, ts_ns - self._window_ns, self._sum)
        self._added = n
        self._dropped += i - first
        if self._dropped > n - i:
            self._sum = math.fsum(self._r2[i:n].tolist())
            self._dropped = 0
        self._first = i
        return math.sqrt(max(self._sum, 0.0))
