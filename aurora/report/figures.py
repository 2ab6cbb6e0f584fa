"""Matplotlib figures of the run report, one function per figure, each returning a ``Figure``.

Drawn with pyplot so that a notebook's inline backend shows (and closes) each figure at the end
of its cell, which is what puts it into the exported HTML. A figure with nothing to draw says so
in words instead of showing empty axes.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

_WIDE = (9, 4.5)


def _nothing(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=12, color="dimgrey")
    ax.set_xticks([])
    ax.set_yticks([])


def equity(curve: pd.DataFrame, quote: str = "quote") -> Figure:
    """Cumulative realised net P&L over market time, and its drawdown from the running peak."""
    fig, (ax, axd) = plt.subplots(2, 1, figsize=(9, 5.5), sharex=True,
                                  gridspec_kw={"height_ratios": [3, 1.4]})
    if not (curve["kind"] == "fill").any():
        _nothing(ax, "No exit filled in this run: no realised P&L")
        axd.set_visible(False)
        return fig
    ax.step(curve["time"], curve["equity"], where="post", color="tab:blue", label="realised net P&L")
    ax.step(curve["time"], curve["peak"], where="post", color="grey", lw=0.8, ls="--", label="running peak")
    ax.axhline(0, color="black", lw=0.6)
    ax.set_ylabel(f"cumulative P&L ({quote})")
    ax.set_title("Equity curve (realised, after fees)")
    ax.legend(loc="best")
    axd.fill_between(curve["time"], curve["drawdown"], 0, step="post", color="tab:red", alpha=0.4)
    axd.set_ylabel(f"drawdown ({quote})")
    axd.set_xlabel("market time (UTC)")
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def pnl_distribution(trades: pd.DataFrame) -> Figure:
    """Histogram of closed trades' net P&L in bps of the entry notional."""
    fig, ax = plt.subplots(figsize=_WIDE)
    bps = trades.loc[trades["status"] == "closed", "pnl_bps"].dropna()
    if bps.empty:
        _nothing(ax, "No closed trade in this run")
        return fig
    ax.hist(bps, bins=min(60, max(5, len(bps) // 2)), color="tab:blue", alpha=0.8)
    ax.axvline(0, color="black", lw=0.8)
    ax.axvline(bps.mean(), color="tab:orange", lw=1.2, label=f"mean {bps.mean():+.2f} bps")
    ax.set_xlabel("net P&L per trade (bps of entry notional)")
    ax.set_ylabel("trades")
    ax.set_title(f"P&L distribution ({len(bps)} closed trades, {(bps > 0).mean():.0%} won)")
    ax.legend(loc="best")
    fig.tight_layout()
    return fig


def decisions(frame: pd.DataFrame, bucket_s: int) -> Figure:
    """Entry decisions per time bucket (allowed / denied), and each deny reason's count."""
    fig, (ax, axr) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    if frame.empty:
        _nothing(ax, "No entry decision in this run")
        axr.set_visible(False)
        return fig
    width = pd.Timedelta(seconds=bucket_s * 0.9)
    ax.bar(frame.index, frame["allowed"], width=width, align="edge", color="tab:green", label="allowed")
    ax.bar(frame.index, frame["denied"], width=width, align="edge", bottom=frame["allowed"], color="tab:red",
           label="denied")
    ax.set_ylabel(f"decisions per {bucket_s:g} s")
    ax.set_title("Gate decisions on entries over market time")
    ax.legend(loc="best")
    reasons = [c for c in frame.columns if c not in ("decisions", "allowed", "denied")]
    if not reasons:
        _nothing(axr, "No deny")
    for r in reasons:
        axr.step(frame.index, frame[r], where="post", label=r)
    if reasons:
        axr.legend(loc="best", fontsize=8, ncol=min(4, len(reasons)))
        axr.set_ylabel("denies by reason")
    axr.set_xlabel("market time (UTC)")
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def reliability(table: pd.DataFrame) -> Figure:
    """Realised win frequency against mean predicted p per bin, with the trades in each bin."""
    fig, (ax, axn) = plt.subplots(2, 1, figsize=(5.5, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    if table.empty:
        _nothing(ax, "No closed trade with a predicted p")
        axn.set_visible(False)
        return fig
    ax.plot([0, 1], [0, 1], "--", color="grey", lw=1, label="perfectly calibrated")
    ax.plot(table["mean_p"], table["freq"], "o-", color="tab:blue", label="this run")
    ax.set_ylabel("realised win rate")
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.02, 1.02)
    ax.set_title("Realised win rate vs predicted p")
    ax.legend(loc="upper left")
    axn.bar((table["lo"] + table["hi"]) / 2, table["count"], width=(table["hi"] - table["lo"]) * 0.9)
    axn.set_xlabel("predicted p (entry)")
    axn.set_ylabel("trades")
    fig.tight_layout()
    return fig


def executions(execs: pd.DataFrame) -> Figure:
    """Latency per fill (realised, with Aurora's estimate where known) and slippage realised
    against the entry's estimate."""
    fig, (axl, axs) = plt.subplots(1, 2, figsize=(10, 4.2))
    if execs.empty:
        _nothing(axl, "No fill in this run")
        axs.set_visible(False)
        return fig
    for leg, colour in (("entry", "tab:blue"), ("exit", "tab:orange")):
        g = execs[execs["leg"] == leg]
        if len(g):
            axl.hist(g["latency_ms"].dropna(), bins=30, alpha=0.6, color=colour, label=f"{leg} realised")
    est = execs["latency_est_ms"].dropna()
    if len(est):
        axl.axvline(est.mean(), color="black", ls="--", label=f"estimate {est.mean():.3g} ms")
    axl.set_xlabel("submission → fill (ms)")
    axl.set_ylabel("fills")
    axl.set_title("Latency" + ("" if len(est) else " (estimate not logged)"))
    axl.legend(loc="best", fontsize=8)
    entries = execs[(execs["leg"] == "entry") & execs["slippage_est_bps"].notna()]
    exits = execs[execs["leg"] == "exit"]
    if len(entries):
        axs.scatter(entries["slippage_est_bps"], entries["slippage_bps"], s=14, color="tab:blue",
                    label="entries")
        lo = float(np.nanmin([entries["slippage_est_bps"].min(), entries["slippage_bps"].min(), 0.0]))
        hi = float(np.nanmax([entries["slippage_est_bps"].max(), entries["slippage_bps"].max(), 0.0]))
        axs.plot([lo, hi], [lo, hi], "--", color="grey", lw=1, label="realised = estimate")
    if len(exits):
        axs.scatter(np.zeros(len(exits)), exits["slippage_bps"], s=10, marker="x", color="tab:orange",
                    label="exits (no estimate)")
    axs.set_xlabel("estimated slippage (bps)")
    axs.set_ylabel("realised slippage (bps, + = worse)")
    axs.set_title("Slippage realised vs estimated")
    axs.legend(loc="best", fontsize=8)
    fig.tight_layout()
    return fig


def outcomes(by_outcome: pd.DataFrame, errors: pd.DataFrame) -> Figure:
    """Order intents by leg and outcome, and failed ones by error class."""
    fig, (ax, axe) = plt.subplots(1, 2, figsize=(10, 3.6))
    table = by_outcome.drop(index="total", columns="total", errors="ignore")
    if table.empty:
        _nothing(ax, "No order intent in this run")
    else:
        colours = {"success": "tab:green", "failed": "tab:orange", "denied": "tab:red"}
        table.plot.barh(stacked=True, ax=ax, color=[colours.get(c, "grey") for c in table.columns])
        ax.set_xlabel("intents")
        ax.set_title("Orders by outcome")
    if errors.empty:
        _nothing(axe, "No failed order")
    else:
        errors.pivot_table(index="error_class", columns="leg", values="count", aggfunc="sum",
                           fill_value=0).plot.barh(stacked=True, ax=axe)
        axe.set_xlabel("failed intents")
        axe.set_title("Failed orders by error class")
    fig.tight_layout()
    return fig
