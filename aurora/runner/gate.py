"""Gate clients: Aurora's pre-trade check and post-trade log, in process or over HTTP.

Both implement :class:`Gate`. The in-process gate runs Aurora's own pure core
(:func:`aurora.core.risk.decide` and the state transitions, as the API's service does) on the
caller's clock — market time in replay — with a fresh risk state per run. The HTTP gate calls
``/pretrade/check`` and ``/posttrade/log`` with the bearer token, timeout ``http.timeout_s`` and
``runner.gate_retries`` retries (backoff ``http.backoff_initial_s`` doubling up to
``http.backoff_max_s``); a pre-trade check that gets no answer — timeout, 5xx, refused
connection, malformed reply — returns a :class:`GateReply` that does not allow, with reason
``GATE_UNAVAILABLE``: no allow, no order.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx

from aurora.artifact import Calibration
from aurora.config import Settings
from aurora.core import risk

#: Reason of a pre-trade check that got no decision from the gate (not one of Aurora's codes).
GATE_UNAVAILABLE = "GATE_UNAVAILABLE"


@dataclass(frozen=True, slots=True)
class GateRequest:
    """A pre-trade check (DESIGN.md §6): Aurora's request, the client order id, and the runner's
    time ``ts_s`` in epoch seconds."""

    request: risk.Request
    client_order_id: str
    ts_s: float


@dataclass(frozen=True, slots=True)
class GateReply:
    allow: bool
    max_qty: float
    reasons: tuple[str, ...]
    cooloff_s: float
    decision_id: str | None
    error: str | None = None  # why there was no decision (with GATE_UNAVAILABLE)


@dataclass(frozen=True, slots=True)
class TradeReport:
    """A post-trade report (DESIGN.md §6), quote-currency amounts, ``ts_s`` epoch seconds."""

    client_order_id: str
    symbol: str
    side: str
    qty: float
    price: float
    fee: float
    realized_pnl: float
    pnl_bps: float
    status: str
    ts_s: float
    decision_id: str | None
    slippage_bps: float | None
    latency_ms: float | None


class Gate(Protocol):
    #: the gate's equity (quote) and daily drawdown (percent) as last known; None until known
    equity: float | None
    drawdown_pct: float | None

    def check(self, req: GateRequest) -> GateReply: ...

    def report(self, rep: TradeReport) -> bool:
        """Log one report; False when it could not be delivered (after the retries)."""
        ...

    def close(self) -> None: ...


def _iso(ts_s: float) -> str:
    return datetime.fromtimestamp(ts_s, UTC).isoformat().replace("+00:00", "Z")


class InProcessGate:
    """Aurora's gates and risk-state transitions run here, on the requests' ``ts_s`` clock.

    ``decision_id`` is ``<run_tag>-<n>``, so a replay gives the same ids every time."""

    def __init__(self, settings: Settings, cal: Calibration, run_tag: str, start_s: float) -> None:
        self.limits = risk.limits_from_settings(settings)
        b = cal.body.barriers
        self.model = risk.Model(cal.model_version, b.tp_bps, b.sl_bps, cal.created_at.timestamp(),
                                frozenset(cal.body.symbols))
        self.state = risk.initial_state(settings.account.equity, start_s, self.limits.day_roll_utc_hour)
        self._run_tag = run_tag
        self._n = 0
        self._p: dict[str, float] = {}  # decision id → the p it was allowed on (for the SPRT)

    @property
    def equity(self) -> float:
        return self.state.equity

    @property
    def drawdown_pct(self) -> float:
        return self.state.drawdown_pct

    def check(self, req: GateRequest) -> GateReply:
        now = req.ts_s
        state = risk.roll_day(self.state, now, self.limits.day_roll_utc_hour)
        d = risk.decide(req.request, state, self.limits, self.model, now)
        if d.start_cooloff_s > 0:
            state = risk.start_cooloff(state, now, d.start_cooloff_s, risk.SPRT)
        self.state = state
        self._n += 1
        decision_id = f"{self._run_tag}-{self._n}"
        if d.allow:
            self._p[decision_id] = req.request.p_tp
        return GateReply(d.allow, d.max_qty, d.reasons, d.cooloff_s, decision_id)

    def report(self, rep: TradeReport) -> bool:
        now = rep.ts_s
        state = risk.roll_day(self.state, now, self.limits.day_roll_utc_hour)
        p = self._p.get(rep.decision_id) if rep.decision_id else None
        post = risk.PostTrade(rep.symbol, rep.side, rep.qty, rep.price, rep.fee, rep.realized_pnl,
                              rep.pnl_bps, rep.status, p)
        self.state = risk.apply_posttrade(state, post, self.limits, self.model, now)
        return True

    def close(self) -> None:
        return None


class HttpGate:
    """Aurora over HTTP (``runner.aurora_url``), bearer token from ``AURORA_API_TOKEN``."""

    def __init__(self, settings: Settings, base_url: str,
                 transport: httpx.BaseTransport | None = None) -> None:
        token = settings.api_token.get_secret_value() if settings.api_token else None
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client = httpx.Client(base_url=base_url, headers=headers, timeout=settings.http.timeout_s,
                                    transport=transport)
        self._retries = settings.runner.gate_retries
        self._backoff = (settings.http.backoff_initial_s, settings.http.backoff_max_s)
        # from Aurora's answers to post-trade reports (its durable state; unknown before the first)
        self.equity: float | None = None
        self.drawdown_pct: float | None = None

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST with bounded retries on timeouts, connection errors and 5xx; raises the last error."""
        delay, cap = self._backoff
        for attempt in range(self._retries + 1):
            try:
                resp = self._client.post(path, json=body)
                if resp.status_code < 500:
                    resp.raise_for_status()
                    out = resp.json()
                    if not isinstance(out, dict):
                        raise ValueError(f"{path} answered {type(out).__name__}, not an object")
                    return out
                err: Exception = httpx.HTTPStatusError(f"{path} answered {resp.status_code}",
                                                       request=resp.request, response=resp)
            except (httpx.TransportError, httpx.HTTPStatusError, ValueError) as exc:
                if isinstance(exc, httpx.HTTPStatusError) and exc.response.status_code < 500:
                    raise  # a 4xx is our request's fault: retrying sends the same bad request
                err = exc
            if attempt == self._retries:
                raise err
            time.sleep(delay)
            delay = min(cap, delay * 2)
        raise AssertionError("unreachable")

    def check(self, req: GateRequest) -> GateReply:
        body = {**asdict(req.request), "client_order_id": req.client_order_id, "ts": _iso(req.ts_s)}
        try:
            out = self._post("/pretrade/check", body)
            return GateReply(bool(out["allow"]), float(out["max_qty"]), tuple(out["reasons"]),
                             float(out["cooloff_s"]), str(out["decision_id"]))
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            return GateReply(False, 0.0, (GATE_UNAVAILABLE,), 0.0, None, error=f"{type(exc).__name__}: {exc}")

    def report(self, rep: TradeReport) -> bool:
        body = asdict(rep)
        body["ts"] = _iso(body.pop("ts_s"))
        body = {k: v for k, v in body.items() if v is not None}
        try:
            out = self._post("/posttrade/log", body)
        except (httpx.HTTPError, ValueError):
            return False
        equity, dd = out.get("equity"), out.get("drawdown_pct")
        if isinstance(equity, int | float) and isinstance(dd, int | float):
            self.equity, self.drawdown_pct = float(equity), float(dd)
        return True

    def close(self) -> None:
        self._client.close()

