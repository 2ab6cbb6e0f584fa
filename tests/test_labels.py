"""Triple-barrier labels: hand-worked cases and a brute-force reference on random paths."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aurora.core.labels import LabelParams, _label_kernel, label_columns, triple_barrier

S = 1_000_000_000


def _path(bids, asks, step_s=1.0):
    ts = (np.arange(len(bids)) * step_s * S).astype(np.int64)
    return ts, np.asarray(bids, float), np.asarray(asks, float)


def test_long_take_profit_stop_loss_timeout_and_both():
    # entry at ask 100 -> tp at bid >= 101 (100 bps), sl at bid <= 99
    ts, bid, ask = _path([99.9, 100.5, 101.0, 98.0], [100.0, 100.6, 101.1, 98.1])
    r = triple_barrier(ts, bid, ask, tp_bps=100, sl_bps=100, horizon_s=10)
    assert r.outcome[0] == 1 and r.exit_idx[0] == 2 and r.exit_ts_ns[0] == 2 * S
    assert r.ret_bps[0] == pytest.approx((101.0 - 100.0) / 100.0 * 1e4)
    # entry at event 1 (ask 100.6): tp 101.606 never; sl 99.594 hit at event 3
    assert r.outcome[1] == -1 and r.exit_idx[1] == 3
    # the last event has no later event: timeout, censored
    assert r.outcome[3] == 0 and not r.complete[3] and r.exit_idx[3] == 3
    assert r.end_ns[3] == 3 * S + 10 * S
    # ...unless the data is known to go on, quote-less, past its horizon
    r = triple_barrier(ts, bid, ask, tp_bps=100, sl_bps=100, horizon_s=10, data_end_ns=14 * S)
    assert r.outcome[3] == 0 and r.complete[3]


def test_both_barriers_on_one_event_is_a_loss():
    # With positive tp/sl one price cannot cross both barriers, so drive the kernel with crossed
    # levels (up barrier at 0.99·entry, down barrier at 1.01·entry): the next event is both.
    ts = np.array([0, S], dtype=np.int64)
    px = np.array([100.0, 100.0])
    o_l, o_s = np.empty(2, np.int8), np.empty(2, np.int8)
    ret_l, ret_s = np.empty(2), np.empty(2)
    exit_l, exit_s, end = (np.empty(2, np.int64) for _ in range(3))
    complete = np.empty(2, bool)
    for as_index, exit_at in ((True, 1), (False, S)):
        bad = _label_kernel(ts, px, px, 0.99, 1.01, 0.99, 1.01, 5 * S, S, o_l, o_s, ret_l, ret_s,
                            exit_l, exit_s, end, complete, as_index)
        assert bad == -1
        for outcome, exit_ in ((o_l, exit_l), (o_s, exit_s)):
            assert outcome[0] == -1 and exit_[0] == exit_at
        assert complete[0] and end[0] == S


def test_short_side_mirror():
    ts, bid, ask = _path([100.0, 99.5, 98.9, 101.0], [100.1, 99.6, 99.0, 101.1])
    r = triple_barrier(ts, bid, ask, tp_bps=100, sl_bps=100, horizon_s=10, side=-1)
    # short at bid 100: tp when ask <= 99 (event 2), sl when ask >= 101
    assert r.outcome[0] == 1 and r.exit_idx[0] == 2
    assert r.ret_bps[0] == pytest.approx((100.0 - 99.0) / 100.0 * 1e4)
    # short at bid 98.9 (event 2): sl at ask >= 99.889 -> event 3
    assert r.outcome[2] == -1 and r.exit_idx[2] == 3


def test_horizon_is_inclusive_and_strictly_later():
    ts, bid, ask = _path([100.0, 100.0, 102.0], [100.0, 100.0, 102.0])
    r = triple_barrier(ts, bid, ask, tp_bps=100, sl_bps=100, horizon_s=2)
    assert r.outcome[0] == 1  # hit exactly at ts0 + horizon
    r = triple_barrier(ts, bid, ask, tp_bps=100, sl_bps=100, horizon_s=1.5)
    assert r.outcome[0] == 0 and r.exit_idx[0] == 1 and r.complete[0]
    # the entry event itself never counts: a crossed entry quote is not an instant win
    r = triple_barrier(ts[:1], np.array([200.0]), np.array([100.0]), 100, 100, 5)
    assert r.outcome[0] == 0


def test_bad_input():
    with pytest.raises(ValueError, match="side"):
        triple_barrier(np.zeros(1, np.int64), np.ones(1), np.ones(1), 1, 1, 1, side=0)
    with pytest.raises(ValueError, match="non-decreasing"):
        triple_barrier(np.array([2, 1]), np.ones(2), np.ones(2), 1, 1, 1)
    with pytest.raises(ValueError, match="tp_bps"):
        triple_barrier(np.array([1, 2]), np.ones(2), np.ones(2), -1, 1, 1)
    with pytest.raises(ValueError, match="horizon_s"):
        LabelParams(horizon_s=0)


def _reference(ts, bid, ask, tp, sl, h_ns, side):
    n = len(ts)
    out = np.zeros(n, np.int8)
    exits = np.zeros(n, np.int64)
    for i in range(n):
        entry = ask[i] if side == 1 else bid[i]
        exits[i] = i
        for j in range(i + 1, n):
            if ts[j] > ts[i] + h_ns:
                break
            exits[i] = j
            if side == 1:
                win = bid[j] >= entry * (1 + tp / 1e4)
                loss = bid[j] <= entry * (1 - sl / 1e4)
            else:
                win = ask[j] <= entry * (1 - tp / 1e4)
                loss = ask[j] >= entry * (1 + sl / 1e4)
            if loss:
                out[i] = -1
                break
            if win:
                out[i] = 1
                break
    return out, exits


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(st.integers(-3, 3), min_size=1, max_size=80),
    gaps=st.lists(st.integers(0, 3), min_size=80, max_size=80),
    spread=st.integers(1, 2),
    tp=st.integers(1, 4),
    sl=st.integers(1, 4),
    side=st.sampled_from([1, -1]),
)
def test_matches_brute_force(steps, gaps, spread, tp, sl, side):
    n = len(steps)
    bid = 1000.0 + np.cumsum(steps).astype(float)
    ask = bid + spread
    ts = np.cumsum(np.asarray(gaps[:n], np.int64)) * S
    r = triple_barrier(ts, bid, ask, tp_bps=tp * 10, sl_bps=sl * 10, horizon_s=4, side=side)
    ref, exits = _reference(ts, bid, ask, tp * 10, sl * 10, 4 * S, side)
    np.testing.assert_array_equal(r.outcome, ref)
    np.testing.assert_array_equal(r.exit_idx, exits)


def test_long_windows_match_brute_force_and_both_sides_agree():
    # windows of hundreds of events, so the block screen and the coarse skipping both work
    rng = np.random.default_rng(3)
    n = 4000
    bid = 1000.0 + np.cumsum(rng.integers(-1, 2, n)).astype(float)
    ask = bid + rng.integers(1, 3, n)
    ts = np.cumsum(rng.integers(0, 3, n)).astype(np.int64) * (S // 100)
    h_ns = 4 * S
    cols = label_columns(ts, bid, ask, LabelParams(tp_bps=60, sl_bps=40, horizon_s=4), n=n - 7)
    for side, name in ((1, "long"), (-1, "short")):
        ref, exits = _reference(ts, bid, ask, 60, 40, h_ns, side)
        assert (ref != 0).sum() > 100
        r = triple_barrier(ts, bid, ask, tp_bps=60, sl_bps=40, horizon_s=4, side=side)
        np.testing.assert_array_equal(r.outcome, ref)
        np.testing.assert_array_equal(r.exit_idx, exits)
        np.testing.assert_array_equal(cols[f"label_{name}"], ref[: n - 7])
        np.testing.assert_array_equal(cols[f"exit_{name}_ns"], ts[exits][: n - 7])
        np.testing.assert_array_equal(cols[f"ret_{name}_bps"], r.ret_bps[: n - 7])
    lo = triple_barrier(ts, bid, ask, tp_bps=60, sl_bps=40, horizon_s=4, side=1)
    sh = triple_barrier(ts, bid, ask, tp_bps=60, sl_bps=40, horizon_s=4, side=-1)
    np.testing.assert_array_equal(cols["label_end_ns"], np.maximum(lo.end_ns, sh.end_ns)[: n - 7])
    np.testing.assert_array_equal(cols["label_complete"], (lo.complete & sh.complete)[: n - 7])


def _both_sides_match_brute_force(ts, bid, ask, tp, sl, horizon_s, n_lookahead=0):
    m = len(ts) - n_lookahead
    cols = label_columns(ts, bid, ask, LabelParams(tp_bps=tp, sl_bps=sl, horizon_s=horizon_s), n=m)
    for side, name in ((1, "long"), (-1, "short")):
        ref, exits = _reference(ts, bid, ask, tp, sl, round(horizon_s * S), side)
        np.testing.assert_array_equal(cols[f"label_{name}"], ref[:m])
        np.testing.assert_array_equal(cols[f"exit_{name}_ns"], ts[exits][:m])
    return cols


@settings(max_examples=80, deadline=None)
@given(
    steps=st.lists(st.sampled_from([0, 0, 0, 0, 1, -1, 4, -4]), min_size=1, max_size=150),
    gaps=st.lists(st.integers(0, 2), min_size=150, max_size=150),
    spreads=st.lists(st.sampled_from([1, 1, 2, 5]), min_size=150, max_size=150),
    tp=st.integers(1, 6),
    sl=st.integers(1, 6),
)
def test_flat_runs_wide_spreads_and_ties_match_brute_force(steps, gaps, spreads, tp, sl):
    # prices that stay put for runs of events (the screen works on blocks, the crossings on
    # heaps), spreads wider than a barrier (a stop reached at i+1 without a price change) and
    # jumps over both barriers at once (a loss)
    n = len(steps)
    bid = 1000.0 + np.cumsum(steps).astype(float)
    ask = bid + np.asarray(spreads[:n], float)
    ts = np.cumsum(np.asarray(gaps[:n], np.int64)) * S
    _both_sides_match_brute_force(ts, bid, ask, tp * 10, sl * 10, 6, n_lookahead=min(n - 1, 3))


def test_levels_left_behind_are_dropped_and_results_stay_exact():
    # a volatile path over windows of ~100 events: most labels may reach both levels and are
    # settled by one, leaving the other waiting for a price that never comes back; tens of
    # thousands of such levels would overflow heaps sized to two windows if they were kept (6,300
    # waiting at once here, against heaps of 204)
    rng = np.random.default_rng(11)
    n = 30_000
    bid = 1000.0 + np.cumsum(rng.choice([-2.0, -1.0, 0.0, 1.0, 2.5], n))
    ask = bid + rng.integers(1, 3, n)
    ts = np.arange(n, dtype=np.int64) * (S // 100)
    cols = _both_sides_match_brute_force(ts, bid, ask, 20, 15, 1.0, n_lookahead=50)
    assert (cols["label_long"] != 0).mean() > 0.5


def test_a_price_that_is_not_finite_is_refused_with_its_row():
    ts, bid, ask = _path([100.0, np.nan, 100.0], [100.1, 100.1, 100.1])
    with pytest.raises(ValueError, match=r"bid_px must be finite; row 1 is nan"):
        label_columns(ts, bid, ask, LabelParams())
    with pytest.raises(ValueError, match=r"ask_px must be finite; row 0 is inf"):
        triple_barrier(ts, np.full(3, 100.0), np.array([np.inf, 1.0, 1.0]), 10, 10, 30)
