"""Promotion gates, current/previous/history handling and rollback (aurora.pipeline.promotion)."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import pytest

from aurora.artifact import ArtifactError, build_document, load_artifact, save_artifact
from aurora.core.calibration import IsotonicCalibrator, LinearScoreModel, PlattCalibrator
from aurora.pipeline.promotion import Gates, Holdout, promote, rollback

GATES = Gates(min_samples=500, ece_bins=10, ece_noise_multiple=1.5, ece_strategy="uniform")


def make_data(n: int, seed: int, w: float = 1.5):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-w * x))).astype(float)
    return {"obi_l1": x, "ofi_5s": rng.normal(size=n)}, y


def artifact(tmp: Path, name: str, *, weights: dict | None = None, calibrator: dict | None = None,
             version: str = "v") -> Path:
    """A candidate fitted on its own data (seeded by name), or with forced weights / calibrator;
    the isotonic calibrator is always fitted to the candidate's own score, so it is calibrated."""
    cols, y = make_data(6_000, seed=zlib.crc32(name.encode()))
    if weights is None:
        score = LinearScoreModel(["obi_l1"]).fit(cols, y).to_dict()
    else:
        score = {"kind": "linear", "weights": weights, "intercept": 0.0}
    if calibrator is None:
        s = score["intercept"] + sum(w * cols.get(f, 0.0) for f, w in score["weights"].items())
        calibrator = IsotonicCalibrator().fit(s, y).to_dict()
    body = {
        "schema": "aurora.calibration/1", "created_at": "2026-11-24T06:00:00Z", "model_version": version,
        "symbols": ["BTCUSDT"], "features": sorted(score["weights"]), "score_model": score,
        "calibrator": calibrator,
        "feature_params": {"windows_s": [1.0, 5.0], "obi_levels": 10, "obi_decay": 0.5,
                           "impact_window_s": 60.0, "microprice_imbalance_buckets": 10,
                           "microprice_spread_buckets": 2, "microprice_horizon_s": 1.0, "tick_size": 0.01},
        "barriers": {"tp_bps": 10, "sl_bps": 10, "horizon_s": 30},
        "costs": {"fee_bps": 1.0, "slippage_bps": 0.5},
        "metrics": {"ece": 0.01, "brier": 0.2, "brier_base": 0.25, "auc": 0.7, "n_train": 6000,
                    "n_test": 3000},
        "data": {"rows": 6000, "start": "2024-01-01", "end": "2024-01-02", "sha256": "0" * 64},
    }
    return save_artifact(build_document(body), tmp / f"{name}.json")


@pytest.fixture
def holdout() -> Holdout:
    cols, y = make_data(3_000, seed=999)
    return Holdout(cols, y)


def test_first_good_candidate_is_promoted_and_kept_in_history(tmp_path: Path, holdout: Holdout) -> None:
    arts = tmp_path / "artifacts"
    cand = artifact(tmp_path, "good", version="good")
    res = promote(cand, arts, GATES, holdout)
    assert res.promoted, res.to_dict()
    assert [c.name for c in res.checks] == ["min_samples", "ece", "brier_vs_base", "vs_current"]
    assert (arts / "current.json").read_bytes() == cand.read_bytes()
    assert not (arts / "previous.json").exists()
    assert len(list((arts / "history").glob("*.json"))) == 1
    assert load_artifact(arts / "current.json").model_version == "good"


def test_each_gate_rejects_and_current_is_kept(tmp_path: Path, holdout: Holdout) -> None:
    arts = tmp_path / "artifacts"
    assert promote(artifact(tmp_path, "base", version="base"), arts, GATES, holdout).promoted
    before = (arts / "current.json").read_bytes()

    small = Holdout({"obi_l1": holdout.columns["obi_l1"][:100]}, holdout.y[:100])
    res = promote(artifact(tmp_path, "c1"), arts, GATES, small)
    assert not res.promoted and res.failed[0] == "min_samples"

    # a mis-calibrated map (p always 0.95) fails ECE and Brier-vs-base
    bad_cal = {"kind": "isotonic", "x": [-10.0, 10.0], "y": [0.95, 0.95]}
    res = promote(artifact(tmp_path, "c2", calibrator=bad_cal), arts, GATES, holdout)
    assert not res.promoted and {"ece", "brier_vs_base"} <= set(res.failed)

    # calibrated but weaker than current (its score is diluted by noise): passes the absolute
    # gates, fails only against the current artifact on the same hold-out
    res = promote(artifact(tmp_path, "weak", weights={"obi_l1": 1.0, "ofi_5s": 1.0}), arts, GATES, holdout)
    assert not res.promoted and res.failed == ["vs_current"], res.to_dict()
    assert res.current is not None and res.candidate["brier"] > res.current["brier"]

    assert (arts / "current.json").read_bytes() == before
    assert not (arts / "previous.json").exists()


def test_promotion_keeps_previous_and_rollback_swaps(tmp_path: Path, holdout: Holdout) -> None:
    arts = tmp_path / "artifacts"
    a = artifact(tmp_path, "a", weights={"obi_l1": 1.0, "ofi_5s": 0.3}, version="a")
    b = artifact(tmp_path, "b", version="b")
    assert promote(a, arts, GATES, holdout).promoted
    res = promote(b, arts, GATES, holdout)
    assert res.promoted, res.to_dict()
    assert load_artifact(arts / "current.json").model_version == "b"
    assert load_artifact(arts / "previous.json").model_version == "a"
    assert len(list((arts / "history").glob("*.json"))) == 2

    restored = rollback(arts)
    assert restored.model_version == "a"
    assert load_artifact(arts / "current.json").model_version == "a"
    assert load_artifact(arts / "previous.json").model_version == "b"
    assert rollback(arts).model_version == "b"


def test_rollback_without_previous_is_refused(tmp_path: Path, holdout: Holdout) -> None:
    arts = tmp_path / "artifacts"
    with pytest.raises(ArtifactError, match="no previous artifact"):
        rollback(arts)
    promote(artifact(tmp_path, "a"), arts, GATES, holdout)
    before = (arts / "current.json").read_bytes()
    with pytest.raises(ArtifactError, match="no previous artifact"):
        rollback(arts)
    (arts / "previous.json").write_text("{broken")
    with pytest.raises(ArtifactError, match="not valid JSON"):
        rollback(arts)
    assert (arts / "current.json").read_bytes() == before


def test_tampered_or_truncated_candidate_is_refused(tmp_path: Path, holdout: Holdout) -> None:
    arts = tmp_path / "artifacts"
    good = artifact(tmp_path, "good")
    doc = json.loads(good.read_text())
    doc["score_model"]["intercept"] += 1.0
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(doc))
    with pytest.raises(ArtifactError, match="sha256"):
        promote(tampered, arts, GATES, holdout)
    cut = tmp_path / "cut.json"
    cut.write_bytes(good.read_bytes()[:-30])
    with pytest.raises(ArtifactError, match="truncated"):
        promote(cut, arts, GATES, holdout)
    assert not (arts / "current.json").exists()


def test_unusable_current_is_replaced_and_incomparable_current_is_reported(tmp_path: Path,
                                                                           holdout: Holdout) -> None:
    arts = tmp_path / "artifacts"
    arts.mkdir()
    (arts / "current.json").write_text("{not json")
    res = promote(artifact(tmp_path, "a", version="a"), arts, GATES, holdout)
    assert res.promoted and "unusable" in res.checks[-1].detail
    # a current artifact built on a feature the hold-out lacks cannot be re-scored: reported
    other = artifact(tmp_path, "other", weights={"tfi_1s": 1.0}, version="other",
                     calibrator=PlattCalibrator().fit(np.array([-1.0, 1.0, 0.5, -0.5]),
                                                      np.array([0, 1, 1, 0])).to_dict())
    (arts / "current.json").write_bytes(other.read_bytes())
    res = promote(artifact(tmp_path, "b", version="b"), arts, GATES, holdout)
    assert res.promoted and "not comparable" in res.checks[-1].detail
    assert load_artifact(arts / "previous.json").model_version == "other"
