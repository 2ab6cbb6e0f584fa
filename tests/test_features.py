"""Batch features against hand-worked numbers (DESIGN.md §4)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from aurora.core.features import (
    BookTops,
    FeatureParams,
    compute_features,
    infer_tick_size,
    ofi_terms,
    window_label,
)
from aurora.core.microprice import MicropriceModel

S = 1_000_000_000


def frames(quotes, trades=()):
    """quotes: (ts_s, seq, bid, bq, ask, aq); trades: (ts_s, seq, price, qty, side)."""
    bbo = pd.DataFrame(quotes, columns=["t", "seq", "bid_px", "bid_qty", "ask_px", "ask_qty"])
    bbo["ts_ns"] = (bbo.pop("t") * S).round().astype(np.int64)
    bbo["update_id"] = np.arange(len(bbo), dtype=np.int64) + 100
    tr = pd.DataFrame(list(trades), columns=["t", "seq", "price", "qty", "side"])
    tr["ts_ns"] = (tr.pop("t") * S).round().astype(np.int64)
    tr["side"] = tr["side"].astype(np.int8)
    return bbo, tr


def test_ofi_terms_bid_and_ask_cases():
    #            bid up      bid same     bid down
    bid_px = np.array([10.0, 10.1, 10.1, 10.0])
    bid_qty = np.array([5.0, 2.0, 7.0, 4.0])
    ask_px = np.array([10.2, 10.2, 10.3, 10.1])  # ask same, ask up, ask down
    ask_qty = np.array([3.0, 6.0, 1.0, 8.0])
    e = ofi_terms(bid_px, bid_qty, ask_px, ask_qty)
    # n=1: bid up -> +qb_n=2; ask same -> -qa_n + qa_{n-1} = -6 + 3
    # n=2: bid same -> qb_n - qb_{n-1} = 7 - 2; ask up -> +qa_{n-1} = 6
    # n=3: bid down -> -qb_{n-1} = -7; ask down -> -qa_n = -8
    np.testing.assert_array_equal(e, [0.0, 2 - 6 + 3, 7 - 2 + 6, -7 - 8])


def test_pointwise_features_hand_worked():
    bbo, tr = frames([(0.0, 1, 100.0, 3.0, 100.02, 1.0)])
    f = compute_features(bbo, tr, None, FeatureParams(tick_size=0.01))
    row = f.iloc[0]
    assert row["mid"] == pytest.approx(100.01)
    assert row["spread_bps"] == pytest.approx(0.02 / 100.01 * 1e4)
    assert row["obi_l1"] == pytest.approx(0.5)
    assert row["microprice_w"] == pytest.approx((100.0 * 1.0 + 100.02 * 3.0) / 4.0)
    assert math.isnan(row["microprice"]) and math.isnan(row["obi_w"])
    assert list(f.columns) == ["ts_ns", "update_id", *FeatureParams().names, "book_ok"]
    assert not row["book_ok"]  # no depth: no book


def test_ofi_and_tfi_windows_with_binance_sides():
    # Binance m=True (buyer is maker) => taker sold => side -1 in the store
    quotes = [(0.0, 1, 100.0, 1.0, 100.01, 1.0), (0.5, 4, 100.0, 2.0, 100.01, 1.0),
              (1.0, 6, 100.01, 3.0, 100.02, 1.0), (2.0, 8, 100.0, 1.0, 100.01, 1.0)]
    trades = [(0.0, 2, 100.0, 0.5, -1), (0.2, 3, 100.01, 1.5, 1), (1.0, 7, 100.01, 2.0, 1)]
    bbo, tr = frames(quotes, trades)
    f = compute_features(bbo, tr, None, FeatureParams(windows_s=(1.0, 5.0), tick_size=0.01))
    np.testing.assert_allclose(f["ofi_1s"], [0, 1, 1 + 4, -4])
    np.testing.assert_allclose(f["ofi_5s"], [0, 1, 5, 1])
    # event 0 sees no trade (trade seq 2 arrives after it): tfi 0; at t = 1 s the 1 s window
    # (ts > 0) drops the sell at ts 0; at t = 2 s it (ts > 1 s) holds no trade at all
    np.testing.assert_allclose(f["tfi_1s"], [0.0, (-0.5 + 1.5) / 2.0, 1.0, 0.0])
    np.testing.assert_allclose(f["tfi_5s"], [0.0, 0.5, 0.5, (-0.5 + 1.5 + 2.0) / 4.0])


def test_window_excludes_the_boundary_and_later_seq():
    quotes = [(0.0, 1, 100.0, 1.0, 100.01, 1.0), (1.0, 3, 100.0, 1.0, 100.01, 1.0),
              (1.0, 5, 100.0, 1.0, 100.01, 1.0)]
    trades = [(0.0, 2, 100.0, 1.0, 1), (1.0, 4, 100.0, 3.0, -1)]
    bbo, tr = frames(quotes, trades)
    f = compute_features(bbo, tr, None, FeatureParams(windows_s=(1.0,), tick_size=0.01))
    # row 1 (t=1 s): the trade at ts 0 is not > 1 - 1 -> no trade in the window; the trade at
    # ts 1.0 has seq 4 > 3, not seen yet
    assert f["tfi_1s"].tolist() == [0.0, 0.0, -1.0]


def test_absorption_hand_worked():
    quotes = [(0.0, 1, 100.0, 1.0, 100.01, 1.0), (0.5, 3, 100.0, 2.0, 100.01, 1.0),
              (1.0, 5, 100.01, 3.0, 100.02, 1.0)]
    trades = [(0.1, 2, 100.0, 0.5, -1), (0.5, 4, 100.01, 1.5, 1)]
    bbo, tr = frames(quotes, trades)
    f = compute_features(bbo, tr, None, FeatureParams(windows_s=(1.0,), tick_size=0.01))
    # x = |signed volume between quotes| = [0, 0.5, 1.5]; y = |Δmid| ticks = [0, 0, 1]
    # slope b = Σxy / Σx² = 1.5 / (0.25 + 2.25) = 0.6 ticks per unit
    # row 2: V = -0.5 + 1.5 = 1.0; window starts at row 1 -> base mid row 0 -> moved 1 tick
    # absorption = -V·b / (1 + 1) = -0.3 (net buying met with little move: bearish, negative)
    assert f["absorption_1s"].tolist() == pytest.approx([0.0, 0.0, -0.3])


def test_absorbed_selling_is_positive():
    quotes = [(0.0, 1, 100.0, 1.0, 100.01, 1.0), (0.1, 3, 100.01, 1.0, 100.02, 1.0),
              (0.2, 5, 100.01, 1.0, 100.02, 1.0)]
    trades = [(0.05, 2, 100.01, 1.0, 1), (0.15, 4, 100.01, 4.0, -1)]
    bbo, tr = frames(quotes, trades)
    f = compute_features(bbo, tr, None, FeatureParams(windows_s=(1.0,), tick_size=0.01))
    # b = (1·1 + 4·0) / (1 + 16) ; V = -3; moved = 1 tick -> -(-3)·b/2 > 0
    assert f["absorption_1s"].iloc[2] == pytest.approx(3 * (1 / 17) / 2)


def test_obi_w_asof_and_sync():
    bbo, tr = frames([(0.0, 1, 100.0, 1.0, 100.01, 1.0), (1.0, 3, 100.0, 1.0, 100.01, 1.0),
                      (2.0, 5, 100.0, 1.0, 100.01, 1.0)])
    tops = BookTops(seq=np.array([2, 4]), bid_qty=np.array([[3.0, 1.0], [3.0, 1.0]]),
                    ask_qty=np.array([[1.0, 1.0], [1.0, 1.0]]), in_sync=np.array([True, False]))
    p = FeatureParams(obi_levels=2, obi_decay=math.log(2), tick_size=0.01)
    f = compute_features(bbo, tr, tops, p)
    # w = [1, 0.5]: (2 + 0) / (4 + 1) = 0.4; before any depth NaN; out of sync NaN
    assert math.isnan(f["obi_w"].iloc[0])
    assert f["obi_w"].iloc[1] == pytest.approx(0.4)
    assert math.isnan(f["obi_w"].iloc[2])
    assert f["book_ok"].tolist() == [False, True, False]


def test_microprice_uses_the_model():
    g = ((-0.4, 0.4), (0.0, 0.0))
    m = MicropriceModel(tick_size=0.01, imbalance_buckets=2, spread_buckets=2, g_ticks=g)
    bbo, tr = frames([(0.0, 1, 100.0, 3.0, 100.01, 1.0), (0.1, 2, 100.0, 1.0, 100.01, 3.0)])
    f = compute_features(bbo, tr, None, FeatureParams(tick_size=0.01), microprice=m)
    np.testing.assert_allclose(f["microprice"], [100.005 + 0.004, 100.005 - 0.004])


def test_context_rows_are_dropped():
    bbo, tr = frames([(0.0, 1, 100.0, 1.0, 100.01, 1.0), (1.0, 3, 100.0, 1.0, 100.01, 2.0)],
                     [(0.5, 2, 100.0, 1.0, 1)])
    full = compute_features(bbo, tr, None, FeatureParams(tick_size=0.01))
    cut = compute_features(bbo, tr, None, FeatureParams(tick_size=0.01), context_start_ns=S)
    assert len(cut) == 1
    pd.testing.assert_frame_equal(cut, full.iloc[1:].reset_index(drop=True))


def test_bad_input_is_named():
    bbo, tr = frames([(1.0, 1, 100.0, 1.0, 100.01, 1.0), (0.5, 2, 100.0, 1.0, 100.01, 1.0)])
    with pytest.raises(ValueError, match=r"bbo: ts_ns decreases at row 1"):
        compute_features(bbo, tr, None, FeatureParams(tick_size=0.01))
    with pytest.raises(ValueError, match="lacks columns"):
        compute_features(bbo.drop(columns=["seq"]), tr, None, FeatureParams())
    with pytest.raises(ValueError, match="windows_s"):
        FeatureParams(windows_s=(1.0, 1.0))
    with pytest.raises(ValueError, match="tick_size"):
        FeatureParams(tick_size=0.0)


def test_params_from_settings_and_names(settings):
    p = FeatureParams.from_settings(settings.features)
    assert p.windows_s == tuple(float(w) for w in settings.features.windows_s)
    assert "ofi_1s" in p.names and "absorption_5s" in p.names and "tfi_5s" in p.names
    assert window_label(0.5) == "0.5s"
    assert p.context_s == max(*p.windows_s, p.impact_window_s)


def test_infer_tick_size():
    assert infer_tick_size(np.array([100.0, 100.01, 100.05]), np.array([100.02])) == 0.01
    with pytest.raises(ValueError, match="tick"):
        infer_tick_size(np.array([1.0, 1.0]))
