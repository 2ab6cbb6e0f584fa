"""``auroractl demo``: the main job, offline — synthetic market → calibrate → Aurora gate replay.

Everything happens in a self-contained demo workspace (``data/demo`` under ``AURORA_HOME`` by
default; its own configs, tick store, artifacts, state and logs), so a demo never touches the
user's real store or promotes a synthetic model into their workspace:

1. a deterministic synthetic market (known injected imbalance/flow signal) is written to the
   workspace's tick store (skipped when those days are already there);
2. the calibration notebooks run with papermill and the candidate is promoted if it passes the
   quality gates;
3. Aurora is started on an ephemeral loopback port with a one-off token, and the last part of
   the period is replayed through it: at most one entry candidate per ``--every-s`` seconds of
   market time, scored with the promoted artifact; a candidate with positive E[Π] is sent to
   ``/pretrade/check``; an allowed entry is filled at the ask and closed where its triple-barrier
   label says (take-profit, stop or timeout), both reported to ``/posttrade/log``.

The workspace's ``configs/local.yaml`` holds the demo's barriers and costs, sized for the
synthetic market's small moves; edit it and re-run to explore.
"""

from __future__ import annotations

import argparse
import math
import os
import secrets
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import yaml

from aurora.api.process import ServerProcess
from aurora.artifact import Calibration, load_artifact
from aurora.cli.context import CliError, Context
from aurora.config import Settings, load_settings
from aurora.core.labels import LabelParams
from aurora.events import EventLog, event_log
from aurora.pipeline.execute import PipelineError, run_pipeline
from aurora.pipeline.lock import PipelineLockedError
from aurora.pipeline.params import ParameterError
from aurora.pipeline.plan import plan_run
from aurora.ticks.feature_table import feature_table
from aurora.ticks.store import TickStore
from aurora.ticks.synth import DEFAULT_START, synthesize_to_store

DESCRIPTION = """\
The main job, offline, in its own workspace (data/demo): a synthetic market with a known signal,
the calibration notebooks, then Aurora on a loopback port gating a replay of the last hours.

Example:
  auroractl demo
"""
EXCHANGE = "binance"
#: Demo-only overrides written to the workspace's configs/local.yaml: the synthetic market moves
#: about half a bp per 30 s, so the barriers are 0.5 bp and the costs those of a low-fee tier.
DEMO_CONFIG: dict[str, Any] = {
    "labels": {"tp_bps": 0.5, "sl_bps": 0.5, "horizon_s": 30.0, "embargo_s": 30.0},
    "costs": {"fee_bps": 0.0, "slippage_bps": 0.02},
    "risk": {"pi_min_bps": 0.02, "epi_tolerance_bps": 0.01},
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="main job, offline: synthetic market → calibrate → gate replay",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workspace", type=Path, help="demo AURORA_HOME (default: data/demo under AURORA_HOME)")
    p.add_argument("--symbol", default="BTCUSDT")
    p.add_argument("--hours", type=float, default=24.0, help="synthetic hours to generate (default 24)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--replay-hours", type=float, default=2.0,
                   help="replay the last this many hours through Aurora (default 2)")
    p.add_argument("--every-s", type=float, default=30.0,
                   help="at most one entry candidate per this many seconds of market time (default 30)")
    p.add_argument("--qty", type=float, default=0.01, help="requested quantity per entry, base asset")
    p.set_defaults(handler=_handle)


@dataclass
class ReplaySummary:
    candidates: int = 0
    below_zero_epi: int = 0
    allowed: int = 0
    denied: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    trades: int = 0
    wins: int = 0
    pnl_quote: float = 0.0
    last_state: dict[str, Any] = field(default_factory=dict)


def _workspace(ctx: Context) -> Settings:
    root = (ctx.args.workspace or ctx.settings.path("data/demo")).resolve()
    (root / "configs").mkdir(parents=True, exist_ok=True)
    local = root / "configs" / "local.yaml"
    if not local.exists():
        local.write_text("# Demo workspace overrides (auroractl demo); edit and re-run.\n"
                         + yaml.safe_dump(DEMO_CONFIG, sort_keys=True))
    env = {k: v for k, v in os.environ.items() if k != "AURORA_HOME"}
    return load_settings(home=root, env=env)


def _synthesize(settings: Settings, args: argparse.Namespace, events: EventLog) -> tuple[date, date]:
    if not (0 < args.hours <= 24 * 31):
        raise CliError(f"--hours must be in (0, 744], got {args.hours}")
    store = TickStore(settings.path(settings.storage.ticks_dir), settings.storage.parquet_codec)
    start = DEFAULT_START.date()
    end = (DEFAULT_START + timedelta(hours=args.hours) - timedelta(microseconds=1)).date()
    have = set(store.dates("bbo", EXCHANGE, args.symbol))
    wanted = {start + timedelta(days=i) for i in range((end - start).days + 1)}
    if wanted <= have:
        print(f"[1/3] synthetic market already in {store.root} ({start} → {end})", flush=True)
        return start, end
    print(f"[1/3] synthesising {args.hours:g} h of {args.symbol} (seed {args.seed}) into {store.root} …",
          flush=True)
    rep = synthesize_to_store(store, EXCHANGE, args.symbol, args.hours, args.seed)
    events.emit("demo.synth", symbol=args.symbol, hours=args.hours, seed=args.seed, rows=rep.rows)
    print(f"      rows: {', '.join(f'{k} {v:,}' for k, v in rep.rows.items())}", flush=True)
    return start, end


def _calibrate(settings: Settings, args: argparse.Namespace, events: EventLog,
               start: date, end: date) -> None:
    print("[2/3] calibrating with papermill (notebooks 01, 02) …", flush=True)
    try:
        plan = plan_run(settings, events.run_id, overrides={
            "exchange": EXCHANGE, "symbol": args.symbol, "start": start.isoformat(), "end": end.isoformat()})
        result = run_pipeline(settings, plan, events, lambda line: print(f"      {line}", flush=True))
    except (ParameterError, PipelineError, PipelineLockedError) as exc:
        raise CliError(str(exc)) from None
    if result.rejected:
        raise CliError(f"calibration not promoted: {result.rejected}")
    test = result.metrics.get("test", {})
    verdict = "promoted" if result.promotion and result.promotion.promoted else "not promoted"
    print(f"      hold-out: ECE {test.get('ece', math.nan):.4f}, Brier {test.get('brier', math.nan):.5f} "
          f"(base {test.get('brier_base', math.nan):.5f}), AUC {test.get('auc', math.nan):.3f}; "
          f"candidate {verdict}", flush=True)
    if result.promotion and not result.promotion.promoted:
        print(f"      failed gates: {', '.join(result.promotion.failed)}", flush=True)


def _candidates(settings: Settings, cal: Calibration, args: argparse.Namespace, end: date) -> pd.DataFrame:
    b = cal.body.barriers
    labels = LabelParams(tp_bps=b.tp_bps, sl_bps=b.sl_bps, horizon_s=b.horizon_s,
                         embargo_s=settings.labels.embargo_s)
    store = TickStore(settings.path(settings.storage.ticks_dir))
    replay_start = DEFAULT_START + timedelta(hours=args.hours - args.replay_hours)
    # Only the replayed days: the feature table takes the windows' context from the day before.
    # The features are the artifact's (what its model was fitted on), never the local config's.
    frame = feature_table(store, EXCHANGE, args.symbol, replay_start.date(), end, cal.feature_params,
                          labels)
    t0 = int(replay_start.timestamp() * 1e9)
    frame = frame[(frame["ts_ns"] >= t0) & frame["label_complete"]]
    bucket = (frame["ts_ns"] // int(args.every_s * 1e9))
    return frame[~bucket.duplicated()].reset_index(drop=True)


def _replay(settings: Settings, cal: Calibration, frame: pd.DataFrame, args: argparse.Namespace,
            events: EventLog) -> ReplaySummary:
    token = secrets.token_urlsafe(24)
    out = ReplaySummary()
    fee_bps = cal.body.costs.fee_bps
    with ServerProcess(settings.home, env={"AURORA_API_TOKEN": token}) as server, httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {token}"},
            timeout=settings.http.timeout_s) as client:
        busy_until = -1
        for i, row in enumerate(frame.itertuples(index=False)):
            if row.ts_ns < busy_until:
                continue
            feats = {name: getattr(row, name) for name in cal.body.features}
            if any(not math.isfinite(float(v)) for v in feats.values()):
                continue
            out.candidates += 1
            p = cal.predict_p(cal.score(feats))
            e_pi = cal.e_pi_bps(p)
            if e_pi <= 0:
                out.below_zero_epi += 1
                continue
            coid = f"demo-{events.run_id}-{i}"
            entry = float(row.mid) * (1 + float(row.spread_bps) / 2e4)  # the ask
            decision = client.post("/pretrade/check", json={
                "symbol": args.symbol, "side": "buy", "qty": args.qty, "price": entry,
                "latency_ms": 1.0, "slippage_est_bps": cal.body.costs.slippage_bps,
                "spread_bps": float(row.spread_bps), "p_tp": p, "e_pi_bps": e_pi, "regime": "normal",
                "sprt_llr": 0.0, "client_order_id": coid}).raise_for_status().json()
            if not decision["allow"]:
                out.denied += 1
                out.reasons.update(decision["reasons"])
                continue
            out.allowed += 1
            qty = decision["max_qty"]
            exit_px = entry * (1 + float(row.ret_long_bps) / 1e4)
            gross = qty * (exit_px - entry)
            now = datetime.now(UTC).isoformat()
            base = {"client_order_id": coid, "symbol": args.symbol, "qty": qty,
                    "decision_id": decision["decision_id"], "ts": now}
            client.post("/posttrade/log", json={**base, "side": "buy", "price": entry,
                        "fee": qty * entry * fee_bps / 1e4, "realized_pnl": 0.0, "pnl_bps": 0.0,
                        "status": "filled"}).raise_for_status()
            state = client.post("/posttrade/log", json={
                **base, "side": "sell", "price": exit_px, "fee": qty * exit_px * fee_bps / 1e4,
                "realized_pnl": gross, "pnl_bps": float(row.ret_long_bps) - 2 * fee_bps,
                "status": "closed"}).raise_for_status().json()
            out.trades += 1
            out.wins += int(row.label_long > 0)
            out.pnl_quote += gross - qty * (entry + exit_px) * fee_bps / 1e4
            out.last_state = state
            busy_until = int(row.exit_long_ns)
        out.last_state["health"] = client.get("/health").json().get("status")
    return out


def _handle(ctx: Context) -> int:
    args = ctx.args
    if args.every_s <= 0 or args.replay_hours <= 0 or args.replay_hours > args.hours or args.qty <= 0:
        raise CliError("need --every-s > 0, --qty > 0 and 0 < --replay-hours <= --hours")
    settings = _workspace(ctx)
    events = event_log(settings, "demo")
    events.emit("demo.start", workspace=str(settings.home), symbol=args.symbol, hours=args.hours)
    print(f"demo workspace: {settings.home}", flush=True)
    start, end = _synthesize(settings, args, events)
    _calibrate(settings, args, events, start, end)
    artifact_path = settings.path(settings.api.artifact_path)
    if not artifact_path.exists():
        raise CliError(f"no promoted artifact at {artifact_path}: calibration did not pass its gates")
    cal = load_artifact(artifact_path)
    print(f"[3/3] replaying the last {args.replay_hours:g} h through Aurora "
          f"(model {cal.model_version}) …", flush=True)
    s = _replay(settings, cal, _candidates(settings, cal, args, end), args, events)
    events.emit("demo.finish", candidates=s.candidates, allowed=s.allowed, denied=s.denied,
                reasons=dict(s.reasons), trades=s.trades, wins=s.wins, pnl_quote=s.pnl_quote)
    win = f"{s.wins / s.trades:.1%}" if s.trades else "n/a"
    print(f"      candidates {s.candidates}: {s.below_zero_epi} with E[Π] ≤ 0 not sent, "
          f"{s.allowed} allowed, {s.denied} denied {dict(s.reasons) or ''}")
    print(f"      trades {s.trades}, take-profit first {win}, P&L {s.pnl_quote:+.4f} USDT; "
          f"equity {s.last_state.get('equity', settings.account.equity):.4f}, "
          f"Aurora health: {s.last_state.get('health')}")
    print(f"events: {settings.path(settings.logging.dir) / 'aurora_events.jsonl'}")
    return 0
