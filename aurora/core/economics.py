"""Trade economics in basis points: expected return, break-even probability, Kelly sizing.

Conventions: all returns are per trade, in bps of the entry price, after costs. ``costs_bps``
is the total round-trip cost (the fee of each leg plus expected slippage on each taker leg); a
positive ``e_pi_bps`` is an expected gain.

Costs (the one definition the runner's E[Π], Aurora's recomputation and calibration share): a leg
pays the fee of the liquidity it uses. A taker leg (market order) pays the taker fee and walks the
book (slippage); a maker leg (a limit order that rested: post-only entry, limit exit) pays the
maker fee and fills at its own price, so no slippage. Fees are bps of the received amount, which
for the small fractions involved is bps of the notional; a negative maker fee is a rebate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

Liquidity = Literal["maker", "taker"]
#: The liquidity each configured order type uses (``runner.entry_order``, ``runner.exit_order``).
ENTRY_LIQUIDITY: dict[str, Liquidity] = {"market": "taker", "post_only": "maker"}
EXIT_LIQUIDITY: dict[str, Liquidity] = {"market": "taker", "limit": "maker"}


def leg_cost_bps(liquidity: Liquidity, *, maker_fee_bps: float, taker_fee_bps: float,
                 slippage_bps: float) -> float:
    """Cost of one leg in bps: the maker fee (no slippage), or the taker fee plus slippage."""
    if liquidity == "maker":
        return maker_fee_bps
    if liquidity == "taker":
        return taker_fee_bps + slippage_bps
    raise ValueError(f"liquidity must be 'maker' or 'taker', got {liquidity!r}")


@dataclass(frozen=True, slots=True)
class Costs:
    """A fee schedule and the liquidity each leg of a trade uses.

    ``slippage_bps`` is the expected slippage of one taker leg; a caller with a better estimate
    (the runner walks the book for its order size) passes it to :meth:`round_trip_bps`.
    """

    maker_fee_bps: float
    taker_fee_bps: float
    slippage_bps: float
    entry: Liquidity = "taker"
    exit: Liquidity = "taker"

    def fee_bps(self, liquidity: Liquidity) -> float:
        """The fee rate of a leg that uses ``liquidity``, bps."""
        return self.maker_fee_bps if liquidity == "maker" else self.taker_fee_bps

    def round_trip_bps(self, slippage_bps: float | None = None) -> float:
        """Entry leg + exit leg (:func:`leg_cost_bps`), slippage ``slippage_bps`` per taker leg
        (default: the configured one)."""
        slip = self.slippage_bps if slippage_bps is None else slippage_bps
        fees = {"maker_fee_bps": self.maker_fee_bps, "taker_fee_bps": self.taker_fee_bps,
                "slippage_bps": slip}
        return leg_cost_bps(self.entry, **fees) + leg_cost_bps(self.exit, **fees)


def costs_from_settings(settings: Any) -> Costs:
    """The costs of a trade as configured: ``costs.*`` fees and slippage, the entry and exit legs'
    liquidity from ``runner.entry_order``/``runner.exit_order`` (read by attribute: core does not
    import config)."""
    c, r = settings.costs, settings.runner
    return Costs(c.maker_fee_bps, c.fee_bps, c.slippage_bps, ENTRY_LIQUIDITY[r.entry_order],
                 EXIT_LIQUIDITY[r.exit_order])


def round_trip_cost_bps(fee_bps: float, slippage_bps: float) -> float:
    """Round-trip cost of a trade that takes on both legs: ``2·(fee + slippage)`` bps."""
    return Costs(fee_bps, fee_bps, slippage_bps).round_trip_bps()


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
