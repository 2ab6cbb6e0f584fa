"""The venue's market: a stored (or synthetic) day as one tape in arrival order, and the venue's book.

The tape merges the day's ``trades``, ``bbo`` and ``depth`` tables by ``(ts_ns, seq)`` into events
(one per trade, per bbo row, per depth message). :class:`VenueBook` is the book the venue shows:
depth messages set levels, every bbo sets the top of book and removes levels through it (so REST
depth, ``@bookTicker`` and the fill model agree at all times, also for stores whose depth is sparser
than their bbo). The venue numbers its own updates: every level change takes the next update id, and
a ``@depth`` diff carries ``U`` = first and ``u`` = last id of the changes it publishes, so diffs
chain (``U`` = previous ``u`` + 1) and a REST snapshot's ``lastUpdateId`` is consistent with them by
construction, whatever ids the recording had.
"""

from __future__ import annotations

import heapq
from collections import deque
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa

from aurora.ticks.store import TickStore

TRADE, BBO, DEPTH = 0, 1, 2


@dataclass(frozen=True)
class Tape:
    """A day of market events. ``kind[i]`` selects the table, ``row[i]`` (and ``row_end[i]`` for a
    depth message, rows ``row[i]:row_end[i]``) the rows; ``ts_ns[i]`` its receive time."""

    ts_ns: np.ndarray
    kind: np.ndarray
    row: np.ndarray
    row_end: np.ndarray
    trades: dict[str, np.ndarray]
    bbo: dict[str, np.ndarray]
    depth: dict[str, np.ndarray]
    source: str

    def __len__(self) -> int:
        return len(self.ts_ns)


def _cols(table: pa.Table, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    return {n: table.column(n).to_numpy() for n in names}


def tape_from_tables(tables: dict[str, pa.Table], source: str) -> Tape:
    """Merge the three tables of one day into a :class:`Tape` (arrival order, ties by ``seq``)."""
    tr = _cols(tables["trades"], ("ts_ns", "seq", "price", "qty", "side"))
    bb = _cols(tables["bbo"], ("ts_ns", "seq", "bid_px", "bid_qty", "ask_px", "ask_qty"))
    dp = _cols(tables["depth"], ("ts_ns", "seq", "last_update_id", "side", "price", "qty", "is_snapshot"))
    n_d = len(dp["ts_ns"])
    if n_d:
        key = dp["last_update_id"] * 2 + dp["is_snapshot"].astype(np.int64)
        starts = np.flatnonzero(np.concatenate([[True], key[1:] != key[:-1]]))
    else:
        starts = np.zeros(0, np.int64)
    ends = np.concatenate([starts[1:], [n_d]]).astype(np.int64) if n_d else starts
    n_t, n_b = len(tr["ts_ns"]), len(bb["ts_ns"])
    ts = np.concatenate([tr["ts_ns"], bb["ts_ns"], dp["ts_ns"][starts]]).astype(np.int64)
    seq = np.concatenate([tr["seq"], bb["seq"], dp["seq"][starts]]).astype(np.int64)
    kind = np.concatenate([np.full(n_t, TRADE), np.full(n_b, BBO), np.full(len(starts), DEPTH)])
    kind = kind.astype(np.int8)
    row = np.concatenate([np.arange(n_t), np.arange(n_b), starts]).astype(np.int64)
    row_end = np.concatenate([np.arange(n_t) + 1, np.arange(n_b) + 1, ends]).astype(np.int64)
    order = np.lexsort((seq, ts))
    return Tape(ts[order], kind[order], row[order], row_end[order], tr, bb, dp, source)


def load_store_day(store_dir: Path, exchange: str, symbol: str, day: date | None) -> Tape | None:
    """The stored day (default: the latest with bbo) as a tape, or None when the store has none."""
    store = TickStore(store_dir)
    days = store.dates("bbo", exchange, symbol)
    if not days:
        return None
    if day is None:
        day = days[-1]
    elif day not in days:
        raise ValueError(f"the store {store_dir} has no bbo for {exchange}/{symbol} on {day}; "
                         f"stored days: {', '.join(d.isoformat() for d in days[-10:])}")
    tables = {t: store.read(t, exchange, symbol, day, day) for t in ("trades", "bbo", "depth")}
    return tape_from_tables(tables, f"store {store_dir} {exchange}/{symbol} {day}")


def synthetic_tape(symbol: str, hours: float, seed: int, tick_size: float, day: date | None = None) -> Tape:
    """A synthetic market (``aurora.ticks.synth``) of ``hours`` from midnight of ``day`` (UTC)."""
    start = datetime.combine(day, datetime.min.time(), tzinfo=UTC) if day else \
        datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
    from aurora.ticks.synth import generate  # numba: compiled only when a synthetic market is asked for

    tables = generate(symbol, hours, seed, start, tick_size=tick_size)
    return tape_from_tables(tables, f"synthetic {symbol} seed={seed} hours={hours}")


class VenueBook:
    """Price levels per side plus the venue's own update-id chain (see the module docstring)."""

    def __init__(self, max_levels: int, keep_snapshots: int = 64) -> None:
        self.bids: dict[float, float] = {}
        self.asks: dict[float, float] = {}
        self.update_id = 0
        self.max_levels = max_levels
        self._pending: dict[tuple[int, float], float] = {}
        self._first_pending = 1
        self._published: deque[tuple[int, list[list[str]], list[list[str]]]] = deque(maxlen=keep_snapshots)
        self._bbo: tuple[float, float] | None = None

    def _set(self, side: int, price: float, qty: float) -> None:
        levels = self.bids if side > 0 else self.asks
        if qty > 0:
            if levels.get(price) == qty:
                return
            levels[price] = qty
        elif levels.pop(price, None) is None:
            return
        if not self._pending:
            self._first_pending = self.update_id + 1
        self.update_id += 1
        self._pending[(side, price)] = qty

    def apply_depth(self, sides: np.ndarray, prices: np.ndarray, qtys: np.ndarray, snapshot: bool) -> None:
        """A stored depth message; a snapshot replaces every level (as changes, so diffs stay chained)."""
        if snapshot:
            rows = list(zip(sides.tolist(), prices.tolist(), qtys.tolist(), strict=True))
            new_b = {p: q for s, p, q in rows if s > 0 and q > 0}
            new_a = {p: q for s, p, q in rows if s < 0 and q > 0}
            for p in [p for p in self.bids if p not in new_b]:
                self._set(1, p, 0.0)
            for p in [p for p in self.asks if p not in new_a]:
                self._set(-1, p, 0.0)
            for p, q in new_b.items():
                self._set(1, p, q)
            for p, q in new_a.items():
                self._set(-1, p, q)
        else:
            for s, p, q in zip(sides, prices, qtys, strict=True):
                self._set(int(s), float(p), float(q))
        if self._bbo is not None:
            self._trim(*self._bbo)

    def apply_bbo(self, bid_px: float, bid_qty: float, ask_px: float, ask_qty: float) -> None:
        self._bbo = (bid_px, ask_px)
        self._trim(bid_px, ask_px)
        self._set(1, bid_px, bid_qty)
        self._set(-1, ask_px, ask_qty)

    def _trim(self, bid_px: float, ask_px: float) -> None:
        """Remove levels through the latest bbo: bids above its bid or at/above its ask, and mirror."""
        for p in [p for p in self.bids if p > bid_px or p >= ask_px]:
            self._set(1, p, 0.0)
        for p in [p for p in self.asks if p < ask_px or p <= bid_px]:
            self._set(-1, p, 0.0)
        if len(self.bids) > self.max_levels:
            for p in heapq.nsmallest(len(self.bids) - self.max_levels, self.bids):
                self._set(1, p, 0.0)
        if len(self.asks) > self.max_levels:
            for p in heapq.nlargest(len(self.asks) - self.max_levels, self.asks):
                self._set(-1, p, 0.0)

    def top(self, n: int) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
        """The best ``n`` levels per side, best first."""
        bids = [(p, self.bids[p]) for p in heapq.nlargest(n, self.bids)]
        asks = [(p, self.asks[p]) for p in heapq.nsmallest(n, self.asks)]
        return bids, asks

    def take_diff(self, skip_id: bool = False) -> tuple[int, int, list[list[str]], list[list[str]]] | None:
        """The changes since the last call as ``(U, u, bids, asks)`` (None when nothing changed).

        ``skip_id`` burns one update id first: the diff then starts at ``previous u + 2`` (a sequence gap,
        for fault injection). Each published state is kept for stale-snapshot faults.
        """
        if not self._pending:
            return None
        if skip_id:
            self.update_id += 1
        first = self._first_pending + (1 if skip_id else 0)
        b = [[_f(p), _f(q)] for (s, p), q in self._pending.items() if s > 0]
        a = [[_f(p), _f(q)] for (s, p), q in self._pending.items() if s < 0]
        self._pending = {}
        snap_b, snap_a = self.snapshot_levels(self.max_levels)
        self._published.append((self.update_id, snap_b, snap_a))
        return first, self.update_id, b, a

    def snapshot_levels(self, limit: int) -> tuple[list[list[str]], list[list[str]]]:
        bids, asks = self.top(limit)
        return [[_f(p), _f(q)] for p, q in bids], [[_f(p), _f(q)] for p, q in asks]

    def stale_snapshot(self, age: int, limit: int) -> tuple[int, list[list[str]], list[list[str]]] | None:
        """A published state ``age`` diffs old (the oldest kept if fewer), or None before any."""
        if not self._published:
            return None
        uid, b, a = self._published[max(0, len(self._published) - 1 - age)]
        return uid, b[:limit], a[:limit]


def _f(x: float) -> str:
    return f"{x:.8f}"
