"""``auroractl features``: write the feature table (one row per bbo event) of symbols and dates.

The features are computed with the feature parameters of a calibration artifact (--artifact,
default: the current artifact when there is one), the ones its model was fitted on, so research
and live compute the same numbers; with no artifact at all, with the configured features.* and
each symbol's tick. An artifact covers its symbols only: another symbol is refused. The command
says which parameters it used. --labels takes the artifact's barriers too. Where the depth book
was not in sync (``book_ok`` False) the command warns, per symbol over its days.

Days are computed and written one at a time (memory stays bounded for long ranges). ``--out FILE``
is one Parquet file, or CSV when FILE ends in ``.csv``, of one symbol; it is written to a temporary
file beside FILE and renamed into place only when every day is complete, so a failed run never
leaves a half-written table. ``--out-dir DIR`` writes one Parquet partition per symbol-day,
``DIR/exchange=EX/symbol=SYM/date=YYYY-MM-DD/part-0.parquet``, each atomically.

Several symbols (``--symbol`` repeated or comma-separated) and date ranges (``--start``/``--end``
pairs) run in one call, one task per (symbol, day). ``--workers N`` runs them on a Dask
LocalCluster of N processes, ``--scheduler ADDRESS`` (or ``dask.scheduler``) on a running Dask
cluster; the default, 1, is the serial path without Dask. Results are the same bit for bit. A
failed day is named (symbol, date, error) and the other days still finish; the exit code is 1.
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from aurora.artifact import ArtifactError, Calibration, load_artifact
from aurora.cli.context import CliError, Context
from aurora.core.features import FeatureParams
from aurora.core.labels import LabelParams
from aurora.core.microprice import MicropriceModel
from aurora.events import EventLog
from aurora.pipeline.plan import feature_params_from_settings
from aurora.ticks.fanout import (
    DayTask,
    FanoutError,
    Outcome,
    Progress,
    dask_client,
    partition_path,
    plan_days,
    run_days,
    workers_peak_rss_mb,
    write_partition,
)
from aurora.ticks.feature_table import FeatureTableError, UnsyncedBook
from aurora.ticks.location import LocationError, rooted
from aurora.ticks.schema import EXCHANGES, instrument_problem
from aurora.ticks.store import StoreError, TickStore

DESCRIPTION = """\
Write the feature table (one row per best-bid/offer update) of stored days: to one Parquet or CSV
file of one symbol (--out), or one Parquet partition per symbol-day (--out-dir). Several symbols
(repeat --symbol or comma-separate) and date ranges (--start/--end pairs) run in one call.
Features are computed with the feature parameters of a calibration artifact (the current one by
default), the ones its model was fitted on; an artifact covers its own symbols only. Without any
artifact, with the configured features.*. The command says which it used, and warns per symbol
where the depth book was not in sync (book_ok False). --workers N or --scheduler ADDRESS fan the
days out on Dask with the same results; progress goes to stderr, and a failed day is named while
the others finish (exit code 1).

Examples:
  auroractl features --symbol BTCUSDT --start 2024-08-08 --end 2024-08-09 --out f.parquet --labels
  auroractl features --symbol BTCUSDT,ETHUSDT --start 2024-08-01 --end 2024-08-31 \\
      --out-dir data/features --workers 2
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("features", help="compute the feature table from the tick store",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--store", help="tick store root (default: storage.ticks_dir)")
    p.add_argument("--exchange", default="binance", help=f"one of {', '.join(EXCHANGES)}")
    p.add_argument("--symbol", required=True, action="append",
                   help="e.g. BTCUSDT; repeat or comma-separate for several")
    p.add_argument("--start", required=True, action="append",
                   help="first UTC date, YYYY-MM-DD; repeat with --end for several ranges")
    p.add_argument("--end", required=True, action="append",
                   help="last UTC date, YYYY-MM-DD (inclusive); pairs with the --start in its place")
    out = p.add_mutually_exclusive_group(required=True)
    out.add_argument("--out", type=Path, help="output file (.parquet or .csv) of one symbol")
    out.add_argument("--out-dir", metavar="DIR",
                     help="Parquet partitions DIR/exchange=EX/symbol=SYM/date=YYYY-MM-DD/part-0.parquet"
                     " (a local path or a URI: s3://bucket/prefix, gs://…)")
    p.add_argument("--workers", type=int, default=1,
                   help="Dask LocalCluster worker processes (default 1: serial, Dask not started)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run on the Dask scheduler at ADDRESS, e.g. tcp://10.0.0.5:8786 "
                        "(default: dask.scheduler, AURORA_DASK__SCHEDULER)")
    p.add_argument("--labels", action="store_true",
                   help="add triple-barrier label columns (the artifact's barriers, else labels.*)")
    p.add_argument("--artifact", type=Path, metavar="FILE",
                   help="calibration artifact whose feature parameters to use (default: api.artifact_path "
                        "when it exists, else the configured features.*)")
    p.add_argument("--microprice", type=Path, metavar="ARTIFACT",
                   help="calibration artifact (JSON) whose 'microprice' G fills the microprice column")
    p.add_argument("--no-depth", action="store_true", help="skip the book replay (obi_w is NaN)")
    p.set_defaults(handler=_handle)


def _date(text: str, flag: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CliError(f"{flag} {text!r} is not a date (use YYYY-MM-DD)") from None


def _load(path: Path, flag: str) -> Calibration:
    try:
        return load_artifact(path)
    except ArtifactError as exc:
        raise CliError(f"{flag} {path}: {exc}") from None


def _microprice(path: Path | None) -> MicropriceModel | None:
    if path is None:
        return None
    doc = _load(path, "--microprice").body.microprice
    if not doc:
        raise CliError(f"--microprice {path}: no 'microprice' object in the artifact")
    try:
        return MicropriceModel.from_dict(doc)
    except ValueError as exc:
        raise CliError(f"--microprice {path}: {exc}") from None


def _parameters(ctx: Context, symbols: list[str]
                ) -> tuple[dict[str, FeatureParams], LabelParams | None, str]:
    """Feature parameters per symbol (and label parameters): the artifact's, or the configured ones
    without an artifact; and a line saying which. A symbol the artifact does not cover is refused."""
    settings, args = ctx.settings, ctx.args
    path = args.artifact
    if path is None and settings.path(settings.api.artifact_path).is_file():
        path = settings.path(settings.api.artifact_path)
    if path is None:
        params = {s: feature_params_from_settings(settings, s) for s in symbols}
        labels = LabelParams.from_settings(settings.labels) if args.labels else None
        return params, labels, f"configured features.* (no artifact at {settings.api.artifact_path})"
    cal = _load(path, "--artifact")
    for symbol in symbols:
        if symbol not in cal.body.symbols:
            raise CliError(f"--artifact {path} was calibrated for {', '.join(cal.body.symbols)}, not "
                           f"{symbol}; pass the artifact of this symbol with --artifact")
    b = cal.body.barriers
    labels = LabelParams(tp_bps=b.tp_bps, sl_bps=b.sl_bps, horizon_s=b.horizon_s,
                         embargo_s=settings.labels.embargo_s) if args.labels else None
    return ({s: cal.feature_params for s in symbols}, labels,
            f"artifact {path} (model {cal.model_version})")


def _symbols(values: list[str], exchange: str) -> list[str]:
    symbols = list(dict.fromkeys(v.strip().upper() for text in values for v in text.split(",") if v.strip()))
    if not symbols:
        raise CliError(f"--symbol {values[0]!r}: give a symbol like BTCUSDT")
    for symbol in symbols:
        problem = instrument_problem(exchange, symbol)
        if problem:
            raise CliError(f"--symbol {symbol!r}: {problem}")
    return symbols


def _ranges(starts: list[str], ends: list[str]) -> list[tuple[date, date]]:
    if len(starts) != len(ends):
        raise CliError(f"{len(starts)} --start but {len(ends)} --end: give them in pairs")
    ranges = sorted((_date(a, "--start"), _date(b, "--end")) for a, b in zip(starts, ends, strict=True))
    for start, end in ranges:
        if start > end:
            raise CliError(f"--start {start} is after --end {end}")
    for (_, end), (start, _) in itertools.pairwise(ranges):
        if start <= end:
            raise CliError(f"date ranges overlap at {start}: give each day once")
    return ranges


def _write_file(tables: Iterator[pa.Table], out: Path, fmt: str, codec: str) -> None:
    """The day tables end to end into FILE, through a temporary file renamed into place."""
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    writer: pq.ParquetWriter | pacsv.CSVWriter | None = None
    try:
        for table in tables:
            if writer is None:
                writer = pq.ParquetWriter(tmp, table.schema, compression=codec) \
                    if fmt == "parquet" else pacsv.CSVWriter(tmp, table.schema)
            writer.write_table(table)
            del table  # one day in memory at a time
        if writer is not None:
            writer.close()
            writer = None
        os.replace(tmp, out)
    finally:
        if writer is not None:
            writer.close()
        tmp.unlink(missing_ok=True)


@dataclass
class DayWritten:
    """What a consumer returns of one day: its rows, its table (the serial ``--out FILE`` path
    only) and where its depth book changed sync (:func:`book_changes`)."""

    rows: int
    ts_ns: np.ndarray
    book_ok: np.ndarray
    table: pa.Table | None = None


def book_changes(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """``ts_ns`` and ``book_ok`` of the day's first and last rows and of every row whose
    ``book_ok`` differs from the row before: fed to :class:`UnsyncedBook` in day order they give
    the ranges the whole day gives (a copy: the frame's arrays are reused for the next day)."""
    ok = frame["book_ok"].to_numpy(bool)
    keep = np.zeros(ok.size, dtype=bool)
    if ok.size:
        keep[[0, -1]] = True
        keep[1:] |= ok[1:] != ok[:-1]
    return frame["ts_ns"].to_numpy(np.int64)[keep], ok[keep]


def frame_table(task: DayTask, frame: pd.DataFrame) -> DayWritten:
    """Consumer of the serial ``--out FILE`` path: the day's frame as a table."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    return DayWritten(len(frame), *book_changes(frame), table=table)


def write_day(task: DayTask, frame: pd.DataFrame, root: str, codec: str) -> DayWritten:
    """Consumer of the partition paths: the day's partition under ``root``, written on the worker."""
    return DayWritten(write_partition(task, frame, root, codec), *book_changes(frame))


class _Tally:
    """Rows and days written, the failed days, and each symbol's depth-book sync changes by day."""

    def __init__(self) -> None:
        self.rows = 0
        self.days: list[str] = []
        self.failed: list[Outcome] = []
        self.book: dict[str, dict[date, tuple[np.ndarray, np.ndarray]]] = {}

    def unsynced(self, symbol: str) -> UnsyncedBook:
        """Where ``symbol``'s depth book was not in sync over its days (fed in date order)."""
        book = UnsyncedBook()
        days = self.book.get(symbol, {})
        for day in sorted(days):
            book.add(*days[day])
        return book


def _track(outcomes: Iterator[Outcome], tally: _Tally, progress: Progress, events: EventLog
           ) -> Iterator[Outcome]:
    """Count, log (``features.day`` / ``features.day_failed``) and report progress of each day."""
    for o in outcomes:
        progress.update(o)
        where = {"symbol": o.task.stream.symbol, "exchange": o.task.stream.exchange,
                 "date": o.task.day.isoformat()}
        if o.error is None:
            done: DayWritten = o.result
            tally.rows += done.rows
            tally.days.append(f"{o.task.stream.symbol} {o.task.day}")
            tally.book.setdefault(o.task.stream.symbol, {})[o.task.day] = (done.ts_ns, done.book_ok)
            events.emit("features.day", rows=done.rows, **where)
            del done
        else:
            tally.failed.append(o)
            events.emit("features.day_failed", error=o.error, **where)
        yield o
        del o  # the day's table goes before the next day is computed


def _file_tables(outcomes: Iterator[Outcome], tally: _Tally) -> Iterator[pa.Table]:
    """The serial path's day tables for FILE; after a failed day nothing more is written and the
    file is not published."""
    for o in outcomes:
        table = o.result.table if not tally.failed else None
        del o
        if table is not None:
            yield table
        del table
    if tally.failed:
        raise _IncompleteError


class _IncompleteError(Exception):
    """A day failed: FILE is not published."""


def _handle(ctx: Context) -> int:
    args, settings = ctx.args, ctx.settings
    if args.exchange not in EXCHANGES:
        raise CliError(f"unknown exchange {args.exchange!r}; exchanges are {', '.join(EXCHANGES)}")
    symbols = _symbols(args.symbol, args.exchange)
    ranges = _ranges(args.start, args.end)
    if args.workers < 1:
        raise CliError(f"--workers {args.workers}: give at least 1 (1 = serial, no Dask)")
    scheduler = args.scheduler or settings.dask.scheduler
    out: Path | None = args.out
    fmt = "csv" if out is not None and out.suffix.lower() == ".csv" else "parquet"
    if out is not None and out.suffix.lower() not in (".csv", ".parquet", ".pq"):
        raise CliError(f"--out {out}: the extension says neither Parquet nor CSV; name the file "
                       f"{out.with_suffix('.parquet').name} or {out.with_suffix('.csv').name}")
    if out is not None and len(symbols) > 1:
        raise CliError(f"--out {out} holds one symbol; use --out-dir DIR for {', '.join(symbols)}")
    if out is not None and not out.parent.is_dir():
        raise CliError(f"--out {out}: directory {out.parent} does not exist")
    try:
        store = TickStore(rooted(args.store or settings.storage.ticks_dir, settings.path))
    except LocationError as exc:
        raise CliError(str(exc)) from None
    params, labels, source = _parameters(ctx, symbols)
    model = _microprice(args.microprice)
    for symbol in symbols:
        print(f"{symbol} feature parameters from {source}: {params[symbol]}", flush=True)
    events = ctx.events("features")
    codec = settings.storage.parquet_codec
    try:
        tasks = plan_days(store, args.exchange, symbols, ranges, params, labels, model,
                          not args.no_depth)
    except (FeatureTableError, StoreError, LocationError) as exc:
        raise CliError(str(exc)) from None
    progress = Progress(len(tasks), lambda line: print(line, file=sys.stderr, flush=True), "features")
    tally = _Tally()
    rss: dict[str, float] = {}
    parts = None if out is None else out.with_name(f".{out.name}.{os.getpid()}.parts")
    try:
        with dask_client(args.workers, scheduler, settings.dask.memory_limit) as client:
            if out is None:
                for _ in _track(run_days(tasks, write_day, str(args.out_dir), codec, client=client),
                                tally, progress, events):
                    pass
            elif client is None:  # the serial path: each day's table straight into FILE
                _write_file(_file_tables(_track(run_days(tasks, frame_table), tally, progress, events),
                                         tally), out, fmt, codec)
            else:  # the workers write partitions beside FILE; they are joined in date order
                for _ in _track(run_days(tasks, write_day, str(parts), codec, client=client),
                                tally, progress, events):
                    pass
                if not tally.failed:
                    _write_file((pq.read_table(partition_path(parts, t)) for t in tasks), out, fmt,
                                codec)
            rss = workers_peak_rss_mb(client)
    except _IncompleteError:
        pass
    except FanoutError as exc:
        raise CliError(str(exc)) from None
    finally:
        if parts is not None:
            shutil.rmtree(parts, ignore_errors=True)
    if rss and "local" not in rss:
        print(f"peak RSS per worker (MB): {rss}", file=sys.stderr)
    for o in tally.failed:
        print(f"auroractl features: failed {o.task}: {o.error}", file=sys.stderr)
    if tally.failed:
        kept = f"{out} not written" if out is not None else f"the other partitions are under {args.out_dir}"
        print(f"auroractl features: {len(tally.failed)} of {len(tasks)} day(s) failed; {kept}",
              file=sys.stderr)
        return 1
    target = out if out is not None else args.out_dir
    events.emit("features.written", symbols=symbols, exchange=args.exchange, out=str(target),
                rows=tally.rows, days=tally.days, labels=bool(labels), format=fmt,
                workers=args.workers, scheduler=scheduler, peak_rss_mb=rss, params_from=source)
    what = "day(s)" if out is not None else "partition(s)"
    print(f"wrote {tally.rows} rows ({len(tally.days)} {what}) of {', '.join(symbols)} features to "
          f"{target}")
    if not args.no_depth:
        for symbol in symbols:
            unsynced = tally.unsynced(symbol)
            if unsynced.ranges:
                _report_unsynced(unsynced, events, symbol, args.exchange)
    return 0


def _report_unsynced(unsynced: UnsyncedBook, events: EventLog, symbol: str, exchange: str) -> None:
    """Say where the depth book was not in sync (obi_w NaN, book_ok False): stderr and an event."""
    first, last = unsynced.ranges[0][0], unsynced.ranges[-1][1]
    events.emit("features.book_unsynced", symbol=symbol, exchange=exchange,
                ranges=len(unsynced.ranges), first_ts_ns=first, last_ts_ns=last,
                total_s=round(unsynced.total_s, 3))
    print(f"warning: the {symbol} depth book was not in sync in {len(unsynced.ranges)} time "
          f"range(s) between {_iso(first)} and {_iso(last)}, {unsynced.total_s:.1f} s in all: "
          "obi_w is NaN there (book_ok False); a recording needs a REST depth snapshot after "
          "each gap", file=sys.stderr)


def _iso(ts_ns: int) -> str:
    return datetime.fromtimestamp(ts_ns / 1e9, UTC).isoformat(timespec="milliseconds")
