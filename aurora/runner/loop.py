"""The WiseScalp runner: market events → features → decision → gate → order → exits.

One loop for every mode; the source, the gate and the execution are what a mode swaps. Each
step is a named method below, pure arithmetic in :mod:`aurora.runner.strategy` and
:mod:`aurora.core.exits`, or one call to the gate or the execution.

Time is the events' receive time (``ts_ns``, market time in replay): the gate's clock, the
intent throttle, the order latency and the exits' time stop all run on it.

Spot rules: entries only when the artifact's p describes longs (a short needs inventory: with
an artifact calibrated for shorts the runner evaluates, counts the signals and stays flat). One
position at a time; it is closed by the exits only.
Exits are not sent to the gate (they only reduce risk) but are logged and reported like entries.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aurora.core import exits, orders
from aurora.core.exits import Position
from aurora.core.features import NS
from aurora.core.regime import RealizedVol
from aurora.core.risk import Request
from aurora.core.sprt import after_gate, next_llr
from aurora.core.stream import StreamFeatures
from aurora.runner import fastpath
from aurora.runner.execution import Execution, Executor, Market, Order
from aurora.runner.gate import Gate, GateReply, GateRequest, TradeReport
from aurora.runner.metrics import RunnerMetrics
from aurora.runner.orderlog import DENIED, FAILED, SUCCESS, OrderLog
from aurora.runner.source import BOOK, QUOTE, TRADE, ReplayEvents
from aurora.runner.strategy import Evaluation, Strategy


class StopRequestedError(Exception):
    """Raised by the heartbeat when :attr:`Runner.stop` is set; the event it was raised on was
    counted but not processed. The caller ends the run with :meth:`Runner.finish`."""


@dataclass
class Summary:
    events: int = 0
    quotes: int = 0
    evaluations: int = 0
    signals: int = 0
    trades: int = 0
    wins: int = 0
    pnl_quote: float = 0.0  # realised P&L after fees, quote currency
    exit_reasons: Counter[str] = field(default_factory=Counter)
    deny_reasons: Counter[str] = field(default_factory=Counter)


@dataclass
class _Open:
    """The open position: exit state, what was bought, and what it was decided on."""

    pos: Position
    seq: int
    qty: float           # base held (after a fee paid in base)
    entry_px: float      # average entry price
    fee_quote: float     # entry fee, quote value
    p: float
    decision_id: str | None
    exit_attempt: int = 0
    exit_pending: bool = False
    # the exits so far: base sold, quote received, gross P&L, exit fees, net P&L (quote)
    sold: float = 0.0
    sold_quote: float = 0.0
    gross: float = 0.0
    exit_fee: float = 0.0
    net: float = 0.0


class Runner:
    """Run events through the decision path. ``run_id`` names the run in client order ids (a
    replay passes a deterministic one); ``on_evaluation`` sees every decision (parity tests)."""

    def __init__(self, strategy: Strategy, features: StreamFeatures, gate: Gate, execution: Executor,
                 log: OrderLog, *, run_id: str, start_ns: int, intent_interval_s: float,
                 vol_window_s: float, latency_ms: float,
                 on_evaluation: Callable[[Evaluation], None] | None = None,
                 metrics: RunnerMetrics | None = None) -> None:
        self.s = strategy
        self.features = features
        self.gate = gate
        self.execution = execution
        self.log = log
        self.run_id = run_id
        self.interval_ns = round(intent_interval_s * NS)
        self.latency_ms = latency_ms
        self.vol = RealizedVol(vol_window_s)
        self.market = Market()
        self.on_evaluation = on_evaluation
        self.metrics = metrics
        self.summary = Summary()
        self.sprt_llr = 0.0
        self.open: _Open | None = None
        self.entry_pending = False
        self.next_eval_ns = start_ns
        self.seq = 0
        self.last_ts = start_ns
        self.row = None
        #: set (from a signal handler) to stop at the next heartbeat: see :meth:`_beat`
        self.stop: threading.Event | None = None

    # ---- the loop ------------------------------------------------------------------------------
    def run(self, events: Iterable[tuple] | ReplayEvents,
            progress: Callable[[int, int], None] | None = None) -> Summary:
        """Every event through :meth:`step`, then :meth:`finish`. A replay's columns
        (:class:`ReplayEvents`) go through :func:`aurora.runner.fastpath.run`, which calls
        :meth:`step` only for the events that may need it, with the same outcome (and tells
        ``progress`` how far it has come)."""
        if isinstance(events, ReplayEvents):
            return fastpath.run(self, events, progress)
        step = self.step
        for ev in events:
            step(ev)
        return self.finish()

    def step(self, ev: tuple) -> None:
        """One market event (see :mod:`aurora.runner.source` for the tuples)."""
        kind = ev[0]
        mx = self.metrics
        sm = self.summary
        sm.events += 1
        if mx is not None and sm.events % 256 == 0:
            self._beat(mx, ev[1])
        if kind == QUOTE:
            _, ts, uid, bp, bq, ap, aq = ev
            m = self.market
            row = self.features.on_bbo(ts, uid, bp, bq, ap, aq)
            m.quote = (bp, bq, ap, aq)
            self.vol.add(ts, row[0])
            self.row = row
            self.last_ts = ts
            if self.execution.pending:
                self._executed(self.execution.on_market(ts, m))
            if self.open is not None:
                self._watch_exit(ts, row, bp if self.open.pos.side > 0 else ap)
            elif ts >= self.next_eval_ns and not self.entry_pending:
                if mx is None:
                    self._decide(ts, uid, row)
                else:
                    t0 = time.perf_counter()
                    self._decide(ts, uid, row)
                    mx.decision_latency.observe(time.perf_counter() - t0)
            sm.quotes += 1
        elif kind == TRADE:
            _, ts, px, qty, side = ev
            self.features.on_trade(ts, px, qty, side)
            if self.execution.pending:  # a resting order may fill on it
                self.execution.on_trade(ts, px, qty, side)
        elif kind == BOOK:
            _, ts, bpx, bqty, apx, aqty, sync = ev
            m = self.market
            self.features.on_book_top(bqty, aqty, sync)
            if sync and not m.in_sync and mx is not None:
                mx.book_resyncs.inc()
            m.bid_px, m.bid_qty, m.ask_px, m.ask_qty, m.in_sync = bpx, bqty, apx, aqty, sync

    def restore(self, qty: float, entry_px: float, entry_ns: int, *, fee_quote: float, p: float,
                decision_id: str | None) -> None:
        """Take over a position held before a restart (from the journal): its exits restart from
        the entry price and time; its exit orders get ids of this run."""
        seq = self.seq
        self.seq += 1
        self.open = _Open(exits.open_position(self.s.exits, 1, entry_px, entry_ns), seq, qty, entry_px,
                          fee_quote, p, decision_id)

    def poll(self) -> None:
        """Pick up executions that completed outside the event stream (a live executor)."""
        self._executed(self.execution.on_market(self.last_ts, self.market))

    def finish(self) -> Summary:
        """End of the source: execute what is pending, close what is open, at the last market."""
        ts = self.last_ts
        self.stop = None  # finishing: the heartbeat below must not stop it
        self._executed(self.execution.flush(ts, self.market))
        if self.open is not None and not self.open.exit_pending:
            self._send_exit(ts, self.row, "end")
        # the closing order, or the market order that replaces a limit exit the first flush cancelled
        self._executed(self.execution.flush(ts, self.market))
        if self.metrics is not None:
            self._beat(self.metrics, ts)
        return self.summary

    def _beat(self, mx: RunnerMetrics, ts: int) -> None:
        """Heartbeat, feed lag, position and its unrealised P&L, progress (every 256 events); a set
        :attr:`stop` raises :class:`StopRequestedError` here, before the event is processed."""
        if self.stop is not None and self.stop.is_set():
            raise StopRequestedError
        now = time.time()
        mx.heartbeat.set(now)
        mx.feed_lag.set(now - ts / NS)
        o = self.open
        mx.position.set(o.qty if o is not None else 0.0)
        mark = self.market.quote[0]
        mx.unrealized.set(o.qty * (mark - o.entry_px) if o is not None else 0.0)
        sm = self.summary
        g = self.gate
        mx.progress(ts / NS, sm.events, sm.evaluations, sm.pnl_quote, equity=g.equity,
                    drawdown_pct=g.drawdown_pct)

    # ---- entries -------------------------------------------------------------------------------
    def _decide(self, ts: int, uid: int, row: Any) -> None:
        s = self.s
        self.next_eval_ns = ts + self.interval_ns
        # levels an entry takes (asks for a long) and the touch on that side
        levels = self.market.levels(-s.side)
        touch = self.market.quote[2] if s.side > 0 else self.market.quote[0]
        ev = s.evaluate(ts, uid, row, self.vol.at(ts), levels=levels, touch_px=touch)
        if ev is None:
            return
        self.summary.evaluations += 1
        if self.on_evaluation is not None:
            self.on_evaluation(ev)
        if not ev.e_pi_bps > s.pi_min_bps:
            return
        self.summary.signals += 1
        if s.side < 0:  # spot: a short signal only closes a long, and there is none open here
            return
        self._enter(ev, touch)

    def _intent(self, leg: str, cid: str, side: int, ev: Evaluation | None, *, qty: float, price: float,
                ts: int, **extra: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"symbol": self.s.symbol, "leg": leg, "client_order_id": cid,
                               "side": "buy" if side > 0 else "sell", "qty_intent": qty,
                               "price_intent": price, "market_ts_ns": ts, **extra}
        if ev is not None:
            out.update(update_id=ev.update_id, features=ev.features, score=ev.score, p_tp=ev.p,
                       e_pi_bps=ev.e_pi_bps, slippage_est_bps=ev.slippage_est_bps, spread_bps=ev.spread_bps,
                       vol_bps=ev.vol_bps, regime=ev.regime)
        return out

    def _enter(self, ev: Evaluation, touch: float) -> None:
        s = self.s
        seq = self.seq
        self.seq += 1
        cid = orders.client_order_id(self.run_id, s.symbol, seq, "entry")
        check = Request(s.symbol, "buy", s.order_qty, touch, self.latency_ms, ev.slippage_est_bps,
                        ev.spread_bps, ev.p, ev.e_pi_bps, ev.regime, self.sprt_llr)
        # one entry at a time, from the question until the gate says no or the order is done; a
        # live gate answers later, from the event loop, while the market keeps coming
        self.entry_pending = True
        self.gate.ask(GateRequest(check, cid, ev.ts_ns / NS),
                      lambda reply: self._gated(ev, touch, seq, cid, reply))

    def _gated(self, ev: Evaluation, touch: float, seq: int, cid: str, reply: GateReply) -> None:
        """The gate's answer to entry ``cid``: log the deny, or round and send the order."""
        s = self.s
        intent = self._intent("entry", cid, 1, ev, qty=s.order_qty, price=touch, ts=ev.ts_ns,
                              sprt_llr=self.sprt_llr, seq_no=seq)
        intent["gate"] = _gate_dict(reply)
        intent["decision_id"] = reply.decision_id
        self.sprt_llr = after_gate(self.sprt_llr, reply.reasons, s.sprt_lower)
        if not reply.allow:
            self.entry_pending = False
            self.summary.deny_reasons.update(reply.reasons)
            self.log.write(DENIED, intent)
            return
        try:
            rounded = orders.round_to_filters(s.order_qty, None, s.filt, max_qty=reply.max_qty,
                                              ref_price=touch)
        except orders.FilterError as exc:
            self.entry_pending = False
            self.log.write(FAILED, intent, error_class="filter", error=str(exc))
            return
        self.execution.submit(self._entry_order(cid, rounded.qty_f, ev.ts_ns, touch, {
            "intent": intent, "seq": seq, "p": ev.p, "decision_id": reply.decision_id,
            "slip_est": ev.slippage_est_bps}))

    def _entry_order(self, cid: str, qty: float, ts: int, touch: float, context: dict[str, Any]) -> Order:
        """A market buy, or (``runner.entry_order: post_only``) a LIMIT_MAKER at the best bid that
        is cancelled ``runner.entry_timeout_s`` after it reaches the exchange."""
        s = self.s
        due = ts + self._latency_ns()
        context["intent"]["order_type"] = s.entry_order
        if s.entry_order != "post_only":
            return Order(cid, 1, qty, ts, due, touch, context)
        context["intent"]["limit_px"] = self.market.quote[0]
        return Order(cid, 1, qty, ts, due, touch, context, kind="post_only", price=self.market.quote[0],
                     expires_ns=due + round(s.entry_timeout_s * NS))

    def _latency_ns(self) -> int:
        return round(self.latency_ms * 1e6)

    # ---- exits ---------------------------------------------------------------------------------
    def _watch_exit(self, ts: int, row: Any, mark: float) -> None:
        o = self.open
        assert o is not None
        if o.exit_pending:
            return
        pos, why = exits.on_quote(o.pos, self.s.exits, ts, mark)
        o.pos = pos
        if why is not None:
            self._send_exit(ts, row, why.value)

    def _send_exit(self, ts: int, row: Any, reason: str, *, market: bool = False) -> None:
        """Sell what is held: at market, or (``runner.exit_order: limit``, unless ``market`` or the
        run is ending) a limit at the best ask, the rest sold at market after ``exit_timeout_s``."""
        o = self.open
        assert o is not None
        s = self.s
        cid = orders.client_order_id(self.run_id, s.symbol, o.seq, "exit", o.exit_attempt)
        o.exit_attempt += 1
        touch = self.market.quote[0]
        limit = s.exit_order == "limit" and not market and reason != "end"
        feats = dict(zip(s.names, row.tolist(), strict=True)) if row is not None else None
        intent = self._intent("exit", cid, -1, None, qty=o.qty, price=touch, ts=ts, exit_reason=reason,
                              seq_no=o.seq, features=feats, decision_id=o.decision_id,
                              order_type="limit" if limit else "market")
        try:
            rounded = orders.round_to_filters(min(o.qty, self.execution.base_free()), None, s.filt,
                                              ref_price=touch)
        except orders.FilterError as exc:
            # what is left is below the lot minimum: dust that cannot be sold; the trade is over
            self.log.write(FAILED, intent, error_class="filter", error=str(exc))
            self.open = None
            return
        o.exit_pending = True
        due = ts + self._latency_ns()
        ctx = {"intent": intent, "reason": reason}
        if not limit:
            self.execution.submit(Order(cid, -1, rounded.qty_f, ts, due, touch, ctx))
            return
        ask = self.market.quote[2]
        intent["limit_px"] = ask
        self.execution.submit(Order(cid, -1, rounded.qty_f, ts, due, touch, ctx, kind="limit", price=ask,
                                    expires_ns=due + round(s.exit_timeout_s * NS)))

    # ---- executions ----------------------------------------------------------------------------
    def _executed(self, done: list[Execution]) -> None:
        for e in done:
            if e.order.side > 0:
                self._entry_done(e)
            else:
                self._exit_done(e)

    def _fill_fields(self, e: Execution, slip_est: float | None) -> dict[str, Any]:
        o = e.order
        slip = o.side * (e.avg_px - o.touch_px) / o.touch_px * 1e4
        return {"fill": {"qty": e.qty, "avg_px": e.avg_px, "fee_quote": e.fee_quote, "slippage_bps": slip,
                         "slippage_est_bps": slip_est, "latency_ms": (e.ts_ns - o.submitted_ns) / 1e6,
                         "ts_ns": e.ts_ns, "expired": e.timed_out}}

    def _report(self, e: Execution, status: str, side: str, decision_id: str | None) -> None:
        o = e.order
        filled = status == "filled"
        slip = o.side * (e.avg_px - o.touch_px) / o.touch_px * 1e4 if filled else None
        self.gate.report(TradeReport(o.client_order_id, self.s.symbol, side, e.qty,
                                     e.avg_px if filled else o.touch_px, e.fee_quote, 0.0, 0.0, status,
                                     e.ts_ns / NS, decision_id, slip,
                                     (e.ts_ns - o.submitted_ns) / 1e6))

    def _entry_done(self, e: Execution) -> None:
        self.entry_pending = False
        c = e.order.context
        if e.error is not None:
            # a post-only entry that expired with nothing filled is a failed intent (error_class
            # timeout, reported canceled); a rejection (it would take, balance) is reported rejected
            cls, status = ("timeout", "canceled") if e.timed_out else ("exchange", "rejected")
            self.log.write(FAILED, c["intent"], error_class=cls, error=e.error)
            self._report(e, status, "buy", c["decision_id"])
            return
        # what filled (all of it, or the part filled before a post-only entry expired) is the position
        self.log.write(SUCCESS, c["intent"], **self._fill_fields(e, c["slip_est"]))
        self._report(e, "filled", "buy", c["decision_id"])
        self.open = _Open(exits.open_position(self.s.exits, 1, e.avg_px, e.ts_ns), c["seq"], e.base_received,
                          e.avg_px, e.fee_quote, c["p"], c["decision_id"])

    def _exit_done(self, e: Execution) -> None:
        o = self.open
        assert o is not None
        o.exit_pending = False
        c = e.order.context
        if e.error is not None:
            if e.timed_out:  # a limit exit that sold nothing: the position goes at market now
                self.log.write(FAILED, c["intent"], error_class="timeout", error=e.error)
                self._send_exit(e.ts_ns, self.row, c["reason"], market=True)
            else:  # tried again on the next quote, with the next attempt's id
                self.log.write(FAILED, c["intent"], error_class="exchange", error=e.error)
            return
        gross = e.qty * (e.avg_px - o.entry_px)
        # the entry fee is charged to the part of the position this exit closes
        entry_fee = o.fee_quote * min(1.0, e.qty / o.qty) if o.qty > 0 else o.fee_quote
        net = gross - entry_fee - e.fee_quote
        pnl_bps = net / (e.qty * o.entry_px) * 1e4
        self.log.write(SUCCESS, c["intent"], **self._fill_fields(e, None), realized_pnl=gross,
                       pnl_bps=pnl_bps, net_pnl_quote=net)
        o.qty -= e.qty
        o.fee_quote -= entry_fee
        o.sold += e.qty
        o.sold_quote += e.qty * e.avg_px
        o.gross += gross
        o.exit_fee += e.fee_quote
        o.net += net
        self.summary.pnl_quote += net
        try:
            orders.round_to_filters(o.qty, None, self.s.filt, ref_price=e.avg_px)
        except orders.FilterError:  # nothing sellable left: the trade is closed
            self._closed(e, c["reason"])
            return
        if e.timed_out:  # a limit exit sold part: the rest at market now
            self._send_exit(e.ts_ns, self.row, c["reason"], market=True)

    def _closed(self, e: Execution, reason: str) -> None:
        """The trade is over: one ``closed`` report of all its exits (so Aurora's CVaR, loss streak
        and SPRT count one trade), its net return over what was bought, the runner's SPRT."""
        o = self.open
        assert o is not None
        pnl_bps = o.net / (o.sold * o.entry_px) * 1e4
        avg = o.sold_quote / o.sold
        self.gate.report(TradeReport(e.order.client_order_id, self.s.symbol, "sell", o.sold, avg, o.exit_fee,
                                     o.gross, pnl_bps, "closed", e.ts_ns / NS, o.decision_id,
                                     -(avg - e.order.touch_px) / e.order.touch_px * 1e4,
                                     (e.ts_ns - e.order.submitted_ns) / 1e6))
        sm = self.summary
        sm.trades += 1
        sm.wins += int(pnl_bps > 0)
        sm.exit_reasons[reason] += 1
        self.sprt_llr = next_llr(self.sprt_llr, pnl_bps > 0, o.p, self.s.sprt_p0,
                                 lower=self.s.sprt_lower, upper=self.s.sprt_upper)
        self.open = None


def _gate_dict(reply: GateReply) -> dict[str, Any]:
    return {"allow": reply.allow, "max_qty": reply.max_qty, "reasons": list(reply.reasons),
            "cooloff_s": reply.cooloff_s, "decision_id": reply.decision_id, "error": reply.error}

