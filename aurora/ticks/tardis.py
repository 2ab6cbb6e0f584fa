"""tardis.dev CSV exports (``.csv`` or ``.csv.gz``) → ``trades`` / ``bbo`` / ``depth`` tables.

tardis.dev sells Binance tick history as one CSV per exchange, data type, symbol and day. Every
file starts ``exchange,symbol,timestamp,local_timestamp,…``; times are **µs** since the epoch,
``timestamp`` the exchange's, ``local_timestamp`` tardis's arrival time. The data type is told
from the rest of the header:

``trades``               ``…,id,side,price,amount`` — ``side`` is the taker's (``buy`` ⇒ +1,
                         ``sell`` ⇒ −1; ``unknown`` rows are skipped, counted)::

                             binance-futures,BTCUSDT,1723075200104000,1723075200107317,5163985000,sell,56962.1,0.01

``quotes`` / ``book_ticker`` ``…,ask_amount,ask_price,bid_price,bid_amount`` → ``bbo``; rows with
                         an empty side are skipped, counted. tardis gives no update id:
                         ``update_id`` is the row's line number in the file.
``incremental_book_L2``  ``…,is_snapshot,side,price,amount`` (``bid``/``ask``; amount 0 deletes)
                         → ``depth``; rows sharing ``local_timestamp`` and ``is_snapshot`` are one
                         message; snapshot rows keep ``is_snapshot = true``.
``book_snapshot_N``      ``…,asks[0].price,asks[0].amount,bids[0].price,bids[0].amount,…``
                         (N = 5 or 25) → one ``depth`` snapshot message per row (empty levels
                         dropped).

Update ids: tardis has already sequenced the book (it reconnects and starts from a new snapshot
on any gap) but exports no ids, so depth message ``k`` (1, 2, … in file order) gets ids that form
an unbroken chain under the exchange's rule (:mod:`aurora.core.book`): a snapshot
``first = last = k``; a diff spot ``U = u = k``, futures ``U = pu = k − 1, u = k``. Diffs before
the first snapshot (tardis warns of them) are then stale and dropped by the replay.

The tardis exchange (``binance``, ``binance-futures``, ``binance-delivery``) must be the one
imported into, and every row must name ``symbol``. :func:`parse` is pure (Arrow batch in, tables
out); :func:`import_tardis` reads files and writes the store.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from aurora.events import EventLog
from aurora.ticks.binance_ws import FileImport, ImportReport, book_warning
from aurora.ticks.formats import first_line, is_parquet, parquet_error
from aurora.ticks.schema import BBO, DEPTH, FUTURES_EXCHANGES, TRADES, instrument_problem
from aurora.ticks.store import TickStore

#: tardis exchange id → store exchange
EXCHANGE_OF = {"binance": "binance", "binance-futures": "binance-usdm", "binance-delivery": "binance-coinm"}
KINDS = ("trades", "quotes", "incremental_book_L2", "book_snapshot")
_PREFIX = ["exchange", "symbol", "timestamp", "local_timestamp"]
_LEVEL = re.compile(r"^(asks|bids)\[(\d+)\]\.(price|amount)$")
US = 1_000


class TardisError(ValueError):
    """A tardis.dev file could not be imported; names the file (and line) and why."""


@dataclass
class ParseState:
    """What :func:`parse` carries from one batch of a file to the next."""

    seq: int                     # next arrival counter
    row: int = 0                 # data rows consumed (line = row + 2: one header line)
    message: int = 0             # depth messages numbered so far
    last_key: tuple[int, bool] | None = None   # (local_timestamp, is_snapshot) of the last depth row
    skipped: dict[str, int] = field(default_factory=dict)
    lines: list[np.ndarray] = field(default_factory=list)  # line of each seq (a depth message: its first)


def detect_kind(header: list[str]) -> str:
    """The tardis data type of a CSV header (see the module doc)."""
    if header[:4] != _PREFIX:
        raise TardisError(f"not a tardis.dev CSV: the header starts {header[:4]}, not {_PREFIX}")
    rest = header[4:]
    if rest == ["id", "side", "price", "amount"]:
        return "trades"
    if rest == ["ask_amount", "ask_price", "bid_price", "bid_amount"]:
        return "quotes"
    if rest == ["is_snapshot", "side", "price", "amount"]:
        return "incremental_book_L2"
    if rest and all(_LEVEL.match(c) for c in rest):
        return "book_snapshot"
    raise TardisError(f"tardis data type with columns {rest} is not trades, quotes, incremental_book_L2 "
                      "or book_snapshot_N: nothing the tick store holds")


def _types(kind: str, header: list[str]) -> dict[str, pa.DataType]:
    t: dict[str, pa.DataType] = {"exchange": pa.string(), "symbol": pa.string(), "timestamp": pa.int64(),
                                 "local_timestamp": pa.int64()}
    if kind == "trades":
        t |= {"id": pa.int64(), "side": pa.string(), "price": pa.float64(), "amount": pa.float64()}
    elif kind == "incremental_book_L2":
        t |= {"is_snapshot": pa.bool_(), "side": pa.string(), "price": pa.float64(), "amount": pa.float64()}
    else:
        t |= {c: pa.float64() for c in header[4:]}
    return t


def _ns(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return np.asarray(col, dtype=np.int64) * US


def _skip(state: ParseState, reason: str, n: int) -> None:
    if n:
        state.skipped[reason] = state.skipped.get(reason, 0) + n


def parse(batch: pa.RecordBatch, kind: str, state: ParseState, futures: bool) -> dict[str, pa.Table]:
    """One batch of a tardis CSV of data type ``kind`` → tick tables; advances ``state``."""
    n = batch.num_rows
    ts, exch = _ns(batch.column("local_timestamp")), _ns(batch.column("timestamp"))
    line0 = state.row + 2
    state.row += n
    if kind == "trades":
        side_txt = batch.column("side")
        side = np.where(np.asarray(pc.equal(side_txt, "buy")), 1, -1).astype(np.int8)
        keep = np.asarray(pc.is_in(side_txt, pa.array(["buy", "sell"])))
        _skip(state, "trade side unknown", int(n - keep.sum()))
        state.lines.append(np.arange(line0, line0 + n)[keep])
        seq = np.arange(state.seq, state.seq + int(keep.sum()), dtype=np.int64)
        state.seq += len(seq)
        cols = [ts[keep], exch[keep], seq, np.asarray(batch.column("id"))[keep],
                np.asarray(batch.column("price"))[keep], np.asarray(batch.column("amount"))[keep], side[keep]]
        return {"trades": pa.Table.from_arrays([pa.array(c) for c in cols], schema=TRADES)}
    if kind == "quotes":
        names = ("bid_price", "bid_amount", "ask_price", "ask_amount")
        vals = [np.asarray(batch.column(c).to_numpy(zero_copy_only=False), dtype=np.float64) for c in names]
        keep = np.logical_and.reduce([np.isfinite(v) for v in vals])
        _skip(state, "quote with an empty side", int(n - keep.sum()))
        state.lines.append(np.arange(line0, line0 + n)[keep])
        seq = np.arange(state.seq, state.seq + int(keep.sum()), dtype=np.int64)
        state.seq += len(seq)
        uid = np.arange(line0, line0 + n, dtype=np.int64)[keep]
        cols = [ts[keep], exch[keep], seq, uid, *(v[keep] for v in vals)]
        return {"bbo": pa.Table.from_arrays([pa.array(c) for c in cols], schema=BBO)}
    if kind == "incremental_book_L2":
        snap = np.asarray(batch.column("is_snapshot").to_numpy(zero_copy_only=False), dtype=bool)
        side = np.where(np.asarray(pc.equal(batch.column("side"), "bid")), 1, -1).astype(np.int8)
        price = np.asarray(batch.column("price"))
        qty = np.asarray(batch.column("amount"))
        local = np.asarray(batch.column("local_timestamp"), dtype=np.int64)
        new = np.r_[True, (local[1:] != local[:-1]) | (snap[1:] != snap[:-1])]
        if state.last_key is not None and n and state.last_key == (int(local[0]), bool(snap[0])):
            new[0] = False  # the message goes on from the previous batch
        return {"depth": _depth(state, ts, exch, new, snap, side, price, qty, line0, futures)}
    # book_snapshot_N: one snapshot message per row, bids then asks, empty levels dropped
    levels = sum(1 for c in batch.schema.names if c.startswith("asks[") and c.endswith(".price"))
    px = np.column_stack([np.asarray(batch.column(f"{s}[{i}].price").to_numpy(zero_copy_only=False), float)
                          for s in ("bids", "asks") for i in range(levels)])
    am = np.column_stack([np.asarray(batch.column(f"{s}[{i}].amount").to_numpy(zero_copy_only=False), float)
                          for s in ("bids", "asks") for i in range(levels)])
    sides = np.r_[np.ones(levels, np.int8), -np.ones(levels, np.int8)]
    keep = np.isfinite(px) & np.isfinite(am)
    r = np.repeat(np.arange(n), keep.sum(axis=1))
    new = np.r_[True, r[1:] != r[:-1]] if len(r) else np.zeros(0, bool)
    side = np.broadcast_to(sides, px.shape)[keep]
    return {"depth": _depth(state, ts[r], exch[r], new, np.ones(len(r), bool), side, px[keep], am[keep],
                            line0 + r, futures)}


def _depth(state: ParseState, ts: np.ndarray, exch: np.ndarray, new: np.ndarray,  # noqa: PLR0917
           snap: np.ndarray, side: np.ndarray, price: np.ndarray, qty: np.ndarray,
           line: int | np.ndarray, futures: bool) -> pa.Table:
    """Depth rows with synthetic update ids (see the module doc); ``new`` marks each message's first row."""
    n = len(new)
    msg = state.message + np.cumsum(new)          # message number k of each row
    state.message += int(new.sum())
    seq = state.seq - 1 + np.cumsum(new)
    state.seq += int(new.sum())
    if n:
        state.last_key = (int(ts[-1] // US), bool(snap[-1]))
        lines = np.broadcast_to(line, n) if np.ndim(line) else line + np.arange(n)
        state.lines.append(np.asarray(lines)[new])
    diff_fut = ~snap & futures
    first = np.where(diff_fut, msg - 1, msg)
    prev = pa.array(np.where(diff_fut, msg - 1, 0), mask=~diff_fut)
    cols = [pa.array(ts), pa.array(exch), pa.array(seq.astype(np.int64)),
            pa.array(first.astype(np.int64)), pa.array(msg.astype(np.int64)), prev,
            pa.array(side.astype(np.int8)), pa.array(price, pa.float64()), pa.array(qty, pa.float64()),
            pa.array(snap)]
    return pa.Table.from_arrays(cols, schema=DEPTH)


def _check_rows(batch: pa.RecordBatch, source: str, line0: int, tardis_exchange: str, symbol: str) -> None:
    for name, want in (("exchange", tardis_exchange), ("symbol", symbol)):
        bad = pc.invert(pc.equal(batch.column(name), want))
        if pc.any(bad).as_py():
            i = int(np.flatnonzero(np.asarray(bad.fill_null(True)))[0])
            got = batch.column(name)[i].as_py()
            hint = f"import it with --symbol {got}"
            if name == "exchange":
                ours = EXCHANGE_OF.get(got)
                hint = f"import it with --exchange {ours}" if ours else "not a Binance market"
            raise TardisError(f"{source}:{line0 + i}: {name} {got!r} is not {want!r}; {hint}")


def _read(path: Path, source: str, exchange: str, symbol: str,
          state: ParseState) -> tuple[str, dict[str, list[pa.Table]]]:
    if is_parquet(path):
        raise TardisError(parquet_error(source))
    header = first_line(path).decode("utf-8", "replace").strip().split(",")
    kind = detect_kind(header)
    tardis_exchange = next(k for k, v in EXCHANGE_OF.items() if v == exchange)
    futures = exchange in FUTURES_EXCHANGES
    out: dict[str, list[pa.Table]] = {}
    try:
        reader = pacsv.open_csv(path, read_options=pacsv.ReadOptions(block_size=1 << 24),
                                convert_options=pacsv.ConvertOptions(
                                    column_types=_types(kind, header), strings_can_be_null=False,
                                    true_values=["true"], false_values=["false"]))
        for batch in reader:
            _check_rows(batch, source, state.row + 2, tardis_exchange, symbol)
            for table, data in parse(batch, kind, state, futures).items():
                out.setdefault(table, []).append(data)
    except pa.ArrowInvalid as exc:
        raise TardisError(f"{source}: bad CSV after line {state.row + 1}: {exc}") from exc
    return kind, out


def import_tardis(paths: list[str | Path], store: TickStore, exchange: str, symbol: str,  # noqa: PLR0917
                  events: EventLog | None = None, seq_start: int = 0) -> ImportReport:
    """Import tardis.dev CSV(.gz) files into ``store``: each file is parsed whole, then all its
    tables are checked and written (idempotent); a file yielding no row is an error."""
    problem = instrument_problem(exchange, symbol)
    if problem:
        raise TardisError(problem)
    report = ImportReport()
    seq = seq_start
    for p in paths:
        path, source = Path(p), str(p)
        if not path.is_file():
            raise TardisError(f"{source}: no such file")
        state = ParseState(seq=seq)
        kind, parts = _read(path, source, exchange, symbol, state)
        tables = {t: pa.concat_tables(v) for t, v in parts.items()}
        if not any(len(t) for t in tables.values()):
            raise TardisError(f"{source}: nothing imported: {state.row} row(s), "
                              f"skipped {state.skipped or 'none'}")
        lines = np.concatenate(state.lines)

        def origin(row_seq: int, seq0: int = seq, lines: np.ndarray = lines, source: str = source) -> str:
            return f"{source}:{lines[row_seq - seq0]}"

        writes = store.write_tables(tables, exchange, symbol, origin)
        report.writes.extend(writes.values())
        warning = book_warning(tables["depth"], exchange in FUTURES_EXCHANGES) \
            if kind == "incremental_book_L2" else None
        fi = FileImport(source=source, messages=state.message if "depth" in tables else state.seq - seq,
                        rows={t: len(v) for t, v in tables.items()},
                        written={t: w.rows_written for t, w in writes.items()},
                        skipped=sum(state.skipped.values()), gaps=0, truncated=False, ts_unit="us",
                        book_warning=warning, seq_end=state.seq)
        report.files.append(fi)
        seq = state.seq
        if events is not None:
            events.emit("data.import.file", source=source, format="tardis", kind=kind, exchange=exchange,
                        symbol=symbol, messages=fi.messages, rows=fi.rows, written=fi.written,
                        skipped=fi.skipped, skip_reasons=state.skipped)
            if warning:
                events.emit("data.import.no_book", source=source, exchange=exchange, symbol=symbol,
                            reason=warning)
    return report
