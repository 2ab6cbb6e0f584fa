"""Order book: Binance bootstrap rule, gap detection and resync, top levels, real-data agreement."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED_WS
from hypothesis import given, settings
from hypothesis import strategies as st

from aurora.core.book import DiffResult, OrderBook, replay_depth
from aurora.ticks.binance_ws import parse_recording

FIX = Path(__file__).resolve().parent / "fixtures" / "binance_ws"
SHARED = SHARED_WS.parent
E = np.array([])


def arr(*v: float) -> np.ndarray:
    return np.array(v, dtype=float)


def test_bootstrap_buffers_drops_stale_and_requires_a_straddling_first_diff() -> None:
    book = OrderBook()
    assert book.apply_diff(90, 95, arr(99.0), arr(1.0), E, E) == DiffResult.BUFFERED
    assert book.apply_diff(96, 103, arr(100.0), arr(2.0), arr(101.0), arr(0.0)) == DiffResult.BUFFERED
    assert not book.in_sync and np.isnan(book.best_bid()[0])
    res = book.apply_snapshot(100, arr(100.0, 99.0), arr(1.0, 5.0), arr(101.0, 102.0), arr(3.0, 4.0))
    assert res == DiffResult.APPLIED and book.in_sync
    # diff 90..95 dropped (u ≤ 100); 96..103 straddles 101 and is applied
    assert book.best_bid() == (100.0, 2.0) and book.best_ask() == (102.0, 4.0)
    assert book.last_update_id == 103
    assert book.apply_diff(104, 104, arr(100.5), arr(1.0), E, E) == DiffResult.APPLIED
    assert book.apply_diff(100, 104, arr(1.0), arr(1.0), E, E) == DiffResult.STALE
    bp, _, _, aq = book.top_levels(4)
    np.testing.assert_array_equal(bp, [100.5, 100.0, 99.0, np.nan])
    np.testing.assert_array_equal(aq, [4.0, np.nan, np.nan, np.nan])


def test_gap_is_reported_clears_the_book_and_resyncs_on_next_snapshot() -> None:
    book = OrderBook()
    book.apply_snapshot(10, arr(100.0), arr(1.0), arr(101.0), arr(1.0))
    assert book.apply_diff(11, 12, arr(100.0), arr(2.0), E, E) == DiffResult.APPLIED
    assert book.apply_diff(14, 15, arr(100.0), arr(3.0), E, E) == DiffResult.GAP    # 13 missing
    assert book.gaps == 1 and not book.in_sync
    assert all(np.isnan(x).all() for x in book.top_levels(3))                        # never patched
    assert book.apply_diff(16, 17, arr(99.0), arr(1.0), E, E) == DiffResult.BUFFERED
    assert book.apply_snapshot(15, arr(100.0), arr(3.0), arr(101.0), arr(1.0)) == DiffResult.APPLIED
    assert book.in_sync and book.last_update_id == 17
    assert book.top_levels(2)[0].tolist() == [100.0, 99.0]


def test_snapshot_older_than_buffered_diffs_is_a_gap() -> None:
    book = OrderBook()
    book.apply_diff(20, 25, arr(1.0), arr(1.0), E, E)
    assert book.apply_snapshot(10, arr(1.0), arr(1.0), arr(2.0), arr(1.0)) == DiffResult.GAP
    assert not book.in_sync and book.gaps == 1


def test_futures_rule_uses_pu() -> None:
    book = OrderBook(futures=True)
    book.apply_snapshot(100, arr(10.0), arr(1.0), arr(11.0), arr(1.0))
    assert book.apply_diff(95, 99, arr(10.0), arr(2.0), E, E, prev_id=90) == DiffResult.STALE  # u < L
    assert book.apply_diff(98, 105, arr(10.0), arr(2.0), E, E, prev_id=97) == DiffResult.APPLIED  # U ≤ L ≤ u
    assert book.apply_diff(110, 120, arr(10.0), arr(3.0), E, E, prev_id=105) == DiffResult.APPLIED
    assert book.apply_diff(130, 140, arr(10.0), arr(4.0), E, E, prev_id=125) == DiffResult.GAP


def test_futures_first_diff_may_end_at_the_snapshot_id() -> None:
    """Binance futures: drop ``u < L``; a buffered diff with ``u == L`` is the first applied, and
    the next one chains on it by ``pu == L`` (the shared USD-M ETHUSDT file has exactly this)."""
    book = OrderBook(futures=True)
    assert book.apply_diff(90, 96, arr(10.0), arr(9.0), E, E, prev_id=85) == DiffResult.BUFFERED
    assert book.apply_diff(97, 100, arr(10.0), arr(2.0), E, E, prev_id=96) == DiffResult.BUFFERED
    assert book.apply_diff(101, 104, E, E, arr(11.0), arr(5.0), prev_id=100) == DiffResult.BUFFERED
    assert book.apply_snapshot(100, arr(10.0), arr(1.0), arr(11.0), arr(1.0)) == DiffResult.APPLIED
    assert book.in_sync and book.gaps == 0 and book.stale == 1 and book.last_update_id == 104
    assert book.best_bid() == (10.0, 2.0) and book.best_ask() == (11.0, 5.0)
    # the same straddle arriving live (after the snapshot) is applied too
    live = OrderBook(futures=True)
    live.apply_snapshot(100, arr(10.0), arr(1.0), arr(11.0), arr(1.0))
    assert live.apply_diff(97, 100, arr(10.0), arr(2.0), E, E, prev_id=96) == DiffResult.APPLIED
    assert live.apply_diff(101, 104, E, E, arr(11.0), arr(5.0), prev_id=100) == DiffResult.APPLIED
    # a first diff that starts after L is a gap; so is a later pu that does not chain
    late = OrderBook(futures=True)
    late.apply_snapshot(100, arr(10.0), arr(1.0), arr(11.0), arr(1.0))
    assert late.apply_diff(101, 104, E, E, arr(11.0), arr(5.0), prev_id=100) == DiffResult.GAP
    chained = OrderBook(futures=True)
    chained.apply_snapshot(100, arr(10.0), arr(1.0), arr(11.0), arr(1.0))
    assert chained.apply_diff(99, 101, E, E, arr(11.0), arr(5.0), prev_id=98) == DiffResult.APPLIED
    assert chained.apply_diff(103, 104, E, E, arr(11.0), arr(6.0), prev_id=102) == DiffResult.GAP


def test_spot_rule_drops_u_equal_to_the_snapshot_id() -> None:
    """Binance spot: drop ``u ≤ L``; the first diff has ``U ≤ L+1 ≤ u``; then ``U == previous u + 1``."""
    book = OrderBook()
    book.apply_snapshot(100, arr(10.0), arr(1.0), arr(11.0), arr(1.0))
    assert book.apply_diff(97, 100, arr(10.0), arr(2.0), E, E) == DiffResult.STALE
    assert book.apply_diff(101, 101, arr(10.0), arr(3.0), E, E) == DiffResult.APPLIED   # U == L+1
    assert book.apply_diff(102, 105, arr(10.0), arr(4.0), E, E) == DiffResult.APPLIED
    assert book.apply_diff(107, 108, arr(10.0), arr(5.0), E, E) == DiffResult.GAP       # 106 missing
    after = OrderBook()
    after.apply_snapshot(100, arr(10.0), arr(1.0), arr(11.0), arr(1.0))
    assert after.apply_diff(102, 103, arr(10.0), arr(2.0), E, E) == DiffResult.GAP      # L+1 < U


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared recordings not present")
@pytest.mark.parametrize(("path", "symbol", "exchange"), [
    ("usdm/ethusdt_20240808.gz", "ETHUSDT", "binance-usdm"),
    ("usdm/btcusdt_20240808.gz", "BTCUSDT", "binance-usdm"),
    ("cm/btcusd_perp_20240808.gz", "BTCUSD_PERP", "binance-coinm"),
    ("spot/btcusdt_20240808.gz", "BTCUSDT", "binance"),
])
def test_real_recordings_sync_from_their_snapshot(path: str, symbol: str, exchange: str) -> None:
    """Every shared recording syncs at its REST snapshot and stays in sync (no gap) to the end.
    The USD-M ETHUSDT file buffers a diff with ``u == lastUpdateId``: under a spot-like rule it
    never synced and every book feature was NaN."""
    rec = parse_recording(SHARED / path, symbol, exchange)
    out = replay_depth(rec.tables["depth"], 5, futures=exchange != "binance")
    first_sync = int(np.argmax(out["in_sync"]))
    assert out["in_sync"][first_sync:].all() and first_sync < 50
    assert not (out["result"] == DiffResult.GAP).any()
    assert np.isfinite(out["bid_px"][first_sync:, 0]).all()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([1, -1]), st.integers(1, 40),
                          st.sampled_from([0.0, 0.5, 1.0, 2.0])), max_size=120))
def test_levels_match_a_dict_model(updates) -> None:
    book = OrderBook()
    book.apply_snapshot(0, arr(20.0), arr(1.0), arr(21.0), arr(1.0))
    model = {1: {20.0: 1.0}, -1: {21.0: 1.0}}
    for i, (side, px, qty) in enumerate(updates, start=1):
        price = float(px) if side == 1 else 20.0 + px
        if side == 1:
            book.apply_diff(i, i, arr(price), arr(qty), E, E)
        else:
            book.apply_diff(i, i, E, E, arr(price), arr(qty))
        if qty == 0.0:
            model[side].pop(price, None)
        else:
            model[side][price] = qty
    bp, bq, ap, aq = book.top_levels(50)
    bids = sorted(model[1].items(), reverse=True)
    asks = sorted(model[-1].items())
    assert bp[: len(bids)].tolist() == [p for p, _ in bids] and np.isnan(bp[len(bids):]).all()
    assert bq[: len(bids)].tolist() == [q for _, q in bids]
    assert ap[: len(asks)].tolist() == [p for p, _ in asks]
    assert aq[: len(asks)].tolist() == [q for _, q in asks]
    assert book.levels() == (len(bids), len(asks))


def test_replay_of_real_depth_agrees_with_book_ticker() -> None:
    rec = parse_recording(FIX / "btcusdt_20240808_head.gz", "BTCUSDT")
    depth = rec.tables["depth"].to_pandas()
    out = replay_depth(depth, 5)
    m = len(out["seq"])
    assert m == rec.stats.per_stream["depth"] + 1
    assert out["bid_px"].shape == (m, 5)
    # three diffs arrive before the snapshot (buffered); from the snapshot on the book is in sync
    assert not out["in_sync"][:3].any() and out["in_sync"][3:].all()
    assert not (out["result"] == DiffResult.GAP).any()
    # for every depth message whose last update id equals a bookTicker update id, the top of the
    # rebuilt book is exactly that bookTicker
    last_u = depth.groupby("seq", sort=False).last_update_id.first().to_numpy()
    bbo = rec.tables["bbo"].to_pandas()
    j = np.searchsorted(bbo.update_id.to_numpy(), last_u, side="right") - 1
    same = out["in_sync"] & (j >= 0) & (bbo.update_id.to_numpy()[np.maximum(j, 0)] == last_u)
    assert same.sum() > 20
    for col in ("bid_px", "bid_qty", "ask_px", "ask_qty"):
        assert (out[col][same, 0] == bbo[col].to_numpy()[j[same]]).mean() > 0.95
    # and the latest bookTicker before each message agrees on prices nearly always
    near = out["in_sync"] & (j >= 0)
    assert (out["bid_px"][near, 0] == bbo.bid_px.to_numpy()[j[near]]).mean() > 0.9


def test_replay_continues_across_calls_with_the_same_book() -> None:
    rec = parse_recording(FIX / "btcusdt_20240808_head.gz", "BTCUSDT")
    depth = rec.tables["depth"].to_pandas()
    whole = replay_depth(depth, 3)
    cut = int(np.flatnonzero(np.diff(depth.seq.to_numpy()))[len(whole["seq"]) // 2]) + 1
    book = OrderBook()
    a = replay_depth(depth.iloc[:cut], 3, book=book)
    b = replay_depth(depth.iloc[cut:], 3, book=book)
    np.testing.assert_array_equal(np.vstack([a["bid_px"], b["bid_px"]]), whole["bid_px"])
    np.testing.assert_array_equal(np.concatenate([a["in_sync"], b["in_sync"]]), whole["in_sync"])


class _Reference:
    """Straightforward model of the spot and futures protocols (dicts and lists) for the property
    test; each diff carries ``pu`` (used by futures only)."""

    def __init__(self, max_buffer: int, futures: bool = False) -> None:
        self.futures = futures
        self.synced = self.awaiting = False
        self.last = -1
        self.buffer: list[tuple[int, int, list]] = []
        self.bids: dict[float, float] = {}
        self.asks: dict[float, float] = {}
        self.max_buffer = max_buffer

    def _levels(self, levels) -> None:
        for side, px, qty in levels:
            book = self.bids if side > 0 else self.asks
            if qty == 0:
                book.pop(px, None)
            else:
                book[px] = qty

    def _synced_diff(self, first, last, pu, levels) -> DiffResult:
        if (last < self.last) if (self.futures and self.awaiting) else (last <= self.last):
            return DiffResult.STALE
        if self.futures:
            ok = first <= self.last <= last if self.awaiting else pu == self.last
        else:
            ok = first <= self.last + 1 <= last if self.awaiting else first == self.last + 1
        if not ok:
            self.synced = self.awaiting = False
            self.bids, self.asks = {}, {}
            return DiffResult.GAP
        self._levels(levels)
        self.last, self.awaiting = last, False
        return DiffResult.APPLIED

    def diff(self, first, last, pu, levels) -> DiffResult:
        if not self.synced:
            if len(self.buffer) >= self.max_buffer:
                self.buffer = self.buffer[len(self.buffer) - self.max_buffer // 2:]
            self.buffer.append((first, last, pu, levels))
            return DiffResult.BUFFERED
        res = self._synced_diff(first, last, pu, levels)
        if res == DiffResult.GAP:
            self.buffer = [(first, last, pu, levels)]
        return res

    def snapshot(self, lid, levels) -> DiffResult:
        if self.synced and lid <= self.last:
            return DiffResult.STALE
        self.bids, self.asks = {}, {}
        self._levels([lv for lv in levels if lv[2] > 0])
        self.last, self.synced, self.awaiting = lid, True, True
        for i, (f, u, pu, lv) in enumerate(self.buffer):
            if self._synced_diff(f, u, pu, lv) == DiffResult.GAP:
                self.buffer = self.buffer[i:]
                return DiffResult.GAP
        self.buffer = []
        return DiffResult.APPLIED

    def top(self, n):
        bids = sorted(self.bids.items(), reverse=True)[:n] if self.synced else []
        asks = sorted(self.asks.items())[:n] if self.synced else []
        return [p for p, _ in bids], [p for p, _ in asks]


_level = st.tuples(st.sampled_from([1, -1]), st.integers(1, 12).map(float), st.sampled_from([0.0, 1.0, 2.5]))
_message = st.tuples(st.sampled_from(["diff", "diff", "diff", "snap"]), st.integers(-3, 4), st.integers(0, 3),
                     st.lists(_level, max_size=4))


@settings(max_examples=150, deadline=None)
@given(st.lists(_message, min_size=1, max_size=40), st.integers(2, 6), st.booleans())
def test_protocol_matches_a_reference_model(msgs, max_buffer, futures) -> None:
    ref = _Reference(max_buffer, futures)
    book = OrderBook(futures=futures, max_buffer=max_buffer)
    rows: dict[str, list] = {k: [] for k in DEPTH_COLUMNS}
    cursor = 100
    prev_u = -1
    expected = []
    for seq, (kind, jump, width, levels) in enumerate(msgs):
        if kind == "snap":
            lid = cursor + jump
            res = ref.snapshot(lid, levels)
            got = book.apply_snapshot(lid, *_split(levels))
            first = last = lid
            pu = -1
        else:
            first = cursor + 1 + (jump if jump in (-3, 3) else 0)   # mostly contiguous, sometimes not
            last = first + width
            cursor = max(cursor, last)
            # futures chain by pu: the previous diff's u, sometimes not (a lost message)
            pu = prev_u + (1 if jump == 2 else 0)
            prev_u = last
            res = ref.diff(first, last, pu, levels)
            got = book.apply_diff(first, last, *_split(levels), prev_id=pu)
        assert got == res
        assert book.in_sync == ref.synced
        bids, asks = ref.top(5)
        bp, _, ap, _ = book.top_levels(5)
        assert bp[: len(bids)].tolist() == bids and np.isnan(bp[len(bids):]).all()
        assert ap[: len(asks)].tolist() == asks and np.isnan(ap[len(asks):]).all()
        expected.append((res, bids))
        for side, px, qty in levels or [(1, 999.0, 0.0)]:   # an empty message: delete an absent level
            values = (seq, seq, first, last, pu, side, px, qty, kind == "snap")
            for k, v in zip(DEPTH_COLUMNS, values, strict=True):
                rows[k].append(v)
    # the batch replay of the same messages gives the same results
    table = {k: np.array(v) for k, v in rows.items()}
    out = replay_depth(table, 5, book=OrderBook(futures=futures, max_buffer=max_buffer))
    assert out["result"].tolist() == [int(r) for r, _ in expected]
    for i, (_, bids) in enumerate(expected):
        assert out["bid_px"][i, : len(bids)].tolist() == bids


DEPTH_COLUMNS = ("seq", "ts_ns", "first_update_id", "last_update_id", "prev_update_id", "side", "price",
                 "qty", "is_snapshot")


def _split(levels):
    bids = [(p, q) for s, p, q in levels if s > 0]
    asks = [(p, q) for s, p, q in levels if s < 0]
    return (np.array([p for p, _ in bids]), np.array([q for _, q in bids]),
            np.array([p for p, _ in asks]), np.array([q for _, q in asks]))


def test_deep_deletes_and_compaction_keep_the_levels_of_a_dict_model() -> None:
    """Hundreds of levels deleted far from the touch leave tombstones that are re-used and
    compacted away: the book still reads exactly like a dict of live levels."""
    rng = np.random.default_rng(3)
    book = OrderBook()
    book.apply_snapshot(0, arr(100.0), arr(1.0), arr(1001.0), arr(1.0))
    model = {1: {100.0: 1.0}, -1: {1001.0: 1.0}}
    for i in range(1, 4001):
        side = 1 if rng.random() < 0.5 else -1
        price = float(rng.integers(1, 1001)) if side == 1 else float(rng.integers(1001, 2001))
        # insert-heavy first (the book grows to hundreds of levels), delete-heavy after
        qty = 0.0 if rng.random() < (0.2 if i < 2000 else 0.9) else float(rng.integers(1, 9))
        book.apply_diff(i, i, *((arr(price), arr(qty), E, E) if side == 1 else (E, E, arr(price), arr(qty))))
        if qty == 0.0:
            model[side].pop(price, None)
        else:
            model[side][price] = qty
        if i % 500 == 0:
            bids = sorted(model[1].items(), reverse=True)
            asks = sorted(model[-1].items())
            bp, bq, ap, aq = book.top_levels(1000)
            assert book.levels() == (len(bids), len(asks))
            assert bp[: len(bids)].tolist() == [p for p, _ in bids] and np.isnan(bp[len(bids):]).all()
            assert bq[: len(bids)].tolist() == [q for _, q in bids]
            assert ap[: len(asks)].tolist() == [p for p, _ in asks] and np.isnan(ap[len(asks):]).all()
            assert aq[: len(asks)].tolist() == [q for _, q in asks]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-20, 20), max_size=40), st.integers(-22, 22))
def test_lower_bound_is_searchsorted(values, key) -> None:
    """The branch-free search the level updates use returns numpy's left insertion point,
    duplicates and the ends included."""
    from aurora.core.book import _lower_bound

    keys = np.sort(np.array(values, dtype=np.float64))
    padded = np.r_[keys, np.full(3, np.nan)]  # only keys[:n] may be read
    assert _lower_bound(padded, len(keys), float(key)) == np.searchsorted(keys, float(key))


def test_move_shifts_overlapping_ranges_both_ways() -> None:
    """``_move`` (one memmove) is ``a[dst:dst+count] = a[src:src+count]`` even when the ranges
    overlap, up or down, and touches nothing else."""
    from numba import njit

    from aurora.core.book import _move

    @njit
    def move(a, dst, src, count):
        _move(a, dst, src, count)

    for dst, src, count in ((3, 2, 5), (1, 4, 4), (0, 0, 6), (5, 1, 0)):
        a = np.arange(10.0)
        want = a.copy()
        want[dst:dst + count] = a[src:src + count].copy()
        move(a, dst, src, count)
        np.testing.assert_array_equal(a, want)
