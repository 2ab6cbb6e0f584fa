"""``auroractl features``: write the feature table (one row per bbo event) of a symbol and dates.

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
import json
import os
import re
import shutil
import sys
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from aurora.cli.context import CliError, Context
from aurora.core.features import FeatureParams
from aurora.core.labels import LabelParams
from aurora.core.microprice import MicropriceModel
from aurora.events import EventLog
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
from aurora.ticks.feature_table import FeatureTableError
from aurora.ticks.schema import EXCHANGES
from aurora.ticks.store import StoreError, TickStore

_SYMBOL = re.compile(r"^[A-Z0-9]{2,30}$")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("features", help="compute the feature table from the tick store",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
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
    out.add_argument("--out-dir", type=Path, metavar="DIR",
                     help="Parquet partitions DIR/exchange=EX/symbol=SYM/date=YYYY-MM-DD/part-0.parquet")
    p.add_argument("--workers", type=int, default=1,
                   help="Dask LocalCluster worker processes (default 1: serial, Dask not started)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run on the Dask scheduler at ADDRESS, e.g. tcp://10.0.0.5:8786 "
                        "(default: dask.scheduler, AURORA_DASK__SCHEDULER)")
    p.add_argument("--labels", action="store_true",
                   help="add triple-barrier label columns (settings.labels)")
    p.add_argument("--microprice", type=Path, metavar="ARTIFACT",
                   help="calibration artifact (JSON) whose 'microprice' G fills the microprice column")
    p.add_argument("--no-depth", action="store_true", help="skip the book replay (obi_w is NaN)")
    p.set_defaults(handler=_handle)


def _date(text: str, flag: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CliError(f"{flag} {text!r} is not a date (use YYYY-MM-DD)") from None


def _microprice(path: Path | None) -> MicropriceModel | None:
    if path is None:
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CliError(f"--microprice {path}: cannot read JSON: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("microprice"), dict) or not doc["microprice"]:
        raise CliError(f"--microprice {path}: no 'microprice' object in the artifact")
    try:
        return MicropriceModel.from_dict(doc["microprice"])
    except ValueError as exc:
        raise CliError(f"--microprice {path}: {exc}") from None


def _symbols(values: list[str]) -> list[str]:
    symbols = list(dict.fromkeys(v.strip().upper() for text in values for v in text.split(",") if v.strip()))
    bad = [v for v in symbols if not _SYMBOL.match(v)]
    if bad or not symbols:
        raise CliError(f"bad symbol {(bad or values)[0]!r}: use letters/digits like BTCUSDT")
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


def frame_table(task: DayTask, frame: pd.DataFrame) -> pa.Table:
    """Consumer of the serial ``--out FILE`` path: the day's frame as a table."""
    return pa.Table.from_pandas(frame, preserve_index=False)


class _Tally:
    """Rows and days written, and the failed days, of one run."""

    def __init__(self) -> None:
        self.rows = 0
        self.days: list[str] = []
        self.failed: list[Outcome] = []


def _track(outcomes: Iterator[Outcome], tally: _Tally, progress: Progress, events: EventLog,
           rows_of: Callable[[Any], int]) -> Iterator[Outcome]:
    """Count, log (``features.day`` / ``features.day_failed``) and report progress of each day."""
    for o in outcomes:
        progress.update(o)
        where = {"symbol": o.task.stream.symbol, "exchange": o.task.stream.exchange,
                 "date": o.task.day.isoformat()}
        if o.error is None:
            n = rows_of(o.result)
            tally.rows += n
            tally.days.append(f"{o.task.stream.symbol} {o.task.day}")
            events.emit("features.day", rows=n, **where)
        else:
            tally.failed.append(o)
            events.emit("features.day_failed", error=o.error, **where)
        yield o
        del o  # the day's table goes before the next day is computed


def _file_tables(outcomes: Iterator[Outcome], tally: _Tally) -> Iterator[pa.Table]:
    """The serial path's day tables for FILE; after a failed day nothing more is written and the
    file is not published."""
    for o in outcomes:
        table = o.result if not tally.failed else None
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
    symbols = _symbols(args.symbol)
    if args.exchange not in EXCHANGES:
        raise CliError(f"unknown exchange {args.exchange!r}; exchanges are {', '.join(EXCHANGES)}")
    ranges = _ranges(args.start, args.end)
    if args.workers < 1:
        raise CliError(f"--workers {args.workers}: give at least 1 (1 = serial, no Dask)")
    scheduler = args.scheduler or settings.dask.scheduler
    out: Path | None = args.out
    fmt = "csv" if out is not None and out.suffix.lower() == ".csv" else "parquet"
    if out is not None and len(symbols) > 1:
        raise CliError(f"--out {out} holds one symbol; use --out-dir DIR for {', '.join(symbols)}")
    if out is not None and not out.parent.is_dir():
        raise CliError(f"--out {out}: directory {out.parent} does not exist")
    store = TickStore(settings.path(args.store or settings.storage.ticks_dir))
    params = {}
    for symbol in symbols:
        filt = settings.symbols.get(symbol)
        params[symbol] = FeatureParams.from_settings(settings.features,
                                                     tick_size=filt.tick_size if filt else None)
    labels = LabelParams.from_settings(settings.labels) if args.labels else None
    model = _microprice(args.microprice)
    events = ctx.events("features")
    codec = settings.storage.parquet_codec
    try:
        tasks = plan_days(store, args.exchange, symbols, ranges, params, labels, model,
                          not args.no_depth)
    except (FeatureTableError, StoreError) as exc:
        raise CliError(str(exc)) from None
    progress = Progress(len(tasks), lambda line: print(line, file=sys.stderr, flush=True), "features")
    tally = _Tally()
    rss: dict[str, float] = {}
    parts = None if out is None else out.with_name(f".{out.name}.{os.getpid()}.parts")
    try:
        with dask_client(args.workers, scheduler, settings.dask.memory_limit) as client:
            if out is None:
                for _ in _track(run_days(tasks, write_partition, str(args.out_dir), codec, client=client),
                                tally, progress, events, int):
                    pass
            elif client is None:  # today's serial path: each day's table straight into FILE
                _write_file(_file_tables(_track(run_days(tasks, frame_table), tally, progress, events,
                                                lambda t: t.num_rows), tally), out, fmt, codec)
            else:  # the workers write partitions beside FILE; they are joined in date order
                for _ in _track(run_days(tasks, write_partition, str(parts), codec, client=client),
                                tally, progress, events, int):
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
                workers=args.workers, scheduler=scheduler, peak_rss_mb=rss)
    what = "day(s)" if out is not None else "partition(s)"
    print(f"wrote {tally.rows} rows ({len(tally.days)} {what}) of {', '.join(symbols)} features to "
          f"{target}")
    return 0
