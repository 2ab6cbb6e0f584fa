"""The runner's order records (``orders_{success,failed,denied}.jsonl``) as one tidy frame.

A record is one ``order.<outcome>`` event written by :class:`aurora.runner.orderlog.OrderLog`:
the intent (``leg`` entry|exit, ``client_order_id``, ``seq_no`` shared by a trade's entry and
its exits, ``market_ts_ns`` the market time it was decided at, p, E[Π] and the slippage
estimate for an entry), the gate's answer (``gate``, entries only), and the fill (``fill``) or the
error (``error_class``, ``error``). An exit fill also carries the trade's P&L: ``realized_pnl``
(gross, quote), ``net_pnl_quote`` (after the entry fee share and the exit fee) and ``pnl_bps``.

Pure: takes the decoded records, returns the frame and what was not understood. A record that
does not validate is left out and counted (never guessed at); a field the report does not know
is ignored and named, so a newer runner's logs still give a report that says what it skipped.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Self

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from aurora.core.problems import one_line

OUTCOMES = ("success", "failed", "denied")
_Float = float | None  # the event log writes NaN and infinities as null


class _Model(BaseModel):
    # strict: a number written as a string is a malformed record, not a number
    model_config = ConfigDict(strict=True, extra="allow", frozen=True)


class Fill(_Model):
    qty: float = Field(ge=0)                # base filled
    avg_px: float = Field(gt=0)             # average fill price, quote per base
    fee_quote: float                        # fee, quote value
    slippage_bps: _Float = None             # side · (avg_px − touch) / touch · 1e4: positive = worse
    slippage_est_bps: _Float = None         # the estimate the entry was decided on (None for exits)
    latency_ms: float = Field(ge=0)         # decision (submit) to fill, market time
    ts_ns: int                              # fill time, ns
    expired: bool = False                   # a resting order cancelled at its timeout after a partial fill


class GateAnswer(_Model):
    allow: bool
    max_qty: _Float = None
    reasons: list[str] = Field(default_factory=list)
    cooloff_s: _Float = None
    decision_id: str | None = None
    error: str | None = None


class OrderRecord(_Model):
    """One order record; :meth:`_consistent` checks that its outcome carries what it must."""

    ts: str
    event: Literal["order.success", "order.failed", "order.denied"]
    service: str
    run_id: str
    symbol: str
    leg: Literal["entry", "exit"]
    client_order_id: str
    side: Literal["buy", "sell"]
    qty_intent: float
    price_intent: float
    market_ts_ns: int
    seq_no: int = Field(ge=0)
    decision_id: str | None = None
    update_id: int | None = None
    features: dict[str, Any] | None = None  # not reported: not checked value by value
    score: _Float = None
    p_tp: float | None = Field(default=None, ge=0, le=1)
    e_pi_bps: _Float = None
    slippage_est_bps: _Float = None
    spread_bps: _Float = None
    vol_bps: _Float = None
    regime: str | None = None
    sprt_llr: _Float = None
    exit_reason: str | None = None
    order_type: Literal["market", "post_only", "limit"] | None = None  # runner.entry_order / exit_order
    limit_px: _Float = None                 # a resting order's limit price
    gate: GateAnswer | None = None
    fill: Fill | None = None
    realized_pnl: _Float = None
    pnl_bps: _Float = None
    net_pnl_quote: _Float = None
    error_class: str | None = None
    error: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        outcome = self.event.split(".", 1)[1]
        if outcome == "success" and self.fill is None:
            raise ValueError("a success record has no fill")
        if outcome == "success" and self.leg == "exit" and self.net_pnl_quote is None:
            raise ValueError("an exit fill has no net_pnl_quote")
        if outcome == "failed" and self.error_class is None:
            raise ValueError("a failed record has no error_class")
        if outcome == "denied" and (self.gate is None or self.gate.allow):
            raise ValueError("a denied record has no deny from the gate")
        if self.leg == "entry" and self.gate is None:
            raise ValueError("an entry record has no gate answer")
        return self


#: Columns of :func:`order_frame` (one row per understood record).
COLUMNS = [
    "ts", "run_id", "outcome", "leg", "client_order_id", "seq_no", "decision_id", "side", "symbol",
    "market_ts_ns", "qty_intent", "price_intent", "p_tp", "e_pi_bps", "slippage_est_bps", "spread_bps",
    "regime", "exit_reason", "order_type", "gate_allow", "gate_reasons", "gate_error", "error_class", "error",
    "fill_qty", "fill_px", "fill_fee_quote", "fill_slippage_bps", "fill_latency_ms", "fill_ts_ns",
    "fill_expired", "realized_pnl", "pnl_bps", "net_pnl_quote",
]
_FLOATS = ["qty_intent", "price_intent", "p_tp", "e_pi_bps", "slippage_est_bps", "spread_bps", "fill_qty",
           "fill_px", "fill_fee_quote", "fill_slippage_bps", "fill_latency_ms", "realized_pnl", "pnl_bps",
           "net_pnl_quote"]


@dataclass
class Parsed:
    """:func:`order_frame`'s result: the frame and what was left out or ignored."""

    orders: pd.DataFrame
    invalid: Counter[str]           # stream -> records left out
    first_invalid: dict[str, str]   # stream -> the first one's problem
    unknown_fields: Counter[str]    # field -> records carrying it

    def problems(self) -> list[str]:
        out = [f"{stream}.jsonl: {n} record(s) not understood and left out of every figure "
               f"(first: {self.first_invalid[stream]})" for stream, n in sorted(self.invalid.items())]
        if self.unknown_fields:
            names = ", ".join(f"{k} ({n})" for k, n in sorted(self.unknown_fields.items()))
            out.append(f"order records carry fields this report does not know, ignored: {names}")
        return out


def _row(rec: OrderRecord) -> dict[str, Any]:
    g, f = rec.gate, rec.fill
    return {
        "ts": rec.ts, "run_id": rec.run_id, "outcome": rec.event.split(".", 1)[1], "leg": rec.leg,
        "client_order_id": rec.client_order_id, "seq_no": rec.seq_no, "decision_id": rec.decision_id,
        "side": rec.side, "symbol": rec.symbol, "market_ts_ns": rec.market_ts_ns,
        "qty_intent": rec.qty_intent, "price_intent": rec.price_intent, "p_tp": rec.p_tp,
        "e_pi_bps": rec.e_pi_bps, "slippage_est_bps": rec.slippage_est_bps, "spread_bps": rec.spread_bps,
        "regime": rec.regime, "exit_reason": rec.exit_reason, "order_type": rec.order_type,
        "gate_allow": g.allow if g is not None else None,
        "gate_reasons": tuple(g.reasons) if g is not None else (),
        "gate_error": g.error if g is not None else None,
        "error_class": rec.error_class, "error": rec.error,
        "fill_qty": f.qty if f else None, "fill_px": f.avg_px if f else None,
        "fill_fee_quote": f.fee_quote if f else None, "fill_slippage_bps": f.slippage_bps if f else None,
        "fill_latency_ms": f.latency_ms if f else None, "fill_ts_ns": f.ts_ns if f else None,
        "fill_expired": f.expired if f else None,
        "realized_pnl": rec.realized_pnl, "pnl_bps": rec.pnl_bps, "net_pnl_quote": rec.net_pnl_quote,
    }


def _unknown(rec: OrderRecord) -> Iterable[str]:
    yield from rec.model_extra or {}
    for name, part in (("gate", rec.gate), ("fill", rec.fill)):
        if part is not None:
            yield from (f"{name}.{k}" for k in part.model_extra or {})


def order_frame(records: Mapping[str, Iterable[Mapping[str, Any]]]) -> Parsed:
    """The records of each stream (``orders_success`` …) as one frame of :data:`COLUMNS`.

    Numbers are float64 with NaN for unknown, ns times int64; ``gate_reasons`` is a tuple.
    """
    rows: list[dict[str, Any]] = []
    invalid: Counter[str] = Counter()
    first_invalid: dict[str, str] = {}
    unknown: Counter[str] = Counter()
    for stream, recs in records.items():
        want = "order." + stream.removeprefix("orders_")
        for raw in recs:
            try:
                rec = OrderRecord.model_validate(raw)
                if rec.event != want:
                    raise ValueError(f"event {rec.event!r} in the {stream} stream")
            except (ValidationError, ValueError) as exc:
                invalid[stream] += 1
                if stream not in first_invalid:
                    why = one_line(exc.errors()) if isinstance(exc, ValidationError) else str(exc)
                    first_invalid[stream] = f"{raw.get('client_order_id', '?')}: {why}"
                continue
            rows.append(_row(rec))
            unknown.update(_unknown(rec))
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame[_FLOATS] = frame[_FLOATS].astype(np.float64)
    frame[["market_ts_ns", "seq_no"]] = frame[["market_ts_ns", "seq_no"]].astype(np.int64)
    # built from the Python ints: through float64 (the None rows) ns times would lose their last digits
    frame["fill_ts_ns"] = pd.array([r["fill_ts_ns"] for r in rows], dtype="Int64")
    return Parsed(frame, invalid, first_invalid, unknown)
