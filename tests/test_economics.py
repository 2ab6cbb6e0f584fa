from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from aurora.core.economics import (
    ENTRY_LIQUIDITY,
    EXIT_LIQUIDITY,
    Costs,
    breakeven_p,
    capped_kelly,
    costs_from_settings,
    e_pi_bps,
    kelly_fraction,
    leg_cost_bps,
    round_trip_cost_bps,
)


def test_hand_worked_expected_return() -> None:
    # p=0.6, TP=10, SL=8, costs=2*(1+0.5)=3 -> 6 - 3.2 - 3 = -0.2 bps
    costs = round_trip_cost_bps(1.0, 0.5)
    assert costs == 3.0
    assert e_pi_bps(0.6, 10, 8, costs) == pytest.approx(-0.2)
    assert breakeven_p(10, 8, 3) == pytest.approx(11 / 18)
    assert e_pi_bps(breakeven_p(10, 8, 3), 10, 8, 3) == pytest.approx(0.0, abs=1e-12)


def test_kelly_hand_worked() -> None:
    # W = 10-2 = 8, L = 10+2 = 12, b = 2/3; f* = 0.7 - 0.3*1.5 = 0.25
    assert kelly_fraction(0.7, 10, 10, 2) == pytest.approx(0.25)
    assert capped_kelly(0.7, 10, 10, 2, fraction=0.25, cap=0.05) == pytest.approx(0.05)
    assert capped_kelly(0.7, 10, 10, 2, fraction=0.1, cap=0.05) == pytest.approx(0.025)
    assert kelly_fraction(0.4, 10, 10, 2) == 0.0  # no edge, no bet
    assert kelly_fraction(0.9, 2, 10, 3) == 0.0  # costs eat the whole win


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="p must lie"):
        e_pi_bps(1.2, 10, 10, 0)
    with pytest.raises(ValueError, match="barriers must be positive"):
        breakeven_p(0, 10, 0)


@given(p=st.floats(0, 1), tp=st.floats(0.1, 500), sl=st.floats(0.1, 500), c=st.floats(0, 50))
def test_kelly_positive_exactly_when_edge_positive(p: float, tp: float, sl: float, c: float) -> None:
    f = kelly_fraction(p, tp, sl, c)
    edge = e_pi_bps(p, tp, sl, c)
    assert 0.0 <= f <= 1.0 and math.isfinite(f)
    if f > 1e-9:
        assert edge > 0
    if edge > 1e-6 and tp > c:
        assert f > 0


def test_each_leg_pays_the_fee_of_the_liquidity_it_uses() -> None:
    # Binance spot VIP 9 paying in BNB: maker 0.0090 % = 0.9 bps, taker 0.0180 % = 1.8 bps
    vip9 = {"maker_fee_bps": 0.9, "taker_fee_bps": 1.8, "slippage_bps": 0.5}
    assert leg_cost_bps("maker", **vip9) == 0.9  # a maker leg fills at its own price: no slippage
    assert leg_cost_bps("taker", **vip9) == pytest.approx(2.3)
    c = Costs(0.9, 1.8, 0.5, entry="maker", exit="taker")
    assert c.round_trip_bps() == pytest.approx(0.9 + 1.8 + 0.5)  # post-only entry, market exit
    assert c.round_trip_bps(0.2) == pytest.approx(0.9 + 1.8 + 0.2)  # the runner's own slippage estimate
    both_taker = Costs(0.9, 1.8, 0.5).round_trip_bps()
    assert both_taker == pytest.approx(2 * (1.8 + 0.5)) == round_trip_cost_bps(1.8, 0.5)
    assert Costs(0.9, 1.8, 0.5, "maker", "maker").round_trip_bps(7.0) == pytest.approx(1.8)
    assert Costs(-0.5, 1.8, 0.5, "maker", "taker").round_trip_bps() == pytest.approx(1.8)  # a maker rebate
    assert c.fee_bps("maker") == 0.9 and c.fee_bps("taker") == 1.8
    with pytest.raises(ValueError, match="liquidity must be"):
        leg_cost_bps("both", **vip9)  # type: ignore[arg-type]
    # p = 0.6 at 10/10 bps barriers: 6 − 4 − 3.2 = −1.2 bps post-only, −2.6 bps taking both legs
    assert e_pi_bps(0.6, 10, 10, c.round_trip_bps()) == pytest.approx(-1.2)
    assert e_pi_bps(0.6, 10, 10, round_trip_cost_bps(1.8, 0.5)) == pytest.approx(-2.6)


fee = st.floats(-5, 50)
slip = st.floats(0, 20)
liq = st.sampled_from(["maker", "taker"])


@given(maker=fee, taker=st.floats(0, 50), s=slip, entry=liq, exit_=liq)
def test_round_trip_is_the_sum_of_its_legs(maker: float, taker: float, s: float, entry: str,
                                           exit_: str) -> None:
    c = Costs(maker, taker, s, entry, exit_)  # type: ignore[arg-type]
    legs = [leg_cost_bps(x, maker_fee_bps=maker, taker_fee_bps=taker, slippage_bps=s)  # type: ignore[arg-type]
            for x in (entry, exit_)]
    assert c.round_trip_bps() == pytest.approx(sum(legs))
    assert c.round_trip_bps() == pytest.approx(Costs(maker, taker, s, exit_, entry).round_trip_bps())  # type: ignore[arg-type]
    # a leg that rests instead of taking saves (taker + slippage − maker): never more costly when
    # the maker fee is at most the taker fee
    if maker <= taker:
        assert Costs(maker, taker, s, "maker", exit_).round_trip_bps() <= \
            Costs(maker, taker, s, "taker", exit_).round_trip_bps() + 1e-12  # type: ignore[arg-type]


@hsettings(suppress_health_check=[HealthCheck.function_scoped_fixture])  # settings: read, never changed
@given(p=st.floats(0, 1), maker=fee, taker=st.floats(0, 50), s=slip,
       entry=st.sampled_from(sorted(ENTRY_LIQUIDITY)), exit_=st.sampled_from(sorted(EXIT_LIQUIDITY)))
def test_runner_and_aurora_charge_the_same_costs(settings, p: float, maker: float, taker: float, s: float,
                                                 entry: str, exit_: str) -> None:
    """Every configuration: the runner's E[Π] (Strategy's costs at the configured slippage) equals
    Aurora's recomputation (core.risk's limits), so ``EPI_MISMATCH`` can only come from slippage."""
    from aurora.core.risk import limits_from_settings

    cfg = settings.model_copy(update={
        "costs": settings.costs.model_copy(update={"maker_fee_bps": maker, "fee_bps": taker,
                                                   "slippage_bps": s}),
        "runner": settings.runner.model_copy(update={"entry_order": entry, "exit_order": exit_})})
    costs = costs_from_settings(cfg)
    assert (costs.entry, costs.exit) == (ENTRY_LIQUIDITY[entry], EXIT_LIQUIDITY[exit_])
    runner = e_pi_bps(p, 10, 8, costs.round_trip_bps(s))
    aurora = e_pi_bps(p, 10, 8, limits_from_settings(cfg).costs_bps)
    assert runner == pytest.approx(aurora, abs=1e-9)
