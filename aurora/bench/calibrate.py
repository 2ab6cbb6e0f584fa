"""``auroractl bench calibrate``: the whole papermill pipeline on synthetic days, and predict_p latency.

Pipeline: for each day count in ``--days`` a synthetic market (``--hours`` per day, ≥ 10 M
bbo+trade events per 24 h day) is written to a fresh temporary AURORA_HOME, then
``auroractl calibrate`` runs there as a child process (both notebooks, gates, promotion). Wall
time is measured around the child; peak memory is the largest summed RSS of the child's process
tree (the kernels included), sampled every 50 ms with psutil. Linear time and flat memory mean
``time_growth_ratio ≤ days_max/days_min`` (fixed start-up costs make it smaller; the marginal cost
per extra day is ``marginal_s_per_day``) and ``memory_growth_ratio ≈ 1``.

Each run's step timings (the feature table computed once per run, then each notebook reading it)
come from its ``run.json``; for the smallest day count the same notebooks with the same parameters
then run again without the run's table, so each computes its own (the cost before the table was
shared): ``table_once_vs_each_wall_ratio`` is the first's notebook+table seconds over the second's.

Latency: one ``predict_p`` call on an exported isotonic map (pure-Python bisect), the same
thresholds through ``np.interp`` on a scalar, scikit-learn's ``IsotonicRegression.predict`` on a
one-element array, and a Platt map, side by side on the same fitted data.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import timeit
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from aurora.config import Settings
from aurora.core.calibration import IsotonicCalibrator, PlattCalibrator
from aurora.core.predict import IsotonicMap, PlattMap
from aurora.pipeline.plan import resolve_shipped
from aurora.pipeline.rundir import SUMMARY
from aurora.ticks.store import TickStore
from aurora.ticks.synth import DEFAULT_START, synthesize_to_store

DESCRIPTION = "calibration pipeline wall time / peak memory over synthetic days; predict_p latency"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--days", default="1,7", help="comma-separated day counts to run (default 1,7)")
    p.add_argument("--hours", type=float, default=24.0, help="synthetic hours per day (default 24)")
    p.add_argument("--stride", type=int, default=1, help="sample every n-th bbo event (default 1)")
    p.add_argument("--sample-s", type=float, default=None,
                   help="at most one sample per this many seconds (default: horizon_s)")
    p.add_argument("--tp-bps", type=float, default=0.5,
                   help="barriers for the synthetic market (its moves are small; default 0.5 bps)")
    p.add_argument("--horizon-s", type=float, default=30.0, help="label horizon, seconds (default 30)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--symbol", default="BTCUSDT")
    p.add_argument("--skip-pipeline", action="store_true", help="only measure predict_p latency")
    p.add_argument("--calls", type=int, default=200_000, help="predict_p calls per timing")


def _sample_tree(proc: psutil.Process, cpu: dict[int, float]) -> int:
    """Summed RSS of the tree now; records each process's latest CPU seconds in ``cpu``."""
    total = 0
    for pr in [proc, *proc.children(recursive=True)]:
        try:
            with pr.oneshot():
                total += pr.memory_info().rss
                t = pr.cpu_times()
                cpu[pr.pid] = t.user + t.system
        except psutil.Error:
            continue
    return total


def _run_measured(cmd: list[str], env: dict[str, str]) -> tuple[float, float, int, int, str]:
    """Wall seconds, CPU seconds of the tree, peak tree RSS (bytes), exit code and output tail.

    CPU seconds (the last sample of each process; the final ~50 ms of a process may be missed)
    are less sensitive than wall time to other load on the machine.
    """
    t0 = time.perf_counter()
    child = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    ps = psutil.Process(child.pid)
    peak = [0]
    cpu: dict[int, float] = {}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            with contextlib.suppress(psutil.Error):
                peak[0] = max(peak[0], _sample_tree(ps, cpu))
            done.wait(0.05)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    out, _ = child.communicate()
    wall = time.perf_counter() - t0
    done.set()
    th.join()
    return wall, sum(cpu.values()), peak[0], child.returncode, out[-2000:]


#: The same notebooks with the same parameters run by papermill without the run's sample table,
#: so each computes its own (what a run cost before the table was computed once).
_EACH_BUILDS = """
import json, sys, time
from pathlib import Path
from aurora.pipeline.execute import execute
params, notebooks, out, kernel = json.loads(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
out.mkdir(parents=True)
t0 = time.perf_counter()
for name, values in params.items():
    execute(notebooks / f"{name}.ipynb", out / f"{name}.ipynb", {**values, "output_dir": str(out)},
            kernel=kernel, cell_timeout_s=3600, progress_bar=False)
print(time.perf_counter() - t0)
"""


def _each_builds(home: Path, settings: Settings, env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds of the run's notebooks (as the pipeline times them: around the papermill
    calls) and CPU seconds of the process tree, when each builds its own sample table."""
    runs = sorted((home / "data" / "runs").glob(f"*/{SUMMARY}"))
    if not runs:
        raise RuntimeError("the calibration run wrote no run.json to take its parameters from")
    params = json.loads(runs[-1].read_text())["params"]
    notebooks = resolve_shipped(settings, settings.calibration.notebooks_dir)
    cmd = [sys.executable, "-c", _EACH_BUILDS, json.dumps(params), str(notebooks), str(home / "each"),
           settings.calibration.kernel]
    _, cpu, _, code, tail = _run_measured(cmd, env)
    if code != 0:
        raise RuntimeError(f"the notebooks without the run's table exited {code}:\n{tail}")
    return float(tail.strip().splitlines()[-1]), cpu


def _pipeline(days: int, args: argparse.Namespace, settings: Settings, report: Callable[[str], None], *,
              compare: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="aurora-bench-cal-") as tmp:
        home = Path(tmp)
        store = TickStore(home / "data" / "ticks")
        t0 = time.perf_counter()
        rep = synthesize_to_store(store, "binance", args.symbol, days * args.hours, args.seed)
        events = int(rep.rows.get("bbo", 0) + rep.rows.get("trades", 0))
        report(f"  {days} day(s): synthesized {events:,} bbo+trade events in "
               f"{time.perf_counter() - t0:.1f} s")
        first = DEFAULT_START.date()
        last = (DEFAULT_START + timedelta(hours=days * args.hours) - timedelta(microseconds=1)).date()
        env = {k: v for k, v in os.environ.items() if not k.startswith("AURORA_")}
        cmd = [sys.executable, "-m", "aurora", "--home", str(home), "calibrate", "--symbol", args.symbol,
               "--exchange", "binance", "--start", first.isoformat(), "--end", last.isoformat(),
               "--set", f"stride={args.stride}", "--set", f"tp_bps={args.tp_bps}",
               "--set", f"sl_bps={args.tp_bps}", "--set", f"horizon_s={args.horizon_s}",
               "--set", f"embargo_s={args.horizon_s}"]
        if args.sample_s is not None:
            cmd += ["--set", f"sample_s={args.sample_s}"]
        wall, cpu, peak, code, tail = _run_measured(cmd, env)
        if code not in (0, 1):
            raise RuntimeError(f"calibrate on {days} day(s) exited {code}:\n{tail}")
        steps = _step_timings(home)
        report(f"  {days} day(s): pipeline {wall:.1f} s wall, {cpu:.1f} s CPU, "
               f"peak RSS {peak / 2**20:.0f} MiB, exit {code}; steps (s) {steps}")
        out = {"events": events, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
               "peak_rss_mb": round(peak / 2**20, 1), "exit_code": code, "steps_s": steps}
        if compare:
            each_wall, each_cpu = _each_builds(home, settings, env)
            once_wall = sum(steps.values())
            report(f"  {days} day(s): the notebooks alone, each building its own table: {each_wall:.1f} s "
                   f"wall, {each_cpu:.1f} s CPU (pipeline steps with the table once: {once_wall:.1f} s)")
            out.update(each_wall_s=round(each_wall, 2), each_cpu_s=round(each_cpu, 2),
                       once_wall_s=round(once_wall, 2))
        return out


def _step_timings(home: Path) -> dict[str, float]:
    """Seconds of each pipeline step (the feature table, each notebook) from the run's ``run.json``."""
    runs = sorted((home / "data" / "runs").glob(f"*/{SUMMARY}"))
    return json.loads(runs[-1].read_text()).get("timings_s", {}) if runs else {}


def _latency(calls: int, report: Callable[[str], None]) -> dict[str, float]:
    rng = np.random.default_rng(0)
    s = rng.normal(size=50_000)
    y = (rng.random(50_000) < 1 / (1 + np.exp(-1.3 * s))).astype(int)
    iso = IsotonicCalibrator().fit(s, y)
    d = iso.to_dict()
    imap = IsotonicMap(tuple(d["x"]), tuple(d["y"]))
    xs, ys = np.asarray(d["x"]), np.asarray(d["y"])
    pl = PlattCalibrator().fit(s, y).to_dict()
    pmap = PlattMap(pl["a"], pl["b"])
    probe = 0.37
    one = np.array([probe])

    def per_call(fn: Callable[[], object], n: int) -> float:
        best = min(timeit.repeat(fn, number=n, repeat=3))
        return best / n * 1e6

    iso_us = per_call(lambda: imap(probe), calls)
    interp_us = per_call(lambda: float(np.interp(probe, xs, ys)), calls // 4)
    sk_us = per_call(lambda: iso.model_.predict(one), max(calls // 100, 200))
    platt_us = per_call(lambda: pmap(probe), calls)
    report(f"  predict_p: isotonic map {iso_us:.3f} µs, np.interp {interp_us:.3f} µs, "
           f"sklearn {sk_us:.1f} µs, Platt {platt_us:.3f} µs ({len(xs)} thresholds)")
    return {"predict_isotonic_us": round(iso_us, 4), "predict_interp_us": round(interp_us, 4),
            "predict_sklearn_us": round(sk_us, 3), "predict_platt_us": round(platt_us, 4),
            "isotonic_thresholds": len(xs),
            "sklearn_vs_isotonic_ratio": round(sk_us / iso_us, 1),
            "interp_vs_isotonic_ratio": round(interp_us / iso_us, 2)}


def run(args: argparse.Namespace, settings: Settings, report: Callable[[str], None]) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    report("predict_p latency")
    figures.update(_latency(args.calls, report))
    if args.skip_pipeline:
        return figures
    try:
        counts = sorted({int(d) for d in args.days.split(",") if d.strip()})
    except ValueError:
        raise ValueError(f"--days must be comma-separated integers, got {args.days!r}") from None
    if not counts or counts[0] < 1:
        raise ValueError("--days needs positive day counts")
    report(f"pipeline on synthetic days of {args.hours:g} h (stride {args.stride})")
    runs = {d: _pipeline(d, args, settings, report, compare=d == counts[0]) for d in counts}
    for d, r in runs.items():
        figures[f"pipeline_{d}d_wall_s"] = r["wall_s"]
        figures[f"pipeline_{d}d_cpu_s"] = r["cpu_s"]
        figures[f"pipeline_{d}d_peak_rss_mb"] = r["peak_rss_mb"]
        figures[f"pipeline_{d}d_events"] = r["events"]
        figures[f"pipeline_{d}d_exit_code"] = r["exit_code"]
        for step, seconds in r["steps_s"].items():
            figures[f"pipeline_{d}d_{step}_s"] = seconds
    lo, hi = counts[0], counts[-1]
    first = runs[lo]
    # side by side on the same data and parameters: the feature table + both notebooks reading it,
    # vs both notebooks computing it each (the kernels' start-up is in both)
    figures[f"pipeline_{lo}d_each_builds_wall_s"] = first["each_wall_s"]
    figures[f"pipeline_{lo}d_each_builds_cpu_s"] = first["each_cpu_s"]
    figures["table_once_vs_each_wall_ratio"] = round(first["once_wall_s"] / first["each_wall_s"], 3)
    if hi > lo:
        figures["days_ratio"] = hi / lo
        figures["time_growth_ratio"] = round(runs[hi]["wall_s"] / runs[lo]["wall_s"], 3)
        figures["cpu_growth_ratio"] = round(runs[hi]["cpu_s"] / runs[lo]["cpu_s"], 3)
        figures["memory_growth_ratio"] = round(runs[hi]["peak_rss_mb"] / runs[lo]["peak_rss_mb"], 3)
        # fixed costs (interpreter, kernel start-ups, imports) cancel out of the marginal cost
        figures["marginal_s_per_day"] = round((runs[hi]["wall_s"] - runs[lo]["wall_s"]) / (hi - lo), 2)
        figures["marginal_cpu_s_per_day"] = round((runs[hi]["cpu_s"] - runs[lo]["cpu_s"]) / (hi - lo), 2)
    return figures
