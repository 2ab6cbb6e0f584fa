"""Order intents to their logs: every intent lands in exactly one of ``orders_success``,
``orders_failed`` and ``orders_denied`` (DESIGN.md §8), as one ``order.<outcome>`` event.

- ``denied``: the gate gave no allow (a deny with Aurora's reasons, or ``GATE_UNAVAILABLE``);
- ``failed``: allowed (or an exit), but no order filled: filter rounding refused it (``filter``),
  the exchange or fill model rejected it, e.g. a post-only entry that would take (``exchange``),
  or a post-only entry or limit exit rested until its timeout with nothing filled and was
  cancelled (``timeout``; reported to the gate as ``canceled``);
- ``success``: it filled, wholly or in part (``fill.qty``; ``fill.expired`` when a resting order
  was cancelled at its timeout after a partial fill, which then is the position or the part sold).

A record carries the intent (decision id, client order id, side, quantities, the market time
``market_ts_ns`` it was decided at, the features, p, E[Π], slippage estimate, regime and SPRT
ratio it was decided on), the gate's answer, and the fill or the error.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from aurora.events import EventLog

if TYPE_CHECKING:
    from aurora.runner.metrics import RunnerMetrics

SUCCESS, FAILED, DENIED = "success", "failed", "denied"


class OrderLog:
    def __init__(self, events: EventLog, metrics: RunnerMetrics | None = None) -> None:
        self.events = events
        self.metrics = metrics
        self.counts: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()

    def write(self, outcome: str, intent: dict[str, Any], **fields: Any) -> None:
        """One intent's one record; ``outcome`` is :data:`SUCCESS`, :data:`FAILED` or :data:`DENIED`."""
        if outcome not in (SUCCESS, FAILED, DENIED):
            raise ValueError(f"unknown order outcome {outcome!r}")
        self.counts[outcome] += 1
        if outcome == FAILED:
            self.errors[str(fields.get("error_class"))] += 1
        if self.metrics is not None:
            self.metrics.orders.labels(outcome).inc()
            if outcome == FAILED:
                self.metrics.errors.labels(str(fields.get("error_class"))).inc()
        self.events.emit(f"order.{outcome}", stream=f"orders_{outcome}", **intent, **fields)
