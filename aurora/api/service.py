"""The gate service behind the routes: current model, durable risk state, events and metrics.

All methods run on the event-loop thread (the routes are ``async``), so state changes are
serialised without locks; every change is committed to the :class:`StateStore` before the
route answers. The model reference is swapped in one assignment by :meth:`reload`, so a
request in flight keeps the model it started with and no request is dropped by a reload.
The trading day rolls (``account.day_roll_utc_hour``) on whichever comes first after the roll
time: a check, a post-trade report, ``/health``, ``/metrics`` or the app's once-a-second
maintenance (:meth:`state_now`), so what they report is what the next check would use.

Post-trade reports are idempotent by ``client_order_id`` + ``status``: the same report again
counts once (``applied: false``); the same key with a different payload is a conflict (409
listing the differing fields, an ``api.posttrade.conflict`` event), never silently dropped.
Money fields are bounded relative to the account and the report's own notional
(``api.max_pnl_equity_ratio``, ``api.max_pnl_notional_ratio``, ``api.max_fee_notional_ratio``):
one bad report cannot wreck the durable equity; an operator corrects what got through with
``POST /admin/equity`` (:meth:`GateService.correct_equity`, audited as an event).
"""

from __future__ import annotations

import itertools
import os
import re
import sqlite3
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from aurora import signing
from aurora.api.clock import RequestClock
from aurora.api.eventwriter import EventWriter
from aurora.api.metrics import Metrics
from aurora.api.schemas import PosttradeRequest, PretradeRequest
from aurora.api.store import StateStore
from aurora.artifact import ArtifactError, Calibration, canonical_json, load_artifact
from aurora.config import Settings
from aurora.core import risk
from aurora.events import EventLog

#: An absolute POSIX path in a message (after the artifact path and AURORA_HOME were rewritten).
_ABSOLUTE_PATH = re.compile(r"(?<![\w.$<])/[^\s'\",;:]+")


@dataclass(frozen=True, slots=True)
class _Remembered:
    """What a post-trade report needs of the decision it belongs to."""

    p_tp: float
    slippage_est_bps: float
    latency_ms: float


class GateService:
    """``clock`` gives the current time in epoch seconds (UTC): the decisions' time, cool-offs,
    model age and the day roll (tests inject their own). With ``api.clock: request`` it is the
    requests' ``ts`` instead (:class:`~aurora.api.clock.RequestClock` over ``clock``), and a risk
    state this start creates is dated by the first request."""

    def __init__(self, settings: Settings, events: EventLog, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.events = events
        self.request_clock = RequestClock(clock) if settings.api.clock == "request" else None
        self.clock: Callable[[], float] = clock if self.request_clock is None else self.request_clock
        self.limits = risk.limits_from_settings(settings)
        self.metrics = Metrics()
        self.metrics.drawdown_limit.set(self.limits.daily_dd_limit_pct / 100.0)
        self.metrics.model_max_age.set(self.limits.model_max_age_s)
        self.store = StateStore(settings.path(settings.api.state_db))
        self.decision_events = EventWriter(events, settings.api.decision_event_flush_s,
                                           settings.api.decision_event_backlog,
                                           self.metrics.event_write_errors,
                                           self.metrics.events_dropped)
        now = self.clock()
        state = self.store.load()
        self._undated = state is None and self.request_clock is not None
        if state is None:
            state = risk.initial_state(settings.account.equity, now, self.limits.day_roll_utc_hour)
            self.store.save(state)
        self.state = state
        self.metrics.set_state(state)
        self.artifact_path = settings.path(settings.api.artifact_path)
        self.artifact_key = signing.configured_key(home=settings.home)  # required in live mode (app)
        self.calibration: Calibration | None = None
        self.model: risk.Model | None = None
        self.model_error: str | None = None
        self.costs_mismatch: str | None = None
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
            cal = load_artifact(self.artifact_path, self.artifact_key, self.settings.api.mode == "live")
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
        self._compare_costs(cal)
        return None

    def _compare_costs(self, cal: Calibration) -> None:
        """Say so (event, metric, ``/health``) when the artifact was fitted with other costs than the
        configured ones: its E[Π] (and so every gate on it) uses the artifact's costs."""
        fitted, configured = cal.body.costs, self.settings.costs
        differ = {k: {"artifact": getattr(fitted, k), "configured": getattr(configured, k)}
                  for k in ("fee_bps", "slippage_bps") if getattr(fitted, k) != getattr(configured, k)}
        self.costs_mismatch = None if not differ else (
            "artifact {} was fitted with other costs than configured ({}); Aurora's E[Π] uses the "
            "artifact's: recalibrate, or set costs.* to match".format(cal.model_version, ", ".join(
                f"{k} {v['artifact']} vs {v['configured']}" for k, v in differ.items())))
        self.metrics.costs_mismatch.set(1.0 if differ else 0.0)
        if differ:
            self.events.emit("api.artifact.costs_mismatch", model_version=cal.model_version, costs=differ)

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

    def _now(self, ts: datetime | None) -> float:
        """The time a request is decided at: the clock, or with ``api.clock: request`` its ``ts``
        (422 without one, or one before the trading day of a state it did not create)."""
        rc = self.request_clock
        if rc is None:
            return self.clock()
        if ts is None:
            raise RequestValidationError([{"loc": ("body", "ts"), "type": "missing", "msg": (
                "api.clock is request: every request must carry its ts (ISO-8601), Aurora's time")}])
        t = ts.timestamp()
        if self._undated:  # a fresh state begins on the first request's day, not the server's
            self._undated = False
            self._commit(risk.initial_state(self.settings.account.equity, t, self.limits.day_roll_utc_hour))
        elif max(t, rc.now if rc.now is not None else t) < self.state.day_start_s:
            raise RequestValidationError([{"loc": ("body", "ts"), "type": "greater_than_equal", "msg": (
                f"ts {ts.isoformat()} is before the trading day of the stored risk state "
                f"({self.state.day_start_s:.0f} s): api.clock request runs forward in time; give a "
                "replay of an earlier period an api.state_db of its own")}])
        return rc.advance(t)

    def cooloff_s(self, now: float) -> float:
        return max(0.0, self.state.cooloff_until_s - now)

    def set_kill_switch(self, engaged: bool, reason: str) -> risk.RiskState:
        self._commit(risk.set_kill_switch(self.state, engaged, reason))
        self.events.emit("api.kill_switch", engaged=engaged, reason=reason)
        return self.state

    def correct_equity(self, equity: float, reason: str, client_order_id: str | None) -> risk.RiskState:
        """Operator correction of the equity (e.g. after a bad post-trade report), committed and
        audited: an ``api.admin.equity_corrected`` event with the state before and after."""
        before = self._rolled(self.clock())
        self._commit(risk.correct_equity(before, equity, self.limits))
        after = self.state
        self.events.emit("api.admin.equity_corrected", reason=reason, client_order_id=client_order_id,
                         equity_before=before.equity, equity_after=after.equity,
                         daily_pnl_before=before.daily_pnl, daily_pnl_after=after.daily_pnl,
                         dd_breached_before=before.dd_breached, dd_breached_after=after.dd_breached)
        return after

    # -- routes -------------------------------------------------------------------------------

    def check(self, body: PretradeRequest) -> dict[str, Any]:
        """Decide one pre-trade request (symbol and regime already validated); every decision is
        an ``api.decision`` event with its inputs, reasons, model version and decision id,
        written by :class:`EventWriter` off the request path."""
        t0 = time.perf_counter()
        now = self._now(body.ts)
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
                "decision_id": decision_id, "model_version": version, "e_pi_bps": body.e_pi_bps,
                "e_pi_bps_aurora": d.epi_bps}

    def _remember(self, decision_id: str, item: _Remembered) -> None:
        self._decisions[decision_id] = item
        if len(self._decisions) > self._memory:
            self._decisions.popitem(last=False)

    def posttrade(self, body: PosttradeRequest) -> dict[str, Any]:
        """Apply one post-trade report once (idempotent by client_order_id + status); 409 for the
        same key with another payload, 422 for money fields out of bounds."""
        now = self._now(body.ts)
        m = self.metrics
        payload = body.model_dump(mode="json")
        logged = self.store.logged_payload(body.client_order_id, body.status)
        if logged is not None:
            self._check_same(body, payload, logged)
            m.posttrade.labels(body.status, "duplicate").inc()
            return self._posttrade_out(False, now)
        state = self._rolled(now)
        self._check_money(body, state.equity)
        seen = self._decisions.get(body.decision_id) if body.decision_id else None
        report = risk.PostTrade(body.symbol, body.side, body.qty, body.price, body.fee, body.realized_pnl,
                                body.pnl_bps, body.status, seen.p_tp if seen else None)
        new = risk.apply_posttrade(state, report, self.limits, self.model, now)
        if not self.store.log_posttrade(body.client_order_id, body.status, now, new, canonical_json(payload)):
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
        self.events.emit("api.posttrade", inputs=payload, equity=new.equity,
                         daily_pnl=new.daily_pnl, drawdown_pct=new.drawdown_pct, dd_breached=new.dd_breached,
                         sprt_llr=new.sprt_llr, cvar_bps=new.cvar_bps, loss_streak=new.loss_streak,
                         slippage_est_bps=seen.slippage_est_bps if seen else None)
        return self._posttrade_out(True, now)

    def _check_same(self, body: PosttradeRequest, payload: dict[str, Any], logged: bytes) -> None:
        """409 naming every field that differs from the report logged under the same key (reports
        logged before payloads were kept compare as equal)."""
        if not logged:
            return
        before = orjson.loads(logged)
        differences = {k: {"logged": before.get(k), "received": payload.get(k)}
                       for k in sorted(before.keys() | payload.keys()) if before.get(k) != payload.get(k)}
        if not differences:
            return
        self.metrics.posttrade.labels(body.status, "conflict").inc()
        self.events.emit("api.posttrade.conflict", client_order_id=body.client_order_id, status=body.status,
                         differences=differences)
        raise HTTPException(409, detail={
            "msg": f"client_order_id {body.client_order_id!r} with status {body.status!r} was already "
                   "logged with another payload; nothing was applied (a correction goes through "
                   "POST /admin/equity)", "differences": differences})

    def _check_money(self, body: PosttradeRequest, equity: float) -> None:
        """422 naming each money field beyond its bound (relative to equity and notional)."""
        api = self.settings.api
        notional = body.qty * body.price
        pnl_cap = min(api.max_pnl_equity_ratio * max(equity, 0.0), api.max_pnl_notional_ratio * notional)
        fee_cap = api.max_fee_notional_ratio * notional
        errors = []
        if abs(body.realized_pnl) > pnl_cap:
            errors.append({"loc": ("body", "realized_pnl"), "type": "less_than_equal", "msg": (
                f"|realized_pnl| {abs(body.realized_pnl):g} is over its bound {pnl_cap:g}: the smaller of "
                f"api.max_pnl_equity_ratio {api.max_pnl_equity_ratio:g} x equity {equity:g} and "
                f"api.max_pnl_notional_ratio {api.max_pnl_notional_ratio:g} x qty*price {notional:g}")})
        if abs(body.fee) > fee_cap:
            errors.append({"loc": ("body", "fee"), "type": "less_than_equal", "msg": (
                f"|fee| {abs(body.fee):g} is over its bound {fee_cap:g}: api.max_fee_notional_ratio "
                f"{api.max_fee_notional_ratio:g} x qty*price {notional:g}")})
        if errors:
            self.metrics.posttrade.labels(body.status, "refused").inc()
            raise RequestValidationError(errors)

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
        ready = fresh and writable and events_ok  # the kill switch is a decision, not a fault (see Health)
        return {
            "status": "ok" if ready else "not_ready", "ready": ready, "mode": self.settings.api.mode,
            "model": {"loaded": model is not None, "fresh": fresh,
                      "version": model.version if model else None,
                      "sha256": cal.sha256 if cal else None,
                      "created_at": cal.created_at.isoformat() if cal else None,
                      "age_s": age, "error": self._public(self.model_error),
                      "costs_match": self.costs_mismatch is None if cal else None,
                      "costs_mismatch": self.costs_mismatch},
            "state_store_writable": writable, "events_writable": events_ok,
            "kill_switch": state.kill_switch,
            "cooloff_s": self.cooloff_s(now), "drawdown_pct": state.drawdown_pct,
        }

    def _public(self, message: str | None) -> str | None:
        """``message`` without absolute file paths (``/health`` is open to anyone): the artifact as
        configured (relative to AURORA_HOME), any other absolute path as ``<path>``."""
        if message is None:
            return None
        text = message.replace(str(self.artifact_path), str(self.settings.api.artifact_path))
        return _ABSOLUTE_PATH.sub("<path>", text.replace(str(self.settings.home), "$AURORA_HOME"))

    def close(self) -> None:
        self.decision_events.close()
        self.store.close()
        self.events.emit("api.stopped")

