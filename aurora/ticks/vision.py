"""data.binance.vision dumps (aggTrades, trades, bookTicker; CSV or zip) → the tick store.

Formats (spot dumps have no header row, futures dumps usually have one; both are accepted):

* ``trades``: ``id, price, qty, quote_qty, time, is_buyer_maker[, is_best_match]``
* ``aggTrades``: ``agg_trade_id, price, quantity, first_trade_id, last_trade_id, transact_time,
  is_buyer_maker[, is_best_match]`` — stored in ``trades`` with ``trade_id`` = the aggregate id
* ``bookTicker`` (futures): ``update_id, best_bid_price, best_bid_qty, best_ask_price,
  best_ask_qty, transaction_time, event_time``

``is_best_match`` is in spot dumps only, and only futures publish bookTicker: a dump whose shape
is the other market's than ``exchange`` is refused before anything is written.

Clocks: a dump has no receive time, so ``ts_ns`` is the exchange time — the trade time for
trades, the event time for bookTicker (``exch_ns`` = transaction time) — and ``seq`` is the row
order (continuing across the files of one call). Times are milliseconds in older dumps and
microseconds in spot dumps from 2025 on; the unit is detected per file from the magnitude.
``is_buyer_maker = true`` ⇒ the taker sold ⇒ ``side = -1``.

Integrity: when ``<file>.CHECKSUM`` exists beside a local file or at ``<url>.CHECKSUM``
(``<sha256>  <name>``), the file's SHA-256 must match or the file is refused
(:class:`VisionError`) before anything is written. Files are read in batches and written one UTC
day at a time, so a month-long dump never has to fit in memory; writes are idempotent. A malformed
CSV row stops the import with :class:`VisionError`; the UTC days completed before it stay stored
(whole, de-duplicated partitions) and re-running the import after fixing the file completes it.
"""

from __future__ import annotations

import hashlib
import io
import re
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import IO, Literal

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from aurora.events import EventLog
from aurora.ticks.binance_ws import FileImport, ImportReport
from aurora.ticks.formats import VISION_KIND_RE, is_parquet, parquet_error
from aurora.ticks.schema import BBO, FUTURES_EXCHANGES, TRADES, instrument_problem
from aurora.ticks.store import NS_PER_DAY, TickStore

Kind = Literal["aggTrades", "trades", "bookTicker"]
KINDS: tuple[Kind, ...] = ("aggTrades", "trades", "bookTicker")
_SHA_RE = re.compile(r"^([0-9a-fA-F]{64})\s+\*?(\S.*)$")
# accepted column counts per kind: spot and futures variants
_NCOLS: dict[str, tuple[int, ...]] = {"trades": (6, 7), "aggTrades": (7, 8), "bookTicker": (7,)}
# the futures variant: futures dumps have no is_best_match column, and only futures publish bookTicker
_FUTURES_NCOLS: dict[str, int] = {"trades": 6, "aggTrades": 7, "bookTicker": 7}
_INT_COLS: dict[str, tuple[int, ...]] = {"trades": (0, 4), "aggTrades": (0, 3, 4, 5), "bookTicker": (0, 5, 6)}
_BOOL_COLS: dict[str, tuple[int, ...]] = {"trades": (5, 6), "aggTrades": (6, 7), "bookTicker": ()}


class VisionError(ValueError):
    """A dump could not be imported (checksum mismatch, unknown kind, bad CSV); names file and why."""


@dataclass
class _Source:
    name: str          # file name (for kind detection and the CHECKSUM line)
    label: str         # what to show the user (path or URL)
    path: Path         # local file to read
    checksum: str | None  # "verified" | "absent"


def detect_kind(name: str) -> Kind | None:
    m = VISION_KIND_RE.search(name)
    if not m:
        return None
    return next(k for k in KINDS if k.lower() == m.group(1).lower())


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _check(label: str, name: str, path: Path, checksum_text: str | None) -> str:
    if checksum_text is None:
        return "absent"
    m = _SHA_RE.match(checksum_text.strip().splitlines()[0] if checksum_text.strip() else "")
    if not m:
        raise VisionError(f"{label}: CHECKSUM file is malformed (expected '<sha256>  <name>')")
    expected, listed = m.group(1).lower(), Path(m.group(2).strip()).name
    if listed != name:
        raise VisionError(f"{label}: CHECKSUM names {listed!r}, not {name!r}")
    got = _sha256(path)
    if got != expected:
        raise VisionError(f"{label}: checksum mismatch: CHECKSUM says {expected}, file has {got}; refused")
    return "verified"


def _fetch(url: str, dest: Path, client: httpx.Client) -> None:
    try:
        with client.stream("GET", url) as resp:
            if resp.status_code != 200:
                raise VisionError(f"{url}: HTTP {resp.status_code}")
            with open(dest, "wb") as fh:
                for chunk in resp.iter_bytes(1 << 20):
                    fh.write(chunk)
    except httpx.HTTPError as exc:
        raise VisionError(f"{url}: download failed: {type(exc).__name__}: {exc}") from exc


def _fetch_checksum(url: str, client: httpx.Client) -> str | None:
    try:
        resp = client.get(url + ".CHECKSUM")
    except httpx.HTTPError as exc:
        raise VisionError(f"{url}.CHECKSUM: download failed: {type(exc).__name__}: {exc}") from exc
    if resp.status_code == 404:
        return None
    if resp.status_code != 200:
        raise VisionError(f"{url}.CHECKSUM: HTTP {resp.status_code}")
    return resp.text


def _resolve(src: str, verify: bool, tmp: Path, client_factory) -> _Source:
    if src.startswith(("http://", "https://")):
        name = Path(httpx.URL(src).path).name
        dest = tmp / name
        client = client_factory()
        _fetch(src, dest, client)
        text = _fetch_checksum(src, client) if verify else None
        return _Source(name, src, dest, _check(src, name, dest, text) if verify else "not checked")
    path = Path(src)
    if not path.is_file():
        raise VisionError(f"{src}: no such file")
    cs = path.with_name(path.name + ".CHECKSUM")
    text = cs.read_text() if verify and cs.is_file() else None
    return _Source(path.name, src, path, _check(src, path.name, path, text) if verify else "not checked")


def _open_csv(path: Path, label: str, stack: ExitStack) -> IO[bytes]:
    if is_parquet(path):
        raise VisionError(parquet_error(label))
    if zipfile.is_zipfile(path):
        zf = stack.enter_context(zipfile.ZipFile(path))
        members = [m for m in zf.namelist() if m.lower().endswith(".csv")]
        if len(members) != 1:
            raise VisionError(f"{path}: expected exactly one .csv inside the zip, found {members}")
        return stack.enter_context(zf.open(members[0]))
    return stack.enter_context(open(path, "rb"))


def _market_problem(label: str, kind: str, ncols: int, exchange: str) -> str | None:
    """Why a dump's shape contradicts ``exchange``: spot dumps carry ``is_best_match``, futures
    dumps do not, and only futures publish bookTicker (a futures day stored as spot would mix two
    markets' prices under one name)."""
    futures_shape = ncols == _FUTURES_NCOLS[kind]
    if futures_shape and exchange not in FUTURES_EXCHANGES:
        what = "bookTicker dumps exist only for futures" if kind == "bookTicker" else \
            f"{ncols} columns without is_best_match"
        return (f"{label}: a futures dump ({what}), imported as spot ({exchange}); "
                "use --exchange binance-usdm (or binance-coinm for …USD_PERP contracts)")
    if not futures_shape and exchange in FUTURES_EXCHANGES:
        return (f"{label}: a spot dump ({ncols} columns with is_best_match), imported as {exchange}; "
                "use --exchange binance")
    return None


def _batches(label: str, fh: IO[bytes], kind: str, exchange: str) -> tuple[Iterator[pa.RecordBatch], int]:
    """The CSV's record batches and the number of header lines before its first row."""
    buffered = fh if isinstance(fh, io.BufferedReader) else io.BufferedReader(fh)  # type: ignore[arg-type]
    first = buffered.peek(65536).split(b"\n", 1)[0].strip()
    if not first:
        return iter(()), 0
    fields = first.split(b",")
    header = not fields[0].strip().lstrip(b"-").isdigit()
    ncols = len(fields)
    if ncols not in _NCOLS[kind]:
        allowed = " or ".join(map(str, _NCOLS[kind]))
        raise VisionError(f"{label}: {ncols} columns, but a {kind} dump has {allowed}")
    problem = _market_problem(label, kind, ncols, exchange)
    if problem:
        raise VisionError(problem)
    names = [f"c{i}" for i in range(ncols)]
    types: dict[str, pa.DataType] = {n: pa.float64() for n in names}
    types.update({f"c{i}": pa.int64() for i in _INT_COLS[kind] if i < ncols})
    types.update({f"c{i}": pa.bool_() for i in _BOOL_COLS[kind] if i < ncols})

    def read() -> Iterator[pa.RecordBatch]:
        try:
            yield from pacsv.open_csv(
                buffered,
                read_options=pacsv.ReadOptions(column_names=names, skip_rows=1 if header else 0,
                                               block_size=1 << 24),
                convert_options=pacsv.ConvertOptions(column_types=types, true_values=["True", "true"],
                                                     false_values=["False", "false"]),
            )
        except pa.ArrowInvalid as exc:
            raise VisionError(f"{label}: bad CSV: {exc}") from exc

    return read(), int(header)


def _ns(col: pa.Array, unit_mult: int) -> np.ndarray:
    return col.to_numpy(zero_copy_only=False).astype(np.int64) * unit_mult


def _to_table(batch: pa.RecordBatch, kind: str, unit_mult: int, seq0: int) -> tuple[str, pa.Table]:
    n = batch.num_rows
    seq = pa.array(np.arange(seq0, seq0 + n, dtype=np.int64))
    c = batch.column
    if kind == "bookTicker":
        exch = _ns(c(5), unit_mult)
        ts = _ns(c(6), unit_mult)
        return "bbo", pa.Table.from_arrays(
            [pa.array(ts), pa.array(exch), seq, c(0), c(1), c(2), c(3), c(4)], schema=BBO)
    tcol = 4 if kind == "trades" else 5
    mcol = 5 if kind == "trades" else 6
    ts = _ns(c(tcol), unit_mult)
    side = pc.if_else(c(mcol), pa.scalar(-1, pa.int8()), pa.scalar(1, pa.int8()))
    return "trades", pa.Table.from_arrays(
        [pa.array(ts), pa.array(ts), seq, c(0), c(1), c(2), side], schema=TRADES)


def _unit_mult(first_time: int, label: str) -> int:
    """ns per unit of a dump's time column: ms (≈1.7e12 today) or µs (≈1.7e15)."""
    if 1e11 < first_time < 1e14:
        return 1_000_000
    if 1e14 <= first_time < 1e17:
        return 1_000
    raise VisionError(f"{label}: time value {first_time} is neither epoch milliseconds nor microseconds")


def import_vision(  # noqa: PLR0917 (the documented positional API)
        sources: list[str], store: TickStore, exchange: str, symbol: str,
        kind: Kind | None = None, verify_checksum: bool = True, events: EventLog | None = None,
        seq_start: int = 0, timeout_s: float = 30.0) -> ImportReport:
    """Import data.binance.vision dumps (local paths or http(s) URLs) into ``store``.

    ``kind`` is detected from each file name (``BTCUSDT-aggTrades-2024-08-08.zip``) when not given;
    a given kind that contradicts the name is an error. Each file is verified (see module doc)
    before any of it is written.
    """
    problem = instrument_problem(exchange, symbol)
    if problem:
        raise VisionError(problem)
    report = ImportReport()
    seq = seq_start
    with tempfile.TemporaryDirectory(prefix="aurora-vision-") as tmpdir, ExitStack() as outer:
        clients: list[httpx.Client] = []

        def client_factory() -> httpx.Client:
            if not clients:
                clients.append(outer.enter_context(httpx.Client(timeout=timeout_s, follow_redirects=True)))
            return clients[0]

        for src in sources:
            src_kind = detect_kind(Path(src).name)
            if kind is not None and src_kind is not None and src_kind != kind:
                raise VisionError(f"{src}: file name says {src_kind}, but kind {kind} was given")
            use_kind = kind or src_kind
            if use_kind is None:
                raise VisionError(f"{src}: cannot tell aggTrades/trades/bookTicker from the name; pass kind")
            res = _resolve(src, verify_checksum, Path(tmpdir), client_factory)
            if events is not None:
                events.emit("data.import.checksum", source=src, status=res.checksum)
            fi, seq = _import_file(res, use_kind, store, exchange, symbol, seq)
            report.files.append(fi)
            if events is not None:
                events.emit("data.import.file", source=src, format="vision", kind=use_kind, exchange=exchange,
                            symbol=symbol, messages=fi.messages, rows=fi.rows, written=fi.written,
                            checksum=res.checksum)
    return report


def _import_file(res: _Source, kind: str, store: TickStore, exchange: str, symbol: str,  # noqa: PLR0917
                 seq: int) -> tuple[FileImport, int]:
    rows = 0
    written = 0
    table_name = "bbo" if kind == "bookTicker" else "trades"
    pending: list[pa.Table] = []
    pending_day: int | None = None
    seq0 = seq
    header = 0

    def origin(row_seq: int) -> str:
        return f"{res.label}:{row_seq - seq0 + 1 + header}"

    def flush() -> None:
        nonlocal written, pending
        if pending:
            data = pa.concat_tables(pending)
            written += store.write(table_name, data, exchange, symbol, origin).rows_written
            pending = []

    with ExitStack() as stack:
        fh = _open_csv(res.path, res.label, stack)
        unit: int | None = None
        batches, header = _batches(res.label, fh, kind, exchange)
        for batch in batches:
            if not batch.num_rows:
                continue
            if unit is None:
                tcol = {"trades": 4, "aggTrades": 5, "bookTicker": 6}[kind]
                unit = _unit_mult(int(batch.column(tcol)[0].as_py()), res.label)
            _, table = _to_table(batch, kind, unit, seq)
            seq += table.num_rows
            rows += table.num_rows
            days = table.column("ts_ns").to_numpy() // NS_PER_DAY
            # write one UTC day at a time: a run of rows of a new day flushes the previous one
            bounds = [0, *(np.flatnonzero(np.diff(days)) + 1).tolist(), len(days)]
            for a, b in pairwise(bounds):
                if days[a] != pending_day:
                    flush()
                    pending_day = int(days[a])
                pending.append(table.slice(a, b - a))
        flush()
    if not rows:
        raise VisionError(f"{res.label}: nothing imported: the dump holds no {kind} rows")
    return FileImport(source=res.label, messages=rows, rows={table_name: rows}, written={table_name: written},
                      skipped=0, gaps=0, truncated=False, seq_end=seq), seq
