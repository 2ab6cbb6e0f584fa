"""In-process execution of replay and paper: the venue's fill model (:mod:`aurora.core.fills`) in market time.

An order submitted at ``t`` reaches the fill model at the first market update at or after
``t + latency`` and is matched against the market as it is then (the rebuilt L2 book's visible
levels when it is in sync, else the best bid/offer). A market order takes what those levels hold
and the rest expires, as on Binance. A post-only entry (``LIMIT_MAKER``) that would take is
rejected (Binance -2010 "Order would immediately match and take."); otherwise it rests, like a
limit exit, behind the size displayed at its price, and fills as the market's trades and quotes
reach it (the fill model's queue). A resting order still open at its ``expires_ns`` is cancelled
then: what filled before is the execution, ``timed_out`` set. Balances start at ``account.equity``
in the quote asset; fees are the fill model's (maker or taker rate by how each fill traded, paid
in the received asset).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np

from aurora.core.fills import Fees, Fill, FillModel, OrderRequest, OrderUpdate, Rejected, SymbolSpec

#: ``market`` takes; ``post_only`` is a LIMIT_MAKER (rejected if it would take); ``limit`` a GTC limit.
OrderKind = Literal["market", "post_only", "limit"]
_WIRE_TYPE = {"market": "MARKET", "post_only": "LIMIT_MAKER", "limit": "LIMIT"}


@dataclass
class Order:
    """An order: ``side`` +1 buy, −1 sell; ``touch_px`` the best price on the taking side when it
    was decided (what its slippage is measured from); ``price`` the limit price of a ``post_only``
    or ``limit`` order, cancelled if still open at ``expires_ns`` (market time)."""

    client_order_id: str
    side: int
    qty: float
    submitted_ns: int
    due_ns: int
    touch_px: float
    context: dict[str, Any] = field(default_factory=dict)  # what the runner needs back with the fill
    kind: OrderKind = "market"
    price: float | None = None
    expires_ns: int | None = None


@dataclass(frozen=True)
class Execution:
    """What became of an order: ``qty`` base filled at ``avg_px``, ``base_received`` after a fee
    paid in base (buys), ``fee_quote`` every fee valued in quote; ``error`` when nothing filled;
    ``timed_out`` when a resting order was cancelled at its expiry (``qty`` is what filled before)."""

    order: Order
    qty: float
    avg_px: float
    base_received: float
    fee_quote: float
    ts_ns: int
    error: str | None = None
    timed_out: bool = False


class Market:
    """The market as the fill model is shown it: best bid/offer and the L2 book's top levels."""

    __slots__ = ("ask_px", "ask_qty", "bid_px", "bid_qty", "in_sync", "quote")

    def __init__(self) -> None:
        self.quote = (math.nan, math.nan, math.nan, math.nan)  # bid_px, bid_qty, ask_px, ask_qty
        self.in_sync = False
        self.bid_px = self.bid_qty = self.ask_px = self.ask_qty = np.zeros(0)

    def levels(self, side: int) -> tuple[np.ndarray, np.ndarray]:
        """Levels (best first) on ``side`` (+1 bids, −1 asks): the best bid/offer, then the L2
        book's levels behind it when the book is in sync. The quote is the fresher of the two (a
        bookTicker per change, depth diffs every 100 ms), so L2 levels at or through it are stale."""
        bp, bq, ap, aq = self.quote
        px, qty = (self.bid_px, self.bid_qty) if side > 0 else (self.ask_px, self.ask_qty)
        top, top_qty = (bp, bq) if side > 0 else (ap, aq)
        if math.isnan(top):
            return (px, qty) if self.in_sync and px.size else (np.array([top]), np.array([top_qty]))
        if not (self.in_sync and px.size):
            return np.array([top]), np.array([top_qty])
        behind = px < top if side > 0 else px > top
        return np.concatenate(([top], px[behind])), np.concatenate(([top_qty], qty[behind]))

    def book(self) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
        def lv(px: np.ndarray, qty: np.ndarray) -> list[tuple[float, float]]:
            pairs = zip(px.tolist(), qty.tolist(), strict=False)
            return [(p, q) for p, q in pairs if not (math.isnan(p) or math.isnan(q))]
        return lv(*self.levels(1)), lv(*self.levels(-1))


class Executor(Protocol):
    """Where the runner's orders go: ``submit`` now, results from ``on_market``/``flush``.
    ``pending`` holds every order not yet done (waiting for its latency, in flight or resting)."""

    pending: list[Order]

    def submit(self, order: Order) -> None: ...

    def on_trade(self, ts_ns: int, price: float, qty: float, side: int) -> None:
        """A market trade (``side`` +1 taker buy): resting orders may fill; results come with the
        next ``on_market``."""
        ...

    def on_market(self, ts_ns: int, market: Market) -> list[Execution]: ...

    def flush(self, ts_ns: int, market: Market) -> list[Execution]: ...

    def base_free(self) -> float:
        """Base asset the account holds free to sell."""
        ...


class SimExecution:
    """Orders wait for their latency, then go to one :class:`FillModel` (one symbol, one account)."""

    def __init__(self, spec: SymbolSpec, fees: Fees, quote_balance: float, latency_ns: int) -> None:
        self.spec = spec
        self.model = FillModel(spec, fees, {spec.quote: quote_balance})
        self.latency_ns = latency_ns
        self.pending: list[Order] = []
        self._resting: dict[str, list[Fill]] = {}  # fills so far of each order resting at the model

    def submit(self, order: Order) -> None:
        self.pending.append(order)

    def on_trade(self, ts_ns: int, price: float, qty: float, side: int) -> None:
        if self._resting:
            self._record(self.model.on_trade(ts_ns, price, qty, side))

    def on_market(self, ts_ns: int, market: Market) -> list[Execution]:
        """Send every order whose latency has passed at ``ts_ns``; settle resting ones."""
        if not self.pending or (not self._resting and self.pending[0].due_ns > ts_ns):
            return []
        return self._step(ts_ns, market, end=False)

    def flush(self, ts_ns: int, market: Market) -> list[Execution]:
        """Send everything pending now and cancel what rests (the end of a replay)."""
        if not self.pending:
            return []
        return self._step(ts_ns, market, end=True)

    def base_free(self) -> float:
        return self.model.balances()[self.spec.base].free

    def quiet_until_ns(self) -> int | None:
        """Market time before which no market event can complete an order (what :meth:`on_market`
        and :meth:`on_trade` look at): the first pending order's due time, or 0 while an order rests
        at the fill model (every quote and trade may fill it); None when nothing is pending. The
        replay's fast path runs the market up to it without calling this executor."""
        if not self.pending:
            return None
        return 0 if self._resting else self.pending[0].due_ns

    def _step(self, ts_ns: int, market: Market, *, end: bool) -> list[Execution]:
        self._record(self.model.on_book(ts_ns, *market.book()))
        out: list[Execution] = []
        left: list[Order] = []
        for o in self.pending:
            cid = o.client_order_id
            if cid not in self._resting:
                if not (end or o.due_ns <= ts_ns):
                    left.append(o)
                    continue
                done = self._send(o, ts_ns)
                if done is not None:
                    out.append(done)
                    continue
            state = self.model.order(cid)
            assert state is not None
            if not state.is_open:
                out.append(self._execution(o, self._resting.pop(cid), ts_ns))
            elif end or (o.expires_ns is not None and ts_ns >= o.expires_ns):
                self.model.cancel(ts_ns, cid)
                out.append(self._execution(o, self._resting.pop(cid), ts_ns, timed_out=True))
            else:
                left.append(o)
        self.pending = left
        return out

    def _send(self, order: Order, ts_ns: int) -> Execution | None:
        """The order to the fill model: its execution, or None when it rests."""
        req = OrderRequest(order.client_order_id, self.spec.symbol, "BUY" if order.side > 0 else "SELL",
                           _WIRE_TYPE[order.kind], order.qty, order.price)
        out = self.model.submit(ts_ns, req)
        if isinstance(out, Rejected):
            error = f"{out.reason.name}: {out.detail or out.reason.value}"
            return Execution(order, 0.0, math.nan, 0.0, 0.0, ts_ns, error)
        if out.order.is_open:
            self._resting[order.client_order_id] = list(out.fills)
            return None
        return self._execution(order, list(out.fills), ts_ns)

    def _record(self, updates: list[OrderUpdate]) -> None:
        for u in updates:
            if u.fill is not None and u.fill.client_order_id in self._resting:
                self._resting[u.fill.client_order_id].append(u.fill)

    def _execution(self, order: Order, fills: list[Fill], ts_ns: int, *,
                   timed_out: bool = False) -> Execution:
        qty = sum(f.qty for f in fills)
        if not qty > 0:
            why = ("CANCELED: nothing filled before it expired" if timed_out
                   else "EXPIRED: nothing to fill against")
            return Execution(order, 0.0, math.nan, 0.0, 0.0, ts_ns, why, timed_out)
        avg = sum(f.price * f.qty for f in fills) / qty
        fee_base = sum(f.fee for f in fills if f.fee_asset == self.spec.base)
        fee_quote = sum(f.fee if f.fee_asset == self.spec.quote else f.fee * f.price for f in fills)
        received = qty - fee_base if order.side > 0 else qty
        # a resting order that filled completely did so at its last fill (a trade before this quote)
        at = ts_ns if timed_out or order.kind == "market" else fills[-1].ts_ns
        return Execution(order, qty, avg, received, fee_quote, at, None, timed_out)
