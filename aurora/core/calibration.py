"""Score model and probability calibrators (scikit-learn estimator style) plus calibration metrics.

The chain exported to the artifact (DESIGN.md §5) is ``features → score → p``:

* :class:`LinearScoreModel` — logistic regression fitted on standardised features; exported as
  weights on the **raw** features plus an intercept, so inference needs no scaler. The score is
  the model's log-odds (dimensionless); a higher score means a take-profit hit is more likely.
* :class:`IsotonicCalibrator` and :class:`PlattCalibrator` — monotone maps ``score → p ∈ [0, 1]``
  fitted on a later time block than the score model. :func:`select_calibrator` fits both on the
  earlier part of that block and keeps the one with the lower Brier score on its later part.

Estimators follow scikit-learn conventions: ``fit`` returns ``self`` and fitted attributes end
in ``_``. Their ``predict`` goes through the very maps :mod:`aurora.core.predict` uses at
inference time, so what is evaluated here is exactly what the artifact reproduces.

Metrics: the Brier score, the base-rate Brier score (of the constant predictor ``ȳ``), ROC AUC
and the expected calibration error (ECE) over **equal-width** probability bins by default
(``strategy="quantile"`` gives equal-mass bins). A perfectly calibrated model still shows
``ECE ≈ 0.4·√(bins/N)`` from sampling noise (:func:`ece_noise_floor`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from aurora.core.economics import e_pi_bps
from aurora.core.predict import IsotonicMap, PlattMap

BinStrategy = Literal["uniform", "quantile"]
FeatureFrame = pd.DataFrame | Mapping[str, Sequence[float] | np.ndarray]


def _labels(y: Any) -> np.ndarray:
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(f"labels must be one-dimensional, got shape {arr.shape}")
    if arr.size and not np.isin(arr, (0, 1)).all():
        raise ValueError("labels must be 0/1 (1 = take-profit barrier hit first)")
    return arr.astype(np.float64)


def _scores(s: Any, n: int | None = None) -> np.ndarray:
    arr = np.asarray(s, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"scores must be one-dimensional, got shape {arr.shape}")
    if n is not None and arr.size != n:
        raise ValueError(f"scores ({arr.size}) and labels ({n}) differ in length")
    if not np.isfinite(arr).all():
        raise ValueError("scores hold NaN or inf")
    return arr


def _matrix(X: FeatureFrame, features: Sequence[str]) -> np.ndarray:
    missing = [f for f in features if f not in X]
    if missing:
        raise KeyError(f"feature columns missing: {missing}")
    cols = []
    for f in features:
        col = np.asarray(X[f], dtype=np.float64)
        if not np.isfinite(col).all():
            raise ValueError(f"feature {f!r} holds NaN or inf; drop or fill those rows first")
        cols.append(col)
    return np.column_stack(cols) if cols else np.empty((0, 0))


class LinearScoreModel(BaseEstimator):
    """Logistic regression on standardised features, exported as a linear score on raw features.

    ``score(x) = intercept_ + Σ weights_[f]·x[f]`` is the log-odds of a take-profit hit.
    ``C`` is the inverse L2 regularisation strength on the standardised coefficients.
    A feature that is constant in the fit block gets weight 0.
    """

    def __init__(self, features: Sequence[str] = (), C: float = 1.0, max_iter: int = 500) -> None:
        self.features = features
        self.C = C
        self.max_iter = max_iter

    def fit(self, X: FeatureFrame, y: Any) -> LinearScoreModel:
        names = list(self.features)
        if not names:
            raise ValueError("LinearScoreModel needs at least one feature name")
        target = _labels(y)
        M = _matrix(X, names)
        if M.shape[0] != target.size:
            raise ValueError(f"features ({M.shape[0]} rows) and labels ({target.size}) differ in length")
        if np.unique(target).size < 2:
            raise ValueError("the fit block holds only one outcome class; widen the date range "
                             "or change the barriers")
        mean = M.mean(axis=0)
        scale = M.std(axis=0)
        scale = np.where(scale > 0, scale, 1.0)
        model = LogisticRegression(C=self.C, max_iter=self.max_iter).fit((M - mean) / scale, target)
        coef_std = model.coef_[0]
        raw = coef_std / scale
        self.feature_names_ = names
        self.mean_ = mean
        self.scale_ = scale
        self.coef_std_ = coef_std
        self.weights_ = {n: float(w) for n, w in zip(names, raw, strict=True)}
        self.intercept_ = float(model.intercept_[0] - np.dot(raw, mean))
        return self

    def decision_function(self, X: FeatureFrame) -> np.ndarray:
        """Scores (log-odds) of each row, computed from the exported raw weights."""
        M = _matrix(X, self.feature_names_)
        return self.intercept_ + M @ np.array([self.weights_[n] for n in self.feature_names_])

    def to_dict(self) -> dict[str, Any]:
        """The artifact's ``score_model`` entry."""
        return {"kind": "linear", "weights": dict(self.weights_), "intercept": self.intercept_}


def isotonic_points(x: np.ndarray, y: np.ndarray) -> tuple[list[float], list[float]]:
    """Thresholds for :class:`~aurora.core.predict.IsotonicMap`: strictly increasing ``x``,
    non-decreasing ``y`` in [0, 1].

    Tied ``x`` values (sklearn does not emit them, but a hand-built table might) are merged
    keeping the mean ``y``; ``y`` is clipped to [0, 1] and made non-decreasing against
    floating-point round-off.
    """
    xs = np.asarray(x, dtype=np.float64)
    ys = np.clip(np.asarray(y, dtype=np.float64), 0.0, 1.0)
    if xs.size == 0 or xs.size != ys.size:
        raise ValueError("isotonic thresholds need equally long, non-empty x and y")
    order = np.argsort(xs, kind="stable")
    xs, ys = xs[order], ys[order]
    ux, inverse = np.unique(xs, return_inverse=True)
    if ux.size != xs.size:
        ys = np.bincount(inverse, weights=ys) / np.bincount(inverse)
    ys = np.maximum.accumulate(ys)
    return ux.tolist(), ys.tolist()


class IsotonicCalibrator(BaseEstimator):
    """Isotonic regression ``score → p`` (non-decreasing, clipped outside the fitted range)."""

    def fit(self, scores: Any, y: Any) -> IsotonicCalibrator:
        target = _labels(y)
        s = _scores(scores, target.size)
        if s.size == 0:
            raise ValueError("cannot fit a calibrator on no rows")
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip")
        iso.fit(s, target)
        self.model_ = iso
        self.x_, self.y_ = isotonic_points(iso.X_thresholds_, iso.y_thresholds_)
        self.map_ = IsotonicMap(tuple(self.x_), tuple(self.y_))
        return self

    def predict(self, scores: Any) -> np.ndarray:
        return self.map_.predict(np.asarray(scores, dtype=np.float64))

    def to_dict(self) -> dict[str, Any]:
        """The artifact's ``calibrator`` entry."""
        return {"kind": "isotonic", "x": list(self.x_), "y": list(self.y_)}


class PlattCalibrator(BaseEstimator):
    """Platt scaling ``p = 1 / (1 + exp(−(a·score + b)))`` with ``a ≥ 0``.

    Fitted by unregularised logistic regression on the score. If the fit yields a negative
    slope (the score is anti-informative on this block), the slope is set to 0 and ``b`` to the
    log-odds of the block's base rate, so ``p`` stays monotone non-decreasing.
    """

    def fit(self, scores: Any, y: Any) -> PlattCalibrator:
        target = _labels(y)
        s = _scores(scores, target.size)
        if s.size == 0:
            raise ValueError("cannot fit a calibrator on no rows")
        rate = float(np.clip(target.mean(), 1e-6, 1 - 1e-6))
        if np.unique(target).size < 2 or np.ptp(s) == 0:
            a, b = 0.0, math.log(rate / (1 - rate))
        else:
            lr = LogisticRegression(C=np.inf, max_iter=1000).fit(s[:, None], target)
            a, b = float(lr.coef_[0, 0]), float(lr.intercept_[0])
            if a < 0:
                a, b = 0.0, math.log(rate / (1 - rate))
        self.a_, self.b_ = a, b
        self.map_ = PlattMap(a, b)
        return self

    def predict(self, scores: Any) -> np.ndarray:
        return self.map_.predict(np.asarray(scores, dtype=np.float64))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "platt", "a": self.a_, "b": self.b_}


Calibrator = IsotonicCalibrator | PlattCalibrator


@dataclass(frozen=True)
class CalibratorChoice:
    """The calibrator kept by :func:`select_calibrator` and the hold-out Brier of each kind."""

    calibrator: Calibrator
    kind: str
    holdout_brier: dict[str, float]
    n_fit: int
    n_holdout: int


def select_calibrator(scores: Any, y: Any, holdout_fraction: float = 0.3) -> CalibratorChoice:
    """Fit isotonic and Platt on the first ``1 − holdout_fraction`` of the (time-ordered) rows,
    score both by Brier on the rest, and refit the winner on all rows. Ties go to Platt (fewer
    parameters)."""
    if not 0.0 < holdout_fraction < 1.0:
        raise ValueError(f"holdout_fraction must lie in (0, 1), got {holdout_fraction}")
    target = _labels(y)
    s = _scores(scores, target.size)
    cut = round(s.size * (1.0 - holdout_fraction))
    if cut < 2 or s.size - cut < 2:
        raise ValueError(f"too few rows ({s.size}) to choose a calibrator on a hold-out")
    candidates: dict[str, type[IsotonicCalibrator] | type[PlattCalibrator]] = {
        "platt": PlattCalibrator, "isotonic": IsotonicCalibrator}
    scored = {kind: brier_score(cls().fit(s[:cut], target[:cut]).predict(s[cut:]), target[cut:])
              for kind, cls in candidates.items()}
    kind = min(scored, key=lambda k: (scored[k], k != "platt"))
    return CalibratorChoice(candidates[kind]().fit(s, target), kind, scored, cut, s.size - cut)


def brier_score(p: Any, y: Any) -> float:
    """Mean squared error of probabilities against 0/1 outcomes."""
    target = _labels(y)
    prob = _scores(p, target.size)
    if target.size == 0:
        raise ValueError("Brier score of no rows")
    return float(np.mean((prob - target) ** 2))


def brier_base(y: Any, base_rate: float | None = None) -> float:
    """Brier score of the constant forecast ``base_rate`` (default: the mean of ``y`` itself,
    i.e. the best constant in hindsight, ``ȳ(1−ȳ)``)."""
    target = _labels(y)
    if target.size == 0:
        raise ValueError("Brier score of no rows")
    rate = float(target.mean()) if base_rate is None else float(base_rate)
    return float(np.mean((rate - target) ** 2))


def auc_score(p: Any, y: Any) -> float:
    """ROC AUC of ``p`` (or any monotone score) for ``y``; 0.5 when only one class is present."""
    target = _labels(y)
    prob = _scores(p, target.size)
    if np.unique(target).size < 2:
        return 0.5
    return float(roc_auc_score(target, prob))


def _bin_index(p: np.ndarray, bins: int, strategy: BinStrategy) -> tuple[np.ndarray, np.ndarray]:
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")
    if strategy == "uniform":
        edges = np.linspace(0.0, 1.0, bins + 1)
    elif strategy == "quantile":
        edges = np.quantile(p, np.linspace(0.0, 1.0, bins + 1)) if p.size else np.linspace(0, 1, bins + 1)
        edges[0], edges[-1] = 0.0, 1.0
    else:
        raise ValueError(f"unknown bin strategy {strategy!r}; use 'uniform' or 'quantile'")
    # Right-open bins [lo, hi), the last one closed so that p == 1 is counted.
    idx = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, bins - 1)
    return idx, edges


def reliability_table(p: Any, y: Any, bins: int = 10, strategy: BinStrategy = "uniform") -> pd.DataFrame:
    """Per-bin count, mean predicted ``p`` and observed frequency (empty bins are omitted)."""
    target = _labels(y)
    prob = _scores(p, target.size)
    if ((prob < 0) | (prob > 1)).any():
        raise ValueError("probabilities must lie in [0, 1]")
    idx, edges = _bin_index(prob, bins, strategy)
    count = np.bincount(idx, minlength=bins)
    sum_p = np.bincount(idx, weights=prob, minlength=bins)
    sum_y = np.bincount(idx, weights=target, minlength=bins)
    keep = count > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        table = pd.DataFrame({
            "bin": np.arange(bins), "lo": edges[:-1], "hi": edges[1:], "count": count,
            "mean_p": sum_p / count, "freq": sum_y / count,
        })
    return table[keep].reset_index(drop=True)


def ece_score(p: Any, y: Any, bins: int = 10, strategy: BinStrategy = "uniform") -> float:
    """Expected calibration error ``Σ_b (n_b/N)·|mean_p_b − freq_b|``."""
    table = reliability_table(p, y, bins, strategy)
    n = table["count"].sum()
    if n == 0:
        raise ValueError("ECE of no rows")
    return float((table["count"] * (table["mean_p"] - table["freq"]).abs()).sum() / n)


def ece_noise_floor(bins: int, n: int) -> float:
    """ECE a perfectly calibrated model shows from sampling noise alone: ``0.4·√(bins/N)``."""
    if n <= 0:
        return math.inf
    return 0.4 * math.sqrt(bins / n)


def evaluate(p: Any, y: Any, bins: int = 10, strategy: BinStrategy = "uniform") -> dict[str, float]:
    """ECE, Brier, base-rate Brier, AUC, row count and base rate of one evaluation block."""
    target = _labels(y)
    return {
        "ece": ece_score(p, target, bins, strategy),
        "brier": brier_score(p, target),
        "brier_base": brier_base(target),
        "auc": auc_score(p, target),
        "n": int(target.size),
        "base_rate": float(target.mean()),
    }


def epi_table(p: Any, y: Any, *, tp_bps: float, sl_bps: float, costs_bps: float,
              bins: int = 10) -> pd.DataFrame:
    """Predicted against realised expected return per trade (bps) by bin of predicted ``p``.

    ``epi_pred_bps`` applies :func:`~aurora.core.economics.e_pi_bps` to the bin's mean ``p``;
    ``epi_real_bps`` applies it to the bin's observed take-profit frequency.
    """
    table = reliability_table(p, y, bins)
    table["epi_pred_bps"] = [e_pi_bps(v, tp_bps, sl_bps, costs_bps) for v in table["mean_p"]]
    table["epi_real_bps"] = [e_pi_bps(v, tp_bps, sl_bps, costs_bps) for v in table["freq"]]
    return table
