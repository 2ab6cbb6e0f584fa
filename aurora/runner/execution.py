"""In-process execution of replay: the venue's fill model (:mod:`aurora.core.fills`) in market time.

A market order submitted at ``t`` reaches the fill model at the first market update at or after
``t + latency`` and is matched against the market as it is then (the rebuilt L2 book's visible
levels when it is in sync, else the best bid/offer); what those levels cannot fill expires, as
on Binance. Balances start at ``account.equity`` in the quote asset; fees are the fill model's
(taker rate, paid in the received asset).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from aurora.core.fills import Fees, FillModel, OrderRequest, Rejected, SymbolSpec


@dataclass
class Order:
    """A market order: ``side`` +1 buy, −1 sell; ``touch_px`` the best price when it was decided."""

    client_order_id: str
    side: int
    qty: float
    submitted_ns: int
    due_ns: int
    touch_px: float
    context: dict[str, Any] = field(default_factory=dict)  # what the runner needs back with the fill


@dataclass(frozen=True)
class Execution:
    """What became of an order: ``qty`` base filled at ``avg_px``, ``base_received`` after a fee
    paid in base (buys), ``fee_quote`` every fee valued in quote; ``error`` when nothing filled."""

    order: Order
    qty: float
    avg_px: float
    base_received: float
    fee_quote: float
    ts_ns: int
    error: str | None = None


class Market:
    """The market as the fill model is shown it: best bid/offer and the L2 book's top levels."""

    __slots__ = ("ask_px", "ask_qty", "bid_px", "bid_qty", "in_sync", "quote")

    def __init__(self) -> None:
        self.quote = (math.nan, math.nan, math.nan, math.nan)  # bid_px, bid_qty, ask_px, ask_qty
        self.in_sync = False
        self.bid_px = self.bid_qty = self.ask_px = self.ask_qty = np.zeros(0)

    def levels(self, side: int) -> tuple[np.ndarray, np.ndarray]:
        """Levels (best first) on ``side`` (+1 bids, −1 asks): the L2 book in sync, else the quote."""
        if self.in_sync and self.ask_px.size and not math.isnan(self.ask_px[0]) \
                and not math.isnan(self.bid_px[0]):
            return (self.bid_px, self.bid_qty) if side > 0 else (self.ask_px, self.ask_qty)
        bp, bq, ap, aq = self.quote
        return (np.array([bp]), np.array([bq])) if side > 0 else (np.array([ap]), np.array([aq]))

    def book(self) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
        def lv(px: np.ndarray, qty: np.ndarray) -> list[tuple[float, float]]:
            pairs = zip(px.tolist(), qty.tolist(), strict=False)
            return [(p, q) for p, q in pairs if not (math.isnan(p) or math.isnan(q))]
        return lv(*self.levels(1)), lv(*self.levels(-1))


class Executor(Protocol):
    """Where the runner's orders go: ``submit`` now, results from ``on_market``/``flush``."""

    pending: list[Order]

    def submit(self, order: Order) -> None: ...

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

    def submit(self, order: Order) -> None:
        self.pending.append(order)

    def on_market(self, ts_ns: int, market: Market) -> list[Execution]:
        """Execute every order whose latency has passed at ``ts_ns``."""
        if not self.pending or self.pending[0].due_ns > ts_ns:
            return []
        return self.flush(ts_ns, market)

    def flush(self, ts_ns: int, market: Market) -> list[Execution]:
        """Execute everything pending now (also the end of a replay)."""
        due, self.pending = self.pending, []
        if not due:
            return []
        self.model.on_book(ts_ns, *market.book())
        return [self._execute(o, ts_ns) for o in due]

    def base_free(self) -> float:
        return self.model.balances()[self.spec.base].free

    def quiet_until_ns(self) -> int | None:
        """Market time before which no market event can complete an order (what :meth:`on_market`
        looks at: the first pending order's due time); None when nothing is pending. The replay's
        fast path runs the market up to it without calling this executor."""
        return self.pending[0].due_ns if self.pending else None

    def _execute(self, order: Order, ts_ns: int) -> Execution:
        req = OrderRequest(order.client_order_id, self.spec.symbol, "BUY" if order.side > 0 else "SELL",
                           "MARKET", order.qty)
        out = self.model.submit(ts_ns, req)
        if isinstance(out, Rejected):
            error = f"{out.reason.name}: {out.detail}" if out.detail else out.reason.name
            return Execution(order, 0.0, math.nan, 0.0, 0.0, ts_ns, error)
        fills = out.fills
        qty = sum(f.qty for f in fills)
        if not qty > 0:
            return Execution(order, 0.0, math.nan, 0.0, 0.0, ts_ns, "EXPIRED: nothing to fill against")
        avg = sum(f.price * f.qty for f in fills) / qty
        fee_base = sum(f.fee for f in fills if f.fee_asset == self.spec.base)
        fee_quote = sum(f.fee if f.fee_asset == self.spec.quote else f.fee * f.price for f in fills)
        received = qty - fee_base if order.side > 0 else qty
        return Execution(order, qty, avg, received, fee_quote, ts_ns)
