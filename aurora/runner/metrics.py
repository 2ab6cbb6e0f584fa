"""Prometheus metrics of the runner, in their own registry (``wisescalp_`` prefix; counters end in
``_total``, times in seconds). ``wisescalp_heartbeat_timestamp_seconds`` and
``wisescalp_feed_lag_seconds`` are the names the alert rules use.

The heartbeat and the feed lag are wall-clock readings (a replay's feed lag is how far market
time lags the wall clock, large and meaningless; the alert rules are for live modes). Every
outcome label exists at zero from the start.

Progress (``auroractl one-click``'s live line and the runner dashboard): market time of the last
event, events and decisions so far, realised P&L after fees, and the gate's equity and daily
drawdown, set by :meth:`RunnerMetrics.progress` from the loop's heartbeat (every 256 events).
"""

from __future__ import annotations

import math

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from aurora.runner.orderlog import DENIED, FAILED, SUCCESS

#: Tick-to-decision buckets, seconds: the target is p99 ≤ 1 ms.
DECISION_BUCKETS = (1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 5e-2)
ERROR_CLASSES = ("filter", "exchange", "gate")


class RunnerMetrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.heartbeat = Gauge("wisescalp_heartbeat_timestamp_seconds",
                               "Wall time the runner's loop last went round, epoch seconds", registry=r)
        self.feed_lag = Gauge("wisescalp_feed_lag_seconds",
                              "Wall time minus the receive time of the last market event, seconds",
                              registry=r)
        self.orders = Counter("wisescalp_orders", "Order intents by outcome", ["outcome"], registry=r)
        self.errors = Counter("wisescalp_order_errors", "Failed order intents by error class",
                              ["error_class"], registry=r)
        self.position = Gauge("wisescalp_position_base", "Open position, base asset", registry=r)
        self.unrealized = Gauge("wisescalp_unrealized_pnl_quote",
                                "Open position marked at the exit side of the book, before exit fees, quote",
                                registry=r)
        self.decision_latency = Histogram("wisescalp_tick_to_decision_seconds",
                                          "From a quote entering the loop to its decision (gate included)",
                                          buckets=DECISION_BUCKETS, registry=r)
        self.book_resyncs = Counter("wisescalp_book_resyncs",
                                    "Times the order book came back in sync after being out of sync",
                                    registry=r)
        self.market_time = Gauge("wisescalp_market_time_seconds",
                                 "Receive time of the last market event, epoch s (market time in replay)",
                                 registry=r)
        self.events = Counter("wisescalp_events", "Market events processed", registry=r)
        self.decisions = Counter("wisescalp_decisions", "Entry decisions evaluated (score, p, E[Pi])",
                                 registry=r)
        self.realized_pnl = Gauge("wisescalp_realized_pnl_quote",
                                  "Realised P&L of this run's closed trades after fees, quote", registry=r)
        self.equity = Gauge("wisescalp_equity_quote", "The gate's equity, quote (NaN until known)",
                            registry=r)
        self.drawdown = Gauge("wisescalp_drawdown_pct",
                              "The gate's drawdown from the day's peak equity, percent (NaN until known)",
                              registry=r)
        self.equity.set(math.nan)
        self.drawdown.set(math.nan)
        self._counted = (0, 0)  # events, decisions already added to the counters
        for outcome in (SUCCESS, FAILED, DENIED):
            self.orders.labels(outcome)
        for cls in ERROR_CLASSES:
            self.errors.labels(cls)

    def progress(self, market_ts_s: float, events: int, decisions: int, pnl_quote: float, *,
                 equity: float | None, drawdown_pct: float | None) -> None:
        """Set the progress readings; ``events``/``decisions`` are the run's totals so far."""
        self.market_time.set(market_ts_s)
        seen_events, seen_decisions = self._counted
        self.events.inc(events - seen_events)
        self.decisions.inc(decisions - seen_decisions)
        self._counted = (events, decisions)
        self.realized_pnl.set(pnl_quote)
        if equity is not None:
            self.equity.set(equity)
        if drawdown_pct is not None:
            self.drawdown.set(drawdown_pct)

    def serve(self, port: int, host: str = "127.0.0.1") -> int:
        """Expose ``/metrics`` on ``host:port`` from a daemon thread; returns the bound port (port 0
        picks a free one)."""
        server, _ = start_http_server(port, addr=host, registry=self.registry)
        return int(server.server_port)
