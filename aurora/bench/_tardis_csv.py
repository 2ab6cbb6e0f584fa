"""A store's trades, bbo and depth written as tardis.dev CSV exports (for ``auroractl bench
features --recording``: the tardis import rate on a real market's rows).

One gzip CSV per data type, in the layout :mod:`aurora.ticks.tardis` reads: ``trades``,
``quotes`` and ``incremental_book_L2`` with times in µs (``timestamp`` = the exchange's,
``local_timestamp`` = receive time). Depth rows keep their order; a message's rows share one
receive time, so the importer groups them into messages again (two messages received in the same
µs become one, which does not change the row rate being measured).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from aurora.ticks.store import TickStore
from aurora.ticks.tardis import EXCHANGE_OF, US

_NO_QUOTES = pacsv.WriteOptions(quoting_style="none", quoting_header="none")


def _us(col: pa.ChunkedArray) -> pa.Array:
    return pa.array(np.asarray(col, dtype=np.int64) // US)


def _times(t: pa.Table) -> tuple[pa.Array, pa.Array]:
    """``timestamp`` (exchange time; the receive time where the stream gave none) and
    ``local_timestamp``, µs."""
    return _us(pc.fill_null(t.column("exch_ns"), t.column("ts_ns"))), _us(t.column("ts_ns"))


def _side(side: pa.ChunkedArray, up: str, down: str) -> pa.ChunkedArray:
    return pc.if_else(pc.greater(side, 0), up, down)


def _write(table: pa.Table, path: Path) -> Path:
    with pa.CompressedOutputStream(str(path), "gzip") as out:
        pacsv.write_csv(table, out, _NO_QUOTES)
    return path


def write_tardis_csvs(store: TickStore, exchange: str, symbol: str, first: date, last: date, *,
                      folder: Path) -> tuple[list[Path], int]:
    """The stored ``[first, last]`` as tardis CSV files in ``folder``; returns them and their
    data rows."""
    tardis = next(k for k, v in EXCHANGE_OF.items() if v == exchange)
    tag = f"{first:%Y-%m-%d}_{symbol}"

    def head(t: pa.Table) -> dict[str, pa.Array | pa.ChunkedArray]:
        n = t.num_rows
        exch, local = _times(t)
        return {"exchange": pa.array([tardis] * n), "symbol": pa.array([symbol] * n),
                "timestamp": exch, "local_timestamp": local}

    trades = store.read("trades", exchange, symbol, first, last)
    bbo = store.read("bbo", exchange, symbol, first, last)
    depth = store.read("depth", exchange, symbol, first, last)
    files = [
        _write(pa.table({**head(trades), "id": trades.column("trade_id"),
                         "side": _side(trades.column("side"), "buy", "sell"),
                         "price": trades.column("price"), "amount": trades.column("qty")}),
               folder / f"{tardis}_trades_{tag}.csv.gz"),
        _write(pa.table({**head(bbo), "ask_amount": bbo.column("ask_qty"),
                         "ask_price": bbo.column("ask_px"), "bid_price": bbo.column("bid_px"),
                         "bid_amount": bbo.column("bid_qty")}),
               folder / f"{tardis}_quotes_{tag}.csv.gz"),
        _write(pa.table({**head(depth), "is_snapshot": depth.column("is_snapshot"),
                         "side": _side(depth.column("side"), "bid", "ask"),
                         "price": depth.column("price"), "amount": depth.column("qty")}),
               folder / f"{tardis}_incremental_book_L2_{tag}.csv.gz"),
    ]
    return files, trades.num_rows + bbo.num_rows + depth.num_rows
