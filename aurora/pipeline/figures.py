"""Matplotlib figures for the notebooks (Agg backend; each function returns a ``Figure``).

Notebooks call these, show the figure and save it as PNG beside the run with :func:`save`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg", force=False)

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure


def save(fig: Figure, out_dir: str | Path, name: str) -> Path:
    """Write ``fig`` to ``{out_dir}/{name}.png`` and return the path."""
    path = Path(out_dir) / f"{name}.png"
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return path


def distributions(frame: pd.DataFrame, features: Sequence[str], bins: int = 60) -> Figure:
    """Histogram of each feature (1st–99th percentile range)."""
    n = len(features)
    cols = min(3, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.0 * rows), squeeze=False)
    for ax, f in zip(axes.flat, features, strict=False):
        x = frame[f].to_numpy(np.float64)
        x = x[np.isfinite(x)]
        if x.size:
            lo, hi = np.quantile(x, [0.01, 0.99])
            ax.hist(x[(x >= lo) & (x <= hi)], bins=bins, color="tab:blue", alpha=0.8)
        ax.set_title(f)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


def ic_heatmap(ic: pd.DataFrame) -> Figure:
    """Information coefficient per feature (rows) and horizon (columns)."""
    fig, ax = plt.subplots(figsize=(1.4 * ic.shape[1] + 3, 0.45 * ic.shape[0] + 1.5))
    vals = ic.to_numpy(np.float64)
    lim = float(np.nanmax(np.abs(vals))) if np.isfinite(vals).any() else 1.0
    im = ax.imshow(vals, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
    ax.set_xticks(range(ic.shape[1]), ic.columns)
    ax.set_yticks(range(ic.shape[0]), ic.index)
    for (i, j), v in np.ndenumerate(vals):
        ax.text(j, i, f"{v:.3f}", ha="center", va="center", fontsize=8)
    fig.colorbar(im, ax=ax, label="Spearman IC")
    ax.set_title("Information coefficient vs forward mid return")
    fig.tight_layout()
    return fig


def hit_rates(tables: dict[str, pd.DataFrame]) -> Figure:
    """Take-profit and stop rates by feature quantile, one panel per feature."""
    n = len(tables)
    cols = min(3, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.0 * rows), squeeze=False)
    for ax, (f, t) in zip(axes.flat, tables.items(), strict=False):
        ax.plot(t["bucket"], t["tp_rate"], "o-", label="take-profit", color="tab:green")
        ax.plot(t["bucket"], t["sl_rate"], "o-", label="stop", color="tab:red")
        ax.set_title(f)
        ax.set_xlabel("quantile bucket")
        ax.set_ylim(0, 1)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def regimes(table: pd.DataFrame, features: Sequence[str]) -> Figure:
    """Feature IC by regime (volatility and spread splits)."""
    fig, ax = plt.subplots(figsize=(7, 3.5))
    labels = [f"{r.split.split('_')[0]}:{r.regime}" for r in table.itertuples()]
    width = 0.8 / max(len(features), 1)
    for k, f in enumerate(features):
        ax.bar(np.arange(len(table)) + k * width, table[f"ic_{f}"], width, label=f)
    ax.set_xticks(np.arange(len(table)) + 0.4 - width / 2, labels)
    ax.axhline(0, color="black", lw=0.6)
    ax.set_ylabel("Spearman IC")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def reliability(table: pd.DataFrame, title: str = "Reliability (test block)") -> Figure:
    """Observed frequency against mean predicted p per bin, with bin counts."""
    fig, (ax, axn) = plt.subplots(2, 1, figsize=(5, 5.5), sharex=True,
                                  gridspec_kw={"height_ratios": [3, 1]})
    ax.plot([0, 1], [0, 1], "--", color="grey", lw=1)
    ax.plot(table["mean_p"], table["freq"], "o-", color="tab:blue")
    ax.set_ylabel("observed take-profit frequency")
    ax.set_title(title)
    axn.bar((table["lo"] + table["hi"]) / 2, table["count"], width=(table["hi"] - table["lo"]) * 0.9)
    axn.set_xlabel("predicted p")
    axn.set_ylabel("rows")
    fig.tight_layout()
    return fig


def calibration_map(x: np.ndarray, curves: dict[str, np.ndarray]) -> Figure:
    """Calibrated p against the score for each calibrator."""
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    for name, y in curves.items():
        ax.plot(x, y, label=name)
    ax.set_xlabel("score (log-odds)")
    ax.set_ylabel("p")
    ax.legend()
    fig.tight_layout()
    return fig


def epi_curve(p_grid: np.ndarray, epi_grid: np.ndarray, table: pd.DataFrame, breakeven: float) -> Figure:
    """E[Π] (bps after costs) over p: the theoretical line, realised per p-bin, and break-even p."""
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    ax.plot(p_grid, epi_grid, color="black", label="E[Π](p)")
    ax.plot(table["mean_p"], table["epi_real_bps"], "o", color="tab:orange", label="realised by p-bin")
    ax.axhline(0, color="grey", lw=0.6)
    if 0 <= breakeven <= 1:
        ax.axvline(breakeven, color="tab:red", ls="--", label=f"break-even p = {breakeven:.3f}")
    else:
        ax.set_title(f"break-even p = {breakeven:.2f}: no p in [0, 1] covers the costs", fontsize=9)
    ax.set_xlabel("p")
    ax.set_ylabel("E[Π], bps")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def microprice_table(g: np.ndarray) -> Figure:
    """The micro-price adjustment G (ticks) by spread bucket and imbalance bucket."""
    fig, ax = plt.subplots(figsize=(6, 2.5 + 0.3 * g.shape[0]))
    for s, row in enumerate(g):
        ax.plot(np.arange(row.size), row, "o-", label=f"spread {s + 1} tick(s)")
    ax.axhline(0, color="grey", lw=0.6)
    ax.set_xlabel("imbalance bucket (bid share)")
    ax.set_ylabel("G, ticks")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
