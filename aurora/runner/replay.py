"""Replay mode: tick store → runner → the venue's fill model in process → the gate.

Runs as fast as the store is read, or at a speed factor of market time (``--speed``). With no
``runner.aurora_url`` the gate runs in process from a fresh risk state (a replay of a past day
behaves as that day did, and twice the same); with one, Aurora is asked over HTTP. The run id —
and so every client order id and in-process decision id — is a function of the symbol, the
window and the artifact, so replaying the same window twice writes the same order records.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from aurora.artifact import Calibration
from aurora.config import Settings
from aurora.core.features import NS
from aurora.core.fills import Fees, SymbolSpec
from aurora.core.stream import StreamFeatures
from aurora.events import EventLog
from aurora.runner.execution import SimExecution
from aurora.runner.features import feature_params, microprice_model
from aurora.runner.gate import HttpGate, InProcessGate
from aurora.runner.loop import Runner, StopRequestedError, Summary
from aurora.runner.metrics import RunnerMetrics
from aurora.runner.orderlog import OrderLog
from aurora.runner.pacing import Progress, paced, reported
from aurora.runner.source import SourceError, StoreReplay
from aurora.runner.strategy import Evaluation, Strategy
from aurora.ticks.store import TickStore


@dataclass(frozen=True)
class ReplayResult:
    run_id: str
    summary: Summary
    orders: dict[str, int]        # intents by outcome
    errors: dict[str, int]        # failed intents by error class
    equity: float | None          # the in-process gate's equity at the end (None over HTTP)
    stopped: bool = False         # ended early by ``stop`` (a signal), not at the window's end


def symbol_spec(settings: Settings, symbol: str) -> SymbolSpec:
    """The fill model's view of a symbol: its configured filters, and base/quote split at the
    longest configured asset (``venue.balances``) the symbol ends with."""
    filt = settings.symbols.get(symbol)
    if filt is None:
        raise SourceError(f"symbol {symbol} has no exchange filters under symbols: in the config")
    quotes = sorted((a for a in settings.venue.balances if symbol.endswith(a) and a != symbol),
                    key=len, reverse=True)
    if not quotes:
        raise SourceError(f"cannot tell the quote asset of {symbol}: none of venue.balances "
                          f"({', '.join(settings.venue.balances)}) ends it; add its quote asset there")
    quote = quotes[0]
    return SymbolSpec(symbol, symbol[: -len(quote)], quote, filt.tick_size, filt.step_size, filt.min_qty,
                      filt.min_notional)


def replay_run_id(symbol: str, start_ns: int, end_ns: int, cal: Calibration) -> str:
    key = f"{symbol}:{start_ns}:{end_ns}:{cal.sha256}".encode()
    return "replay-" + hashlib.blake2b(key, digest_size=8).hexdigest()


def run_replay(settings: Settings, cal: Calibration, store: TickStore, symbol: str, *, start_ns: int,
               end_ns: int, events: EventLog,
               on_evaluation: Callable[[Evaluation], None] | None = None,
               metrics: RunnerMetrics | None = None, stop: threading.Event | None = None,
               speed: float | None = None, progress: Callable[[str], None] | None = None,
               per_event: bool = False) -> ReplayResult:
    """Replay ``[start_ns, end_ns)`` (receive time, ns) of ``symbol`` through the runner: as fast
    as possible through its fast path (:mod:`aurora.runner.fastpath`), or at ``speed`` × market
    time (:func:`aurora.runner.pacing.paced`), or with ``per_event`` every event through
    ``Runner.step`` as in live modes (the reference the fast path is tested against; a paced
    replay takes this path too). ``progress`` gets a line every few seconds
    (:class:`aurora.runner.pacing.Progress`). Setting ``stop`` (with ``metrics``: it is checked at
    the heartbeat) ends the replay early: what is pending executes and what is open closes at the
    last market, as at the end of the window."""
    spec = symbol_spec(settings, symbol)
    params = feature_params(cal, spec.tick_size)
    r = settings.runner
    run_id = replay_run_id(symbol, start_ns, end_ns, cal)
    source = StoreReplay(store, r.exchange, symbol, start_ns, end_ns, params,
                         book_levels=max(r.book_levels, params.obi_levels))
    strategy = Strategy.build(settings, cal, symbol, params)
    in_process = r.aurora_url is None
    gate: InProcessGate | HttpGate = (InProcessGate(settings, cal, run_id, start_ns / NS) if in_process
                  else HttpGate(settings, r.aurora_url or ""))
    c = settings.costs
    execution = SimExecution(spec, Fees(c.maker_fee_bps, c.fee_bps), settings.account.equity,
                             round(r.latency_ms * 1e6))
    log = OrderLog(events, metrics)
    runner = Runner(strategy, StreamFeatures(params, microprice_model(cal)), gate, execution, log,
                    run_id=run_id, start_ns=start_ns, intent_interval_s=r.intent_interval_s,
                    vol_window_s=r.regime_vol_window_s, latency_ms=r.latency_ms, on_evaluation=on_evaluation,
                    metrics=metrics)
    events.emit("runner.start", mode="replay", symbol=symbol, start_ns=start_ns, end_ns=end_ns,
                replay_run_id=run_id, model_version=cal.model_version, gate="in_process" if in_process
                else r.aurora_url)
    runner.stop = stop
    stopped = False
    try:
        report = Progress(start_ns, end_ns, progress) if progress is not None else None
        per_event = per_event or speed is not None
        try:
            if per_event:
                events_in: Iterable[tuple] = source if speed is None else paced(source, speed, start_ns)
                summary = runner.run(events_in if report is None else reported(events_in, report))
            else:
                summary = runner.run(source.events(), report)
        except StopRequestedError:
            if per_event:
                runner.summary.events -= 1  # the heartbeat's event was counted, not processed
            summary = runner.finish()
            stopped = True
    finally:
        gate.close()
    equity = gate.state.equity if isinstance(gate, InProcessGate) else None
    result = ReplayResult(run_id, summary, dict(log.counts), dict(log.errors), equity, stopped)
    events.emit("runner.finish", mode="replay", replay_run_id=run_id, events=summary.events,
                evaluations=summary.evaluations, signals=summary.signals, orders=result.orders,
                errors=result.errors, trades=summary.trades, wins=summary.wins, pnl_quote=summary.pnl_quote,
                exit_reasons=dict(summary.exit_reasons), deny_reasons=dict(summary.deny_reasons),
                equity=equity, stopped=stopped)
    return result
