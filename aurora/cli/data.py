"""``auroractl data``: import market data into the tick store, or synthesise a market.

``data import [--store DIR] [--exchange EX] --symbol S [--format ws|vision] [--ts-unit U] FILE…`` —
websocket recordings (``<recv_ts> <json>`` lines, gzip or plain; the receive clock in ns, µs or ms,
detected per file unless ``--ts-unit`` says), tardis.dev CSV exports (trades, quotes,
incremental_book_L2, book_snapshot_N; .csv or .csv.gz) or data.binance.vision dumps (CSV/zip,
local or http(s) URL, CHECKSUM verified). The format is detected per file from its name and
content unless ``--format`` is given. Prints one summary line per file.

``data synth [--store DIR] --symbol S --hours H --seed N [--start DATE] [--like EX/SYM/DATE]`` — the
deterministic synthetic market (see :mod:`aurora.ticks.synth`), written one UTC day at a time;
``--like`` first fits its parameters to stored real days (:mod:`aurora.ticks.synth_fit`).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from datetime import UTC, date, datetime
from typing import Any

from aurora.cli.context import CliError, Context
from aurora.ticks.binance_ws import FileImport, RecordingError, import_recordings
from aurora.ticks.clock import TS_UNITS
from aurora.ticks.formats import FormatError, detect_format
from aurora.ticks.location import LocationError, rooted
from aurora.ticks.schema import EXCHANGES, instrument_problem
from aurora.ticks.store import StoreError, TickStore
from aurora.ticks.synth import SynthParams, synthesize_to_store
from aurora.ticks.synth_fit import LikeSource, SynthFitError, fit_from_store, save_fit
from aurora.ticks.tardis import TardisError, import_tardis
from aurora.ticks.vision import KINDS, VisionError, import_vision

DESCRIPTION = """\
Fill the tick store (data/ticks, Parquet): import real market data, or write a synthetic market.

Examples:
  auroractl data import --symbol BTCUSDT ../shared/data/binance-ws/spot/btcusdt_20240808.gz
  auroractl data synth --symbol BTCUSDT --hours 72 --seed 7
"""
IMPORT_DESCRIPTION = """\
Import market data into the tick store, idempotently (a file imported twice is stored once):
Binance websocket recordings ("<recv_ts> <json>" lines, gzip or plain; the receive clock in ns,
us or ms is detected per file unless --ts-unit says), tardis.dev CSV exports (trades, quotes,
incremental_book_L2, book_snapshot_N; .csv or .csv.gz) and data.binance.vision dumps (CSV/zip,
local or http(s), CHECKSUM verified). The format is detected from each file's name and content.
A file that yields nothing, names another symbol or another market is refused with the reason.

Examples:
  auroractl data import --symbol BTCUSDT ../shared/data/binance-ws/spot/btcusdt_2024080{8,9}.gz
  auroractl data import --exchange binance-usdm --symbol BTCUSDT usdm/btcusdt_20240808.gz
  auroractl data import --exchange binance-coinm --symbol BTCUSD_PERP cm/btcusd_perp_20240808.gz
"""
SYNTH_DESCRIPTION = """\
Write a deterministic synthetic market (trades, best bid/offer, depth) with a known injected
signal, one UTC day at a time; the same seed gives the same data. Its defaults move like the real
BTCUSDT (or ETHUSDT) spot market; --like fits the parameters to stored real days first, prints
the fit against the real statistics and saves it under synth.fits_dir.

Examples:
  auroractl data synth --symbol BTCUSDT --hours 72 --seed 7
  auroractl data synth --store data/synth-ticks --symbol BTCUSDT --hours 24 --seed 1 \\
      --like binance/BTCUSDT/2024-08-08..2024-08-09
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="import market data into the tick store, or synthesise a market",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    dsub = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    imp = dsub.add_parser("import", help="import ws recordings, tardis.dev CSV or data.binance.vision dumps",
                          description=IMPORT_DESCRIPTION,
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(imp)
    imp.add_argument("--format", choices=("ws", "vision", "tardis"),
                     help="input format (default: detect per file from its name and first line)")
    imp.add_argument("--kind", choices=KINDS, help="vision dump kind (default: from the file name)")
    imp.add_argument("--on-bad-input", choices=("skip", "error"),
                     help="skip (count + log) or stop at a bad line (default: storage.on_bad_input)")
    imp.add_argument("--no-verify", action="store_true", help="do not verify vision CHECKSUM files")
    imp.add_argument("--ts-unit", choices=TS_UNITS, default="auto",
                     help="unit of a websocket recording's receive timestamps (default: auto, detected "
                     "per file from the messages' exchange times and the epoch range)")
    imp.add_argument("files", nargs="+", metavar="FILE", help="input files or http(s) URLs (vision)")
    imp.set_defaults(handler=_import)

    syn = dsub.add_parser("synth", help="write a deterministic synthetic market to the store",
                          description=SYNTH_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(syn)
    syn.add_argument("--hours", type=float, required=True, help="length of the market, hours (> 0)")
    syn.add_argument("--seed", type=int, required=True, help="random seed (same seed ⇒ same data)")
    syn.add_argument("--start", help="UTC start, YYYY-MM-DD or ISO datetime (default: synth.start)")
    syn.add_argument("--like", metavar="EXCHANGE/SYMBOL/DATE[..DATE]",
                     help="fit the market's parameters to these stored real days (in storage.ticks_dir) "
                          "first; the fit is printed and saved under synth.fits_dir")
    syn.set_defaults(handler=_synth)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", help="tick store root; relative paths are under AURORA_HOME "
                   "(default: storage.ticks_dir)")
    p.add_argument("--exchange", default="binance", help=f"one of {', '.join(EXCHANGES)} (default: binance)")
    p.add_argument("--symbol", required=True, help="instrument, e.g. BTCUSDT")


def _store(ctx: Context) -> TickStore:
    root = rooted(ctx.args.store or ctx.settings.storage.ticks_dir, ctx.settings.path)
    try:
        return TickStore(root, codec=ctx.settings.storage.parquet_codec)
    except LocationError as exc:
        raise CliError(str(exc)) from None


def _symbol_exchange(ctx: Context) -> tuple[str, str]:
    symbol = ctx.args.symbol.upper()
    if ctx.args.exchange not in EXCHANGES:
        raise CliError(f"--exchange {ctx.args.exchange!r} is unknown; use one of {', '.join(EXCHANGES)}")
    problem = instrument_problem(ctx.args.exchange, symbol)
    if problem:
        raise CliError(f"--symbol {ctx.args.symbol!r}: {problem}")
    return symbol, ctx.args.exchange


def _summary(fi: FileImport, fmt: str) -> str:
    rows = " ".join(f"{t}={n}" for t, n in fi.rows.items())
    written = " ".join(f"{t}={n}" for t, n in fi.written.items())
    extra = ", truncated" if fi.truncated else ""
    extra += f", clock in {fi.ts_unit}" if fi.ts_unit != "ns" else ""
    if fi.non_market:
        extra += (f", {sum(fi.non_market.values())} non-market trades not stored ("
                  + " ".join(f"{k}={n}" for k, n in sorted(fi.non_market.items())) + ")")
    return (f"{fi.source}: {fmt}, {fi.messages} messages, rows {rows}, written {written or 'none'}, "
            f"{fi.skipped} skipped, {fi.gaps} gaps{extra}")


def _import(ctx: Context) -> int:
    symbol, exchange = _symbol_exchange(ctx)
    store = _store(ctx)
    events = ctx.events("data")
    mode = ctx.args.on_bad_input or ctx.settings.storage.on_bad_input
    try:
        formats = [ctx.args.format or detect_format(f) for f in ctx.args.files]
    except FormatError as exc:
        raise CliError(str(exc)) from None
    if ctx.args.ts_unit != "auto" and any(f != "ws" for f in formats):
        raise CliError("--ts-unit applies to websocket recordings only (tardis.dev times are µs, vision "
                       "dumps' unit is detected); import those files without it")
    events.emit("data.import.start", files=ctx.args.files, symbol=symbol, exchange=exchange,
                store=str(store.root), on_bad_input=mode)
    seq = store.next_seq(exchange, symbol)
    totals: dict[str, int] = {}
    for src, fmt in zip(ctx.args.files, formats, strict=True):
        try:
            if fmt == "ws":
                rep = import_recordings([src], store, exchange, symbol, mode, events, seq_start=seq,
                                        max_skip_events=ctx.settings.storage.max_skip_events,
                                        ts_unit=ctx.args.ts_unit)
            elif fmt == "tardis":
                rep = import_tardis([src], store, exchange, symbol, events=events, seq_start=seq)
            else:
                rep = import_vision([src], store, exchange, symbol, kind=ctx.args.kind,
                                    verify_checksum=not ctx.args.no_verify, events=events, seq_start=seq,
                                    timeout_s=ctx.settings.http.timeout_s * 10)
        except (RecordingError, VisionError, TardisError, StoreError, ValueError) as exc:
            events.emit("data.import.failed", source=src, error=str(exc))
            raise CliError(str(exc)) from None
        fi = rep.files[0]
        seq = fi.seq_end
        for table, n in fi.written.items():
            totals[table] = totals.get(table, 0) + n
        print(_summary(fi, fmt), flush=True)
        if fi.book_warning:
            print(f"warning: {fi.source}: {fi.book_warning}", file=sys.stderr, flush=True)
    events.emit("data.import.done", files=len(ctx.args.files), written=totals, symbol=symbol,
                exchange=exchange)
    return 0


def _parse_start(text: str | None, default: datetime) -> datetime:
    if text is None:
        return default
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            return datetime(d.year, d.month, d.day, tzinfo=UTC)
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CliError(f"--start {text!r} is not a date (YYYY-MM-DD) or an ISO datetime") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _params(symbol: str, overrides: dict[str, float]) -> SynthParams:
    fields = {f.name: f for f in dataclasses.fields(SynthParams)}
    typed: dict[str, Any] = {}
    for key, value in overrides.items():
        if key not in fields:
            raise CliError(f"synth.params.{key} is not a SynthParams field; fields are {', '.join(fields)}")
        typed[key] = int(value) if fields[key].type in ("int", int) else float(value)
    return SynthParams.for_symbol(symbol, **typed)


def _fit_like(ctx: Context, base: SynthParams, target: TickStore,
              written_as: tuple[str, str]) -> SynthParams:
    """``--like``: fit ``base`` to stored real days, print and save the fit; explicit overrides still win."""
    try:
        source = LikeSource.parse(ctx.args.like)
    except SynthFitError as exc:
        raise CliError(str(exc)) from None
    real_store = TickStore(rooted(ctx.settings.storage.ticks_dir, ctx.settings.path),
                           ctx.settings.storage.parquet_codec)
    if (source.exchange, source.symbol) == written_as and real_store.location.same(target.location):
        raise CliError(f"--like {ctx.args.like} would write synthetic data beside the real {source.symbol} "
                       "days in the same store; give --store DIR for the synthetic market, "
                       "or another --symbol")
    filters = ctx.settings.symbols.get(source.symbol)
    if filters is not None:
        base = dataclasses.replace(base, tick_size=filters.tick_size)
    print(f"fitting the synthetic market to {source} (a few seconds of simulation) ...", flush=True)
    try:
        fit = fit_from_store(real_store, source, base)
    except SynthFitError as exc:
        raise CliError(str(exc)) from None
    path = save_fit(fit, ctx.settings.path(ctx.settings.synth.fits_dir))
    print(fit.describe())
    print(f"fitted parameters saved to {path}")
    ctx.events("data").emit("data.synth.fit", path=str(path), **fit.summary())
    return dataclasses.replace(fit.params, **{k: getattr(base, k) for k in ctx.settings.synth.params})


def _synth(ctx: Context) -> int:
    symbol, exchange = _symbol_exchange(ctx)
    hours = ctx.args.hours
    if not 0 < hours <= 24 * 366:
        raise CliError(f"--hours must be > 0 and at most a year, got {hours}")
    start = _parse_start(ctx.args.start, ctx.settings.synth.start)
    params = _params(symbol, dict(ctx.settings.synth.params))
    store = _store(ctx)
    events = ctx.events("data")
    if ctx.args.like:
        params = _fit_like(ctx, params, store, (exchange, symbol))
    events.emit("data.synth.start", symbol=symbol, exchange=exchange, hours=hours, seed=ctx.args.seed,
                start=start.isoformat(), store=str(store.root), params=dataclasses.asdict(params))

    def on_day(day: date, rows: dict[str, int]) -> None:
        events.emit("data.synth.day", date=day.isoformat(), rows=rows, symbol=symbol)
        print(f"{symbol} {day}: " + " ".join(f"{t}={n}" for t, n in rows.items()), flush=True)

    rep = synthesize_to_store(store, exchange, symbol, hours, ctx.args.seed, start=start, params=params,
                              on_day=on_day)
    events.emit("data.synth.done", symbol=symbol, exchange=exchange, days=rep.days, rows=rep.rows,
                written=rep.written, seed=ctx.args.seed)
    return 0
