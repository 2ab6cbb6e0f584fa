from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aurora.core.economics import (
    breakeven_p,
    capped_kelly,
    e_pi_bps,
    kelly_fraction,
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
