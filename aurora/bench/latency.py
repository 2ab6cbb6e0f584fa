"""``auroractl bench latency``: tick-to-decision latency of the live loop against the local venue.

The runner runs ``run_live`` in shadow mode (orders logged, never sent, so it stays flat) with
``runner.intent_interval_s`` 0, so it decides on every quote, with the gate in process, on the
market of a venue running as its own ``auroractl venue`` process (a synthetic market replayed at
``--speed``), through the real gateway and ccxt's websocket client. A decision's latency runs from
the quote's receipt — the receive stamp the live source puts on it once ccxt has parsed the
message, so the network is excluded — to the decision taken (stream features, score, p, E[Π],
regime, the gate's answer); it includes any wait behind other market events in the loop.

Figures: p50, p99 and max (µs) over ``decisions``, and ``p99_vs_target_ratio`` = p99 / 1 ms
(the target is p99 ≤ 1 ms: a ratio ≤ 1); ``compute_p50_us``/``compute_p99_us``: the runner's own
step that decided (features to gate), without the wait in the loop's queue, which on a loaded
machine is most of the rest.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import SecretStr

from aurora.artifact import load_artifact
from aurora.bench.venue import KEY, SECRET, venue_process
from aurora.config import Settings
from aurora.events import event_log
from aurora.exchange import Gateway
from aurora.runner.live import run_live
from aurora.testing import write_artifact

DESCRIPTION = "live loop tick-to-decision latency (quote receipt → decision, gate in process) vs the venue"
SYMBOL = "BTCUSDT"
TARGET_P99_S = 1e-3


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seconds", type=float, default=20.0, help="wall seconds the runner trades for")
    p.add_argument("--speed", type=float, default=5.0, help="replay speed of the venue's market")


def run(args: argparse.Namespace, settings: Settings, report: Callable[[str], None]) -> dict[str, Any]:
    if not args.seconds > 0 or not args.speed > 0:
        raise ValueError("need --seconds > 0 and --speed > 0")
    with tempfile.TemporaryDirectory(prefix="bench-latency-") as tmp:
        work = Path(tmp)
        cal = load_artifact(write_artifact(work / "artifact.json", "bench-latency", symbols=(SYMBOL,)))
        report(f"starting a venue at speed {args.speed:g} …")
        with venue_process(work, SYMBOL, args.speed) as hostport:
            host, port = hostport.rsplit(":", 1)
            bench = settings.model_copy(update={
                "binance_api_key": SecretStr(KEY), "binance_api_secret": SecretStr(SECRET),
                "exchange": settings.exchange.model_copy(update={"target": "venue", "rate_limit": False}),
                "venue": settings.venue.model_copy(update={"host": host, "port": int(port)}),
                "runner": settings.runner.model_copy(update={"aurora_url": None, "intent_interval_s": 0.0,
                                                             "record_dir": None}),
                "logging": settings.logging.model_copy(update={"dir": work / "logs"})})
            lags: list[tuple[int, int]] = []
            report(f"shadow run of {args.seconds:g} s on the venue's market …")
            result = asyncio.run(_session(bench, cal, args.seconds, lags))
    if not lags:
        raise RuntimeError("the runner decided nothing: no quotes reached it from the venue")
    picked, decided = (np.asarray(lags, dtype=np.float64) / 1e3).T
    us, compute = decided, decided - picked
    p50, p99 = np.percentile(us, [50, 99])
    c50, c99 = np.percentile(compute, [50, 99])
    return {
        "decisions": len(lags), "events": result.summary.events, "seconds": args.seconds,
        "speed": args.speed, "load_avg_1m": os.getloadavg()[0],
        "p50_us": round(float(p50), 1), "p99_us": round(float(p99), 1), "max_us": round(float(us.max()), 1),
        "p99_vs_target_ratio": float(p99) / (TARGET_P99_S * 1e6),
        "compute_p50_us": round(float(c50), 1), "compute_p99_us": round(float(c99), 1),
    }


async def _session(settings: Settings, cal: Any, seconds: float, lags: list[tuple[int, int]]) -> Any:
    events = event_log(settings, "bench-latency")
    try:
        async with Gateway(settings, symbols=[SYMBOL], events=events) as gw:
            return await run_live(settings, cal, gw, SYMBOL, mode="shadow", seconds=seconds, events=events,
                                  decision_lags=lags)
    finally:
        events.close()
