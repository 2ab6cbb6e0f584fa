"""Score model, calibrators, export round-trip and calibration metrics (aurora.core.calibration)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression

from aurora.core.calibration import (
    IsotonicCalibrator,
    LinearScoreModel,
    PlattCalibrator,
    isotonic_points,
    select_calibrator,
)
from aurora.core.metrics import (
    auc_score,
    brier_base,
    brier_score,
    ece_noise_floor,
    ece_score,
    epi_table,
    evaluate,
    reliability_table,
)
from aurora.core.predict import IsotonicMap, LinearScore, PlattMap


def logistic_data(n: int, seed: int = 0, w=(1.2, -0.6), scale=(1.0, 3.0), shift=(0.0, 2.0)):
    rng = np.random.default_rng(seed)
    X = {"a": rng.normal(size=n) * scale[0] + shift[0], "b": rng.normal(size=n) * scale[1] + shift[1]}
    z = w[0] * (X["a"] - shift[0]) / scale[0] + w[1] * (X["b"] - shift[1]) / scale[1]
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-z))).astype(int)
    return X, y


def test_score_model_is_an_estimator_and_exports_raw_weights() -> None:
    X, y = logistic_data(20_000)
    m = LinearScoreModel(["a", "b"], C=1e6)
    assert m.fit(X, y) is m
    assert m.feature_names_ == ["a", "b"]
    # raw weights = standardised weights / scale: recovers the generating coefficients
    assert m.weights_["a"] == pytest.approx(1.2, rel=0.08)
    assert m.weights_["b"] == pytest.approx(-0.2, rel=0.08)
    # exported dict through the inference-side LinearScore reproduces decision_function
    d = m.to_dict()
    assert d["kind"] == "linear" and set(d["weights"]) == {"a", "b"}
    live = LinearScore(d["weights"], d["intercept"]).predict(X)
    np.testing.assert_allclose(live, m.decision_function(X), rtol=0, atol=1e-12)
    assert m.get_params()["C"] == 1e6


def test_score_model_refuses_bad_input() -> None:
    X, y = logistic_data(100)
    with pytest.raises(KeyError, match="missing"):
        LinearScoreModel(["a", "zz"]).fit(X, y)
    bad = {**X, "a": np.where(np.arange(100) == 5, np.nan, X["a"])}
    with pytest.raises(ValueError, match="'a' holds NaN"):
        LinearScoreModel(["a", "b"]).fit(bad, y)
    with pytest.raises(ValueError, match="one outcome class"):
        LinearScoreModel(["a"]).fit(X, np.zeros(100, int))
    with pytest.raises(ValueError, match="0/1"):
        LinearScoreModel(["a"]).fit(X, np.full(100, 2))


def test_constant_feature_gets_zero_weight() -> None:
    X, y = logistic_data(2_000)
    X["c"] = np.full(2_000, 7.0)
    m = LinearScoreModel(["a", "c"]).fit(X, y)
    assert m.weights_["c"] == 0.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_isotonic_export_reproduces_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    s = rng.normal(size=3_000)
    y = (rng.random(3_000) < 1 / (1 + np.exp(-2 * s))).astype(int)
    cal = IsotonicCalibrator().fit(s, y)
    d = cal.to_dict()
    m = IsotonicMap(tuple(d["x"]), tuple(d["y"]))
    probe = np.concatenate([rng.normal(size=5_000) * 3, s[:200], [s.min(), s.max(), -50.0, 50.0]])
    expected = cal.model_.predict(probe)
    np.testing.assert_allclose(m.predict(probe), expected, rtol=0, atol=1e-12)
    scalar = np.array([m(float(v)) for v in probe[:500]])
    np.testing.assert_allclose(scalar, expected[:500], rtol=0, atol=1e-12)
    assert all(b > a for a, b in zip(d["x"], d["x"][1:], strict=False))
    assert all(b >= a for a, b in zip(d["y"], d["y"][1:], strict=False))
    assert d["y"][0] >= 0.0 and d["y"][-1] <= 1.0


@pytest.mark.parametrize("seed", [0, 1])
def test_platt_export_reproduces_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    s = rng.normal(size=4_000) * 2
    y = (rng.random(4_000) < 1 / (1 + np.exp(-(0.7 * s - 0.3)))).astype(int)
    cal = PlattCalibrator().fit(s, y)
    ref = LogisticRegression(C=np.inf, max_iter=1000).fit(s[:, None], y)
    d = cal.to_dict()
    assert d["kind"] == "platt" and d["a"] >= 0
    m = PlattMap(d["a"], d["b"])
    probe = rng.normal(size=5_000) * 5
    np.testing.assert_allclose(m.predict(probe), ref.predict_proba(probe[:, None])[:, 1], rtol=0, atol=1e-12)
    np.testing.assert_allclose([m(float(v)) for v in probe[:300]], ref.predict_proba(probe[:300, None])[:, 1],
                               rtol=0, atol=1e-12)
    assert d["a"] == pytest.approx(0.7, abs=0.1)


def test_platt_with_anti_informative_score_stays_monotone() -> None:
    rng = np.random.default_rng(3)
    s = rng.normal(size=2_000)
    y = (rng.random(2_000) < 1 / (1 + np.exp(2 * s))).astype(int)  # p falls with s
    cal = PlattCalibrator().fit(s, y)
    assert cal.a_ == 0.0
    assert cal.predict(np.array([-3.0]))[0] == pytest.approx(y.mean(), abs=1e-9)


def test_isotonic_points_dedupe_ties_and_clip() -> None:
    x, y = isotonic_points(np.array([0.0, 1.0, 1.0, 2.0]), np.array([0.1, 0.3, 0.5, 1.2]))
    assert x == [0.0, 1.0, 2.0]
    assert y == pytest.approx([0.1, 0.4, 1.0])
    IsotonicMap(tuple(x), tuple(y))
    x, y = isotonic_points(np.array([2.0, 0.0]), np.array([0.5, 0.6]))
    assert x == [0.0, 2.0] and y == [0.6, 0.6]
    with pytest.raises(ValueError):
        isotonic_points(np.array([]), np.array([]))


@settings(max_examples=60, deadline=None)
@given(data=st.lists(st.tuples(st.floats(-1e3, 1e3, allow_nan=False), st.booleans()),
                     min_size=2, max_size=200),
       probes=st.lists(st.floats(-1e4, 1e4, allow_nan=False), min_size=2, max_size=50))
def test_predict_p_is_monotone_and_bounded_for_any_fit(data, probes) -> None:
    s = np.array([d[0] for d in data])
    y = np.array([int(d[1]) for d in data])
    probes = sorted(probes)
    for cal in (IsotonicCalibrator().fit(s, y), PlattCalibrator().fit(s, y)):
        d = cal.to_dict()
        m = IsotonicMap(tuple(d["x"]), tuple(d["y"])) if d["kind"] == "isotonic" else PlattMap(d["a"], d["b"])
        p = [m(v) for v in probes]
        assert all(0.0 <= v <= 1.0 for v in p)
        assert all(b >= a - 1e-15 for a, b in itertools.pairwise(p))


def test_select_calibrator_prefers_the_better_holdout_score() -> None:
    rng = np.random.default_rng(5)
    # a step-shaped truth: isotonic fits it, a logistic curve cannot
    s = rng.uniform(-3, 3, size=20_000)
    y = (rng.random(20_000) < np.where(s > 1, 0.9, 0.2)).astype(int)
    choice = select_calibrator(s, y)
    assert choice.kind == "isotonic"
    assert choice.holdout_brier["isotonic"] < choice.holdout_brier["platt"]
    assert choice.n_fit + choice.n_holdout == 20_000
    # a logistic truth with few rows: Platt's two parameters win most of the time
    wins = 0
    for _ in range(20):
        s2 = rng.normal(size=1000)
        y2 = (rng.random(1000) < 1 / (1 + np.exp(-s2))).astype(int)
        wins += select_calibrator(s2, y2).kind == "platt"
    assert wins >= 13
    with pytest.raises(ValueError, match="too few"):
        select_calibrator(s2[:3], y2[:3])


def test_brier_and_base_rate_hand_worked() -> None:
    p = np.array([0.9, 0.2, 0.6, 0.5])
    y = np.array([1, 0, 0, 1])
    # (0.01 + 0.04 + 0.36 + 0.25) / 4
    assert brier_score(p, y) == pytest.approx(0.165)
    # base rate 0.5: every term 0.25
    assert brier_base(y) == pytest.approx(0.25)
    assert brier_base(y, base_rate=0.25) == pytest.approx((0.5625 * 2 + 0.0625 * 2) / 4)


def test_ece_and_reliability_hand_worked() -> None:
    # equal-width bins of 0.5: [0, 0.5) holds p=0.1,0.3 (mean 0.2, freq 0.5);
    # [0.5, 1] holds p=0.6,1.0 (mean 0.8, freq 0.5) -> ECE = 0.5*0.3 + 0.5*0.3 = 0.3
    p = np.array([0.1, 0.3, 0.6, 1.0])
    y = np.array([0, 1, 1, 0])
    table = reliability_table(p, y, bins=2)
    assert table["count"].tolist() == [2, 2]
    assert table["mean_p"].tolist() == pytest.approx([0.2, 0.8])
    assert table["freq"].tolist() == pytest.approx([0.5, 0.5])
    assert ece_score(p, y, bins=2) == pytest.approx(0.3)
    # equal-mass bins: quartile edges put one row per bin -> mean |p - y|
    assert ece_score(p, y, bins=4, strategy="quantile") == pytest.approx((0.1 + 0.7 + 0.4 + 1.0) / 4)
    assert ece_score(np.array([0.0, 1.0]), np.array([0, 1]), bins=10) == 0.0
    with pytest.raises(ValueError, match="strategy"):
        ece_score(p, y, strategy="bogus")


def test_perfect_calibration_has_ece_near_the_noise_floor() -> None:
    rng = np.random.default_rng(11)
    n, bins = 20_000, 10
    p = rng.uniform(size=n)
    y = (rng.random(n) < p).astype(int)
    floor = ece_noise_floor(bins, n)
    assert floor == pytest.approx(0.4 * math.sqrt(bins / n))
    assert ece_score(p, y, bins) < 1.5 * floor


def test_auc_and_evaluate() -> None:
    y = np.array([0, 0, 1, 1])
    assert auc_score(np.array([0.1, 0.4, 0.35, 0.8]), y) == pytest.approx(0.75)
    assert auc_score(np.array([0.1, 0.2]), np.array([1, 1])) == 0.5
    m = evaluate(np.array([0.1, 0.4, 0.35, 0.8]), y, bins=2)
    assert set(m) == {"ece", "brier", "brier_base", "auc", "n", "base_rate"} and m["n"] == 4


def test_epi_table_uses_the_economics_formula() -> None:
    p = np.array([0.2, 0.3, 0.7, 0.9])
    y = np.array([0, 1, 1, 1])
    t = epi_table(p, y, tp_bps=10, sl_bps=5, costs_bps=3, bins=2)
    # bin [0.5,1]: mean p 0.8 -> 0.8*10 - 0.2*5 - 3 = 4; freq 1 -> 10 - 3 = 7
    assert t["epi_pred_bps"].iloc[1] == pytest.approx(4.0)
    assert t["epi_real_bps"].iloc[1] == pytest.approx(7.0)


@given(st.lists(st.tuples(st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0]), st.sampled_from([0, 1])),
                min_size=2, max_size=60))
def test_auc_matches_scikit_learn_including_ties(rows: list[tuple[float, int]]) -> None:
    from sklearn.metrics import roc_auc_score

    p = np.array([r[0] for r in rows])
    y = np.array([r[1] for r in rows])
    expected = roc_auc_score(y, p) if 0 < y.sum() < y.size else 0.5
    assert auc_score(p, y) == pytest.approx(expected, abs=1e-12)
