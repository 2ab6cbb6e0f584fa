"""Features + labels over several synthetic days: the serial path vs Dask with 1 and N workers.

Figures (wall seconds of one pass over ``--days`` days, one task per day, each day's frame
computed and dropped on the worker; every worker, and the serial path, is warmed up first —
numba's cached kernels loaded, the page cache filled, the day-sized arrays faulted in (kept
between passes) — so only the steady state is timed, as in ``bench features``):

- ``serial_s``, ``serial_s_per_day``: :func:`aurora.ticks.fanout.run_days` without a client,
  i.e. today's serial path (one stream, no Dask), on one core: Arrow's CPU pool at one thread,
  as in each worker (Dask starts workers with ``OMP_NUM_THREADS=1``, which Arrow's pool follows).
- ``serial_all_cores_s``: the same with Arrow's pool at its default size (every core decodes
  Parquet: what ``auroractl features --workers 1`` does), and
  ``speedup_vs_serial_all_cores_ratio``: ``serial_all_cores_s / dask_{N}_workers_s``.
- ``dask_1_worker_s``, ``dask_{N}_workers_s``: the same tasks on a ``LocalCluster`` of 1 and N
  single-threaded worker processes.
- ``speedup_ratio``: ``serial_s / dask_{N}_workers_s``, what N cores give over one (target ≥ 1.7
  with 2 workers on 2 cores); ``speedup_vs_1_worker_ratio``: ``dask_1_worker_s / dask_{N}_workers_s``.
- ``cpu_bound_speedup_ratio``: ``N · serial_cpu_s / dask_{N}_workers_cpu_s`` (CPU seconds of the
  serial process and of all N workers over the timed pass): the speed-up N idle cores would show,
  what is left of ``speedup_ratio`` when other processes share the cores.
- ``serial_page_faults_per_day``, ``dask_{N}_workers_page_faults_per_day``: minor page faults of
  the timed pass per day (all N workers together): memory the kernel had to zero and map afresh,
  which costs two busy processes on a VM far more than one (:mod:`aurora.allocator`).
- ``plain_{N}_processes_s``: the same contiguous runs of days in N plain processes started
  together (spawned with a LocalCluster worker's environment, no Dask, warmed up like the
  workers): the speed-up this machine gives N processes of this work at the time of the run
  (``plain_processes_speedup_ratio`` = ``serial_s / plain_{N}_processes_s``; on a shared VM two
  busy vCPUs may not run at the speed of one), and ``dask_vs_plain_processes_ratio`` =
  ``plain_{N}_processes_s / dask_{N}_workers_s``: the share of it Dask delivers.
- ``dask_overhead_ms_per_task``: ``(dask_1_worker_s − serial_s) / days`` — what running a day as
  a Dask task costs beyond computing it; ``noop_task_ms``: round trip of an empty task.
- ``peak_rss_mb_per_worker``: peak RSS of each of the N workers; ``peak_rss_mb_1_worker``: of the
  single worker, which streamed every day; ``rss_worker_vs_1_worker_ratio`` (max over the N
  workers / that) ≈ 1 shows a worker's memory is bounded by one day, not by its share of days.
- ``loadavg_1m_before``/``_after``: the machine's load around the timed runs.

``--repeat R`` times each pass R times (on the same cluster) and keeps the fastest, with its CPU
seconds: on a shared machine the fastest pass is the one least slowed by other processes. The
serial path on one core and the N workers' passes alternate (the serial pass runs in this
process while the workers wait), so ``speedup_ratio`` compares passes of the same minutes: this
VM's speed drifts by 10–20 % from one minute to the next.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import queue as queue_mod
import resource
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from aurora.core.features import FeatureParams
from aurora.core.labels import LabelParams
from aurora.ticks.fanout import (
    DaysFailedError,
    DayTask,
    close_stream,
    contiguous_runs,
    local_cluster,
    plan_days,
    run_days,
    worker_environ,
    workers_peak_rss_mb,
)
from aurora.ticks.store import TickStore
from aurora.ticks.synth import synthesize_to_store

DESCRIPTION = "features + labels over several synthetic days: serial vs Dask with 1 and N workers"
SYMBOL = "BTCUSDT"
EXCHANGE = "binance"
DAY0 = date(2024, 1, 1)
NOOP_TASKS = 200


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--hours", type=float, default=24.0,
                   help="hours of synthetic market per day (24 = full days; small for a smoke run)")
    p.add_argument("--days", type=int, default=8,
                   help="days computed (at least 2 per worker; each worker pays one warm start, "
                        "spread over its days as over a month's)")
    p.add_argument("--workers", type=int, default=2, help="worker processes of the parallel run")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--repeat", type=int, default=1,
                   help="timed passes of each configuration; the fastest is reported")
    p.add_argument("--workdir", type=Path, help="keep the generated store here (default: a temp dir)")


def day_rows(task: DayTask, frame: pd.DataFrame) -> int:
    """Consumer: the day's row count (the frame is dropped on the worker)."""
    return len(frame)


def _noop() -> None:
    return None


def _usage() -> tuple[float, int]:
    """User + system CPU seconds and minor page faults of this process so far (all its threads)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime, r.ru_minflt


def _synth(store: TickStore, hours: float, days: int, seed: int, report: Callable[[str], None]) -> None:
    """Day k of the market from seed + k, for each of the ``days`` days not stored yet."""
    stored = set(store.dates("bbo", EXCHANGE, SYMBOL))
    for k in range(days):
        start = datetime(DAY0.year, DAY0.month, DAY0.day, tzinfo=UTC) + timedelta(days=k)
        if start.date() in stored:
            continue
        t0 = time.perf_counter()
        rep = synthesize_to_store(store, EXCHANGE, SYMBOL, min(hours, 24.0), seed + k, start=start)
        report(f"synth day {start.date()}: {rep.rows} rows in {time.perf_counter() - t0:.1f} s")


@contextmanager
def _arrow_threads(n: int) -> Iterator[None]:
    """Arrow's CPU pool at ``n`` threads inside the block."""
    before = pa.cpu_count()
    pa.set_cpu_count(n)
    try:
        yield
    finally:
        pa.set_cpu_count(before)


def _used(client: Any) -> tuple[float, int]:
    """CPU seconds and minor page faults so far of the process computing the tasks: this one, or
    all workers together."""
    if client is None:
        return _usage()
    per_worker = client.run(_usage).values()
    return sum(c for c, _ in per_worker), sum(f for _, f in per_worker)


def _timed_pass(tasks: list[DayTask], client: Any) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds and minor page faults of one pass over ``tasks``."""
    (cpu0, faults0), t0 = _used(client), time.perf_counter()
    failed = [o for o in run_days(tasks, day_rows, client=client, keep_buffers=True)
              if o.error is not None]
    if failed:
        raise DaysFailedError(failed, len(tasks))
    wall = time.perf_counter() - t0
    cpu1, faults1 = _used(client)
    return wall, cpu1 - cpu0, faults1 - faults0


def _fastest_pass(tasks: list[DayTask], client: Any, repeat: int) -> tuple[float, float, int]:
    """:func:`_timed_pass` of the fastest of ``repeat`` passes."""
    return min(_timed_pass(tasks, client) for _ in range(repeat))


def _on_cluster(tasks: list[DayTask], workers: int, memory_limit: str, repeat: int,
                report: Callable[[str], None], *,
                alongside: Callable[[], tuple[float, float, int]] | None = None
                ) -> tuple[tuple[float, float, int], float, dict[str, float],
                           tuple[float, float, int] | None]:
    """:func:`_timed_pass` of the fastest pass, ms per no-op task and peak RSS per worker, on a
    new cluster; and the fastest of ``alongside``'s passes (another configuration, timed before
    each of the cluster's passes while its workers wait: both sides of a ratio measured in the
    same minutes, on a machine whose speed drifts)."""
    other = []
    with local_cluster(workers, memory_limit) as client:
        warm = [DayTask(t.stream, t.day, t.prev, True) for t in tasks[:workers]]
        _timed_pass(warm, client)  # one day on each worker: kernels loaded, page cache filled
        passes = []
        for _ in range(repeat):
            if alongside is not None:
                other.append(alongside())
            passes.append(_timed_pass(tasks, client))
        fastest = seconds, cpu, _ = min(passes)
        t0 = time.perf_counter()
        client.gather([client.submit(_noop, pure=False) for _ in range(NOOP_TASKS)])
        noop_ms = (time.perf_counter() - t0) / NOOP_TASKS * 1e3
        rss = workers_peak_rss_mb(client)
    report(f"dask, {workers} worker(s): {seconds:.2f} s ({cpu:.2f} CPU s); no-op task {noop_ms:.2f} ms; "
           f"peak RSS {rss}")
    return fastest, noop_ms, rss, (min(other) if other else None)


def _one_core_pass(tasks: list[DayTask]) -> tuple[float, float, int]:
    """:func:`_timed_pass` of the serial path with Arrow's CPU pool at one thread."""
    with _arrow_threads(1):
        return _timed_pass(tasks, None)


def _plain_process(tasks: list[DayTask], passes: int, barrier: Any, queue: Any) -> None:
    _timed_pass([DayTask(t.stream, t.day, t.prev, True) for t in tasks[:1]], None)  # warm-up
    for k in range(passes):
        barrier.wait()
        queue.put((k, *_timed_pass(tasks, None)))
    close_stream()


def _plain_processes(tasks: list[DayTask], n: int, repeat: int) -> tuple[float, float]:
    """Wall (the slowest process) and CPU seconds (all processes) of the fastest of ``repeat``
    passes of ``n`` spawned processes, each over its contiguous run of ``tasks``, started
    together at a barrier."""
    ctx = mp.get_context("spawn")
    runs = contiguous_runs(tasks, n)
    barrier, queue = ctx.Barrier(len(runs)), ctx.Queue()
    procs = [ctx.Process(target=_plain_process, args=(run, repeat, barrier, queue), daemon=True)
             for run in runs]
    saved = dict(os.environ)
    try:  # a spawned process starts with this process's environment: a Dask worker's
        os.environ.update({k: str(v) for k, v in worker_environ().items()})
        for proc in procs:
            proc.start()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    passes: dict[int, list[tuple[float, float]]] = {}
    try:
        for _ in range(len(runs) * repeat):
            while True:
                try:
                    k, wall, cpu, _ = queue.get(timeout=5)
                    break
                except queue_mod.Empty:
                    if any(p.exitcode not in (None, 0) for p in procs):
                        raise RuntimeError("a plain bench process failed (its traceback is "
                                           "above)") from None
            passes.setdefault(k, []).append((wall, cpu))
        for proc in procs:
            proc.join()
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.kill()
    return min((max(w for w, _ in p), sum(c for _, c in p)) for p in passes.values())


def run(args: argparse.Namespace, settings: Any, report: Callable[[str], None]) -> dict[str, Any]:
    if args.hours <= 0 or args.workers < 2 or args.days < 2 * args.workers or args.repeat < 1:
        raise SystemExit("--hours must be > 0, --workers >= 2, --days >= 2 x --workers and "
                         "--repeat >= 1")
    tmp = None
    root = args.workdir
    if root is None:
        tmp = tempfile.mkdtemp(prefix="aurora-bench-scale-")
        root = Path(tmp)
    try:
        store = TickStore(root / "ticks")
        last = DAY0 + timedelta(days=args.days - 1)
        _synth(store, args.hours, args.days, args.seed, report)
        params = FeatureParams.from_settings(settings.features, tick_size=0.01)
        tasks = plan_days(store, EXCHANGE, [SYMBOL], [(DAY0, last)], {SYMBOL: params},
                          LabelParams.from_settings(settings.labels))
        memory_limit = settings.dask.memory_limit
        figures: dict[str, Any] = {"days": len(tasks), "workers": args.workers,
                                   "loadavg_1m_before": round(os.getloadavg()[0], 2)}
        _timed_pass(tasks[:1], None)  # numba kernels loaded, page cache filled
        all_cores, _, _ = _fastest_pass(tasks, None, args.repeat)
        report(f"serial: {all_cores:.2f} s for {len(tasks)} day(s) with Arrow decoding on every core")
        plain, plain_cpu = _plain_processes(tasks, args.workers, args.repeat)
        report(f"{args.workers} plain processes: {plain:.2f} s ({plain_cpu:.2f} CPU s)")
        (one, _, _), _, rss_one, _ = _on_cluster(tasks, 1, memory_limit, args.repeat, report)
        (many, many_cpu, many_faults), noop_ms, rss_many, one_core = _on_cluster(
            tasks, args.workers, memory_limit, args.repeat, report,
            alongside=lambda: _one_core_pass(tasks))
        close_stream()  # this process's day-sized arrays are not needed any more
        assert one_core is not None  # alongside was given
        serial, serial_cpu, serial_faults = one_core
        report(f"serial on one core, alternating with the {args.workers} workers' passes: "
               f"{serial:.2f} s ({serial_cpu:.2f} CPU s)")
        figures.update({
            "serial_s": round(serial, 3), "serial_s_per_day": round(serial / len(tasks), 3),
            "dask_1_worker_s": round(one, 3), f"dask_{args.workers}_workers_s": round(many, 3),
            "speedup_ratio": round(serial / many, 3),
            "speedup_vs_1_worker_ratio": round(one / many, 3),
            f"plain_{args.workers}_processes_s": round(plain, 3),
            "plain_processes_speedup_ratio": round(serial / plain, 3),
            "dask_vs_plain_processes_ratio": round(plain / many, 3),
            "serial_all_cores_s": round(all_cores, 3),
            "speedup_vs_serial_all_cores_ratio": round(all_cores / many, 3),
            "serial_cpu_s": round(serial_cpu, 3), f"dask_{args.workers}_workers_cpu_s": round(many_cpu, 3),
            "cpu_bound_speedup_ratio": round(args.workers * serial_cpu / many_cpu, 3),
            "serial_page_faults_per_day": round(serial_faults / len(tasks)),
            f"dask_{args.workers}_workers_page_faults_per_day": round(many_faults / len(tasks)),
            "dask_overhead_ms_per_task": round((one - serial) / len(tasks) * 1e3, 1),
            "noop_task_ms": round(noop_ms, 2),
            "peak_rss_mb_1_worker": max(rss_one.values()),
            "peak_rss_mb_per_worker": sorted(rss_many.values()),
            "rss_worker_vs_1_worker_ratio": round(max(rss_many.values()) / max(rss_one.values()), 3),
            "loadavg_1m_after": round(os.getloadavg()[0], 2),
        })
        return figures
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
