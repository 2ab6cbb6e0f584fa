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

Speed: both sides are labelled in one pass. Most labels time out and are settled from the
window's exact max/min (monotone deques); the few others find the first crossing of a level by
scanning the window, skipping every block of ``COARSE`` events whose max (min) cannot reach it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
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


# Block length of the coarse max/min used to skip ahead when resolving a barrier crossing.
COARSE = 64
# A label's window crosses its up level, its down level (bit flags; the kernel keeps 8 | flags
# in the outcome array until the label is resolved).
UP, DOWN, PENDING = 1, 2, 8


@nb.njit(cache=True)
def _coarse(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Max and min of x over consecutive blocks of ``COARSE`` events."""
    n = x.shape[0]
    m = (n + COARSE - 1) // COARSE
    hi = np.empty(m)
    lo = np.empty(m)
    for b in range(m):
        top = bot = x[b * COARSE]
        for j in range(b * COARSE + 1, min((b + 1) * COARSE, n)):
            top = max(top, x[j])
            bot = min(bot, x[j])
        hi[b] = top
        lo[b] = bot
    return hi, lo


@nb.njit(cache=True)
def _first_cross(  # noqa: PLR0917 (numba kernel: positional only)
    x: np.ndarray, bound: np.ndarray, start: int, last: int, level: float, up: bool) -> int:
    """Smallest j in [start, last] with x[j] ≥ level (``up``) or ≤ level, else −1; whole blocks
    whose max (min) ``bound`` cannot reach the level are skipped."""
    j = start
    while j <= last:
        if j % COARSE == 0 and j + COARSE - 1 <= last:
            b = bound[j // COARSE]
            if (b < level) if up else (b > level):
                j += COARSE
                continue
        if (x[j] >= level) if up else (x[j] <= level):
            return j
        j += 1
    return -1


@nb.njit(cache=True)
def _resolve(  # noqa: PLR0917 (numba kernel: positional only)
    watch: np.ndarray, up_level: float, dn_level: float, up_wins: bool, i: int, last: int,
    hi: np.ndarray, lo: np.ndarray, crossed: int) -> tuple[int, int]:
    """Exact ``(outcome, exit index)`` of a label whose window (i, last] crosses a level
    (``crossed``: ``UP``, ``DOWN`` or both): the first crossing, a loss when both cross on one
    event."""
    j_up = _first_cross(watch, hi, i + 1, last, up_level, True) if crossed & UP else -1
    j_dn = (_first_cross(watch, lo, i + 1, j_up if j_up >= 0 else last, dn_level, False)
            if crossed & DOWN else -1)
    if j_up < 0 and j_dn < 0:  # not reached while the screen is exact; a timeout if it were not
        return 0, last
    if j_dn < 0 or (0 <= j_up < j_dn):
        return (1 if up_wins else -1), j_up
    if j_up < 0 or j_dn < j_up:
        return (-1 if up_wins else 1), j_dn
    return -1, j_up  # both barriers on the same event: a loss


# Scalars, not arrays: an array argument costs numba a reference-count update per call (~40 % of
# the label kernel's time when this took arrays).
@nb.njit(cache=True)
def _ret_bps(entry: float, exit_px: float, long: bool) -> float:
    """Return of a trade in bps of its entry price (a long exits at the bid, a short at the ask)."""
    return (exit_px - entry) / entry * 1e4 if long else (entry - exit_px) / entry * 1e4


@nb.njit(cache=True)
def _label_kernel(  # noqa: PLR0917 (numba kernel: positional only)
    ts: np.ndarray, bid: np.ndarray, ask: np.ndarray, long_up: float, long_dn: float,
    short_up: float, short_dn: float, horizon_ns: int, data_end_ns: int, o_l: np.ndarray,
    o_s: np.ndarray, ret_l: np.ndarray, ret_s: np.ndarray, exit_l: np.ndarray, exit_s: np.ndarray,
    end: np.ndarray, complete: np.ndarray, exit_as_index: bool,
) -> int:
    """Labels of a long and a short entered at each of the first m = ``o_l.shape[0]`` events
    (the events after them are lookahead only), in one pass, written into the output arrays
    (``exit_l``/``exit_s``: exit times, or exit indices with ``exit_as_index``). A long enters at the ask and
    watches the bid (up barrier ``bid ≥ ask·long_up`` = tp, down ``bid ≤ ask·long_dn`` = sl); a
    short enters at the bid and watches the ask (up ``ask ≥ bid·short_up`` = sl, down
    ``ask ≤ bid·short_dn`` = tp). Both on one event: a loss. ``end`` is the later side's end
    time, ``complete`` whether both outcomes are known. Returns −1, or the first index where
    ``ts`` decreases (nothing is written then)."""
    n = ts.shape[0]
    m = o_l.shape[0]
    for i in range(1, n):
        if ts[i] < ts[i - 1]:
            return i
    # Most labels time out: settle those from the exact max and min of bid and ask over the
    # window (i, last], kept by monotone deques as both ends advance (each event enters and leaves
    # each deque once); the few with a level crossed somewhere in the window (o = PENDING | the
    # levels crossed, ``last`` kept in the exit output meanwhile) are resolved exactly below. The
    # deques are rings sized to the longest window, so this streams through the day.
    longest = 1
    r = 0
    for i in range(m):
        while r < n and ts[r] <= ts[i] + horizon_ns:
            r += 1
        longest = max(longest, r - i)
    size = 1
    while size < longest + 1:
        size *= 2
    mask = size - 1
    # deque k holds (index, sign_k · price) of events in the window, front = the extreme:
    # 0 bid max, 1 bid min (as −bid), 2 ask max, 3 ask min (as −ask)
    dq_idx = np.empty((4, size), dtype=np.int64)
    dq_val = np.empty((4, size))
    heads = np.zeros(4, dtype=np.int64)
    tails = np.zeros(4, dtype=np.int64)
    t_end = max(ts[n - 1], data_end_ns) if n else data_end_ns
    pending = False
    r = 0
    for i in range(m):
        while r < n and ts[r] <= ts[i] + horizon_ns:
            for k in range(4):
                px = bid[r] if k < 2 else ask[r]
                v = px if k % 2 == 0 else -px
                t = tails[k]
                while t > heads[k] and dq_val[k, (t - 1) & mask] <= v:
                    t -= 1
                dq_idx[k, t & mask] = r
                dq_val[k, t & mask] = v
                tails[k] = t + 1
            r += 1
        last = r - 1  # a timeout exits here (at i itself when no later event is in the window)
        hit_l = hit_s = 0
        if last > i:
            for k in range(4):
                h = heads[k]
                while h < tails[k] and dq_idx[k, h & mask] <= i:
                    h += 1
                heads[k] = h
            hit_l = ((UP if dq_val[0, heads[0] & mask] >= ask[i] * long_up else 0)
                     | (DOWN if -dq_val[1, heads[1] & mask] <= ask[i] * long_dn else 0))
            hit_s = ((UP if dq_val[2, heads[2] & mask] >= bid[i] * short_up else 0)
                     | (DOWN if -dq_val[3, heads[3] & mask] <= bid[i] * short_dn else 0))
        if hit_l:
            o_l[i] = PENDING | hit_l  # resolved below
        else:
            o_l[i] = 0
            ret_l[i] = _ret_bps(ask[i], bid[last], True)
        exit_l[i] = last
        if hit_s:
            o_s[i] = PENDING | hit_s
        else:
            o_s[i] = 0
            ret_s[i] = _ret_bps(bid[i], ask[last], False)
        exit_s[i] = last
        pending = pending or hit_l != 0 or hit_s != 0
        end[i] = ts[i] + horizon_ns
        complete[i] = t_end > ts[i] + horizon_ns
    if pending:
        b_hi, b_lo = _coarse(bid)
        a_hi, a_lo = _coarse(ask)
        for i in range(m):
            if o_l[i] < PENDING and o_s[i] < PENDING:
                continue
            end_l = end_s = ts[i] + horizon_ns
            if o_l[i] >= PENDING:
                o, j = _resolve(bid, ask[i] * long_up, ask[i] * long_dn, True, i, exit_l[i], b_hi,
                                b_lo, o_l[i])
                o_l[i], ret_l[i], exit_l[i] = o, _ret_bps(ask[i], bid[j], True), j
                if o != 0:
                    end_l = ts[j]
            if o_s[i] >= PENDING:
                o, j = _resolve(ask, bid[i] * short_up, bid[i] * short_dn, False, i, exit_s[i],
                                a_hi, a_lo, o_s[i])
                o_s[i], ret_s[i], exit_s[i] = o, _ret_bps(bid[i], ask[j], False), j
                if o != 0:
                    end_s = ts[j]
            end[i] = max(end_l, end_s)
            done = t_end > ts[i] + horizon_ns
            complete[i] = (done or o_l[i] != 0) and (done or o_s[i] != 0)
    if not exit_as_index:
        for i in range(m):
            exit_l[i] = ts[exit_l[i]]
            exit_s[i] = ts[exit_s[i]]
    return -1


Allocator = Callable[[int, Any], np.ndarray]


def _inputs(ts_ns: np.ndarray, bid_px: np.ndarray, ask_px: np.ndarray, *, tp_bps: float,
            sl_bps: float, horizon_s: float, data_end_ns: int | None,
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    """Checked contiguous arrays, the horizon in ns and the data end (ns)."""
    LabelParams(tp_bps=tp_bps, sl_bps=sl_bps, horizon_s=horizon_s)
    ts = np.ascontiguousarray(ts_ns, dtype=np.int64)
    bid = np.ascontiguousarray(bid_px, dtype=np.float64)
    ask = np.ascontiguousarray(ask_px, dtype=np.float64)
    if not (ts.shape == bid.shape == ask.shape) or ts.ndim != 1:
        raise ValueError("ts_ns, bid_px and ask_px must be 1-D arrays of one length")
    end = int(data_end_ns) if data_end_ns is not None else (int(ts[-1]) if ts.size else 0)
    return ts, bid, ask, round(horizon_s * NS), end


def _both_sides(  # noqa: PLR0917 (internal: mirrors label_columns)
    ts: np.ndarray, bid: np.ndarray, ask: np.ndarray, tp_bps: float, sl_bps: float,
    horizon_ns: int, end: int, m: int, alloc: Allocator, exit_idx: bool = False,
) -> dict[str, np.ndarray]:
    """The label columns of the first m events (``exit_*_ns`` hold exit indices with
    ``exit_idx``)."""
    cols = {"label_long": alloc(m, np.int8), "ret_long_bps": alloc(m, np.float64),
            "exit_long_ns": alloc(m, np.int64), "label_short": alloc(m, np.int8),
            "ret_short_bps": alloc(m, np.float64), "exit_short_ns": alloc(m, np.int64),
            "label_end_ns": alloc(m, np.int64), "label_complete": alloc(m, np.bool_)}
    # long: up = tp, down = sl (of the ask); short: up = sl, down = tp (of the bid)
    bad = _label_kernel(ts, bid, ask, 1.0 + tp_bps / 1e4, 1.0 - sl_bps / 1e4, 1.0 + sl_bps / 1e4,
                        1.0 - tp_bps / 1e4, horizon_ns, end, cols["label_long"],
                        cols["label_short"], cols["ret_long_bps"], cols["ret_short_bps"],
                        cols["exit_long_ns"], cols["exit_short_ns"], cols["label_end_ns"],
                        cols["label_complete"], exit_idx)
    if bad >= 0:
        raise ValueError(f"ts_ns must be non-decreasing (decreases at row {bad})")
    return cols


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
    ts, bid, ask, horizon_ns, end = _inputs(ts_ns, bid_px, ask_px, tp_bps=tp_bps, sl_bps=sl_bps,
                                            horizon_s=horizon_s, data_end_ns=data_end_ns)
    cols = _both_sides(ts, bid, ask, tp_bps, sl_bps, horizon_ns, end, ts.shape[0], np.empty,
                       exit_idx=True)
    name = "long" if side == 1 else "short"
    outcome, exit_idx = cols[f"label_{name}"], cols[f"exit_{name}_ns"]
    exit_ts = ts[exit_idx]
    t_end = max(int(ts[-1]), end) if ts.size else end
    return LabelResult(outcome=outcome, exit_idx=exit_idx, exit_ts_ns=exit_ts,
                       ret_bps=cols[f"ret_{name}_bps"],
                       complete=(outcome != 0) | (ts + horizon_ns < t_end),
                       end_ns=np.where(outcome != 0, exit_ts, ts + horizon_ns))


def label_columns(  # noqa: PLR0917 (mirrors triple_barrier)
    ts_ns: np.ndarray, bid_px: np.ndarray, ask_px: np.ndarray, params: LabelParams,
    data_end_ns: int | None = None, n: int | None = None, alloc: Allocator = np.empty,
) -> dict[str, np.ndarray]:
    """Long and short labels of the first ``n`` events (default all; the events after them are
    lookahead only), computed in one pass: ``label_long``/``label_short`` (int8),
    ``ret_long_bps``/``ret_short_bps``, ``exit_long_ns``/``exit_short_ns``, ``label_end_ns`` (the
    later of the two sides' end times) and ``label_complete`` (both sides known) — the same
    numbers as :func:`triple_barrier` with ``side`` ±1. ``alloc(length, dtype)`` makes the
    (uninitialised) output arrays."""
    ts, bid, ask, horizon_ns, end = _inputs(ts_ns, bid_px, ask_px, tp_bps=params.tp_bps,
                                            sl_bps=params.sl_bps, horizon_s=params.horizon_s,
                                            data_end_ns=data_end_ns)
    n = ts.shape[0] if n is None else n
    if not 0 <= n <= ts.shape[0]:
        raise ValueError(f"n must be in [0, {ts.shape[0]}], got {n}")
    return _both_sides(ts, bid, ask, params.tp_bps, params.sl_bps, horizon_ns, end, n, alloc)
