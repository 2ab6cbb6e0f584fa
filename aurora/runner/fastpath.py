"""Replay's fast path: the market runs through one numba kernel between the events that need Python.

In replay the events are columns (:class:`~aurora.runner.source.ReplayEvents`) and most of them
cannot produce a decision: the runner is flat and waits for its next evaluation time, or holds a
position whose exits do not fire, or waits out an order's latency. :func:`run` hands every run of
such events to :func:`_advance`, which does what :meth:`Runner.step <aurora.runner.loop.Runner.step>`
does to them — the stream features (the kernels of :mod:`aurora.core.stream`), the realised
volatility's buffer (:func:`~aurora.core.regime.vol_push`), the exit state machine's trailing
and breakeven moves (:func:`~aurora.core.exits.follow_stop`), the book's top and its re-syncs —
and stops *before* the first event that may need Python:

- a quote at or after the next evaluation time while flat with no entry pending;
- a quote on which the exits fire (:func:`~aurora.core.exits.exit_code`) while a position is
  open with no exit pending;
- any event at or after the time from which the execution may complete an order
  (``execution.quiet_until_ns()``).

That event goes through ``Runner.step``, the same code as in live modes, so decisions, orders and
exits are made by one code path and the order logs are byte-identical to feeding every event to
``step`` (``test_fast_path_*`` in tests/test_runner.py). The kernel's state is the runner's own
(the stream's arrays, the volatility buffer), written back before ``step`` runs. An executor
whose orders can complete on any event (e.g. a resting limit order) must say so through
``quiet_until_ns()`` (the current time), and every event then goes through ``step``.

Metrics: the heartbeat is sent after each kernel run that crossed a multiple of 256 events (a run
is at most :data:`CHUNK` events, ~10 ms), not exactly every 256th event.

Figure (``auroractl bench replay --hours 24``: 12.35 M events, 76 k decisions, on 2 cores at
load 15–17): 1.1–1.4 M events per CPU second, vs 0.23 M with every event through ``step``.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable
from dataclasses import replace
from functools import cache
from typing import TYPE_CHECKING, Any

import numba as nb
import numpy as np

from aurora.core.exits import CODES, REASONS, exit_code, follow_stop
from aurora.core.features import ROW_MID
from aurora.core.regime import vol_push
from aurora.core.stream import QUOTE_ENTRY, STATE, TRADE_ENTRY, WINDOW, _on_bbo, _on_book_top, _on_trade
from aurora.runner.source import QUOTE, TRADE, ReplayEvents

if TYPE_CHECKING:
    from aurora.runner.loop import Runner, Summary

#: Events one kernel run takes at most: bounds the time between heartbeats (~10 ms of replay).
CHUNK = 1 << 16
NEVER = np.iinfo(np.int64).max
# what stopped a kernel run
END, STOP, RING_FULL, VOL_FULL = range(4)

_F, _I = np.float64, np.int64
#: The kernel's control record: stop times and exit state in; progress and what changed out.
FAST = np.dtype([
    ("exec_ns", _I),  # no event at or after this time (the execution may act)
    ("eval_ns", _I),  # no quote at or after this time (a decision is due)
    ("watch", np.bool_),  # run the exit machine (a position open, no exit pending)
    ("side", _I), ("entry_px", _F), ("risk_px", _F), ("best_px", _F), ("stop_px", _F), ("stop_code", _I),
    ("take_profit_px", _F), ("max_r_px", _F), ("deadline_ns", _I), ("trail_bps", _F),
    ("breakeven_after_R", _F),
    ("vol_n", _I), ("vol_prev", _F),  # the volatility buffer's length and last mid
    ("in_sync", np.bool_), ("resyncs", _I),  # the book: in sync; out-of-sync → in-sync turns
    ("quotes", _I), ("last_quote", _I), ("last_book", _I),  # quotes done; rows of the last ones
    ("i", _I),  # the next event
])


@nb.njit(cache=True, error_model="numpy")
def _advance(  # noqa: PLR0917 (numba kernel: one pass, positional only)
    st: np.ndarray, windows: np.ndarray, q_ring: np.ndarray, t_ring: np.ndarray, mp_g: np.ndarray,
    weights: np.ndarray, out: np.ndarray, v_ts: np.ndarray, v_r2: np.ndarray, kind: np.ndarray,
    row: np.ndarray, q_ts: np.ndarray, q_bp: np.ndarray, q_bq: np.ndarray, q_ap: np.ndarray,
    q_aq: np.ndarray, t_ts: np.ndarray, t_qty: np.ndarray, t_side: np.ndarray, b_ts: np.ndarray,
    b_bid: np.ndarray, b_ask: np.ndarray, b_sync: np.ndarray, fp: np.ndarray, start: int, stop: int) -> int:
    """Events ``[start, stop)`` as ``Runner.step`` would do them, up to the first that needs
    Python; ``fp[0].i`` is where it stopped, the return value why (END, STOP, RING_FULL: grow the
    stream's rings, VOL_FULL: make room in the volatility buffer; then call again from there)."""
    f = fp[0]
    v_cap = v_ts.shape[0]
    for i in range(start, stop):
        r = row[i]
        k = kind[i]
        if k == QUOTE:
            ts = q_ts[r]
            if ts >= f.exec_ns or ts >= f.eval_ns:
                f.i = i
                return STOP
            bp, bq, ap, aq = q_bp[r], q_bq[r], q_ap[r], q_aq[r]
            mark = bp if f.side > 0 else ap
            if f.watch and exit_code(f.side, f.stop_px, f.stop_code, f.take_profit_px, f.max_r_px,
                                     f.deadline_ns, ts, mark) != 0:
                f.i = i
                return STOP
            if f.vol_n >= v_cap:
                f.i = i
                return VOL_FULL
            if _on_bbo(st, windows, q_ring, t_ring, mp_g, out, ts, bp, bq, ap, aq) < 0:
                f.i = i
                return RING_FULL
            mid = out[ROW_MID]
            f.vol_n = vol_push(v_ts, v_r2, f.vol_n, f.vol_prev, ts, mid)
            f.vol_prev = mid
            if f.watch:
                f.best_px, f.stop_px, f.stop_code = follow_stop(f.side, f.entry_px, f.risk_px, f.best_px,
                                                                f.stop_px, f.stop_code, f.trail_bps,
                                                                f.breakeven_after_R, mark)
            f.quotes += 1
            f.last_quote = r
        elif k == TRADE:
            if t_ts[r] >= f.exec_ns:
                f.i = i
                return STOP
            if _on_trade(st, windows, t_ring, t_ts[r], t_qty[r], float(t_side[r])) < 0:
                f.i = i
                return RING_FULL
        else:
            if b_ts[r] >= f.exec_ns:
                f.i = i
                return STOP
            sync = b_sync[r]
            _on_book_top(st, weights, b_bid[r], b_ask[r], sync)
            if sync and not f.in_sync:
                f.resyncs += 1
            f.in_sync = sync
            f.last_book = r
    f.i = stop
    return END


@cache
def _kernel() -> Any:
    """:func:`_advance` compiled for its argument types, called without numba's per-call type
    dispatch (slow for record arrays and this many arguments)."""
    def arr(dtype: Any, ndim: int = 1) -> Any:
        return nb.typeof(np.zeros((1,) * ndim, dtype))
    sig = (arr(STATE), arr(WINDOW), arr(QUOTE_ENTRY), arr(TRADE_ENTRY), arr(_F), arr(_F), arr(_F), arr(_I),
           arr(_F), arr(np.int8), arr(_I), arr(_I), arr(_F), arr(_F), arr(_F), arr(_F), arr(_I), arr(_F),
           arr(np.int8), arr(_I), arr(_F, 2), arr(_F, 2), arr(np.bool_), arr(FAST), nb.int64, nb.int64)
    return _advance.compile(sig)


class _Columns:
    """The events' columns in the kernel's types: the tables' own arrays when they already are
    (contiguous, no copy); empty ones when there is no book."""

    def __init__(self, ev: ReplayEvents, levels: int) -> None:
        q, t, b = ev.quotes, ev.trades, ev.book

        def c(a: np.ndarray, dtype: Any) -> np.ndarray:
            return np.ascontiguousarray(a, dtype=dtype)
        self.kind, self.row = c(ev.kind, np.int8), c(ev.row, np.int64)
        self.q_ts = c(q["ts_ns"], np.int64)
        self.q_bp, self.q_bq = c(q["bid_px"], np.float64), c(q["bid_qty"], np.float64)
        self.q_ap, self.q_aq = c(q["ask_px"], np.float64), c(q["ask_qty"], np.float64)
        self.t_ts, self.t_qty = c(t["ts_ns"], np.int64), c(t["qty"], np.float64)
        self.t_side = c(t["side"], np.int8)
        if b is None:
            self.b_ts = np.zeros(0, np.int64)
            self.b_bid = self.b_ask = np.zeros((0, levels))
            self.b_sync = np.zeros(0, np.bool_)
        else:  # all levels: the book-top kernel reads the first ``levels`` (its weights)
            self.b_ts, self.b_sync = c(b["ts_ns"], np.int64), c(b["in_sync"], np.bool_)
            self.b_bid, self.b_ask = c(b["bid_qty"], np.float64), c(b["ask_qty"], np.float64)


#: The control record as a tuple (one read or write of the record a kernel run: field by field
#: cost ~12 µs a run, ~1 s of a day's 80 k runs).
_Ctl = namedtuple("_Ctl", FAST.names)  # type: ignore[misc]


def run(runner: Runner, events: ReplayEvents, progress: Callable[[int, int], None] | None = None) -> Summary:
    """Every event of ``events`` through ``runner`` (as ``Runner.run`` feeding each to ``step``),
    then ``runner.finish()``. The runner's execution must tell ``quiet_until_ns()``. ``progress``
    is told the events done and the market time after each kernel run."""
    cols = _Columns(events, runner.features.params.obi_levels)
    kernel = _kernel()
    fp = np.zeros(1, FAST)
    n = len(events)
    i = 0
    while i < n:
        v_ts, v_r2, v_n, v_prev = runner.vol.buffers()
        fp[0] = _load(runner, i, v_n, v_prev)
        st, windows, q_ring, t_ring, mp_g, weights, out = runner.features.arrays()
        why = kernel(st, windows, q_ring, t_ring, mp_g, weights, out, v_ts, v_r2, cols.kind, cols.row,
                     cols.q_ts, cols.q_bp, cols.q_bq, cols.q_ap, cols.q_aq, cols.t_ts, cols.t_qty,
                     cols.t_side, cols.b_ts, cols.b_bid, cols.b_ask, cols.b_sync, fp, i, min(n, i + CHUNK))
        f = _Ctl._make(fp.tolist()[0])
        _store(runner, f, events, out, f.i - i)
        i = f.i
        if why == STOP:
            runner.step(events.event(i))
            i += 1
        elif why == RING_FULL:
            runner.features.grow()
        elif why == VOL_FULL:
            runner.vol.make_room()
        if progress is not None:
            progress(runner.summary.events, runner.last_ts)
    return runner.finish()


def _load(runner: Runner, i: int, vol_n: int, vol_prev: float) -> _Ctl:
    """The runner's state as the control record, for a run from event ``i``."""
    quiet = runner.execution.quiet_until_ns()
    o = runner.open
    eval_ns = runner.next_eval_ns if o is None and not runner.entry_pending else NEVER
    in_sync = runner.market.in_sync
    if o is None or o.exit_pending:
        return _Ctl(NEVER if quiet is None else quiet, eval_ns, False, 0, 0.0, 0.0, 0.0, 0.0, 0, 0.0, 0.0, 0,
                    0.0, 0.0, vol_n, vol_prev, in_sync, 0, 0, -1, -1, i)
    p, x = o.pos, runner.s.exits
    return _Ctl(NEVER if quiet is None else quiet, eval_ns, True, p.side, p.entry_px, p.risk_px, p.best_px,
                p.stop_px, CODES[p.stop_reason], p.take_profit_px, p.max_r_px, p.deadline_ns, x.trail_bps,
                x.breakeven_after_R, vol_n, vol_prev, in_sync, 0, 0, -1, -1, i)


def _store(runner: Runner, f: _Ctl, events: ReplayEvents, out: np.ndarray, done: int) -> None:
    """What the kernel did to ``done`` events, into the runner (as ``step`` would have left it)."""
    if not done:
        return
    sm = runner.summary
    before = sm.events
    sm.events += done
    sm.quotes += f.quotes
    runner.vol.pushed(f.vol_n, f.vol_prev)
    m = runner.market
    r = f.last_quote
    if r >= 0:
        q = events.quotes
        m.quote = (float(q["bid_px"][r]), float(q["bid_qty"][r]), float(q["ask_px"][r]),
                   float(q["ask_qty"][r]))
        runner.row = out
        runner.last_ts = int(q["ts_ns"][r])
    if f.last_book >= 0:
        _, _, m.bid_px, m.bid_qty, m.ask_px, m.ask_qty, m.in_sync = events.book_event(f.last_book)
    o = runner.open
    if f.watch and o is not None and f.best_px != o.pos.best_px:
        o.pos = replace(o.pos, best_px=f.best_px, stop_px=f.stop_px, stop_reason=REASONS[f.stop_code])
    mx = runner.metrics
    if mx is not None:
        if f.resyncs:
            mx.book_resyncs.inc(f.resyncs)
        if sm.events // 256 > before // 256:
            runner._beat(mx, runner.last_ts)
