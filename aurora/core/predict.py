"""Inference side of the calibration: score → probability maps exported in the artifact.

Both maps are monotone non-decreasing in the score and return values in [0, 1]. They run
without scikit-learn: the isotonic map is a piecewise-linear interpolation over the fitted
thresholds (exactly what ``IsotonicRegression(out_of_bounds="clip").predict`` computes), and
the Platt map is a logistic curve ``p = 1 / (1 + exp(−(a·score + b)))`` with ``a ≥ 0``.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class IsotonicMap:
    """Piecewise-linear map through ``(x[i], y[i])``; clipped to ``y[0]``/``y[-1]`` outside."""

    x: tuple[float, ...]
    y: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.x) != len(self.y) or len(self.x) < 1:
            raise ValueError("isotonic map needs equally long, non-empty x and y")
        if any(not math.isfinite(v) for v in (*self.x, *self.y)):
            raise ValueError("isotonic map holds a non-finite value")
        if any(b <= a for a, b in zip(self.x, self.x[1:], strict=False)):
            raise ValueError("isotonic x thresholds must be strictly increasing")
        if any(b < a for a, b in zip(self.y, self.y[1:], strict=False)):
            raise ValueError("isotonic y values must be non-decreasing")
        if self.y[0] < 0.0 or self.y[-1] > 1.0:
            raise ValueError("isotonic y values must lie in [0, 1]")

    def __call__(self, score: float) -> float:
        # bisect over a tuple is ~4x faster than np.interp for one scalar (measured in
        # `auroractl bench calibrate`); the array path below does the same arithmetic.
        x, y = self.x, self.y
        if not score > x[0]:  # also catches NaN: treated as the lowest score
            return y[0]
        if score >= x[-1]:
            return y[-1]
        i = bisect_right(x, score)
        x0, x1, y0 = x[i - 1], x[i], y[i - 1]
        return y0 + (y[i] - y0) * (score - x0) / (x1 - x0)

    def predict(self, scores: np.ndarray) -> np.ndarray:
        """:meth:`__call__` over an array, with the same arithmetic. Not ``np.interp``: it takes the
        slope (y1 − y0)/(x1 − x0) first, which overflows to inf between thresholds closer than
        ~1e-308 apart, where the scalar path's (y1 − y0)·(s − x0)/(x1 − x0) stays in [y0, y1]."""
        s = np.asarray(scores, dtype=np.float64)
        x, y = np.asarray(self.x), np.asarray(self.y)
        if x.size == 1:
            return np.full(s.shape, y[0])
        i = np.clip(np.searchsorted(x, s, side="right"), 1, x.size - 1)
        x0, y0 = x[i - 1], y[i - 1]
        with np.errstate(invalid="ignore", over="ignore"):  # only in lanes replaced just below
            inside = y0 + (y[i] - y0) * (s - x0) / (x[i] - x0)
        return np.where(~(s > x[0]), y[0], np.where(s >= x[-1], y[-1], inside))


@dataclass(frozen=True)
class PlattMap:
    """Logistic map ``1 / (1 + exp(−(a·score + b)))`` with slope ``a ≥ 0``."""

    a: float
    b: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.a) and math.isfinite(self.b)):
            raise ValueError("Platt coefficients must be finite")
        if self.a < 0:
            raise ValueError("Platt slope a must be >= 0 so that p rises with the score")

    def __call__(self, score: float) -> float:
        if math.isnan(score):
            score = -math.inf
        z = self.a * score + self.b if self.a else self.b
        if z >= 0:
            return 1.0 / (1.0 + math.exp(-z))
        e = math.exp(z)
        return e / (1.0 + e)

    def predict(self, scores: np.ndarray) -> np.ndarray:
        s = np.nan_to_num(np.asarray(scores, dtype=np.float64), nan=-np.inf)
        with np.errstate(over="ignore", invalid="ignore"):
            z = np.where(self.a == 0, self.b, self.a * s + self.b)
        return 0.5 * (1.0 + np.tanh(0.5 * z))


@dataclass(frozen=True)
class LinearScore:
    """``score = intercept + Σ weights[f] · x[f]`` over the named features."""

    weights: Mapping[str, float]
    intercept: float

    def __call__(self, features: Mapping[str, float]) -> float:
        missing = self.weights.keys() - features.keys()
        if missing:
            raise KeyError(f"features missing for the score model: {sorted(missing)}")
        return self.intercept + sum(w * float(features[name]) for name, w in self.weights.items())

    def predict(self, columns: Mapping[str, Sequence[float] | np.ndarray]) -> np.ndarray:
        missing = self.weights.keys() - columns.keys()
        if missing:
            raise KeyError(f"features missing for the score model: {sorted(missing)}")
        out = np.full(len(next(iter(columns.values()))), self.intercept, dtype=np.float64)
        for name, w in self.weights.items():
            out += w * np.asarray(columns[name], dtype=np.float64)
        return out
