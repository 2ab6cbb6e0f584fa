"""Live modes: market data through the gateway's streams, stamped with the local receive clock.

- ``shadow``: every allowed order is logged as it would be sent and never sent (``failed`` with
  ``error_class`` ``shadow``: no order exists), so no position ever opens;
- ``paper``: orders filled in process by the venue's fill model after ``runner.latency_ms``;
- ``testnet``: orders through the gateway's ``create_order`` (Binance spot testnet, or the local
  venue by URL: ``exchange.target``), idempotent by client order id;
- ``live``: as testnet, against Binance itself, only when :func:`live_refusals` has nothing to say.

The decision path is the replay's (:class:`~aurora.runner.loop.Runner`); only the source and
the executor differ. The gate runs on the same receive clock (wall time); Aurora over HTTP is
asked without blocking the loop (:class:`~aurora.runner.gate.LoopGate`): the market keeps being
read while a check is in flight, its answer is handled in turn with the market events, and no
answer (Aurora down, a timeout after the retries) is a deny.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace

import numpy as np

from aurora.artifact import Calibration
from aurora.config import Settings
from aurora.core.fills import Fees, SymbolSpec
from aurora.core.orders import OrderIntent, OrderStatus, run_tag
from aurora.core.stream import StreamFeatures
from aurora.events import EventLog
from aurora.exchange import Book, Gateway, GatewayError, OrderReport, UnknownStateError
from aurora.runner.execution import Execution, Market, Order, SimExecution
from aurora.runner.features import feature_params, microprice_model
from aurora.runner.gate import AsyncHttpGate, InProcessGate, LoopGate
from aurora.runner.journal import Journal, open_position, reconcile
from aurora.runner.loop import Runner, Summary
from aurora.runner.metrics import RunnerMetrics
from aurora.runner.orderlog import OrderLog
from aurora.runner.recorder import Recorder
from aurora.runner.replay import symbol_spec
from aurora.runner.source import BOOK, QUOTE, TRADE
from aurora.runner.strategy import Strategy

MODES = ("shadow", "paper", "testnet", "live")
#: What ``runner.live_confirm`` must say, exactly, before ``live`` mode sends real orders.
LIVE_PHRASE = "I understand live mode sends real orders to Binance"


def live_refusals(settings: Settings) -> list[str]:
    """Why ``live`` mode may not start (empty when it may): Binance API keys, an Aurora to gate
    it with its token, the gateway aimed at Binance itself, and the confirmation phrase."""
    out = []
    if settings.binance_api_key is None or settings.binance_api_secret is None:
        out.append("set AURORA_BINANCE_API_KEY and AURORA_BINANCE_API_SECRET")
    if settings.runner.aurora_url is None or settings.api_token is None:
        out.append("set runner.aurora_url to a running Aurora and AURORA_API_TOKEN to its token")
    if settings.exchange.target != "live":
        out.append(f"set exchange.target: live (it is {settings.exchange.target})")
    if settings.runner.live_confirm != LIVE_PHRASE:
        out.append(f"set runner.live_confirm: \"{LIVE_PHRASE}\"")
    return out


SHADOW = "SHADOW: not sent (shadow mode)"
#: Queued by ``stop``: the loop ends at it.
_STOP: tuple = ("stop",)
#: Kind of a queue item that is not market data: ``(CALL, fn)``, a call the loop makes in its turn
#: (the gate's answer to an entry, or a market stream's fatal error raised into the run).
CALL = -1


def _levels(levels: list[tuple[float, float]] | tuple, n: int) -> tuple[np.ndarray, np.ndarray]:
    px, qty = np.full(n, np.nan), np.full(n, np.nan)
    for i, (p, q) in enumerate(levels[:n]):
        px[i], qty[i] = p, q
    return px, qty


def book_event(ts_ns: int, book: Book, n: int) -> tuple:
    bp, bq = _levels(list(book.bids), n)
    ap, aq = _levels(list(book.asks), n)
    return (BOOK, ts_ns, bp, bq, ap, aq, True)


class GatewaySource:
    """Trades, best bid/offer and the order book of ``symbol`` from the gateway's streams, merged
    in arrival order into the source tuples. A stream error (a dropped websocket) is logged and
    the stream asked again at once — ccxt dials a new connection on the next watch, and backs off
    by itself when the dial fails — then, while it keeps failing, after the gateway's backoff
    capped at ``exchange.stream_retry_s``. Anything else a stream raises ends the run (as a
    :data:`CALL` that raises it), never a stream that silently stops."""

    def __init__(self, gw: Gateway, symbol: str, *, book_levels: int, retry_s: float, events: EventLog,
                 recorder: Recorder | None = None, clock: Callable[[], int] = time.time_ns) -> None:
        self.gw, self.symbol, self.levels, self.retry_s = gw, symbol, book_levels, retry_s
        self.events, self.recorder, self.clock = events, recorder, clock
        self.queue: asyncio.Queue[tuple] = asyncio.Queue()

    async def _pump(self, name: str, fetch: Callable[[], object]) -> None:
        fails = 0
        while True:
            try:
                out = await fetch()  # type: ignore[misc]
            except GatewayError as exc:
                wait = 0.0 if fails == 0 else min(self.retry_s, self.gw.backoff.delay(fails - 1))
                fails += 1
                self.events.emit("runner.stream_error", feed=name, error=str(exc), kind=exc.kind,
                                 retry_in_s=wait)
                await asyncio.sleep(wait)
                continue
            fails = 0
            ts = self.clock()
            rec = self.recorder
            if name == "trades":
                for t in out:  # type: ignore[attr-defined]
                    self.queue.put_nowait((TRADE, ts, t.price, t.qty, t.side))
                    if rec is not None:
                        rec.write(ts, "trade", t.raw)
            elif name == "bbo":
                b = out
                if rec is not None:
                    rec.write(ts, "bookTicker", b.raw)  # type: ignore[attr-defined]
                uid = b.update_id if b.update_id is not None else -1  # type: ignore[attr-defined]
                self.queue.put_nowait((QUOTE, ts, uid, b.bid_px, b.bid_qty, b.ask_px,  # type: ignore[attr-defined]
                                       b.ask_qty))  # type: ignore[attr-defined]
            else:
                self.queue.put_nowait(book_event(ts, out, self.levels))  # type: ignore[arg-type]

    def _died(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and (exc := task.exception()) is not None:
            def fail() -> None:
                raise RuntimeError(f"a market stream of {self.symbol} failed: {exc!r}") from exc
            self.queue.put_nowait((CALL, fail))

    def _tap(self, kind: str, market_id: str, raw: dict, state: str) -> None:
        """Record the depth traffic ccxt builds this symbol's book from (see :class:`Recorder`)."""
        rec = self.recorder
        if rec is None or market_id != self.symbol:
            return
        if kind == "snapshot":
            rec.snapshot(self.clock(), raw)
        else:
            rec.depth(self.clock(), raw, state)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[asyncio.Queue[tuple]]:
        gw, sym = self.gw, self.symbol
        if self.recorder is not None:
            gw.tap_depth(self._tap)
        tasks = [asyncio.create_task(self._pump("trades", lambda: gw.watch_trades(sym))),
                 asyncio.create_task(self._pump("bbo", lambda: gw.watch_bbo(sym))),
                 asyncio.create_task(self._pump("book", lambda: gw.watch_order_book(sym, self.levels)))]
        for t in tasks:
            t.add_done_callback(self._died)
        try:
            yield self.queue
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if self.recorder is not None:
                gw.tap_depth(None)


class ShadowExecution:
    """Nothing is sent: each order comes back as not executed."""

    def __init__(self) -> None:
        self.pending: list[Order] = []

    def submit(self, order: Order) -> None:
        self.pending.append(order)

    def on_trade(self, ts_ns: int, price: float, qty: float, side: int) -> None:
        return None

    def on_market(self, ts_ns: int, market: Market) -> list[Execution]:
        return self.flush(ts_ns, market)

    def flush(self, ts_ns: int, market: Market) -> list[Execution]:
        due, self.pending = self.pending, []
        return [Execution(o, 0.0, math.nan, 0.0, 0.0, ts_ns, SHADOW) for o in due]

    def base_free(self) -> float:
        return 0.0


class GatewayExecution:
    """Orders through :meth:`Gateway.create_order` (one task each); results are picked up on the
    next market event. The base asset held is counted from this session's own fills.

    A post-only entry is a ``LIMIT_MAKER``, a limit exit a GTC ``LIMIT``, at ``order.price``; while
    it rests it is looked up by client order id every ``poll_s``, and when its time is up
    (``expires_ns − due_ns`` after it was placed) it is cancelled by client order id. The cancel's
    answer decides a race with a fill: the order as it ended (cancelled with what filled before,
    or filled). Nothing is ever sent twice: a client order id is placed once, then only looked up
    or cancelled. The fee of fills that rested comes from the exchange's trades of the order."""

    def __init__(self, gw: Gateway, spec: SymbolSpec, journal: Journal, *, base: float = 0.0,
                 poll_s: float = 1.0, clock: Callable[[], int] = time.time_ns) -> None:
        self.gw, self.spec, self.journal, self.clock = gw, spec, journal, clock
        self.poll_s = poll_s
        self.pending: list[Order] = []
        self._tasks: dict[str, asyncio.Task] = {}
        self._base = base

    def submit(self, order: Order) -> None:
        side = "buy" if order.side > 0 else "sell"
        kind = {"market": "market", "post_only": "limit_maker", "limit": "limit"}[order.kind]
        intent = OrderIntent(self.spec.symbol, side, kind, order.qty, order.price,  # type: ignore[arg-type]
                             "GTC" if kind == "limit" else None, order.client_order_id,
                             "entry" if order.side > 0 else "exit")
        # journalled (fsync'd) before it can reach the exchange: a crash from here on is reconciled
        self.journal.write({"op": "sent", "cid": order.client_order_id, "symbol": self.spec.symbol,
                            "side": side, "qty": order.qty, "leg": intent.purpose,
                            "p": order.context.get("p"), "decision_id": order.context.get("decision_id"),
                            "ts_ns": order.submitted_ns})
        self.pending.append(order)
        self._tasks[order.client_order_id] = asyncio.get_running_loop().create_task(
            self._place(order, intent))

    async def _place(self, order: Order, intent: OrderIntent) -> tuple[OrderReport, bool]:
        """The order's final report, and whether it was cancelled at its expiry."""
        gw, sym, cid = self.gw, self.spec.symbol, order.client_order_id
        rep = await gw.create_order(intent, ref_price=order.touch_px)
        timed_out = False
        if order.kind != "market" and order.expires_ns is not None:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + (order.expires_ns - order.due_ns) / 1e9
            while not rep.status.is_final:
                left = deadline - loop.time()
                if left <= 0:
                    try:
                        rep = await gw.cancel_order(cid, sym)
                    except GatewayError as exc:  # it may still rest: left to the journal's reconcile
                        raise UnknownStateError(f"{cid}: cancel at expiry failed ({exc})",
                                                op="cancel") from exc
                    timed_out = rep.status != OrderStatus.FILLED
                    break
                await asyncio.sleep(min(self.poll_s, left))
                with contextlib.suppress(GatewayError):  # a failed look-up: the cancel settles it
                    rep = await gw.fetch_order(cid, sym) or rep
        return await with_fee(gw, rep, sym), timed_out

    def on_trade(self, ts_ns: int, price: float, qty: float, side: int) -> None:
        return None

    def on_market(self, ts_ns: int, market: Market) -> list[Execution]:
        done = [o for o in self.pending if self._tasks[o.client_order_id].done()]
        if done:
            self.pending = [o for o in self.pending if o not in done]
        return [self._result(o) for o in done]

    def flush(self, ts_ns: int, market: Market) -> list[Execution]:
        return self.on_market(ts_ns, market)

    async def drain(self) -> None:
        """Wait for every order in flight to resolve."""
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    def base_free(self) -> float:
        return self._base

    def _result(self, order: Order) -> Execution:
        task = self._tasks.pop(order.client_order_id)
        ts = self.clock()
        exc = task.exception()
        if isinstance(exc, UnknownStateError):  # left unresolved in the journal: reconciled at start
            return Execution(order, 0.0, math.nan, 0.0, 0.0, ts, f"{type(exc).__name__}: {exc}")
        if exc is not None:
            out = Execution(order, 0.0, math.nan, 0.0, 0.0, ts, f"{type(exc).__name__}: {exc}")
        else:
            out = self._filled(order, *task.result(), ts)
        self.journal.write({"op": "done", "cid": order.client_order_id, "filled_qty": out.qty,
                            "avg_px": None if math.isnan(out.avg_px) else out.avg_px,
                            "base": out.base_received if order.side > 0 else -out.qty,
                            "fee_quote": out.fee_quote, "ts_ns": ts})
        return out

    def _filled(self, order: Order, rep: OrderReport, timed_out: bool, ts: int) -> Execution:
        qty = rep.filled_qty
        if not qty > 0 or rep.avg_price is None:
            return Execution(order, 0.0, math.nan, 0.0, 0.0, ts, f"{rep.status.value}: nothing filled",
                             timed_out)
        fee_base = rep.fee if rep.fee_asset == self.spec.base else 0.0
        fee_quote = rep.fee * rep.avg_price if rep.fee_asset == self.spec.base else rep.fee
        received = qty - fee_base if order.side > 0 else qty
        self._base += received if order.side > 0 else -qty
        return Execution(order, qty, rep.avg_price, received, fee_quote, ts, None, timed_out)


async def settle_order(gw: Gateway, cid: str, symbol: str) -> OrderReport | None:
    """An order the journal has no outcome for, as it ended; one still resting (a post-only entry
    or limit exit nobody watches after a restart) is cancelled first. None: it does not exist."""
    rep = await gw.fetch_order(cid, symbol)
    if rep is not None and not rep.status.is_final:
        rep = await gw.cancel_order(cid, symbol)
    return await with_fee(gw, rep, symbol) if rep is not None else None


async def with_fee(gw: Gateway, rep: OrderReport, symbol: str) -> OrderReport:
    """``rep`` with the commission its fills paid, from the order's trades when the report has
    none (Binance's order query carries no fee; a maker's and a taker's differ)."""
    if rep.filled_qty > 0 and not rep.fee and rep.order_id is not None:
        fee, asset = await gw.order_fee(rep.order_id, symbol)
        rep = replace(rep, fee=fee, fee_asset=asset)
    return rep


@dataclass(frozen=True)
class LiveResult:
    summary: Summary
    orders: dict[str, int]
    errors: dict[str, int]
    equity: float | None = None   # the in-process gate's equity at the end (None over HTTP)
    stopped: bool = False         # ended by ``stop`` (a signal) before its time was up


async def _stop_when(stop: asyncio.Event, queue: asyncio.Queue[tuple]) -> None:
    await stop.wait()
    queue.put_nowait(_STOP)


async def cancel_open_orders(gw: Gateway, symbol: str, run_id: str, events: EventLog) -> int:
    """Cancel this run's orders still open at the exchange (by client order id; orders of other
    runs or other programs are left alone); returns how many were canceled."""
    mine = f"ws-{run_tag(run_id, symbol)}-"
    n = 0
    for o in await gw.open_orders(symbol):
        if o.client_order_id.startswith(mine):
            await gw.cancel_order(o.client_order_id, symbol)
            n += 1
    events.emit("runner.orders_canceled", symbol=symbol, count=n)
    return n


async def run_live(settings: Settings, cal: Calibration, gw: Gateway, symbol: str, *, mode: str,
                   seconds: float, events: EventLog, metrics: RunnerMetrics | None = None,
                   stop: asyncio.Event | None = None,
                   decision_lags: list[tuple[int, int]] | None = None) -> LiveResult:
    """Trade ``symbol`` in ``mode`` for ``seconds`` of wall time on the gateway's market data, or
    until ``stop`` is set (a signal): either way what is open is closed, this run's orders still
    open at the exchange are canceled (unless ``runner.cancel_on_stop`` is false) and the summary
    is returned.

    ``decision_lags`` (``auroractl bench latency``) gets, for every quote decided on, the ns from
    its receipt (the source's stamp, after ccxt parsed it) to the loop taking it up and to the
    decision taken."""
    if mode not in MODES:
        raise ValueError(f"live mode must be one of {MODES}, got {mode!r}")
    if mode == "live" and live_refusals(settings):
        raise ValueError("live mode refused: " + "; ".join(live_refusals(settings)))
    spec = symbol_spec(settings, symbol)
    params = feature_params(cal, spec.tick_size)
    r = settings.runner
    start = time.time_ns()
    run_id = f"{mode}-{events.run_id}"
    recorder = Recorder(settings.path(r.record_dir), symbol) if r.record_dir is not None else None
    source = GatewaySource(gw, symbol, book_levels=max(r.book_levels, params.obi_levels),
                           retry_s=settings.exchange.stream_retry_s, events=events, recorder=recorder)
    gate: InProcessGate | LoopGate = (
        InProcessGate(settings, cal, run_id, start / 1e9) if r.aurora_url is None
        else LoopGate(AsyncHttpGate(settings, r.aurora_url),
                      lambda call: source.queue.put_nowait((CALL, call))))
    c = settings.costs
    executor: SimExecution | ShadowExecution | GatewayExecution
    held = None
    if mode == "paper":
        executor = SimExecution(spec, Fees(c.maker_fee_bps, c.fee_bps), settings.account.equity,
                                round(r.latency_ms * 1e6))
    elif mode == "shadow":
        executor = ShadowExecution()
    else:
        journal = Journal(settings.path(r.journal_dir) / f"{gw.settings.exchange.target}-{symbol}.jsonl")
        resolved = await reconcile(journal, lambda cid, sym: settle_order(gw, cid, sym), start,
                                   taker_fee_bps=c.fee_bps)
        held = open_position(journal.records(), symbol)
        events.emit("runner.reconciled", journal=str(journal.path), resolved=resolved,
                    position=held.qty if held else 0.0)
        executor = GatewayExecution(gw, spec, journal, base=held.qty if held else 0.0,
                                    poll_s=settings.exchange.poll_interval_s)
    log = OrderLog(events, metrics)
    runner = Runner(Strategy.build(settings, cal, symbol, params),
                    StreamFeatures(params, microprice_model(cal)), gate, executor, log, run_id=run_id,
                    start_ns=start, intent_interval_s=r.intent_interval_s,
                    vol_window_s=r.regime_vol_window_s, latency_ms=r.latency_ms, metrics=metrics)
    if isinstance(executor, GatewayExecution) and held is not None:
        runner.restore(held.qty, held.entry_px, held.entry_ns, fee_quote=held.entry_fee_quote, p=held.p,
                       decision_id=held.decision_id)
    # the kernels are compiled (or loaded from numba's cache) before the streams start, on a scratch
    # instance, so the first market events do not wait seconds behind the compiler
    scratch = StreamFeatures(params, microprice_model(cal))
    scratch.on_trade(start, 1.0, 1.0, 1)
    scratch.on_book_top(np.ones(params.obi_levels), np.ones(params.obi_levels))
    scratch.on_bbo(start, 0, 1.0, 1.0, 1.0 + spec.tick_size, 1.0)
    events.emit("runner.start", mode=mode, symbol=symbol, seconds=seconds, model_version=cal.model_version,
                gate="in_process" if r.aurora_url is None else r.aurora_url)
    deadline = time.monotonic() + seconds
    stopped = False
    try:
        async with source.running() as queue:
            watch = asyncio.create_task(_stop_when(stop, queue)) if stop is not None else None
            while (left := deadline - time.monotonic()) > 0:
                try:
                    ev = await asyncio.wait_for(queue.get(), timeout=left)
                except TimeoutError:
                    break
                if ev is _STOP:
                    stopped = True
                    break
                if ev[0] == CALL:
                    ev[1]()
                elif decision_lags is None:
                    runner.step(ev)
                else:
                    decided, t0 = runner.summary.evaluations, time.time_ns()
                    runner.step(ev)
                    if runner.summary.evaluations != decided:
                        decision_lags.append((t0 - ev[1], time.time_ns() - ev[1]))
            if watch is not None:
                watch.cancel()
        if isinstance(gate, LoopGate):  # answers still in flight are handled: every intent is logged
            await gate.drain()
            while not source.queue.empty():
                ev = source.queue.get_nowait()
                if ev is not _STOP and ev[0] == CALL:
                    ev[1]()
        if isinstance(executor, GatewayExecution):
            await executor.drain()
        summary = runner.finish()
        if isinstance(executor, GatewayExecution):  # the closing order, sent by finish()
            await executor.drain()
            runner.poll()
            if r.cancel_on_stop:
                await cancel_open_orders(gw, symbol, run_id, events)
        if isinstance(gate, LoopGate):
            await gate.drain()  # the last post-trade reports
    finally:
        if isinstance(gate, LoopGate):
            await gate.aclose()
        if recorder is not None:
            recorder.close()
        if isinstance(executor, GatewayExecution):
            executor.journal.close()
    equity = gate.state.equity if isinstance(gate, InProcessGate) else None
    events.emit("runner.finish", mode=mode, events=summary.events, orders=dict(log.counts),
                errors=dict(log.errors), trades=summary.trades, pnl_quote=summary.pnl_quote,
                equity=equity, stopped=stopped)
    return LiveResult(summary, dict(log.counts), dict(log.errors), equity, stopped)
