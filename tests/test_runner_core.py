"""Pure pieces of the runner's decision path: regime, realised volatility, the runner's SPRT,
slippage estimates from the book."""

from __future__ import annotations

import math

import numpy as np
import pytest

from aurora.core.regime import HIGH_VOL, NORMAL, WIDE_SPREAD, RealizedVol, classify
from aurora.core.risk import SPRT, sprt_bounds
from aurora.core.slippage import estimate_bps
from aurora.core.sprt import after_gate, next_llr
from aurora.pipeline.study import realized_vol_bps


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
