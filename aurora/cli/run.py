"""``auroractl run``: the WiseScalp runner.

``--mode shadow|paper|testnet``: live market data through the exchange gateway
(``exchange.target``: Binance, its spot testnet, or the local venue) for ``--minutes`` of wall
time; shadow logs orders without sending them, paper fills them with the venue's fill model in
process, testnet sends them through the gateway; live does the same against Binance and refuses
to start without API keys, an Aurora URL and token, ``exchange.target: live`` and
``runner.live_confirm`` set to the phrase its error message shows.

``--mode replay`` (offline): the tick store → the runner (stream features from the artifact →
p → E[Π] → gate → order → exits) → the venue's fill model in process, as fast as possible, on
market time. ``--minutes N`` counts market time: by default the last N minutes of stored quotes
of the symbol; ``--start`` (and ``--end``) choose another window. With no ``runner.aurora_url``
configured the gate runs in process from a fresh risk state, so nothing else needs to run.

Every order intent lands in exactly one of ``logs/orders_success.jsonl``,
``orders_failed.jsonl`` and ``orders_denied.jsonl``; the run's start and summary are
``runner.start`` / ``runner.finish`` events in ``logs/aurora_events.jsonl``.

SIGTERM or Ctrl-C (SIGINT) ends a run early and cleanly, in every mode: what is pending executes,
the open position is closed, this run's orders still open at the exchange are canceled (unless
``runner.cancel_on_stop`` is false), the logs are flushed, the summary is printed (``"stopped":
true``) and the exit code is 0.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from aurora.cli.context import CliError, Context
from aurora.core.features import NS
from aurora.ticks.location import rooted
from aurora.ticks.store import StoreError, TickStore

if TYPE_CHECKING:
    from aurora.artifact import Calibration
    from aurora.config import Settings
    from aurora.events import EventLog
    from aurora.runner.metrics import RunnerMetrics


DESCRIPTION = """\
The WiseScalp runner: market data, stream features from the calibration artifact, p, E[Pi], the
Aurora gate, then orders and exits. The decision path is the same code in every mode.

  replay   the tick store, fills from the venue's fill model in process, on market time (offline;
           --minutes counts market time, by default the last N minutes stored). Without
           runner.aurora_url the gate runs in process, so nothing else needs to run.
  shadow   live data through the exchange gateway; orders are logged, never sent.
  paper    live data; fills from the fill model in process.
  testnet  live data; orders through the gateway to exchange.target (spot testnet or local venue).
  live     Binance; refuses to start without API keys, an Aurora URL and token,
           exchange.target: live and runner.live_confirm set to the phrase its error shows.

Every order intent lands in exactly one of logs/orders_success.jsonl, orders_failed.jsonl and
orders_denied.jsonl.

SIGTERM or Ctrl-C stops a run cleanly: the open position is closed, this run's open orders are
canceled (unless runner.cancel_on_stop is false), the summary is printed and the exit code is 0.

Examples:
  auroractl run --mode replay --symbol BTCUSDT --minutes 120
  auroractl run --mode replay --symbol BTCUSDT --minutes 10 --speed 1 --metrics --linger inf
  auroractl run --mode paper --symbol BTCUSDT --minutes 15
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="WiseScalp runner: replay the tick store through the decision path",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mode", choices=["replay", "shadow", "paper", "testnet", "live"], default="replay",
                   help="replay: tick store, in-process fills, market time (default); shadow, paper, "
                        "testnet: live data through the gateway")
    p.add_argument("--symbol", required=True, help="e.g. BTCUSDT")
    p.add_argument("--minutes", type=float, help="market minutes to replay (default: the whole --start/--end "
                   "window, or 60 without --end)")
    p.add_argument("--start", help="window start, ISO-8601 UTC (default: --minutes before the end)")
    p.add_argument("--end", help="window end, ISO-8601 UTC (default: the last stored quote, or "
                   "--start + --minutes)")
    p.add_argument("--store", type=Path, help="tick store root (default: storage.ticks_dir)")
    p.add_argument("--exchange", help="tick-store exchange (default: runner.exchange)")
    p.add_argument("--artifact", type=Path, help="calibration artifact (default: api.artifact_path)")
    p.add_argument("--metrics", action="store_true",
                   help="serve Prometheus /metrics on runner.metrics_host:runner.metrics_port while running "
                        "(port 0: a free one, announced in the runner.metrics_listening event)")
    p.add_argument("--speed", type=float, help="replay: play SPEED seconds of market time per second of wall "
                   "time (1 = as recorded, 60 = an hour a minute; default: as fast as possible)")
    p.add_argument("--linger", type=float, default=0.0, metavar="SECONDS",
                   help="with --metrics: keep serving the final metrics this long after the run ends, so "
                        "Prometheus scrapes the end state (inf: until SIGTERM or Ctrl-C)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.set_defaults(handler=_handle)


def _ts(text: str, flag: str) -> int:
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CliError(f"{flag} {text!r} is not an ISO-8601 time (e.g. 2024-08-08T23:55:00Z)") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return round(t.timestamp() * 1e6) * 1000


def window(args: argparse.Namespace, last_ns: int) -> tuple[int, int]:
    """``[start_ns, end_ns)`` from --start/--end/--minutes; the end defaults to just after the last
    stored quote."""
    if args.minutes is not None and not (math.isfinite(args.minutes) and args.minutes > 0):
        raise CliError(f"--minutes must be a positive number, got {args.minutes}")
    span = round(args.minutes * 60 * NS) if args.minutes is not None else None
    start = _ts(args.start, "--start") if args.start else None
    end = _ts(args.end, "--end") if args.end else None
    if end is None:
        end = start + span if start is not None and span is not None else last_ns + 1
    if start is None:
        start = end - (span if span is not None else 60 * 60 * NS)
    if start >= end:
        raise CliError(f"the window is empty: --start is not before --end ({args.start} → {args.end})")
    return start, end


def _handle(ctx: Context) -> int:
    settings = ctx.settings
    # from here on a SIGTERM or Ctrl-C asks for a clean stop (the live modes hand it to their loop)
    stop = threading.Event()
    before = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        return _run(ctx, settings, stop)
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


def _run(ctx: Context, settings: Settings, stop: threading.Event) -> int:
    from aurora.artifact import load_artifact
    from aurora.runner.metrics import RunnerMetrics

    args = ctx.args
    _check_pacing(args)
    if args.exchange:
        settings = settings.model_copy(update={"runner": settings.runner.model_copy(
            update={"exchange": args.exchange})})
    cal = load_artifact(args.artifact or settings.path(settings.api.artifact_path))
    events = ctx.events("runner")
    metrics = RunnerMetrics()
    r = settings.runner
    if args.metrics:
        try:
            port = metrics.serve(r.metrics_port, r.metrics_host)
        except OSError as exc:
            raise CliError(f"cannot serve metrics on {r.metrics_host}:{r.metrics_port} "
                           f"(runner.metrics_host, runner.metrics_port): {exc.strerror or exc}") from None
        events.emit("runner.metrics_listening", host=r.metrics_host, port=port, pid=os.getpid())
        print(f"metrics: http://{r.metrics_host}:{port}/metrics", file=sys.stderr, flush=True)
    code = (_live(ctx, settings, cal, events, metrics, requested=stop) if args.mode != "replay"
            else _replay(ctx, settings, cal, events, metrics, stop=stop))
    if args.linger > 0 and not stop.is_set():
        sys.stdout.flush()  # the summary reaches a pipe or file now, not when the linger ends
        print(f"run finished; serving its final metrics for {args.linger:g} s (SIGTERM or Ctrl-C to stop)",
              file=sys.stderr, flush=True)
        stop.wait(None if math.isinf(args.linger) else args.linger)
    return code


def _check_pacing(args: argparse.Namespace) -> None:
    if args.speed is not None:
        if args.mode != "replay":
            raise CliError(f"--speed paces a replay; --mode {args.mode} runs on the live clock")
        if not (math.isfinite(args.speed) and args.speed > 0):
            raise CliError(f"--speed must be a positive factor of market time (e.g. 1 or 60), "
                           f"got {args.speed}")
    if not args.linger >= 0:
        raise CliError(f"--linger must be a number of seconds >= 0 (or inf), got {args.linger}")
    if args.linger > 0 and not args.metrics:
        raise CliError("--linger keeps the metrics endpoint up after the run: add --metrics")


def _replay(ctx: Context, settings: Settings, cal: Calibration, events: EventLog,
            metrics: RunnerMetrics, *, stop: threading.Event) -> int:
    from aurora.runner.replay import run_replay
    from aurora.runner.source import SourceError, last_quote_ns

    args = ctx.args
    store = TickStore(args.store or rooted(settings.storage.ticks_dir, settings.path))
    try:
        start, end = window(args, last_quote_ns(store, settings.runner.exchange, args.symbol))
        res = run_replay(settings, cal, store, args.symbol, start_ns=start, end_ns=end, events=events,
                         metrics=metrics, stop=stop, speed=args.speed,
                         progress=lambda line: print(line, file=sys.stderr, flush=True))
    except (SourceError, StoreError) as exc:
        raise CliError(str(exc)) from None
    s = res.summary
    out = {"mode": "replay", "symbol": args.symbol, "start": _iso(start), "end": _iso(end),
           "run_id": res.run_id, "model_version": cal.model_version, "events": s.events,
           "evaluations": s.evaluations, "signals": s.signals, "orders": res.orders, "errors": res.errors,
           "deny_reasons": dict(s.deny_reasons), "trades": s.trades, "wins": s.wins,
           "exit_reasons": dict(s.exit_reasons), "pnl_quote": s.pnl_quote, "equity": res.equity,
           "stopped": res.stopped}
    if args.json:
        print(json.dumps(out))
        return 0
    logs = settings.path(settings.logging.dir)
    if res.stopped:
        print("stopped by a signal before the end of the window")
    print(f"replayed {args.symbol} {out['start']} → {out['end']} (model {cal.model_version}): "
          f"{s.events:,} events, {s.evaluations:,} decisions, {s.signals:,} with E[Π] above the minimum")
    print(f"orders: {res.orders or 'none'}; denied by {dict(s.deny_reasons) or 'nothing'}")
    print(f"trades {s.trades} ({s.wins} won), exits {dict(s.exit_reasons) or 'none'}, "
          f"P&L {s.pnl_quote:+.4f} after fees"
          + (f", equity {res.equity:.4f}" if res.equity is not None else ""))
    print(f"order logs: {logs}/orders_{{success,failed,denied}}.jsonl")
    return 0


def _live(ctx: Context, settings: Settings, cal: Calibration, events: EventLog,
          metrics: RunnerMetrics, *, requested: threading.Event) -> int:
    import asyncio

    from aurora.exchange import Gateway, GatewayError
    from aurora.runner.live import live_refusals, run_live

    args = ctx.args
    if args.mode == "live" and live_refusals(settings):
        raise CliError("live mode refused until you: " + "; ".join(live_refusals(settings)))
    if args.start or args.end:
        raise CliError(f"--start/--end choose a replay window; --mode {args.mode} runs from now")
    minutes = args.minutes if args.minutes is not None else 60.0
    if not (math.isfinite(minutes) and minutes > 0):
        raise CliError(f"--minutes must be a positive number, got {minutes}")

    async def go() -> dict:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        if requested.is_set():  # a signal before the loop ran
            stop.set()
        async with Gateway(settings, symbols=[args.symbol], events=events) as gw:
            res = await run_live(settings, cal, gw, args.symbol, mode=args.mode, seconds=minutes * 60,
                                 events=events, metrics=metrics, stop=stop)
        s = res.summary
        return {"mode": args.mode, "symbol": args.symbol, "events": s.events, "evaluations": s.evaluations,
                "signals": s.signals, "orders": res.orders, "errors": res.errors,
                "deny_reasons": dict(s.deny_reasons), "trades": s.trades, "wins": s.wins,
                "exit_reasons": dict(s.exit_reasons), "pnl_quote": s.pnl_quote, "equity": res.equity,
                "stopped": res.stopped}

    try:
        out = asyncio.run(go())
    except GatewayError as exc:
        raise CliError(f"exchange gateway ({settings.exchange.target}): {exc}") from None
    print(json.dumps(out) if args.json else
          f"{args.mode} {args.symbol}: {out['events']:,} events, {out['evaluations']:,} decisions, "
          f"orders {out['orders'] or 'none'}, trades {out['trades']}, P&L {out['pnl_quote']:+.4f}")
    return 0


def _iso(ts_ns: int) -> str:
    return datetime.fromtimestamp(ts_ns / NS, UTC).isoformat().replace("+00:00", "Z")
