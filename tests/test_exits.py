"""Exit state machine: hand-worked paths and invariants over random quote paths."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aurora.core.exits import (
    CODES,
    NS,
    REASONS,
    ExitParams,
    ExitReason,
    exit_code,
    exit_reason,
    follow_stop,
    gain_bps,
    on_quote,
    open_position,
)

# R = 20 bps of 100 = 0.20; stop 99.80; take-profit 0.5 % = 100.50; max_R 3R = 100.60;
# breakeven after 0.8R = 0.16 of open profit; time stop 30 s after entry.
P = ExitParams(tp_pct=0.5, trail_bps=20.0, breakeven_after_R=0.8, max_R=3.0, horizon_s=30.0)


def run(params: ExitParams, side: int, marks: list[float], dt_s: float = 1.0):
    pos = open_position(params, side, 100.0, 0)
    for i, m in enumerate(marks, start=1):
        pos, why = on_quote(pos, params, round(i * dt_s * NS), m)
        if why is not None:
            return pos, why, i
    return pos, None, None


def test_initial_levels():
    pos = open_position(P, 1, 100.0, 5)
    assert pos.risk_px == pytest.approx(0.20)
    assert pos.stop_px == pytest.approx(99.80)
    assert pos.take_profit_px == pytest.approx(100.50)
    assert pos.max_r_px == pytest.approx(100.60)
    assert pos.deadline_ns == 5 + 30 * NS
    short = open_position(P, -1, 100.0, 0)
    assert (short.stop_px, short.take_profit_px, short.max_r_px) == pytest.approx((100.20, 99.50, 99.40))


def test_initial_stop():
    _, why, i = run(P, 1, [99.9, 99.81, 99.80])
    assert (why, i) == (ExitReason.STOP, 3)


def test_trailing_then_breakeven_then_exit_at_entry():
    pos, why, _ = run(P, 1, [100.10])
    # trail: 100.10 · (1 − 0.002) = 99.8998 > 99.80; open profit 0.10 < 0.16: no breakeven yet
    assert pos.stop_px == pytest.approx(99.8998)
    assert pos.stop_reason is ExitReason.TRAILING_STOP and why is None
    pos, why, _ = run(P, 1, [100.10, 100.20])
    # trail 99.9996 < entry; open profit 0.20 ≥ 0.16: stop to entry
    assert pos.stop_px == 100.0 and pos.stop_reason is ExitReason.BREAKEVEN
    _, why, i = run(P, 1, [100.10, 100.20, 100.05, 100.0])
    assert (why, i) == (ExitReason.BREAKEVEN, 4)


def test_trailing_stop_above_entry():
    # best 100.45: trail 100.45 · 0.998 = 100.2491; the fall to 100.24 crosses it
    pos, why, i = run(P, 1, [100.2, 100.45, 100.30, 100.24])
    assert (why, i) == (ExitReason.TRAILING_STOP, 4)
    assert pos.stop_px == pytest.approx(100.2491)


def test_take_profit_and_max_r():
    _, why, i = run(P, 1, [100.2, 100.5])
    assert (why, i) == (ExitReason.TAKE_PROFIT, 2)
    wide_tp = ExitParams(tp_pct=1.0, trail_bps=20.0, breakeven_after_R=0.8, max_R=3.0, horizon_s=30.0)
    _, why, i = run(wide_tp, 1, [100.3, 100.6])
    assert (why, i) == (ExitReason.MAX_R, 2)


def test_time_stop_at_horizon():
    _, why, i = run(P, 1, [100.01] * 40)
    assert (why, i) == (ExitReason.TIME, 30)
    # a NaN mark (empty side) still lets the time stop fire, and nothing else
    pos = open_position(P, 1, 100.0, 0)
    assert exit_reason(pos, 29 * NS, math.nan) is None
    assert exit_reason(pos, 30 * NS, math.nan) is ExitReason.TIME


def test_short_mirror_levels():
    _, why, i = run(P, -1, [100.1, 100.2])
    assert (why, i) == (ExitReason.STOP, 2)
    # best 99.9: trail 99.9 · 1.002 = 100.0998, crossed by 100.1
    _, why, i = run(P, -1, [99.9, 100.1])
    assert (why, i) == (ExitReason.TRAILING_STOP, 2)
    _, why, i = run(P, -1, [99.7, 99.5])
    assert (why, i) == (ExitReason.TAKE_PROFIT, 2)
    # best 99.83: open profit 0.17 ≥ 0.16 and the trail 100.02966 is worse than entry: stop to entry
    pos, why, _ = run(P, -1, [99.83])
    assert pos.stop_px == 100.0 and pos.stop_reason is ExitReason.BREAKEVEN and why is None


def test_gain_bps_and_bad_input():
    assert gain_bps(1, 100.0, 100.5) == pytest.approx(50.0)
    assert gain_bps(-1, 100.0, 100.5) == pytest.approx(-50.0)
    with pytest.raises(ValueError, match="trail_bps"):
        ExitParams(tp_pct=0.5, trail_bps=0.0, breakeven_after_R=0.8, max_R=3.0, horizon_s=30.0)
    with pytest.raises(ValueError, match="side"):
        open_position(P, 0, 100.0, 0)
    with pytest.raises(ValueError, match="entry price"):
        open_position(P, 1, math.nan, 0)


params_st = st.builds(
    ExitParams,
    tp_pct=st.floats(0.01, 5.0), trail_bps=st.floats(0.5, 200.0),
    breakeven_after_R=st.floats(0.1, 5.0), max_R=st.floats(0.2, 10.0), horizon_s=st.floats(1.0, 100.0))
path_st = st.lists(st.floats(-0.05, 0.05), min_size=1, max_size=200)


@given(params=params_st, steps=path_st, side=st.sampled_from([1, -1]))
def test_invariants(params, steps, side):
    pos = open_position(params, side, 100.0, 0)
    mark = 100.0
    for i, r in enumerate(steps, start=1):
        ts = i * NS
        mark = max(1e-6, mark * (1.0 + r))
        new, why = on_quote(pos, params, ts, mark)
        # the stop only moves in the profit direction, and stays behind the best mark
        assert side * (new.stop_px - pos.stop_px) >= 0.0
        assert side * (new.best_px - new.stop_px) > 0.0
        if side * (new.best_px - new.entry_px) >= params.breakeven_after_R * new.risk_px * (1 + 1e-12):
            assert side * (new.stop_px - new.entry_px) >= 0.0
        if why is ExitReason.TAKE_PROFIT:
            assert gain_bps(side, 100.0, mark) >= params.tp_pct * 100.0 * (1 - 1e-9)
        if why in (ExitReason.STOP, ExitReason.TRAILING_STOP, ExitReason.BREAKEVEN):
            assert side * (mark - pos.stop_px) <= 0.0
        if why is None:
            assert ts < pos.deadline_ns  # nothing stays open past the horizon
        else:
            assert new is pos  # the exit is decided on the state before the quote
            break
        pos = new


@settings(deadline=None)  # the first example compiles the helpers
@given(params=params_st, steps=path_st, side=st.sampled_from([1, -1]))
def test_compiled_rules_equal_the_per_quote_ones(params, steps, side):
    """The numba-compiled helpers (the replay fast path's) give the plain-Python numbers exactly."""
    pos = open_position(params, side, 100.0, 0)
    best, stop, code = pos.best_px, pos.stop_px, CODES[pos.stop_reason]
    mark = 100.0
    for i, r in enumerate(steps, start=1):
        ts = i * NS
        mark = max(1e-6, mark * (1.0 + r))
        got = exit_code(side, stop, code, pos.take_profit_px, pos.max_r_px, pos.deadline_ns, ts, mark)
        pos, why = on_quote(pos, params, ts, mark)
        assert REASONS[got] is why
        if why is not None:
            break
        best, stop, code = follow_stop(side, pos.entry_px, pos.risk_px, best, stop, code, params.trail_bps,
                                       params.breakeven_after_R, mark)
        assert (best, stop, REASONS[code]) == (pos.best_px, pos.stop_px, pos.stop_reason)
