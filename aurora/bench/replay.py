"""The runner's full decision path in replay vs a bare scan of the same store, measured in one run.

Figures (rates per second of wall time, one core; each timed ``--repeat`` times, the fastest
counts):

- ``scan_events_per_s``: a plain ``pyarrow.dataset`` scan of one synthetic day's bbo, trades
  and depth partitions (all columns), counting its bbo + trade rows;
- ``replay_events_per_s``: :func:`aurora.runner.replay.run_replay` over the same day — store
  read, book rebuild, stream features, score → p → E[Π] with book slippage, regime, the gate in
  process, the venue's fill model, exits and the order logs — counting the same bbo + trade
  rows; ``replay_vs_scan_ratio`` = that / the scan rate (target: 1 M events/s on one core);
  ``replay_cpu_events_per_s`` the same rows per second of the process's CPU time in that run (on
  a shared, loaded machine the wall-time rate counts the time other processes had the core);
- ``decisions``, ``orders_*``: what the run decided (a fixed linear model over order-book
  imbalance and flow features with a Platt map: the bench measures the path, not the model).

Measured (24 h, 12.35 M events, 76 k decisions, 2 cores shared with other jobs, load 12–17):
every event through ``Runner.step`` 73 k events/s wall (ratio 0.051), 0.23 M per CPU second;
with the replay fast path (:mod:`aurora.runner.fastpath`) 354 k events/s wall (ratio 0.158),
1.38 M per CPU second; at load 4.4, 1.73 M events/s wall (ratio 0.195), 1.83 M per CPU second.
What is left is mostly the 76 k decisions themselves (evaluation, gate, order logs), then the
store read and the kernel (~0.15 µs an event).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds

from aurora.artifact import SCHEMA, build_document, feature_params_document, load_artifact, save_artifact
from aurora.config import Settings
from aurora.core.features import FeatureParams
from aurora.events import event_log
from aurora.runner.replay import run_replay
from aurora.ticks.store import TickStore
from aurora.ticks.synth import DEFAULT_START, synthesize_to_store

DESCRIPTION = "runner decision path in replay (features → p → gate → fills → exits) vs a bare store scan"
SYMBOL = "BTCUSDT"
EXCHANGE = "binance"
NS = 1_000_000_000


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--hours", type=float, default=24.0, help="hours of synthetic market (24 = a day)")
    p.add_argument("--repeat", type=int, default=2, help="timed runs of each; the fastest counts")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--workdir", type=Path, help="keep the generated store here (default: a temp dir)")


def _artifact(path: Path) -> Path:
    body = {
        "schema": SCHEMA, "created_at": DEFAULT_START.isoformat(), "model_version": "bench-replay",
        "symbols": [SYMBOL], "features": ["obi_l1", "obi_w", "ofi_1s", "tfi_5s"],
        "score_model": {"kind": "linear", "intercept": 0.0,
                        "weights": {"obi_l1": 1.0, "obi_w": 0.5, "ofi_1s": 0.05, "tfi_5s": 0.5}},
        "calibrator": {"kind": "platt", "a": 2.0, "b": 0.3},
        "feature_params": feature_params_document(FeatureParams(windows_s=(1.0, 5.0), tick_size=0.01)),
        "barriers": {"tp_bps": 10.0, "sl_bps": 10.0, "horizon_s": 30.0},
        "costs": {"fee_bps": 1.0, "slippage_bps": 0.5},
        "metrics": {"ece": 0.0, "brier": 0.2, "brier_base": 0.25, "auc": 0.5, "n_train": 0, "n_test": 0},
        "data": {"rows": 0, "start": "", "end": "", "sha256": "0" * 64},
        "params": {"windows_s": [1.0, 5.0], "side": "long"},
    }
    return save_artifact(build_document(body), path)


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def run(args: argparse.Namespace, settings: Settings, report: Callable[[str], None]) -> dict[str, Any]:
    if not 0 < args.hours <= 24 or args.repeat < 1:
        raise ValueError("need 0 < --hours <= 24 and --repeat >= 1")
    with tempfile.TemporaryDirectory(prefix="bench-replay-") as tmp:
        work = Path(args.workdir or tmp)
        store = TickStore(work / "ticks")
        day = DEFAULT_START.date()
        if day not in store.dates("bbo", EXCHANGE, SYMBOL):
            report(f"synthesising {args.hours:g} h of {SYMBOL} into {store.root} …")
            synthesize_to_store(store, EXCHANGE, SYMBOL, args.hours, args.seed)
        cal = load_artifact(_artifact(work / "artifact.json"))
        # in process, logs in the work dir: the bench needs nothing running and leaves nothing behind
        bench = settings.model_copy(update={
            "runner": settings.runner.model_copy(update={"aurora_url": None, "exchange": EXCHANGE}),
            "logging": settings.logging.model_copy(update={"dir": work / "logs"})})
        scan_s, rows = _scan(store, day, args.repeat)
        start = int(DEFAULT_START.timestamp()) * NS
        end = start + round(args.hours * 3600 * NS)
        best = best_cpu = float("inf")
        result = None
        for i in range(args.repeat):
            events = event_log(bench, "bench-replay")
            cpu = time.process_time()
            dt, result = _timed(lambda events=events: run_replay(bench, cal, store, SYMBOL, start_ns=start,
                                                                 end_ns=end, events=events))
            cpu = time.process_time() - cpu
            events.close()
            report(f"replay {i + 1}/{args.repeat}: {dt:.2f} s ({cpu:.2f} s CPU)")
            if dt < best:
                best, best_cpu = dt, cpu
        assert result is not None
        scan_rate, replay_rate = rows / scan_s, rows / best
        return {
            "events": rows, "hours": args.hours, "load_avg_1m": os.getloadavg()[0],
            "scan_events_per_s": round(scan_rate), "replay_events_per_s": round(replay_rate),
            "replay_vs_scan_ratio": replay_rate / scan_rate,
            "replay_cpu_events_per_s": round(rows / best_cpu),
            "decisions": result.summary.evaluations, "trades": result.summary.trades,
            **{f"orders_{k}": v for k, v in sorted(result.orders.items())},
        }


def _scan(store: TickStore, day: date, repeat: int) -> tuple[float, int]:
    """Fastest of ``repeat`` scans of the day's bbo, trades and depth; returns (seconds, bbo + trade
    rows)."""
    files = {t: [str(f) for f in store.partition_dir(t, EXCHANGE, SYMBOL, day).glob("*.parquet")]
             for t in ("bbo", "trades", "depth")}

    def scan() -> int:
        n = {t: ds.dataset(f, format="parquet").to_table().num_rows for t, f in files.items() if f}
        return n.get("bbo", 0) + n.get("trades", 0)

    rows = scan()  # warm the page cache like the replay will find it
    return min(_timed(scan)[0] for _ in range(repeat)), rows
