"""Pure risk gates: hand-worked numbers per gate, state transitions, and property tests."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aurora.core import risk
from aurora.core.risk import (
    COOLOFF,
    CVAR,
    DAILY_DD,
    EPI_BELOW_MIN,
    EPI_MISMATCH,
    KILL_SWITCH,
    LATENCY,
    MODEL_MISSING,
    MODEL_STALE,
    REGIME,
    SIZE_BELOW_MIN,
    SLIPPAGE,
    SPREAD,
    SPRT,
    SYMBOL_UNKNOWN,
)

NOW = datetime(2026, 1, 2, 3, 0, tzinfo=UTC).timestamp()
BTC = risk.SymbolFilter(tick_size=0.01, step_size=0.00001, min_qty=0.00001, min_notional=5.0)


def make_limits(**kw: object) -> risk.Limits:
    base = risk.Limits(
        latency_ms_limit=500.0, spread_bps_limit=80.0, slippage_bps_limit=20.0, pi_min_bps=0.5,
        epi_tolerance_bps=1.0, costs_bps=3.0, daily_dd_limit_pct=10.0, cvar_alpha=0.1, cvar_limit_bps=50.0,
        cvar_window=200, cvar_min_trades=20, sprt_alpha=0.05, sprt_beta=0.2, sprt_cooloff_s=900.0,
        sprt_default_edge_p=0.02, sprt_undecided_size_mult=0.5, loss_streak=4, loss_streak_cooloff_s=300.0,
        dd_breach_cooloff_s=3600.0, kelly_fraction=0.25, kelly_cap=0.05, risk_per_trade_pct=5.0,
        max_position_notional=1e6, model_max_age_s=86400.0, day_roll_utc_hour=0,
        regimes={"normal": risk.RegimeRule(True, 1.0), "high_vol": risk.RegimeRule(True, 0.5),
                 "wide_spread": risk.RegimeRule(False, 0.0)},
        symbols={"BTCUSDT": BTC},
    )
    return replace(base, **kw)


MODEL = risk.Model(version="m1", tp_bps=10.0, sl_bps=10.0, created_at_s=NOW - 3600,
                   symbols=frozenset({"BTCUSDT"}))


def make_request(**kw: object) -> risk.Request:
    # p = 0.7, TP = SL = 10, costs 3: E[Π] = 7 − 3 − 3 = 1.0 bps
    base = risk.Request(symbol="BTCUSDT", side="buy", qty=10.0, price=50000.0, latency_ms=10.0,
                        slippage_est_bps=0.5, spread_bps=1.0, p_tp=0.7, e_pi_bps=1.0, regime="normal",
                        sprt_llr=0.0)
    return replace(base, **kw)


def make_state(**kw: object) -> risk.RiskState:
    return replace(risk.initial_state(10000.0, NOW, 0), **{"sprt_confirmed": True, **kw})


def test_allow_sizes_with_capped_fractional_kelly_by_hand() -> None:
    # win W = 10 − 3 = 7, loss L = 10 + 3 = 13, b = 7/13; f* = 0.7 − 0.3·13/7 = 0.142857…
    # quarter Kelly 0.0357143 < cap 0.05 and < 5 % per-trade risk: at risk 357.143 USDT;
    # a stop loses 50000·13/1e4 = 65 USDT per BTC ⇒ 5.494505 BTC, rounded down to 5.49450.
    d = risk.decide(make_request(), make_state(), make_limits(), MODEL, NOW)
    assert d.allow and d.reasons == ()
    assert d.max_qty == pytest.approx(5.4945, abs=1e-12)
    assert d.epi_bps == pytest.approx(1.0)


def test_per_trade_risk_exposure_regime_and_sprt_limit_the_size() -> None:
    # 1 % per trade: 100 USDT at risk / 65 = 1.538461… ⇒ 1.53846
    d = risk.decide(make_request(), make_state(), make_limits(risk_per_trade_pct=1.0), MODEL, NOW)
    assert d.max_qty == pytest.approx(1.53846, abs=1e-12)
    # exposure: 20000 room of 25000 with 5000 already open ⇒ 0.4 BTC
    d = risk.decide(make_request(), make_state(exposure={"BTCUSDT": 5000.0}),
                    make_limits(max_position_notional=25000.0), MODEL, NOW)
    assert d.max_qty == pytest.approx(0.4, abs=1e-12)
    # high_vol halves, an undecided SPRT halves again: 5.494505 · 0.25 = 1.373626 ⇒ 1.37362
    d = risk.decide(make_request(regime="high_vol"), make_state(sprt_confirmed=False), make_limits(), MODEL,
                    NOW)
    assert d.max_qty == pytest.approx(1.37362, abs=1e-12)
    # the requested quantity is a cap too
    d = risk.decide(make_request(qty=0.123456789), make_state(), make_limits(), MODEL, NOW)
    assert d.max_qty == pytest.approx(0.12345, abs=1e-12)


def test_underflowing_price_sizes_to_zero_instead_of_failing() -> None:
    d = risk.decide(make_request(price=5e-324), make_state(), make_limits(), MODEL, NOW)
    assert d.reasons == (SIZE_BELOW_MIN,) and d.max_qty == 0.0


def test_size_below_min_notional_is_refused() -> None:
    # 0.00009 BTC · 50000 = 4.5 USDT < 5 USDT min notional
    d = risk.decide(make_request(qty=0.00009), make_state(), make_limits(), MODEL, NOW)
    assert not d.allow and d.reasons == (SIZE_BELOW_MIN,) and d.max_qty == 0.0
    d = risk.decide(make_request(qty=0.0001), make_state(), make_limits(), MODEL, NOW)
    assert d.allow and d.max_qty == pytest.approx(0.0001)


@pytest.mark.parametrize(("change", "reason"), [
    ({"latency_ms": 500.01}, LATENCY),
    ({"spread_bps": 80.5}, SPREAD),
    ({"slippage_est_bps": 21.0}, SLIPPAGE),
    ({"regime": "wide_spread"}, REGIME),
    ({"sprt_llr": math.log(0.2 / 0.95)}, SPRT),
])
def test_request_gates(change: dict, reason: str) -> None:
    d = risk.decide(make_request(**change), make_state(), make_limits(), MODEL, NOW)
    assert not d.allow and d.reasons == (reason,) and d.max_qty == 0.0


def test_limits_are_inclusive_where_the_contract_says_so() -> None:
    d = risk.decide(make_request(latency_ms=500.0, spread_bps=80.0, slippage_est_bps=20.0), make_state(),
                    make_limits(), MODEL, NOW)
    assert d.allow


def test_epi_gates_recompute_from_p_and_the_model() -> None:
    # p = 0.66: 6.6 − 3.4 − 3 = 0.2 bps ≤ 0.5 ⇒ below min even though the runner claims 0.7
    d = risk.decide(make_request(p_tp=0.66, e_pi_bps=0.7), make_state(), make_limits(), MODEL, NOW)
    assert d.reasons == (EPI_BELOW_MIN,) and d.epi_bps == pytest.approx(0.2)
    # the runner claims 2.5 bps where Aurora computes 1.0: off by 1.5 > tolerance 1
    d = risk.decide(make_request(e_pi_bps=2.5), make_state(), make_limits(), MODEL, NOW)
    assert d.reasons == (EPI_MISMATCH,)
    d = risk.decide(make_request(e_pi_bps=1.9), make_state(), make_limits(), MODEL, NOW)
    assert d.allow
    d = risk.decide(make_request(e_pi_bps=0.4, p_tp=0.6), make_state(), make_limits(), MODEL, NOW)
    assert set(d.reasons) == {EPI_BELOW_MIN, EPI_MISMATCH}  # Aurora: 6 − 4 − 3 = −1.0


def test_model_missing_and_stale() -> None:
    d = risk.decide(make_request(), make_state(), make_limits(), None, NOW)
    assert d.reasons == (MODEL_MISSING,) and d.epi_bps is None
    old = replace(MODEL, created_at_s=NOW - 86400.5)
    assert risk.decide(make_request(), make_state(), make_limits(), old, NOW).reasons == (MODEL_STALE,)


def test_symbol_without_filters_or_outside_the_model_is_denied_with_symbol_unknown() -> None:
    eth = make_request(symbol="ETHUSDT", price=3000.0)
    # no exchange filters for ETHUSDT (the model covers it): no size can be rounded, so deny
    both = replace(MODEL, symbols=frozenset({"BTCUSDT", "ETHUSDT"}))
    d = risk.decide(eth, make_state(), make_limits(), both, NOW)
    assert not d.allow and d.reasons == (SYMBOL_UNKNOWN,) and d.max_qty == 0.0
    # filters configured but the model was not calibrated on ETHUSDT
    limits = make_limits(symbols={"BTCUSDT": BTC, "ETHUSDT": BTC})
    d = risk.decide(eth, make_state(), limits, MODEL, NOW)
    assert not d.allow and d.reasons == (SYMBOL_UNKNOWN,)
    assert risk.decide(eth, make_state(), limits, both, NOW).allow
    # reported together with every other failing gate; without a model only filters count
    d = risk.decide(replace(eth, latency_ms=900.0), make_state(), make_limits(), None, NOW)
    assert set(d.reasons) == {LATENCY, MODEL_MISSING, SYMBOL_UNKNOWN}
    assert risk.decide(eth, make_state(), limits, None, NOW).reasons == (MODEL_MISSING,)


def test_regime_without_a_rule_is_denied_not_an_error() -> None:
    d = risk.decide(make_request(regime="moon"), make_state(), make_limits(), MODEL, NOW)
    assert not d.allow and d.reasons == (REGIME,) and d.max_qty == 0.0


def test_state_gates_and_every_failing_gate_is_reported() -> None:
    state = make_state(kill_switch=True, cooloff_until_s=NOW + 120.0, equity=8900.0, cvar_bps=-60.0)
    req = make_request(latency_ms=900.0, spread_bps=90.0, slippage_est_bps=30.0, e_pi_bps=5.0,
                       regime="wide_spread", sprt_llr=-2.0)
    d = risk.decide(req, state, make_limits(), replace(MODEL, created_at_s=0.0), NOW)
    assert set(d.reasons) == {KILL_SWITCH, COOLOFF, LATENCY, SPREAD, SLIPPAGE, MODEL_STALE, EPI_MISMATCH,
                              DAILY_DD, CVAR, SPRT, REGIME}
    assert not d.allow and d.max_qty == 0.0
    # SPRT starts a 900 s cool-off, longer than the 120 s remaining
    assert d.start_cooloff_s == 900.0 and d.cooloff_s == 900.0


def test_cooloff_reports_remaining_seconds() -> None:
    d = risk.decide(make_request(), make_state(cooloff_until_s=NOW + 42.5), make_limits(), MODEL, NOW)
    assert d.reasons == (COOLOFF,) and d.cooloff_s == 42.5 and d.start_cooloff_s == 0.0


def test_sprt_boundaries_by_hand() -> None:
    lower, upper = risk.sprt_bounds(0.05, 0.2)
    assert lower == pytest.approx(math.log(0.2 / 0.95)) == pytest.approx(-1.5581446)
    assert upper == pytest.approx(math.log(16.0)) == pytest.approx(2.7725887)
    lim = make_limits()
    assert (lim.sprt_lower, lim.sprt_upper) == (lower, upper)
    # exactly at the lower boundary denies; a hair above does not
    assert SPRT in risk.decide(make_request(sprt_llr=lower), make_state(), lim, MODEL, NOW).reasons
    assert risk.decide(make_request(sprt_llr=lower + 1e-9), make_state(), lim, MODEL, NOW).allow


def test_cvar_by_hand() -> None:
    returns = [-40.0, -20.0] + [10.0] * 18
    assert risk.cvar_bps(returns, 0.1) == -30.0  # worst ⌈0.1·20⌉ = 2
    ten = [-5.0, 1.0, 2.0, 3.0, -7.0, 4.0, 5.0, 6.0, 7.0, 8.0]
    assert risk.cvar_bps(ten, 0.25) == pytest.approx(-11 / 3)  # worst ⌈2.5⌉ = 3: −7, −5, 1
    assert risk.cvar_bps([3.0], 0.05) == 3.0
    with pytest.raises(ValueError, match="at least one"):
        risk.cvar_bps([], 0.1)


def closed(pnl_bps: float, realized: float = 0.0, p: float | None = None) -> risk.PostTrade:
    return risk.PostTrade("BTCUSDT", "sell", 0.01, 50000.0, 0.0, realized, pnl_bps, "closed", p)


def test_cvar_window_fills_then_gates() -> None:
    lim = make_limits(loss_streak=100)
    s = make_state()
    for r in [10.0] * 18 + [-40.0]:
        s = risk.apply_posttrade(s, closed(r), lim, None, NOW)
    assert s.cvar_bps is None  # 19 < cvar_min_trades
    s = risk.apply_posttrade(s, closed(-80.0), lim, None, NOW)
    assert s.cvar_bps == -60.0  # mean of −80 and −40
    assert CVAR in risk.decide(make_request(), s, lim, MODEL, NOW).reasons
    s2 = risk.apply_posttrade(s, closed(10.0), replace(lim, cvar_window=20), None, NOW)
    assert len(s2.returns_bps) == 20 and s2.returns_bps[0] == 10.0


def test_sprt_on_closed_trades_by_hand() -> None:
    # p0 = break-even = (10 + 3)/20 = 0.65; p1 = model p 0.75.
    # a loss adds ln(0.25/0.35) = −0.336472; five losses reach −1.68236 ≤ −1.558145.
    lim = make_limits(loss_streak=100)
    s = make_state(sprt_confirmed=True)
    for _ in range(4):
        s = risk.apply_posttrade(s, closed(-10.0, p=0.75), lim, MODEL, NOW)
    assert s.sprt_llr == pytest.approx(4 * math.log(0.25 / 0.35))
    assert s.cooloff_until_s == 0.0
    s = risk.apply_posttrade(s, closed(-10.0, p=0.75), lim, MODEL, NOW)
    assert s.sprt_llr == 0.0 and not s.sprt_confirmed
    assert s.cooloff_until_s == NOW + 900.0 and s.cooloff_reason == SPRT
    # a win adds ln(0.75/0.65) = 0.143101; 20 wins reach 2.862 ≥ ln 16 = 2.7726 (19 give 2.719)
    s = make_state(sprt_confirmed=False)
    for _ in range(19):
        s = risk.apply_posttrade(s, closed(10.0, p=0.75), lim, MODEL, NOW)
    assert s.sprt_llr == pytest.approx(19 * math.log(0.75 / 0.65)) and not s.sprt_confirmed
    s = risk.apply_posttrade(s, closed(10.0, p=0.75), lim, MODEL, NOW)
    assert s.sprt_confirmed and s.sprt_llr == 0.0
    # unknown p: p1 = p0 + 0.02 = 0.67
    s = risk.apply_posttrade(make_state(), closed(10.0), lim, MODEL, NOW)
    assert s.sprt_llr == pytest.approx(math.log(0.67 / 0.65))


def test_loss_streak_starts_a_cooloff() -> None:
    lim = make_limits()
    s = make_state()
    for _ in range(3):
        s = risk.apply_posttrade(s, closed(-1.0), lim, None, NOW)
    assert s.loss_streak == 3 and s.cooloff_until_s == 0.0
    s = risk.apply_posttrade(s, closed(-1.0), lim, None, NOW + 5)
    assert s.cooloff_until_s == NOW + 305.0 and s.cooloff_reason == "LOSS_STREAK" and s.loss_streak == 0
    s = risk.apply_posttrade(s, closed(2.0), lim, None, NOW + 6)
    assert s.loss_streak == 0


def test_drawdown_from_the_days_peak_breaches_and_persists_for_the_day() -> None:
    lim = make_limits()
    s = make_state()
    s = risk.apply_posttrade(s, closed(20.0, realized=500.0), lim, None, NOW)  # peak 10500
    assert s.day_peak_equity == 10500.0 and s.daily_pnl == 500.0
    s = risk.apply_posttrade(s, closed(-20.0, realized=-1000.0), lim, None, NOW)  # 9500: 9.52 %
    assert s.drawdown_pct == pytest.approx(1000 / 10500 * 100) and not s.dd_breached
    s = risk.apply_posttrade(s, closed(-1.0, realized=-50.0), lim, None, NOW + 1)  # 9450: 10 %
    assert s.drawdown_pct == pytest.approx(10.0) and s.dd_breached
    assert s.cooloff_until_s == NOW + 1 + 3600.0 and s.cooloff_reason == DAILY_DD
    s = risk.apply_posttrade(s, closed(5.0, realized=200.0), lim, None, NOW + 2)  # back to 9650
    assert s.dd_breached
    assert DAILY_DD in risk.decide(make_request(), s, lim, MODEL, NOW + 4000).reasons
    tomorrow = risk.roll_day(s, NOW + 86400.0, 0)
    assert not tomorrow.dd_breached and tomorrow.day_peak_equity == 9650.0 and tomorrow.daily_pnl == 0.0
    assert risk.decide(make_request(), tomorrow, lim, replace(MODEL, created_at_s=NOW), NOW + 86400.0).allow


def test_fees_exposure_and_ignored_statuses() -> None:
    lim = make_limits()
    s = make_state()
    fill = risk.PostTrade("BTCUSDT", "buy", 0.1, 50000.0, 2.5, 0.0, 0.0, "filled", None)
    s = risk.apply_posttrade(s, fill, lim, None, NOW)
    assert s.equity == 9997.5 and s.exposure["BTCUSDT"] == 5000.0 and s.returns_bps == ()
    for status in ("canceled", "rejected"):
        assert risk.apply_posttrade(s, replace(fill, status=status), lim, None, NOW) is s
    s = risk.apply_posttrade(s, replace(fill, status="closed", fee=2.5, realized_pnl=10.0, pnl_bps=2.0),
                             lim, None, NOW)
    assert s.exposure["BTCUSDT"] == 0.0 and s.equity == pytest.approx(10005.0)


def test_day_start_and_roll() -> None:
    now = datetime(2026, 1, 2, 3, 0, tzinfo=UTC).timestamp()
    assert risk.day_start(now, 0) == datetime(2026, 1, 2, tzinfo=UTC).timestamp()
    assert risk.day_start(now, 5) == datetime(2026, 1, 1, 5, tzinfo=UTC).timestamp()
    s = risk.initial_state(1000.0, now, 5)
    assert risk.roll_day(s, now + 3600 * 1.99, 5) is s  # 04:59 is still the same day
    rolled = risk.roll_day(s, now + 3600 * 2, 5)
    assert rolled.day_start_s == datetime(2026, 1, 2, 5, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(("value", "step", "expected"), [
    (0.123456789, 0.00001, 0.12345), (0.3, 0.1, 0.3), (0.29999999, 0.1, 0.2), (1e-6, 1e-5, 0.0),
    (5.0, 0.5, 5.0), (123.4567, 1.0, 123.0),
])
def test_round_down(value: float, step: float, expected: float) -> None:
    assert risk.round_down(value, step) == pytest.approx(expected, abs=1e-15)


def test_kill_switch_and_cooloff_helpers() -> None:
    s = risk.set_kill_switch(make_state(), True, "ops")
    assert KILL_SWITCH in risk.decide(make_request(), s, make_limits(), MODEL, NOW).reasons
    assert risk.set_kill_switch(s, False, "ignored").kill_reason == ""
    s = risk.start_cooloff(make_state(), NOW, 100.0, "X")
    assert risk.start_cooloff(s, NOW, 50.0, "Y") is s  # never shortened


# ---------------------------------------------------------------------------------- properties

steps = st.sampled_from([1e-5, 1e-4, 1e-3, 0.01, 0.1, 1.0, 0.5, 0.25])
filters = st.builds(risk.SymbolFilter, tick_size=st.sampled_from([0.01, 0.1, 1e-4, 0.5]), step_size=steps,
                    min_qty=st.floats(1e-5, 1.0), min_notional=st.floats(0.0, 100.0))
requests = st.builds(
    risk.Request, symbol=st.just("BTCUSDT"), side=st.sampled_from(["buy", "sell"]),
    qty=st.floats(1e-6, 1e4), price=st.floats(0.01, 1e5), latency_ms=st.floats(0, 1000),
    slippage_est_bps=st.floats(0, 40), spread_bps=st.floats(0, 160), p_tp=st.floats(0, 1),
    e_pi_bps=st.floats(-20, 20), regime=st.sampled_from(["normal", "high_vol", "wide_spread"]),
    sprt_llr=st.floats(-3, 3))
states = st.builds(
    lambda eq, peak_extra, cvar, cool, kill, conf, expo: replace(
        risk.initial_state(eq + peak_extra, NOW, 0), equity=eq, cvar_bps=cvar, cooloff_until_s=NOW + cool,
        kill_switch=kill, sprt_confirmed=conf, exposure={"BTCUSDT": expo}),
    st.floats(1.0, 1e6), st.floats(0.0, 1e5), st.none() | st.floats(-200, 50), st.floats(-100, 100),
    st.booleans(), st.booleans(), st.floats(0, 2e4))


@settings(max_examples=400, deadline=None)
@given(req=requests, state=states, filt=filters)
def test_max_qty_always_respects_the_filters(req, state, filt) -> None:
    lim = make_limits(symbols={"BTCUSDT": filt}, max_position_notional=1e7)
    d = risk.decide(req, state, lim, MODEL, NOW)
    if d.max_qty == 0.0:
        return
    assert d.allow
    n = d.max_qty / filt.step_size
    assert abs(n - round(n)) < 1e-6, "max_qty is not a whole number of lot steps"
    assert d.max_qty >= filt.min_qty
    assert d.max_qty * risk.round_down(req.price, filt.tick_size) >= filt.min_notional
    assert d.max_qty <= req.qty * (1 + 1e-9)
    assert d.max_qty * req.price <= lim.max_position_notional - state.exposure["BTCUSDT"] + 1e-6


THRESHOLDS = [  # (field, tighter, looser): looser never denies where tighter allows
    ("latency_ms_limit", 100.0, 600.0), ("spread_bps_limit", 20.0, 120.0), ("slippage_bps_limit", 5.0, 30.0),
    ("pi_min_bps", 2.0, -1.0), ("epi_tolerance_bps", 0.5, 5.0), ("daily_dd_limit_pct", 2.0, 20.0),
    ("cvar_limit_bps", 10.0, 100.0), ("model_max_age_s", 10.0, 1e6), ("kelly_cap", 0.001, 0.2),
    ("kelly_fraction", 0.05, 1.0), ("risk_per_trade_pct", 0.05, 10.0), ("max_position_notional", 100.0, 1e6),
    ("sprt_alpha", 0.2, 0.01),
]


@settings(max_examples=300, deadline=None)
@given(req=requests, state=states, which=st.sampled_from(THRESHOLDS), age=st.floats(0, 1e5))
def test_deny_is_monotone_in_each_limit(req, state, which, age) -> None:
    name, tight, loose = which
    model = replace(MODEL, created_at_s=NOW - age)
    dt = risk.decide(req, state, make_limits(**{name: tight}), model, NOW)
    dl = risk.decide(req, state, make_limits(**{name: loose}), model, NOW)
    assert set(dl.reasons) - {SIZE_BELOW_MIN} <= set(dt.reasons)
    if dt.allow:
        assert dl.allow and dl.max_qty >= dt.max_qty


def test_limits_from_the_configured_settings(settings) -> None:
    lim = risk.limits_from_settings(settings)
    c, r = settings.costs, settings.runner
    assert (r.entry_order, r.exit_order) == ("post_only", "market")
    assert lim.costs_bps == pytest.approx(c.maker_fee_bps + c.fee_bps + c.slippage_bps)  # maker in, taker out
    assert lim.daily_dd_limit_pct == settings.risk.daily_dd_limit_pct
    assert lim.symbols["BTCUSDT"] == risk.SymbolFilter(0.01, 0.00001, 0.00001, 5.0)
    assert lim.regimes["wide_spread"] == risk.RegimeRule(False, 0.0)
    assert lim.sprt_lower == pytest.approx(math.log(0.2 / 0.95))


reports = st.builds(
    risk.PostTrade, symbol=st.just("BTCUSDT"), side=st.sampled_from(["buy", "sell"]), qty=st.floats(0, 10),
    price=st.floats(1.0, 1e5), fee=st.floats(-1.0, 5.0), realized_pnl=st.floats(-500.0, 500.0),
    pnl_bps=st.floats(-100.0, 100.0), status=st.sampled_from(["filled", "closed", "canceled", "rejected"]),
    p_model=st.none() | st.floats(0.0, 1.0))


@settings(max_examples=200, deadline=None)
@given(seq=st.lists(st.tuples(reports, st.floats(0.0, 3 * 86400.0)), max_size=60))
def test_posttrade_state_invariants(seq) -> None:
    lim = make_limits(cvar_window=10, cvar_min_trades=3)
    s = make_state(sprt_confirmed=False)
    for report, dt in sorted(seq, key=lambda x: x[1]):
        now = NOW + dt
        s = risk.roll_day(s, now, 0)
        before = s
        s = risk.apply_posttrade(s, report, lim, MODEL, now)
        assert s.day_peak_equity >= s.equity or math.isclose(s.day_peak_equity, s.equity)
        assert s.drawdown_pct >= 0.0 and math.isfinite(s.equity)
        assert s.cooloff_until_s >= before.cooloff_until_s  # a cool-off is never shortened
        assert len(s.returns_bps) <= 10 and all(v >= 0.0 for v in s.exposure.values())
        assert lim.sprt_lower < s.sprt_llr < lim.sprt_upper  # a crossing restarts the test
        if s.dd_breached and not before.dd_breached:
            assert s.cooloff_until_s >= now + lim.dd_breach_cooloff_s
        assert s.loss_streak < lim.loss_streak
