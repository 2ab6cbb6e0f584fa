"""Exit state machine of one open position (pure: prices and receive times in, decisions out).

A position opened at ``entry_px`` (price units) at ``entry_ns`` (receive clock, ns) is watched on
every quote through its *mark*: the price it could be closed at now (the bid for a long, the ask
for a short). Distances are in the direction of profit: ``gain = side·(mark − entry)``.

- **R**: the initial risk, ``trail_bps`` of the entry price — the initial stop is the trailing
  stop placed at entry (``entry·(1 − side·trail_bps/1e4)``).
- **Take-profit**: close when ``gain ≥ tp_pct/100 · entry``.
- **max_R**: close when ``gain ≥ max_R · R``.
- **Trailing stop**: the stop follows the best mark seen (``best``) at ``trail_bps`` behind it and
  never moves back.
- **Breakeven**: once ``best − entry ≥ breakeven_after_R · R`` (in the profit direction) the stop is
  at least the entry price.
- **Time stop**: close at ``ts ≥ entry_ns + horizon_s`` (the artifact's label horizon).

Each quote is checked against the state as it was *before* that quote (a resting stop is hit by
the quote that crosses it), then the best mark and the stop move. When several exits trigger on
one quote the reason reported is, in order: stop, take-profit, max_R, time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import StrEnum

NS = 1_000_000_000


class ExitReason(StrEnum):
    STOP = "stop"              # initial stop (entry − R)
    TRAILING_STOP = "trailing_stop"
    BREAKEVEN = "breakeven"    # the stop that was moved to the entry price
    TAKE_PROFIT = "take_profit"
    MAX_R = "max_r"
    TIME = "time"


@dataclass(frozen=True, slots=True)
class ExitParams:
    """Exit rules: ``tp_pct`` (% of entry), ``trail_bps`` (bps of price), ``breakeven_after_R`` and
    ``max_R`` (multiples of R), ``horizon_s`` (seconds). Built by the edge from ``reward.*`` and the
    artifact's ``barriers.horizon_s``."""

    tp_pct: float
    trail_bps: float
    breakeven_after_R: float
    max_R: float
    horizon_s: float

    def __post_init__(self) -> None:
        for name in ("tp_pct", "trail_bps", "breakeven_after_R", "max_R", "horizon_s"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"exit parameter {name} must be a positive number, got {v}")


@dataclass(frozen=True, slots=True)
class Position:
    """An open position's exit state. ``side`` +1 long, −1 short; prices in price units."""

    side: int
    entry_px: float
    entry_ns: int
    risk_px: float        # R in price units
    stop_px: float
    stop_reason: ExitReason
    best_px: float        # best mark seen since entry (highest for a long)
    take_profit_px: float
    max_r_px: float
    deadline_ns: int


def open_position(params: ExitParams, side: int, entry_px: float, entry_ns: int) -> Position:
    """The state of a position just filled at ``entry_px`` (average fill price) at ``entry_ns``."""
    if side not in (1, -1):
        raise ValueError(f"side must be +1 (long) or -1 (short), got {side}")
    if not (math.isfinite(entry_px) and entry_px > 0):
        raise ValueError(f"entry price must be a positive number, got {entry_px}")
    risk = entry_px * params.trail_bps / 1e4
    return Position(
        side=side, entry_px=entry_px, entry_ns=int(entry_ns), risk_px=risk,
        stop_px=entry_px - side * risk, stop_reason=ExitReason.STOP, best_px=entry_px,
        take_profit_px=entry_px * (1.0 + side * params.tp_pct / 100.0),
        max_r_px=entry_px + side * params.max_R * risk,
        deadline_ns=int(entry_ns) + round(params.horizon_s * NS),
    )


def exit_reason(pos: Position, ts_ns: int, mark_px: float) -> ExitReason | None:
    """Why the position must close on this quote (``mark_px`` the bid for a long, the ask for a
    short), or None to keep it open. A NaN mark (no quote on that side) only lets time expire."""
    s = pos.side
    if s * (mark_px - pos.stop_px) <= 0.0:
        return pos.stop_reason
    if s * (mark_px - pos.take_profit_px) >= 0.0:
        return ExitReason.TAKE_PROFIT
    if s * (mark_px - pos.max_r_px) >= 0.0:
        return ExitReason.MAX_R
    if ts_ns >= pos.deadline_ns:
        return ExitReason.TIME
    return None


def follow(pos: Position, params: ExitParams, mark_px: float) -> Position:
    """Move the best mark and the stop after a quote (the trailing and breakeven rules)."""
    s = pos.side
    if not s * (mark_px - pos.best_px) > 0.0:  # no new best (or NaN): nothing moves
        return pos
    stop, why = pos.stop_px, pos.stop_reason
    trail = mark_px * (1.0 - s * params.trail_bps / 1e4)
    if s * (trail - stop) > 0.0:
        stop, why = trail, ExitReason.TRAILING_STOP
    if (s * (mark_px - pos.entry_px) >= params.breakeven_after_R * pos.risk_px
            and s * (pos.entry_px - stop) > 0.0):
        stop, why = pos.entry_px, ExitReason.BREAKEVEN
    return replace(pos, best_px=mark_px, stop_px=stop, stop_reason=why)


def on_quote(pos: Position, params: ExitParams, ts_ns: int,
             mark_px: float) -> tuple[Position, ExitReason | None]:
    """One step of the machine: the exit decided on this quote (if any), then the moved state."""
    why = exit_reason(pos, ts_ns, mark_px)
    if why is not None:
        return pos, why
    return follow(pos, params, mark_px), None


def gain_bps(side: int, entry_px: float, exit_px: float) -> float:
    """Gross return of a round trip, bps of the entry price (positive = profit), before fees."""
    return side * (exit_px - entry_px) / entry_px * 1e4
