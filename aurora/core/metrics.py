"""Calibration metrics: Brier, base-rate Brier, ROC AUC, reliability table and ECE (pure numpy).

ECE is taken over **equal-width** probability bins by default (``strategy="quantile"`` gives
equal-mass bins). A perfectly calibrated model still shows ``ECE ≈ 0.4·√(bins/N)`` from sampling
noise (:func:`ece_noise_floor`). Outcomes are 0/1 with 1 = take-profit barrier hit first.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
import pandas as pd

from aurora.core.economics import e_pi_bps

BinStrategy = Literal["uniform", "quantile"]


def labels_array(y: Any) -> np.ndarray:
    """0/1 outcomes (1 = take-profit barrier hit first) as float64; refuses anything else."""
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(f"labels must be one-dimensional, got shape {arr.shape}")
    if arr.size and not np.isin(arr, (0, 1)).all():
        raise ValueError("labels must be 0/1 (1 = take-profit barrier hit first)")
    return arr.astype(np.float64)


def scores_array(s: Any, n: int | None = None) -> np.ndarray:
    """Finite one-dimensional scores or probabilities, of length ``n`` when given."""
    arr = np.asarray(s, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"scores must be one-dimensional, got shape {arr.shape}")
    if n is not None and arr.size != n:
        raise ValueError(f"scores ({arr.size}) and labels ({n}) differ in length")
    if not np.isfinite(arr).all():
        raise ValueError("scores hold NaN or inf")
    return arr


def brier_score(p: Any, y: Any) -> float:
    """Mean squared error of probabilities against 0/1 outcomes."""
    target = labels_array(y)
    prob = scores_array(p, target.size)
    if target.size == 0:
        raise ValueError("Brier score of no rows")
    return float(np.mean((prob - target) ** 2))


def brier_base(y: Any, base_rate: float | None = None) -> float:
    """Brier score of the constant forecast ``base_rate`` (default: the mean of ``y`` itself,
    i.e. the best constant in hindsight, ``ȳ(1−ȳ)``)."""
    target = labels_array(y)
    if target.size == 0:
        raise ValueError("Brier score of no rows")
    rate = float(target.mean()) if base_rate is None else float(base_rate)
    return float(np.mean((rate - target) ** 2))


def auc_score(p: Any, y: Any) -> float:
    """ROC AUC of ``p`` (or any monotone score) for ``y``; 0.5 when only one class is present."""
    target = labels_array(y)
    prob = scores_array(p, target.size)
    n_pos = float(target.sum())
    n_neg = target.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return 0.5
    # Mann–Whitney U from tie-averaged ranks: the same number roc_auc_score gives, without
    # importing scikit-learn (which costs ~1 s at start-up of every service that loads this).
    ranks = _average_ranks(prob)
    return float((ranks[target == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _average_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks of ``x``, ties sharing the average of the ranks they span."""
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    first = np.r_[True, xs[1:] != xs[:-1]]
    starts = np.flatnonzero(first)
    ends = np.r_[starts[1:], xs.size]
    ranks = np.empty(x.size)
    ranks[order] = ((starts + ends + 1) / 2.0)[np.cumsum(first) - 1]
    return ranks


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
    target = labels_array(y)
    prob = scores_array(p, target.size)
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
    target = labels_array(y)
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
