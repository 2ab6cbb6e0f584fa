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
from typing import Any

import numpy as np
import pandas as pd

from aurora.core.features import FeatureParams
from aurora.core.labels import LabelParams
from aurora.core.microprice import MicropriceModel
from aurora.pipeline.params import CalibrateParams, NotebookParams
from aurora.pipeline.study import forward_returns, realized_vol_bps
from aurora.ticks.fanout import DaysFailedError, DayTask, dask_client, plan_days, run_days
from aurora.ticks.store import TickStore

QUOTES = ["ts_ns", "bid_px", "bid_qty", "ask_px", "ask_qty"]
VOL_WINDOW_S = 60.0  # trailing window of the realised-volatility regime column, seconds


@dataclass
class Samples:
    """The kept sample rows and what was read and dropped on the way."""

    frame: pd.DataFrame
    days: list[date]
    events: int
    tick_size: float
    microprice: MicropriceModel | None
    dropped: dict[str, int] = field(default_factory=dict)

    def describe(self) -> str:
        counts = self.frame["outcome"].value_counts().to_dict() if len(self.frame) else {}
        return (f"{len(self.days)} day(s) {self.days[0]}..{self.days[-1]}: {self.events} bbo events, "
                f"{len(self.frame)} samples kept (tp {counts.get(1, 0)}, sl {counts.get(-1, 0)}, "
                f"timeout {counts.get(0, 0)}); dropped {self.dropped}; tick {self.tick_size:g}")


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


def load_samples(p: NotebookParams, *, side: str, tp_bps: float, sl_bps: float, horizon_s: float,
                 horizons_s: Sequence[float] = (), microprice: bool = False,
                 progress: Callable[[str], None] | None = None, workers: int = 1,
                 scheduler: str | None = None, memory_limit: str = "auto") -> Samples:
    """Read ``[p.start, p.end]`` from the store day by day and return the kept samples.

    ``side`` is ``"long"`` or ``"short"``; barriers in bps, horizons in seconds. Columns: ts_ns,
    end_ns (ns, when the outcome is known), outcome (+1/−1/0), ret_bps, mid, spread_bps, vol_bps
    (trailing 60 s realised volatility), the parameters' ``features`` and ``fwd_{h}s`` per horizon.
    ``workers`` > 1 or a Dask ``scheduler`` address samples the days on Dask
    (:mod:`aurora.ticks.fanout`; the same rows bit for bit); 1 runs them here, one after another.
    A failed day fails the call after the other days have run, naming every failed day.
    """
    store = TickStore(p.store)
    want = list(dict.fromkeys(getattr(p, "features", [])))
    lparams = LabelParams(tp_bps=tp_bps, sl_bps=sl_bps, horizon_s=horizon_s)
    label, ret = ("label_long", "ret_long_bps") if side == "long" else ("label_short", "ret_short_bps")
    mp_args = {}
    if microprice and isinstance(p, CalibrateParams):
        mp_args = {"imbalance_buckets": p.microprice_imbalance_buckets,
                   "spread_buckets": p.microprice_spread_buckets, "horizon_s": p.microprice_horizon_s}
    tasks = plan_days(store, p.exchange, [p.symbol], [(p.start, p.end)],
                      {p.symbol: FeatureParams(windows_s=tuple(p.windows_s))}, lparams,
                      with_depth="obi_w" in want)
    spec = _SampleSpec(p, want, label, ret, tuple(horizons_s), mp_args)
    kept: dict[date, _DaySamples] = {}
    failed = []
    with dask_client(workers, scheduler, memory_limit) as client:
        for outcome in run_days(tasks, sample_day, spec, client=client):
            if outcome.error is not None:
                failed.append(outcome)
            elif outcome.result is not None:
                kept[outcome.task.day] = day = outcome.result
                if progress:
                    progress(f"{outcome.task.day}: {day.events} bbo events, {len(day.frame)} samples kept")
            del outcome  # let go of the day's rows before the next day is computed
    if failed:
        raise DaysFailedError(failed, len(tasks))
    if not kept:
        raise ValueError(f"no bbo data for {p.symbol} on {p.exchange} between {p.start} and {p.end} "
                         f"in the store {p.store}")
    days = sorted(kept)
    dropped = {"censored": sum(kept[d].censored for d in days),
               "nan_features": sum(kept[d].nan_features for d in days)}
    tick = tasks[0].stream.params.tick_size if mp_args else float("nan")
    frame = pd.concat([kept[d].frame for d in days], ignore_index=True)
    return Samples(frame, days, sum(kept[d].events for d in days), tick,
                   _combine([kept[d].model for d in days if kept[d].model is not None]), dropped)


@dataclass(frozen=True)
class _SampleSpec:
    """What :func:`sample_day` keeps of each day (sent to the Dask workers with each task)."""

    p: NotebookParams
    want: list[str]
    label: str
    ret: str
    horizons_s: tuple[float, ...]
    mp_args: dict[str, Any]


@dataclass
class _DaySamples:
    frame: pd.DataFrame
    events: int
    censored: int
    nan_features: int
    model: MicropriceModel | None


def sample_day(task: DayTask, feats: pd.DataFrame, spec: _SampleSpec) -> _DaySamples | None:
    """Consumer of :func:`aurora.ticks.fanout.run_days`: the kept samples of one day (None for a
    day without quotes) and, with ``mp_args``, its micro-price fit."""
    p, want = spec.p, spec.want
    unknown = [f for f in want if f not in feats.columns]
    if unknown:
        raise KeyError(f"unknown feature(s) {unknown}; the feature table has {list(feats.columns)}")
    ts = feats["ts_ns"].to_numpy(np.int64)
    if ts.size == 0:
        return None
    rows = np.arange(0, ts.size, p.stride)
    if p.sample_s > 0:
        rows = rows[first_per_interval(ts[rows], p.sample_s)]
    complete = feats["label_complete"].to_numpy(bool)[rows]
    cols = {"ts_ns": ts[rows], "end_ns": feats["label_end_ns"].to_numpy(np.int64)[rows],
            "outcome": feats[spec.label].to_numpy(np.int8)[rows],
            "ret_bps": feats[spec.ret].to_numpy(np.float64)[rows],
            "mid": feats["mid"].to_numpy(np.float64)[rows],
            "spread_bps": feats["spread_bps"].to_numpy(np.float64)[rows]}
    mid = feats["mid"].to_numpy(np.float64)
    cols["vol_bps"] = realized_vol_bps(ts, mid, VOL_WINDOW_S, at=rows)
    cols.update(forward_returns(ts, mid, spec.horizons_s, at=rows))
    for f in want:
        cols[f] = feats[f].to_numpy(np.float64)[rows]
    finite = (np.all(np.isfinite(np.column_stack([cols[f] for f in want])), axis=1) if want
              else np.ones(rows.size, dtype=bool))
    keep = complete & finite
    model = None
    if spec.mp_args:
        s = task.stream
        quotes = TickStore(s.store).read("bbo", s.exchange, s.symbol, task.day, task.day, columns=QUOTES)
        model = MicropriceModel.fit(quotes["ts_ns"].to_numpy(), quotes["bid_px"].to_numpy(),
                                    quotes["bid_qty"].to_numpy(), quotes["ask_px"].to_numpy(),
                                    quotes["ask_qty"].to_numpy(), s.params.tick_size, **spec.mp_args)
    return _DaySamples(pd.DataFrame({k: np.asarray(v)[keep] for k, v in cols.items()}), int(ts.size),
                       int((~complete).sum()), int((complete & ~finite).sum()), model)
