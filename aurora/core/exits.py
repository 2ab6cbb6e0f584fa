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

The two rules are scalar ``@nb.njit(inline="always")`` helpers (:func:`exit_code`,
:func:`follow_stop`, reasons as integer codes, :data:`REASONS`): :func:`on_quote` calls them one
quote at a time, and the replay's fast path (:mod:`aurora.runner.fastpath`) inlines them to run
the machine over a stretch of quotes in one kernel, so both paths share one definition.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import StrEnum

import numba as nb

NS = 1_000_000_000


class ExitReason(StrEnum):
    STOP = "stop"              # initial stop (entry − R)
    TRAILING_STOP = "trailing_stop"
    BREAKEVEN = "breakeven"    # the stop that was moved to the entry price
    TAKE_PROFIT = "take_profit"
    MAX_R = "max_r"
    TIME = "time"


#: Exit reason by integer code, as the numba helpers return them (0: no exit).
REASONS: tuple[ExitReason | None, ...] = (None, ExitReason.STOP, ExitReason.TRAILING_STOP,
                                          ExitReason.BREAKEVEN, ExitReason.TAKE_PROFIT, ExitReason.MAX_R,
                                          ExitReason.TIME)
CODES: dict[ExitReason, int] = {r: i for i, r in enumerate(REASONS) if r is not None}
_TRAILING_STOP, _BREAKEVEN, _TAKE_PROFIT, _MAX_R, _TIME = (
    CODES[ExitReason.TRAILING_STOP], CODES[ExitReason.BREAKEVEN], CODES[ExitReason.TAKE_PROFIT],
    CODES[ExitReason.MAX_R], CODES[ExitReason.TIME])


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


@nb.njit(cache=True, inline="always")
def exit_code(  # noqa: PLR0917 (numba helper: positional only)
    side: int, stop_px: float, stop_code: int, take_profit_px: float, max_r_px: float, deadline_ns: int,
    ts_ns: int, mark_px: float) -> int:
    """:func:`exit_reason` on the state's numbers: the code (:data:`REASONS`) of the exit, 0 for none."""
    if side * (mark_px - stop_px) <= 0.0:
        return stop_code
    if side * (mark_px - take_profit_px) >= 0.0:
        return _TAKE_PROFIT
    if side * (mark_px - max_r_px) >= 0.0:
        return _MAX_R
    if ts_ns >= deadline_ns:
        return _TIME
    return 0


@nb.njit(cache=True, inline="always")
def follow_stop(  # noqa: PLR0917 (numba helper: positional only)
    side: int, entry_px: float, risk_px: float, best_px: float, stop_px: float, stop_code: int,
    trail_bps: float, breakeven_after_R: float, mark_px: float) -> tuple[float, float, int]:
    """:func:`follow` on the state's numbers: the new (best mark, stop, stop's reason code)."""
    if not side * (mark_px - best_px) > 0.0:  # no new best (or NaN): nothing moves
        return best_px, stop_px, stop_code
    trail = mark_px * (1.0 - side * trail_bps / 1e4)
    if side * (trail - stop_px) > 0.0:
        stop_px, stop_code = trail, _TRAILING_STOP
    if side * (mark_px - entry_px) >= breakeven_after_R * risk_px and side * (entry_px - stop_px) > 0.0:
        stop_px, stop_code = entry_px, _BREAKEVEN
    return mark_px, stop_px, stop_code


# one quote at a time the plain-Python bodies run: numba's dispatch would cost more than they do
_exit_code, _follow_stop = exit_code.py_func, follow_stop.py_func


def exit_reason(pos: Position, ts_ns: int, mark_px: float) -> ExitReason | None:
    """Why the position must close on this quote (``mark_px`` the bid for a long, the ask for a
    short), or None to keep it open. A NaN mark (no quote on that side) only lets time expire."""
    return REASONS[_exit_code(pos.side, pos.stop_px, CODES[pos.stop_reason], pos.take_profit_px,
                              pos.max_r_px, pos.deadline_ns, ts_ns, mark_px)]


def follow(pos: Position, params: ExitParams, mark_px: float) -> Position:
    """Move the best mark and the stop after a quote (the trailing and breakeven rules)."""
    best, stop, code = _follow_stop(pos.side, pos.entry_px, pos.risk_px, pos.best_px, pos.stop_px,
                                    CODES[pos.stop_reason], params.trail_bps, params.breakeven_after_R,
                                    mark_px)
    if best == pos.best_px:  # no new best: nothing moved
        return pos
    return replace(pos, best_px=best, stop_px=stop, stop_reason=REASONS[code])


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
