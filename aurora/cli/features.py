"""``auroractl features``: write the feature table (one row per bbo event) of a symbol and dates.

The features are computed with the feature parameters of a calibration artifact (--artifact,
default: the current artifact when there is one), the ones its model was fitted on, so research
and live compute the same numbers; with no artifact at all, with the configured features.* and
the symbol's tick. The command says which it used. --labels takes the artifact's barriers too.

Days are computed and written one at a time (memory stays bounded for long ranges). The output
is Parquet, or CSV when FILE ends in ``.csv``; it is written to a temporary file beside FILE and
renamed into place only when complete, so a failed run never leaves a half-written table.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from aurora.artifact import ArtifactError, Calibration, load_artifact
from aurora.cli.context import CliError, Context
from aurora.core.features import FeatureParams
from aurora.core.labels import LabelParams
from aurora.core.microprice import MicropriceModel
from aurora.pipeline.plan import feature_params_from_settings
from aurora.ticks.feature_table import FeatureTableError, UnsyncedBook, iter_feature_days
from aurora.ticks.schema import EXCHANGES, instrument_problem
from aurora.ticks.store import StoreError, TickStore

DESCRIPTION = """\
Write the feature table (one row per best-bid/offer update) of stored days: to one Parquet or CSV
file, or one Parquet partition per symbol-day. Features are computed with the feature parameters
of a calibration artifact (the current one by default), the ones its model was fitted on; without
any artifact, with the configured features.*. The command says which it used, and warns where the
depth book was not in sync (book_ok False). --workers N or --scheduler ADDRESS fan the days out on
Dask with the same results.

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
    p.add_argument("--symbol", required=True, help="e.g. BTCUSDT")
    p.add_argument("--start", required=True, help="first UTC date, YYYY-MM-DD")
    p.add_argument("--end", required=True, help="last UTC date, YYYY-MM-DD (inclusive)")
    p.add_argument("--out", required=True, type=Path, help="output file (.parquet or .csv)")
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


def _parameters(ctx: Context, symbol: str) -> tuple[FeatureParams, LabelParams | None, str]:
    """Feature (and label) parameters: the artifact's, or the configured ones without an artifact;
    and a line saying which."""
    settings, args = ctx.settings, ctx.args
    path = args.artifact
    if path is None and settings.path(settings.api.artifact_path).is_file():
        path = settings.path(settings.api.artifact_path)
    if path is None:
        params = feature_params_from_settings(settings, symbol)
        labels = LabelParams.from_settings(settings.labels) if args.labels else None
        return params, labels, f"configured features.* (no artifact at {settings.api.artifact_path})"
    cal = _load(path, "--artifact")
    if symbol not in cal.body.symbols:
        raise CliError(f"--artifact {path} was calibrated for {', '.join(cal.body.symbols)}, not {symbol}; "
                       "pass the artifact of this symbol with --artifact")
    b = cal.body.barriers
    labels = LabelParams(tp_bps=b.tp_bps, sl_bps=b.sl_bps, horizon_s=b.horizon_s,
                         embargo_s=settings.labels.embargo_s) if args.labels else None
    return cal.feature_params, labels, f"artifact {path} (model {cal.model_version})"


def _handle(ctx: Context) -> int:
    args, settings = ctx.args, ctx.settings
    symbol = args.symbol.upper()
    if args.exchange not in EXCHANGES:
        raise CliError(f"unknown exchange {args.exchange!r}; exchanges are {', '.join(EXCHANGES)}")
    problem = instrument_problem(args.exchange, symbol)
    if problem:
        raise CliError(f"--symbol {args.symbol!r}: {problem}")
    start, end = _date(args.start, "--start"), _date(args.end, "--end")
    if start > end:
        raise CliError(f"--start {start} is after --end {end}")
    out: Path = args.out
    fmt = "csv" if out.suffix.lower() == ".csv" else "parquet"
    if not out.parent.is_dir():
        raise CliError(f"--out {out}: directory {out.parent} does not exist")
    store = TickStore(settings.path(args.store or settings.storage.ticks_dir))
    params, labels, source = _parameters(ctx, symbol)
    model = _microprice(args.microprice)
    print(f"feature parameters from {source}: {params}", flush=True)
    events = ctx.events("features")
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    rows = 0
    days: list[str] = []
    writer: pq.ParquetWriter | pacsv.CSVWriter | None = None
    unsynced = UnsyncedBook()
    try:
        for day, frame in iter_feature_days(store, args.exchange, symbol, start, end, params, labels,
                                            model, not args.no_depth):
            table = pa.Table.from_pandas(frame, preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(tmp, table.schema, compression=settings.storage.parquet_codec) \
                    if fmt == "parquet" else pacsv.CSVWriter(tmp, table.schema)
            writer.write_table(table)
            rows += len(frame)
            unsynced.add(frame["ts_ns"].to_numpy(), frame["book_ok"].to_numpy())
            days.append(day.isoformat())
            events.emit("features.day", symbol=symbol, exchange=args.exchange, date=day.isoformat(),
                        rows=len(frame))
            del frame, table  # one day in memory at a time
        if writer is not None:
            writer.close()
            writer = None
        os.replace(tmp, out)
    except (FeatureTableError, StoreError) as exc:
        raise CliError(str(exc)) from None
    finally:
        if writer is not None:
            writer.close()
        tmp.unlink(missing_ok=True)
    events.emit("features.written", symbol=symbol, exchange=args.exchange, out=str(out), rows=rows,
                days=days, labels=bool(labels), format=fmt, params_from=source)
    print(f"wrote {rows} rows ({len(days)} day(s)) of {symbol} features to {out}")
    if unsynced.ranges and not args.no_depth:
        _report_unsynced(unsynced, events, symbol, args.exchange)
    return 0


def _report_unsynced(unsynced: UnsyncedBook, events: Any, symbol: str, exchange: str) -> None:
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
