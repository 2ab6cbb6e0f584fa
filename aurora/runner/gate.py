"""Gate clients: Aurora's pre-trade check and post-trade log, in process or over HTTP.

The runner asks through :class:`Gate`: ``ask(request, on_reply)`` calls ``on_reply`` with the
decision, at once (in process, or blocking over HTTP in replay) or later from the event loop (the
live loop's asynchronous client, :class:`AsyncHttpGate` behind ``aurora.runner.live``).

The in-process gate runs Aurora's own pure core (:func:`aurora.core.risk.decide` and the state
transitions, as the API's service does) on the caller's clock — market time in replay — with a
fresh risk state per run. The HTTP gates (:class:`HttpGate` blocking, :class:`AsyncHttpGate` for
the asyncio loop of the live modes) call ``/pretrade/check`` and ``/posttrade/log`` with the
bearer token and the client order id, timeout ``http.timeout_s`` and ``runner.gate_retries``
retries (backoff ``http.backoff_initial_s`` doubling up to ``http.backoff_max_s``); a pre-trade
check that gets no answer — timeout, 5xx, refused connection, malformed reply — returns a
:class:`GateReply` that does not allow, with reason ``GATE_UNAVAILABLE``: no allow, no order.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import partial
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

    def ask(self, req: GateRequest, on_reply: Callable[[GateReply], None]) -> None:
        """Check ``req``; ``on_reply`` gets the decision, now or later (never twice, never not)."""
        ...

    def report(self, rep: TradeReport) -> bool:
        """Log one report; False when it could not be delivered (after the retries)."""
        ...


def _iso(ts_s: float) -> str:
    return datetime.fromtimestamp(ts_s, UTC).isoformat().replace("+00:00", "Z")


class _AnswersAtOnce(ABC):
    """A gate whose :meth:`check` decides before it returns."""

    @abstractmethod
    def check(self, req: GateRequest) -> GateReply: ...

    def ask(self, req: GateRequest, on_reply: Callable[[GateReply], None]) -> None:
        on_reply(self.check(req))


class InProcessGate(_AnswersAtOnce):
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


class AsyncHttpGate:
    """Aurora over HTTP (``runner.aurora_url``), bearer token from ``AURORA_API_TOKEN``, for an
    asyncio loop: the loop keeps running while Aurora answers (or does not)."""

    def __init__(self, settings: Settings, base_url: str,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        token = settings.api_token.get_secret_value() if settings.api_token else None
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client = httpx.AsyncClient(base_url=base_url, headers=headers, timeout=settings.http.timeout_s,
                                         transport=transport)
        self._retries = settings.runner.gate_retries
        self._backoff = (settings.http.backoff_initial_s, settings.http.backoff_max_s)
        # from Aurora's answers to post-trade reports (its durable state; unknown before the first)
        self.equity: float | None = None
        self.drawdown_pct: float | None = None

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST with bounded retries on timeouts, connection errors and 5xx; raises the last error."""
        delay, cap = self._backoff
        for attempt in range(self._retries + 1):
            try:
                resp = await self._client.post(path, json=body)
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
            await asyncio.sleep(delay)
            delay = min(cap, delay * 2)
        raise AssertionError("unreachable")

    async def check(self, req: GateRequest) -> GateReply:
        body = {**asdict(req.request), "client_order_id": req.client_order_id, "ts": _iso(req.ts_s)}
        try:
            out = await self._post("/pretrade/check", body)
            return GateReply(bool(out["allow"]), float(out["max_qty"]), tuple(out["reasons"]),
                             float(out["cooloff_s"]), str(out["decision_id"]))
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            return GateReply(False, 0.0, (GATE_UNAVAILABLE,), 0.0, None, error=f"{type(exc).__name__}: {exc}")

    async def report(self, rep: TradeReport) -> bool:
        body = asdict(rep)
        body["ts"] = _iso(body.pop("ts_s"))
        body = {k: v for k, v in body.items() if v is not None}
        try:
            out = await self._post("/posttrade/log", body)
        except (httpx.HTTPError, ValueError):
            return False
        equity, dd = out.get("equity"), out.get("drawdown_pct")
        if isinstance(equity, int | float) and isinstance(dd, int | float):
            self.equity, self.drawdown_pct = float(equity), float(dd)
        return True

    async def aclose(self) -> None:
        await self._client.aclose()


class HttpGate(_AnswersAtOnce):
    """:class:`AsyncHttpGate` for a caller without an event loop (replay: the market waits for the
    gate), run to completion on a private loop: one definition of the requests and retries."""

    def __init__(self, settings: Settings, base_url: str,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._loop = asyncio.new_event_loop()
        self._gate = AsyncHttpGate(settings, base_url, transport)

    def check(self, req: GateRequest) -> GateReply:
        return self._loop.run_until_complete(self._gate.check(req))

    def report(self, rep: TradeReport) -> bool:
        return self._loop.run_until_complete(self._gate.report(rep))

    def close(self) -> None:
        self._loop.run_until_complete(self._gate.aclose())
        self._loop.close()

    @property
    def equity(self) -> float | None:
        return self._gate.equity

    @property
    def drawdown_pct(self) -> float | None:
        return self._gate.drawdown_pct


class LoopGate:
    """The runner's :class:`Gate` in the live loop, over an :class:`AsyncHttpGate`: every ask and
    report runs as a task, so the loop never waits on Aurora. An answer is handed to ``deliver``
    as a call to make (the live loop queues it behind the market events already received, so the
    runner only ever runs from the loop's own turn, and an error in it surfaces there). Reports
    are sent in the background; ``undelivered`` counts those that failed after the retries."""

    def __init__(self, gate: AsyncHttpGate, deliver: Callable[[Callable[[], None]], None]) -> None:
        self.gate = gate
        self.deliver = deliver
        self.undelivered = 0
        self._tasks: set[asyncio.Task[Any]] = set()

    def _spawn(self, coro: Any, done: Callable[[asyncio.Task[Any]], None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(lambda t: None if t.cancelled() else done(t))

    def ask(self, req: GateRequest, on_reply: Callable[[GateReply], None]) -> None:
        self._spawn(self.gate.check(req), lambda t: self.deliver(partial(on_reply, t.result())))

    def report(self, rep: TradeReport) -> bool:
        """Queued, not yet delivered: True (a failure is counted in ``undelivered``)."""
        def count(t: asyncio.Task[Any]) -> None:
            self.undelivered += not t.result()
        self._spawn(self.gate.report(rep), count)
        return True

    @property
    def equity(self) -> float | None:
        return self.gate.equity

    @property
    def drawdown_pct(self) -> float | None:
        return self.gate.drawdown_pct

    async def drain(self) -> None:
        """Wait for every check and report in flight (each is bounded by its timeout and retries)."""
        while self._tasks:
            await asyncio.gather(*self._tasks)

    async def aclose(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.gate.aclose()
