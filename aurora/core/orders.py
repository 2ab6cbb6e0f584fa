"""Orders, pure: deterministic client order ids, order intents, order states, filter rounding.

Client order ids (Binance ``newClientOrderId``, pattern ``^[.A-Z:/a-z0-9_-]{1,36}$``) are a
function of (run id, symbol, intent sequence, leg, attempt), so a resend after an ambiguous
timeout carries the same id and the exchange's "Duplicate order sent." proves the first one
arrived; a restarted runner recomputes the ids of its journalled intents to reconcile.

Order states follow Binance's order status. An order is ``UNKNOWN`` from the moment it is sent
until the exchange says what became of it; the named transitions (:func:`accept`,
:func:`fill`, :func:`cancel`, :func:`reject`, :func:`expire`, or :func:`apply_report` for a
status read from the exchange) refuse what cannot happen (a filled order reopening, a filled
quantity shrinking) with :class:`OrderTransitionError`.

Filter rule (Binance spot PRICE_FILTER / LOT_SIZE / NOTIONAL): a quantity is truncated to the
lot step and a price rounded half-up to the tick, in decimal arithmetic on the numbers'
shortest repr, which is exactly what ccxt's ``amount_to_precision`` / ``price_to_precision``
do in ``TICK_SIZE`` mode. The quantity is first capped at the gate's ``max_qty`` and never
rounded up, so a quantity below the minimum quantity or notional is refused, not raised.
Quantities are in base currency, prices and notionals in quote currency.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_UP, Context, Decimal
from enum import StrEnum
from typing import Literal

from aurora.core.risk import SymbolFilter

#: The exchange filters of one symbol; the same dataclass the risk gate sizes with.
SymbolFilters = SymbolFilter

CLIENT_ORDER_ID_PATTERN = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")
_ID_PREFIX = "ws"
_LEG_CODE = {"entry": "e", "exit": "x"}
_CODE_LEG = {v: k for k, v in _LEG_CODE.items()}
_ID_RE = re.compile(r"^ws-([0-9a-f]{12})-([0-9a-z]+)-([ex])([0-9a-z]*)$")
_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"

Side = Literal["buy", "sell"]
OrderType = Literal["market", "limit", "limit_maker"]
TimeInForce = Literal["GTC", "IOC", "FOK"]
Leg = Literal["entry", "exit"]


def _base36(n: int) -> str:
    if n < 0:
        raise ValueError(f"sequence numbers are non-negative, got {n}")
    digits = ""
    while True:
        n, r = divmod(n, 36)
        digits = _B36[r] + digits
        if n == 0:
            return digits


def run_tag(run_id: str, symbol: str) -> str:
    """12 hex digits naming (run, symbol) inside every client order id of that pair."""
    if not run_id or not symbol:
        raise ValueError("a client order id needs a non-empty run id and symbol")
    return hashlib.blake2b(f"{run_id}\x00{symbol}".encode(), digest_size=6).hexdigest()


def client_order_id(run_id: str, symbol: str, seq: int, leg: Leg, attempt: int = 0) -> str:
    """Deterministic client order id ``ws-<run tag>-<seq base36>-<e|x>[<attempt base36>]``.

    ``seq`` is the runner's intent sequence (≥ 0), ``leg`` the entry or exit of that intent,
    ``attempt`` (≥ 0) numbers later orders of the same leg (a market exit replacing a limit
    exit that expired). The same arguments always give the same id; different ones never
    collide within a (run, symbol) pair.
    """
    if leg not in _LEG_CODE:
        raise ValueError(f"leg must be 'entry' or 'exit', got {leg!r}")
    cid = f"{_ID_PREFIX}-{run_tag(run_id, symbol)}-{_base36(seq)}-{_LEG_CODE[leg]}"
    if attempt:
        cid += _base36(attempt)
    if len(cid) > 36:
        raise ValueError(f"seq {seq} / attempt {attempt} too large for a 36-character client order id")
    return cid


@dataclass(frozen=True, slots=True)
class ClientOrderIdParts:
    """What :func:`parse_client_order_id` reads back from an id made by :func:`client_order_id`."""

    tag: str
    seq: int
    leg: Leg
    attempt: int

    def belongs_to(self, run_id: str, symbol: str) -> bool:
        return self.tag == run_tag(run_id, symbol)


def parse_client_order_id(cid: str) -> ClientOrderIdParts | None:
    """The parts of one of our ids, or ``None`` for an id this module did not make."""
    m = _ID_RE.match(cid)
    if m is None:
        return None
    tag, seq, leg, attempt = m.groups()
    return ClientOrderIdParts(tag, int(seq, 36), _CODE_LEG[leg], int(attempt, 36) if attempt else 0)


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """One order as the runner means it, before filter rounding.

    ``price`` is the limit price (quote) for ``limit``/``limit_maker`` and ``None`` for
    ``market``; ``time_in_force`` applies to ``limit`` only (Binance takes none for market and
    LIMIT_MAKER orders). ``qty`` is in base currency, > 0.
    """

    symbol: str
    side: Side
    type: OrderType
    qty: float
    price: float | None
    time_in_force: TimeInForce | None
    client_order_id: str
    purpose: Leg

    def __post_init__(self) -> None:
        if self.side not in ("buy", "sell"):
            raise ValueError(f"side must be 'buy' or 'sell', got {self.side!r}")
        if self.type not in ("market", "limit", "limit_maker"):
            raise ValueError(f"type must be market, limit or limit_maker, got {self.type!r}")
        if not (math.isfinite(self.qty) and self.qty > 0):
            raise ValueError(f"qty must be a positive finite number, got {self.qty!r}")
        if self.type == "market":
            if self.price is not None:
                raise ValueError("a market order has no price (pass price=None)")
        elif self.price is None or not (math.isfinite(self.price) and self.price > 0):
            raise ValueError(f"a {self.type} order needs a positive finite price, got {self.price!r}")
        if self.type == "limit" and self.time_in_force not in ("GTC", "IOC", "FOK"):
            raise ValueError(f"a limit order needs time_in_force GTC, IOC or FOK, got {self.time_in_force!r}")
        if self.type != "limit" and self.time_in_force is not None:
            raise ValueError(f"a {self.type} order takes no time_in_force")
        if not CLIENT_ORDER_ID_PATTERN.match(self.client_order_id):
            raise ValueError(f"client_order_id {self.client_order_id!r} does not match "
                             f"{CLIENT_ORDER_ID_PATTERN.pattern}")
        if self.purpose not in _LEG_CODE:
            raise ValueError(f"purpose must be 'entry' or 'exit', got {self.purpose!r}")


# --- order states -------------------------------------------------------------------------

class OrderStatus(StrEnum):
    """Binance's order status, plus ``UNKNOWN``: sent, the exchange's answer not yet known."""

    UNKNOWN = "UNKNOWN"
    NEW = "NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"

    @property
    def is_final(self) -> bool:
        return self in _FINAL


_FINAL = frozenset({OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED})
_S = OrderStatus
#: Where each status may go next (a report repeating the current state is always accepted).
_NEXT: dict[OrderStatus, frozenset[OrderStatus]] = {
    _S.UNKNOWN: frozenset(_S) - {_S.UNKNOWN},
    _S.NEW: frozenset({_S.PARTIALLY_FILLED, _S.FILLED, _S.CANCELED, _S.EXPIRED}),
    _S.PARTIALLY_FILLED: frozenset({_S.PARTIALLY_FILLED, _S.FILLED, _S.CANCELED, _S.EXPIRED}),
    _S.FILLED: frozenset(),
    _S.CANCELED: frozenset(),
    _S.REJECTED: frozenset(),
    _S.EXPIRED: frozenset(),
}
#: Exchange statuses that are another name for one of ours (Binance spot).
_ALIASES = {"EXPIRED_IN_MATCH": _S.EXPIRED, "PENDING_CANCEL": _S.NEW, "PENDING_NEW": _S.NEW}


class OrderTransitionError(ValueError):
    """A report that cannot follow the order's current state (names both)."""


@dataclass(frozen=True, slots=True)
class OrderState:
    """An order's status and cumulative filled quantity (base currency, 0 ≤ filled ≤ qty)."""

    client_order_id: str
    qty: float
    status: OrderStatus = OrderStatus.UNKNOWN
    filled_qty: float = 0.0

    @property
    def remaining_qty(self) -> float:
        return max(0.0, self.qty - self.filled_qty)


def parse_status(raw: str) -> OrderStatus:
    """Binance's status string as an :class:`OrderStatus` (``EXPIRED_IN_MATCH`` is ``EXPIRED``)."""
    if raw in _ALIASES:
        return _ALIASES[raw]
    try:
        return OrderStatus(raw)
    except ValueError:
        raise ValueError(f"unknown order status {raw!r}") from None


def apply_report(order: OrderState, status: OrderStatus | str, filled_qty: float) -> OrderState:
    """The order after the exchange reported ``status`` with cumulative ``filled_qty``.

    A repeated report is a no-op. Refused: leaving a final status, a filled quantity that
    shrinks or exceeds the order's, ``FILLED`` short of the quantity, and ``PARTIALLY_FILLED``
    with nothing filled.
    """
    new = parse_status(status) if isinstance(status, str) else status
    if new == order.status and filled_qty == order.filled_qty:
        return order
    where = f"order {order.client_order_id}: {order.status.value} (filled {order.filled_qty:g})"
    if new not in _NEXT[order.status]:
        raise OrderTransitionError(f"{where} cannot become {new.value} (filled {filled_qty:g})")
    if filled_qty < order.filled_qty:
        raise OrderTransitionError(f"{where}: filled quantity cannot shrink to {filled_qty:g}")
    if filled_qty > order.qty * (1 + 1e-9):
        raise OrderTransitionError(f"{where}: filled {filled_qty:g} exceeds the order's {order.qty:g}")
    if new is OrderStatus.FILLED and filled_qty < order.qty * (1 - 1e-9):
        raise OrderTransitionError(f"{where}: FILLED with only {filled_qty:g} of {order.qty:g}")
    if new is OrderStatus.PARTIALLY_FILLED and filled_qty <= 0:
        raise OrderTransitionError(f"{where}: PARTIALLY_FILLED with nothing filled")
    if new is OrderStatus.NEW and filled_qty > 0:
        raise OrderTransitionError(f"{where}: NEW with {filled_qty:g} filled")
    return replace(order, status=new, filled_qty=filled_qty)


def accept(order: OrderState) -> OrderState:
    """The exchange acknowledged the order and nothing has filled yet."""
    return apply_report(order, OrderStatus.NEW, order.filled_qty)


def fill(order: OrderState, qty: float) -> OrderState:
    """``qty`` more filled (base currency); ``FILLED`` once the whole quantity has filled."""
    if not qty > 0:
        raise OrderTransitionError(f"order {order.client_order_id}: a fill needs qty > 0, got {qty!r}")
    total = order.filled_qty + qty
    done = total >= order.qty * (1 - 1e-9)
    return apply_report(order, OrderStatus.FILLED if done else OrderStatus.PARTIALLY_FILLED,
                        order.qty if done else total)


def cancel(order: OrderState) -> OrderState:
    return apply_report(order, OrderStatus.CANCELED, order.filled_qty)


def reject(order: OrderState) -> OrderState:
    return apply_report(order, OrderStatus.REJECTED, order.filled_qty)


def expire(order: OrderState) -> OrderState:
    return apply_report(order, OrderStatus.EXPIRED, order.filled_qty)


# --- exchange filters ---------------------------------------------------------------------

# Exact decimal arithmetic whatever the process-wide decimal context says (ccxt changes it).
_CTX = Context(prec=40)


def _dec(x: float | str) -> Decimal:
    return Decimal(str(x))


def _fmt(d: Decimal, step: Decimal) -> str:
    """``d`` (a whole multiple of ``step``) written with the step's decimal places."""
    places = max(0, -step.normalize(_CTX).as_tuple().exponent)
    return format(d.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP, context=_CTX), "f")


def round_qty(qty: float, step: float) -> str:
    """``qty`` truncated to a whole multiple of the lot ``step`` (ccxt ``amount_to_precision``)."""
    d, s = _dec(qty), _dec(step)
    return _fmt(d - _CTX.remainder(d, s), s)


def round_price(price: float, tick: float) -> str:
    """``price`` rounded half-up to a whole multiple of ``tick`` (ccxt ``price_to_precision``)."""
    d, t = _dec(price), _dec(tick)
    missing = _CTX.remainder(abs(d), t)
    d = d - missing + t if missing >= t / 2 else d - missing
    return _fmt(d, t)


# Violation codes name the Binance filter and its field.
LOT_STEP = "LOT_SIZE.stepSize"
LOT_MIN = "LOT_SIZE.minQty"
PRICE_TICK = "PRICE_FILTER.tickSize"
PRICE_MIN = "PRICE_FILTER.minPrice"
NOTIONAL_MIN = "NOTIONAL.minNotional"


def filter_violations(qty: float | str, price: float | str, filt: SymbolFilter) -> tuple[str, ...]:
    """Every filter the order ``qty`` at ``price`` breaks (empty when it passes), as Binance
    checks them: qty a multiple of the step and ≥ the minimum, price a multiple of the tick,
    qty·price ≥ the minimum notional. For a market order pass the price it is expected to fill at.
    """
    q, p = _dec(qty), _dec(price)
    out = []
    if _CTX.remainder(q, _dec(filt.step_size)) != 0:
        out.append(LOT_STEP)
    if q < _dec(filt.min_qty):
        out.append(LOT_MIN)
    if _CTX.remainder(p, _dec(filt.tick_size)) != 0:
        out.append(PRICE_TICK)
    if p <= 0:
        out.append(PRICE_MIN)
    if _CTX.multiply(q, p) < _dec(filt.min_notional):
        out.append(NOTIONAL_MIN)
    return tuple(out)


class FilterError(ValueError):
    """The order cannot be rounded into the symbol's filters without exceeding what was allowed."""

    def __init__(self, message: str, violations: tuple[str, ...]) -> None:
        super().__init__(message)
        self.violations = violations


@dataclass(frozen=True, slots=True)
class RoundedOrder:
    """Quantity and price as sent (decimal strings) and as numbers. ``price`` is ``None`` for a
    market order; ``ref_price`` is the price its notional was checked at."""

    qty: str
    price: str | None
    ref_price: str

    @property
    def qty_f(self) -> float:
        return float(self.qty)

    @property
    def price_f(self) -> float | None:
        return None if self.price is None else float(self.price)


def round_to_filters(qty: float, price: float | None, filt: SymbolFilter, *, max_qty: float | None = None,
                     ref_price: float | None = None) -> RoundedOrder:
    """Round an order into the symbol's filters, or raise :class:`FilterError`.

    ``qty`` is first capped at ``max_qty`` (the gate's allowance, if any), then truncated to the
    lot step: the result is never above either. ``price`` (limit orders) is rounded to the tick;
    a market order (``price=None``) is checked against ``ref_price``, the price it is expected
    to fill at (rounded to the tick too). Below the minimum quantity or notional after rounding
    is refused, never rounded up.
    """
    capped = qty if max_qty is None else min(qty, max_qty)
    if not (math.isfinite(capped) and capped > 0):
        raise FilterError(f"quantity {capped!r} (qty {qty!r}, max_qty {max_qty!r}) is not positive",
                              (LOT_MIN,))
    px = price if price is not None else ref_price
    if px is None or not (math.isfinite(px) and px > 0):
        raise FilterError(f"no positive price to check the notional at (price {price!r}, "
                              f"ref_price {ref_price!r})", (NOTIONAL_MIN,))
    q = round_qty(capped, filt.step_size)
    p = round_price(px, filt.tick_size)
    bad = filter_violations(q, p, filt)
    if bad:
        raise FilterError(
            f"qty {qty!r} at price {px!r} rounds to {q} at {p}, which breaks {', '.join(bad)} "
            f"(step {filt.step_size:g}, min qty {filt.min_qty:g}, tick {filt.tick_size:g}, "
            f"min notional {filt.min_notional:g}); quantities are never rounded up", bad)
    return RoundedOrder(qty=q, price=p if price is not None else None, ref_price=p)
