"""No look-ahead: changing or appending data after event n never changes the row of event n."""

from __future__ import annotations

import numpy as np
import pandas as pd
from feature_data import TICK, random_market
from hypothesis import given, settings
from hypothesis import strategies as st

from aurora.core.features import BookTops, FeatureParams, compute_features
from aurora.core.labels import triple_barrier
from aurora.core.stream import stream_features

PARAMS = FeatureParams(windows_s=(0.5, 3.0), obi_levels=4, impact_window_s=5.0, tick_size=TICK)


def _perturb(bbo, trades, tops, cut_seq, rng):
    """Scramble every event with seq > cut_seq and append more events after the end."""
    bbo, trades = bbo.copy(), trades.copy()
    late = bbo.seq > cut_seq
    bbo.loc[late, "bid_qty"] = rng.lognormal(0, 2, late.sum())
    bbo.loc[late, "ask_px"] = bbo.loc[late, "ask_px"] + TICK * rng.integers(0, 5, late.sum())
    late_t = trades.seq > cut_seq
    trades.loc[late_t, "qty"] = rng.lognormal(0, 2, late_t.sum())
    trades.loc[late_t, "side"] = -trades.loc[late_t, "side"]
    late_d = tops.seq > cut_seq
    bid_qty = tops.bid_qty.copy()
    bid_qty[late_d] *= 7.0
    tops = BookTops(tops.seq, bid_qty, tops.ask_qty, np.where(late_d, ~tops.in_sync, tops.in_sync))
    extra = bbo.tail(5).copy()
    extra["seq"] = extra["seq"] + 10**9
    extra["ts_ns"] = extra["ts_ns"].max() + 1
    extra["update_id"] = extra["update_id"] + 10**9
    return pd.concat([bbo, extra], ignore_index=True), trades, tops


@settings(max_examples=30, deadline=None)
@given(n=st.integers(20, 300), seed=st.integers(0, 10_000), frac=st.floats(0.0, 1.0))
def test_features_at_or_before_t_ignore_later_data(n, seed, frac):
    bbo, trades, tops = random_market(n, seed, mean_gap_ns=100_000_000)
    if bbo.empty:
        return
    cut_seq = int(bbo["seq"].iloc[int(frac * (len(bbo) - 1))])
    before = compute_features(bbo, trades, tops, PARAMS)
    b2, t2, d2 = _perturb(bbo, trades, tops, cut_seq, np.random.default_rng(seed))
    after = compute_features(b2, t2, d2, PARAMS)
    keep = (bbo.seq <= cut_seq).to_numpy()
    k = int(keep.sum())
    np.testing.assert_array_equal(before[keep].to_numpy(float), after.iloc[:k].to_numpy(float))
    streamed = stream_features(b2, t2, d2, PARAMS)
    np.testing.assert_allclose(before[keep].to_numpy(float), streamed.iloc[:k].to_numpy(float),
                               rtol=1e-12, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(5, 200), seed=st.integers(0, 10_000), frac=st.floats(0.0, 1.0))
def test_labels_only_look_within_their_horizon(n, seed, frac):
    rng = np.random.default_rng(seed)
    ts = np.cumsum(rng.integers(0, 2_000_000_000, n)).astype(np.int64)
    bid = 100 + np.cumsum(rng.choice([-0.05, 0, 0.05], n))
    ask = bid + 0.01
    horizon_s = 3.0
    r = triple_barrier(ts, bid, ask, 5, 5, horizon_s)
    cut = int(frac * (n - 1))
    bid2, ask2 = bid.copy(), ask.copy()
    bid2[cut + 1:] += rng.normal(0, 1, n - cut - 1)
    ask2[cut + 1:] = bid2[cut + 1:] + 0.01
    r2 = triple_barrier(ts, bid2, ask2, 5, 5, horizon_s)
    # a label whose horizon ends before the first changed event cannot change
    settled = ts + round(horizon_s * 1e9) < (ts[cut + 1] if cut + 1 < n else np.iinfo(np.int64).max)
    np.testing.assert_array_equal(r.outcome[settled], r2.outcome[settled])
    np.testing.assert_array_equal(r.ret_bps[settled], r2.ret_bps[settled])


@settings(max_examples=20, deadline=None)
@given(n=st.integers(5, 300), seed=st.integers(0, 10_000), frac=st.floats(0.0, 1.0))
def test_context_rows_only_feed_the_windows(n, seed, frac):
    """Dropping context rows (context_start_ns) leaves every later row exactly as computed."""
    bbo, trades, tops = random_market(n, seed, mean_gap_ns=100_000_000)
    if bbo.empty:
        return
    cut = int(bbo["ts_ns"].iloc[int(frac * (len(bbo) - 1))])
    full = compute_features(bbo, trades, tops, PARAMS)
    part = compute_features(bbo, trades, tops, PARAMS, context_start_ns=cut)
    keep = (full["ts_ns"] >= cut).to_numpy()
    np.testing.assert_array_equal(full[keep].to_numpy(float), part.to_numpy(float))
