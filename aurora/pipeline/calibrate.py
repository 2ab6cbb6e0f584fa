"""Calibration computations for ``02_calibrate_predict_p``: split, fit, evaluate, export.

Input: the labelled sample table from :func:`aurora.pipeline.dataset.load_samples` — one row per
sampled bbo event with ``ts_ns``, ``end_ns`` (when its label is known), ``outcome`` (+1 tp, −1 sl,
0 timeout) and the feature columns. The target ``y`` is 1 when the take-profit barrier is hit
first. Timeouts are dropped (``timeouts="drop"``: p is P(TP before SL | a barrier is hit)) or
count as 0 (``"loss"``).

Blocks (purged and embargoed, :func:`aurora.core.splits.three_blocks`): the score model is fitted
on the first, the calibrator on the second (isotonic vs Platt chosen on the second block's tail,
:func:`aurora.core.calibration.select_calibrator`), and every reported metric comes from the
third, which the gates re-score (it is saved as ``holdout.parquet``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from aurora.artifact import build_document, feature_params_document, save_artifact
from aurora.core.calibration import (
    IsotonicCalibrator,
    LinearScoreModel,
    PlattCalibrator,
    select_calibrator,
)
from aurora.core.economics import breakeven_p, e_pi_bps, round_trip_cost_bps
from aurora.core.features import NS
from aurora.core.metrics import epi_table, evaluate, reliability_table
from aurora.core.splits import three_blocks
from aurora.pipeline.dataset import Samples
from aurora.pipeline.params import CalibrateParams
from aurora.pipeline.rundir import CANDIDATE, HOLDOUT, METRICS


class InsufficientDataError(ValueError):
    """A verdict on the data, not a crash: too few labelled samples, or a block with one outcome
    class, for these barriers and dates. The pipeline reports it as "not promoted" (exit 1)."""


@dataclass
class CalibrationRun:
    """Everything the notebook plots and exports."""

    params: CalibrateParams
    score_model: LinearScoreModel
    calibrator: IsotonicCalibrator | PlattCalibrator
    calibrator_kind: str
    calibrator_holdout_brier: dict[str, float]
    alternatives: dict[str, IsotonicCalibrator | PlattCalibrator]
    blocks: dict[str, pd.DataFrame]
    metrics: dict[str, Any]
    reliability: pd.DataFrame
    epi: pd.DataFrame
    breakeven_p: float
    costs_bps: float


def targets(samples: pd.DataFrame, timeouts: str) -> pd.DataFrame:
    """Add the 0/1 target ``y``; drop timeouts when ``timeouts == "drop"``."""
    if timeouts == "drop":
        samples = samples[samples["outcome"] != 0]
    elif timeouts != "loss":
        raise ValueError(f"timeouts must be 'drop' or 'loss', got {timeouts!r}")
    return samples.assign(y=(samples["outcome"] == 1).astype(np.int8)).reset_index(drop=True)


def split_blocks(samples: pd.DataFrame, fractions: list[float], embargo_s: float) -> dict[str, pd.DataFrame]:
    """Fit / calibrate / test blocks in time order, purged and embargoed."""
    fit, cal, test = three_blocks(samples["ts_ns"].to_numpy(np.int64), samples["end_ns"].to_numpy(np.int64),
                                  fractions, embargo_ns=round(embargo_s * NS))
    blocks = {"fit": samples.iloc[fit], "calibrate": samples.iloc[cal], "test": samples.iloc[test]}
    for name, block in blocks.items():
        if len(block) < 10 or block["y"].nunique() < 2:
            raise InsufficientDataError(f"the {name} block has {len(block)} rows and "
                             f"{block['y'].nunique()} outcome class(es): too little data for these "
                             "barriers; widen the date range or shrink tp_bps/sl_bps")
    return {k: v.reset_index(drop=True) for k, v in blocks.items()}


def run_calibration(samples: pd.DataFrame, params: CalibrateParams) -> CalibrationRun:
    """Fit the score model and the calibrator on their blocks and evaluate on the test block."""
    labelled = targets(samples, params.timeouts)
    if len(labelled) < 30:
        timeouts = int((samples["outcome"] == 0).sum())
        raise InsufficientDataError(f"only {len(labelled)} labelled samples ({len(samples)} kept, {timeouts} "
                         f"timeouts, timeouts={params.timeouts!r}): too few to fit and evaluate; the "
                         f"barriers (tp {params.tp_bps:g} / sl {params.sl_bps:g} bps in "
                         f"{params.horizon_s:g} s) may be too wide for this market, or the range too short")
    blocks = split_blocks(labelled, params.fractions, params.embargo_s)
    model = LinearScoreModel(params.features, C=params.C).fit(blocks["fit"], blocks["fit"]["y"])
    s_cal = model.decision_function(blocks["calibrate"])
    y_cal = blocks["calibrate"]["y"].to_numpy()
    choice = select_calibrator(s_cal, y_cal, params.calibrator_holdout_fraction)
    alternatives = {"isotonic": IsotonicCalibrator().fit(s_cal, y_cal),
                    "platt": PlattCalibrator().fit(s_cal, y_cal)}
    kind = choice.kind if params.calibrator == "auto" else params.calibrator
    calibrator = choice.calibrator if kind == choice.kind else alternatives[kind]
    test = blocks["test"]
    p_test = calibrator.predict(model.decision_function(test))
    y_test = test["y"].to_numpy()
    costs = round_trip_cost_bps(params.fee_bps, params.slippage_bps)
    metrics: dict[str, Any] = {"test": evaluate(p_test, y_test, params.ece_bins, params.ece_strategy)}
    for name in ("fit", "calibrate"):
        b = blocks[name]
        metrics[name] = evaluate(calibrator.predict(model.decision_function(b)), b["y"].to_numpy(),
                                 params.ece_bins, params.ece_strategy)
    metrics["calibrator"] = {"kind": kind, "holdout_brier": choice.holdout_brier,
                             "auto_choice": choice.kind}
    metrics["score_model"] = {"weights": model.weights_, "intercept": model.intercept_,
                              "standardised": dict(zip(model.feature_names_, model.coef_std_.tolist(),
                                                       strict=True))}
    metrics["rows"] = {"samples": len(samples), "labelled": len(labelled),
                       **{name: len(b) for name, b in blocks.items()}}
    be = breakeven_p(params.tp_bps, params.sl_bps, costs)
    metrics["economics"] = {"costs_bps": costs, "breakeven_p": be,
                            "share_test_above_breakeven": float((p_test > be).mean())}
    return CalibrationRun(
        params=params, score_model=model, calibrator=calibrator, calibrator_kind=kind,
        calibrator_holdout_brier=choice.holdout_brier, alternatives=alternatives, blocks=blocks,
        metrics=metrics, reliability=reliability_table(p_test, y_test, params.ece_bins, params.ece_strategy),
        epi=epi_table(p_test, y_test, tp_bps=params.tp_bps, sl_bps=params.sl_bps, costs_bps=costs,
                      bins=params.ece_bins),
        breakeven_p=be, costs_bps=costs)


def epi_grid(run: CalibrationRun, points: int = 101) -> tuple[np.ndarray, np.ndarray]:
    """E[Π] (bps after costs) on a grid of p for the run's barriers and costs."""
    p = np.linspace(0.0, 1.0, points)
    return p, np.array([e_pi_bps(v, run.params.tp_bps, run.params.sl_bps, run.costs_bps) for v in p])


def data_digest(samples: pd.DataFrame, columns: list[str]) -> str:
    """SHA-256 over the sample columns the calibration used (identifies the training data)."""
    h = hashlib.sha256()
    for c in columns:
        h.update(c.encode())
        h.update(np.ascontiguousarray(samples[c].to_numpy()).tobytes())
    return h.hexdigest()


def export(run: CalibrationRun, sampled: Samples, out_dir: str | Path) -> dict[str, Path]:
    """Write ``candidate.json`` (the artifact, with the feature parameters the samples were
    computed with), ``metrics.json`` and ``holdout.parquet``."""
    p = run.params
    out = Path(out_dir)
    test = run.metrics["test"]
    samples, microprice = sampled.frame, sampled.microprice
    ts = samples["ts_ns"].to_numpy(np.int64)
    body = {
        "schema": "aurora.calibration/1",
        "created_at": datetime.now(UTC).isoformat(),
        "model_version": p.model_version,
        "symbols": [p.symbol],
        "features": list(p.features),
        "score_model": run.score_model.to_dict(),
        "calibrator": run.calibrator.to_dict(),
        "feature_params": feature_params_document(sampled.feature_params),
        "microprice": microprice.to_dict() if microprice is not None else None,
        "barriers": {"tp_bps": p.tp_bps, "sl_bps": p.sl_bps, "horizon_s": p.horizon_s},
        "costs": {"fee_bps": p.fee_bps, "slippage_bps": p.slippage_bps},
        "metrics": {"ece": test["ece"], "brier": test["brier"], "brier_base": test["brier_base"],
                    "auc": test["auc"], "n_train": run.metrics["rows"]["fit"],
                    "n_calibrate": run.metrics["rows"]["calibrate"], "n_test": test["n"],
                    "base_rate": test["base_rate"], "calibrator": run.calibrator_kind},
        "data": {"rows": len(samples),
                 "start": datetime.fromtimestamp(ts[0] / NS, UTC).isoformat() if ts.size else str(p.start),
                 "end": datetime.fromtimestamp(ts[-1] / NS, UTC).isoformat() if ts.size else str(p.end),
                 "sha256": data_digest(samples, ["ts_ns", "outcome", *p.features])},
        "params": p.for_papermill(),
    }
    doc = build_document(body)
    paths = {"candidate": save_artifact(doc, out / CANDIDATE)}
    metrics_path = out / METRICS
    metrics_path.write_text(json.dumps({**run.metrics, "sha256": doc["sha256"],
                                        "model_version": p.model_version}, indent=2, default=float))
    paths["metrics"] = metrics_path
    hold = run.blocks["test"][[*p.features, "y"]]
    paths["holdout"] = out / HOLDOUT
    hold.to_parquet(paths["holdout"], index=False)
    return paths
