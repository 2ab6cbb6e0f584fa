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

Speed: both sides are labelled in one pass. Most labels time out and are settled from block
bounds of the window's max/min; the few others find the first crossing of a level by scanning
the window, skipping every block of ``COARSE`` events whose max (min) cannot reach it.
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


# Block length of the coarse max/min used to skip ahead when resolving a barrier crossing.
COARSE = 64


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
    hi: np.ndarray, lo: np.ndarray, outcome: np.ndarray, exit_idx: np.ndarray,
    complete: np.ndarray) -> None:
    """Exact outcome of a label the block screen could not settle as a timeout."""
    j_up = _first_cross(watch, hi, i + 1, last, up_level, True)
    j_dn = _first_cross(watch, lo, i + 1, last, dn_level, False)
    if j_up < 0 and j_dn < 0:  # the bound was loose: a timeout after all
        outcome[i] = 0
        return
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


@nb.njit(cache=True, inline="always")
def _running_bounds(  # noqa: PLR0917 (numba kernel: positional only)
    bid: np.ndarray, ask: np.ndarray, start: int, stop: int, step: int, base: int,
    out: np.ndarray) -> None:
    """Running bid max, bid min, ask max, ask min over i = start, start+step, … (stop
    excluded) into out[0..3, i − base]."""
    bh = bl = bid[start]
    ah = al = ask[start]
    for i in range(start, stop, step):
        bh = max(bh, bid[i])
        bl = min(bl, bid[i])
        ah = max(ah, ask[i])
        al = min(al, ask[i])
        k = i - base
        out[0, k] = bh
        out[1, k] = bl
        out[2, k] = ah
        out[3, k] = al


@nb.njit(cache=True)
def _label_kernel(  # noqa: PLR0917 (numba kernel: positional only)
    ts: np.ndarray, bid: np.ndarray, ask: np.ndarray, long_up: float, long_dn: float,
    short_up: float, short_dn: float, horizon_ns: int, data_end_ns: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Outcome, exit index and completeness of a long and a short entered at every event, in one
    pass. A long enters at the ask and watches the bid (up barrier ``bid ≥ ask·long_up`` = tp,
    down ``bid ≤ ask·long_dn`` = sl); a short enters at the bid and watches the ask (up
    ``ask ≥ bid·short_up`` = sl, down ``ask ≤ bid·short_dn`` = tp). Both on one event: a loss."""
    n = ts.shape[0]
    o_l = np.zeros(n, dtype=np.int8)
    o_s = np.zeros(n, dtype=np.int8)
    x_l = np.empty(n, dtype=np.int64)
    x_s = np.empty(n, dtype=np.int64)
    c_l = np.empty(n, dtype=np.bool_)
    c_s = np.empty(n, dtype=np.bool_)
    # Most labels time out: settle those from block bounds of the window's max/min (van Herk /
    # Gil-Werman: with blocks at least as long as any window, max x[l..r] ≤ max(suffix max of l's
    # block from l, prefix max of the next block to r), exact when r is in the next block). A
    # conservative test: anything it cannot rule out is resolved exactly below. Only two blocks'
    # prefix/suffix buffers are kept, so this streams through the day; the window's last event
    # (largest j with ts[j] ≤ ts[i] + horizon) advances with i and is not stored.
    block = 1
    r = 0
    for i in range(n):
        while r < n and ts[r] <= ts[i] + horizon_ns:
            r += 1
        block = max(block, r - 1 - i)
    suf = np.empty((4, block))  # bid max, bid min, ask max, ask min
    pre = np.empty((4, block))
    t_end = max(ts[n - 1], data_end_ns) if n else data_end_ns
    pending = 0
    r = 0
    for b0 in range(0, n, block):
        b1 = min(b0 + block, n)
        _running_bounds(bid, ask, b1 - 1, b0 - 1, -1, b0, suf)
        if b1 < n:
            _running_bounds(bid, ask, b1, min(b1 + block, n), 1, b1, pre)
        for i in range(b0, b1):
            while r < n and ts[r] <= ts[i] + horizon_ns:
                r += 1
            last = r - 1
            x_l[i] = last
            x_s[i] = last
            done = t_end > ts[i] + horizon_ns
            c_l[i] = done
            c_s[i] = done
            if last <= i:
                continue
            if i + 1 < b1:
                k = i + 1 - b0
                bh, bl, ah, al = suf[0, k], suf[1, k], suf[2, k], suf[3, k]
                if last >= b1:
                    k = last - b1
                    bh = max(bh, pre[0, k])
                    bl = min(bl, pre[1, k])
                    ah = max(ah, pre[2, k])
                    al = min(al, pre[3, k])
            else:
                k = last - b1
                bh, bl, ah, al = pre[0, k], pre[1, k], pre[2, k], pre[3, k]
            if bh >= ask[i] * long_up or bl <= ask[i] * long_dn:
                o_l[i] = 2  # resolved below
                pending += 1
            if ah >= bid[i] * short_up or al <= bid[i] * short_dn:
                o_s[i] = 2
                pending += 1
    if pending:
        b_hi, b_lo = _coarse(bid)
        a_hi, a_lo = _coarse(ask)
        for i in range(n):
            if o_l[i] == 2:
                _resolve(bid, ask[i] * long_up, ask[i] * long_dn, True, i, x_l[i], b_hi, b_lo,
                         o_l, x_l, c_l)
            if o_s[i] == 2:
                _resolve(ask, bid[i] * short_up, bid[i] * short_dn, False, i, x_s[i], a_hi, a_lo,
                         o_s, x_s, c_s)
    return o_l, x_l, c_l, o_s, x_s, c_s


@nb.njit(cache=True, inline="always")
def _exit(  # noqa: PLR0917 (numba kernel: positional only)
    ts: np.ndarray, bid: np.ndarray, ask: np.ndarray, i: int, j: int, outcome: int, long: bool,
    horizon_ns: int) -> tuple[int, float, int]:
    """Exit time, return (bps) and end time of the label entered at i and exited at j."""
    ret = (bid[j] - ask[i]) / ask[i] * 1e4 if long else (bid[i] - ask[j]) / bid[i] * 1e4
    return ts[j], ret, (ts[j] if outcome != 0 else ts[i] + horizon_ns)


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
        exit_ts[i], ret[i], end_ns[i] = _exit(ts, bid, ask, i, exit_idx[i], outcome[i], long,
                                              horizon_ns)
    return exit_ts, ret, end_ns


@nb.njit(cache=True)
def _pair_columns(  # noqa: PLR0917 (numba kernel: positional only)
    ts: np.ndarray, bid: np.ndarray, ask: np.ndarray, x_l: np.ndarray, o_l: np.ndarray,
    c_l: np.ndarray, x_s: np.ndarray, o_s: np.ndarray, c_s: np.ndarray, horizon_ns: int, n: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """ret/exit time of both sides, label end (the later one) and completeness (both), first n."""
    ret_l = np.empty(n)
    ret_s = np.empty(n)
    exit_l = np.empty(n, dtype=np.int64)
    exit_s = np.empty(n, dtype=np.int64)
    end = np.empty(n, dtype=np.int64)
    complete = np.empty(n, dtype=np.bool_)
    for i in range(n):
        exit_l[i], ret_l[i], end_l = _exit(ts, bid, ask, i, x_l[i], o_l[i], True, horizon_ns)
        exit_s[i], ret_s[i], end_s = _exit(ts, bid, ask, i, x_s[i], o_s[i], False, horizon_ns)
        end[i] = max(end_l, end_s)
        complete[i] = c_l[i] and c_s[i]
    return ret_l, exit_l, ret_s, exit_s, end, complete


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
    if first_out_of_order(ts, False) >= 0:
        raise ValueError("ts_ns must be non-decreasing")
    end = int(data_end_ns) if data_end_ns is not None else (int(ts[-1]) if ts.size else 0)
    return ts, bid, ask, round(horizon_s * NS), end


def _both_sides(ts: np.ndarray, bid: np.ndarray, ask: np.ndarray, *, tp_bps: float,
                sl_bps: float, horizon_ns: int, end: int) -> tuple[np.ndarray, ...]:
    # long: up = tp, down = sl (of the ask); short: up = sl, down = tp (of the bid)
    return _label_kernel(ts, bid, ask, 1.0 + tp_bps / 1e4, 1.0 - sl_bps / 1e4,
                         1.0 + sl_bps / 1e4, 1.0 - tp_bps / 1e4, horizon_ns, end)


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
    o_l, x_l, c_l, o_s, x_s, c_s = _both_sides(ts, bid, ask, tp_bps=tp_bps, sl_bps=sl_bps,
                                               horizon_ns=horizon_ns, end=end)
    outcome, exit_idx, complete = (o_l, x_l, c_l) if side == 1 else (o_s, x_s, c_s)
    exit_ts, ret, end_ns = _returns(ts, bid, ask, outcome, exit_idx, side == 1, horizon_ns)
    return LabelResult(outcome=outcome, exit_idx=exit_idx, exit_ts_ns=exit_ts, ret_bps=ret,
                       complete=complete, end_ns=end_ns)


def label_columns(  # noqa: PLR0917 (mirrors triple_barrier)
    ts_ns: np.ndarray, bid_px: np.ndarray, ask_px: np.ndarray, params: LabelParams,
    data_end_ns: int | None = None, n: int | None = None,
) -> dict[str, np.ndarray]:
    """Long and short labels of the first ``n`` events (default all; the events after them are
    lookahead only), computed in one pass: ``label_long``/``label_short`` (int8),
    ``ret_long_bps``/``ret_short_bps``, ``exit_long_ns``/``exit_short_ns``, ``label_end_ns`` (the
    later of the two sides' end times) and ``label_complete`` (both sides known) — the same
    numbers as :func:`triple_barrier` with ``side`` ±1."""
    ts, bid, ask, horizon_ns, end = _inputs(ts_ns, bid_px, ask_px, tp_bps=params.tp_bps,
                                            sl_bps=params.sl_bps, horizon_s=params.horizon_s,
                                            data_end_ns=data_end_ns)
    n = ts.shape[0] if n is None else n
    if not 0 <= n <= ts.shape[0]:
        raise ValueError(f"n must be in [0, {ts.shape[0]}], got {n}")
    o_l, x_l, c_l, o_s, x_s, c_s = _both_sides(ts, bid, ask, tp_bps=params.tp_bps,
                                               sl_bps=params.sl_bps, horizon_ns=horizon_ns,
                                               end=end)
    ret_l, exit_l, ret_s, exit_s, end_ns, complete = _pair_columns(
        ts, bid, ask, x_l, o_l, c_l, x_s, o_s, c_s, horizon_ns, n)
    return {"label_long": o_l[:n], "ret_long_bps": ret_l, "exit_long_ns": exit_l,
            "label_short": o_s[:n], "ret_short_bps": ret_s, "exit_short_ns": exit_s,
            "label_end_ns": end_ns, "label_complete": complete}
