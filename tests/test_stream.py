"""Stream form: same numbers as the batch form, per call and fed whole, with ring growth."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from feature_data import TICK, random_market
from hypothesis import given, settings
from hypothesis import strategies as st

from aurora.core.features import FeatureParams, compute_features
from aurora.core.microprice import MicropriceModel
from aurora.core.stream import StreamFeatures, stream_features

PARAMS = FeatureParams(windows_s=(0.5, 2.0), obi_levels=3, impact_window_s=4.0, tick_size=TICK)


def assert_same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a.columns) == list(b.columns)
    np.testing.assert_array_equal(a["ts_ns"], b["ts_ns"])
    np.testing.assert_array_equal(a["update_id"], b["update_id"])
    np.testing.assert_array_equal(a.get("book_ok"), b.get("book_ok"))
    for name in a.columns[2:].drop("book_ok", errors="ignore"):
        np.testing.assert_allclose(a[name], b[name], rtol=1e-12, atol=1e-12, err_msg=name)


def _model() -> MicropriceModel:
    g = tuple(tuple(float(v) for v in np.linspace(-0.4, 0.4, 4) * (s + 1)) for s in range(2))
    return MicropriceModel(tick_size=TICK, imbalance_buckets=4, spread_buckets=2, g_ticks=g)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 400), seed=st.integers(0, 10_000), gap_ms=st.sampled_from([1, 20, 300]))
def test_stream_feed_equals_batch(n, seed, gap_ms):
    bbo, trades, tops = random_market(n, seed, mean_gap_ns=gap_ms * 1_000_000)
    if bbo.empty:
        return
    batch = compute_features(bbo, trades, tops, PARAMS, microprice=_model())
    stream = stream_features(bbo, trades, tops, PARAMS, microprice=_model())
    assert_same(batch, stream)


def test_per_call_api_equals_feed_and_rings_grow():
    bbo, trades, tops = random_market(20_000, 7, mean_gap_ns=2_000_000)
    s = StreamFeatures(PARAMS, microprice=_model(), capacity=16)
    events = sorted(
        [(r.seq, 0, r) for r in bbo.itertuples(index=False)]
        + [(r.seq, 1, r) for r in trades.itertuples(index=False)]
        + [(int(q), 2, i) for i, q in enumerate(tops.seq)],
        key=lambda e: e[0],
    )
    rows = []
    for _, kind, r in events:
        if kind == 0:
            row = s.on_bbo(r.ts_ns, r.update_id, r.bid_px, r.bid_qty, r.ask_px, r.ask_qty)
            rows.append(np.append(row, s.book_ok))  # a copy: the row buffer is reused
        elif kind == 1:
            s.on_trade(r.ts_ns, r.price, r.qty, r.side)
        else:
            s.on_book_top(tops.bid_qty[r], tops.ask_qty[r], bool(tops.in_sync[r]))
    per_call = pd.DataFrame(rows, columns=[*s.names, "book_ok"]).astype({"book_ok": bool})
    batch = compute_features(bbo, trades, tops, PARAMS, microprice=_model())
    assert s.capacity > 16  # the rings grew past the initial capacity
    assert_same(batch, pd.concat([batch[["ts_ns", "update_id"]], per_call], axis=1))
    assert batch["book_ok"].any() and not batch["book_ok"].all()


def test_feed_in_pieces_continues_the_state():
    bbo, trades, _ = random_market(3000, 11)
    s = StreamFeatures(PARAMS)
    cut = int(bbo["seq"].iloc[len(bbo) // 2])
    parts = []
    for lo, hi in ((0, cut), (cut, 1 << 62)):
        b = bbo[(bbo.seq >= lo) & (bbo.seq < hi)]
        t = trades[(trades.seq >= lo) & (trades.seq < hi)]
        parts.append(s.feed(b, t, None))
    assert_same(compute_features(bbo, trades, None, PARAMS), pd.concat(parts, ignore_index=True))


def test_stream_needs_a_tick_and_columns():
    with pytest.raises(ValueError, match="tick_size"):
        StreamFeatures(FeatureParams())
    bbo, trades, _ = random_market(50, 1)
    with pytest.raises(ValueError, match="lacks columns"):
        stream_features(bbo.drop(columns=["seq"]), trades, None, PARAMS)


def test_book_top_out_of_sync_is_nan():
    s = StreamFeatures(PARAMS)
    s.on_book_top(np.array([3.0, 1.0]), np.array([1.0, 1.0]))
    row = dict(zip(s.names, s.on_bbo(1, 1, 100.0, 1.0, 100.01, 1.0), strict=True))
    w = np.exp(-PARAMS.obi_decay)
    assert row["obi_w"] == pytest.approx((2.0 + 0.0 * w) / (4.0 + 2.0 * w))
    assert s.book_ok
    s.on_book_top(np.array([3.0]), np.array([1.0]), in_sync=False)
    assert math.isnan(s.on_bbo(2, 2, 100.0, 1.0, 100.01, 1.0)[s.names.index("obi_w")])
    assert not s.book_ok
