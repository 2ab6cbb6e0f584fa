"""Pure pieces of the runner's decision path: regime, realised volatility, the runner's SPRT,
slippage estimates from the book; a replay's events as columns."""

from __future__ import annotations

import math

import numpy as np
import pytest

from aurora.core.regime import HIGH_VOL, NORMAL, WIDE_SPREAD, RealizedVol, classify
from aurora.core.risk import SPRT, sprt_bounds
from aurora.core.slippage import estimate_bps
from aurora.core.sprt import after_gate, next_llr
from aurora.pipeline.study import realized_vol_bps
from aurora.runner.source import BOOK, QUOTE, TRADE, ReplayEvents


def test_classify():
    kw = {"wide_spread_bps": 10.0, "high_vol_bps": 20.0}
    assert classify(1.0, 5.0, **kw) == NORMAL
    assert classify(1.0, 20.0, **kw) == HIGH_VOL
    assert classify(10.0, 50.0, **kw) == WIDE_SPREAD  # a wide spread wins over volatility
    assert classify(math.nan, math.nan, **kw) == NORMAL


def test_realized_vol_matches_the_feature_study():
    rng = np.random.default_rng(5)
    ts = np.cumsum(rng.integers(1, 400_000_000, 5000))  # ns, ~0.2 s apart on average
    mid = 100.0 * np.exp(np.cumsum(rng.normal(0, 2e-5, ts.size)))
    rv = RealizedVol(60.0)
    got = []
    for t, m in zip(ts.tolist(), mid.tolist(), strict=True):
        rv.add(t, m)
        got.append(rv.at(t))
    np.testing.assert_allclose(got, realized_vol_bps(ts, mid, 60.0), rtol=1e-9, atol=1e-9)
    sparse = RealizedVol(60.0)  # asked only now and then, as a decision every second does
    want = realized_vol_bps(ts, mid, 60.0)
    for k, (t, m) in enumerate(zip(ts.tolist(), mid.tolist(), strict=True)):
        sparse.add(t, m)
        if k % 37 == 0:
            assert sparse.at(t) == pytest.approx(want[k], rel=1e-9, abs=1e-9)
    with pytest.raises(ValueError, match="window"):
        RealizedVol(0.0)


def test_runner_sprt_hand_worked():
    lower, upper = sprt_bounds(0.05, 0.2)  # ln(0.2/0.95) = −1.558, ln(0.8/0.05) = 2.773
    llr = 0.0
    for _ in range(3):  # each loss adds ln(0.3/0.5) = −0.511
        llr = next_llr(llr, False, 0.7, 0.5, lower=lower, upper=upper)
    assert llr == pytest.approx(3 * math.log(0.6))
    llr = next_llr(llr, False, 0.7, 0.5, lower=lower, upper=upper)
    assert llr == pytest.approx(4 * math.log(0.6)) and llr <= lower
    # held at the crossing (later trades do not move it) until a gate has acted on it
    assert next_llr(llr, True, 0.7, 0.5, lower=lower, upper=upper) == llr
    assert after_gate(llr, ("COOLOFF",), lower) == llr
    assert after_gate(llr, ("COOLOFF", SPRT), lower) == 0.0
    # 9 wins (ln 1.4 = 0.336 each) cross the upper boundary: restart from 0
    llr = 0.0
    for i in range(9):
        llr = next_llr(llr, True, 0.7, 0.5, lower=lower, upper=upper)
        assert llr == (pytest.approx((i + 1) * math.log(1.4)) if i < 8 else 0.0)
    assert next_llr(0.3, True, 0.5, 0.5, lower=lower, upper=upper) == 0.3  # no edge claimed: no test


def test_slippage_estimate_walks_the_book():
    px, qty = np.array([100.0, 100.1, np.nan]), np.array([1.0, 2.0, np.nan])
    assert estimate_bps(1, 1.0, px, qty, 100.0) == 0.0
    assert estimate_bps(1, 2.0, px, qty, 100.0) == pytest.approx(5.0)  # avg 100.05
    # beyond the visible 3 units, priced at the last level: (100 + 2·100.1 + 100.1) / 4 = 100.075
    assert estimate_bps(1, 4.0, px, qty, 100.0) == pytest.approx(7.5)
    bids = np.array([99.9, 99.8])
    assert estimate_bps(-1, 2.0, bids, np.array([1.0, 1.0]), 99.9) == pytest.approx(0.05 / 99.9 * 1e4)
    assert estimate_bps(1, 1.0, np.array([np.nan]), np.array([np.nan]), 100.0) == 0.0


def test_realized_vol_is_the_same_whatever_its_buffer_size():
    """A 16-entry buffer compacts and grows many times over; every reading equals the big one's."""
    rng = np.random.default_rng(6)
    ts = np.cumsum(rng.integers(1, 50_000_000, 3000))
    mid = 100.0 * np.exp(np.cumsum(rng.normal(0, 2e-5, ts.size)))
    big, small = RealizedVol(2.0), RealizedVol(2.0, capacity=16)
    for k, (t, m) in enumerate(zip(ts.tolist(), mid.tolist(), strict=True)):
        big.add(t, m)
        small.add(t, m)
        if k % 7 == 0:
            assert small.at(t) == big.at(t)


def test_replay_events_interleave_as_a_stable_sort():
    rng = np.random.default_rng(3)
    tables = [{"seq": np.sort(rng.integers(0, 300, n))} for n in (200, 150, 80)]  # ties within and across
    ev = ReplayEvents.merge(tables[0], tables[1], tables[2])
    seqs = np.concatenate([t["seq"] for t in tables])
    order = np.argsort(seqs, kind="stable")
    kinds = np.repeat([QUOTE, TRADE, BOOK], [t["seq"].size for t in tables])
    rows = np.concatenate([np.arange(t["seq"].size) for t in tables])
    np.testing.assert_array_equal(ev.kind, kinds[order])
    np.testing.assert_array_equal(ev.row, rows[order])
    shuffled = {"seq": rng.permutation(tables[1]["seq"])}  # a table out of order: the sort itself
    ev = ReplayEvents.merge(tables[0], shuffled, None)
    merged = [(tables[0] if k == QUOTE else shuffled)["seq"][r] for k, r in zip(ev.kind, ev.row, strict=True)]
    np.testing.assert_array_equal(merged, np.sort(np.concatenate([tables[0]["seq"], shuffled["seq"]])))


def test_replay_events_tuples_by_index_equal_the_iteration():
    rng = np.random.default_rng(4)
    quotes = {"seq": np.arange(0, 30, 3), "ts_ns": np.arange(10) * 7, "update_id": np.arange(10) + 100,
              "bid_px": rng.random(10), "bid_qty": rng.random(10), "ask_px": rng.random(10),
              "ask_qty": rng.random(10)}
    trades = {"seq": np.arange(1, 30, 3), "ts_ns": np.arange(10) * 7 + 1, "price": rng.random(10),
              "qty": rng.random(10), "side": np.where(rng.random(10) > 0.5, 1, -1).astype(np.int8)}
    book = {"seq": np.arange(2, 30, 3), "ts_ns": np.arange(10) * 7 + 2, "bid_px": rng.random((10, 3)),
            "bid_qty": rng.random((10, 3)), "ask_px": rng.random((10, 3)), "ask_qty": rng.random((10, 3)),
            "in_sync": rng.random(10) > 0.3}
    ev = ReplayEvents.merge(quotes, trades, book)
    it = list(ev)
    assert len(it) == len(ev) == 30 and [e[0] for e in it[:3]] == [QUOTE, TRADE, BOOK]
    for i, want in enumerate(it):
        got = ev.event(i)
        assert repr(got) == repr(want) and [type(x) for x in got] == [type(x) for x in want]
