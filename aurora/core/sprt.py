"""The runner's own SPRT on its closed trades: the log-likelihood ratio Aurora's gate holds against
its lower boundary (the ``sprt_llr`` of a pre-trade request). Same test as Aurora's
(:mod:`aurora.core.risk`): H0 win rate = the break-even p, H1 = the trade's model p.

After the ratio crosses the upper boundary (edge confirmed) it restarts from 0. After it crosses
the lower boundary (edge gone) it stays there until a gate has seen it — the runner calls
:func:`after_gate` with the reasons of the next decision, which restarts it once the gate denied
with ``SPRT`` (and started its cool-off)."""

from __future__ import annotations

from collections.abc import Collection

from aurora.core.risk import SPRT, sprt_increment


def next_llr(llr: float, win: bool, p1: float, p0: float, *, lower: float, upper: float) -> float:
    """The ratio after one closed trade (``win``: its net return was positive). A trade whose
    model p does not exceed the break-even p (``not 0 < p0 < p1 < 1``) leaves it unchanged, and so
    does any trade while a lower crossing waits for the gate."""
    if not 0.0 < p0 < p1 < 1.0 or llr <= lower:
        return llr
    out = llr + sprt_increment(win, p1, p0)
    return 0.0 if out >= upper else out


def after_gate(llr: float, reasons: Collection[str], lower: float) -> float:
    """The ratio after a gate decision: restarted once the gate acted on a lower crossing."""
    return 0.0 if llr <= lower and SPRT in reasons else llr
