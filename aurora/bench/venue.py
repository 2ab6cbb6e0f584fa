"""``auroractl bench venue``: the local venue's matching throughput and market-data fan-out.

Matching: the fill model alone (``FillModel.submit`` of alternating market buys and sells on a
10-level book, orders/s on one core) and the same orders through the venue's REST API
(``POST /api/v3/order``: HMAC check, parsing, matching, user-data events, JSON), sent one at a time
over a keep-alive connection by this process to a venue running as its own ``auroractl venue``
process replaying its market at real time (a venue replaying as fast as it can has no CPU to
spare). ``rest_vs_inproc_ratio`` is the share of the in-process rate the server delivers.

Fan-out: N websocket clients (in this process) subscribed to ``@trade`` and ``@bookTicker`` of a
synthetic market the venue replays as fast as it can; messages/s received in total, for 1 client and
for N side by side. ``fanout_n_vs_1_ratio`` = rate(N) / (N · rate(1)): 1.0 when serving N clients
costs the venue no more than serving one (it is CPU-bound, so expect less).

Helpers other benchmarks reuse: :func:`venue_process` (a venue subprocess and its ``host:port``),
:func:`matching_throughput`, :func:`fanout_rate`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp

from aurora.config import Settings
from aurora.core.fills import Accepted, Fees, FillModel, OrderRequest
from aurora.venue import symbol_spec

DESCRIPTION = "local venue: matching orders/s (fill model, REST) and ws fan-out msgs/s to N clients"
KEY, SECRET = "bench-venue-key", "bench-venue-secret"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--orders", type=int, default=200_000, help="orders to the fill model in process")
    p.add_argument("--rest-orders", type=int, default=2_000, help="orders sent over REST")
    p.add_argument("--clients", type=int, default=8, help="websocket clients of the fan-out run")
    p.add_argument("--fanout-seconds", type=float, default=5.0, help="duration of each fan-out run")
    p.add_argument("--speed", type=float, default=2_000.0, help="replay speed of the fan-out market")


def matching_throughput(settings: Settings, orders: int, symbol: str = "BTCUSDT") -> float:
    """``FillModel.submit`` rate (orders/s): alternating market buys and sells of 10 lots, 10-level book."""
    spec = symbol_spec(settings, symbol)
    model = FillModel(spec, Fees(settings.costs.maker_fee_bps, settings.costs.fee_bps),
                      {spec.quote: 1e15, spec.base: 1e9})
    mid = 60_000.0
    bids = [(mid - spec.tick_size * (i + 1), 1.0) for i in range(10)]
    asks = [(mid + spec.tick_size * (i + 1), 1.0) for i in range(10)]
    qty = max(spec.min_qty, spec.step_size * 10)
    reqs = [OrderRequest(f"b{i}", symbol, "BUY" if i % 2 else "SELL", "MARKET", qty) for i in range(orders)]
    t = time.perf_counter()
    for i, req in enumerate(reqs):
        if i % 100 == 0:
            model.on_book(i, bids, asks)
        res = model.submit(i, req)
        assert isinstance(res, Accepted)
    return orders / (time.perf_counter() - t)


@contextlib.contextmanager
def venue_process(home: Path, symbol: str = "BTCUSDT", speed: float = 1.0,
                  env: dict[str, str] | None = None) -> Iterator[str]:
    """Run ``auroractl venue`` (synthetic market, bench keys, ample balances) and yield ``host:port``."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("AURORA_")}
    full_env.update({"AURORA_HOME": str(home), "AURORA_BINANCE_API_KEY": KEY,
                     "AURORA_BINANCE_API_SECRET": SECRET,
                     "AURORA_VENUE__BALANCES": "{USDT: 1.0e15, BTC: 1.0e9, ETH: 1.0e9}",
                     "AURORA_VENUE__SYNTH_HOURS": "0.25", **(env or {})})
    proc = subprocess.Popen([sys.executable, "-m", "aurora", "venue", "--symbol", symbol, "--port", "0",
                             "--speed", str(speed)], env=full_env, cwd=home, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + 180
        line = ""
        while time.monotonic() < deadline and proc.poll() is None:
            if sel.select(timeout=0.5):
                line = proc.stdout.readline()
                break
        if not line.startswith("venue ready"):
            err = proc.stderr.read() if proc.stderr and proc.poll() is not None else ""
            raise RuntimeError(f"the venue did not start: {line!r} {err}")
        yield line.split()[3].removeprefix("http://").removesuffix("/api/v3")
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def _rest_orders(hostport: str, n: int, qty: float, symbol: str) -> float:
    async with aiohttp.ClientSession(headers={"X-MBX-APIKEY": KEY}) as http:
        t = time.perf_counter()
        for i in range(n):
            body = urlencode({"symbol": symbol, "side": "BUY" if i % 2 else "SELL", "type": "MARKET",
                              "quantity": f"{qty:.8f}", "newClientOrderId": f"bench-{i}",
                              "timestamp": int(time.time() * 1000), "recvWindow": 10000})
            body += "&signature=" + hmac.new(SECRET.encode(), body.encode(), hashlib.sha256).hexdigest()
            async with http.post(f"http://{hostport}/api/v3/order", data=body,
                                 headers={"Content-Type": "application/x-www-form-urlencoded"}) as r:
                if r.status != 200:
                    raise RuntimeError(f"order {i} refused: {r.status} {await r.text()}")
                await r.read()
        return n / (time.perf_counter() - t)


async def fanout_rate(hostport: str, clients: int, seconds: float, symbol: str = "BTCUSDT") -> float:
    """Messages/s received in total by ``clients`` websocket clients of ``@trade`` + ``@bookTicker``."""
    streams = [f"{symbol.lower()}@trade", f"{symbol.lower()}@bookTicker"]
    counts = [0] * clients
    async with aiohttp.ClientSession() as http:
        sockets = [await http.ws_connect(f"ws://{hostport}/ws/{i}") for i in range(clients)]
        for ws in sockets:
            await ws.send_json({"method": "SUBSCRIBE", "params": streams, "id": 1})
            await ws.receive()  # the ack

        async def drain(k: int, ws: aiohttp.ClientWebSocketResponse, until: float) -> None:
            while time.perf_counter() < until:
                msg = await ws.receive(timeout=max(0.01, until - time.perf_counter()))
                if msg.type != aiohttp.WSMsgType.TEXT:
                    return
                counts[k] += 1

        t = time.perf_counter()
        with contextlib.suppress(asyncio.TimeoutError, TimeoutError):
            await asyncio.gather(*(drain(k, ws, t + seconds) for k, ws in enumerate(sockets)))
        elapsed = time.perf_counter() - t
        for ws in sockets:
            await ws.close()
    return sum(counts) / elapsed


def run(args: argparse.Namespace, settings: Settings, report: Callable[[str], None]) -> dict[str, Any]:
    symbol = "BTCUSDT"
    load = os.getloadavg()[0]
    inproc = matching_throughput(settings, args.orders, symbol)
    report(f"fill model: {inproc:,.0f} orders/s in process")
    spec = symbol_spec(settings, symbol)
    with tempfile.TemporaryDirectory(prefix="aurora-bench-venue-") as tmp:
        with venue_process(Path(tmp), symbol, speed=1.0) as hostport:  # a market at its real pace
            qty = max(spec.min_qty, spec.step_size * 10)
            rest = asyncio.run(_rest_orders(hostport, args.rest_orders, qty, symbol))
        report(f"REST POST /api/v3/order: {rest:,.0f} orders/s (one at a time, keep-alive)")
        with venue_process(Path(tmp), symbol, speed=args.speed) as hostport:
            one = asyncio.run(fanout_rate(hostport, 1, args.fanout_seconds, symbol))
            many = asyncio.run(fanout_rate(hostport, args.clients, args.fanout_seconds, symbol))
        report(f"fan-out: {one:,.0f} msgs/s to 1 client, {many:,.0f} msgs/s to {args.clients} clients")
    return {"fill_orders_per_s": round(inproc), "rest_orders_per_s": round(rest),
            "rest_vs_inproc_ratio": round(rest / inproc, 4), "fanout_1_msgs_per_s": round(one),
            f"fanout_{args.clients}_msgs_per_s": round(many), "fanout_clients": args.clients,
            "fanout_n_vs_1_ratio": round(many / (args.clients * one), 3) if one else 0.0,
            "load_avg_1m": round(load, 2)}
