from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from aurora.artifact import ArtifactError, build_document, load_artifact, save_artifact
from aurora.core.predict import IsotonicMap, LinearScore, PlattMap


def body(**over) -> dict:
    doc = {
        "schema": "aurora.calibration/1",
        "created_at": "2026-11-24T06:00:00Z",
        "model_version": "test-1",
        "symbols": ["BTCUSDT"],
        "features": ["obi_l1", "tfi_1s"],
        "score_model": {"kind": "linear", "weights": {"obi_l1": 2.0, "tfi_1s": 0.5}, "intercept": -0.1},
        "calibrator": {"kind": "isotonic", "x": [-1.0, 0.0, 1.0], "y": [0.2, 0.4, 0.9]},
        "feature_params": {"windows_s": [1.0, 5.0], "obi_levels": 10, "obi_decay": 0.5,
                           "impact_window_s": 60.0, "microprice_imbalance_buckets": 10,
                           "microprice_spread_buckets": 2, "microprice_horizon_s": 1.0, "tick_size": 0.01},
        "barriers": {"tp_bps": 10, "sl_bps": 10, "horizon_s": 30},
        "costs": {"fee_bps": 1.0, "slippage_bps": 0.5},
        "metrics": {"ece": 0.01, "brier": 0.2, "brier_base": 0.25, "auc": 0.6, "n_train": 100, "n_test": 50},
        "data": {"rows": 150, "start": "2024-01-01", "end": "2024-01-02", "sha256": "ab" * 32},
        "params": {"seed": 1},
    }
    doc.update(over)
    return doc


def test_round_trip_and_inference(tmp_path: Path) -> None:
    path = save_artifact(build_document(body()), tmp_path / "a.json")
    cal = load_artifact(path)
    assert cal.model_version == "test-1" and len(cal.sha256) == 64
    s = cal.score({"obi_l1": 0.25, "tfi_1s": 0.2})
    assert s == pytest.approx(0.5)
    assert cal.predict_p(s) == pytest.approx(0.65)
    assert cal.predict_p(-5) == 0.2 and cal.predict_p(5) == 0.9
    # costs: 2*(1+0.5)=3; 0.65*10 - 0.35*10 - 3 = 0
    assert cal.e_pi_bps(0.65) == pytest.approx(0.0)
    assert load_artifact(path).to_document() == json.loads(path.read_text())


def test_tampered_truncated_and_wrong_schema_are_refused(tmp_path: Path) -> None:
    path = save_artifact(build_document(body()), tmp_path / "a.json")
    doc = json.loads(path.read_text())
    doc["barriers"]["tp_bps"] = 50
    (tmp_path / "t.json").write_text(json.dumps(doc))
    with pytest.raises(ArtifactError, match="sha256"):
        load_artifact(tmp_path / "t.json")
    (tmp_path / "cut.json").write_bytes(path.read_bytes()[:-40])
    with pytest.raises(ArtifactError, match="not valid JSON"):
        load_artifact(tmp_path / "cut.json")
    with pytest.raises(ArtifactError, match="schema"):
        build_document(body(schema="aurora.calibration/2"))
    doc2 = build_document(body())
    doc2["schema"] = "other/9"
    (tmp_path / "s.json").write_text(json.dumps(doc2))
    with pytest.raises(ArtifactError, match="this version reads"):
        load_artifact(tmp_path / "s.json")
    with pytest.raises(ArtifactError, match="cannot read"):
        load_artifact(tmp_path / "missing.json")


def test_invalid_calibrators_are_refused() -> None:
    with pytest.raises(ArtifactError, match="non-decreasing"):
        from aurora.artifact import parse_artifact

        parse_artifact(build_document(body(calibrator={"kind": "isotonic", "x": [0, 1], "y": [0.9, 0.1]})))
    with pytest.raises(ArtifactError, match="created_at"):
        build_document(body(created_at="2026-11-24T06:00:00"))


def test_save_leaves_existing_file_intact_on_invalid_document(tmp_path: Path) -> None:
    path = save_artifact(build_document(body()), tmp_path / "a.json")
    before = path.read_bytes()
    bad = build_document(body())
    bad["model_version"] = "changed-after-hashing"
    with pytest.raises(ArtifactError):
        save_artifact(bad, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_isotonic_array_path_handles_thresholds_a_denormal_apart():
    # np.interp's slope 1 / 2.25e-311 overflows: it answered inf here (found by hypothesis in CI)
    m = IsotonicMap((-1.0, -2.225073858507e-311, 2.2250738585e-313), (0.0, 0.0, 1.0))
    probe = np.array([0.0, -1e-311, 1.0, -5.0, np.nan])
    np.testing.assert_allclose(m.predict(probe), [m(v) for v in probe], atol=1e-12)
    assert np.all((m.predict(probe) >= 0) & (m.predict(probe) <= 1))


xs = st.lists(st.floats(-50, 50), min_size=1, max_size=30, unique=True).map(sorted)


@given(x=xs, data=st.data())
def test_isotonic_scalar_matches_array_and_is_monotone(x: list[float], data) -> None:
    y = sorted(data.draw(st.lists(st.floats(0, 1), min_size=len(x), max_size=len(x))))
    m = IsotonicMap(tuple(x), tuple(y))
    probe = np.array(data.draw(st.lists(st.floats(-100, 100), min_size=1, max_size=50)))
    vec = m.predict(probe)
    assert np.allclose([m(v) for v in probe], vec, atol=1e-12)
    order = np.argsort(probe)
    assert np.all(np.diff(vec[order]) >= -1e-12)
    assert np.all((vec >= 0) & (vec <= 1))


@given(a=st.floats(0, 20), b=st.floats(-20, 20), s=st.lists(st.floats(-1e6, 1e6), min_size=2, max_size=20))
def test_platt_scalar_matches_array_and_is_monotone(a: float, b: float, s: list[float]) -> None:
    m = PlattMap(a, b)
    arr = np.sort(np.array(s))
    vec = m.predict(arr)
    assert np.allclose([m(v) for v in arr], vec, atol=1e-12)
    assert np.all(np.diff(vec) >= -1e-15) and np.all((vec >= 0) & (vec <= 1))


def test_nan_score_maps_to_the_lowest_probability() -> None:
    assert IsotonicMap((0.0, 1.0), (0.1, 0.8))(float("nan")) == 0.1
    assert PlattMap(1.0, 0.0)(float("nan")) == 0.0
    with pytest.raises(ValueError, match="slope"):
        PlattMap(-1.0, 0.0)


def test_linear_score_names_missing_features() -> None:
    lin = LinearScore({"a": 1.0, "b": 2.0}, 0.5)
    assert lin({"a": 1, "b": 1}) == 3.5
    assert np.allclose(lin.predict({"a": np.ones(3), "b": np.zeros(3)}), 1.5)
    with pytest.raises(KeyError, match="'b'"):
        lin({"a": 1})
