"""Score model and probability calibrators (scikit-learn estimator style).

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

The metrics that judge the fit (ECE, Brier, AUC) live in :mod:`aurora.core.metrics`, which needs
no scikit-learn, so that loading and promoting artifacts stays light.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from aurora.core.metrics import brier_score, labels_array, scores_array
from aurora.core.predict import IsotonicMap, PlattMap

FeatureFrame = pd.DataFrame | Mapping[str, Sequence[float] | np.ndarray]


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
        target = labels_array(y)
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
        target = labels_array(y)
        s = scores_array(scores, target.size)
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
        target = labels_array(y)
        s = scores_array(scores, target.size)
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
    target = labels_array(y)
    s = scores_array(scores, target.size)
    cut = round(s.size * (1.0 - holdout_fraction))
    if cut < 2 or s.size - cut < 2:
        raise ValueError(f"too few rows ({s.size}) to choose a calibrator on a hold-out")
    candidates: dict[str, type[IsotonicCalibrator] | type[PlattCalibrator]] = {
        "platt": PlattCalibrator, "isotonic": IsotonicCalibrator}
    scored = {kind: brier_score(cls().fit(s[:cut], target[:cut]).predict(s[cut:]), target[cut:])
              for kind, cls in candidates.items()}
    kind = min(scored, key=lambda k: (scored[k], k != "platt"))
    return CalibratorChoice(candidates[kind]().fit(s, target), kind, scored, cut, s.size - cut)
