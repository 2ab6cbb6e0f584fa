"""Domain objects the gateway returns, and the one mapping from ccxt/Binance payloads to them.

Quantities in base currency, prices in quote currency, exchange times in ns since the epoch
(``exch_ns``; never mixed with local receive times). Symbols are Binance ids (``BTCUSDT``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aurora.core.orders import OrderStatus, parse_status

_MS_NS = 1_000_000


def _f(x: Any) -> float | None:
    return None if x is None or x == "" else float(x)


def _ns(ms: Any) -> int | None:
    return None if ms is None else int(ms) * _MS_NS


@dataclass(frozen=True, slots=True)
class OrderReport:
    """What the exchange says about one order.

    ``filled_qty`` is cumulative and the source of truth for fills: take fills as its increase.
    ``last_fill_qty``/``last_fill_price`` are the latest fill behind this update (a private-stream
    ``executionReport`` with ``x = TRADE``; 0/None otherwise): ccxt keeps one entry per order
    between two ``watch_orders`` calls, so fills that arrive together show only the last.
    ``fee`` is the commission of that fill (stream) or of all fills in a REST ``FULL`` response,
    in ``fee_asset``.
    """

    client_order_id: str
    order_id: str | None
    symbol: str
    side: str | None
    type: str | None
    status: OrderStatus
    qty: float
    filled_qty: float
    price: float | None
    avg_price: float | None
    fee: float
    fee_asset: str | None
    exch_ns: int | None
    last_fill_qty: float = 0.0
    last_fill_price: float | None = None
    trade_id: int | None = None


def order_report(order: Mapping[str, Any]) -> OrderReport:
    """An :class:`OrderReport` from a ccxt unified order (REST or ``watch_orders``)."""
    info = order.get("info") or {}
    raw_status = info.get("X") or info.get("status")
    status = parse_status(raw_status) if raw_status else _status_from_ccxt(order)
    fee, fee_asset = 0.0, None
    if info.get("e") == "executionReport":
        last_qty = float(info.get("l") or 0.0)
        last_px = _f(info.get("L")) if last_qty > 0 else None
        trade_id = int(info["t"]) if last_qty > 0 and info.get("t") not in (None, -1) else None
        if last_qty > 0:
            fee, fee_asset = float(info.get("n") or 0.0), info.get("N")
    else:
        last_qty, last_px, trade_id = 0.0, None, None
        for f in info.get("fills") or ():
            fee += float(f.get("commission") or 0.0)
            fee_asset = f.get("commissionAsset") or fee_asset
    cid = order.get("clientOrderId") or info.get("clientOrderId") or info.get("c") or ""
    return OrderReport(
        client_order_id=cid, order_id=None if order.get("id") is None else str(order["id"]),
        symbol=info.get("symbol") or info.get("s") or str(order.get("symbol", "")).replace("/", ""),
        side=order.get("side"), type=_order_type(order, info), status=status,
        qty=float(order.get("amount") or 0.0), filled_qty=float(order.get("filled") or 0.0),
        price=_f(order.get("price")) or None, avg_price=_f(order.get("average")),
        fee=fee, fee_asset=fee_asset, exch_ns=_ns(order.get("lastUpdateTimestamp") or order.get("timestamp")),
        last_fill_qty=last_qty, last_fill_price=last_px, trade_id=trade_id)


def _status_from_ccxt(order: Mapping[str, Any]) -> OrderStatus:
    s = order.get("status")
    filled = float(order.get("filled") or 0.0)
    return {"closed": OrderStatus.FILLED, "canceled": OrderStatus.CANCELED, "rejected": OrderStatus.REJECTED,
            "expired": OrderStatus.EXPIRED}.get(
        s, OrderStatus.PARTIALLY_FILLED if filled > 0 else OrderStatus.NEW)


def _order_type(order: Mapping[str, Any], info: Mapping[str, Any]) -> str | None:
    raw = info.get("type") or info.get("o")
    return raw.lower() if isinstance(raw, str) else order.get("type")


@dataclass(frozen=True, slots=True)
class Trade:
    """One public trade; ``side`` +1 when the taker bought, −1 when the taker sold."""

    exch_ns: int | None
    trade_id: int
    price: float
    qty: float
    side: int
    raw: Mapping[str, Any]


def trade(t: Mapping[str, Any]) -> Trade:
    # ccxt's side is the taker's: "sell" when the buyer was the maker (Binance m = true).
    return Trade(_ns(t.get("timestamp")), int(t["id"]), float(t["price"]), float(t["amount"]),
                 1 if t["side"] == "buy" else -1, t.get("info") or {})


@dataclass(frozen=True, slots=True)
class Bbo:
    """Best bid and offer (``@bookTicker``): ``update_id`` is Binance's ``u``."""

    exch_ns: int | None
    update_id: int | None
    bid_px: float
    bid_qty: float
    ask_px: float
    ask_qty: float
    raw: Mapping[str, Any]


def bbo(t: Mapping[str, Any]) -> Bbo:
    info = t.get("info") or {}
    u = info.get("u")
    return Bbo(_ns(t.get("timestamp")), None if u is None else int(u), float(t["bid"]),
               float(t["bidVolume"]), float(t["ask"]), float(t["askVolume"]), info)


@dataclass(frozen=True, slots=True)
class Book:
    """An order book kept by ccxt.pro from a REST snapshot and chained diffs: levels best first,
    ``update_id`` the last Binance update id applied."""

    exch_ns: int | None
    update_id: int | None
    bids: Sequence[tuple[float, float]]
    asks: Sequence[tuple[float, float]]


def book(ob: Mapping[str, Any], depth: int | None) -> Book:
    return Book(_ns(ob.get("timestamp")), ob.get("nonce"),
                [(float(p), float(q)) for p, q, *_ in ob["bids"][:depth]],
                [(float(p), float(q)) for p, q, *_ in ob["asks"][:depth]])


@dataclass(frozen=True, slots=True)
class Balance:
    """One asset's balance: ``free`` to trade, ``locked`` in open orders."""

    asset: str
    free: float
    locked: float


def balances(raw: Mapping[str, Any]) -> dict[str, Balance]:
    """Every asset of a ccxt ``fetch_balance`` result, from Binance's ``/api/v3/account`` list."""
    return {b["asset"]: Balance(b["asset"], float(b["free"]), float(b["locked"]))
            for b in (raw.get("info") or {}).get("balances", ())}
