"""Stoikov (2018) micro-price: ``microprice = mid + G(imbalance, spread)``.

State x = (spread bucket, imbalance bucket): the imbalance I = bid_qty / (bid_qty + ask_qty) in
[0, 1] falls into ``imbalance_buckets`` equal-width buckets; the spread, in ticks, into buckets
1, 2, …, ``spread_buckets`` (wider spreads join the last bucket). G is stored in ticks; the
adjustment returned is in price units (G · tick). Positive G ⇒ the fair price is above mid.

Two estimators, both on the symmetrised sample (each observation is also used mirrored:
I → 1 − I, Δmid → −Δmid, so G(s, I) = −G(s, 1 − I) exactly):

- ``"stoikov"`` (default, the paper's iterative estimator). Over consecutive bbo observations
  x_t → x_{t+1} with mid change d: Q[x, y] = P(d = 0, next y | x), T[x, y] = P(d ≠ 0, next y | x),
  R[x] = E[d·1{d ≠ 0} | x]; G¹ = (1 − Q)⁻¹ R, B = (1 − Q)⁻¹ T and G^{k+1} = G¹ + B G^k iterated to
  convergence (change < 1e-9 ticks) or ``max_iter``: the limit of the expected mid at the next
  mid changes.
- ``"horizon"`` (the one-step version): G(x) = E[mid(t + h) − mid(t) | x], h = ``horizon_s``,
  with mid(t + h) the mid of the last quote at or before t + h.

States never observed get G = 0 (no adjustment).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numba as nb
import numpy as np

from aurora.core.features import imbalance_bucket_of, spread_bucket_of

KINDS = ("stoikov", "horizon")


@nb.njit(cache=True)
def _buckets(values: np.ndarray, tick: float, n: int, spread: bool) -> np.ndarray:
    out = np.empty(values.shape[0], dtype=np.int64)
    for i in range(values.shape[0]):
        out[i] = spread_bucket_of(values[i], tick, n) if spread else imbalance_bucket_of(values[i], n)
    return out


def imbalance_bucket(imbalance: np.ndarray, n: int) -> np.ndarray:
    """Bucket 0..n−1 of I in [0, 1] (I = 1 goes to the top bucket); −1 for NaN
    (:func:`~aurora.core.features.imbalance_bucket_of`, which the feature kernels use)."""
    imb = np.ascontiguousarray(imbalance, dtype=np.float64)
    return _buckets(imb.ravel(), 1.0, int(n), False).reshape(imb.shape)


def spread_bucket(spread: np.ndarray, tick: float, n: int) -> np.ndarray:
    """Bucket 0..n−1 of a spread in price units: round(spread/tick) clipped to [1, n], minus 1
    (:func:`~aurora.core.features.spread_bucket_of`); −1 for NaN."""
    s = np.ascontiguousarray(spread, dtype=np.float64)
    return _buckets(s.ravel(), float(tick), int(n), True).reshape(s.shape)


@dataclass(frozen=True)
class MicropriceModel:
    """A fitted G table: ``g_ticks[spread_bucket][imbalance_bucket]`` in ticks."""

    tick_size: float
    imbalance_buckets: int
    spread_buckets: int
    g_ticks: tuple[tuple[float, ...], ...]
    kind: str = "stoikov"
    horizon_s: float = 0.0
    n_obs: int = 0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.tick_size) and self.tick_size > 0):
            raise ValueError(f"microprice tick_size must be positive, got {self.tick_size}")
        if self.kind not in KINDS:
            raise ValueError(f"microprice kind must be one of {KINDS}, got {self.kind!r}")
        if self.imbalance_buckets < 2 or self.spread_buckets < 1:
            raise ValueError("microprice needs >= 2 imbalance buckets and >= 1 spread bucket")
        g = np.asarray(self.g_ticks, dtype=np.float64)
        if g.shape != (self.spread_buckets, self.imbalance_buckets):
            raise ValueError(f"microprice g_ticks must be {self.spread_buckets}x"
                             f"{self.imbalance_buckets}, got shape {g.shape}")
        if not np.all(np.isfinite(g)):
            raise ValueError("microprice g_ticks holds a non-finite value")

    @property
    def table(self) -> np.ndarray:
        """G in ticks as a (spread_buckets × imbalance_buckets) array."""
        return np.asarray(self.g_ticks, dtype=np.float64)

    def adjustment(self, imbalance: np.ndarray | float, spread: np.ndarray | float) -> np.ndarray:
        """G(I, S) in price units; I = bid_qty/(bid_qty+ask_qty), S = ask_px − bid_px (price)."""
        i = imbalance_bucket(np.atleast_1d(imbalance), self.imbalance_buckets)
        s = spread_bucket(np.atleast_1d(spread), self.tick_size, self.spread_buckets)
        ok = (i >= 0) & (s >= 0)
        g = self.table[np.where(ok, s, 0), np.where(ok, i, 0)] * self.tick_size
        return np.where(ok, g, np.nan)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict for the artifact's ``microprice`` field."""
        return {
            "kind": self.kind,
            "tick_size": self.tick_size,
            "imbalance_buckets": self.imbalance_buckets,
            "spread_buckets": self.spread_buckets,
            "horizon_s": self.horizon_s,
            "n_obs": self.n_obs,
            "g_ticks": [list(row) for row in self.g_ticks],
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> MicropriceModel:
        """Inverse of :meth:`to_dict`; a missing or malformed field raises ``ValueError``."""
        need = ("kind", "tick_size", "imbalance_buckets", "spread_buckets", "g_ticks")
        missing = [k for k in need if k not in doc]
        if missing:
            raise ValueError(f"microprice dict lacks {missing}")
        try:
            return cls(
                tick_size=float(doc["tick_size"]),
                imbalance_buckets=int(doc["imbalance_buckets"]),
                spread_buckets=int(doc["spread_buckets"]),
                g_ticks=tuple(tuple(float(v) for v in row) for row in doc["g_ticks"]),
                kind=str(doc["kind"]),
                horizon_s=float(doc.get("horizon_s", 0.0)),
                n_obs=int(doc.get("n_obs", 0)),
            )
        except (TypeError, ValueError) as exc:
            raise ValueError(f"malformed microprice dict: {exc}") from exc

    @classmethod
    def fit(  # noqa: PLR0917 (the documented positional API)
        cls,
        ts_ns: np.ndarray,
        bid_px: np.ndarray,
        bid_qty: np.ndarray,
        ask_px: np.ndarray,
        ask_qty: np.ndarray,
        tick_size: float,
        imbalance_buckets: int = 10,
        spread_buckets: int = 2,
        horizon_s: float = 1.0,
        kind: str = "stoikov",
        max_iter: int = 200,
    ) -> MicropriceModel:
        """Estimate G from quotes in arrival order (see the module docstring for the estimators)."""
        if kind not in KINDS:
            raise ValueError(f"microprice kind must be one of {KINDS}, got {kind!r}")
        bp = np.asarray(bid_px, dtype=np.float64)
        ap = np.asarray(ask_px, dtype=np.float64)
        bq = np.asarray(bid_qty, dtype=np.float64)
        aq = np.asarray(ask_qty, dtype=np.float64)
        if bp.size < 2:
            raise ValueError("microprice fit needs at least two quotes")
        with np.errstate(invalid="ignore", divide="ignore"):
            imb = bq / (bq + aq)
        ib = imbalance_bucket(imb, imbalance_buckets)
        sb = spread_bucket(ap - bp, tick_size, spread_buckets)
        mid_ticks = (bp + ap) * 0.5 / tick_size
        n_states = imbalance_buckets * spread_buckets
        state = np.where((ib >= 0) & (sb >= 0), sb * imbalance_buckets + ib, -1)
        mirror = np.where(state >= 0, sb * imbalance_buckets + (imbalance_buckets - 1 - ib), -1)
        if kind == "horizon":
            ts = np.asarray(ts_ns, dtype=np.int64)
            later = np.searchsorted(ts, ts + round(horizon_s * 1e9), side="right") - 1
            d = mid_ticks[later] - mid_ticks
            ok = state >= 0
            sums = np.bincount(state[ok], weights=d[ok], minlength=n_states)
            sums -= np.bincount(mirror[ok], weights=d[ok], minlength=n_states)
            counts = (np.bincount(state[ok], minlength=n_states)
                      + np.bincount(mirror[ok], minlength=n_states)).astype(np.float64)
            g = np.divide(sums, counts, out=np.zeros(n_states), where=counts > 0)
            n_obs = int(ok.sum())
        else:
            g, n_obs = _stoikov(state, mirror, mid_ticks, n_states, max_iter)
        table = g.reshape(spread_buckets, imbalance_buckets)
        return cls(
            tick_size=float(tick_size), imbalance_buckets=int(imbalance_buckets),
            spread_buckets=int(spread_buckets),
            g_ticks=tuple(tuple(float(v) for v in row) for row in table),
            kind=kind, horizon_s=float(horizon_s), n_obs=n_obs,
        )


def _stoikov(state: np.ndarray, mirror: np.ndarray, mid_ticks: np.ndarray, n_states: int,
             max_iter: int) -> tuple[np.ndarray, int]:
    """Iterative G* of Stoikov (2018) on the symmetrised transition sample."""
    x0, x1 = state[:-1], state[1:]
    m0, m1 = mirror[:-1], mirror[1:]
    d = np.diff(mid_ticks)
    ok = (x0 >= 0) & (x1 >= 0) & np.isfinite(d)
    src = np.concatenate([x0[ok], m0[ok]])
    dst = np.concatenate([x1[ok], m1[ok]])
    dm = np.concatenate([d[ok], -d[ok]])
    moved = np.abs(dm) > 1e-9
    counts = np.bincount(src, minlength=n_states).astype(np.float64)
    seen = counts > 0
    denom = np.where(seen, counts, 1.0)
    flat = src * n_states + dst
    q = np.bincount(flat[~moved], minlength=n_states * n_states).reshape(n_states, n_states)
    t = np.bincount(flat[moved], minlength=n_states * n_states).reshape(n_states, n_states)
    q = q / denom[:, None]
    t = t / denom[:, None]
    r = np.bincount(src[moved], weights=dm[moved], minlength=n_states) / denom
    a = np.eye(n_states) - q
    # unobserved states: identity row, zero drift, so G stays 0 there
    g1, *_ = np.linalg.lstsq(a, r, rcond=None)
    b, *_ = np.linalg.lstsq(a, t, rcond=None)
    g = g1.copy()
    for _ in range(max_iter):
        nxt = g1 + b @ g
        if np.max(np.abs(nxt - g)) < 1e-9:
            g = nxt
            break
        g = nxt
    g[~seen] = 0.0
    return g, int(ok.sum())
