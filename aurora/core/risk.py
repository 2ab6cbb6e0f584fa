"""Pre-trade risk gates and post-trade risk-state transitions (pure: no clock, no I/O).

:func:`decide` checks one order request against the limits, the risk state and the current
model, and reports EVERY failing gate as a reason code. :func:`apply_posttrade` and
:func:`roll_day` are the only ways the risk state changes; the API persists what they return.

Units and signs: prices and notionals in quote currency; returns, costs, spreads and
slippage in bps of the entry price (a positive return is a gain); latency in milliseconds;
times in epoch seconds (UTC), supplied by the caller as ``now_s``.

SPRT (Wald's sequential probability ratio test) on closed trades, outcome x = 1 for a win
(``pnl_bps > 0``) else 0. H0: win rate p0 = the break-even p of the barriers and costs (no
edge). H1: win rate p1 = the model's p for that trade (or p0 + ``sprt_default_edge_p`` when
unknown). Each trade adds x·ln(p1/p0) + (1−x)·ln((1−p1)/(1−p0)) to the log-likelihood ratio.
With type I error α (deciding "edge" when there is none) and type II error β, the upper
boundary A = ln((1−β)/α) confirms the edge and the lower boundary B = ln(β/(1−α)) says the
edge is gone: that denies with reason ``SPRT`` and starts a cool-off. After either boundary
the test restarts from 0 (Aurora's own crossing acts through the cool-off it starts). The
runner's own ``sprt_llr`` in the request is held against the same lower boundary: at or below
it the decision denies with ``SPRT`` and starts the SPRT cool-off.

CVaR at tail probability α of the trade-return window is the mean of the worst ⌈α·n⌉
returns (bps, negative = loss); the gate denies when CVaR < −``cvar_limit_bps``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from aurora.core.economics import breakeven_p, capped_kelly, costs_from_settings, e_pi_bps

DAY_S = 86400.0

# Reason codes (contract: DESIGN.md §6).
LATENCY = "LATENCY"
SPREAD = "SPREAD"
SLIPPAGE = "SLIPPAGE"
EPI_BELOW_MIN = "EPI_BELOW_MIN"
EPI_MISMATCH = "EPI_MISMATCH"
DAILY_DD = "DAILY_DD"
CVAR = "CVAR"
SPRT = "SPRT"
COOLOFF = "COOLOFF"
KILL_SWITCH = "KILL_SWITCH"
MODEL_MISSING = "MODEL_MISSING"
MODEL_STALE = "MODEL_STALE"
REGIME = "REGIME"
SIZE_BELOW_MIN = "SIZE_BELOW_MIN"
SYMBOL_UNKNOWN = "SYMBOL_UNKNOWN"  # no exchange filters configured, or the model does not cover it
REASONS = (LATENCY, SPREAD, SLIPPAGE, EPI_BELOW_MIN, EPI_MISMATCH, DAILY_DD, CVAR, SPRT, COOLOFF,
           KILL_SWITCH, MODEL_MISSING, MODEL_STALE, REGIME, SIZE_BELOW_MIN, SYMBOL_UNKNOWN)


@dataclass(frozen=True, slots=True)
class SymbolFilter:
    """Exchange filters: price tick, lot step, minimum quantity and minimum notional (quote)."""

    tick_size: float
    step_size: float
    min_qty: float
    min_notional: float


@dataclass(frozen=True, slots=True)
class RegimeRule:
    allow: bool
    size_mult: float


@dataclass(frozen=True, slots=True)
class Limits:
    """Every risk limit ``decide`` and ``apply_posttrade`` use (built from settings by the edge)."""

    latency_ms_limit: float
    spread_bps_limit: float
    slippage_bps_limit: float
    pi_min_bps: float
    epi_tolerance_bps: float
    costs_bps: float  # round-trip cost used to recompute E[Π] (economics.costs_from_settings)
    daily_dd_limit_pct: float
    cvar_alpha: float
    cvar_limit_bps: float
    cvar_window: int
    cvar_min_trades: int
    sprt_alpha: float
    sprt_beta: float
    sprt_cooloff_s: float
    sprt_default_edge_p: float
    sprt_undecided_size_mult: float
    loss_streak: int
    loss_streak_cooloff_s: float
    dd_breach_cooloff_s: float
    kelly_fraction: float
    kelly_cap: float
    risk_per_trade_pct: float
    max_position_notional: float
    model_max_age_s: float
    day_roll_utc_hour: int
    regimes: Mapping[str, RegimeRule]
    symbols: Mapping[str, SymbolFilter]
    #: B = ln(β/(1−α)) and A = ln((1−β)/α), derived once here rather than on every decision.
    sprt_lower: float = field(init=False)
    sprt_upper: float = field(init=False)

    def __post_init__(self) -> None:
        lower, upper = sprt_bounds(self.sprt_alpha, self.sprt_beta)
        object.__setattr__(self, "sprt_lower", lower)
        object.__setattr__(self, "sprt_upper", upper)


@dataclass(frozen=True, slots=True)
class Model:
    """What the gates need of the current calibration artifact."""

    version: str
    tp_bps: float
    sl_bps: float
    created_at_s: float  # epoch seconds
    symbols: frozenset[str]  # the symbols the artifact was calibrated on


@dataclass(frozen=True, slots=True)
class Request:
    """One pre-trade check (fields as DESIGN.md §6; validated by the edge)."""

    symbol: str
    side: str
    qty: float
    price: float
    latency_ms: float
    slippage_est_bps: float
    spread_bps: float
    p_tp: float
    e_pi_bps: float
    regime: str
    sprt_llr: float


@dataclass(frozen=True, slots=True)
class RiskState:
    """Durable risk state. ``returns_bps`` is the CVaR window, oldest first."""

    day_start_s: float
    equity: float
    day_peak_equity: float
    daily_pnl: float
    dd_breached: bool = False
    returns_bps: tuple[float, ...] = ()
    cvar_bps: float | None = None
    sprt_llr: float = 0.0
    sprt_confirmed: bool = False
    loss_streak: int = 0
    cooloff_until_s: float = 0.0
    cooloff_reason: str = ""
    kill_switch: bool = False
    kill_reason: str = ""
    exposure: Mapping[str, float] = field(default_factory=dict)  # open notional per symbol

    @property
    def drawdown_pct(self) -> float:
        """Drawdown of equity from the day's peak, % of that peak (0 when at the peak)."""
        if self.day_peak_equity <= 0:
            return 100.0
        return max(0.0, (self.day_peak_equity - self.equity) / self.day_peak_equity * 100.0)


@dataclass(frozen=True, slots=True)
class Decision:
    allow: bool
    max_qty: float
    reasons: tuple[str, ...]
    cooloff_s: float  # seconds of cool-off remaining (0 when none)
    epi_bps: float | None  # Aurora's own E[Π] (None without a model)
    start_cooloff_s: float  # > 0: this decision starts a cool-off of this length (reason SPRT)


@dataclass(frozen=True, slots=True)
class PostTrade:
    """One post-trade report (fields as DESIGN.md §6), quote-currency amounts."""

    symbol: str
    side: str
    qty: float
    price: float
    fee: float
    realized_pnl: float
    pnl_bps: float
    status: str  # filled (entry fill) | closed (exit) | canceled | rejected
    p_model: float | None  # the model p of the decision it belongs to, when known


def limits_from_settings(settings: Any) -> Limits:
    """The limits from an :class:`aurora.config.Settings` (read by attribute: core does not import
    config), so that the API and a runner deciding in process use the same limits."""
    r = settings.risk
    return Limits(
        latency_ms_limit=r.latency_ms_limit, spread_bps_limit=r.spread_bps_limit,
        slippage_bps_limit=r.slippage_bps_limit, pi_min_bps=r.pi_min_bps,
        epi_tolerance_bps=r.epi_tolerance_bps,
        costs_bps=costs_from_settings(settings).round_trip_bps(),
        daily_dd_limit_pct=r.daily_dd_limit_pct, cvar_alpha=r.cvar_alpha, cvar_limit_bps=r.cvar_limit_bps,
        cvar_window=r.cvar_window, cvar_min_trades=r.cvar_min_trades, sprt_alpha=r.sprt_alpha,
        sprt_beta=r.sprt_beta, sprt_cooloff_s=r.sprt_cooloff_s, sprt_default_edge_p=r.sprt_default_edge_p,
        sprt_undecided_size_mult=r.sprt_undecided_size_mult, loss_streak=r.loss_streak,
        loss_streak_cooloff_s=r.loss_streak_cooloff_s, dd_breach_cooloff_s=r.dd_breach_cooloff_s,
        kelly_fraction=r.kelly_fraction, kelly_cap=r.kelly_cap, risk_per_trade_pct=r.risk_per_trade_pct,
        max_position_notional=r.max_position_notional, model_max_age_s=r.model_max_age_s,
        day_roll_utc_hour=settings.account.day_roll_utc_hour,
        regimes={k: RegimeRule(v.allow, v.size_mult) for k, v in r.regimes.items()},
        symbols={k: SymbolFilter(v.tick_size, v.step_size, v.min_qty, v.min_notional)
                 for k, v in settings.symbols.items()},
    )


def sprt_bounds(alpha: float, beta: float) -> tuple[float, float]:
    """Wald's boundaries ``(ln(β/(1−α)), ln((1−β)/α))`` for type I error α and type II error β."""
    return math.log(beta / (1.0 - alpha)), math.log((1.0 - beta) / alpha)


def sprt_increment(win: bool, p1: float, p0: float) -> float:
    """Log-likelihood-ratio step of one Bernoulli outcome under H1: p = p1 vs H0: p = p0."""
    return math.log(p1 / p0) if win else math.log((1.0 - p1) / (1.0 - p0))


def cvar_bps(returns_bps: tuple[float, ...] | list[float], alpha: float) -> float:
    """Mean of the worst ⌈α·n⌉ returns (bps; negative is a loss). Needs at least one return."""
    n = len(returns_bps)
    if n == 0:
        raise ValueError("CVaR needs at least one return")
    k = max(1, math.ceil(alpha * n - 1e-12))
    worst = sorted(returns_bps)[:k]
    return sum(worst) / k


def day_start(now_s: float, roll_hour: int) -> float:
    """Epoch seconds of the start of the trading day containing ``now_s`` (day rolls at roll_hour UTC)."""
    shift = roll_hour * 3600.0
    return math.floor((now_s - shift) / DAY_S) * DAY_S + shift


def initial_state(equity: float, now_s: float, roll_hour: int) -> RiskState:
    return RiskState(day_start_s=day_start(now_s, roll_hour), equity=equity, day_peak_equity=equity,
                     daily_pnl=0.0)


def roll_day(state: RiskState, now_s: float, roll_hour: int) -> RiskState:
    """Start a new trading day when ``now_s`` is past the current one: peak = equity, P&L = 0.

    A drawdown breach ends with its day; cool-offs and the kill switch keep their own clocks.
    """
    if now_s < state.day_start_s + DAY_S:
        return state
    return replace(state, day_start_s=day_start(now_s, roll_hour), day_peak_equity=state.equity,
                   daily_pnl=0.0, dd_breached=False)


def round_down(value: float, step: float) -> float:
    """``value`` rounded down to a whole multiple of ``step`` (1e-9 of a step absorbs float noise)."""
    n = math.floor(value / step + 1e-9)
    if n <= 0:
        return 0.0
    decimals = max(0, -math.floor(math.log10(step)) + 1)
    return round(n * step, decimals + 8)


def size(req: Request, state: RiskState, limits: Limits, model: Model, *, filt: SymbolFilter,
         regime_mult: float) -> float:
    """Largest quantity allowed: capped fractional Kelly, per-trade risk and exposure limits,
    regime and SPRT multipliers, the requested qty; rounded down to the lot step (0 below the
    symbol's minimum quantity or notional)."""
    costs = limits.costs_bps
    f = capped_kelly(req.p_tp, model.tp_bps, model.sl_bps, costs,
                     fraction=limits.kelly_fraction, cap=limits.kelly_cap)
    at_risk = max(0.0, state.equity) * min(f, limits.risk_per_trade_pct / 100.0)
    loss_per_unit = req.price * (model.sl_bps + costs) / 1e4
    if not loss_per_unit > 0.0:  # a price so small that the product underflows: nothing to size
        return 0.0
    qty = at_risk / loss_per_unit
    room = limits.max_position_notional - state.exposure.get(req.symbol, 0.0)
    qty = min(qty, max(0.0, room) / req.price, req.qty)
    sprt_mult = 1.0 if state.sprt_confirmed else limits.sprt_undecided_size_mult
    qty = round_down(qty * regime_mult * sprt_mult, filt.step_size)
    px = round_down(req.price, filt.tick_size)
    if qty < filt.min_qty or qty * px < filt.min_notional:
        return 0.0
    return qty


def decide(req: Request, state: RiskState, limits: Limits, model: Model | None, now_s: float) -> Decision:
    """Run every gate; a deny names all failing gates and gives ``max_qty`` 0.

    A symbol without exchange filters in ``limits`` or outside the model's symbols is denied
    with ``SYMBOL_UNKNOWN``, a regime without a rule with ``REGIME`` (the API already refuses
    unconfigured symbols and regimes as bad input; a runner deciding in process may not).
    ``state`` should already be rolled to ``now_s`` with :func:`roll_day`.
    """
    reasons: list[str] = []
    if state.kill_switch:
        reasons.append(KILL_SWITCH)
    cooloff = state.cooloff_until_s - now_s
    if cooloff > 0:
        reasons.append(COOLOFF)
    else:
        cooloff = 0.0
    if req.latency_ms > limits.latency_ms_limit:
        reasons.append(LATENCY)
    if req.spread_bps > limits.spread_bps_limit:
        reasons.append(SPREAD)
    if req.slippage_est_bps > limits.slippage_bps_limit:
        reasons.append(SLIPPAGE)
    epi: float | None = None
    if model is None:
        reasons.append(MODEL_MISSING)
    else:
        if now_s - model.created_at_s > limits.model_max_age_s:
            reasons.append(MODEL_STALE)
        epi = e_pi_bps(req.p_tp, model.tp_bps, model.sl_bps, limits.costs_bps)
    if req.symbol not in limits.symbols or (model is not None and req.symbol not in model.symbols):
        reasons.append(SYMBOL_UNKNOWN)
    if req.e_pi_bps <= limits.pi_min_bps or (epi is not None and epi <= limits.pi_min_bps):
        reasons.append(EPI_BELOW_MIN)
    if epi is not None and abs(req.e_pi_bps - epi) > limits.epi_tolerance_bps:
        reasons.append(EPI_MISMATCH)
    if state.dd_breached or state.drawdown_pct >= limits.daily_dd_limit_pct:
        reasons.append(DAILY_DD)
    if state.cvar_bps is not None and state.cvar_bps < -limits.cvar_limit_bps:
        reasons.append(CVAR)
    start_cooloff = 0.0
    if req.sprt_llr <= limits.sprt_lower:
        reasons.append(SPRT)
        if limits.sprt_cooloff_s > cooloff:
            start_cooloff = cooloff = limits.sprt_cooloff_s
    rule = limits.regimes.get(req.regime)
    if rule is None or not rule.allow:
        reasons.append(REGIME)
    if reasons or model is None or rule is None:
        return Decision(False, 0.0, tuple(reasons), cooloff, epi, start_cooloff)
    qty = size(req, state, limits, model, filt=limits.symbols[req.symbol], regime_mult=rule.size_mult)
    if qty <= 0.0:
        return Decision(False, 0.0, (SIZE_BELOW_MIN,), cooloff, epi, 0.0)
    return Decision(True, qty, (), 0.0, epi, 0.0)


def start_cooloff(state: RiskState, now_s: float, seconds: float, reason: str) -> RiskState:
    """Extend the cool-off to ``now_s + seconds`` (never shortens one already running)."""
    until = now_s + seconds
    if until <= state.cooloff_until_s:
        return state
    return replace(state, cooloff_until_s=until, cooloff_reason=reason)


def set_kill_switch(state: RiskState, engaged: bool, reason: str) -> RiskState:
    return replace(state, kill_switch=engaged, kill_reason=reason if engaged else "")


def correct_equity(state: RiskState, equity: float, limits: Limits) -> RiskState:
    """An operator's correction: equity becomes ``equity`` and today's P&L moves by the same amount.

    The day's peak is kept (raised if the corrected equity is above it), and a drawdown breach or
    its ``DAILY_DD`` cool-off is lifted when the corrected drawdown is back under the limit (a
    breach caused by the bad report being corrected); any other cool-off stays.
    """
    delta = equity - state.equity
    s = replace(state, equity=equity, daily_pnl=state.daily_pnl + delta,
                day_peak_equity=max(state.day_peak_equity, equity))
    if s.dd_breached and s.drawdown_pct < limits.daily_dd_limit_pct:
        s = replace(s, dd_breached=False)
        if s.cooloff_reason == DAILY_DD:
            s = replace(s, cooloff_until_s=0.0, cooloff_reason="")
    return s


def apply_posttrade(state: RiskState, report: PostTrade, limits: Limits, model: Model | None,
                    now_s: float) -> RiskState:
    """Fold one post-trade report into the state (``state`` rolled to ``now_s`` first).

    Equity changes by ``realized_pnl − fee``; the day's peak follows equity up. An entry fill
    (``filled``) adds ``qty·price`` to the symbol's open notional and a ``closed`` report takes
    it off; a closed trade's ``pnl_bps`` enters the CVaR window, the loss streak and the SPRT.
    Drawdown reaching the limit marks the day breached and starts the breach cool-off; a loss
    streak of ``loss_streak`` trades and an SPRT lower crossing start their cool-offs.
    """
    s = state
    if report.status in ("canceled", "rejected"):
        return s
    equity = s.equity + report.realized_pnl - report.fee
    exposure = dict(s.exposure)
    notional = report.qty * report.price
    if report.status == "filled":
        exposure[report.symbol] = exposure.get(report.symbol, 0.0) + notional
    else:
        exposure[report.symbol] = max(0.0, exposure.get(report.symbol, 0.0) - notional)
    s = replace(s, equity=equity, day_peak_equity=max(s.day_peak_equity, equity),
                daily_pnl=s.daily_pnl + report.realized_pnl - report.fee, exposure=exposure)
    if report.status == "closed":
        s = _close_trade(s, report, limits, model, now_s)
    if not s.dd_breached and s.drawdown_pct >= limits.daily_dd_limit_pct:
        s = start_cooloff(replace(s, dd_breached=True), now_s, limits.dd_breach_cooloff_s, DAILY_DD)
    return s


def _close_trade(s: RiskState, report: PostTrade, limits: Limits, model: Model | None,
                 now_s: float) -> RiskState:
    window = (*s.returns_bps, report.pnl_bps)[-limits.cvar_window:]
    cvar = cvar_bps(window, limits.cvar_alpha) if len(window) >= limits.cvar_min_trades else None
    win = report.pnl_bps > 0
    streak = 0 if win else s.loss_streak + 1
    s = replace(s, returns_bps=window, cvar_bps=cvar, loss_streak=streak)
    if streak >= limits.loss_streak:
        s = replace(start_cooloff(s, now_s, limits.loss_streak_cooloff_s, "LOSS_STREAK"), loss_streak=0)
    if model is None:
        return s
    p0 = breakeven_p(model.tp_bps, model.sl_bps, limits.costs_bps)
    p1 = report.p_model if report.p_model is not None else p0 + limits.sprt_default_edge_p
    if not 0.0 < p0 < p1 < 1.0:
        return s
    llr = s.sprt_llr + sprt_increment(win, p1, p0)
    if llr <= limits.sprt_lower:
        return replace(start_cooloff(s, now_s, limits.sprt_cooloff_s, SPRT), sprt_llr=0.0,
                       sprt_confirmed=False)
    if llr >= limits.sprt_upper:
        return replace(s, sprt_llr=0.0, sprt_confirmed=True)
    return replace(s, sprt_llr=llr)
