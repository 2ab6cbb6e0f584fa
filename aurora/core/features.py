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
therefore must not decrease within a table (checked in the same pass). One numba kernel
computes every feature in one pass with the running state in registers, writing into
arrays from the caller's allocator — plain numpy would need a dozen day-long temporaries and
binary searches.
The stream form (:mod:`aurora.core.stream`) computes the same numbers incrementally.

How to add a feature
--------------------
Every per-event formula is one scalar ``@nb.njit(inline="always")`` function in the "Formulas"
section below, called by both kernels (the batch :func:`_feature_kernel` here and the stream
kernels of :mod:`aurora.core.stream`), which is what keeps the two forms equal. So a feature is:

1. its formula: a scalar helper (scalars in, a float out: an array passed to a call in a hot loop
   costs numba a reference-count update per call);
2. its name: in ``QUOTE_FEATURES`` (a function of the current quote and book) with a ``ROW_*``
   constant, or in ``WINDOW_FEATURES`` (one column per window, ``{name}_{W}``) with its index;
3. one line in each kernel writing the helper's value into its row: ``out[ROW_X, k] = …`` in
   :func:`_feature_kernel`, ``out[ROW_X] = …`` in ``stream._on_bbo`` (which imports the helper
   and ``ROW_X`` from here; a window feature writes ``window_row(X, w, nw)`` in both);
4. its definition with units in the list above, and a hand-worked test in ``tests/test_features.py``
   (``tests/test_stream.py`` and ``tests/test_parity.py`` then check batch = stream).

A feature needing new running state (a new windowed sum) also needs that sum kept in both
kernels: a double-double total (:func:`dd_add`) and, in the stream, a field of the ring entries.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numba as nb
import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from aurora.core.microprice import MicropriceModel

# Feature names, in output order (FeatureParams.names): the features of the current quote and
# book, then every window's ofi, tfi and absorption (``ofi_1s, ofi_5s, tfi_1s, …``).
QUOTE_FEATURES = ("mid", "spread_bps", "obi_l1", "obi_w", "microprice_w", "microprice")
ROW_MID, ROW_SPREAD, ROW_OBI_L1, ROW_OBI_W, ROW_MICROPRICE_W, ROW_MICROPRICE = range(len(QUOTE_FEATURES))
WINDOW_FEATURES = ("ofi", "tfi", "absorption")
OFI, TFI, ABSORPTION = range(len(WINDOW_FEATURES))
_N_QUOTE = len(QUOTE_FEATURES)

BBO_COLUMNS = ("ts_ns", "seq", "update_id", "bid_px", "bid_qty", "ask_px", "ask_qty")
TRADE_COLUMNS = ("ts_ns", "seq", "qty", "side")
NS = 1_000_000_000
# ``alloc(shape, dtype)`` → an uninitialised array (np.empty's signature), for large outputs.
Allocator = Callable[[Any, Any], np.ndarray]


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
        names = [*QUOTE_FEATURES, *(f"{f}_{lab}" for f in WINDOW_FEATURES for lab in labels)]
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
        """w_i = exp(−obi_decay·(i − 1)), i = 1..obi_levels (:func:`obi_weight`)."""
        return _obi_weights(float(self.obi_decay), int(self.obi_levels))


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


# ---- Formulas: one scalar function per feature, called by both kernels (batch and stream).
# Scalars in, scalars out (see "How to add a feature"); inlined into the kernels.

@nb.njit(cache=True, inline="always")
def mid_price(bid_px: float, ask_px: float) -> float:
    """``mid`` = (bid_px + ask_px) / 2, price units."""
    return (bid_px + ask_px) * 0.5


@nb.njit(cache=True, inline="always")
def spread_bps(bid_px: float, ask_px: float) -> float:
    """``spread_bps`` = (ask_px − bid_px) / mid · 1e4, bps."""
    return (ask_px - bid_px) / mid_price(bid_px, ask_px) * 1e4


@nb.njit(cache=True, inline="always")
def obi_l1(bid_qty: float, ask_qty: float) -> float:
    """``obi_l1`` = (bid_qty − ask_qty) / (bid_qty + ask_qty), in [−1, 1]; NaN when both are 0."""
    return (bid_qty - ask_qty) / (bid_qty + ask_qty)


@nb.njit(cache=True, inline="always")
def microprice_w(bid_px: float, bid_qty: float, ask_px: float, ask_qty: float) -> float:
    """``microprice_w`` = (bid_px·ask_qty + ask_px·bid_qty) / (bid_qty + ask_qty), price units."""
    return (bid_px * ask_qty + ask_px * bid_qty) / (bid_qty + ask_qty)


@nb.njit(cache=True, inline="always")
def ofi_term(  # noqa: PLR0917 (numba helper: positional only)
    bp0: float, bq0: float, ap0: float, aq0: float, bp1: float, bq1: float, ap1: float,
    aq1: float) -> float:
    """CKS (2014) order flow e of a quote (bp1, bq1, ap1, aq1) after the quote (bp0, bq0, ap0,
    aq0), base units, positive = buying pressure."""
    v = 0.0
    if bp1 >= bp0:
        v += bq1
    if bp1 <= bp0:
        v -= bq0
    if ap1 <= ap0:
        v -= aq1
    if ap1 >= ap0:
        v += aq0
    return v


@nb.njit(cache=True, inline="always")
def obi_weight(decay: float, level: int) -> float:
    """w_i = exp(−decay·(i − 1)) of book level i = ``level`` + 1 (``level`` counts from 0)."""
    return math.exp(-decay * level)


@nb.njit(cache=True, inline="always")
def obi_w_add(num: float, den: float, weight: float, bid_qty: float,
              ask_qty: float) -> tuple[float, float]:
    """``obi_w``'s sums (Σ w(Qb − Qa), Σ w(Qb + Qa)) with one more level; a NaN quantity (a
    missing level) counts as 0."""
    b = 0.0 if math.isnan(bid_qty) else bid_qty
    a = 0.0 if math.isnan(ask_qty) else ask_qty
    return num + weight * (b - a), den + weight * (b + a)


@nb.njit(cache=True, inline="always")
def obi_w(num: float, den: float, in_sync: bool) -> float:
    """``obi_w`` = num / den from :func:`obi_w_add`'s sums; NaN with no depth or no valid book."""
    return num / den if in_sync and den > 0 else np.nan


@nb.njit(cache=True, inline="always")
def mid_move_ticks(mid: float, prev_mid: float, tick: float) -> float:
    """|mid − prev_mid| in ticks (the impact regression's y, and absorption's move)."""
    return abs(mid - prev_mid) / tick


@nb.njit(cache=True, inline="always")
def impact_slope(sum_xy: float, sum_xx: float) -> float:
    """b = Σxy / Σx², ticks per unit of net volume; 0 without trades in the impact window."""
    return sum_xy / sum_xx if sum_xx > 0 else 0.0


@nb.njit(cache=True, inline="always")
def tfi(signed_qty: float, qty: float) -> float:
    """``tfi`` = Σ side·qty / Σ qty of a window's trades; 0 when it holds none."""
    return signed_qty / qty if qty > 0 else 0.0


@nb.njit(cache=True, inline="always")
def absorption(signed_qty: float, slope: float, moved_ticks: float) -> float:
    """``absorption`` = −V·b / (|Δmid|/tick + 1): absorbed selling positive (+0.0: no −0)."""
    return -signed_qty * slope / (moved_ticks + 1.0) + 0.0


@nb.njit(cache=True, inline="always")
def imbalance_bucket_of(imbalance: float, buckets: int) -> int:
    """Micro-price imbalance bucket 0..buckets−1 of I = bid_qty/(bid_qty + ask_qty) in [0, 1]
    (I = 1 joins the top bucket); −1 for NaN."""
    if not math.isfinite(imbalance):
        return -1
    return min(math.floor(min(max(imbalance, 0.0), 1.0) * buckets), buckets - 1)


@nb.njit(cache=True, inline="always")
def spread_bucket_of(spread: float, tick: float, buckets: int) -> int:
    """Micro-price spread bucket 0..buckets−1: round(spread/tick) clipped to [1, buckets], minus
    1; −1 for NaN."""
    ticks = np.rint(spread / tick)
    if not math.isfinite(ticks):
        return -1
    return int(min(max(ticks, 1.0), float(buckets))) - 1


@nb.njit(cache=True, inline="always")
def microprice_cell(  # noqa: PLR0917 (numba helper: positional only)
    bid_px: float, bid_qty: float, ask_px: float, ask_qty: float, tick: float,
    imbalance_buckets: int, spread_buckets: int) -> int:
    """Index ``spread_bucket · imbalance_buckets + imbalance_bucket`` of the quote's cell of the
    micro-price table (:mod:`aurora.core.microprice`), or −1 when it has none (NaN imbalance)."""
    ib = imbalance_bucket_of(bid_qty / (bid_qty + ask_qty), imbalance_buckets)
    sb = spread_bucket_of(ask_px - bid_px, tick, spread_buckets)
    return sb * imbalance_buckets + ib if ib >= 0 and sb >= 0 else -1


@nb.njit(cache=True, inline="always")
def microprice_at(mid: float, g_ticks: float, tick: float) -> float:
    """``microprice`` = mid + G·tick, G in ticks from the quote's cell (NaN: no model or cell)."""
    return mid + g_ticks * tick


@nb.njit(cache=True, inline="always")
def dd_add(hi: float, lo: float, x: float) -> tuple[float, float]:
    """Double-double (hi, lo) + x (Knuth TwoSum, then renormalise).

    The running total of a day of terms stays exact to ~1e-32 relative, so a window sum taken as
    the difference of two running totals keeps the window's own precision (DESIGN.md §4).
    """
    t = hi + x
    bp = t - hi
    c = lo + ((hi - (t - bp)) + (x - bp))
    s2 = t + c
    return s2, c - (s2 - t)


@nb.njit(cache=True, inline="always")
def dd_since(hi: float, lo: float, hi0: float, lo0: float) -> float:
    """Σ of the terms added to a running double-double total since it was (hi0, lo0)."""
    return (hi - hi0) + (lo - lo0)


# ---- Array helpers (tests, notebooks)

@nb.njit(cache=True)
def _ofi_terms(bid_px: np.ndarray, bid_qty: np.ndarray, ask_px: np.ndarray,
               ask_qty: np.ndarray) -> np.ndarray:
    e = np.empty(bid_px.shape[0])
    for i in range(bid_px.shape[0]):
        e[i] = (ofi_term(bid_px[i - 1], bid_qty[i - 1], ask_px[i - 1], ask_qty[i - 1], bid_px[i],
                         bid_qty[i], ask_px[i], ask_qty[i]) if i > 0 else 0.0)
    return e


def ofi_terms(bid_px: np.ndarray, bid_qty: np.ndarray, ask_px: np.ndarray,
              ask_qty: np.ndarray) -> np.ndarray:
    """CKS (2014) order-flow terms e_n for consecutive quotes; e_0 = 0 (no previous quote)."""
    return _ofi_terms(*(np.ascontiguousarray(a, dtype=np.float64)
                        for a in (bid_px, bid_qty, ask_px, ask_qty)))


@nb.njit(cache=True)
def _dd_prefix(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Prefix sums in double-double: hi[k] + lo[k] = Σ x[:k]."""
    n = x.shape[0]
    hi = np.zeros(n + 1)
    lo = np.zeros(n + 1)
    for i in range(n):
        hi[i + 1], lo[i + 1] = dd_add(hi[i], lo[i], x[i])
    return hi, lo


@nb.njit(cache=True)
def _window_diff(hi: np.ndarray, lo: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    out = np.empty(start.shape[0])
    for i in range(start.shape[0]):
        s = start[i]
        e = end[i]
        out[i] = dd_since(hi[e], lo[e], hi[s], lo[s]) if e > s else 0.0
    return out


def window_sums(values: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Σ values[start[i]:end[i]] for every i (empty when start ≥ end), precise to the window."""
    hi, lo = _dd_prefix(np.ascontiguousarray(values, dtype=np.float64))
    return _window_diff(hi, lo, np.asarray(start, dtype=np.int64), np.asarray(end, dtype=np.int64))


@nb.njit(cache=True)
def _obi_weights(decay: float, levels: int) -> np.ndarray:
    w = np.empty(levels)
    for i in range(levels):
        w[i] = obi_weight(decay, i)
    return w


@nb.njit(cache=True, error_model="numpy")
def _book_obi(bid_qty: np.ndarray, ask_qty: np.ndarray, in_sync: np.ndarray,
              weights: np.ndarray, out: np.ndarray) -> None:
    """``obi_w`` of every book state (rows of the level matrices) into ``out``."""
    levels = min(bid_qty.shape[1], ask_qty.shape[1], weights.shape[0])
    for r in range(bid_qty.shape[0]):
        num = den = 0.0
        for i in range(levels):
            num, den = obi_w_add(num, den, weights[i], bid_qty[r, i], ask_qty[r, i])
        out[r] = obi_w(num, den, in_sync[r])


def book_imbalance(bid_qty: np.ndarray, ask_qty: np.ndarray, weights: np.ndarray,
                   in_sync: np.ndarray | None = None) -> np.ndarray:
    """``obi_w`` of level matrices (rows = book states, columns = levels 1..N; a missing level 0
    or NaN); NaN where the weighted depth is 0 or the row is not ``in_sync``."""
    bq = np.ascontiguousarray(bid_qty, dtype=np.float64)
    aq = np.ascontiguousarray(ask_qty, dtype=np.float64)
    sync = (np.ones(bq.shape[0], dtype=np.bool_) if in_sync is None
            else np.ascontiguousarray(in_sync, dtype=np.bool_))
    out = np.empty(bq.shape[0])
    _book_obi(bq, aq, sync, np.ascontiguousarray(weights, dtype=np.float64), out)
    return out


def _require(df: pd.DataFrame, columns: Sequence[str], table: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{table} frame lacks columns {missing}")


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


@nb.njit(cache=True, inline="always")
def window_row(feature: int, window: int, n_windows: int) -> int:
    """Position in ``FeatureParams.names`` of ``WINDOW_FEATURES[feature]`` of window ``window``."""
    return _N_QUOTE + feature * n_windows + window


# ---- Batch kernel

# What the kernel found out of order (0: nothing), with the row, for the error message.
_BAD_BBO_SEQ, _BAD_BBO_TS, _BAD_TRADE_SEQ, _BAD_TRADE_TS = 1, 2, 3, 4
_ORDER_ERRORS = {
    _BAD_BBO_SEQ: "bbo: seq must be strictly increasing (rows in arrival order); not at row {row}",
    _BAD_BBO_TS: "bbo: ts_ns decreases at row {row} (receive times must be non-decreasing in "
                 "arrival order)",
    _BAD_TRADE_SEQ: "trades: seq must be strictly increasing (rows in arrival order); not at row "
                    "{row}",
    _BAD_TRADE_TS: "trades: ts_ns decreases at row {row} (receive times must be non-decreasing "
                   "in arrival order)",
}


@nb.njit(cache=True)
def _trade_order(seq0: int, ts0: int, seq1: int, ts1: int) -> int:
    """0 when a trade (seq1, ts1) may follow the trade (seq0, ts0) (seq strictly up, ts not
    down), else the ``_BAD_TRADE_*`` code."""
    if seq1 <= seq0:
        return _BAD_TRADE_SEQ
    if ts1 < ts0:
        return _BAD_TRADE_TS
    return 0


@nb.njit(cache=True, error_model="numpy")
def _feature_kernel(  # noqa: PLR0917 (numba kernel: one fused pass)
    b_ts: np.ndarray, b_seq: np.ndarray, bp: np.ndarray, bq: np.ndarray, ap: np.ndarray,
    aq: np.ndarray, t_ts: np.ndarray, t_seq: np.ndarray, t_side: np.ndarray, t_qty: np.ndarray,
    d_seq: np.ndarray, d_obi: np.ndarray, d_sync: np.ndarray, first: int, imp_ns: int,
    win_ns: np.ndarray, tick: float, mp_g: np.ndarray, mp_tick: float, mp_ni: int, mp_ns: int,
    out: np.ndarray, book_ok: np.ndarray, e: np.ndarray, x: np.ndarray,
) -> tuple[int, int]:
    """Every feature of bbo events first..n−1 into ``out`` (rows in ``FeatureParams.names``
    order) and ``book_ok`` (the book in sync after the last depth message before the quote), in
    one pass over the quotes with the trades merged in by ``seq``; ``e`` and ``x``
    (length n) are scratch for the OFI terms and the |signed volume| between quotes, read again
    where they leave a window. ``mp_g``: the micro-price table (ticks, flat, ``mp_tick`` 0 for
    none).

    A window sum is (running total of the terms added) − (running total of the terms that left),
    both double-double in arrival order: bit for bit the prefix-sum difference P(end) − P(start),
    and what :mod:`aurora.core.stream` computes. Returns ``(0, 0)``, or the first ``_BAD_*``
    order violation found and its row (the output is then incomplete)."""
    n = b_ts.shape[0]
    nt = t_ts.shape[0]
    nd = d_seq.shape[0]
    nw = win_ns.shape[0]
    # per window: the totals of e, side·qty, qty that left it (hi, lo), first bbo and trade in it
    left_e = np.zeros((nw, 2))
    left_sv = np.zeros((nw, 2))
    left_q = np.zeros((nw, 2))
    b_left = np.zeros(nw, dtype=np.int64)
    t_left = np.zeros(nw, dtype=np.int64)
    e_h = e_l = sv_h = sv_l = q_h = q_l = 0.0
    xy_h = xy_l = xx_h = xx_l = rxy_h = rxy_l = rxx_h = rxx_l = 0.0
    tp = 0  # trades merged so far
    ri = 0  # first quote still in the impact window
    dp = 0  # depth messages before the quote
    for i in range(n):
        if i > 0:
            if b_seq[i] <= b_seq[i - 1]:
                return _BAD_BBO_SEQ, i
            if b_ts[i] < b_ts[i - 1]:
                return _BAD_BBO_TS, i
        xv = 0.0
        while tp < nt and t_seq[tp] < b_seq[i]:
            bad = _trade_order(t_seq[tp - 1], t_ts[tp - 1], t_seq[tp], t_ts[tp]) if tp > 0 else 0
            if bad:
                return bad, tp
            sv = t_side[tp] * t_qty[tp]
            xv += sv
            sv_h, sv_l = dd_add(sv_h, sv_l, sv)
            q_h, q_l = dd_add(q_h, q_l, t_qty[tp])
            tp += 1
        xi = abs(xv)
        x[i] = xi
        mid = mid_price(bp[i], ap[i])
        if i > 0:
            e[i] = ofi_term(bp[i - 1], bq[i - 1], ap[i - 1], aq[i - 1], bp[i], bq[i], ap[i], aq[i])
            yi = mid_move_ticks(mid, mid_price(bp[i - 1], ap[i - 1]), tick)
        else:
            e[i] = yi = 0.0
        e_h, e_l = dd_add(e_h, e_l, e[i])
        xy_h, xy_l = dd_add(xy_h, xy_l, xi * yi)
        xx_h, xx_l = dd_add(xx_h, xx_l, xi * xi)
        lim = b_ts[i] - imp_ns
        while b_ts[ri] <= lim:
            yr = (mid_move_ticks(mid_price(bp[ri], ap[ri]), mid_price(bp[ri - 1], ap[ri - 1]), tick)
                  if ri > 0 else 0.0)
            rxy_h, rxy_l = dd_add(rxy_h, rxy_l, x[ri] * yr)
            rxx_h, rxx_l = dd_add(rxx_h, rxx_l, x[ri] * x[ri])
            ri += 1
        while dp < nd and d_seq[dp] < b_seq[i]:
            dp += 1
        k = i - first
        if k >= 0:
            out[ROW_MID, k] = mid
            out[ROW_SPREAD, k] = spread_bps(bp[i], ap[i])
            out[ROW_OBI_L1, k] = obi_l1(bq[i], aq[i])
            out[ROW_OBI_W, k] = d_obi[dp - 1] if dp > 0 else np.nan
            book_ok[k] = d_sync[dp - 1] if dp > 0 else False
            out[ROW_MICROPRICE_W, k] = microprice_w(bp[i], bq[i], ap[i], aq[i])
            cell = microprice_cell(bp[i], bq[i], ap[i], aq[i], mp_tick, mp_ni, mp_ns) if mp_tick > 0 else -1
            out[ROW_MICROPRICE, k] = microprice_at(mid, mp_g[cell] if cell >= 0 else np.nan, mp_tick)
        slope = impact_slope(dd_since(xy_h, xy_l, rxy_h, rxy_l), dd_since(xx_h, xx_l, rxx_h, rxx_l))
        for w in range(nw):
            lim = b_ts[i] - win_ns[w]
            bs = b_left[w]
            if b_ts[bs] <= lim:
                re_h, re_l = left_e[w, 0], left_e[w, 1]
                while b_ts[bs] <= lim:
                    re_h, re_l = dd_add(re_h, re_l, e[bs])
                    bs += 1
                left_e[w, 0], left_e[w, 1] = re_h, re_l
                b_left[w] = bs
            ts_ = t_left[w]
            if ts_ < nt and t_ts[ts_] <= lim:
                rsv_h, rsv_l = left_sv[w, 0], left_sv[w, 1]
                rq_h, rq_l = left_q[w, 0], left_q[w, 1]
                while ts_ < nt and t_ts[ts_] <= lim:
                    rsv_h, rsv_l = dd_add(rsv_h, rsv_l, t_side[ts_] * t_qty[ts_])
                    rq_h, rq_l = dd_add(rq_h, rq_l, t_qty[ts_])
                    ts_ += 1
                left_sv[w, 0], left_sv[w, 1] = rsv_h, rsv_l
                left_q[w, 0], left_q[w, 1] = rq_h, rq_l
                t_left[w] = ts_
            if k < 0:
                continue
            out[window_row(OFI, w, nw), k] = dd_since(e_h, e_l, left_e[w, 0], left_e[w, 1])
            if tp > ts_:
                signed = dd_since(sv_h, sv_l, left_sv[w, 0], left_sv[w, 1])
                total = dd_since(q_h, q_l, left_q[w, 0], left_q[w, 1])
            else:
                signed = total = 0.0
            out[window_row(TFI, w, nw), k] = tfi(signed, total)
            j = bs - 1 if bs > 0 else 0  # the quote before the window (the first ever: itself)
            moved = mid_move_ticks(mid, mid_price(bp[j], ap[j]), tick)
            out[window_row(ABSORPTION, w, nw), k] = absorption(signed, slope, moved)
    for k in range(max(tp, 1), nt):  # trades after the last quote: checked, not used
        bad = _trade_order(t_seq[k - 1], t_ts[k - 1], t_seq[k], t_ts[k])
        if bad:
            return bad, k
    return 0, 0


def _column(frame: Any, name: str, dtype: type) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(frame[name]), dtype=dtype)


def feature_columns(  # noqa: PLR0917 (mirrors compute_features)
    bbo: Any,
    trades: Any,
    depth: BookTops | None,
    params: FeatureParams,
    microprice: MicropriceModel | None = None,
    context_start_ns: int | None = None,
    alloc: Allocator = np.empty,
    give_back: Callable[..., None] | None = None,
) -> dict[str, np.ndarray]:
    """:func:`compute_features` as a dict of arrays (``ts_ns``, ``update_id``, the features and
    ``book_ok``).

    ``bbo``/``trades`` may be anything indexable by column name (DataFrame, dict of arrays);
    ``alloc`` makes the feature arrays and the kernel's scratch, and ``give_back`` (if given) is
    called with the scratch arrays once the kernel is done with them.
    """
    b_ts = _column(bbo, "ts_ns", np.int64)
    b_seq = _column(bbo, "seq", np.int64)
    bp, bq, ap, aq = (_column(bbo, c, np.float64) for c in ("bid_px", "bid_qty", "ask_px", "ask_qty"))
    t_ts = _column(trades, "ts_ns", np.int64)
    t_seq = _column(trades, "seq", np.int64)
    t_qty = _column(trades, "qty", np.float64)
    t_side = _column(trades, "side", np.int8)  # +1 taker buy, −1 taker sell (the store schema)
    if params.tick_size is None and bp.size:
        params = params.with_tick(infer_tick_size(bp, ap))
    tick = params.tick_size or 1.0
    first = 0 if context_start_ns is None else int(np.searchsorted(b_ts, context_start_ns, side="left"))
    if depth is None or depth.seq.size == 0:
        d_seq, d_obi, d_sync = np.empty(0, dtype=np.int64), np.empty(0), np.empty(0, np.bool_)
    else:
        d_seq = np.ascontiguousarray(depth.seq, dtype=np.int64)
        d_sync = np.ascontiguousarray(depth.in_sync, dtype=np.bool_)
        d_obi = book_imbalance(depth.bid_qty, depth.ask_qty, params.obi_weights(), d_sync)
    if microprice is None:
        mp_g, mp_tick, mp_ni, mp_ns = np.zeros(1), 0.0, 1, 1
    else:
        mp_g, mp_tick = np.ascontiguousarray(microprice.table.ravel()), microprice.tick_size
        mp_ni, mp_ns = microprice.imbalance_buckets, microprice.spread_buckets
    n = b_ts.shape[0]
    out = alloc((len(params.names), n - first), np.float64)
    book_ok = alloc(n - first, np.bool_)
    win_ns = np.array([round(secs * NS) for secs in params.windows_s], dtype=np.int64)
    scratch = alloc(n, np.float64), alloc(n, np.float64)
    bad, row = _feature_kernel(b_ts, b_seq, bp, bq, ap, aq, t_ts, t_seq, t_side, t_qty, d_seq,
                               d_obi, d_sync, first, round(params.impact_window_s * NS), win_ns,
                               tick, mp_g, mp_tick, mp_ni, mp_ns, out, book_ok, *scratch)
    if give_back is not None:
        give_back(*scratch)
    if bad:
        raise ValueError(_ORDER_ERRORS[bad].format(row=row))
    keep = slice(first, None)
    cols = {"ts_ns": b_ts[keep], "update_id": _column(bbo, "update_id", np.int64)[keep]}
    cols.update(zip(params.names, out, strict=True))
    cols["book_ok"] = book_ok
    return cols


def compute_features(  # noqa: PLR0917 (the documented positional API)
    bbo: pd.DataFrame,
    trades: pd.DataFrame,
    depth: BookTops | None,
    params: FeatureParams,
    microprice: MicropriceModel | None = None,
    context_start_ns: int | None = None,
) -> pd.DataFrame:
    """The feature table: one row per bbo event, columns ``ts_ns, update_id`` + ``params.names``
    + ``book_ok`` (bool: the rebuilt depth book was in sync at that row; False before any depth
    message and without depth, where ``obi_w`` is NaN).

    ``bbo`` and ``trades`` hold the tick-store columns (``ts_ns, seq, …``) in arrival order;
    ``depth`` is the rebuilt book's top levels (:class:`BookTops`) or ``None`` (``obi_w`` NaN).
    Rows with ``ts_ns < context_start_ns`` are used as trailing context only and dropped.
    """
    _require(bbo, BBO_COLUMNS, "bbo")
    _require(trades, TRADE_COLUMNS, "trades")
    return pd.DataFrame(feature_columns(bbo, trades, depth, params, microprice, context_start_ns),
                        copy=False)
