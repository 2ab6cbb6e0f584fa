"""Market sources: events in the tick-store schema, in arrival order (``seq``).

An event is a plain tuple (cheap to make a million of), its first item the kind:

- ``(QUOTE, ts_ns, update_id, bid_px, bid_qty, ask_px, ask_qty)`` — a best bid/offer update;
- ``(TRADE, ts_ns, price, qty, side)`` — side +1 taker buy, −1 taker sell;
- ``(BOOK, ts_ns, bid_px, bid_qty, ask_px, ask_qty, in_sync)`` — the rebuilt L2 book's top levels
  (arrays, best first, NaN-padded) after one depth message.

:class:`StoreReplay` reads a window of the tick store. It starts early enough that every feature
at the window's first quote sees the history a continuous reader would have (the feature
context: the longest window or the impact window, plus the quote before it and every trade
after that quote), and rebuilds the book the way the feature table does (from the start of the
day before the window when that day is stored, else from the window's own day). Events before
``start_ns`` are *warm-up*: the runner computes features on them but decides nothing. Its
:meth:`StoreReplay.events` are the same events as columns (:class:`ReplayEvents`), which the
runner's replay fast path (:mod:`aurora.runner.fastpath`) reads without making a tuple of each.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numba as nb
import numpy as np
import pyarrow.compute as pc

from aurora.core.book import OrderBook, replay_depth
from aurora.core.features import NS, FeatureParams
from aurora.ticks.schema import FUTURES_EXCHANGES
from aurora.ticks.store import TickStore

QUOTE, TRADE, BOOK = 0, 1, 2
Event = tuple


class SourceError(ValueError):
    """The requested window holds no data, or is malformed; the message says which."""


def utc_day(ts_ns: int) -> date:
    return datetime.fromtimestamp(ts_ns / NS, UTC).date()


def last_quote_ns(store: TickStore, exchange: str, symbol: str) -> int:
    """Receive time of the last stored quote of the symbol (the default end of a replay)."""
    days = store.dates("bbo", exchange, symbol)
    if not days:
        raise SourceError(f"no bbo data for {symbol} on {exchange} in the store {store.root}")
    ts = store.read("bbo", exchange, symbol, days[-1], days[-1], ["ts_ns"]).column("ts_ns")
    return int(pc.max(ts).as_py())


@dataclass
class StoreReplay:
    """Replay ``[start_ns, end_ns)`` of one symbol from the tick store, as fast as it is read.

    ``book_levels`` is how many levels each BOOK event carries (0: read no depth)."""

    store: TickStore
    exchange: str
    symbol: str
    start_ns: int
    end_ns: int
    params: FeatureParams
    book_levels: int

    def __post_init__(self) -> None:
        if self.end_ns <= self.start_ns:
            raise SourceError(f"replay window is empty: start {self.start_ns} >= end {self.end_ns} (ns)")

    @property
    def warm_ns(self) -> int:
        """Receive time from which the feature context is needed."""
        return self.start_ns - round(self.params.context_s * NS)

    def _read(self, table: str, first: date, columns: list[str]) -> dict[str, np.ndarray]:
        data = self.store.read(table, self.exchange, self.symbol, first, utc_day(self.end_ns - 1), columns)
        return {c: data.column(c).to_numpy(zero_copy_only=False) for c in columns}

    def _book(self, after_seq: int) -> dict[str, np.ndarray] | None:
        first = utc_day(self.start_ns)
        stored = set(self.store.dates("depth", self.exchange, self.symbol))
        if not stored or self.book_levels <= 0:
            return None
        if first - timedelta(days=1) in stored:
            first -= timedelta(days=1)
        cols = ["ts_ns", "seq", "first_update_id", "last_update_id", "prev_update_id", "side", "price",
                "qty", "is_snapshot"]
        data = self.store.read("depth", self.exchange, self.symbol, first, utc_day(self.end_ns - 1), cols)
        data = data.set_column(4, "prev_update_id", pc.fill_null(data.column(4), -1))
        depth = {c: data.column(c).to_numpy(zero_copy_only=False) for c in cols}
        tops = replay_depth(depth, self.book_levels,
                            book=OrderBook(futures=self.exchange in FUTURES_EXCHANGES))
        keep = np.flatnonzero((tops["seq"] >= after_seq) & (tops["ts_ns"] < self.end_ns))
        # the last message before the warm-up holds the book state the warm-up starts from
        before = np.flatnonzero(tops["seq"] < after_seq)
        if before.size:
            keep = np.r_[before[-1:], keep]
        return {k: v[keep] for k, v in tops.items() if k != "result"}

    def events(self) -> ReplayEvents:
        """Read the window (and its warm-up) from the store."""
        first = utc_day(self.warm_ns)
        quotes = self._read("bbo", first, ["ts_ns", "seq", "update_id", "bid_px", "bid_qty", "ask_px",
                                           "ask_qty"])
        ts = quotes["ts_ns"]
        if not np.any((ts >= self.start_ns) & (ts < self.end_ns)):
            raise SourceError(f"no quotes of {self.symbol} on {self.exchange} between "
                              f"{_iso(self.start_ns)} and {_iso(self.end_ns)}")
        # from the last quote at or before the warm-up start (the first order-flow term needs it)
        i0 = max(int(np.searchsorted(ts, self.warm_ns, side="right")) - 1, 0)
        i1 = int(np.searchsorted(ts, self.end_ns, side="left"))
        quotes = {k: v[i0:i1] for k, v in quotes.items()}
        seq0 = int(quotes["seq"][0])
        trades = self._read("trades", first, ["ts_ns", "seq", "price", "qty", "side"])
        t_keep = (trades["seq"] >= seq0) & (trades["ts_ns"] < self.end_ns)
        trades = {k: v[t_keep] for k, v in trades.items()}
        return ReplayEvents.merge(quotes, trades, self._book(seq0))

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events())


@dataclass(frozen=True)
class ReplayEvents:
    """A replay's events as columns: event ``i`` is of kind ``kind[i]`` and is row ``row[i]`` of
    its table — ``quotes`` (``ts_ns``, ``update_id``, ``bid_px``, ``bid_qty``, ``ask_px``,
    ``ask_qty``), ``trades`` (``ts_ns``, ``price``, ``qty``, ``side``) or ``book`` (``ts_ns``,
    ``bid_px``/``bid_qty``/``ask_px``/``ask_qty`` of shape (messages, levels), ``in_sync``; None
    without depth) — in arrival (``seq``) order. Iterating gives the event tuples."""

    kind: np.ndarray  # int8: QUOTE, TRADE, BOOK
    row: np.ndarray   # int64
    quotes: dict[str, np.ndarray]
    trades: dict[str, np.ndarray]
    book: dict[str, np.ndarray] | None

    @classmethod
    def merge(cls, quotes: dict[str, np.ndarray], trades: dict[str, np.ndarray],
              book: dict[str, np.ndarray] | None) -> ReplayEvents:
        """Interleave the tables by ``seq`` (on equal ones quotes, then trades, then book, each
        table's own order kept: a stable sort of the three)."""
        no_book = np.zeros(0, np.int64)
        parts = [np.asarray(quotes["seq"], np.int64), np.asarray(trades["seq"], np.int64),
                 no_book if book is None else np.asarray(book["seq"], np.int64)]
        if all(p.size < 2 or bool((p[1:] >= p[:-1]).all()) for p in parts):
            kind, row = _interleave(*parts)  # the usual case: each table in seq order already
            return cls(kind, row, quotes, trades, book)
        kinds = [np.full(p.size, k, np.int8) for p, k in zip(parts, (QUOTE, TRADE, BOOK), strict=True)]
        order = np.argsort(np.concatenate(parts), kind="stable")
        row = np.concatenate([np.arange(p.size, dtype=np.int64) for p in parts])
        return cls(np.concatenate(kinds)[order], row[order], quotes, trades, book)

    def __len__(self) -> int:
        return int(self.kind.size)

    def event(self, i: int) -> Event:
        """Event ``i`` as the tuple iteration gives."""
        r = int(self.row[i])
        k = int(self.kind[i])
        if k == QUOTE:
            q = self.quotes
            return (QUOTE, int(q["ts_ns"][r]), int(q["update_id"][r]), float(q["bid_px"][r]),
                    float(q["bid_qty"][r]), float(q["ask_px"][r]), float(q["ask_qty"][r]))
        if k == TRADE:
            t = self.trades
            return (TRADE, int(t["ts_ns"][r]), float(t["price"][r]), float(t["qty"][r]), int(t["side"][r]))
        return self.book_event(r)

    def book_event(self, r: int) -> Event:
        """Row ``r`` of the book table as its event tuple."""
        b = self.book
        assert b is not None
        return (BOOK, int(b["ts_ns"][r]), b["bid_px"][r], b["bid_qty"][r], b["ask_px"][r], b["ask_qty"][r],
                bool(b["in_sync"][r]))

    def __iter__(self) -> Iterator[Event]:
        q, t = self.quotes, self.trades
        quotes = list(zip(q["ts_ns"].tolist(), q["update_id"].tolist(), q["bid_px"].tolist(),
                          q["bid_qty"].tolist(), q["ask_px"].tolist(), q["ask_qty"].tolist(), strict=True))
        trades = list(zip(t["ts_ns"].tolist(), t["price"].tolist(), t["qty"].tolist(), t["side"].tolist(),
                          strict=True))
        for k, r in zip(self.kind.tolist(), self.row.tolist(), strict=True):
            if k == QUOTE:
                yield (QUOTE, *quotes[r])
            elif k == TRADE:
                yield (TRADE, *trades[r])
            else:
                yield self.book_event(r)


@nb.njit(cache=True)
def _interleave(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(kind, row) of the stable sort of three ascending ``seq`` columns (0: ``a``, 1: ``b``, 2:
    ``c``), merged in one pass: a day's ~10 M events, ~10× faster than ``argsort``."""
    n = a.size + b.size + c.size
    kind = np.empty(n, np.int8)
    row = np.empty(n, np.int64)
    i = j = k = 0
    for m in range(n):
        # take from the first table whose next seq is the smallest (ties: the earlier table)
        take = 0 if i < a.size else (1 if j < b.size else 2)
        if take == 0 and j < b.size and b[j] < a[i]:
            take = 1
        best = a[i] if take == 0 else (b[j] if take == 1 else c[k])
        if take < 2 and k < c.size and c[k] < best:
            take = 2
        kind[m] = take
        if take == 0:
            row[m] = i
            i += 1
        elif take == 1:
            row[m] = j
            j += 1
        else:
            row[m] = k
            k += 1
    return kind, row


def _iso(ts_ns: int) -> str:
    return datetime.fromtimestamp(ts_ns / NS, UTC).isoformat()
