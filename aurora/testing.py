"""Helpers for tests and benchmarks: a small valid calibration artifact for a scratch home.

Not used by any command; real artifacts come from the calibration pipeline.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aurora.artifact import SCHEMA, build_document, feature_params_document, save_artifact
from aurora.config import PACKAGED_DEFAULTS, load_settings
from aurora.core.features import FeatureParams


def write_artifact(path: Path, version: str, *, created_at: datetime | None = None, tp_bps: float = 10.0,
                   sl_bps: float = 10.0, symbols: tuple[str, ...] = ("BTCUSDT", "ETHUSDT"),
                   feature_params: FeatureParams | None = None,
                   microprice: dict[str, Any] | None = None) -> Path:
    """Save a small valid calibration artifact (one linear feature, Platt map) for a scratch home;
    its feature parameters are ``feature_params``, by default the shipped ones with a 0.01 tick."""
    if feature_params is None:
        shipped = load_settings(home=PACKAGED_DEFAULTS.parent.parent, env={})
        feature_params = FeatureParams.from_settings(shipped.features, 0.01)
    body = {
        "schema": SCHEMA, "created_at": (created_at or datetime.now(UTC)).isoformat(),
        "model_version": version,
        "symbols": list(symbols), "features": ["obi_l1"],
        "score_model": {"kind": "linear", "weights": {"obi_l1": 1.0}, "intercept": 0.0},
        "calibrator": {"kind": "platt", "a": 1.0, "b": 0.0},
        "feature_params": feature_params_document(feature_params), "microprice": microprice,
        "barriers": {"tp_bps": tp_bps, "sl_bps": sl_bps, "horizon_s": 30.0},
        "costs": {"fee_bps": 1.0, "slippage_bps": 0.5},
        "metrics": {"ece": 0.01, "brier": 0.2, "brier_base": 0.25, "auc": 0.6, "n_train": 1000,
                    "n_test": 500},
        "data": {"rows": 1500, "start": "2026-01-01", "end": "2026-01-02", "sha256": "0" * 64},
    }
    return save_artifact(build_document(body), path)
