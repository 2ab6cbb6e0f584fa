"""Feature-study computations (aurora.pipeline.study) on hand-worked numbers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from aurora.pipeline.study import (
    add_regimes,
    feature_summary,
    forward_returns,
    hit_rates_by_quantile,
    information_coefficients,
    realized_vol_bps,
    regime_table,
)

NS = 1_000_000_000


def test_forward_returns_use_the_last_quote_within_the_horizon() -> None:
    ts = np.array([0, 1, 2, 4]) * NS
    mid = np.array([100.0, 101.0, 99.0, 100.0])
    out = forward_returns(ts, mid, [1.0, 2.5])
    # t=0, h=1: mid(1s)=101 -> +100 bps; h=2.5: last quote at or before 2.5 s is 99 -> -100 bps
    assert out["fwd_1s"][0] == pytest.approx(100.0)
    assert out["fwd_2.5s"][0] == pytest.approx(-100.0)
    # t=4 s: horizon past the data end -> NaN; t=2, h=2.5 -> 4.5 s > end -> NaN
    assert math.isnan(out["fwd_1s"][3]) and math.isnan(out["fwd_2.5s"][2])
    sub = forward_returns(ts, mid, [1.0], at=np.array([1, 2]))
    np.testing.assert_allclose(sub["fwd_1s"], out["fwd_1s"][[1, 2]])


def test_realized_vol_over_the_trailing_window() -> None:
    ts = np.array([0, 1, 2, 3]) * NS
    mid = np.array([100.0, 101.0, 101.0, 100.0])
    v = realized_vol_bps(ts, mid, 1.5)
    # returns (bps): 100 at t=1, 0 at t=2, -99.0099 at t=3; window (t-1.5, t]
    assert v[0] == 0.0
    assert v[1] == pytest.approx(100.0)
    assert v[2] == pytest.approx(100.0)
    assert v[3] == pytest.approx(math.hypot(0.0, 100.0 / 101.0 * 100.0))
    np.testing.assert_allclose(realized_vol_bps(ts, mid, 1.5, at=np.array([3])), v[[3]])


def test_hit_rates_ic_summary_and_regimes() -> None:
    rng = np.random.default_rng(0)
    n = 2_000
    x = rng.normal(size=n)
    outcome = np.where(rng.random(n) < 1 / (1 + np.exp(-2 * x)), 1, -1)
    outcome[rng.random(n) < 0.1] = 0
    frame = pd.DataFrame({"x": x, "outcome": outcome, "fwd_5s": x + rng.normal(size=n),
                          "vol_bps": rng.uniform(size=n), "spread_bps": np.where(x > 1, 3.0, 1.0)})
    t = hit_rates_by_quantile(frame, "x", 5)
    assert t["count"].sum() == n and len(t) == 5
    assert t["tp_rate"].is_monotonic_increasing and t["sl_rate"].is_monotonic_decreasing
    assert (t["tp_rate"] + t["sl_rate"] + t["timeout_rate"]).round(12).eq(1).all()
    ic = information_coefficients(frame, ["x"], [5.0])
    assert 0.5 < ic.loc["x", "fwd_5s"] < 0.8
    s = feature_summary(frame, ["x"])
    assert s.loc["x", "count"] == n and s.loc["x", "nan_share"] == 0
    r = regime_table(add_regimes(frame), ["x"], 5.0)
    assert set(r["regime"]) == {"low", "high", "tight", "wide"}
    assert r.loc[r["regime"] == "tight", "count"].item() == int((x <= 1).sum())
