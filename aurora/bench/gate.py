"""``auroractl bench gate``: the pre-trade gate's latency in process and over HTTP.

In process: ``core.risk.decide`` alone, one decision event written by ``EventLog.emit``, and
the whole ``GateService.check`` (decide + state + metrics + event), each as p50/p99 µs.

Over HTTP: one ``auroractl serve`` worker (uvloop + httptools) in a child process; load comes
from a SECOND process (:mod:`aurora.bench._load`, keep-alive connections on loopback) at
concurrency 1 and 64, for ``POST /pretrade/check`` and, side by side on the same server, the
trivial ``GET /health/live``, in alternating runs (medians reported). Targets: pretrade
throughput ≥ 0.8× the trivial endpoint's (``pretrade_vs_trivial_rps_ratio_c*``), pretrade p99
≤ 2 ms at concurrency 1, in-process decide p99 ≤ 20 µs. ``trivial_vs_pretrade_p50_latency_ratio_c*``
is the same comparison on median latency, which a noisy machine disturbs less than throughput.
Request counts and time are bounded.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from aurora.api.process import ServerProcess
from aurora.api.schemas import PretradeRequest
from aurora.api.service import GateService
from aurora.config import Settings, load_settings
from aurora.core import risk
from aurora.events import EventLog
from aurora.testing import write_artifact

DESCRIPTION = "pre-trade gate: in-process decide() p50/p99 µs; HTTP /pretrade/check vs a trivial endpoint"
TOKEN = "bench-token"
BODY = {"symbol": "BTCUSDT", "side": "buy", "qty": 1.0, "price": 50000.0, "latency_ms": 10.0,
        "slippage_est_bps": 0.5, "spread_bps": 1.0, "p_tp": 0.7, "e_pi_bps": 1.0, "regime": "normal",
        "sprt_llr": 0.0}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--decisions", type=int, default=100_000, help="in-process decisions timed")
    p.add_argument("--requests-c1", type=int, default=4000, help="HTTP requests timed at concurrency 1")
    p.add_argument("--requests-c64", type=int, default=20000, help="HTTP requests timed at concurrency 64")
    p.add_argument("--rounds", type=int, default=3, help="alternating HTTP runs per endpoint (medians)")
    p.add_argument("--max-seconds", type=float, default=60.0, help="time limit of each HTTP load run")


def _percentiles(samples_ns: np.ndarray) -> tuple[float, float]:
    us = samples_ns / 1e3
    return float(np.percentile(us, 50)), float(np.percentile(us, 99))


def _time_each(fn: Callable[[], object], n: int) -> np.ndarray:
    """Per-call wall time (ns) of ``n`` calls after a warm-up of n/10."""
    clock = time.perf_counter_ns
    for _ in range(max(1, n // 10)):
        fn()
    out = np.empty(n, dtype=np.int64)
    for i in range(n):
        t0 = clock()
        fn()
        out[i] = clock() - t0
    return out


def _in_process(settings: Settings, home: Path, n: int, report: Callable[[str], None]) -> dict[str, float]:
    limits = risk.limits_from_settings(settings)
    now = time.time()
    model = risk.Model("bench", 10.0, 10.0, now - 60, frozenset(limits.symbols))
    state = risk.initial_state(settings.account.equity, now, limits.day_roll_utc_hour)
    req = risk.Request(**BODY)
    d = risk.decide(req, state, limits, model, now)
    assert d.allow, d
    decide_ns = _time_each(lambda: risk.decide(req, state, limits, model, now), n)
    events = EventLog("bench", home / "logs")
    body = PretradeRequest.model_validate(BODY)
    record = {"decision_id": "x", "allow": True, "max_qty": d.max_qty, "reasons": (), "cooloff_s": 0.0,
              "model_version": "bench", "epi_bps_aurora": d.epi_bps, "inputs": body.__dict__}
    event_ns = _time_each(lambda: events.emit("api.decision", **record), n // 4)
    service = GateService(settings, events)
    check_ns = _time_each(lambda: service.check(body), n // 4)
    service.close()
    out: dict[str, float] = {}
    for name, samples in (("decide", decide_ns), ("event_emit", event_ns), ("service_check", check_ns)):
        p50, p99 = _percentiles(samples)
        out[f"inproc_{name}_p50_us"], out[f"inproc_{name}_p99_us"] = round(p50, 2), round(p99, 2)
        report(f"in-process {name:<14} p50 {p50:8.2f} µs   p99 {p99:8.2f} µs   ({samples.size} calls)")
    return out


def _load(port: int, path: str, method: str, body: Path | None, *, concurrency: int, requests: int,
          max_seconds: float) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "aurora.bench._load", "--port", str(port), "--path", path,
           "--method", method, "--concurrency", str(concurrency), "--requests", str(requests),
           "--warmup", str(max(200, requests // 10)), "--max-seconds", str(max_seconds), "--token", TOKEN]
    if body is not None:
        cmd += ["--body", str(body)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=max_seconds + 30)
    if out.returncode != 0:
        raise RuntimeError(f"load generator failed: {out.stderr[-2000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if set(result["statuses"]) != {"200"}:
        raise RuntimeError(f"{method} {path}: non-200 responses {result['statuses']}")
    return result


def _http(home: Path, args: argparse.Namespace, report: Callable[[str], None]) -> dict[str, float]:
    body = home / "pretrade.json"
    body.write_text(json.dumps(BODY))
    out: dict[str, float] = {}
    endpoints = {"trivial": ("/health/live", "GET", None), "pretrade": ("/pretrade/check", "POST", body)}
    with ServerProcess(home, {"AURORA_API_TOKEN": TOKEN}) as srv:
        for c, n in ((1, args.requests_c1), (64, args.requests_c64)):
            load = {"concurrency": c, "requests": n, "max_seconds": args.max_seconds}
            runs: dict[str, list[dict[str, Any]]] = {"trivial": [], "pretrade": []}
            # alternating short runs (T P, P T, T P, ...) and medians: drift and a noisy
            # neighbour hit both endpoints alike instead of favouring whichever ran first
            for i in range(args.rounds):
                for name in (("trivial", "pretrade") if i % 2 == 0 else ("pretrade", "trivial")):
                    path, method, payload = endpoints[name]
                    runs[name].append(_load(srv.port, path, method, payload, **load))
            med = {name: {k: float(np.median([r[k] for r in rs])) for k in ("rps", "p50_us", "p99_us")}
                   for name, rs in runs.items()}
            for name, r in med.items():
                out[f"http_{name}_c{c}_rps"] = round(r["rps"], 1)
                out[f"http_{name}_c{c}_p50_ms"] = round(r["p50_us"] / 1e3, 4)
                out[f"http_{name}_c{c}_p99_ms"] = round(r["p99_us"] / 1e3, 4)
                report(f"HTTP {name:<8} c={c:<3} {r['rps']:9.0f} req/s   p50 {r['p50_us'] / 1e3:7.3f} ms   "
                       f"p99 {r['p99_us'] / 1e3:7.3f} ms   (median of {args.rounds} runs)")
            out[f"pretrade_vs_trivial_rps_ratio_c{c}"] = round(
                med["pretrade"]["rps"] / med["trivial"]["rps"], 3)
            out[f"trivial_vs_pretrade_p50_latency_ratio_c{c}"] = round(
                med["trivial"]["p50_us"] / med["pretrade"]["p50_us"], 3)
    return out


def run(args: argparse.Namespace, settings: Settings, report: Callable[[str], None]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="aurora-bench-gate-") as tmp:
        home = Path(tmp)
        write_artifact(home / "data" / "artifacts" / "current.json", "bench")
        bench_settings = load_settings(home=home, env={})
        figures: dict[str, Any] = _in_process(bench_settings, home / "inproc", args.decisions, report)
        figures.update(_http(home, args, report))
    figures["targets_met"] = bool(
        figures["inproc_decide_p99_us"] <= 20.0 and figures["http_pretrade_c1_p99_ms"] <= 2.0
        and figures["pretrade_vs_trivial_rps_ratio_c1"] >= 0.8
        and figures["pretrade_vs_trivial_rps_ratio_c64"] >= 0.8)
    return figures
