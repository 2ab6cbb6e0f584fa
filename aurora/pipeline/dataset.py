"""Labelled samples for the notebooks, built day by day so memory stays flat in the date range.

For each stored UTC day :func:`aurora.ticks.feature_table.iter_feature_days` gives one row per bbo
event with the features (trailing context from the previous day included) and the triple-barrier
labels of both sides (the next day's head included, so labels near midnight are not cut short).
Here the chosen side's outcome is kept, optional forward mid returns are added and, optionally,
the day's quotes feed a Stoikov micro-price fit. Only every ``stride``-th event with a known
(uncensored) outcome and finite features is kept, and only the columns the notebook needs, so the
kept sample — not the raw day — is what accumulates. ``sample_s`` thins further in time: with
``sample_s ≥ horizon_s`` the kept labels do not overlap, so the samples are close to independent
and the ECE noise floor of the promotion gate (which assumes independent rows) is honest.

Micro-price: the per-day G tables are combined as an ``n_obs``-weighted mean (each day's estimate
is a mean over that day's observations of the same states).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from aurora.core.features import FeatureParams, infer_tick_size
from aurora.core.labels import LabelParams
from aurora.core.microprice import MicropriceModel
from aurora.pipeline.params import NotebookParams
from aurora.pipeline.study import forward_returns, realized_vol_bps
from aurora.ticks.feature_table import FeatureTableError, iter_feature_days
from aurora.ticks.store import TickStore

QUOTES = ["ts_ns", "bid_px", "bid_qty", "ask_px", "ask_qty"]
VOL_WINDOW_S = 60.0  # trailing window of the realised-volatility regime column, seconds


@dataclass
class Samples:
    """The kept sample rows and what was read and dropped on the way."""

    frame: pd.DataFrame
    days: list[date]
    events: int
    feature_params: FeatureParams
    microprice: MicropriceModel | None
    dropped: dict[str, int] = field(default_factory=dict)

    def describe(self) -> str:
        counts = self.frame["outcome"].value_counts().to_dict() if len(self.frame) else {}
        return (f"{len(self.days)} day(s) {self.days[0]}..{self.days[-1]}: {self.events} bbo events, "
                f"{len(self.frame)} samples kept (tp {counts.get(1, 0)}, sl {counts.get(-1, 0)}, "
                f"timeout {counts.get(0, 0)}); dropped {self.dropped}; feature params {self.feature_params}")


def _combine(models: Sequence[MicropriceModel]) -> MicropriceModel | None:
    weighted = [m for m in models if m.n_obs > 0]
    if not weighted:
        return None
    w = np.array([m.n_obs for m in weighted], dtype=np.float64)
    g = np.tensordot(w / w.sum(), np.stack([m.table for m in weighted]), axes=1)
    first = weighted[0]
    return MicropriceModel(
        tick_size=first.tick_size, imbalance_buckets=first.imbalance_buckets,
        spread_buckets=first.spread_buckets, g_ticks=tuple(tuple(float(v) for v in row) for row in g),
        kind=first.kind, horizon_s=first.horizon_s, n_obs=int(w.sum()))


def first_per_interval(ts_ns: np.ndarray, seconds: float) -> np.ndarray:
    """True at the first event of each ``seconds``-long interval of the receive clock."""
    bucket = np.asarray(ts_ns, dtype=np.int64) // round(seconds * 1e9)
    out = np.ones(bucket.size, dtype=bool)
    out[1:] = bucket[1:] != bucket[:-1]
    return out


def first_day_tick(store: TickStore, exchange: str, symbol: str, start: date, end: date) -> float:
    """The tick size inferred from the first stored day's quotes in ``[start, end]`` (what the
    feature table would infer), so the artifact records the tick its features were computed with."""
    days = [d for d in store.dates("bbo", exchange, symbol) if start <= d <= end]
    if not days:
        raise FeatureTableError(f"no bbo data for {symbol} on {exchange} between {start} and {end} "
                                f"in the store {store.root}")
    quotes = store.read("bbo", exchange, symbol, days[0], days[0], columns=["bid_px", "ask_px"])
    return infer_tick_size(quotes["bid_px"].to_numpy(), quotes["ask_px"].to_numpy())


def load_samples(p: NotebookParams, *, side: str, tp_bps: float, sl_bps: float, horizon_s: float,
                 horizons_s: Sequence[float] = (), microprice: bool = False,
                 progress: Callable[[str], None] | None = None) -> Samples:
    """Read ``[p.start, p.end]`` from the store day by day and return the kept samples.

    ``side`` is ``"long"`` or ``"short"``; barriers in bps, horizons in seconds. Columns: ts_ns,
    end_ns (ns, when the outcome is known), outcome (+1/−1/0), ret_bps, mid, spread_bps, vol_bps
    (trailing 60 s realised volatility), the parameters' ``features`` and ``fwd_{h}s`` per horizon.
    """
    store = TickStore(p.store)
    want = list(dict.fromkeys(getattr(p, "features", [])))
    fparams = p.feature_params()
    if fparams.tick_size is None:
        fparams = fparams.with_tick(first_day_tick(store, p.exchange, p.symbol, p.start, p.end))
    lparams = LabelParams(tp_bps=tp_bps, sl_bps=sl_bps, horizon_s=horizon_s)
    label, ret = ("label_long", "ret_long_bps") if side == "long" else ("label_short", "ret_short_bps")
    mp_args = {}
    if microprice:
        mp_args = {"imbalance_buckets": p.microprice_imbalance_buckets,
                   "spread_buckets": p.microprice_spread_buckets, "horizon_s": p.microprice_horizon_s}
    parts: list[pd.DataFrame] = []
    days: list[date] = []
    models: list[MicropriceModel] = []
    dropped = {"censored": 0, "nan_features": 0}
    events = 0
    for day, feats in iter_feature_days(store, p.exchange, p.symbol, p.start, p.end, fparams,
                                        labels=lparams, with_depth="obi_w" in want):
        unknown = [f for f in want if f not in feats.columns]
        if unknown:
            raise KeyError(f"unknown feature(s) {unknown}; the feature table has {list(feats.columns)}")
        ts = feats["ts_ns"].to_numpy(np.int64)
        if ts.size == 0:
            continue
        rows = np.arange(0, ts.size, p.stride)
        if p.sample_s > 0:
            rows = rows[first_per_interval(ts[rows], p.sample_s)]
        complete = feats["label_complete"].to_numpy(bool)[rows]
        cols = {"ts_ns": ts[rows], "end_ns": feats["label_end_ns"].to_numpy(np.int64)[rows],
                "outcome": feats[label].to_numpy(np.int8)[rows],
                "ret_bps": feats[ret].to_numpy(np.float64)[rows],
                "mid": feats["mid"].to_numpy(np.float64)[rows],
                "spread_bps": feats["spread_bps"].to_numpy(np.float64)[rows]}
        mid = feats["mid"].to_numpy(np.float64)
        cols["vol_bps"] = realized_vol_bps(ts, mid, VOL_WINDOW_S, at=rows)
        cols.update(forward_returns(ts, mid, horizons_s, at=rows))
        for f in want:
            cols[f] = feats[f].to_numpy(np.float64)[rows]
        finite = (np.all(np.isfinite(np.column_stack([cols[f] for f in want])), axis=1) if want
                  else np.ones(rows.size, dtype=bool))
        dropped["censored"] += int((~complete).sum())
        dropped["nan_features"] += int((complete & ~finite).sum())
        keep = complete & finite
        parts.append(pd.DataFrame({k: np.asarray(v)[keep] for k, v in cols.items()}))
        if mp_args:
            quotes = store.read("bbo", p.exchange, p.symbol, day, day, columns=QUOTES)
            models.append(MicropriceModel.fit(
                quotes["ts_ns"].to_numpy(), quotes["bid_px"].to_numpy(), quotes["bid_qty"].to_numpy(),
                quotes["ask_px"].to_numpy(), quotes["ask_qty"].to_numpy(), fparams.tick_size, **mp_args))
        days.append(day)
        events += ts.size
        if progress:
            progress(f"{day}: {ts.size} bbo events, {int(keep.sum())} samples kept")
        # let go of the day's table before the next is computed: its arrays are then reused for
        # it (one day in memory, not two, and no page faults for a new day's worth of arrays)
        del feats, ts, mid
    if not days:
        raise ValueError(f"no bbo data for {p.symbol} on {p.exchange} between {p.start} and {p.end} "
                         f"in the store {p.store}")
    frame = pd.concat(parts, ignore_index=True)
    return Samples(frame, days, events, fparams, _combine(models), dropped)
