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
def _next_greater(x: np.ndarray) -> np.ndarray:
    """nxt[i] = smallest j > i with x[j] > x[i], else n."""
    n = x.shape[0]
    nxt = np.full(n, n, dtype=np.int64)
    stack = np.empty(n, dtype=np.int64)
    top = 0
    for i in range(n - 1, -1, -1):
        while top > 0 and x[stack[top - 1]] <= x[i]:
            top -= 1
        if top > 0:
            nxt[i] = stack[top - 1]
        stack[top] = i
        top += 1
    return nxt


@nb.njit(cache=True)
def _first_at_least(x: np.ndarray, nge: np.ndarray, start: int, last: int, level: float) -> int:
    """Smallest j in [start, last] with x[j] ≥ level, else −1 (walks the records chain)."""
    j = start
    while j <= last:
        if x[j] >= level:
            return j
        j = nge[j]
    return -1


@nb.njit(cache=True)
def _barriers(  # noqa: PLR0917 (numba kernel: positional only)
    ts: np.ndarray, entry: np.ndarray, watch_up: np.ndarray, watch_dn: np.ndarray,
              nge: np.ndarray, nse: np.ndarray, last: np.ndarray, up_mult: float, dn_mult: float,
              up_wins: bool, horizon_ns: int, outcome: np.ndarray, exit_idx: np.ndarray,
              complete: np.ndarray) -> None:
    """Core loop. The "up" barrier is watched on ``watch_up`` (≥ entry·up_mult), the "down" one
    on ``watch_dn`` negated (``watch_dn`` holds −price so a fall is a rise). ``up_wins`` says
    whether the up barrier is the take-profit (long) or the stop (short)."""
    n = ts.shape[0]
    t_end = ts[n - 1]
    for i in range(n):
        up_level = entry[i] * up_mult
        dn_level = -(entry[i] * dn_mult)
        j_up = _first_at_least(watch_up, nge, i + 1, last[i], up_level)
        j_dn = _first_at_least(watch_dn, nse, i + 1, last[i], dn_level)
        if j_up < 0 and j_dn < 0:
            outcome[i] = 0
            exit_idx[i] = last[i]
            complete[i] = t_end > ts[i] + horizon_ns
            continue
        complete[i] = True
        if j_dn < 0 or (j_up >= 0 and j_up < j_dn):
            exit_idx[i] = j_up
            outcome[i] = 1 if up_wins else -1
        elif j_up < 0 or j_dn < j_up:
            exit_idx[i] = j_dn
            outcome[i] = -1 if up_wins else 1
        else:  # both barriers on the same event: a loss
            exit_idx[i] = j_up
            outcome[i] = -1


def triple_barrier(  # noqa: PLR0917 (the documented positional API)
    ts_ns: np.ndarray, bid_px: np.ndarray, ask_px: np.ndarray, tp_bps: float,
                   sl_bps: float, horizon_s: float, side: int = 1) -> LabelResult:
    """Triple-barrier outcome of entering at every event (see the module docstring).

    ``ts_ns`` (int64 ns) must be non-decreasing; ``side`` +1 long, −1 short.
    """
    if side not in (1, -1):
        raise ValueError(f"side must be +1 (long) or -1 (short), got {side!r}")
    LabelParams(tp_bps=tp_bps, sl_bps=sl_bps, horizon_s=horizon_s)
    ts = np.ascontiguousarray(ts_ns, dtype=np.int64)
    bid = np.ascontiguousarray(bid_px, dtype=np.float64)
    ask = np.ascontiguousarray(ask_px, dtype=np.float64)
    if not (ts.shape == bid.shape == ask.shape) or ts.ndim != 1:
        raise ValueError("ts_ns, bid_px and ask_px must be 1-D arrays of one length")
    n = ts.size
    if n > 1 and np.any(np.diff(ts) < 0):
        raise ValueError("ts_ns must be non-decreasing")
    horizon_ns = round(horizon_s * NS)
    outcome = np.zeros(n, dtype=np.int8)
    exit_idx = np.zeros(n, dtype=np.int64)
    complete = np.zeros(n, dtype=np.bool_)
    if n:
        last = np.searchsorted(ts, ts + horizon_ns, side="right").astype(np.int64) - 1
        if side == 1:
            # long: watch bid; up = tp at ask·(1+tp), down = sl at ask·(1−sl)
            watch_up, watch_dn, entry = bid, -bid, ask
            up_mult, dn_mult = 1.0 + tp_bps / 1e4, 1.0 - sl_bps / 1e4
        else:
            # short: watch ask; up = sl at bid·(1+sl), down = tp at bid·(1−tp)
            watch_up, watch_dn, entry = ask, -ask, bid
            up_mult, dn_mult = 1.0 + sl_bps / 1e4, 1.0 - tp_bps / 1e4
        nge = _next_greater(watch_up)
        nse = _next_greater(watch_dn)
        _barriers(ts, entry, watch_up, watch_dn, nge, nse, last, up_mult, dn_mult, side == 1,
                  horizon_ns, outcome, exit_idx, complete)
    exit_ts = ts[exit_idx] if n else np.zeros(0, dtype=np.int64)
    ret = (bid[exit_idx] - ask) / ask * 1e4 if side == 1 else (bid - ask[exit_idx]) / bid * 1e4
    end_ns = np.where(outcome != 0, exit_ts, ts + horizon_ns)
    return LabelResult(outcome=outcome, exit_idx=exit_idx, exit_ts_ns=exit_ts, ret_bps=ret,
                       complete=complete, end_ns=end_ns)
