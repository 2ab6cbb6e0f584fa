"""``auroractl demo``: the main job, offline — synthetic market → calibrate → WiseScalp replay.

Everything happens in a self-contained demo workspace (``data/demo`` under ``AURORA_HOME`` by
default; its own tick store, artifacts, runs and logs), so a demo never touches the user's real
store or promotes a synthetic model into their workspace. The configuration is the user's
(``configs/default.yaml`` and overlays): no private barriers or costs.

1. a deterministic synthetic market that moves like the real BTCUSDT spot market, with a known
   injected signal, is written to the workspace's tick store (skipped when already there);
2. the calibration notebooks run with papermill and the candidate is promoted if it passes the
   quality gates (three days give the hold-out the sample gate asks for);
3. the WiseScalp runner replays the last ``--replay-hours`` in replay mode: stream features from
   the promoted artifact, p, E[Π], Aurora's gate in process on market time from a fresh risk
   state, the venue's fill model, exits. A replay of the same window gives the same orders.
"""

from __future__ import annotations

import argparse
import math
import os
from datetime import date, timedelta
from pathlib import Path

from aurora.artifact import load_artifact
from aurora.cli.context import CliError, Context
from aurora.config import Settings, load_settings
from aurora.core.features import NS
from aurora.events import EventLog, event_log
from aurora.ops.prepare import PrepareError, calibrate, synthesize
from aurora.runner.replay import run_replay
from aurora.runner.source import SourceError
from aurora.ticks.location import rooted
from aurora.ticks.store import TickStore
from aurora.ticks.synth import DEFAULT_START

DESCRIPTION = """\
The main job, offline, in its own workspace (data/demo): a synthetic market that moves like the
real BTCUSDT spot market with a known injected signal, the calibration notebooks (papermill),
then the WiseScalp runner replaying the last hours through Aurora's gate, in process on market
time, from a fresh risk state. It uses your configuration (barriers, costs, risk limits).

Example:
  auroractl demo
  auroractl demo --hours 96 --replay-hours 6
"""
EXCHANGE = "binance"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="main job, offline: synthetic market → calibrate → runner replay",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workspace", type=Path, help="demo AURORA_HOME (default: data/demo under AURORA_HOME)")
    p.add_argument("--symbol", default="BTCUSDT")
    p.add_argument("--hours", type=float, default=72.0,
                   help="synthetic hours to generate (default 72: enough hold-out samples for the "
                        "calibration.min_samples gate)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--replay-hours", type=float, default=2.0,
                   help="replay the last this many hours through the runner (default 2)")
    p.set_defaults(handler=_handle)


def _workspace(ctx: Context) -> Settings:
    root = (ctx.args.workspace or ctx.settings.path("data/demo")).resolve()
    root.mkdir(parents=True, exist_ok=True)
    # the user's configuration: configs/ under AURORA_HOME when it has one, else the shipped defaults
    configs = ctx.settings.home / "configs"
    extra = [p for p in (configs / "local.yaml",) if p.is_file()] + [Path(p) for p in ctx.args.config]
    env = {k: v for k, v in os.environ.items() if k != "AURORA_HOME"}
    return load_settings(home=root, extra_files=[p.resolve() for p in extra], env=env)


def _step(label: str):
    """Print ``label`` before the first line of a step, indent the lines after it."""
    lead = [f"{label} "]

    def say(line: str) -> None:
        print(f"{lead[0]}{line}", flush=True)
        lead[0] = "      "
    return say


def _synthesize(settings: Settings, args: argparse.Namespace, events: EventLog) -> tuple[date, date]:
    try:
        return synthesize(settings, EXCHANGE, args.symbol, hours=args.hours, seed=args.seed, events=events,
                          say=_step("[1/3]"))
    except PrepareError as exc:
        raise CliError(f"--hours: {exc}") from None


def _calibrate(settings: Settings, args: argparse.Namespace, events: EventLog,
               start: date, end: date) -> None:
    try:
        calibrate(settings, events, _step("[2/3]"), {"exchange": EXCHANGE, "symbol": args.symbol,
                                                    "start": start.isoformat(), "end": end.isoformat()})
    except PrepareError as exc:
        raise CliError(str(exc)) from None


def _replay(settings: Settings, args: argparse.Namespace, events: EventLog) -> None:
    artifact_path = settings.path(settings.api.artifact_path)
    if not artifact_path.exists():
        raise CliError(f"no promoted artifact at {artifact_path}: calibration did not pass its gates")
    cal = load_artifact(artifact_path)
    store = TickStore(rooted(settings.storage.ticks_dir, settings.path), settings.storage.parquet_codec)
    end_ns = round((DEFAULT_START + timedelta(hours=args.hours)).timestamp() * NS)
    start_ns = end_ns - round(args.replay_hours * 3600 * NS)
    print(f"[3/3] replaying the last {args.replay_hours:g} h through the WiseScalp runner (model "
          f"{cal.model_version}; gate in process on market time, from a fresh risk state) …", flush=True)
    try:
        res = run_replay(settings, cal, store, args.symbol, start_ns=start_ns, end_ns=end_ns, events=events,
                         progress=lambda line: print(f"      {line}", flush=True))
    except SourceError as exc:
        raise CliError(str(exc)) from None
    s = res.summary
    win = f"{s.wins / s.trades:.1%}" if s.trades else "n/a"
    print(f"      {s.events:,} events, {s.evaluations:,} decisions, {s.signals} signals; orders "
          f"{dict(sorted(res.orders.items())) or 'none'}; deny reasons {dict(s.deny_reasons) or 'none'}")
    print(f"      trades {s.trades}, wins {win}, exits {dict(s.exit_reasons) or 'none'}, "
          f"P&L {s.pnl_quote:+.4f} USDT, equity {res.equity if res.equity is not None else math.nan:.4f}")
    events.emit("demo.finish", replay_run_id=res.run_id, events=s.events, decisions=s.evaluations,
                signals=s.signals, orders=res.orders, trades=s.trades, wins=s.wins, pnl_quote=s.pnl_quote,
                deny_reasons=dict(s.deny_reasons))


def _next_steps(settings: Settings, args: argparse.Namespace) -> None:
    logs = settings.path(settings.logging.dir)
    home = settings.home
    print("\nwhat to look at next:")
    print(f"  orders      {logs / 'orders_success.jsonl'} (and orders_failed / orders_denied)")
    print(f"  events      {logs / 'aurora_events.jsonl'}")
    runs = settings.path(settings.calibration.runs_dir)
    print(f"  calibration {runs}/<run>/ (executed notebooks, figures, metrics)")
    print("  notebooks   jupyter lab notebooks/   (kernel \"Aurora (Python 3)\")")
    print(f"  replay      auroractl --home {home} run --mode replay --symbol {args.symbol} --minutes 240")
    print(f"  gate API    auroractl --home {home} serve")


def _handle(ctx: Context) -> int:
    args = ctx.args
    if args.replay_hours <= 0 or args.replay_hours > args.hours:
        raise CliError(f"need 0 < --replay-hours <= --hours, got {args.replay_hours} and {args.hours}")
    settings = _workspace(ctx)
    events = event_log(settings, "demo")
    events.emit("demo.start", workspace=str(settings.home), symbol=args.symbol, hours=args.hours)
    print(f"demo workspace: {settings.home}", flush=True)
    start, end = _synthesize(settings, args, events)
    _calibrate(settings, args, events, start, end)
    _replay(settings, args, events)
    _next_steps(settings, args)
    return 0
