"""Tick store → feature table, one UTC day (partition) at a time, memory bounded by about a day.

Each day is computed from its own partitions plus:

- trailing context from the previous stored day (the last ``params.context_s`` seconds, one
  extra quote before it for the first order-flow term and mid change, and every trade after
  that quote), so windows at the start of a day see exactly what a continuous run would;
- the order book carried over from the previous day's depth replay (a day whose depth does not
  start with a snapshot, at the start of a run, is warmed up by replaying the previous day; that
  warm start reads only the previous day's depth and the row groups holding its tail);
- with labels, the head of the next day (its quotes up to ``horizon_s`` after the day's last one,
  and the time of the first quote after that), so labels near midnight are not cut short.
  Labels are censored (``label_complete`` False) only where the stored data itself ends inside
  the horizon (no next stored day, or one that ends inside it).

The tick size is ``params.tick_size`` or, when ``None``, inferred once from the first day's
quotes and kept for the whole run.

Label columns (see :mod:`aurora.core.labels`): ``label_long``/``label_short`` (int8: +1 tp,
−1 sl, 0 timeout), ``ret_long_bps``/``ret_short_bps``, ``exit_long_ns``/``exit_short_ns``,
``label_end_ns`` (when both outcomes are known, for purging) and ``label_complete``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from aurora.core.book import OrderBook, replay_depth
from aurora.core.features import (
    NS,
    Allocator,
    BookTops,
    FeatureParams,
    feature_columns,
    infer_tick_size,
)
from aurora.core.labels import LabelParams, label_columns
from aurora.core.microprice import MicropriceModel
from aurora.ticks.day_buffers import DayBuffers
from aurora.ticks.schema import FUTURES_EXCHANGES, SCHEMAS
from aurora.ticks.store import TickStore

BBO_READ = ["ts_ns", "seq", "update_id", "bid_px", "bid_qty", "ask_px", "ask_qty"]
TRADE_READ = ["ts_ns", "seq", "qty", "side"]
DEPTH_READ = ["ts_ns", "seq", "first_update_id", "last_update_id", "prev_update_id", "side", "price",
              "qty", "is_snapshot"]
DEPTH_ROW_COLUMNS = ("seq", "is_snapshot", "side", "price", "qty")  # needed at every depth row
LABEL_COLUMNS = ("label_long", "ret_long_bps", "exit_long_ns", "label_short", "ret_short_bps",
                 "exit_short_ns", "label_end_ns", "label_complete")


class FeatureTableError(ValueError):
    """No data, or a bad request, for a feature table; the message says which."""


@dataclass
class UnsyncedBook:
    """Time ranges where the depth book was not in sync (``book_ok`` False: ``obi_w`` NaN), fed
    day by day with :meth:`add`; a range spanning midnight counts once.

    A range ``(start_ns, end_ns)`` runs from its first unsynced row to the first synced row
    after it, or to its last row when the data ends unsynced.
    """

    ranges: list[tuple[int, int]] = field(default_factory=list)
    open: bool = False  # the last row added was unsynced

    def add(self, ts_ns: np.ndarray, book_ok: np.ndarray) -> None:
        """The next rows (receive times in ns, in order, and their ``book_ok``)."""
        ts = np.asarray(ts_ns, dtype=np.int64)
        ok = np.asarray(book_ok, dtype=bool)
        if ts.size == 0:
            return
        prev_ok = np.concatenate([[not self.open], ok[:-1]])
        for i in np.flatnonzero(ok != prev_ok):
            if ok[i]:  # back in sync: the open range ends here
                self.ranges[-1] = (self.ranges[-1][0], int(ts[i]))
            else:
                self.ranges.append((int(ts[i]), int(ts[i])))
        self.open = not ok[-1]
        if self.open:
            self.ranges[-1] = (self.ranges[-1][0], int(ts[-1]))

    @property
    def total_s(self) -> float:
        """Seconds out of sync, summed over the ranges."""
        return sum(end - start for start, end in self.ranges) / NS


Columns = dict[str, np.ndarray]


@dataclass
class _Day:
    day: date
    bbo: pa.Table
    trades: pa.Table
    depth: pa.Table | None


def _joined(parts: list[np.ndarray], alloc: Allocator) -> np.ndarray:
    """The parts end to end, in one array."""
    out = alloc(sum(len(p) for p in parts), parts[0].dtype)
    np.concatenate(parts, out=out)
    return out


def _chunks(table: pa.Table, name: str) -> list[np.ndarray]:
    """A column's chunks as numpy arrays (views, except bit-packed booleans: store columns have
    no nulls)."""
    return [chunk.to_numpy(zero_copy_only=False) for chunk in table.column(name).chunks]


def _columns(table: pa.Table) -> dict[str, pa.ChunkedArray]:
    """A table's columns, not copied: :func:`_tail` converts only what it searches and keeps."""
    return {name: table.column(name) for name in table.column_names}


def _no_rows(table: pa.Table) -> Columns:
    return {f.name: np.empty(0, dtype=f.type.to_pandas_dtype()) for f in table.schema}


def _take(cols: Mapping[str, Any], sl: slice) -> Columns:
    return {k: np.array(v[sl]) for k, v in cols.items()}  # copies: the day's arrays can go


def _read_partition(store: TickStore, table: str, exchange: str, symbol: str, day: date, *,
                    columns: list[str]) -> pa.Table:
    """One day's partition as stored. The store keeps each partition sorted by (ts_ns, seq), so
    this skips :meth:`TickStore.read`'s merge-and-sort of a date range (≈ 2× the decode time on a
    10 M-row day); the feature kernels still refuse rows out of order."""
    files = store.partition_files(table, exchange, symbol, day)
    if not files:
        return store.read(table, exchange, symbol, day, day, columns)
    # the table's schema, not the file's: a column added since the file was written reads as null
    return ds.dataset(files, schema=SCHEMAS[table], format="parquet",
                      filesystem=store.filesystem).to_table(columns=columns)


def _read_day(store: TickStore, exchange: str, symbol: str, day: date, with_depth: bool) -> _Day:
    bbo = _read_partition(store, "bbo", exchange, symbol, day, columns=BBO_READ)
    trades = _read_partition(store, "trades", exchange, symbol, day, columns=TRADE_READ)
    depth = None
    if with_depth:
        d = _read_partition(store, "depth", exchange, symbol, day, columns=DEPTH_READ)
        depth = d if len(d) else None
    return _Day(day, bbo, trades, depth)


def _head(store: TickStore, exchange: str, symbol: str, day: date,
          until_ns: int) -> tuple[Columns, int | None]:
    """Quotes of ``day`` with ts_ns ≤ until_ns (row groups past it are skipped, not read), and
    how far the stored data is known to run: the first receive time after until_ns, else the
    day's last one (None when the day holds no quote).

    A label's outcome is known (``label_complete``) when the data runs past its horizon, so the
    first quote after the horizon of the day's last event completes every label of the day."""
    files = store.partition_files("bbo", exchange, symbol, day)
    fs = store.filesystem
    table = ds.dataset(files, format="parquet", filesystem=fs).to_table(
        columns=["ts_ns", "seq", "bid_px", "ask_px"], filter=ds.field("ts_ns") <= until_ns)
    cols = {name: table.column(name).to_numpy() for name in table.column_names}
    order = np.lexsort((cols.pop("seq"), cols["ts_ns"]))
    # partitions are stored sorted by ts_ns: a file's first row past the horizon is its earliest
    after = [int(t[0]) for f in files if len(t := ds.dataset(f, format="parquet", filesystem=fs).head(
        1, columns=["ts_ns"], filter=ds.field("ts_ns") > until_ns).column("ts_ns").to_numpy())]
    if after:
        data_end: int | None = min(after)
    else:
        data_end = int(cols["ts_ns"].max()) if cols["ts_ns"].size else None
    return {k: v[order] for k, v in cols.items()}, data_end


def _tops(depth: pa.Table | None, book: OrderBook, levels: int,
          buffers: DayBuffers) -> BookTops | None:
    if depth is None or not len(depth):
        return None
    # one copy of the per-row columns only; the per-message ones (update ids, ts_ns) are read
    # at each message's first row by replay_depth (feature table on usdm BTCUSDT ×22: 5.2 → 2.1 s,
    # most of it page faults of copying all nine)
    rows = {name: _joined(_chunks(depth, name), buffers.empty) for name in DEPTH_ROW_COLUMNS}
    out = replay_depth({**_columns(depth), **rows}, levels, book=book)
    buffers.give_back(*rows.values())
    return BookTops(seq=out["seq"], bid_qty=out["bid_qty"], ask_qty=out["ask_qty"],
                    in_sync=out["in_sync"])


def _last_top(tops: BookTops | None) -> BookTops | None:
    if tops is None or tops.seq.size == 0:
        return None
    return BookTops(tops.seq[-1:].copy(), tops.bid_qty[-1:].copy(), tops.ask_qty[-1:].copy(),
                    tops.in_sync[-1:].copy())


def _join_tops(a: BookTops | None, b: BookTops | None) -> BookTops | None:
    if a is None:
        return b
    if b is None:
        return a
    return BookTops(np.concatenate([a.seq, b.seq]), np.vstack([a.bid_qty, b.bid_qty]),
                    np.vstack([a.ask_qty, b.ask_qty]), np.concatenate([a.in_sync, b.in_sync]))


def _tail(bbo: Mapping[str, Any], trades: Mapping[str, Any],
          since_ns: int) -> tuple[Columns, Columns]:
    """Context for the next day: quotes after ``since_ns`` plus the one before, and every trade
    after that quote (copied, so the rest of the day can be freed)."""
    ts = bbo["ts_ns"]
    i = max(int(np.searchsorted(ts, since_ns, side="right")) - 1, 0)
    ctx_bbo = _take(bbo, slice(i, None))
    if not len(ctx_bbo["ts_ns"]):
        return ctx_bbo, _take(trades, slice(0, 0))
    j = int(np.searchsorted(trades["seq"], int(ctx_bbo["seq"][0]), side="right"))
    return ctx_bbo, _take(trades, slice(j, None))


def _groups_from(fragment: ds.ParquetFileFragment, key: str, value: int) -> int:
    """The last row group whose smallest ``key`` is ≤ ``value`` (0 if none is, or a row group has
    no statistics): in a partition sorted by ``key``, every row before it has a key ≤ ``value``."""
    start = 0
    for k, rg in enumerate(fragment.row_groups):
        stats = (rg.statistics or {}).get(key)
        if not stats or stats.get("min") is None:
            return 0
        if stats["min"] <= value:
            start = k
    return start


def _rows_from(store: TickStore, table: str, exchange: str, symbol: str, day: date, *,
               columns: list[str], key: str, value: int,
               cut: Callable[[np.ndarray], int]) -> pa.Table:
    """The rows of one stored partition, sorted by ``key``, from row ``cut(keys)`` on (and possibly
    a few before it: whole row groups are read), where ``keys`` is the ``key`` column from the last
    row group whose keys start at or below ``value`` (row-group statistics; the whole column
    without them): ``cut`` must find the same row in that tail as in the whole column, as a
    search for ``value`` does."""
    files = store.partition_files(table, exchange, symbol, day)
    if len(files) != 1:  # not a partition written by the store: read it whole
        return _read_partition(store, table, exchange, symbol, day, columns=columns)
    fragment = next(ds.dataset(files[0], schema=SCHEMAS[table], format="parquet",
                               filesystem=store.filesystem).get_fragments())
    groups = fragment.row_groups
    start = _groups_from(fragment, key, value)
    keys = fragment.subset(row_group_ids=[rg.id for rg in groups[start:]]).to_table(columns=[key])
    first = sum(rg.num_rows for rg in groups[:start]) + cut(keys.column(key).to_numpy())
    chosen, row = [], 0
    for rg in groups:
        if row + rg.num_rows > first:
            chosen.append(rg.id)
        row += rg.num_rows
    return fragment.subset(row_group_ids=chosen).to_table(columns=columns)


def _warm_start(  # noqa: PLR0917 (one step of iter_feature_days)
        store: TickStore, exchange: str, symbol: str, day: date, book: OrderBook, levels: int,
        since_ns: int, with_depth: bool, buffers: DayBuffers
) -> tuple[tuple[Columns, Columns], BookTops | None]:
    """The context a run starting after ``day`` needs: :func:`_tail` of ``day`` after
    ``since_ns`` and, with depth, ``book`` replayed through ``day`` and its last top levels.

    Reads only the row groups holding the tail (plus the sort columns that locate it): the same
    rows :func:`_tail` takes from the whole day, since partitions are sorted (bench scale: the
    warm start was a whole extra day of reading, ~1/3 of each worker's time over 4 days)."""
    bbo = _rows_from(store, "bbo", exchange, symbol, day, columns=BBO_READ, key="ts_ns",
                     value=since_ns,
                     cut=lambda ts: max(int(np.searchsorted(ts, since_ns, side="right")) - 1, 0))
    ts = bbo.column("ts_ns").to_numpy()
    quote = int(np.searchsorted(ts, since_ns, side="right")) - 1
    after = int(bbo.column("seq")[max(quote, 0)].as_py()) if len(bbo) else None
    trades = (SCHEMAS["trades"].empty_table().select(TRADE_READ) if after is None else
              _rows_from(store, "trades", exchange, symbol, day, columns=TRADE_READ, key="seq",
                         value=after, cut=lambda seq: int(np.searchsorted(seq, after, side="right"))))
    ctx = _tail(_columns(bbo), _columns(trades), since_ns)
    top = None
    if with_depth:
        depth = _read_partition(store, "depth", exchange, symbol, day, columns=DEPTH_READ)
        top = _last_top(_tops(depth if len(depth) else None, book, levels, buffers))
    return ctx, top


def _first_seq(table: pa.Table) -> int | None:
    value = pc.min(table.column("seq")).as_py() if table.num_rows else None
    return None if value is None else int(value)


def _rebase(bbo: Columns, trades: Columns, top: BookTops | None, cur: _Day,
            cur_tops: BookTops | None) -> tuple[Columns, Columns, BookTops | None]:
    """Shift the context's ``seq`` below the day's first ``seq`` when the two days came from
    separate imports (each import numbers its messages from its own start); order within the
    context is kept."""
    firsts = [s for s in (_first_seq(cur.bbo), _first_seq(cur.trades)) if s is not None]
    if cur_tops is not None and cur_tops.seq.size:
        firsts.append(int(cur_tops.seq.min()))
    lasts = [int(f["seq"].max()) for f in (bbo, trades) if len(f["seq"])]
    if top is not None:
        lasts.append(int(top.seq.max()))
    if not firsts or not lasts or max(lasts) < min(firsts):
        return bbo, trades, top
    shift = max(lasts) - min(firsts) + 1
    bbo = dict(bbo, seq=bbo["seq"] - shift)
    trades = dict(trades, seq=trades["seq"] - shift)
    if top is not None:
        top = BookTops(top.seq - shift, top.bid_qty, top.ask_qty, top.in_sync)
    return bbo, trades, top


def _assemble(ctx: Columns, day: pa.Table, alloc: Allocator,
              head: Columns | None = None) -> Columns:
    """Context, the day and (where it has the column) the next day's head, one array a column."""
    return {name: _joined([ctx[name], *_chunks(day, name),
                           *([head[name]] if head is not None and name in head else [])], alloc)
            for name in day.column_names}


def iter_feature_days(  # noqa: PLR0917 (the documented positional API)
    store: TickStore,
    exchange: str,
    symbol: str,
    start: date,
    end: date,
    params: FeatureParams,
    labels: LabelParams | None = None,
    microprice: MicropriceModel | None = None,
    with_depth: bool = True,
    *,
    keep_frames: bool = False,
    poison_released: bool = False,
    buffers: DayBuffers | None = None,
) -> Iterator[tuple[date, pd.DataFrame]]:
    """Yield ``(day, feature frame)`` for every stored day of quotes in ``[start, end]``.

    Buffer contract: a yielded frame's arrays are valid until the next day is requested (the
    generator resumed or closed); their memory then holds the next day, so a month streams in
    about one day's memory. Copy what you keep (``frame.copy()``, or rows taken by fancy
    indexing), or pass ``keep_frames=True`` to get frames that own their memory.
    ``poison_released`` (debugging, tests): released memory is filled with NaN / −1 / True, so
    a consumer that holds a frame too long reads garbage at once. ``buffers``: take the day-sized
    arrays from this pool and leave them in it, released, at the end (a caller that runs several
    ranges one after another then faults in one day's memory once, not once a range)."""
    if start > end:
        raise FeatureTableError(f"start {start} is after end {end}")
    stored = store.dates("bbo", exchange, symbol)
    days = [d for d in stored if start <= d <= end]
    if not days:
        raise FeatureTableError(f"no bbo data for {symbol} on {exchange} between {start} and {end}"
                                f" (stored days: {', '.join(map(str, stored)) or 'none'})")
    stored_set = set(stored)
    context_ns = round(params.context_s * NS)
    owned = buffers is None
    if buffers is None:
        buffers = DayBuffers(reuse=not keep_frames, poison=poison_released)
    futures = exchange in FUTURES_EXCHANGES
    book = OrderBook(futures=futures)
    ctx: tuple[Columns, Columns] | None = None
    prev_top: BookTops | None = None
    prev_day = days[0] - timedelta(days=1)
    if prev_day in stored_set:
        ctx, prev_top = _warm_start(store, exchange, symbol, prev_day, book, params.obi_levels,
                                    int(pd.Timestamp(days[0]).value) - context_ns, with_depth,
                                    buffers)
    try:
        for day in days:
            cur = _read_day(store, exchange, symbol, day, with_depth)
            day_start = int(pd.Timestamp(day).value)
            if ctx is None or prev_day != day - timedelta(days=1):
                ctx = (_no_rows(cur.bbo), _no_rows(cur.trades))
                prev_top, book = None, OrderBook(futures=futures)
            day_tops = (_tops(cur.depth, book, params.obi_levels, buffers) if with_depth
                        else None)
            ctx_bbo, ctx_trades, prev_top = _rebase(ctx[0], ctx[1], prev_top, cur, day_tops)
            head, data_end = None, None
            nxt = day + timedelta(days=1)
            if labels is not None and nxt in stored_set and cur.bbo.num_rows:
                last_ns = cur.bbo.column("ts_ns")[-1].as_py()
                head, data_end = _head(store, exchange, symbol, nxt,
                                         last_ns + round(labels.horizon_s * NS))
            # one copy of the day, with the context before it and the next day's head after it; the
            # rest are views into these arrays
            n_ctx, n_day = len(ctx_bbo["ts_ns"]), cur.bbo.num_rows
            all_bbo = _assemble(ctx_bbo, cur.bbo, buffers.empty, head)
            all_trades = _assemble(ctx_trades, cur.trades, buffers.empty)
            del cur
            quotes = {k: v[:n_ctx + n_day] for k, v in all_bbo.items()}
            if params.tick_size is None:
                params = params.with_tick(infer_tick_size(quotes["bid_px"][n_ctx:],
                                                          quotes["ask_px"][n_ctx:]))
            cols = feature_columns(quotes, all_trades, _join_tops(prev_top, day_tops), params,
                                   microprice=microprice, context_start_ns=day_start,
                                   alloc=buffers.empty, give_back=buffers.give_back)
            prev_top = _last_top(day_tops) or prev_top
            ctx = _tail({k: v[n_ctx:] for k, v in quotes.items()},
                        {k: v[len(ctx_trades["ts_ns"]):] for k, v in all_trades.items()},
                        day_start + 86_400 * NS - context_ns)
            prev_day = day
            # the labels need only the quotes' prices and times (the frame keeps ts_ns and
            # update_id): the rest is free for their output
            buffers.give_back(*all_trades.values(),
                              *(all_bbo[c] for c in ("seq", "bid_qty", "ask_qty")))
            lookahead = [all_bbo[c][n_ctx:] for c in ("ts_ns", "bid_px", "ask_px")]
            del day_tops, all_bbo, all_trades, quotes
            if labels is not None:
                cols.update(label_columns(*lookahead, labels, data_end_ns=data_end, n=n_day,
                                          alloc=buffers.empty))
            del lookahead
            frame = pd.DataFrame(cols, copy=False)
            del cols
            yield day, frame
            del frame
            buffers.release()  # the contract: the frame just yielded is no longer valid
    finally:
        if owned:
            buffers.clear()
        else:
            buffers.release()


def feature_table(  # noqa: PLR0917 (the documented positional API)
    store: TickStore,
    exchange: str,
    symbol: str,
    start: date,
    end: date,
    params: FeatureParams,
    labels: LabelParams | None = None,
    microprice: MicropriceModel | None = None,
    with_depth: bool = True,
) -> pd.DataFrame:
    """All days of :func:`iter_feature_days` in one frame (for ranges that fit in memory)."""
    parts = [f for _, f in iter_feature_days(store, exchange, symbol, start, end, params, labels,
                                             microprice, with_depth, keep_frames=True)]
    return pd.concat(parts, ignore_index=True)
