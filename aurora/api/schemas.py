"""Request and response bodies of the Aurora API (contract: DESIGN.md §6).

Numbers are strict: a JSON string or boolean is not a number, NaN and ±inf are refused, and
every magnitude is bounded so that no accepted input can overflow the risk arithmetic. Unknown
fields are refused. Symbols and regimes are checked against the configuration by the routes
(a 422 naming the field, like any other validation error).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field

from aurora.core import risk
from aurora.core.symbols import SYMBOL_PATTERN

Side = Literal["buy", "sell"]
Status = Literal["filled", "closed", "canceled", "rejected"]
Symbol = Annotated[str, Field(pattern=SYMBOL_PATTERN, description="exchange symbol, e.g. BTCUSDT")]


def _iso_string(value: object) -> object:
    """Only an ISO-8601 date-time string with a timezone (pydantic alone also takes epoch numbers
    and numeric strings such as "3", which the OpenAPI ``date-time`` format does not)."""
    try:
        text = value.upper() if isinstance(value, str) else ""  # RFC 3339 allows "t" and "z"
        parsed = datetime.fromisoformat(text) if "T" in text else None
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise ValueError("must be an ISO-8601 date-time string with a timezone, e.g. 2026-01-01T00:00:00Z")
    return parsed


IsoTime = Annotated[AwareDatetime, BeforeValidator(_iso_string)]
OrderId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")]


def num(*, description: str, ge: float | None = None, gt: float | None = None,
        le: float | None = None, lim: float = 1e12, default: object = ...) -> Any:
    """A strict finite float field bounded to [-lim, lim] unless tighter bounds are given."""
    return Field(default, strict=True, allow_inf_nan=False, description=description,
                 ge=-lim if ge is None and gt is None else ge, gt=gt, le=lim if le is None else le)


#: What each deny reason code means (every one of :data:`aurora.core.risk.REASONS`).
REASON_DOCS = {
    risk.LATENCY: "runner's latency_ms above risk.latency_ms_limit",
    risk.SPREAD: "spread_bps above risk.spread_bps_limit",
    risk.SLIPPAGE: "slippage_est_bps above risk.slippage_bps_limit",
    risk.EPI_BELOW_MIN: "the runner's or Aurora's E[Π] at or below risk.pi_min_bps",
    risk.EPI_MISMATCH: "e_pi_bps off Aurora's (recomputed from p_tp) by more than risk.epi_tolerance_bps",
    risk.DAILY_DD: "today's drawdown from the day's peak equity reached risk.daily_dd_limit_pct",
    risk.CVAR: "CVaR of the recent trade returns below -risk.cvar_limit_bps",
    risk.SPRT: "an SPRT (Aurora's on closed trades, or the runner's sprt_llr) says the edge is gone",
    risk.COOLOFF: "a cool-off is running (cooloff_s says how long)",
    risk.KILL_SWITCH: "the kill switch is engaged",
    risk.MODEL_MISSING: "no calibration artifact is loaded",
    risk.MODEL_STALE: "the artifact is older than risk.model_max_age_s",
    risk.REGIME: "the regime does not allow trading",
    risk.SIZE_BELOW_MIN: "the allowed size is below the symbol's min qty or min notional",
    risk.SYMBOL_UNKNOWN: "the loaded artifact does not cover this symbol, or it has no exchange filters",
}
Reason = Annotated[str, Field(json_schema_extra={"enum": list(risk.REASONS)})]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PretradeRequest(_Body):
    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra={"examples": [{
        "symbol": "BTCUSDT", "side": "buy", "qty": 0.01, "price": 65000.0, "latency_ms": 12.5,
        "slippage_est_bps": 0.8, "spread_bps": 1.2, "p_tp": 0.62, "e_pi_bps": 0.4,
        "regime": "normal", "sprt_llr": 0.3, "client_order_id": "ws-20260101-000001"}]})

    symbol: Symbol
    side: Side
    qty: float = num(gt=0, le=1e9, description="requested quantity, base asset")
    price: float = num(gt=0, le=1e9, description="intended price, quote per base")
    latency_ms: float = num(ge=0, le=1e7, description="runner's measured decision latency, ms")
    slippage_est_bps: float = num(ge=0, le=1e6, description="expected slippage, bps")
    spread_bps: float = num(ge=0, le=1e6, description="current bid-ask spread, bps of mid")
    p_tp: float = num(ge=0, le=1, description="calibrated probability the take-profit is hit first")
    e_pi_bps: float = num(lim=1e6, description="runner's expected return after costs, bps")
    regime: str = Field(min_length=1, max_length=64, description="market regime, one of risk.regimes")
    sprt_llr: float = num(lim=1e6, description="runner's SPRT log-likelihood ratio")
    client_order_id: OrderId | None = None
    ts: IsoTime | None = Field(default=None, description="runner's time of the request (ISO-8601)")


class PretradeResponse(_Body):
    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra={"examples": [{
        "allow": True, "max_qty": 0.0076, "reasons": [], "cooloff_s": 0.0,
        "decision_id": "20260101T000000Z-1a2b3c4d-42", "model_version": "2026-01-01.1",
        "e_pi_bps": 0.4, "e_pi_bps_aurora": 0.35}]})

    allow: bool
    max_qty: float = Field(description="largest quantity allowed, rounded down to the lot step; 0 on deny")
    reasons: list[Reason] = Field(description="every failing gate (empty on allow):\n" + "\n".join(
        f"- `{code}`: {REASON_DOCS[code]}" for code in risk.REASONS))
    cooloff_s: float = Field(description="seconds of cool-off remaining")
    decision_id: str
    model_version: str | None
    e_pi_bps: float = Field(description="the runner's E[Π] as received, bps after costs")
    e_pi_bps_aurora: float | None = Field(description="Aurora's own E[Π] from p_tp and the artifact's "
                                                      "barriers and costs, bps; null without a model")


class PosttradeRequest(_Body):
    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra={"examples": [{
        "client_order_id": "ws-20260101-000001", "symbol": "BTCUSDT", "side": "sell", "qty": 0.0076,
        "price": 65070.0, "fee": 0.49, "realized_pnl": 0.53, "pnl_bps": 10.7, "status": "closed",
        "ts": "2026-01-01T00:00:31.5Z", "decision_id": "20260101T000000Z-1a2b3c4d-42",
        "slippage_bps": 0.6, "latency_ms": 14.0}]})

    client_order_id: OrderId
    symbol: Symbol
    side: Side
    qty: float = num(ge=0, le=1e9, description="filled quantity, base asset")
    price: float = num(gt=0, le=1e9, description="average fill price")
    fee: float = num(description="fee paid, quote currency (negative for a rebate); |fee| at most "
                                 "api.max_fee_notional_ratio x qty x price, else 422")
    realized_pnl: float = num(description="realised P&L before fees, quote currency; 0 for an entry fill. "
                                          "|realized_pnl| at most api.max_pnl_equity_ratio x equity and "
                                          "api.max_pnl_notional_ratio x qty x price, else 422")
    pnl_bps: float = num(lim=1e6, description="return of the closed trade, bps of entry; 0 otherwise")
    status: Status
    ts: IsoTime
    decision_id: str | None = Field(default=None, max_length=128)
    slippage_bps: float | None = num(lim=1e6, default=None, description="realised slippage, bps")
    latency_ms: float | None = num(ge=0, le=1e7, default=None, description="realised order latency, ms")


class PosttradeResponse(_Body):
    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra={"examples": [{
        "applied": True, "equity": 10000.04, "daily_pnl": 0.04, "drawdown_pct": 0.0, "sprt_llr": 0.14,
        "cooloff_s": 0.0, "kill_switch": False}]})

    applied: bool = Field(description="false when this client_order_id + status was already logged")
    equity: float
    daily_pnl: float
    drawdown_pct: float
    sprt_llr: float
    cooloff_s: float
    kill_switch: bool


class KillSwitchRequest(_Body):
    model_config = ConfigDict(extra="forbid", frozen=True,
                              json_schema_extra={"examples": [{"engaged": True, "reason": "manual stop"}]})

    engaged: bool = Field(strict=True)
    reason: str = Field(default="", max_length=500)


class KillSwitchResponse(_Body):
    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra={
        "examples": [{"kill_switch": True, "reason": "manual stop"}]})

    kill_switch: bool
    reason: str


class EquityCorrection(_Body):
    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra={"examples": [{
        "equity": 10000.0, "reason": "report ws-1 had realized_pnl -1e6 (runner bug #42)",
        "client_order_id": "ws-1"}]})

    equity: float = num(ge=0, description="the corrected equity, quote currency")
    reason: str = Field(min_length=1, max_length=500, description="why (kept in the audit event)")
    client_order_id: OrderId | None = Field(default=None, description="the report being corrected, if any")


class EquityCorrectionResponse(_Body):
    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra={"examples": [{
        "equity": 10000.0, "daily_pnl": 0.0, "drawdown_pct": 0.0, "dd_breached": False, "cooloff_s": 0.0}]})

    equity: float
    daily_pnl: float
    drawdown_pct: float
    dd_breached: bool
    cooloff_s: float


class Difference(_Body):
    logged: Any
    received: Any


class ConflictDetail(_Body):
    msg: str
    differences: dict[str, Difference]


class ConflictBody(_Body):
    detail: ConflictDetail


class ReloadResponse(_Body):
    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra={"examples": [{
        "reloaded": True, "model_version": "2026-01-01.1", "sha256": "ab12…", "error": None}]})

    reloaded: bool
    model_version: str | None
    sha256: str | None
    error: str | None


class ModelHealth(_Body):
    loaded: bool
    fresh: bool
    version: str | None
    sha256: str | None
    created_at: str | None
    age_s: float | None
    error: str | None = Field(description="why the last load failed (absolute paths left out)")
    costs_match: bool | None = Field(description="the artifact's costs equal the configured costs.* "
                                                 "(null without an artifact)")
    costs_mismatch: str | None = Field(description="how they differ, when they do")


class Health(_Body):
    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra={"examples": [{
        "status": "ok", "ready": True, "mode": "replay", "model": {
            "loaded": True, "fresh": True, "version": "2026-01-01.1", "sha256": "ab12…",
            "created_at": "2026-01-01T00:00:00Z", "age_s": 3600.0, "error": None, "costs_match": True,
            "costs_mismatch": None},
        "state_store_writable": True, "events_writable": True, "kill_switch": False,
        "cooloff_s": 0.0, "drawdown_pct": 0.0}]})

    status: Literal["ok", "not_ready"]
    ready: bool = Field(description=(
        "true when Aurora can decide correctly: a fresh artifact is loaded, the risk state store and the "
        "decision event log are writable. An engaged kill switch, a cool-off or a drawdown breach do "
        "not make it unready: those are decisions (every check is denied, with its reason), and an "
        "orchestrator must not restart or route around a gate that is denying on purpose"))
    mode: str
    model: ModelHealth
    state_store_writable: bool
    events_writable: bool = Field(description="decision events are being written (False while "
                                              "appends to the event log fail; they are retried)")
    kill_switch: bool
    cooloff_s: float
    drawdown_pct: float


class ErrorItem(_Body):
    loc: list[str | int]
    field: str
    msg: str
    type: str


class ValidationErrorBody(_Body):
    detail: list[ErrorItem]


class ErrorBody(_Body):
    detail: str
