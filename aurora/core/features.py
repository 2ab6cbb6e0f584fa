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

A windowed sum is the difference of two running totals kept in double-double arithmetic (the
terms added so far minus the terms that have left the window; error ≈ 1e-32 of a day's
Σ|terms|), so a day-long cumulative sum does not cost the window's precision, and a window of
zero terms sums to exactly 0. Window bounds advance by merge passes over receive times, which
therefore must not decrease within a table (checked). The hot loops are numba kernels with the
running state in registers (one pass for the per-quote features and the impact slope, one for
all windows) — plain numpy would need a dozen day-long temporaries and binary searches.
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


@nb.njit(cache=True, inline="always")
def _ofi_term(bp: np.ndarray, bq: np.ndarray, ap: np.ndarray, aq: np.ndarray, i: int) -> float:
    if i == 0:
        return 0.0
    v = 0.0
    if bp[i] >= bp[i - 1]:
        v += bq[i]
    if bp[i] <= bp[i - 1]:
        v -= bq[i - 1]
    if ap[i] <= ap[i - 1]:
        v -= aq[i]
    if ap[i] >= ap[i - 1]:
        v += aq[i - 1]
    return v


@nb.njit(cache=True)
def _ofi_terms(bid_px: np.ndarray, bid_qty: np.ndarray, ask_px: np.ndarray,
               ask_qty: np.ndarray) -> np.ndarray:
    e = np.empty(bid_px.shape[0])
    for i in range(bid_px.shape[0]):
        e[i] = _ofi_term(bid_px, bid_qty, ask_px, ask_qty, i)
    return e


def ofi_terms(bid_px: np.ndarray, bid_qty: np.ndarray, ask_px: np.ndarray,
              ask_qty: np.ndarray) -> np.ndarray:
    """CKS (2014) order-flow terms e_n for consecutive quotes; e_0 = 0 (no previous quote)."""
    return _ofi_terms(*(np.ascontiguousarray(a, dtype=np.float64)
                        for a in (bid_px, bid_qty, ask_px, ask_qty)))


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


@nb.njit(cache=True, inline="always")
def _dd2(hi: float, lo: float, x: float) -> tuple[float, float]:
    """:func:`dd_add` on two scalars (kept in registers by the batch kernel); same arithmetic."""
    t = hi + x
    bp = t - hi
    c = lo + ((hi - (t - bp)) + (x - bp))
    s2 = t + c
    return s2, c - (s2 - t)


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
def _base_kernel(  # noqa: PLR0917 (numba kernel: positional only)
    b_ts: np.ndarray, b_seq: np.ndarray, bp: np.ndarray, bq: np.ndarray, ap: np.ndarray,
    aq: np.ndarray, mid: np.ndarray, t_seq: np.ndarray, t_sv: np.ndarray, first: int,
    imp_ns: int, tick: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows spread_bps, obi_l1, microprice_w for bbo events first..n−1, the impact slope
    b = Σxy/Σx² over the trailing impact window (0 when Σx² = 0), and the OFI terms e (all n).

    A window sum is (running total of the terms added) − (running total of the terms that left),
    both double-double in arrival order: bit for bit the prefix-sum difference P(end) − P(start),
    and what :mod:`aurora.core.stream` computes."""
    n = b_ts.shape[0]
    nt = t_seq.shape[0]
    out = np.empty((3, n - first))
    slope = np.empty(n - first)
    e = np.empty(n)  # CKS order-flow terms
    x = np.empty(n)  # |signed trade volume| between consecutive quotes
    xy_h = xy_l = xx_h = xx_l = rxy_h = rxy_l = rxx_h = rxx_l = 0.0
    tp = 0
    ri = 0
    for i in range(n):
        xv = 0.0
        while tp < nt and t_seq[tp] < b_seq[i]:
            xv += t_sv[tp]
            tp += 1
        xi = abs(xv)
        x[i] = xi
        e[i] = _ofi_term(bp, bq, ap, aq, i)
        yi = abs(mid[i] - mid[i - 1]) / tick if i > 0 else 0.0
        xy_h, xy_l = _dd2(xy_h, xy_l, xi * yi)
        xx_h, xx_l = _dd2(xx_h, xx_l, xi * xi)
        lim = b_ts[i] - imp_ns
        while b_ts[ri] <= lim:
            yr = abs(mid[ri] - mid[ri - 1]) / tick if ri > 0 else 0.0
            rxy_h, rxy_l = _dd2(rxy_h, rxy_l, x[ri] * yr)
            rxx_h, rxx_l = _dd2(rxx_h, rxx_l, x[ri] * x[ri])
            ri += 1
        if i < first:
            continue
        k = i - first
        depth = bq[i] + aq[i]
        out[0, k] = (ap[i] - bp[i]) / mid[i] * 1e4
        out[1, k] = (bq[i] - aq[i]) / depth
        out[2, k] = (bp[i] * aq[i] + ap[i] * bq[i]) / depth
        sxx = (xx_h - rxx_h) + (xx_l - rxx_l)
        sxy = (xy_h - rxy_h) + (xy_l - rxy_l)
        slope[k] = sxy / sxx if sxx > 0 else 0.0
    return out, slope, e


@nb.njit(cache=True, error_model="numpy")
def _window_kernel(  # noqa: PLR0917 (numba kernel: positional only)
    b_ts: np.ndarray, b_seq: np.ndarray, mid: np.ndarray, e: np.ndarray, t_ts: np.ndarray,
    t_seq: np.ndarray, t_sv: np.ndarray, t_qty: np.ndarray, first: int, win_ns: np.ndarray,
    slope: np.ndarray, tick: float,
) -> np.ndarray:
    """Rows ofi, tfi, absorption of every window w (rows 3w, 3w+1, 3w+2) for bbo events
    first..n−1, all windows in one pass: the running totals of the terms added are shared, each
    window keeps the totals of the terms that have left it (see :func:`_base_kernel` for how
    window sums are taken)."""
    n = b_ts.shape[0]
    nt = t_ts.shape[0]
    nw = win_ns.shape[0]
    out = np.empty((3 * nw, n - first))
    left = np.zeros((nw, 6))  # per window: e, side·qty, qty totals that left it (hi, lo)
    b_left = np.zeros(nw, dtype=np.int64)  # first bbo event still in the window
    t_left = np.zeros(nw, dtype=np.int64)  # first trade still in the window
    e_h = e_l = sv_h = sv_l = q_h = q_l = 0.0
    tp = 0
    for i in range(n):
        while tp < nt and t_seq[tp] < b_seq[i]:
            sv_h, sv_l = _dd2(sv_h, sv_l, t_sv[tp])
            q_h, q_l = _dd2(q_h, q_l, t_qty[tp])
            tp += 1
        e_h, e_l = _dd2(e_h, e_l, e[i])
        for w in range(nw):
            lim = b_ts[i] - win_ns[w]
            bs = b_left[w]
            if b_ts[bs] <= lim:
                re_h = left[w, 0]
                re_l = left[w, 1]
                while b_ts[bs] <= lim:
                    re_h, re_l = _dd2(re_h, re_l, e[bs])
                    bs += 1
                left[w, 0] = re_h
                left[w, 1] = re_l
                b_left[w] = bs
            ts_ = t_left[w]
            if ts_ < nt and t_ts[ts_] <= lim:
                rsv_h = left[w, 2]
                rsv_l = left[w, 3]
                rq_h = left[w, 4]
                rq_l = left[w, 5]
                while ts_ < nt and t_ts[ts_] <= lim:
                    rsv_h, rsv_l = _dd2(rsv_h, rsv_l, t_sv[ts_])
                    rq_h, rq_l = _dd2(rq_h, rq_l, t_qty[ts_])
                    ts_ += 1
                left[w, 2] = rsv_h
                left[w, 3] = rsv_l
                left[w, 4] = rq_h
                left[w, 5] = rq_l
                t_left[w] = ts_
            if i < first:
                continue
            k = i - first
            out[3 * w, k] = (e_h - left[w, 0]) + (e_l - left[w, 1])
            if tp > ts_:
                num = (sv_h - left[w, 2]) + (sv_l - left[w, 3])
                den = (q_h - left[w, 4]) + (q_l - left[w, 5])
            else:
                num = 0.0
                den = 0.0
            out[3 * w + 1, k] = num / den if den > 0 else 0.0
            j = bs - 1 if bs > 0 else 0
            moved = abs(mid[i] - mid[j]) / tick
            out[3 * w + 2, k] = -num * slope[k] / (moved + 1.0) + 0.0
    return out


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

    mid = (bp + ap) * 0.5
    rows, slope, e = _base_kernel(b_ts, b_seq, bp, bq, ap, aq, mid, t_seq, t_sv, first,
                                  round(params.impact_window_s * NS), tick)
    cols: dict[str, np.ndarray] = {
        "ts_ns": b_ts[keep], "update_id": _column(bbo, "update_id", np.int64)[keep],
        "mid": mid[keep], "spread_bps": rows[0], "obi_l1": rows[1], "microprice_w": rows[2],
        "obi_w": obi_w_asof(b_seq[keep], depth, params.obi_weights()),
    }
    win_ns = np.array([round(secs * NS) for secs in params.windows_s], dtype=np.int64)
    wrows = _window_kernel(b_ts, b_seq, mid, e, t_ts, t_seq, t_sv, t_qty, first, win_ns, slope, tick)
    for w, secs in enumerate(params.windows_s):
        lab = window_label(secs)
        cols[f"ofi_{lab}"], cols[f"tfi_{lab}"], cols[f"absorption_{lab}"] = wrows[3 * w:3 * w + 3]
    if microprice is not None:
        with np.errstate(invalid="ignore", divide="ignore"):
            cols["microprice"] = mid[keep] + microprice.adjustment(bq[keep] / (bq[keep] + aq[keep]),
                                                                 ap[keep] - bp[keep])
    else:
        cols["microprice"] = np.full(rows.shape[1], np.nan)
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
