"""Helpers for the venue tests: hand-built market tapes, a venue on an ephemeral loopback port, and
ccxt clients pointed at it by replacing the host inside each string of ``exchange.urls['api']``."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import ccxt.pro as ccxtpro
import pyarrow as pa
from pydantic import SecretStr

from aurora.config import Settings
from aurora.ticks.schema import BBO, DEPTH, TRADES
from aurora.venue import FaultInjector, Tape, Venue, build_venue, tape_from_tables

KEY = "venue-test-key-" + "k" * 49
SECRET = "venue-test-secret-" + "s" * 46
T0 = 1_700_000_000_000_000_000
BIDS = [(100.0, 1.0), (99.9, 2.0), (99.8, 3.0)]
ASKS = [(100.1, 0.5), (100.2, 1.5), (100.3, 4.0)]
CCXT_OPTIONS = {"fetchMargins": False, "fetchCurrencies": False, "fetchMarkets": {"types": ["spot"]}}
_BINANCE_HOSTS = ("https://api.binance.com", "wss://stream.binance.com:9443", "wss://ws-api.binance.com:443")


def _table(schema: pa.Schema, rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=schema)


def static_tape(trade_every_ms: int = 100, trade_qty: float = 0.05, seconds: int = 600) -> Tape:
    """A book that never moves (BIDS/ASKS) and taker sells of ``trade_qty`` at the best bid, one every
    ``trade_every_ms`` of market time: a resting bid at 100.0 waits behind 1.0 displayed, then fills."""
    depth = [{"ts_ns": T0, "exch_ns": None, "seq": i, "first_update_id": 1, "last_update_id": 1,
              "prev_update_id": None, "side": s, "price": p, "qty": q, "is_snapshot": True}
             for i, (s, (p, q)) in enumerate([(1, lv) for lv in BIDS] + [(-1, lv) for lv in ASKS])]
    n = seconds * 1000 // trade_every_ms
    # the same top of book re-stated every 10 trades (a bookTicker update without a change)
    bbo = [{"ts_ns": T0 + k * trade_every_ms * 1_000_000, "exch_ns": None, "seq": 10 + 2 * k,
            "update_id": 1 + k, "bid_px": BIDS[0][0], "bid_qty": BIDS[0][1], "ask_px": ASKS[0][0],
            "ask_qty": ASKS[0][1]} for k in range(0, n + 1, 10)]
    trades = [{"ts_ns": T0 + (k + 1) * trade_every_ms * 1_000_000, "exch_ns": None, "seq": 11 + 2 * k,
               "trade_id": k + 1, "price": BIDS[0][0], "qty": trade_qty, "side": -1} for k in range(n)]
    return tape_from_tables({"trades": _table(TRADES, trades), "bbo": _table(BBO, bbo),
                             "depth": _table(DEPTH, depth)}, "static test book")


def venue_settings(settings: Settings, **venue: Any) -> Settings:
    """``settings`` with BTCUSDT at tick 0.1 / step 0.001, 1000 USDT + 1 BTC and ``venue`` overrides."""
    symbols = dict(settings.symbols)
    symbols["BTCUSDT"] = symbols["BTCUSDT"].model_copy(
        update={"tick_size": 0.1, "step_size": 0.001, "min_qty": 0.001, "min_notional": 5.0})
    return settings.model_copy(update={
        "symbols": symbols,
        "venue": settings.venue.model_copy(update={"balances": {"USDT": 1000.0, "BTC": 1.0}, **venue}),
    })


@contextlib.asynccontextmanager
async def running_venue(settings: Settings, tape: Tape, *, speed: float = 1.0,
                        faults: FaultInjector | None = None) -> AsyncIterator[tuple[Venue, str]]:
    """A started venue and its ``host:port``; stopped on exit."""
    keys = {"binance_api_key": SecretStr(KEY), "binance_api_secret": SecretStr(SECRET)}
    s = settings.model_copy(update=keys)
    venue = build_venue(s, "BTCUSDT", tape=tape, speed=speed, faults=faults, loop_tape=False)
    host, port = await venue.start("127.0.0.1", 0)
    try:
        yield venue, f"{host}:{port}"
    finally:
        await venue.stop()


def point_at(exchange: Any, hostport: str) -> Any:
    """Point a ccxt binance client at the venue: replace the host inside each URL string, keep the keys."""
    def swap(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: swap(x) for k, x in v.items()}
        if isinstance(v, str):
            for host in _BINANCE_HOSTS:
                if v.startswith(host):
                    scheme = "http://" if host.startswith("https") else "ws://"
                    return scheme + hostport + v[len(host):]
        return v
    exchange.urls["api"] = swap(exchange.urls["api"])
    return exchange


def client(hostport: str, *, key: str = KEY, secret: str = SECRET, **options: Any) -> Any:
    return point_at(ccxtpro.binance({"apiKey": key, "secret": secret,
                                     "options": {**CCXT_OPTIONS, **options}}), hostport)
