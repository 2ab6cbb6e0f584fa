"""``auroractl bench exchange``: an order round trip through the gateway vs bare ccxt, on the venue.

A venue runs as its own ``auroractl venue`` process (synthetic market). In this process, one
``Gateway`` and one bare ``ccxt.pro.binance`` (same options, same URLs) send the same orders,
alternately one each, so both see the same load: market orders of one lot-size multiple,
alternating buy and sell, each awaited to its FULL response. ``gateway_vs_ccxt_ratio`` = the
gateway's median round trip / bare ccxt's (target ≤ 1.2: rounding, the filter check, the
barrier and the error bookkeeping cost that much at most). The venue's matching throughput (fill
model in process) comes from :mod:`aurora.bench.venue`'s helper; its market-data fan-out needs a
venue replaying as fast as it can, which would slow the round trips here: ``auroractl bench venue``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import SecretStr

from aurora.bench.venue import KEY, SECRET, matching_throughput, venue_process
from aurora.config import Settings
from aurora.core.orders import OrderIntent, client_order_id
from aurora.exchange import Gateway
from aurora.exchange._exchange import make_exchange
from aurora.exchange._retry import RequestBarrier

DESCRIPTION = "exchange gateway: order round trip vs bare ccxt on the venue (ratio), venue matching orders/s"
SYMBOL = "BTCUSDT"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--orders", type=int, default=400, help="orders each way (gateway and bare ccxt)")
    p.add_argument("--warmup", type=int, default=20, help="orders each way not measured")
    p.add_argument("--fill-orders", type=int, default=50_000, help="orders to the fill model in process")


def bench_settings(settings: Settings, hostport: str) -> Settings:
    """``settings`` pointed at the venue on ``hostport`` with the bench keys, no client throttle."""
    host, port = hostport.rsplit(":", 1)
    return settings.model_copy(update={
        "binance_api_key": SecretStr(KEY), "binance_api_secret": SecretStr(SECRET),
        "exchange": settings.exchange.model_copy(update={"target": "venue", "rate_limit": False}),
        "venue": settings.venue.model_copy(update={"host": host, "port": int(port)}),
    })


async def round_trips(settings: Settings, orders: int, warmup: int) -> tuple[np.ndarray, np.ndarray]:
    """Seconds per market order: (through the gateway, through bare ccxt), alternating."""
    async with Gateway(settings, symbols=[SYMBOL]) as gw:
        bare = make_exchange(settings, api_key=KEY, api_secret=SECRET, barrier=RequestBarrier(),
                             on_rate_limit=lambda status, retry_after: None)
        try:
            await bare.load_markets()
            bare.options["timeDifference"] = gw.exchange.options["timeDifference"]
            book = await bare.fetch_order_book(gw._sym(SYMBOL), 5)
            ref = float(book["asks"][0][0])
            filt = gw.filters(SYMBOL)
            qty = max(filt.min_qty, filt.step_size * np.ceil(2 * filt.min_notional / ref / filt.step_size))
            times = np.empty((2, orders + warmup))
            for i in range(orders + warmup):
                side = "buy" if i % 2 else "sell"
                it = OrderIntent(SYMBOL, side, "market", qty, None, None,
                                 client_order_id("bench", SYMBOL, i, "entry"), "entry")
                t = time.perf_counter()
                await gw.create_order(it, ref_price=ref)
                times[0, i] = time.perf_counter() - t
                cid = client_order_id("bench-bare", SYMBOL, i, "entry")
                t = time.perf_counter()
                await bare.create_order(gw._sym(SYMBOL), "market", side, qty, None, {"newClientOrderId": cid})
                times[1, i] = time.perf_counter() - t
        finally:
            await bare.close()
    return times[0, warmup:], times[1, warmup:]


def run(args: argparse.Namespace, settings: Settings, report: Callable[[str], None]) -> dict[str, Any]:
    load = os.getloadavg()[0]
    fill = matching_throughput(settings, args.fill_orders, SYMBOL)
    report(f"fill model: {fill:,.0f} orders/s in process")
    with tempfile.TemporaryDirectory(prefix="aurora-bench-exchange-") as tmp, \
            venue_process(Path(tmp), SYMBOL) as hostport:
        gw_s, bare_s = asyncio.run(round_trips(bench_settings(settings, hostport), args.orders, args.warmup))
        gw_us, bare_us = np.median(gw_s) * 1e6, np.median(bare_s) * 1e6
        report(f"order round trip (median of {args.orders}): gateway {gw_us:,.0f} µs, "
               f"bare ccxt {bare_us:,.0f} µs")
    return {
        "gateway_order_p50_us": round(gw_us), "ccxt_order_p50_us": round(bare_us),
        "gateway_order_p99_us": round(float(np.percentile(gw_s, 99)) * 1e6),
        "ccxt_order_p99_us": round(float(np.percentile(bare_s, 99)) * 1e6),
        "gateway_vs_ccxt_ratio": round(gw_us / bare_us, 3), "orders": args.orders,
        "fill_orders_per_s": round(fill), "load_avg_1m": round(load, 2),
    }
