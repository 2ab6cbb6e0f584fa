"""The gate service behind the routes: current model, durable risk state, events and metrics.

All methods run on the event-loop thread (the routes are ``async``), so state changes are
serialised without locks; every change is committed to the :class:`StateStore` before the
route answers. The model reference is swapped in one assignment by :meth:`reload`, so a
request in flight keeps the model it started with and no request is dropped by a reload.
The trading day rolls (``account.day_roll_utc_hour``) on whichever comes first after the roll
time: a check, a post-trade report, ``/health``, ``/metrics`` or the app's once-a-second
maintenance (:meth:`state_now`), so what they report is what the next check would use.
"""

from __future__ import annotations

import itertools
import os
import sqlite3
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aurora.api.eventwriter import EventWriter
from aurora.api.metrics import Metrics
from aurora.api.schemas import PosttradeRequest, PretradeRequest
from aurora.api.store import StateStore
from aurora.artifact import ArtifactError, Calibration, load_artifact
from aurora.config import Settings
from aurora.core import risk
from aurora.events import EventLog


@dataclass(frozen=True, slots=True)
class _Remembered:
    """What a post-trade report needs of the decision it belongs to."""

    p_tp: float
    slippage_est_bps: float
    latency_ms: float


class GateService:
    """``clock`` gives the current time in epoch seconds (UTC): the decisions' time, cool-offs,
    model age and the day roll (tests inject their own)."""

    def __init__(self, settings: Settings, events: EventLog, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.events = events
        self.clock = clock
        self.limits = risk.limits_from_settings(settings)
        self.metrics = Metrics()
        self.store = StateStore(settings.path(settings.api.state_db))
        self.decision_events = EventWriter(events, settings.api.decision_event_flush_s,
                                           settings.api.decision_event_backlog,
                                           self.metrics.event_write_errors,
                                           self.metrics.events_dropped)
        now = clock()
        state = self.store.load()
        if state is None:
            state = risk.initial_state(settings.account.equity, now, self.limits.day_roll_utc_hour)
            self.store.save(state)
        self.state = state
        self.metrics.set_state(state)
        self.artifact_path = settings.path(settings.api.artifact_path)
        self.calibration: Calibration | None = None
        self.model: risk.Model | None = None
        self.model_error: str | None = None
        self._artifact_stamp: tuple[int, int, int] | None = None
        self._decisions: OrderedDict[str, _Remembered] = OrderedDict()
        self._memory = settings.api.decision_memory
        self._ids = itertools.count(1)
        self._id_prefix = events.run_id + "-"
        events.emit("api.state.loaded", equity=state.equity, drawdown_pct=state.drawdown_pct,
                    dd_breached=state.dd_breached, cooloff_until_s=state.cooloff_until_s,
                    kill_switch=state.kill_switch)
        self.reload("startup")

    # -- artifact -----------------------------------------------------------------------------

    def _stamp(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.artifact_path)
        except OSError:
            return None
        return st.st_ino, st.st_mtime_ns, st.st_size

    def artifact_changed(self) -> bool:
        """True when the artifact file differs (inode, mtime or size) from the one last loaded."""
        return self._stamp() != self._artifact_stamp

    def reload(self, trigger: str) -> str | None:
        """Load the artifact at ``api.artifact_path``; keep the current model if it fails.

        Returns the error message, or None on success.
        """
        stamp = self._stamp()
        try:
            cal = load_artifact(self.artifact_path)
        except ArtifactError as exc:
            self._artifact_stamp = stamp
            self.model_error = str(exc)
            self.metrics.reloads.labels("error").inc()
            self.events.emit("api.artifact.reload_failed", trigger=trigger, path=self.artifact_path,
                             error=self.model_error, kept_version=self.model.version if self.model else None)
            return self.model_error
        b = cal.body.barriers
        self.model = risk.Model(cal.model_version, b.tp_bps, b.sl_bps, cal.created_at.timestamp(),
                                frozenset(cal.body.symbols))
        self.calibration = cal
        self.model_error = None
        self._artifact_stamp = stamp
        self.metrics.reloads.labels("ok").inc()
        self.metrics.model.info({"version": cal.model_version, "sha256": cal.sha256,
                                 "created_at": cal.created_at.isoformat()})
        self.metrics.model_created.set(cal.created_at.timestamp())
        self.events.emit("api.artifact.loaded", trigger=trigger, path=self.artifact_path,
                         model_version=cal.model_version, sha256=cal.sha256,
                         created_at=cal.created_at.isoformat())
        return None

    # -- state --------------------------------------------------------------------------------

    def _commit(self, state: risk.RiskState) -> None:
        self.store.save(state)
        self.state = state
        self.metrics.set_state(state)

    def state_now(self) -> risk.RiskState:
        """The risk state as of now, for reports: a new trading day once the roll time has passed,
        committed (and in the metrics) unless the state store cannot be written right now."""
        now = self.clock()
        try:
            return self._rolled(now)
        except sqlite3.Error:
            return risk.roll_day(self.state, now, self.limits.day_roll_utc_hour)

    def _rolled(self, now: float) -> risk.RiskState:
        state = risk.roll_day(self.state, now, self.limits.day_roll_utc_hour)
        if state is not self.state:
            self._commit(state)
            self.events.emit("api.day.rolled", day_start_s=state.day_start_s, equity=state.equity)
        return state

    def cooloff_s(self, now: float) -> float:
        return max(0.0, self.state.cooloff_until_s - now)

    def set_kill_switch(self, engaged: bool, reason: str) -> risk.RiskState:
        self._commit(risk.set_kill_switch(self.state, engaged, reason))
        self.events.emit("api.kill_switch", engaged=engaged, reason=reason)
        return self.state

    # -- routes -------------------------------------------------------------------------------

    def check(self, body: PretradeRequest) -> dict[str, Any]:
        """Decide one pre-trade request (symbol and regime already validated); every decision is
        an ``api.decision`` event with its inputs, reasons, model version and decision id,
        written by :class:`EventWriter` off the request path."""
        t0 = time.perf_counter()
        now = self.clock()
        state = self._rolled(now)
        req = risk.Request(body.symbol, body.side, body.qty, body.price, body.latency_ms,
                           body.slippage_est_bps, body.spread_bps, body.p_tp, body.e_pi_bps, body.regime,
                           body.sprt_llr)
        model = self.model
        d = risk.decide(req, state, self.limits, model, now)
        if d.start_cooloff_s > 0:
            self._commit(risk.start_cooloff(state, now, d.start_cooloff_s, risk.SPRT))
            self.events.emit("api.cooloff.started", reason=risk.SPRT, seconds=d.start_cooloff_s)
        decision_id = self._id_prefix + str(next(self._ids))
        version = model.version if model is not None else None
        m = self.metrics
        if d.allow:
            m.allow_count.inc()
            self._remember(decision_id, _Remembered(body.p_tp, body.slippage_est_bps, body.latency_ms))
        else:
            m.deny_count.inc()
            for reason in d.reasons:
                m.reason_count[reason].inc()
        m.latency.observe(time.perf_counter() - t0)
        self.decision_events.emit("api.decision", decision_id=decision_id, decided_at_s=now, allow=d.allow,
                                  max_qty=d.max_qty, reasons=d.reasons, cooloff_s=d.cooloff_s,
                                  model_version=version, epi_bps_aurora=d.epi_bps, inputs=body.__dict__)
        return {"allow": d.allow, "max_qty": d.max_qty, "reasons": list(d.reasons), "cooloff_s": d.cooloff_s,
                "decision_id": decision_id, "model_version": version}

    def _remember(self, decision_id: str, item: _Remembered) -> None:
        self._decisions[decision_id] = item
        if len(self._decisions) > self._memory:
            self._decisions.popitem(last=False)

    def posttrade(self, body: PosttradeRequest) -> dict[str, Any]:
        """Apply one post-trade report once (idempotent by client_order_id + status)."""
        now = self.clock()
        m = self.metrics
        if self.store.is_logged(body.client_order_id, body.status):
            m.posttrade.labels(body.status, "duplicate").inc()
            return self._posttrade_out(False, now)
        state = self._rolled(now)
        seen = self._decisions.get(body.decision_id) if body.decision_id else None
        report = risk.PostTrade(body.symbol, body.side, body.qty, body.price, body.fee, body.realized_pnl,
                                body.pnl_bps, body.status, seen.p_tp if seen else None)
        new = risk.apply_posttrade(state, report, self.limits, self.model, now)
        if not self.store.log_posttrade(body.client_order_id, body.status, now, new):
            m.posttrade.labels(body.status, "duplicate").inc()
            return self._posttrade_out(False, now)
        self.state = new
        m.set_state(new)
        m.posttrade.labels(body.status, "applied").inc()
        if body.slippage_bps is not None:
            m.slippage.labels("realized").observe(body.slippage_bps)
            if seen:
                m.slippage.labels("estimated").observe(seen.slippage_est_bps)
        if body.latency_ms is not None:
            m.order_latency.labels("realized").observe(body.latency_ms / 1e3)
            if seen:
                m.order_latency.labels("estimated").observe(seen.latency_ms / 1e3)
        if new.cooloff_until_s > state.cooloff_until_s:
            self.events.emit("api.cooloff.started", reason=new.cooloff_reason,
                             seconds=new.cooloff_until_s - now)
        self.events.emit("api.posttrade", inputs=body.model_dump(mode="json"), equity=new.equity,
                         daily_pnl=new.daily_pnl, drawdown_pct=new.drawdown_pct, dd_breached=new.dd_breached,
                         sprt_llr=new.sprt_llr, cvar_bps=new.cvar_bps, loss_streak=new.loss_streak,
                         slippage_est_bps=seen.slippage_est_bps if seen else None)
        return self._posttrade_out(True, now)

    def _posttrade_out(self, applied: bool, now: float) -> dict[str, Any]:
        s = self.state
        return {"applied": applied, "equity": s.equity, "daily_pnl": s.daily_pnl,
                "drawdown_pct": s.drawdown_pct, "sprt_llr": s.sprt_llr, "cooloff_s": self.cooloff_s(now),
                "kill_switch": s.kill_switch}

    def health(self) -> dict[str, Any]:
        """Liveness and readiness, and the risk state as of now (the day rolled if due)."""
        state = self.state_now()
        now = self.clock()
        cal, model = self.calibration, self.model
        age = now - model.created_at_s if model else None
        fresh = age is not None and age <= self.limits.model_max_age_s
        writable = self.store.writable()
        events_ok = not self.decision_events.failing
        ready = fresh and writable and events_ok
        return {
            "status": "ok" if ready else "not_ready", "ready": ready, "mode": self.settings.api.mode,
            "model": {"loaded": model is not None, "fresh": fresh,
                      "version": model.version if model else None,
                      "sha256": cal.sha256 if cal else None,
                      "created_at": cal.created_at.isoformat() if cal else None,
                      "age_s": age, "error": self.model_error},
            "state_store_writable": writable, "events_writable": events_ok,
            "kill_switch": state.kill_switch,
            "cooloff_s": self.cooloff_s(now), "drawdown_pct": state.drawdown_pct,
        }

    def close(self) -> None:
        self.decision_events.close()
        self.store.close()
        self.events.emit("api.stopped")

