"""Microstructure features, batch (vectorised) form — the definitions of DESIGN.md §4.

Every feature is evaluated at each ``bbo`` event n (time t = ``ts_ns[n]``) over what a live
reader has seen after processing event n: all events (bbo, trades, depth) with ``seq`` up to and
including ``seq[n]``, and, for a window W, only the events with ``ts_ns > t − W``.

Features (units):

- ``mid`` = (bid_px + ask_px) / 2, price units.
- ``spread_bps`` = (ask_px − bid_px) / mid · 1e4, bps.
- ``obi_l1`` = (bid_qty − ask_qty) / (bid_qty + ask_qty), in [−1, 1]; NaN when both are 0.
- ``obi_w`` = Σ w_i (Qb_i − Qa_i) / Σ w_i (Qb_i + Qa_i) over the top ``obi_levels`` levels of the
  rebuilt book, w_i = exp(−obi_decay·(i − 1)); as of the last depth message before the bbo event;
  NaN with no book yet or a book out of sync.
- ``ofi_{W}`` = Σ e_k over bbo events k in the window, with the Cont–Kukanov–Stoikov (2014) order
  flow e_k = 1{Pb_k ≥ Pb_{k−1}} qb_k − 1{Pb_k ≤ Pb_{k−1}} qb_{k−1}
  − 1{Pa_k ≤ Pa_{k−1}} qa_k + 1{Pa_k ≥ Pa_{k−1}} qa_{k−1}; e = 0 for the first quote seen.
  Base-asset quantity units; positive = buying pressure.
- ``tfi_{W}`` = Σ side·qty / Σ qty over trades in the window (side +1 taker buy, −1 taker sell;
  Binance ``m = True`` ⇒ −1); 0 when the window holds no trade. In [−1, 1].
- ``microprice_w`` = (bid_px·ask_qty + ask_px·bid_qty) / (bid_qty + ask_qty), price units.
- ``microprice`` = mid + G(imbalance, spread), Stoikov (2018), G from a fitted
  :class:`~aurora.core.microprice.MicropriceModel`; NaN without a model.
- ``absorption_{W}`` = |V_W| / (λ̂ · (|Δmid_W| / tick + 1)), signed by −sign(V_W) so that absorbed
  selling is positive (bullish). Here
  V_W = Σ side·qty over trades in the window (base units);
  Δmid_W = mid_n − mid_{j−1}, j the first bbo event in the window (= Σ of the mid changes of the
  bbo events in the window; the first quote ever seen has no change, so mid_{−1} := mid_0);
  λ̂ = 1 / b is the trailing market depth in base units per tick, where
  b = Σ x_k y_k / Σ x_k² is the through-origin OLS slope (ticks per unit volume) of
  y_k = |mid_k − mid_{k−1}| / tick on x_k = |Σ side·qty of the trades between bbo k−1 and bbo k|
  over the bbo events k with ts > t − impact_window_s. So absorption_W = −V_W · b / (|Δmid_W|/tick + 1):
  the tick move the window's net flow would typically cause, over the move seen (+1). It is 0 when
  Σ x_k² = 0 (no trade in the impact window: no impact estimate) and when b = 0.

A windowed sum is the difference of two running totals kept in double-double arithmetic
(error ≈ 1e-32 of a day's Σ|terms|), so a day-long cumulative sum does not cost the window's
precision, and a window of zero terms sums to exactly 0. Window bounds come from
``np.searchsorted`` on receive times, which therefore must not decrease within a table.
The stream form (:mod:`aurora.core.stream`) computes the same numbers incrementally.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numba as nb
import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from aurora.core.microprice import MicropriceModel

BBO_COLUMNS = ("ts_ns", "seq", "update_id", "bid_px", "bid_qty", "ask_px", "ask_qty")
TRADE_COLUMNS = ("ts_ns", "seq", "qty", "side")
NS = 1_000_000_000


def window_label(seconds: float) -> str:
    """Name suffix of a window: 1.0 → ``1s``, 5 → ``5s``, 0.5 → ``0.5s``."""
    return f"{seconds:g}s"


@dataclass(frozen=True)
class FeatureParams:
    """Feature parameters (from ``settings.features``; ``tick_size`` from the symbol's filters).

    ``tick_size`` (price units) scales ``absorption`` and the micro-price spread; ``None`` lets
    :func:`compute_features` infer it from the quotes (:func:`infer_tick_size`). The stream form
    needs it explicitly.
    """

    windows_s: tuple[float, ...] = (1.0, 5.0)
    obi_levels: int = 10
    obi_decay: float = 0.5
    impact_window_s: float = 60.0
    microprice_imbalance_buckets: int = 10
    microprice_spread_buckets: int = 2
    microprice_horizon_s: float = 1.0
    tick_size: float | None = None
    names: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        windows = tuple(float(w) for w in self.windows_s)
        if not windows or any(not (math.isfinite(w) and w > 0) for w in windows):
            raise ValueError(f"windows_s must be positive seconds, got {self.windows_s!r}")
        labels = [window_label(w) for w in windows]
        if len(set(labels)) != len(labels):
            raise ValueError(f"windows_s has duplicate windows: {self.windows_s!r}")
        if self.obi_levels < 1:
            raise ValueError(f"obi_levels must be >= 1, got {self.obi_levels}")
        if not self.obi_decay >= 0:
            raise ValueError(f"obi_decay must be >= 0, got {self.obi_decay}")
        if not self.impact_window_s > 0:
            raise ValueError(f"impact_window_s must be > 0, got {self.impact_window_s}")
        if self.tick_size is not None and not (math.isfinite(self.tick_size) and self.tick_size > 0):
            raise ValueError(f"tick_size must be a positive price, got {self.tick_size}")
        object.__setattr__(self, "windows_s", windows)
        names = ["mid", "spread_bps", "obi_l1", "obi_w"]
        names += [f"ofi_{lab}" for lab in labels] + [f"tfi_{lab}" for lab in labels]
        names += ["microprice_w", "microprice"] + [f"absorption_{lab}" for lab in labels]
        object.__setattr__(self, "names", tuple(names))

    @classmethod
    def from_settings(cls, features: Any, tick_size: float | None = None) -> FeatureParams:
        """Build from ``settings.features`` (any object with the same attribute names)."""
        return cls(
            windows_s=tuple(features.windows_s),
            obi_levels=int(features.obi_levels),
            obi_decay=float(features.obi_decay),
            impact_window_s=float(features.impact_window_s),
            microprice_imbalance_buckets=int(features.microprice_imbalance_buckets),
            microprice_spread_buckets=int(features.microprice_spread_buckets),
            microprice_horizon_s=float(features.microprice_horizon_s),
            tick_size=tick_size,
        )

    def with_tick(self, tick_size: float) -> FeatureParams:
        """A copy with ``tick_size`` set."""
        return FeatureParams(
            windows_s=self.windows_s, obi_levels=self.obi_levels, obi_decay=self.obi_decay,
            impact_window_s=self.impact_window_s,
            microprice_imbalance_buckets=self.microprice_imbalance_buckets,
            microprice_spread_buckets=self.microprice_spread_buckets,
            microprice_horizon_s=self.microprice_horizon_s, tick_size=tick_size,
        )

    @property
    def context_s(self) -> float:
        """Seconds of trailing history every feature needs (longest window or impact window)."""
        return max(*self.windows_s, self.impact_window_s)

    def obi_weights(self) -> np.ndarray:
        """w_i = exp(−obi_decay·(i − 1)), i = 1..obi_levels."""
        return np.exp(-self.obi_decay * np.arange(self.obi_levels, dtype=np.float64))


def infer_tick_size(*prices: np.ndarray) -> float:
    """Smallest positive gap between distinct quoted prices, rounded to 10 significant digits.

    A day of quotes almost always visits adjacent ticks, so this recovers the tick; pass the
    exchange's ``tickSize`` in :class:`FeatureParams` when it is known.
    """
    values = np.unique(np.concatenate([np.asarray(p, dtype=np.float64).ravel() for p in prices]))
    values = values[np.isfinite(values)]
    gaps = np.diff(values)
    gaps = gaps[gaps > 0]
    if gaps.size == 0:
        raise ValueError("cannot infer the tick size: fewer than two distinct prices")
    gap = float(gaps.min())
    return float(f"{gap:.10g}")


@nb.njit(cache=True)
def _ofi_terms(bid_px: np.ndarray, bid_qty: np.ndarray, ask_px: np.ndarray,
               ask_qty: np.ndarray) -> np.ndarray:
    n = bid_px.shape[0]
    e = np.zeros(n)
    for i in range(1, n):
        v = 0.0
        if bid_px[i] >= bid_px[i - 1]:
            v += bid_qty[i]
        if bid_px[i] <= bid_px[i - 1]:
            v -= bid_qty[i - 1]
        if ask_px[i] <= ask_px[i - 1]:
            v -= ask_qty[i]
        if ask_px[i] >= ask_px[i - 1]:
            v += ask_qty[i - 1]
        e[i] = v
    return e


def ofi_terms(bid_px: np.ndarray, bid_qty: np.ndarray, ask_px: np.ndarray,
              ask_qty: np.ndarray) -> np.ndarray:
    """CKS (2014) order-flow terms e_n for consecutive quotes; e_0 = 0 (no previous quote)."""
    return _ofi_terms(*(np.ascontiguousarray(a, dtype=np.float64)
                        for a in (bid_px, bid_qty, ask_px, ask_qty)))


@nb.njit(cache=True)
def _sorted_search(a: np.ndarray, v: np.ndarray, right: bool) -> np.ndarray:
    """``np.searchsorted(a, v, side)`` for an ascending ``v`` too: one merge pass, O(len a + len v)
    (binary searches over a day of events cost ~50× more)."""
    out = np.empty(v.shape[0], dtype=np.int64)
    j = 0
    n = a.shape[0]
    for i in range(v.shape[0]):
        x = v[i]
        if right:
            while j < n and a[j] <= x:
                j += 1
        else:
            while j < n and a[j] < x:
                j += 1
        out[i] = j
    return out


def sorted_search(a: np.ndarray, v: np.ndarray, side: str = "left") -> np.ndarray:
    """Like ``np.searchsorted`` when ``v`` is ascending as well as ``a`` (falls back otherwise)."""
    a = np.ascontiguousarray(a)
    v = np.ascontiguousarray(v, dtype=a.dtype)
    if first_out_of_order(v, False) >= 0:
        return np.searchsorted(a, v, side=side).astype(np.int64)
    return _sorted_search(a, v, side == "right")


@nb.njit(cache=True)
def first_out_of_order(v: np.ndarray, strict: bool) -> int:
    """Index of the first element that is below (or, ``strict``, not above) its predecessor; −1."""
    for i in range(1, v.shape[0]):
        if v[i] < v[i - 1] or (strict and v[i] == v[i - 1]):
            return i
    return -1


@nb.njit(cache=True, inline="always")
def dd_add(acc: np.ndarray, k: int, x: float) -> None:
    """Double-double ``acc[k] + acc[k+1] += x`` (Knuth TwoSum, then renormalise).

    The running total of a day of terms stays exact to ~1e-32 relative, so a window sum taken as
    the difference of two running totals keeps the window's own precision (DESIGN.md §4).
    """
    s = acc[k]
    t = s + x
    bp = t - s
    c = acc[k + 1] + ((s - (t - bp)) + (x - bp))
    s2 = t + c
    acc[k + 1] = c - (s2 - t)
    acc[k] = s2


@nb.njit(cache=True)
def _dd_prefix(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Prefix sums in double-double: hi[k] + lo[k] = Σ x[:k]."""
    n = x.shape[0]
    hi = np.empty(n + 1)
    lo = np.empty(n + 1)
    hi[0] = 0.0
    lo[0] = 0.0
    acc = np.zeros(2)
    for i in range(n):
        dd_add(acc, 0, x[i])
        hi[i + 1] = acc[0]
        lo[i + 1] = acc[1]
    return hi, lo


@nb.njit(cache=True)
def _window_diff(hi: np.ndarray, lo: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    out = np.empty(start.shape[0])
    for i in range(start.shape[0]):
        s = start[i]
        e = end[i]
        out[i] = (hi[e] - hi[s]) + (lo[e] - lo[s]) if e > s else 0.0
    return out


def window_sums(values: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Σ values[start[i]:end[i]] for every i (empty when start ≥ end), precise to the window."""
    hi, lo = _dd_prefix(np.ascontiguousarray(values, dtype=np.float64))
    return _window_diff(hi, lo, np.asarray(start, dtype=np.int64), np.asarray(end, dtype=np.int64))


def _check_monotone(ts: np.ndarray, seq: np.ndarray, table: str) -> None:
    if first_out_of_order(seq, True) >= 0:
        raise ValueError(f"{table}: seq must be strictly increasing (rows in arrival order)")
    bad = first_out_of_order(ts, False)
    if bad >= 0:
        raise ValueError(f"{table}: ts_ns decreases at row {bad} "
                         "(receive times must be non-decreasing in arrival order)")


def _require(df: pd.DataFrame, columns: Sequence[str], table: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{table} frame lacks columns {missing}")


def book_imbalance(bid_qty: np.ndarray, ask_qty: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted depth imbalance of level matrices (rows = book states, columns = levels 1..N).

    Missing levels are 0 (or NaN, treated as 0). NaN where the weighted depth is 0.
    """
    bq = np.nan_to_num(np.asarray(bid_qty, dtype=np.float64))
    aq = np.nan_to_num(np.asarray(ask_qty, dtype=np.float64))
    k = min(bq.shape[1], aq.shape[1], weights.shape[0])
    bq, aq, w = bq[:, :k], aq[:, :k], weights[:k]
    num = (bq - aq) @ w
    den = (bq + aq) @ w
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


@dataclass(frozen=True)
class BookTops:
    """Top-of-book level quantities after each depth message, for ``obi_w``.

    ``seq`` (int64, increasing) is the arrival counter of the depth message; ``bid_qty`` and
    ``ask_qty`` are (messages × levels) matrices, level 1 first, 0 for a missing level;
    ``in_sync`` is False where the book is not (yet) valid.
    """

    seq: np.ndarray
    bid_qty: np.ndarray
    ask_qty: np.ndarray
    in_sync: np.ndarray


def obi_w_asof(bbo_seq: np.ndarray, tops: BookTops | None, weights: np.ndarray) -> np.ndarray:
    """``obi_w`` at each bbo event: the last book state with seq < the event's seq."""
    if tops is None or tops.seq.size == 0:
        return np.full(bbo_seq.shape[0], np.nan)
    values = book_imbalance(tops.bid_qty, tops.ask_qty, weights)
    values = np.where(np.asarray(tops.in_sync, dtype=bool), values, np.nan)
    return _asof(values, np.ascontiguousarray(tops.seq, dtype=np.int64),
                 np.ascontiguousarray(bbo_seq, dtype=np.int64))


@nb.njit(cache=True, error_model="numpy")
def _pointwise(bp: np.ndarray, bq: np.ndarray, ap: np.ndarray, aq: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    n = bp.shape[0]
    mid = np.empty(n)
    spread = np.empty(n)
    obi = np.empty(n)
    micro = np.empty(n)
    for i in range(n):
        m = (bp[i] + ap[i]) * 0.5
        d = bq[i] + aq[i]
        mid[i] = m
        spread[i] = (ap[i] - bp[i]) / m * 1e4
        obi[i] = (bq[i] - aq[i]) / d
        micro[i] = (bp[i] * aq[i] + ap[i] * bq[i]) / d
    return mid, spread, obi, micro


@nb.njit(cache=True)
def _impact_terms(mid: np.ndarray, x: np.ndarray, tick: float) -> tuple[np.ndarray, np.ndarray]:
    """x·y and x² with y_k = |mid_k − mid_{k−1}| / tick (y_0 = 0)."""
    n = mid.shape[0]
    xy = np.empty(n)
    xx = np.empty(n)
    for k in range(n):
        y = abs(mid[k] - mid[k - 1]) / tick if k > 0 else 0.0
        xy[k] = x[k] * y
        xx[k] = x[k] * x[k]
    return xy, xx


@nb.njit(cache=True)
def _dd_diff(hi: np.ndarray, lo: np.ndarray, s: int, e: int) -> float:
    return (hi[e] - hi[s]) + (lo[e] - lo[s]) if e > s else 0.0


@nb.njit(cache=True)
def _impact_sums(  # noqa: PLR0917 (numba kernel: positional only)
    b_ts: np.ndarray, first: int, window_ns: int, xy_hi: np.ndarray, xy_lo: np.ndarray,
    xx_hi: np.ndarray, xx_lo: np.ndarray,
) -> np.ndarray:
    """slope b = Σxy / Σx² over bbo events k with ts_k > t − window (0 when Σx² = 0)."""
    n = b_ts.shape[0]
    slope = np.empty(n - first)
    s = 0
    for i in range(first, n):
        lim = b_ts[i] - window_ns
        while b_ts[s] <= lim:
            s += 1
        sxx = _dd_diff(xx_hi, xx_lo, s, i + 1)
        slope[i - first] = _dd_diff(xy_hi, xy_lo, s, i + 1) / sxx if sxx > 0 else 0.0
    return slope


@nb.njit(cache=True, error_model="numpy")
def _window_features(  # noqa: PLR0917 (numba kernel: positional only)
    b_ts: np.ndarray, t_ts: np.ndarray, t_end: np.ndarray, first: int, window_ns: int,
    e_hi: np.ndarray, e_lo: np.ndarray, sv_hi: np.ndarray, sv_lo: np.ndarray, q_hi: np.ndarray,
    q_lo: np.ndarray, slope: np.ndarray, mid: np.ndarray, tick: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ofi, tfi and absorption of one window for bbo events first..n−1. Window starts come
    from merge passes (ts non-decreasing): bbo b_start = #(b_ts ≤ t − W), trades likewise."""
    n = b_ts.shape[0]
    m = n - first
    ofi = np.empty(m)
    tfi = np.empty(m)
    absorption = np.empty(m)
    bs = 0
    ts_ = 0
    nt = t_ts.shape[0]
    for i in range(first, n):
        lim = b_ts[i] - window_ns
        while b_ts[bs] <= lim:
            bs += 1
        while ts_ < nt and t_ts[ts_] <= lim:
            ts_ += 1
        k = i - first
        ofi[k] = _dd_diff(e_hi, e_lo, bs, i + 1)
        num = _dd_diff(sv_hi, sv_lo, ts_, t_end[k])
        den = _dd_diff(q_hi, q_lo, ts_, t_end[k])
        tfi[k] = num / den if den > 0 else 0.0
        j = bs - 1 if bs > 0 else 0
        moved = abs(mid[i] - mid[j]) / tick
        absorption[k] = -num * slope[k] / (moved + 1.0) + 0.0
    return ofi, tfi, absorption


@nb.njit(cache=True)
def _asof(values: np.ndarray, seq: np.ndarray, query: np.ndarray) -> np.ndarray:
    """values[last j with seq[j] < query[i]], NaN before the first; both ascending."""
    out = np.empty(query.shape[0])
    j = 0
    m = seq.shape[0]
    for i in range(query.shape[0]):
        while j < m and seq[j] < query[i]:
            j += 1
        out[i] = values[j - 1] if j > 0 else np.nan
    return out


def _column(frame: Any, name: str, dtype: type) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(frame[name]), dtype=dtype)


def feature_columns(  # noqa: PLR0917 (mirrors compute_features)
    bbo: Any,
    trades: Any,
    depth: BookTops | None,
    params: FeatureParams,
    microprice: MicropriceModel | None = None,
    context_start_ns: int | None = None,
) -> dict[str, np.ndarray]:
    """:func:`compute_features` as a dict of arrays (``ts_ns``, ``update_id`` and the features).

    ``bbo``/``trades`` may be anything indexable by column name (DataFrame, dict of arrays).
    """
    b_ts = _column(bbo, "ts_ns", np.int64)
    b_seq = _column(bbo, "seq", np.int64)
    bp, bq, ap, aq = (_column(bbo, c, np.float64) for c in ("bid_px", "bid_qty", "ask_px", "ask_qty"))
    t_ts = _column(trades, "ts_ns", np.int64)
    t_seq = _column(trades, "seq", np.int64)
    t_qty = _column(trades, "qty", np.float64)
    t_sv = _column(trades, "side", np.float64) * t_qty
    _check_monotone(b_ts, b_seq, "bbo")
    _check_monotone(t_ts, t_seq, "trades")
    if params.tick_size is None and bp.size:
        params = params.with_tick(infer_tick_size(bp, ap))
    tick = params.tick_size or 1.0
    first = 0 if context_start_ns is None else int(np.searchsorted(b_ts, context_start_ns, side="left"))
    keep = slice(first, None)

    mid, spread, obi_l1, micro_w = _pointwise(bp, bq, ap, aq)
    cols: dict[str, np.ndarray] = {
        "ts_ns": b_ts[keep], "update_id": _column(bbo, "update_id", np.int64)[keep],
        "mid": mid[keep], "spread_bps": spread[keep], "obi_l1": obi_l1[keep],
        "obi_w": obi_w_asof(b_seq[keep], depth, params.obi_weights()),
        "microprice_w": micro_w[keep],
    }
    if microprice is not None:
        with np.errstate(invalid="ignore", divide="ignore"):
            cols["microprice"] = mid[keep] + microprice.adjustment(bq[keep] / (bq[keep] + aq[keep]),
                                                                   ap[keep] - bp[keep])
    else:
        cols["microprice"] = np.full(mid[keep].shape, np.nan)
    # trades seen by bbo event n: seq < seq_n
    t_end = _sorted_search(t_seq, b_seq[keep], False)
    # price-impact regression inputs per bbo event k (trades between bbo k-1 and bbo k)
    group = _sorted_search(b_seq, t_seq, False)
    inside = group < b_seq.size
    x = np.abs(np.bincount(group[inside], weights=t_sv[inside], minlength=b_seq.size))
    del group, inside
    xy, xx = _impact_terms(mid, x, tick)
    slope = _impact_sums(b_ts, first, round(params.impact_window_s * NS), *_dd_prefix(xy),
                         *_dd_prefix(xx))
    del x, xy, xx
    e_hi, e_lo = _dd_prefix(_ofi_terms(bp, bq, ap, aq))
    sv_hi, sv_lo = _dd_prefix(t_sv)
    q_hi, q_lo = _dd_prefix(t_qty)
    for w in params.windows_s:
        lab = window_label(w)
        cols[f"ofi_{lab}"], cols[f"tfi_{lab}"], cols[f"absorption_{lab}"] = _window_features(
            b_ts, t_ts, t_end, first, round(w * NS), e_hi, e_lo, sv_hi, sv_lo, q_hi, q_lo, slope,
            mid, tick)
    return {name: cols[name] for name in ("ts_ns", "update_id", *params.names)}


def compute_features(  # noqa: PLR0917 (the documented positional API)
    bbo: pd.DataFrame,
    trades: pd.DataFrame,
    depth: BookTops | None,
    params: FeatureParams,
    microprice: MicropriceModel | None = None,
    context_start_ns: int | None = None,
) -> pd.DataFrame:
    """The feature table: one row per bbo event, columns ``ts_ns, update_id`` + ``params.names``.

    ``bbo`` and ``trades`` hold the tick-store columns (``ts_ns, seq, …``) in arrival order;
    ``depth`` is the rebuilt book's top levels (:class:`BookTops`) or ``None`` (``obi_w`` NaN).
    Rows with ``ts_ns < context_start_ns`` are used as trailing context only and dropped.
    """
    _require(bbo, BBO_COLUMNS, "bbo")
    _require(trades, TRADE_COLUMNS, "trades")
    return pd.DataFrame(feature_columns(bbo, trades, depth, params, microprice, context_start_ns),
                        copy=False)
