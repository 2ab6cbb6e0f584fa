"""Features and labels of many (symbol, day) partitions, fanned out on Dask or run serially.

A run is planned (:func:`plan_days`) as one :class:`DayTask` per stored (symbol, day) of the
requested date ranges. A task reads its day, the trailing context and the next day's head from
the store (:func:`~aurora.ticks.feature_table.iter_feature_days`), computes features and labels and
hands the day's frame to a *consumer* that runs beside it — write the day's partition
(:func:`write_partition`) or keep the sampled rows a calibration needs — so only what the
consumer returns travels back: the driver never holds more than that.

:func:`run_days` runs the tasks in this process, in order, when given no Dask client (today's
serial path, nothing of Dask imported), or on a Dask cluster (:func:`dask_client`: a
``LocalCluster`` of worker processes, or a running scheduler by address), yielding each task's
:class:`Outcome` as it completes. A failed day is an outcome naming its symbol and date; the other
days still run.

Speed: a day computed alone pays for its warm start (the previous day's tail and depth replay)
and for faulting in fresh day-sized arrays (about half a day's computation). So each worker
thread keeps the stream it computed last open and continues it when its next task is that
stream's next day, and the driver hands each worker a contiguous run of days (a loose
restriction: an idle worker may still steal); a worker thread also keeps its day-sized arrays
between streams of one symbol (a worker holds about one day's memory while idle). Where a task
lands changes only the speed: a day computed alone equals the same day computed within a stream,
bit for bit (tests/test_fanout.py); the tick size is fixed once per range from its first day, as
the serial path does.
"""

from __future__ import annotations

import logging
import math
import resource
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa

from aurora.allocator import KEEP_FREED_MEMORY
from aurora.core.features import FeatureParams, infer_tick_size
from aurora.core.labels import LabelParams
from aurora.core.microprice import MicropriceModel
from aurora.ticks.day_buffers import DayBuffers
from aurora.ticks.feature_table import FeatureTableError, iter_feature_days
from aurora.ticks.location import resolve
from aurora.ticks.store import PART_FILE, TickStore, write_parquet_atomic

if TYPE_CHECKING:
    from distributed import Client


class FanoutError(RuntimeError):
    """The Dask cluster cannot be started or reached; the message says how to fix it."""


@dataclass(frozen=True)
class Stream:
    """One symbol's stored days in one date range, computed with one set of parameters."""

    store: str
    exchange: str
    symbol: str
    end: date  # last date of the range (inclusive)
    params: FeatureParams  # tick_size fixed
    labels: LabelParams | None = None
    microprice: MicropriceModel | None = None
    with_depth: bool = True


@dataclass(frozen=True)
class DayTask:
    """One (symbol, day): ``prev`` is the stream's stored day before it (None: the range's first),
    ``close_after`` lets the worker free the stream's arrays once the day is done."""

    stream: Stream
    day: date
    prev: date | None
    close_after: bool

    def __str__(self) -> str:
        return f"{self.stream.symbol} {self.day} ({self.stream.exchange})"


@dataclass
class Outcome:
    """What one task returned, or why it failed (``error``: exception type and message)."""

    task: DayTask
    result: Any = None
    error: str | None = None


class DaysFailedError(RuntimeError):
    """Days of a run failed (the others finished); the message names each one and its error."""

    def __init__(self, failed: Sequence[Outcome], total: int) -> None:
        self.failed = list(failed)
        super().__init__(f"{len(failed)} of {total} day(s) failed: "
                         + "; ".join(f"{o.task}: {o.error}" for o in failed))


def plan_days(  # noqa: PLR0917 (a run's whole description)
    store: TickStore, exchange: str, symbols: Sequence[str], ranges: Sequence[tuple[date, date]],
    params: Mapping[str, FeatureParams], labels: LabelParams | None = None,
    microprice: MicropriceModel | None = None, with_depth: bool = True,
) -> list[DayTask]:
    """One task per stored bbo day of each symbol in each range, in (symbol, range, day) order.

    ``params[symbol]`` with ``tick_size`` None gets the tick inferred from the range's first day
    (what the serial path does). Raises :class:`FeatureTableError` naming a symbol and range with
    no stored day before anything is computed."""
    tasks: list[DayTask] = []
    for symbol in symbols:
        stored = store.dates("bbo", exchange, symbol)
        for start, end in ranges:
            days = [d for d in stored if start <= d <= end]
            if not days:
                raise FeatureTableError(
                    f"no bbo data for {symbol} on {exchange} between {start} and {end} "
                    f"(stored days: {', '.join(map(str, stored)) or 'none'})")
            p = params[symbol]
            if p.tick_size is None:
                quotes = store.read("bbo", exchange, symbol, days[0], days[0], ["bid_px", "ask_px"])
                p = p.with_tick(infer_tick_size(quotes["bid_px"].to_numpy(),
                                                quotes["ask_px"].to_numpy()))
                del quotes
            stream = Stream(store.uri, exchange, symbol, end, p, labels, microprice, with_depth)
            tasks += [DayTask(stream, d, days[k - 1] if k else None, k == len(days) - 1)
                      for k, d in enumerate(days)]
    return tasks


# ---- on the worker ------------------------------------------------------------------------------

class _OpenStream(threading.local):
    """The stream this thread computed last, suspended after its day ``last``."""

    stream: Stream | None = None
    last: date | None = None
    days: Iterator[tuple[date, pd.DataFrame]] | None = None
    buffers: DayBuffers | None = None  # day-sized arrays, kept between streams of one symbol
    owner: tuple[str, str, str] | None = None  # (store, exchange, symbol) that sized them


_OPEN = _OpenStream()


def close_stream(keep_buffers: bool = False) -> None:
    """Let go of this thread's open stream; its day-sized arrays are freed unless
    ``keep_buffers`` (then the thread's next stream of the same symbol reuses them)."""
    days, _OPEN.days, _OPEN.stream, _OPEN.last = _OPEN.days, None, None, None
    if days is not None:
        days.close()  # type: ignore[attr-defined]
    if not keep_buffers:
        _OPEN.buffers = _OPEN.owner = None


def _day_frame(task: DayTask) -> pd.DataFrame:
    o = _OPEN
    if o.days is None or o.stream != task.stream or o.last is None or o.last != task.prev:
        s = task.stream
        owner = (s.store, s.exchange, s.symbol)
        # another symbol's days differ in size: its arrays would mostly sit unused
        close_stream(keep_buffers=o.owner == owner)
        if o.buffers is None:
            o.buffers, o.owner = DayBuffers(), owner
        o.days = iter_feature_days(TickStore(s.store), s.exchange, s.symbol, task.day, s.end,
                                   s.params, s.labels, s.microprice, s.with_depth,
                                   buffers=o.buffers)
        o.stream = s
    try:
        day, frame = next(o.days, (None, None))
    except BaseException:
        close_stream()
        raise
    if day != task.day:  # the store changed since the run was planned
        close_stream()
        raise FeatureTableError(f"{task}: the store's next stored day is {day or 'none'}, not "
                                f"{task.day}; was the store changed during the run?")
    o.last = day
    return frame


def run_day(task: DayTask, consume: Callable[..., Any], *args: Any) -> Any:
    """Compute ``task``'s day and return ``consume(task, frame, *args)`` (runs on a worker)."""
    frame = _day_frame(task)
    try:
        return consume(task, frame, *args)
    finally:
        del frame  # the stream reuses the day's arrays for its next day
        if task.close_after:
            close_stream(keep_buffers=True)


def partition_key(task: DayTask) -> str:
    """``exchange={ex}/symbol={SYM}/date={YYYY-MM-DD}/part-0.parquet`` (the tick store's hive
    layout), relative to a directory of feature partitions."""
    s = task.stream
    return f"exchange={s.exchange}/symbol={s.symbol}/date={task.day.isoformat()}/{PART_FILE}"


def partition_path(root: str | Path, task: DayTask) -> Path:
    """The day's partition file under a local ``root``."""
    return Path(root) / partition_key(task)


def write_partition(task: DayTask, frame: pd.DataFrame, root: str, codec: str) -> int:
    """Consumer: write the day's frame to its partition under ``root`` (a local path or a URI:
    :mod:`aurora.ticks.location`) atomically; its rows."""
    where = resolve(root)
    write_parquet_atomic(pa.Table.from_pandas(frame, preserve_index=False), where,
                         where.join(partition_key(task)), codec)
    return len(frame)


def peak_rss_mb() -> float:
    """This process's peak resident set size, MB: ``VmHWM`` where Linux has it, because
    ``ru_maxrss`` carries the parent's peak over fork + exec (a spawned Dask worker would report
    its driver's)."""
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


# ---- on the driver ------------------------------------------------------------------------------

@contextmanager
def dask_client(workers: int, scheduler: str | None, memory_limit: str = "auto"
                ) -> Iterator[Client | None]:
    """None for the serial path (``workers`` 1, no ``scheduler``: Dask is not imported), else a
    client of the scheduler at ``scheduler`` or of a new ``LocalCluster`` of ``workers``
    single-threaded worker processes (``memory_limit`` each), closed on exit."""
    if scheduler is None and workers <= 1:
        yield None
        return
    if scheduler is not None:
        from distributed import Client

        try:
            client = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError) as exc:
            raise FanoutError(f"cannot reach the Dask scheduler at {scheduler}: {exc}; start one "
                              "with `dask scheduler` and workers with `dask worker ADDRESS`, or "
                              "drop --scheduler / dask.scheduler for a local cluster") from None
        try:
            client.wait_for_workers(1, timeout=60)
        except TimeoutError:
            client.close()
            raise FanoutError(f"the Dask scheduler at {scheduler} has no worker after 60 s; start "
                              f"workers with `dask worker {scheduler}`") from None
        try:
            yield client
        finally:
            client.close()
        return
    with local_cluster(workers, memory_limit) as client:
        yield client


#: Dask settings of this project's clusters, beyond Dask's defaults: work stealing off (a stolen
#: day breaks two workers' streams: each then pays a warm start and fresh arrays, which cost more
#: than the idle time it saves); Dask's statistical profiler off (its thread samples every
#: worker thread's stack every 10 ms for a dashboard these clusters do not serve; with the trim
#: threshold below, bench scale's 8 days on one worker took 23.5–27.2 s with Dask's defaults and
#: 19.5–22.0 s without); the event loops' watchdog tick every 1 s, not 20 ms (it only times the
#: loop, to warn when it stalls 3 s; the scheduler, nannies and client of a LocalCluster spent
#: 0.45–0.8 CPU s of a 9 s pass of 8 days on 2 workers, 0.25–0.3 s with it, CPU the workers need
#: on a 2-core machine); and in the
#: environment each nanny gives its worker process, Dask's ``MALLOC_TRIM_THRESHOLD_`` removed
#: (None: it turns off glibc's dynamic mmap threshold, so every freed temporary array over
#: 128 KiB goes back to the kernel and the next one is faulted in afresh) and Arrow's allocator
#: keeping what it frees (:mod:`aurora.allocator`). :func:`local_cluster` sets them; a scheduler
#: and workers started by hand take them as ``DASK_*`` variables (README, docker-compose.yml).
CLUSTER_SETTINGS: dict[str, Any] = {
    "distributed.scheduler.work-stealing": False,
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.nanny.pre-spawn-environ": {"MALLOC_TRIM_THRESHOLD_": None, **KEEP_FREED_MEMORY},
}
_SPAWN_ENVIRON = "distributed.nanny.pre-spawn-environ"


def _spawn_environ() -> dict[str, Any]:
    """Dask's ``pre-spawn-environ`` (``OMP_NUM_THREADS=1`` and the like: one thread per library,
    Arrow's CPU pool included) updated with :data:`CLUSTER_SETTINGS`' (None: unset)."""
    import dask
    import distributed  # noqa: F401 (registers the distributed.* config defaults)

    return {**dask.config.get(_SPAWN_ENVIRON), **CLUSTER_SETTINGS[_SPAWN_ENVIRON]}


def worker_environ() -> dict[str, str]:
    """Environment variables a worker process of :func:`local_cluster` starts with."""
    return {k: str(v) for k, v in _spawn_environ().items() if v is not None}


@contextmanager
def local_cluster(workers: int, memory_limit: str = "auto") -> Iterator[Client]:
    """A client of a new ``LocalCluster`` of ``workers`` single-threaded worker processes
    (``memory_limit`` each, e.g. ``"6GiB"``; ``"auto"`` = RAM / workers) with
    :data:`CLUSTER_SETTINGS`, closed on exit. A dead worker's days still go to the others (the
    restrictions are loose)."""
    import dask
    from distributed import Client, LocalCluster

    with dask.config.set({**CLUSTER_SETTINGS, _SPAWN_ENVIRON: _spawn_environ()}):
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               memory_limit=memory_limit, dashboard_address=None,
                               silence_logs=logging.ERROR)
        client = Client(cluster)
    with cluster, client:
        client.wait_for_workers(workers)
        yield client


def contiguous_runs(tasks: Sequence[DayTask], n: int) -> list[list[DayTask]]:
    """``tasks`` cut into at most ``n`` contiguous runs of ⌈len/n⌉ tasks (the last may be
    shorter), one per worker; the last task of a run frees its stream."""
    size = max(1, math.ceil(len(tasks) / n))
    runs = []
    for i in range(0, len(tasks), size):
        run = tasks[i:i + size]
        runs.append([replace(t, close_after=t.close_after or k == len(run) - 1)
                     for k, t in enumerate(run)])
    return runs


def _placed(tasks: Sequence[DayTask], workers: Sequence[str]) -> list[tuple[DayTask, str, int]]:
    """Each task with its worker and its rank in that worker's contiguous run of tasks."""
    return [(t, workers[w], k) for w, run in enumerate(contiguous_runs(tasks, len(workers)))
            for k, t in enumerate(run)]


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def run_days(tasks: Sequence[DayTask], consume: Callable[..., Any], *args: Any,
             client: Client | None = None, keep_buffers: bool = False) -> Iterator[Outcome]:
    """Run every task, ``consume(task, frame, *args)`` beside it, and yield its outcome as it
    completes. ``consume`` must be a module-level function (it is pickled to the workers).

    Serially, this thread's day-sized arrays are freed at the end unless ``keep_buffers`` (a
    caller running several passes over one symbol); workers keep theirs between tasks."""
    if client is None:
        try:
            for t in tasks:
                try:
                    yield Outcome(t, run_day(t, consume, *args))
                except Exception as exc:  # a failed day is reported; the others still run
                    yield Outcome(t, error=_error(exc))
        finally:
            close_stream(keep_buffers)
        return
    from distributed import as_completed

    workers = sorted(client.scheduler_info(n_workers=-1)["workers"])
    futures = {}
    for t, worker, rank in _placed(tasks, workers):
        key = f"day-{t.stream.symbol}-{t.day}-{uuid.uuid4().hex[:8]}"
        fut = client.submit(run_day, t, consume, *args, key=key, workers=[worker],
                            allow_other_workers=True, priority=-rank, pure=False)
        futures[fut] = t
    try:
        for fut in as_completed(list(futures)):
            t = futures.pop(fut)
            try:
                outcome = Outcome(t, fut.result())
            except Exception as exc:  # raised on the worker, or the worker died (KilledWorker)
                outcome = Outcome(t, error=_error(exc))
            fut.release()
            yield outcome
    finally:
        for fut in futures:
            fut.cancel()


def workers_peak_rss_mb(client: Client | None) -> dict[str, float]:
    """Peak RSS of each worker process (MB), or of this process (``"local"``) when serial."""
    if client is None:
        return {"local": round(peak_rss_mb(), 1)}
    return {w: round(v, 1) for w, v in sorted(client.run(peak_rss_mb).items())}


class Progress:
    """``report("features: 3/8 tasks done, ETA 12 s")`` at most every ``every_s`` seconds and at
    the end; the ETA assumes the remaining tasks take the mean time of the finished ones."""

    def __init__(self, total: int, report: Callable[[str], None], label: str,
                 every_s: float = 1.0) -> None:
        self.total, self.report, self.label, self.every_s = total, report, label, every_s
        self.done = 0
        self.failed = 0
        self.started = time.monotonic()
        self._last = -math.inf

    def update(self, outcome: Outcome) -> None:
        self.done += 1
        self.failed += outcome.error is not None
        now = time.monotonic()
        if now - self._last < self.every_s and self.done < self.total:
            return
        self._last = now
        elapsed = now - self.started
        eta = elapsed / self.done * (self.total - self.done)
        failed = f", {self.failed} failed" if self.failed else ""
        self.report(f"{self.label}: {self.done}/{self.total} tasks done{failed}, "
                    f"{elapsed:.0f} s elapsed, ETA {eta:.0f} s")
