"""Binance spot wire format: error catalogue, request parsing into domain orders, JSON payloads out.

Payload shapes follow Binance's spot REST and websocket documentation (``/api/v3``) as ccxt 4.5.90
parses them; numbers travel as strings with 8 decimals, times as integer ms. The mapping between
wire and domain lives here and nowhere else (STYLE: wire models apart from domain objects).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from aurora.core.fills import Balance, Fees, Fill, Order, OrderRequest, Reject, SymbolSpec

CLIENT_ID_RE = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")
_NUMBER_RE = re.compile(r"^([0-9]{1,20})(\.[0-9]{1,20})?$")
MAX_RECV_WINDOW_MS = 60_000
#: Binance rejects a timestamp more than this ahead of its clock (-1021).
MAX_AHEAD_MS = 1_000
QUOTE_ASSETS = ("USDT", "USDC", "FDUSD", "BUSD", "TUSD", "BTC", "ETH", "BNB", "EUR", "TRY")


class BinanceError(Exception):
    """An error answered as Binance does: HTTP ``status`` and body ``{"code": code, "msg": msg}``."""

    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(f"{code} {msg}")
        self.code = code
        self.msg = msg
        self.status = status

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "msg": self.msg}


def timestamp_outside() -> BinanceError:
    return BinanceError(-1021, "Timestamp for this request is outside of the recvWindow.")


def timestamp_ahead() -> BinanceError:
    return BinanceError(-1021, f"Timestamp for this request was {MAX_AHEAD_MS}ms ahead of the server's time.")


def bad_signature() -> BinanceError:
    return BinanceError(-1022, "Signature for this request is not valid.")


def bad_key_format() -> BinanceError:
    return BinanceError(-2014, "API-key format invalid.", 401)


def bad_key() -> BinanceError:
    return BinanceError(-2015, "Invalid API-key, IP, or permissions for action.", 401)


def mandatory(name: str) -> BinanceError:
    return BinanceError(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


def not_required(name: str) -> BinanceError:
    return BinanceError(-1106, f"Parameter '{name}' sent when not required.")


def illegal(name: str, pattern: str) -> BinanceError:
    return BinanceError(-1100, f"Illegal characters found in parameter '{name}'; legal range is '{pattern}'.")


def invalid_symbol() -> BinanceError:
    return BinanceError(-1121, "Invalid symbol.")


def unknown_order_cancel() -> BinanceError:
    return BinanceError(-2011, "Unknown order sent.")


def order_missing() -> BinanceError:
    return BinanceError(-2013, "Order does not exist.")


def either_id() -> BinanceError:
    return BinanceError(-1102,
                        "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!")


def too_many_requests(ip: str) -> BinanceError:
    return BinanceError(-1003, f"Too many requests; current limit of IP({ip}) is 6000 requests per minute. "
                               "Please use WebSocket Streams for live updates to avoid polling the API.", 429)


def banned(ip: str, until_ms: int) -> BinanceError:
    return BinanceError(-1003, f"Way too many requests; IP({ip}) banned until {until_ms}. "
                               "Please use WebSocket Streams for live updates to avoid bans.", 418)


_REJECTS: dict[Reject, tuple[int, str]] = {
    Reject.DUPLICATE: (-2010, "Duplicate order sent."),
    Reject.INSUFFICIENT_BALANCE: (-2010, "Account has insufficient balance for requested action."),
    Reject.WOULD_TAKE: (-2010, "Order would immediately match and take."),
    Reject.UNKNOWN_SYMBOL: (-1121, "Invalid symbol."),
    Reject.PRICE_FILTER: (-1013, "Filter failure: PRICE_FILTER"),
    Reject.LOT_SIZE: (-1013, "Filter failure: LOT_SIZE"),
    Reject.NOTIONAL: (-1013, "Filter failure: NOTIONAL"),
    Reject.BAD_REQUEST: (-1013, "Invalid quantity."),
}


def reject_error(reason: Reject) -> BinanceError:
    """Binance's answer to a fill-model rejection."""
    code, msg = _REJECTS[reason]
    return BinanceError(code, msg)


def split_symbol(symbol: str) -> tuple[str, str]:
    """``BTCUSDT`` → ``("BTC", "USDT")`` by the longest known quote-asset suffix."""
    for quote in sorted(QUOTE_ASSETS, key=len, reverse=True):
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol[: -len(quote)], quote
    raise ValueError(f"cannot tell the quote asset of {symbol!r}; known quote assets: "
                     f"{', '.join(QUOTE_ASSETS)}")


def fmt(x: float) -> str:
    return f"{x:.8f}"


def ms(ts_ns: int) -> int:
    return ts_ns // 1_000_000


# ---- requests in -----------------------------------------------------------------------------------

def _number(params: Mapping[str, str], name: str, required: bool = True) -> float | None:
    raw = params.get(name)
    if raw is None or raw == "":
        if required:
            raise mandatory(name)
        return None
    if not _NUMBER_RE.match(raw):
        raise illegal(name, r"^([0-9]{1,20})(\.[0-9]{1,20})?$")
    return float(raw)


def int_param(params: Mapping[str, str], name: str, default: int, most: int, least: int = 1) -> int:
    """An optional integer parameter in ``[least, most]`` (``default`` when absent)."""
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not least <= int(raw) <= most:
        raise illegal(name, f"{least}-{most}")
    return int(raw)


def parse_new_order(params: Mapping[str, str], spec: SymbolSpec, new_id: str) -> tuple[OrderRequest, str]:
    """``POST /api/v3/order`` parameters → (domain request, newOrderRespType). Raises BinanceError."""
    symbol = params.get("symbol")
    if not symbol:
        raise mandatory("symbol")
    if symbol != spec.symbol:
        raise invalid_symbol()
    side = params.get("side")
    if not side:
        raise mandatory("side")
    if side not in ("BUY", "SELL"):
        raise BinanceError(-1117, "Invalid side.")
    type_ = params.get("type")
    if not type_:
        raise mandatory("type")
    if type_ not in ("MARKET", "LIMIT", "LIMIT_MAKER"):
        raise BinanceError(-1116, "Invalid orderType.")
    if params.get("quoteOrderQty"):
        raise not_required("quoteOrderQty")
    qty = _number(params, "quantity")
    assert qty is not None
    if "." in params["quantity"] and len(params["quantity"].split(".")[1].rstrip("0")) > 8:
        raise BinanceError(-1111, "Precision is over the maximum defined for this asset.")
    tif = params.get("timeInForce")
    price: float | None = None
    if type_ == "MARKET":
        if params.get("price"):
            raise not_required("price")
        if tif:
            raise not_required("timeInForce")
    else:
        price = _number(params, "price")
        if type_ == "LIMIT" and not tif:
            raise mandatory("timeInForce")
        if type_ == "LIMIT_MAKER" and tif:
            raise not_required("timeInForce")
    if tif and tif not in ("GTC", "IOC", "FOK"):
        raise BinanceError(-1115, "Invalid timeInForce.")
    cid = params.get("newClientOrderId") or new_id
    if not CLIENT_ID_RE.match(cid):
        raise illegal("newClientOrderId", r"^[\.A-Z\:/a-z0-9_-]{1,36}$")
    resp_type = params.get("newOrderRespType") or "FULL"
    if resp_type not in ("ACK", "RESULT", "FULL"):
        raise illegal("newOrderRespType", "ACK, RESULT, FULL")
    return OrderRequest(cid, symbol, side, type_, qty, price, tif or "GTC"), resp_type  # type: ignore[arg-type]


def order_ref(params: Mapping[str, str], spec: SymbolSpec) -> tuple[str | None, int | None]:
    """The (origClientOrderId, orderId) a query or cancel names; symbol checked."""
    symbol = params.get("symbol")
    if not symbol:
        raise mandatory("symbol")
    if symbol != spec.symbol:
        raise invalid_symbol()
    cid = params.get("origClientOrderId") or None
    oid_raw = params.get("orderId") or None
    if cid is None and oid_raw is None:
        raise either_id()
    oid = None
    if oid_raw is not None:
        if not oid_raw.isdigit():
            raise illegal("orderId", "^[0-9]{1,20}$")
        oid = int(oid_raw)
    return cid, oid


# ---- payloads out ----------------------------------------------------------------------------------

def exchange_info(specs: list[SymbolSpec], server_ms: int) -> dict[str, Any]:
    return {
        "timezone": "UTC",
        "serverTime": server_ms,
        "rateLimits": [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
            {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
        ],
        "exchangeFilters": [],
        "symbols": [symbol_info(s) for s in specs],
    }


def symbol_info(s: SymbolSpec) -> dict[str, Any]:
    return {
        "symbol": s.symbol, "status": "TRADING",
        "baseAsset": s.base, "baseAssetPrecision": 8, "quoteAsset": s.quote, "quotePrecision": 8,
        "quoteAssetPrecision": 8, "baseCommissionPrecision": 8, "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"],
        "icebergAllowed": False, "ocoAllowed": False, "otoAllowed": False,
        "quoteOrderQtyMarketAllowed": False, "allowTrailingStop": False, "cancelReplaceAllowed": False,
        "isSpotTradingAllowed": True, "isMarginTradingAllowed": False,
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": fmt(s.tick_size), "maxPrice": "1000000.00000000",
             "tickSize": fmt(s.tick_size)},
            {"filterType": "LOT_SIZE", "minQty": fmt(s.min_qty), "maxQty": "9000.00000000",
             "stepSize": fmt(s.step_size)},
            {"filterType": "NOTIONAL", "minNotional": fmt(s.min_notional), "applyMinToMarket": True,
             "maxNotional": "9000000.00000000", "applyMaxToMarket": False, "avgPriceMins": 5},
        ],
        "permissions": [], "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }


def _order_base(o: Order) -> dict[str, Any]:
    return {
        "symbol": o.symbol, "orderId": o.order_id, "orderListId": -1, "clientOrderId": o.client_order_id,
        "price": fmt(o.price or 0.0), "origQty": fmt(o.qty), "executedQty": fmt(o.executed_qty),
        "origQuoteOrderQty": fmt(0.0), "cummulativeQuoteQty": fmt(o.cum_quote), "status": o.status,
        "timeInForce": o.time_in_force, "type": o.type, "side": o.side,
    }


def order_result(o: Order, fills: list[Fill], resp_type: str) -> dict[str, Any]:
    """The ``POST /api/v3/order`` answer in the ACK, RESULT or FULL shape."""
    if resp_type == "ACK":
        return {"symbol": o.symbol, "orderId": o.order_id, "orderListId": -1,
                "clientOrderId": o.client_order_id, "transactTime": ms(o.created_ns)}
    out = _order_base(o)
    out.update(transactTime=ms(o.created_ns), workingTime=ms(o.created_ns), selfTradePreventionMode="NONE")
    if resp_type == "FULL":
        out["fills"] = [{"price": fmt(f.price), "qty": fmt(f.qty), "commission": fmt(f.fee),
                         "commissionAsset": f.fee_asset, "tradeId": f.trade_id} for f in fills]
    return out


def order_status(o: Order) -> dict[str, Any]:
    """The ``GET /api/v3/order`` and ``openOrders`` shape."""
    out = _order_base(o)
    out.update(stopPrice=fmt(0.0), icebergQty=fmt(0.0), time=ms(o.created_ns), updateTime=ms(o.updated_ns),
               isWorking=o.status != "EXPIRED", workingTime=ms(o.created_ns), selfTradePreventionMode="NONE")
    return out


def cancel_result(o: Order, cancel_id: str) -> dict[str, Any]:
    out = _order_base(o)
    out["origClientOrderId"] = o.client_order_id
    out["clientOrderId"] = cancel_id
    out.update(transactTime=ms(o.updated_ns), selfTradePreventionMode="NONE")
    return out


def my_trade(f: Fill, symbol: str) -> dict[str, Any]:
    return {"symbol": symbol, "id": f.trade_id, "orderId": f.order_id, "orderListId": -1,
            "price": fmt(f.price), "qty": fmt(f.qty), "quoteQty": fmt(f.quote_qty), "commission": fmt(f.fee),
            "commissionAsset": f.fee_asset, "time": ms(f.ts_ns), "isBuyer": f.side == "BUY",
            "isMaker": f.liquidity == "maker", "isBestMatch": True}


def account(balances: Mapping[str, Balance], fees: Fees, now_ms: int) -> dict[str, Any]:
    """``GET /api/v3/account``; Binance states commissions in bps (makerCommission) and as rates."""
    maker_bps, taker_bps = fees.maker_bps, fees.taker_bps
    return {
        "makerCommission": round(maker_bps), "takerCommission": round(taker_bps),
        "buyerCommission": 0, "sellerCommission": 0,
        "commissionRates": {"maker": fmt(maker_bps / 1e4), "taker": fmt(taker_bps / 1e4),
                            "buyer": fmt(0.0), "seller": fmt(0.0)},
        "canTrade": True, "canWithdraw": False, "canDeposit": False, "brokered": False,
        "requireSelfTradePrevention": False, "preventSor": False, "updateTime": now_ms, "accountType": "SPOT",
        "balances": [{"asset": a, "free": fmt(b.free), "locked": fmt(b.locked)}
                     for a, b in sorted(balances.items())],
        "permissions": ["SPOT"], "uid": 1,
    }


def execution_report(o: Order, fill: Fill | None, exec_type: str, event_ms: int,
                     orig_client_id: str = "") -> dict[str, Any]:
    """A user-data ``executionReport``; ``exec_type`` is NEW, TRADE, CANCELED or EXPIRED."""
    return {
        "e": "executionReport", "E": event_ms, "s": o.symbol, "c": o.client_order_id, "S": o.side,
        "o": o.type, "f": o.time_in_force, "q": fmt(o.qty), "p": fmt(o.price or 0.0), "P": fmt(0.0),
        "F": fmt(0.0), "g": -1, "C": orig_client_id, "x": exec_type, "X": o.status, "r": "NONE",
        "i": o.order_id, "l": fmt(fill.qty if fill else 0.0), "z": fmt(o.executed_qty),
        "L": fmt(fill.price if fill else 0.0), "n": fmt(fill.fee if fill else 0.0),
        "N": fill.fee_asset if fill else None, "T": ms(fill.ts_ns) if fill else ms(o.updated_ns),
        "t": fill.trade_id if fill else -1, "I": o.order_id * 2 + (1 if fill else 0),
        "w": o.is_open, "m": bool(fill and fill.liquidity == "maker"), "M": False, "O": ms(o.created_ns),
        "Z": fmt(o.cum_quote), "Y": fmt(fill.quote_qty if fill else 0.0), "Q": fmt(0.0),
        "W": ms(o.created_ns), "V": "NONE",
    }


def account_position(balances: Mapping[str, Balance], assets: list[str], event_ms: int) -> dict[str, Any]:
    return {"e": "outboundAccountPosition", "E": event_ms, "u": event_ms,
            "B": [{"a": a, "f": fmt(balances[a].free), "l": fmt(balances[a].locked)} for a in assets]}
