"""Feature study computations for ``01_feature_study`` (tables in, tables out; no plotting).

Conventions: forward returns are mid-to-mid in bps, ``fwd_{h}s = (mid(t+h) − mid(t)) / mid(t)·1e4``
with ``mid(t+h)`` the mid of the last quote at or before ``t + h`` (NaN when ``t + h`` is past
the end of the day's data). The information coefficient (IC) is the Spearman rank correlation of
a feature with a forward return. Barrier outcomes are +1 take-profit, −1 stop, 0 timeout.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from aurora.core.features import NS


def fwd_name(horizon_s: float) -> str:
    return f"fwd_{horizon_s:g}s"


def forward_returns(ts_ns: np.ndarray, mid: np.ndarray, horizons_s: Sequence[float],
                    at: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Forward mid returns (bps) at each horizon for the rows ``at`` (default: every row), NaN
    where the horizon runs past the data."""
    ts = np.asarray(ts_ns, dtype=np.int64)
    m = np.asarray(mid, dtype=np.float64)
    rows = np.arange(ts.size) if at is None else np.asarray(at, dtype=np.int64)
    out: dict[str, np.ndarray] = {}
    for h in horizons_s:
        target = ts[rows] + round(h * NS)
        j = np.searchsorted(ts, target, side="right") - 1
        r = (m[j] - m[rows]) / m[rows] * 1e4
        if ts.size:
            r[target > ts[-1]] = np.nan
        out[fwd_name(h)] = r
    return out


def feature_summary(frame: pd.DataFrame, features: Sequence[str]) -> pd.DataFrame:
    """Count, NaN share, mean, std and quantiles of each feature."""
    rows = []
    for f in features:
        x = frame[f].to_numpy(np.float64)
        ok = np.isfinite(x)
        q = np.quantile(x[ok], [0.01, 0.25, 0.5, 0.75, 0.99]) if ok.any() else [np.nan] * 5
        rows.append({"feature": f, "count": int(ok.sum()),
                     "nan_share": float(1 - ok.mean()) if x.size else 0.0,
                     "mean": float(x[ok].mean()) if ok.any() else np.nan,
                     "std": float(x[ok].std()) if ok.any() else np.nan,
                     "p01": q[0], "p25": q[1], "p50": q[2], "p75": q[3], "p99": q[4]})
    return pd.DataFrame(rows).set_index("feature")


def information_coefficients(frame: pd.DataFrame, features: Sequence[str],
                             horizons_s: Sequence[float]) -> pd.DataFrame:
    """Spearman IC of each feature (rows) with the forward return at each horizon (columns)."""
    table = pd.DataFrame(index=list(features), columns=[fwd_name(h) for h in horizons_s], dtype=float)
    for h in horizons_s:
        col = fwd_name(h)
        for f in features:
            pair = frame[[f, col]].dropna()
            table.loc[f, col] = pair[f].corr(pair[col], method="spearman") if len(pair) > 2 else np.nan
    return table


def hit_rates_by_quantile(frame: pd.DataFrame, feature: str, quantiles: int,
                          outcome: str = "outcome") -> pd.DataFrame:
    """Per quantile bucket of ``feature``: rows, mean feature, take-profit / stop / timeout rates."""
    data = frame[[feature, outcome]].dropna()
    if data.empty:
        return pd.DataFrame(columns=["bucket", "count", "feature_mean", "tp_rate", "sl_rate", "timeout_rate"])
    ranks = data[feature].rank(method="first")
    bucket = pd.qcut(ranks, q=min(quantiles, len(data)), labels=False)
    out = data.assign(bucket=bucket, tp=data[outcome] == 1, sl=data[outcome] == -1, to=data[outcome] == 0)
    g = out.groupby("bucket")
    return pd.DataFrame({
        "count": g.size(), "feature_mean": g[feature].mean(), "tp_rate": g["tp"].mean(),
        "sl_rate": g["sl"].mean(), "timeout_rate": g["to"].mean(),
    }).reset_index()


def realized_vol_bps(ts_ns: np.ndarray, mid: np.ndarray, window_s: float,
                     at: np.ndarray | None = None) -> np.ndarray:
    """Trailing realised volatility (bps): √ of the sum of squared mid returns (bps) over the quotes
    in ``(t − window_s, t]``, at the rows ``at`` (default: every row). Computed on the full quote
    series, so it is right even when only a thinned sample of rows is kept."""
    ts = np.asarray(ts_ns, dtype=np.int64)
    m = np.asarray(mid, dtype=np.float64)
    rows = np.arange(ts.size) if at is None else np.asarray(at, dtype=np.int64)
    r2 = np.zeros_like(m)
    if m.size > 1:
        r2[1:] = (np.diff(m) / m[:-1] * 1e4) ** 2
    c = np.concatenate([[0.0], np.cumsum(r2)])
    start = np.searchsorted(ts, ts[rows] - round(window_s * NS), side="right")
    return np.sqrt(np.maximum(c[rows + 1] - c[start], 0.0))


def add_regimes(frame: pd.DataFrame) -> pd.DataFrame:
    """Label each row's volatility regime (its ``vol_bps`` split at the median: ``low``/``high``)
    and spread regime (``tight`` below 1.5× the minimum observed spread — one tick when the
    tightest quote is one tick, whatever the price level — else ``wide``)."""
    vol = frame["vol_bps"].to_numpy(np.float64)
    med = float(np.median(vol)) if vol.size else 0.0
    spread = frame["spread_bps"].to_numpy(np.float64)
    tight = spread < 1.5 * np.nanmin(spread) if spread.size else np.zeros(0, bool)
    return frame.assign(vol_regime=np.where(vol > med, "high", "low"),
                        spread_regime=np.where(tight, "tight", "wide"))


def regime_table(frame: pd.DataFrame, features: Sequence[str], horizon_s: float,
                 outcome: str = "outcome") -> pd.DataFrame:
    """Per regime (volatility and spread): rows, take-profit rate and each feature's IC at
    ``horizon_s``."""
    col = fwd_name(horizon_s)
    rows = []
    for kind in ("vol_regime", "spread_regime"):
        for regime, part in frame.groupby(kind):
            row = {"split": kind, "regime": regime, "count": len(part),
                   "tp_rate": float((part[outcome] == 1).mean())}
            for f in features:
                pair = part[[f, col]].dropna()
                row[f"ic_{f}"] = pair[f].corr(pair[col], method="spearman") if len(pair) > 2 else np.nan
            rows.append(row)
    return pd.DataFrame(rows)
