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
"""

from __future__ import annotations

import argparse
import json
import math
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

Examples:
  auroractl run --mode replay --symbol BTCUSDT --minutes 120
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
                   help="serve Prometheus /metrics on 127.0.0.1:runner.metrics_port while running")
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
    from aurora.artifact import load_artifact
    from aurora.runner.metrics import RunnerMetrics
    from aurora.runner.replay import run_replay
    from aurora.runner.source import SourceError, last_quote_ns

    args = ctx.args
    settings = ctx.settings
    if args.exchange:
        settings = settings.model_copy(update={"runner": settings.runner.model_copy(
            update={"exchange": args.exchange})})
    cal = load_artifact(args.artifact or settings.path(settings.api.artifact_path))
    events = ctx.events("runner")
    metrics = RunnerMetrics()
    if args.metrics:
        try:
            metrics.serve(settings.runner.metrics_port)
        except OSError as exc:
            raise CliError(f"cannot serve metrics on port {settings.runner.metrics_port} "
                           f"(runner.metrics_port): {exc.strerror or exc}") from None
    if args.mode != "replay":
        return _live(ctx, settings, cal, events, metrics)
    store = TickStore(args.store or rooted(settings.storage.ticks_dir, settings.path))
    try:
        start, end = window(args, last_quote_ns(store, settings.runner.exchange, args.symbol))
        res = run_replay(settings, cal, store, args.symbol, start_ns=start, end_ns=end, events=events,
                         metrics=metrics)
    except (SourceError, StoreError) as exc:
        raise CliError(str(exc)) from None
    s = res.summary
    out = {"mode": "replay", "symbol": args.symbol, "start": _iso(start), "end": _iso(end),
           "run_id": res.run_id, "model_version": cal.model_version, "events": s.events,
           "evaluations": s.evaluations, "signals": s.signals, "orders": res.orders, "errors": res.errors,
           "deny_reasons": dict(s.deny_reasons), "trades": s.trades, "wins": s.wins,
           "exit_reasons": dict(s.exit_reasons), "pnl_quote": s.pnl_quote, "equity": res.equity}
    if args.json:
        print(json.dumps(out))
        return 0
    logs = settings.path(settings.logging.dir)
    print(f"replayed {args.symbol} {out['start']} → {out['end']} (model {cal.model_version}): "
          f"{s.events:,} events, {s.evaluations:,} decisions, {s.signals:,} with E[Π] above the minimum")
    print(f"orders: {res.orders or 'none'}; denied by {dict(s.deny_reasons) or 'nothing'}")
    print(f"trades {s.trades} ({s.wins} won), exits {dict(s.exit_reasons) or 'none'}, "
          f"P&L {s.pnl_quote:+.4f} after fees"
          + (f", equity {res.equity:.4f}" if res.equity is not None else ""))
    print(f"order logs: {logs}/orders_{{success,failed,denied}}.jsonl")
    return 0


def _live(ctx: Context, settings: Settings, cal: Calibration, events: EventLog,
          metrics: RunnerMetrics) -> int:
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
        async with Gateway(settings, symbols=[args.symbol], events=events) as gw:
            res = await run_live(settings, cal, gw, args.symbol, mode=args.mode, seconds=minutes * 60,
                                 events=events, metrics=metrics)
        s = res.summary
        return {"mode": args.mode, "symbol": args.symbol, "events": s.events, "evaluations": s.evaluations,
                "signals": s.signals, "orders": res.orders, "errors": res.errors,
                "deny_reasons": dict(s.deny_reasons), "trades": s.trades, "pnl_quote": s.pnl_quote}

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
