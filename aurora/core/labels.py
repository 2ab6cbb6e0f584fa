"""Triple-barrier labels (DESIGN.md §4).

A long entered at event i pays ``ask[i]``; it wins (+1) at the first LATER event j (j > i) with
``bid[j] ≥ ask[i]·(1 + tp_bps/1e4)``, loses (−1) at the first later event with
``bid[j] ≤ ask[i]·(1 − sl_bps/1e4)``, whichever comes first, and only while
``ts[j] ≤ ts[i] + horizon``; when both barriers are crossed on the same event it is a loss. If
neither is crossed within the horizon the outcome is a timeout (0), exited at the last event
within the horizon (or at i itself when there is none). A short mirrors it: entered at
``bid[i]``, tp when ``ask[j] ≤ bid[i]·(1 − tp_bps/1e4)``, sl when ``ask[j] ≥ bid[i]·(1 + sl_bps/1e4)``.

``ret_bps`` is the realised return of the exit, in bps of the entry price (long:
(bid[exit] − ask[i]) / ask[i]·1e4; short: (bid[i] − ask[exit]) / bid[i]·1e4). ``complete`` is False
for a timeout whose horizon runs past the end of the data (the outcome is censored, not known).

Speed: the first crossing of a level is found by walking "next strictly greater/smaller" chains
(precomputed with a monotonic stack in O(n)), which visits only the running-maximum (minimum)
records after i — a few dozen per label in practice instead of every event in the horizon.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numba as nb
import numpy as np

from aurora.core.features import first_out_of_order

NS = 1_000_000_000


@dataclass(frozen=True)
class LabelParams:
    """Barriers in bps of the entry price, horizon in seconds, embargo (for splits) in seconds."""

    tp_bps: float = 10.0
    sl_bps: float = 10.0
    horizon_s: float = 30.0
    embargo_s: float = 30.0

    def __post_init__(self) -> None:
        for name in ("tp_bps", "sl_bps", "horizon_s"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be a positive number, got {v!r}")
        if not (math.isfinite(self.embargo_s) and self.embargo_s >= 0):
            raise ValueError(f"embargo_s must be >= 0, got {self.embargo_s!r}")

    @classmethod
    def from_settings(cls, labels: Any) -> LabelParams:
        """Build from ``settings.labels`` (any object with the same attribute names)."""
        return cls(tp_bps=float(labels.tp_bps), sl_bps=float(labels.sl_bps),
                   horizon_s=float(labels.horizon_s), embargo_s=float(labels.embargo_s))


@dataclass(frozen=True)
class LabelResult:
    """Per entry event: ``outcome`` int8 (+1 tp, −1 sl, 0 timeout), ``exit_idx`` int64,
    ``exit_ts_ns`` int64, ``ret_bps`` float64, ``complete`` bool, ``end_ns`` int64 (when the
    outcome is known: the exit time of a barrier hit, else ts + horizon)."""

    outcome: np.ndarray
    exit_idx: np.ndarray
    exit_ts_ns: np.ndarray
    ret_bps: np.ndarray
    complete: np.ndarray
    end_ns: np.ndarray


@nb.njit(cache=True)
def _next_record(x: np.ndarray, greater: bool) -> np.ndarray:
    """nxt[i] = smallest j > i with x[j] > x[i] (``greater``) or x[j] < x[i], else n."""
    n = x.shape[0]
    nxt = np.full(n, n, dtype=np.int64)
    stack = np.empty(n, dtype=np.int64)
    top = 0
    for i in range(n - 1, -1, -1):
        while top > 0 and ((x[stack[top - 1]] <= x[i]) if greater else (x[stack[top - 1]] >= x[i])):
            top -= 1
        if top > 0:
            nxt[i] = stack[top - 1]
        stack[top] = i
        top += 1
    return nxt


@nb.njit(cache=True)
def _first_cross(  # noqa: PLR0917 (numba kernel: positional only)
    x: np.ndarray, chain: np.ndarray, start: int, last: int, level: float,
                 up: bool) -> int:
    """Smallest j in [start, last] with x[j] ≥ level (``up``) or ≤ level, else −1; walks the
    chain of running records, the only candidates."""
    j = start
    while j <= last:
        if (x[j] >= level) if up else (x[j] <= level):
            return j
        j = chain[j]
    return -1


@nb.njit(cache=True)
def _label_kernel(  # noqa: PLR0917 (numba kernel: positional only)
    ts: np.ndarray, entry: np.ndarray, watch: np.ndarray, up_mult: float, dn_mult: float,
    up_wins: bool, horizon_ns: int, data_end_ns: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Outcome, exit index and completeness for entries at every event. The "up" barrier is
    ``watch ≥ entry·up_mult``, the "down" one ``watch ≤ entry·dn_mult``; ``up_wins`` says whether
    the up barrier is the take-profit (long) or the stop (short). Both on one event: a loss."""
    n = ts.shape[0]
    outcome = np.zeros(n, dtype=np.int8)
    exit_idx = np.empty(n, dtype=np.int64)
    complete = np.empty(n, dtype=np.bool_)
    last = np.empty(n, dtype=np.int64)
    r = 0
    for i in range(n):
        while r < n and ts[r] <= ts[i] + horizon_ns:
            r += 1
        last[i] = r - 1
    # Most labels time out: settle those from block bounds of the window's max/min (van Herk /
    # Gil-Werman: with blocks at least as long as any window, max x[l..r] ≤ max(suffix max of l's
    # block from l, prefix max of the next block to r), exact when r is in the next block). A
    # conservative test: anything it cannot rule out is resolved exactly below. Only two blocks'
    # prefix/suffix buffers are kept, so this streams through the day.
    block = 1
    for i in range(n):
        block = max(block, last[i] - i)
    suf_hi = np.empty(block)
    suf_lo = np.empty(block)
    pre_hi = np.empty(block)
    pre_lo = np.empty(block)
    t_end = max(ts[n - 1], data_end_ns) if n else data_end_ns
    pending = 0
    for b0 in range(0, n, block):
        b1 = min(b0 + block, n)
        hi = lo = watch[b1 - 1]
        for i in range(b1 - 1, b0 - 1, -1):
            hi = max(hi, watch[i])
            lo = min(lo, watch[i])
            suf_hi[i - b0] = hi
            suf_lo[i - b0] = lo
        c1 = min(b1 + block, n)
        if b1 < n:
            hi = lo = watch[b1]
            for i in range(b1, c1):
                hi = max(hi, watch[i])
                lo = min(lo, watch[i])
                pre_hi[i - b1] = hi
                pre_lo[i - b1] = lo
        for i in range(b0, b1):
            exit_idx[i] = last[i]
            complete[i] = t_end > ts[i] + horizon_ns
            r = last[i]
            if r <= i:
                continue
            if i + 1 < b1:
                hi = suf_hi[i + 1 - b0]
                lo = suf_lo[i + 1 - b0]
                if r >= b1:
                    hi = max(hi, pre_hi[r - b1])
                    lo = min(lo, pre_lo[r - b1])
            else:
                hi = pre_hi[r - b1]
                lo = pre_lo[r - b1]
            if hi >= entry[i] * up_mult or lo <= entry[i] * dn_mult:
                outcome[i] = 2  # resolved below
                pending += 1
    if pending == 0:
        return outcome, exit_idx, complete
    up_chain = _next_record(watch, True)
    dn_chain = _next_record(watch, False)
    for i in range(n):
        if outcome[i] != 2:
            continue
        j_up = _first_cross(watch, up_chain, i + 1, last[i], entry[i] * up_mult, True)
        j_dn = _first_cross(watch, dn_chain, i + 1, last[i], entry[i] * dn_mult, False)
        if j_up < 0 and j_dn < 0:  # the bound was loose: a timeout after all
            outcome[i] = 0
            continue
        complete[i] = True
        if j_dn < 0 or (0 <= j_up < j_dn):
            exit_idx[i] = j_up
            outcome[i] = 1 if up_wins else -1
        elif j_up < 0 or j_dn < j_up:
            exit_idx[i] = j_dn
            outcome[i] = -1 if up_wins else 1
        else:  # both barriers on the same event: a loss
            exit_idx[i] = j_up
            outcome[i] = -1
    return outcome, exit_idx, complete


@nb.njit(cache=True)
def _returns(  # noqa: PLR0917 (numba kernel: positional only)
    ts: np.ndarray, bid: np.ndarray, ask: np.ndarray, outcome: np.ndarray,
             exit_idx: np.ndarray, long: bool, horizon_ns: int
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = ts.shape[0]
    exit_ts = np.empty(n, dtype=np.int64)
    ret = np.empty(n)
    end_ns = np.empty(n, dtype=np.int64)
    for i in range(n):
        j = exit_idx[i]
        exit_ts[i] = ts[j]
        ret[i] = (bid[j] - ask[i]) / ask[i] * 1e4 if long else (bid[i] - ask[j]) / bid[i] * 1e4
        end_ns[i] = ts[j] if outcome[i] != 0 else ts[i] + horizon_ns
    return exit_ts, ret, end_ns


def triple_barrier(  # noqa: PLR0917 (the documented positional API)
    ts_ns: np.ndarray, bid_px: np.ndarray, ask_px: np.ndarray, tp_bps: float,
                   sl_bps: float, horizon_s: float, side: int = 1,
                   data_end_ns: int | None = None) -> LabelResult:
    """Triple-barrier outcome of entering at every event (see the module docstring).

    ``ts_ns`` (int64 ns) must be non-decreasing; ``side`` +1 long, −1 short. ``data_end_ns``:
    the data is known to continue (with no further quote) until then — e.g. the next stored day
    starts there — so timeouts whose horizon ends before it are complete; default: the last ts.
    """
    if side not in (1, -1):
        raise ValueError(f"side must be +1 (long) or -1 (short), got {side!r}")
    LabelParams(tp_bps=tp_bps, sl_bps=sl_bps, horizon_s=horizon_s)
    ts = np.ascontiguousarray(ts_ns, dtype=np.int64)
    bid = np.ascontiguousarray(bid_px, dtype=np.float64)
    ask = np.ascontiguousarray(ask_px, dtype=np.float64)
    if not (ts.shape == bid.shape == ask.shape) or ts.ndim != 1:
        raise ValueError("ts_ns, bid_px and ask_px must be 1-D arrays of one length")
    if first_out_of_order(ts, False) >= 0:
        raise ValueError("ts_ns must be non-decreasing")
    horizon_ns = round(horizon_s * NS)
    end = int(data_end_ns) if data_end_ns is not None else (int(ts[-1]) if ts.size else 0)
    if side == 1:  # long: enter at the ask, watch the bid; up = tp, down = sl
        outcome, exit_idx, complete = _label_kernel(ts, ask, bid, 1.0 + tp_bps / 1e4,
                                                    1.0 - sl_bps / 1e4, True, horizon_ns, end)
    else:  # short: enter at the bid, watch the ask; up = sl, down = tp
        outcome, exit_idx, complete = _label_kernel(ts, bid, ask, 1.0 + sl_bps / 1e4,
                                                    1.0 - tp_bps / 1e4, False, horizon_ns, end)
    exit_ts, ret, end_ns = _returns(ts, bid, ask, outcome, exit_idx, side == 1, horizon_ns)
    return LabelResult(outcome=outcome, exit_idx=exit_idx, exit_ts_ns=exit_ts, ret_bps=ret,
                       complete=complete, end_ns=end_ns)
