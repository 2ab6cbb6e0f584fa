"""The decision step, pure: a feature row → score → p → E[Π] (with the book's slippage) → regime.

Everything a decision needs from config and the artifact is gathered once in :class:`Strategy`
(:meth:`Strategy.build`), so :meth:`Strategy.evaluate` is arithmetic on one feature row.
Units: returns, costs, spreads, slippage and volatility in bps; prices in quote per base.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from aurora.artifact import ArtifactError, Calibration
from aurora.config import Settings
from aurora.core import regime
from aurora.core.economics import Costs, breakeven_p, costs_from_settings, e_pi_bps
from aurora.core.exits import ExitParams
from aurora.core.features import FeatureParams
from aurora.core.risk import SymbolFilter, limits_from_settings
from aurora.core.slippage import estimate_bps


@dataclass(frozen=True, slots=True)
class Evaluation:
    """One decision's inputs and outputs (``features`` by name, as computed by the stream)."""

    ts_ns: int
    update_id: int  # of the quote decided on
    features: dict[str, float]
    score: float
    p: float
    e_pi_bps: float
    slippage_est_bps: float
    spread_bps: float
    vol_bps: float
    regime: str


@dataclass(frozen=True)
class Strategy:
    """``side`` is the entry side the artifact's p describes (+1 long, −1 short); ``costs`` what
    E[Π] is charged: the fee of the leg each configured order type uses, slippage on taker legs
    (the gate's definition, so Aurora's recomputation agrees)."""

    symbol: str
    filt: SymbolFilter
    names: tuple[str, ...]
    spread_i: int  # index of spread_bps in names
    weights: tuple[tuple[int, float], ...]  # (index into names, weight), the score model's order
    intercept: float
    cal: Calibration
    side: int
    tp_bps: float
    sl_bps: float
    costs: Costs
    pi_min_bps: float
    order_qty: float
    wide_spread_bps: float
    high_vol_bps: float
    exits: ExitParams
    sprt_p0: float
    sprt_lower: float
    sprt_upper: float
    entry_order: str  # runner.entry_order: market | post_only
    entry_timeout_s: float
    exit_order: str  # runner.exit_order: market | limit
    exit_timeout_s: float

    @classmethod
    def build(cls, settings: Settings, cal: Calibration, symbol: str, params: FeatureParams) -> Strategy:
        filt = settings.symbols.get(symbol)
        if filt is None:
            raise ArtifactError(f"symbol {symbol} has no exchange filters under symbols: in the config "
                                f"(configured: {', '.join(settings.symbols)})")
        if symbol not in cal.body.symbols:
            raise ArtifactError(f"the artifact {cal.model_version} was calibrated on {cal.body.symbols}, "
                                f"not {symbol}")
        names = params.names
        idx = {n: i for i, n in enumerate(names)}
        sm = cal.score_fn
        b = cal.body.barriers
        side_name = cal.body.params.get("side", "long")
        limits = limits_from_settings(settings)
        r = settings.runner
        return cls(
            symbol=symbol,
            filt=SymbolFilter(filt.tick_size, filt.step_size, filt.min_qty, filt.min_notional),
            names=names, spread_i=idx["spread_bps"],
            weights=tuple((idx[n], float(w)) for n, w in sm.weights.items()),
            intercept=float(sm.intercept), cal=cal, side=1 if side_name == "long" else -1,
            tp_bps=b.tp_bps, sl_bps=b.sl_bps, costs=costs_from_settings(settings),
            pi_min_bps=settings.risk.pi_min_bps, order_qty=r.order_qty,
            wide_spread_bps=r.regime_wide_spread_bps, high_vol_bps=r.regime_high_vol_bps,
            exits=ExitParams(settings.reward.tp_pct, settings.reward.trail_bps,
                             settings.reward.breakeven_after_R, settings.reward.max_R, b.horizon_s),
            sprt_p0=breakeven_p(b.tp_bps, b.sl_bps, limits.costs_bps),
            sprt_lower=limits.sprt_lower, sprt_upper=limits.sprt_upper,
            entry_order=r.entry_order, entry_timeout_s=r.entry_timeout_s, exit_order=r.exit_order,
            exit_timeout_s=r.exit_timeout_s,
        )

    def score(self, row: np.ndarray) -> float:
        """The linear score, summed in the model's weight order (as ``LinearScore.predict``)."""
        s = self.intercept
        for i, w in self.weights:
            s += w * float(row[i])
        return s

    def evaluate(self, ts_ns: int, update_id: int, row: np.ndarray, vol_bps: float, *,
                 levels: tuple[np.ndarray, np.ndarray], touch_px: float) -> Evaluation | None:
        """Decide on one feature row; None when a feature the model uses is not finite.

        ``levels`` are the book levels an entry would take (asks for a long), ``touch_px`` the
        best price on that side; slippage is estimated for ``order_qty`` over them and charged on
        each taker leg."""
        s = self.score(row)
        if not math.isfinite(s):
            return None
        p = self.cal.predict_p(s)
        slip = estimate_bps(self.side, self.order_qty, levels[0], levels[1], touch_px)
        epi = e_pi_bps(p, self.tp_bps, self.sl_bps, self.costs.round_trip_bps(slip))
        spread = float(row[self.spread_i])
        reg = regime.classify(spread, vol_bps, wide_spread_bps=self.wide_spread_bps,
                              high_vol_bps=self.high_vol_bps)
        feats: dict[str, Any] = dict(zip(self.names, row.tolist(), strict=True))
        return Evaluation(ts_ns, update_id, feats, s, p, epi, slip, spread, vol_bps, reg)
