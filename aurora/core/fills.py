"""Fill model: one pure matching engine for the local venue and the runner's replay and paper modes.

Nothing here reads a clock or does I/O: every call carries the market time ``ts_ns`` (int64 ns),
and every state change is returned as events, never sent through callbacks. Prices are in quote
currency per unit of base, quantities in base units, fees in the asset the fill pays them in.

Market data in
    :meth:`FillModel.on_book` replaces the displayed book (levels best first, ``(price, qty)``);
    :meth:`FillModel.on_trade` reports a market trade (``side`` +1 taker buy, −1 taker sell, the
    tick store's convention). Our own taker fills consume the displayed levels until the next
    :meth:`on_book` replaces them (the replayed market does not know about our orders).

Orders
    ``MARKET`` walks the opposite side of the book level by level; what the displayed book
    cannot fill expires (Binance's ``EXPIRED`` with a partial ``executedQty``). ``LIMIT`` first
    takes whatever is marketable up to its price (taker), then ``GTC`` rests, ``IOC`` expires the
    rest and ``FOK`` fills completely or not at all. ``LIMIT_MAKER`` that would take is rejected.

Queue model (hftbacktest's risk-averse queue model)
    A resting order joins the back of its price level: ``queue_ahead`` = the size displayed at
    its price on its side when it arrived (0 for a new level). Only trades move it forward: a
    trade at the order's price by a taker on the other side first consumes ``queue_ahead``; the
    part beyond it fills the order (maker). A trade *through* the price (a taker sell below a
    resting bid, a taker buy above a resting ask), or an opposite best quote at or through it,
    means the whole level was taken: the order fills completely at its own price. A book update
    showing less size at the price than ``queue_ahead`` (cancellations ahead of us) lowers
    ``queue_ahead`` to the displayed size; growth never moves us back; a price beyond the deepest
    displayed level (a book shown only to its best level) says nothing about the queue there. So a
    fill never exceeds what traded beyond the queue, and never happens at a price better than the
    order's.

Balances (Binance spot)
    A resting buy locks ``qty·price`` quote, a resting sell locks ``qty`` base; a market buy needs
    the quote cost of walking the book, a market sell the base quantity. Short of it the order is
    rejected (:attr:`Reject.INSUFFICIENT_BALANCE`, the venue's -2010). Fees follow Binance: a
    fill pays ``fee_bps`` of what it receives (base on a buy, quote on a sell); maker or taker rate
    by liquidity. Negative bps (a rebate) give a negative fee.

Client order ids: a new order with the id of a known order that is not ``FILLED`` is rejected as
a duplicate (Binance: "Duplicate order sent."); after a fill the id may be reused, as on Binance.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import Enum
from typing import Literal

Side = Literal["BUY", "SELL"]
OrderType = Literal["MARKET", "LIMIT", "LIMIT_MAKER"]
TimeInForce = Literal["GTC", "IOC", "FOK"]
Liquidity = Literal["maker", "taker"]
Status = Literal["NEW", "PARTIALLY_FILLED", "FILLED", "CANCELED", "EXPIRED"]
Level = tuple[float, float]

OPEN_STATUSES = frozenset({"NEW", "PARTIALLY_FILLED"})


class Reject(Enum):
    """Why an order was refused; the venue maps each to Binance's code and message."""

    DUPLICATE = "duplicate client order id"
    INSUFFICIENT_BALANCE = "insufficient balance"
    WOULD_TAKE = "LIMIT_MAKER order would immediately match and take"
    UNKNOWN_SYMBOL = "unknown symbol"
    PRICE_FILTER = "PRICE_FILTER"
    LOT_SIZE = "LOT_SIZE"
    NOTIONAL = "NOTIONAL"
    BAD_REQUEST = "bad request"


@dataclass(frozen=True)
class SymbolSpec:
    """A symbol's assets and Binance filters: tick (quote), step and min qty (base), min notional (quote)."""

    symbol: str
    base: str
    quote: str
    tick_size: float
    step_size: float
    min_qty: float
    min_notional: float


@dataclass(frozen=True)
class Fees:
    """Fee rates in bps of the received amount; negative is a rebate."""

    maker_bps: float
    taker_bps: float


@dataclass(frozen=True)
class OrderRequest:
    """A new order. ``price`` is required for LIMIT and LIMIT_MAKER, ignored for MARKET."""

    client_order_id: str
    symbol: str
    side: Side
    type: OrderType
    qty: float
    price: float | None = None
    time_in_force: TimeInForce = "GTC"


@dataclass(frozen=True)
class Fill:
    """One execution: ``qty`` base at ``price``; ``fee`` in ``fee_asset`` (≥ 0 unless a rebate)."""

    client_order_id: str
    order_id: int
    trade_id: int
    ts_ns: int
    side: Side
    price: float
    qty: float
    fee: float
    fee_asset: str
    liquidity: Liquidity

    @property
    def quote_qty(self) -> float:
        return self.price * self.qty


@dataclass(frozen=True)
class Order:
    """An order as last seen: Binance's status, ``executed_qty`` base and ``cum_quote`` quote filled."""

    order_id: int
    client_order_id: str
    symbol: str
    side: Side
    type: OrderType
    time_in_force: TimeInForce
    price: float | None
    qty: float
    executed_qty: float
    cum_quote: float
    status: Status
    created_ns: int
    updated_ns: int

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


@dataclass(frozen=True)
class OrderUpdate:
    """An order changed: ``fill`` is set for an execution, None for accept/cancel/expire."""

    order: Order
    fill: Fill | None


@dataclass(frozen=True)
class Accepted:
    """The order was accepted; ``updates`` are its acceptance and immediate fills, in order."""

    order: Order
    updates: tuple[OrderUpdate, ...]

    @property
    def fills(self) -> tuple[Fill, ...]:
        return tuple(u.fill for u in self.updates if u.fill is not None)


@dataclass(frozen=True)
class Rejected:
    client_order_id: str
    reason: Reject
    detail: str = ""


@dataclass
class Balance:
    free: float
    locked: float


@dataclass
class _Resting:
    order: Order
    queue_ahead: float  # base units displayed ahead of us at our price
    locked: float  # what this order still locks (quote for a buy, base for a sell)


def _decimals(step: float) -> int:
    return max(0, -math.floor(math.log10(step) + 1e-9))


def check_filters(spec: SymbolSpec, req: OrderRequest, ref_price: float | None) -> Reject | None:
    """The first Binance filter ``req`` violates, or None. ``ref_price`` prices a MARKET notional."""
    if req.qty < spec.min_qty - spec.step_size * 1e-9 or _off_grid(req.qty, spec.step_size):
        return Reject.LOT_SIZE
    if req.type != "MARKET" and (req.price is None or req.price <= 0
                                 or _off_grid(req.price, spec.tick_size)):
        return Reject.PRICE_FILTER
    price = req.price if req.type != "MARKET" else ref_price
    if price is not None and price * req.qty < spec.min_notional * (1 - 1e-12):
        return Reject.NOTIONAL
    return None


def _off_grid(x: float, step: float) -> bool:
    units = x / step
    return abs(units - round(units)) > 1e-6


class FillModel:
    """Matching engine of one symbol and one account; see the module docstring for the rules."""

    def __init__(self, spec: SymbolSpec, fees: Fees, balances: dict[str, float]) -> None:
        self.spec = spec
        self.fees = fees
        self._qd = _decimals(spec.step_size)
        self._half_step = spec.step_size / 2
        self._bal: dict[str, Balance] = {a: Balance(float(v), 0.0) for a, v in balances.items()}
        for asset in (spec.base, spec.quote):
            self._bal.setdefault(asset, Balance(0.0, 0.0))
        self._bids: list[list[float]] = []
        self._asks: list[list[float]] = []
        self._resting: dict[str, _Resting] = {}
        self._orders: dict[str, Order] = {}
        self._by_id: dict[int, str] = {}
        self._next_order_id = 1
        self._next_trade_id = 1

    # ---- market data -------------------------------------------------------------------------
    def on_book(self, ts_ns: int, bids: Sequence[Level], asks: Sequence[Level]) -> list[OrderUpdate]:
        """Replace the displayed book (best first); shrink queues; fill orders the book crossed."""
        self._bids = [[float(p), float(q)] for p, q in bids if q > 0]
        self._asks = [[float(p), float(q)] for p, q in asks if q > 0]
        if not self._resting:
            return []
        updates: list[OrderUpdate] = []
        best_bid = self._bids[0][0] if self._bids else None
        best_ask = self._asks[0][0] if self._asks else None
        for r in list(self._resting.values()):
            px = r.order.price
            assert px is not None
            own = self._bids if r.order.side == "BUY" else self._asks
            if r.order.side == "BUY":
                crossed = best_ask is not None and best_ask <= px
            else:
                crossed = best_bid is not None and best_bid >= px
            if crossed:
                updates.append(self._fill_resting(r, ts_ns, self._remaining(r.order)))
            elif _within(own, px, r.order.side):
                r.queue_ahead = min(r.queue_ahead, _size_at(own, px))
        return updates

    def on_trade(self, ts_ns: int, price: float, qty: float, side: int) -> list[OrderUpdate]:
        """A market trade of ``qty`` at ``price`` by a taker on ``side`` (+1 buy, −1 sell)."""
        updates: list[OrderUpdate] = []
        # Orders nearer the touch are hit first: best price first, then arrival order.
        maker_side = "SELL" if side > 0 else "BUY"
        hit = [r for r in self._resting.values() if r.order.side == maker_side]
        hit.sort(key=lambda r: (r.order.price if side > 0 else -(r.order.price or 0.0), r.order.order_id))
        left = qty
        for r in hit:
            px = r.order.price
            assert px is not None
            through = price > px if side > 0 else price < px
            if through:
                updates.append(self._fill_resting(r, ts_ns, self._remaining(r.order)))
            elif price == px and left > 0:
                eat = min(left, r.queue_ahead)
                r.queue_ahead -= eat
                left -= eat
                take = self._round_down(min(left, self._remaining(r.order)))
                if take > 0:
                    left -= take
                    updates.append(self._fill_resting(r, ts_ns, take))
        return updates

    # ---- orders ------------------------------------------------------------------------------
    def submit(self, ts_ns: int, req: OrderRequest) -> Accepted | Rejected:
        """Validate, lock balance, take what is marketable, rest or expire the rest."""
        bad = self._validate(req)
        if bad is not None:
            return bad
        opposite = self._asks if req.side == "BUY" else self._bids
        limit = None if req.type == "MARKET" else req.price
        takes = [(p, round(q, self._qd)) for p, q in _walk(opposite, req.qty, limit, req.side)]
        takes = [(p, q) for p, q in takes if q > 0]
        taken = sum(q for _, q in takes)
        if req.type == "LIMIT_MAKER" and takes:
            return Rejected(req.client_order_id, Reject.WOULD_TAKE)
        if req.time_in_force == "FOK" and req.type == "LIMIT" and taken < req.qty - self._half_step:
            takes, taken = [], 0.0
        rests = req.type != "MARKET" and req.time_in_force == "GTC"
        need = self._need(req, takes, rests)
        asset = self.spec.quote if req.side == "BUY" else self.spec.base
        if need > self._bal[asset].free * (1 + 1e-12) + 1e-12:
            return Rejected(req.client_order_id, Reject.INSUFFICIENT_BALANCE,
                            f"needs {need:.8f} {asset}, free {self._bal[asset].free:.8f}")

        order = Order(self._next_order_id, req.client_order_id, req.symbol, req.side, req.type,
                      req.time_in_force, req.price, req.qty, 0.0, 0.0, "NEW", ts_ns, ts_ns)
        self._next_order_id += 1
        self._register(order)
        updates = [OrderUpdate(order, None)]
        for px, q in takes:
            _consume(opposite, px, q)
            order, fill = self._apply_fill(order, ts_ns, px, q, liq="taker", locked=None)
            updates.append(OrderUpdate(order, fill))
        remaining = self._remaining(order)
        if remaining > 0 and rests:
            assert req.price is not None
            lock = remaining * req.price if req.side == "BUY" else remaining
            self._bal[asset].free -= lock
            self._bal[asset].locked += lock
            own = self._bids if req.side == "BUY" else self._asks
            self._resting[req.client_order_id] = _Resting(order, _size_at(own, req.price), lock)
        elif remaining > 0:
            order = replace(order, status="EXPIRED", updated_ns=ts_ns)
            self._register(order)
            updates.append(OrderUpdate(order, None))
        return Accepted(order, tuple(updates))

    def cancel(self, ts_ns: int, client_order_id: str) -> Order | None:
        """Cancel an open order; None when no open order has that id (Binance -2011)."""
        r = self._resting.pop(client_order_id, None)
        if r is None:
            return None
        self._unlock(r, r.locked)
        order = replace(r.order, status="CANCELED", updated_ns=ts_ns)
        self._register(order)
        return order

    def order(self, client_order_id: str | None = None, order_id: int | None = None) -> Order | None:
        """The latest state of an order by client id or exchange id, open or not."""
        if client_order_id is None and order_id is not None:
            client_order_id = self._by_id.get(order_id)
        return self._orders.get(client_order_id) if client_order_id is not None else None

    def open_orders(self) -> list[Order]:
        return [r.order for r in sorted(self._resting.values(), key=lambda r: r.order.order_id)]

    def balances(self) -> dict[str, Balance]:
        return {a: Balance(b.free, b.locked) for a, b in self._bal.items()}

    def book(self) -> tuple[list[Level], list[Level]]:
        """The displayed book as the model sees it (after our own taker fills), best first."""
        return [(p, q) for p, q in self._bids], [(p, q) for p, q in self._asks]

    # ---- internals ---------------------------------------------------------------------------
    def _validate(self, req: OrderRequest) -> Rejected | None:
        if req.symbol != self.spec.symbol:
            return Rejected(req.client_order_id, Reject.UNKNOWN_SYMBOL, req.symbol)
        if req.side not in ("BUY", "SELL") or req.type not in ("MARKET", "LIMIT", "LIMIT_MAKER") \
                or req.time_in_force not in ("GTC", "IOC", "FOK") \
                or not (math.isfinite(req.qty) and req.qty > 0):
            return Rejected(req.client_order_id, Reject.BAD_REQUEST)
        prior = self._orders.get(req.client_order_id)
        if prior is not None and prior.status != "FILLED":
            return Rejected(req.client_order_id, Reject.DUPLICATE)
        opposite = self._asks if req.side == "BUY" else self._bids
        ref = opposite[0][0] if opposite else None
        failed = check_filters(self.spec, req, ref)
        return Rejected(req.client_order_id, failed) if failed is not None else None

    def _need(self, req: OrderRequest, takes: list[Level], rests: bool) -> float:
        """Free balance the order needs: quote for a buy, base for a sell."""
        if req.side == "SELL":
            return req.qty if rests else sum(q for _, q in takes)
        cost = sum(p * q for p, q in takes)
        if rests:
            assert req.price is not None
            cost += (req.qty - sum(q for _, q in takes)) * req.price
        return cost

    def _register(self, order: Order) -> None:
        self._orders[order.client_order_id] = order
        self._by_id[order.order_id] = order.client_order_id
        r = self._resting.get(order.client_order_id)
        if r is not None:
            r.order = order

    def _remaining(self, order: Order) -> float:
        rem = order.qty - order.executed_qty
        return rem if rem > self._half_step else 0.0

    def _round_down(self, q: float) -> float:
        step = self.spec.step_size
        return round(math.floor(q / step + 1e-9) * step, self._qd)

    def _fill_resting(self, r: _Resting, ts_ns: int, qty: float) -> OrderUpdate:
        order, fill = self._apply_fill(r.order, ts_ns, r.order.price or 0.0, qty, liq="maker", locked=r)
        if not order.is_open:
            self._resting.pop(order.client_order_id, None)
            self._unlock(r, r.locked)
        return OrderUpdate(order, fill)

    def _unlock(self, r: _Resting, amount: float) -> None:
        asset = self.spec.quote if r.order.side == "BUY" else self.spec.base
        self._bal[asset].locked -= amount
        self._bal[asset].free += amount
        r.locked -= amount

    def _apply_fill(self, order: Order, ts_ns: int, px: float, qty: float, *, liq: Liquidity,
                    locked: _Resting | None) -> tuple[Order, Fill]:
        base, quote = self._bal[self.spec.base], self._bal[self.spec.quote]
        bps = self.fees.maker_bps if liq == "maker" else self.fees.taker_bps
        if order.side == "BUY":
            fee, fee_asset = qty * bps / 1e4, self.spec.base
            if locked is not None:  # a resting buy locked qty·limit price; it pays qty·px
                assert order.price is not None
                quote.locked -= qty * order.price
                locked.locked -= qty * order.price
                quote.free += qty * (order.price - px)
            else:
                quote.free -= qty * px
            base.free += qty - fee
        else:
            fee, fee_asset = qty * px * bps / 1e4, self.spec.quote
            if locked is not None:
                base.locked -= qty
                locked.locked -= qty
            else:
                base.free -= qty
            quote.free += qty * px - fee
        executed = round(order.executed_qty + qty, self._qd)
        status: Status = "FILLED" if order.qty - executed <= self._half_step else "PARTIALLY_FILLED"
        new = replace(order, executed_qty=executed, cum_quote=order.cum_quote + qty * px,
                      status=status, updated_ns=ts_ns)
        fill = Fill(order.client_order_id, order.order_id, self._next_trade_id, ts_ns,
                    order.side, px, qty, fee, fee_asset, liq)
        self._next_trade_id += 1
        self._register(new)
        return new, fill


def _size_at(levels: list[list[float]], price: float) -> float:
    for p, q in levels:
        if p == price:
            return q
    return 0.0


def _within(levels: list[list[float]], price: float, side: Side) -> bool:
    """Whether ``price`` lies inside the displayed ``levels`` of ``side`` (best first), where a
    missing level means none is there."""
    if not levels:
        return False
    return price >= levels[-1][0] if side == "BUY" else price <= levels[-1][0]


def _walk(levels: list[list[float]], qty: float, limit: float | None, side: Side) -> list[Level]:
    """The (price, qty) a taker of ``qty`` gets from ``levels`` (best first) up to ``limit``."""
    out: list[Level] = []
    left = qty
    for p, q in levels:
        if left <= 1e-12 or (limit is not None and (p > limit if side == "BUY" else p < limit)):
            break
        take = min(q, left)
        out.append((p, take))
        left -= take
    return out


def _consume(levels: list[list[float]], price: float, qty: float) -> None:
    for i, lv in enumerate(levels):
        if lv[0] == price:
            lv[1] -= qty
            if lv[1] <= 1e-12:
                del levels[i]
            return
