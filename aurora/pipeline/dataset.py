"""Labelled samples for the notebooks, built day by day so memory stays flat in the date range.

For each stored UTC day :func:`aurora.ticks.feature_table.iter_feature_days` gives one row per bbo
event with the features (trailing context from the previous day included) and the triple-barrier
labels of both sides (the next day's head included, so labels near midnight are not cut short).
Only every ``stride``-th event with a known (uncensored) outcome is kept, with forward mid returns,
the trailing realised volatility and the requested features, so the kept sample — not the raw
day — is what accumulates; optionally the day's quotes feed a Stoikov micro-price fit.
``sample_s`` thins further in time: with ``sample_s ≥ horizon_s`` the kept labels do not overlap,
so the samples are close to independent and the ECE noise floor of the promotion gate (which
assumes independent rows) is honest.

A calibration run computes this :class:`SampleTable` once, for every notebook of its plan (both
sides' labels, the union of their features and horizons, the micro-price fit), and writes it to
``features.parquet`` in the run directory with what it was computed from (the artifact-to-be's
feature parameters among them) in the file's metadata. :func:`load_samples` reads it when it
covers the notebook's parameters and computes its own otherwise (an interactive run).

Days are computed by :func:`aurora.ticks.fanout.run_days` with :func:`sample_day` beside each day:
here one after another by default, or on Dask (``workers`` > 1, or a scheduler address; the same
rows, counts and micro-price fit bit for bit), so only each day's kept sample travels back.

Micro-price: the per-day G tables are combined as an ``n_obs``-weighted mean (each day's estimate
is a mean over that day's observations of the same states).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from aurora.artifact import feature_params_document
from aurora.core.features import NS, FeatureParams, infer_tick_size
from aurora.core.labels import LabelParams
from aurora.core.microprice import MicropriceModel
from aurora.fileio import atomic_path
from aurora.pipeline.params import CalibrateParams, FeatureStudyParams, NotebookParams
from aurora.pipeline.rundir import TABLE
from aurora.pipeline.study import forward_returns, realized_vol_bps
from aurora.ticks.fanout import DaysFailedError, DayTask, Outcome, dask_client, plan_days, run_days
from aurora.ticks.feature_table import FeatureTableError
from aurora.ticks.store import TickStore

QUOTES = ["ts_ns", "bid_px", "bid_qty", "ask_px", "ask_qty"]
VOL_WINDOW_S = 60.0  # trailing window of the realised-volatility regime column, seconds
_META = b"aurora.samples"
#: Per side: (outcome column, return column) of the feature table.
_SIDES = {"long": ("label_long", "ret_long_bps"), "short": ("label_short", "ret_short_bps")}

Progress = Callable[[str], None]


@dataclass
class Samples:
    """The kept sample rows of one side and what was read and dropped on the way."""

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


def sample_spec(p: NotebookParams, *, tp_bps: float, sl_bps: float, horizon_s: float,
                features: Iterable[str] = (), horizons_s: Iterable[float] = (),
                microprice: bool = False) -> dict[str, Any]:
    """What a sample table is computed from (JSON types): data, feature parameters (``tick_size``
    None: inferred), barriers (bps, s), thinning, feature columns, forward horizons (s)."""
    return {"store": str(p.store), "exchange": p.exchange, "symbol": p.symbol,
            "start": p.start.isoformat(), "end": p.end.isoformat(),
            "feature_params": feature_params_document(p.feature_params()),
            "tp_bps": tp_bps, "sl_bps": sl_bps, "horizon_s": horizon_s, "stride": p.stride,
            "sample_s": p.sample_s, "features": list(dict.fromkeys(features)),
            "horizons_s": sorted({float(h) for h in horizons_s}), "microprice": microprice}


def covers(table: dict[str, Any], wanted: dict[str, Any]) -> bool:
    """True when a table computed from ``table`` holds everything a request ``wanted`` needs."""
    same = [k for k in wanted if k not in ("features", "horizons_s", "microprice", "feature_params")]
    if any(table.get(k) != wanted[k] for k in same):
        return False
    fp_t, fp_w = dict(table["feature_params"]), dict(wanted["feature_params"])
    if fp_w["tick_size"] is None:
        fp_t.pop("tick_size")
        fp_w.pop("tick_size")
    return (fp_t == fp_w and set(wanted["features"]) <= set(table["features"])
            and set(wanted["horizons_s"]) <= set(table["horizons_s"])
            and (table["microprice"] or not wanted["microprice"]))


@dataclass
class SampleTable:
    """Sampled rows with both sides' labels: ts_ns, end_ns (ns, when both outcomes are known),
    label_long/label_short (+1/−1/0), ret_long_bps/ret_short_bps, mid, spread_bps, vol_bps,
    ``fwd_{h}s`` per horizon and the spec's features (NaN where a feature is undefined)."""

    frame: pd.DataFrame
    spec: dict[str, Any]
    days: list[date]
    events: int
    censored: int
    feature_params: FeatureParams
    microprice: MicropriceModel | None

    def samples(self, side: str, features: Sequence[str]) -> Samples:
        """One side's samples with finite ``features`` (columns ts_ns, end_ns, outcome, ret_bps,
        mid, spread_bps, vol_bps, ``fwd_*`` and the features)."""
        if side not in _SIDES:
            raise ValueError(f"side must be 'long' or 'short', got {side!r}")
        label, ret = _SIDES[side]
        want = list(dict.fromkeys(features))
        x = self.frame[want].to_numpy(np.float64) if want else np.zeros((len(self.frame), 0))
        finite = np.all(np.isfinite(x), axis=1)
        other = [c for c in self.frame.columns
                 if c not in (*want, *(c for pair in _SIDES.values() for c in pair))]
        frame = self.frame.loc[finite, other].assign(
            outcome=self.frame.loc[finite, label], ret_bps=self.frame.loc[finite, ret])
        for f in want:
            frame[f] = self.frame.loc[finite, f]
        return Samples(frame.reset_index(drop=True), self.days, self.events, self.feature_params,
                       self.microprice, {"censored": self.censored, "nan_features": int((~finite).sum())})

    def write(self, path: Path) -> Path:
        """Atomically write the table with its spec, days and micro-price fit in the metadata."""
        meta = {"spec": self.spec, "days": [d.isoformat() for d in self.days], "events": self.events,
                "censored": self.censored, "feature_params": feature_params_document(self.feature_params),
                "microprice": self.microprice.to_dict() if self.microprice is not None else None}
        table = pa.Table.from_pandas(self.frame, preserve_index=False)
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), _META: json.dumps(meta)})
        with atomic_path(path) as tmp:
            pq.write_table(table, tmp)
        return path

    @classmethod
    def read(cls, path: Path) -> SampleTable | None:
        """The table at ``path``, or None when there is none (or it is not a sample table)."""
        if not path.is_file():
            return None
        table = pq.read_table(path)
        raw = (table.schema.metadata or {}).get(_META)
        if raw is None:
            return None
        meta = json.loads(raw)
        mp = meta["microprice"]
        return cls(table.to_pandas(), meta["spec"], [date.fromisoformat(d) for d in meta["days"]],
                   meta["events"], meta["censored"], FeatureParams(**meta["feature_params"]),
                   MicropriceModel.from_dict(mp) if mp else None)


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
    bucket = np.asarray(ts_ns, dtype=np.int64) // round(seconds * NS)
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


def compute_table(spec: dict[str, Any], progress: Progress | None = None, *, workers: int = 1,
                  scheduler: str | None = None, memory_limit: str = "auto") -> SampleTable:
    """Compute the spec's days and keep the sampled rows (:func:`sample_day` beside each day).

    ``workers`` > 1 or a Dask ``scheduler`` address fans the days out on Dask
    (:mod:`aurora.ticks.fanout`: the same rows, counts and micro-price fit bit for bit); the
    default runs them here, one after another, without Dask. A failed day fails the call with
    :class:`~aurora.ticks.fanout.DaysFailedError` after the other days have run, naming each."""
    store = TickStore(spec["store"])
    ex, sym = spec["exchange"], spec["symbol"]
    start, end = date.fromisoformat(spec["start"]), date.fromisoformat(spec["end"])
    lparams = LabelParams(tp_bps=spec["tp_bps"], sl_bps=spec["sl_bps"], horizon_s=spec["horizon_s"],
                          embargo_s=0.0)
    # plan_days fixes a None tick from the range's first day, as first_day_tick does
    tasks = plan_days(store, ex, [sym], [(start, end)], {sym: FeatureParams(**spec["feature_params"])},
                      lparams, with_depth="obi_w" in spec["features"])
    kept: dict[date, DaySamples] = {}
    failed: list[Outcome] = []
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
        raise FeatureTableError(f"no bbo data for {sym} on {ex} between {start} and {end} in the store "
                                f"{spec['store']}")
    days = sorted(kept)
    return SampleTable(pd.concat([kept[d].frame for d in days], ignore_index=True), spec, days,
                       sum(kept[d].events for d in days), sum(kept[d].censored for d in days),
                       tasks[0].stream.params,
                       _combine([m for d in days if (m := kept[d].model) is not None]))


@dataclass
class DaySamples:
    """What :func:`sample_day` keeps of one day: its sampled rows, bbo events, censored samples
    and micro-price fit (None unless the spec asks for it)."""

    frame: pd.DataFrame
    events: int
    censored: int
    model: MicropriceModel | None


def sample_day(task: DayTask, feats: pd.DataFrame, spec: dict[str, Any]) -> DaySamples | None:
    """Consumer of :func:`aurora.ticks.fanout.run_days` (runs beside the day, on a Dask worker or
    here): the day's kept samples, None for a day without quotes. Everything kept is copied out
    of ``feats`` (fancy indexing), whose arrays the stream reuses for its next day."""
    want = spec["features"]
    unknown = [f for f in want if f not in feats.columns]
    if unknown:
        raise KeyError(f"unknown feature(s) {unknown}; the feature table has {list(feats.columns)}")
    ts = feats["ts_ns"].to_numpy(np.int64)
    if ts.size == 0:
        return None
    rows = np.arange(0, ts.size, spec["stride"])
    if spec["sample_s"] > 0:
        rows = rows[first_per_interval(ts[rows], spec["sample_s"])]
    complete = feats["label_complete"].to_numpy(bool)[rows]
    censored = int((~complete).sum())
    rows = rows[complete]
    mid = feats["mid"].to_numpy(np.float64)
    cols = {"ts_ns": ts[rows], "end_ns": feats["label_end_ns"].to_numpy(np.int64)[rows],
            "mid": mid[rows], "spread_bps": feats["spread_bps"].to_numpy(np.float64)[rows],
            "vol_bps": realized_vol_bps(ts, mid, VOL_WINDOW_S, at=rows)}
    for label, ret in _SIDES.values():
        cols[label] = feats[label].to_numpy(np.int8)[rows]
        cols[ret] = feats[ret].to_numpy(np.float64)[rows]
    cols.update(forward_returns(ts, mid, spec["horizons_s"], at=rows))
    for f in want:
        cols.setdefault(f, feats[f].to_numpy(np.float64)[rows])
    model = None
    if spec["microprice"]:
        s, fp = task.stream, task.stream.params
        quotes = TickStore(s.store).read("bbo", s.exchange, s.symbol, task.day, task.day, columns=QUOTES)
        model = MicropriceModel.fit(
            quotes["ts_ns"].to_numpy(), quotes["bid_px"].to_numpy(), quotes["bid_qty"].to_numpy(),
            quotes["ask_px"].to_numpy(), quotes["ask_qty"].to_numpy(), fp.tick_size,
            imbalance_buckets=fp.microprice_imbalance_buckets,
            spread_buckets=fp.microprice_spread_buckets, horizon_s=fp.microprice_horizon_s)
    return DaySamples(pd.DataFrame(cols), int(ts.size), censored, model)


def write_run_table(params: Sequence[FeatureStudyParams | CalibrateParams], run_dir: Path,
                    progress: Progress | None = None, *, workers: int = 1, scheduler: str | None = None,
                    memory_limit: str = "auto") -> Path:
    """Compute the sample table once for the notebooks of a run and write it to the run directory:
    the union of their requests, taken from the first (a notebook whose data, feature parameters,
    barriers or thinning differ computes its own). ``workers`` / ``scheduler`` / ``memory_limit``
    as for :func:`compute_table`."""
    specs = [notebook_request(p)[1] for p in params]
    first = specs[0]
    spec = {**first, "features": list(dict.fromkeys(f for s in specs for f in s["features"])),
            "horizons_s": sorted({h for s in specs for h in s["horizons_s"]}),
            "microprice": any(s["microprice"] for s in specs)}
    return compute_table(spec, progress, workers=workers, scheduler=scheduler,
                         memory_limit=memory_limit).write(run_dir / TABLE)


def notebook_request(p: FeatureStudyParams | CalibrateParams) -> tuple[str, dict[str, Any]]:
    """The side and sample spec a notebook needs: the feature study looks at long entries with
    forward returns; the calibration at its ``side``, with the micro-price fit."""
    if isinstance(p, CalibrateParams):
        return p.side, sample_spec(p, tp_bps=p.tp_bps, sl_bps=p.sl_bps, horizon_s=p.horizon_s,
                                   features=p.features, microprice=True)
    return "long", sample_spec(p, tp_bps=p.tp_bps, sl_bps=p.sl_bps, horizon_s=p.horizon_s,
                               features=p.features, horizons_s=p.horizons_s)


def load_samples(p: FeatureStudyParams | CalibrateParams, progress: Progress | None = None, *,
                 workers: int = 1, scheduler: str | None = None, memory_limit: str = "auto") -> Samples:
    """A notebook's samples of ``[p.start, p.end]``: from the run's ``features.parquet`` in
    ``p.output_dir`` when it covers the notebook's request, else computed from the store day by day.

    Columns: ts_ns, end_ns (ns, when the outcome is known), outcome (+1/−1/0), ret_bps, mid,
    spread_bps, vol_bps (trailing 60 s realised volatility), ``fwd_{h}s`` per horizon and the
    parameters' ``features``. ``workers`` / ``scheduler`` / ``memory_limit`` fan a computed table's
    days out on Dask (:func:`compute_table`).
    """
    side, spec = notebook_request(p)
    features = spec["features"]
    path = Path(p.output_dir) / TABLE
    table = SampleTable.read(path)
    if table is not None and covers(table.spec, spec):
        if progress:
            progress(f"samples from the run's feature table {path}")
    else:
        table = compute_table(spec, progress, workers=workers, scheduler=scheduler,
                              memory_limit=memory_limit)
    return table.samples(side, features)
