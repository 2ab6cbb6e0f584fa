"""Prometheus metrics of the API, in their own registry (one per app instance).

Naming follows Prometheus conventions: ``aurora_`` prefix, counters end in ``_total``, times
in seconds (``_seconds``), ratios in ``_ratio``; every decision outcome and reason label is
created at start so the series exist (at zero) before the first decision.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

from aurora.core.risk import REASONS, RiskState

#: Decision latency buckets, seconds: sub-millisecond resolution where the gate lives.
LATENCY_BUCKETS = (5e-6, 1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 5e-2, 0.25)
SLIPPAGE_BUCKETS_BPS = (0.0, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0)
ORDER_LATENCY_BUCKETS = (1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 0.5, 1.0, 2.5)
POSTTRADE_STATUSES = ("filled", "closed", "canceled", "rejected")
#: applied; duplicate (same key and payload again); conflict (same key, other payload: 409);
#: refused (money fields out of bounds: 422)
POSTTRADE_RESULTS = ("applied", "duplicate", "conflict", "refused")


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.decisions = Counter("aurora_decisions", "Pre-trade decisions by outcome", ["outcome"],
                                 registry=r)
        self.reasons = Counter("aurora_decision_reasons", "Deny reasons (one decision may count several)",
                               ["reason"], registry=r)
        self.latency = Histogram("aurora_decision_latency_seconds",
                                 "Time to decide one pre-trade check inside the server",
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.posttrade = Counter("aurora_posttrade", "Post-trade reports by status and result",
                                 ["status", "result"], registry=r)
        self.equity = Gauge("aurora_equity", "Account equity, quote currency", registry=r)
        self.daily_pnl = Gauge("aurora_daily_pnl", "Today's realised P&L after fees, quote currency",
                               registry=r)
        self.drawdown = Gauge("aurora_daily_drawdown_ratio", "Drawdown from today's peak equity (0..1)",
                              registry=r)
        self.drawdown_limit = Gauge("aurora_daily_drawdown_limit_ratio",
                                    "risk.daily_dd_limit_pct as a ratio (0..1): the drawdown that denies",
                                    registry=r)
        self.sprt_llr = Gauge("aurora_sprt_llr", "Aurora's SPRT log-likelihood ratio on closed trades",
                              registry=r)
        self.cvar = Gauge("aurora_cvar_bps", "CVaR of the recent trade returns, bps (NaN: too few trades)",
                          registry=r)
        self.cooloff_until = Gauge("aurora_cooloff_until_timestamp_seconds",
                                   "End of the current cool-off, epoch seconds", registry=r)
        self.kill_switch = Gauge("aurora_kill_switch", "1 while the kill switch is engaged", registry=r)
        self.model = Info("aurora_model", "Calibration artifact in use", registry=r)
        self.costs_mismatch = Gauge("aurora_artifact_costs_mismatch",
                                    "1 while the artifact in use was fitted with other costs than configured",
                                    registry=r)
        self.model_created = Gauge("aurora_model_created_timestamp_seconds",
                                   "created_at of the artifact in use, epoch seconds", registry=r)
        self.model_max_age = Gauge("aurora_model_max_age_seconds",
                                   "risk.model_max_age_s: an artifact older than this is stale", registry=r)
        self.reloads = Counter("aurora_artifact_reloads", "Artifact (re)load attempts by result",
                               ["result"], registry=r)
        self.slippage = Histogram("aurora_slippage_bps", "Slippage, bps: runner's estimate vs realised",
                                  ["kind"], buckets=SLIPPAGE_BUCKETS_BPS, registry=r)
        self.order_latency = Histogram("aurora_order_latency_seconds",
                                       "Runner latency: at the decision (estimated) vs the order (realised)",
                                       ["kind"], buckets=ORDER_LATENCY_BUCKETS, registry=r)
        self.event_write_errors = Counter("aurora_event_write_errors",
                                          "Failed appends of decision events (kept and retried)",
                                          registry=r)
        self.events_dropped = Counter("aurora_events_dropped",
                                      "Decision events dropped: the backlog of unwritable events was full",
                                      registry=r)
        for outcome in ("allow", "deny"):
            self.decisions.labels(outcome)
        for reason in REASONS:
            self.reasons.labels(reason)
        for status in POSTTRADE_STATUSES:
            for result in POSTTRADE_RESULTS:
                self.posttrade.labels(status, result)
        for result in ("ok", "error"):
            self.reloads.labels(result)
        self.allow_count = self.decisions.labels("allow")
        self.deny_count = self.decisions.labels("deny")
        self.reason_count = {reason: self.reasons.labels(reason) for reason in REASONS}

    def set_state(self, state: RiskState) -> None:
        self.equity.set(state.equity)
        self.daily_pnl.set(state.daily_pnl)
        self.drawdown.set(state.drawdown_pct / 100.0)
        self.sprt_llr.set(state.sprt_llr)
        self.cvar.set(float("nan") if state.cvar_bps is None else state.cvar_bps)
        self.cooloff_until.set(state.cooloff_until_s)
        self.kill_switch.set(1.0 if state.kill_switch else 0.0)
