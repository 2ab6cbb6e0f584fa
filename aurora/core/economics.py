"""Trade economics in basis points: expected return, break-even probability, Kelly sizing.

Conventions: all returns are per trade, in bps of the entry price, after costs. ``costs_bps``
is the total round-trip cost (fees for both legs plus expected slippage); a positive
``e_pi_bps`` is an expected gain.
"""

from __future__ import annotations

import math


def round_trip_cost_bps(fee_bps: float, slippage_bps: float) -> float:
    """Round-trip cost of one trade in bps: a taker fee on each leg plus slippage on each leg."""
    return 2.0 * (fee_bps + slippage_bps)


def e_pi_bps(p: float, tp_bps: float, sl_bps: float, costs_bps: float) -> float:
    """Expected return of a barrier trade: ``p·TP − (1−p)·SL − costs`` (bps).

    ``p`` is the probability the take-profit barrier is hit before the stop.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must lie in [0, 1], got {p}")
    return p * tp_bps - (1.0 - p) * sl_bps - costs_bps


def breakeven_p(tp_bps: float, sl_bps: float, costs_bps: float) -> float:
    """The ``p`` at which :func:`e_pi_bps` is zero: ``(SL + costs) / (TP + SL)`` (may exceed 1)."""
    if tp_bps <= 0 or sl_bps <= 0:
        raise ValueError(f"barriers must be positive, got tp_bps={tp_bps}, sl_bps={sl_bps}")
    return (sl_bps + costs_bps) / (tp_bps + sl_bps)


def kelly_fraction(p: float, tp_bps: float, sl_bps: float, costs_bps: float) -> float:
    """Full-Kelly fraction of capital to risk on a binary bet net of costs (0 when no edge).

    A win pays W = TP − costs and a loss costs L = SL + costs (bps), so the odds are
    b = W / L and f* = p − (1−p)/b, the fraction of equity that the stop would lose.
    Returns 0 when the edge is not positive.
    """
    win = tp_bps - costs_bps
    loss = sl_bps + costs_bps
    if win <= 0 or not 0.0 <= p <= 1.0:
        return 0.0
    b = win / loss
    f = p - (1.0 - p) / b
    return max(0.0, f) if math.isfinite(f) else 0.0


def capped_kelly(p: float, tp_bps: float, sl_bps: float, costs_bps: float, *,
                 fraction: float, cap: float) -> float:
    """Fractional Kelly ``fraction·f*`` capped at ``cap`` (both fractions of equity at risk)."""
    return min(cap, fraction * kelly_fraction(p, tp_bps, sl_bps, costs_bps))
