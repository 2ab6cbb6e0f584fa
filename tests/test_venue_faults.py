"""Fault injection: the faults file, reproducible triggers, and each fault as ccxt or a raw client sees it."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

import aiohttp
import ccxt
import orjson
import pytest
from venue_support import client, running_venue, static_tape, venue_settings

from aurora.config import Settings
from aurora.venue import FaultError, load_faults
from aurora.venue._market import synthetic_tape

SYM = "BTC/USDT"


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout=60))


@pytest.fixture
def vs(settings: Settings) -> Settings:
    return venue_settings(settings)


def faults_file(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "faults.yaml"
    p.write_text(text, encoding="utf-8")
    return p


@pytest.mark.parametrize(("text", "names"), [
    ("faults: {teleport: {rate: 0.1}}", "unknown fault 'teleport'"),
    ("faults: {http_5xx: {rate: 1.5}}", "faults.http_5xx: rate"),
    ("faults: {depth_gap: {}}", "give a rate (0..1) or a schedule"),
    ("faults: {http_429: {rate: 0.1, retry_after: 3}}", "retry_after"),
    ("seed: [1]\n", "seed"),
    ("faults: [", "not valid YAML"),
])
def test_bad_faults_files_name_the_problem(tmp_path: Path, text: str, names: str) -> None:
    with pytest.raises(FaultError, match=r"faults\.yaml") as info:
        load_faults(faults_file(tmp_path, text))
    assert names in str(info.value)


def test_triggers_are_seeded_and_schedules_fire_once_per_due_time(tmp_path: Path) -> None:
    text = ("seed: 11\nfaults: {depth_gap: {rate: 0.3}, clock_skew: {at_s: [1, 2]}, "
            "http_5xx: {every_s: 10}}")
    a, b = load_faults(faults_file(tmp_path, text)), load_faults(faults_file(tmp_path, text))
    draws_a = [a.fires("depth_gap", 0.0) for _ in range(200)]
    assert draws_a == [b.fires("depth_gap", 0.0) for _ in range(200)]
    assert 30 < sum(draws_a) < 90
    assert [a.fires("clock_skew", t) for t in (0.5, 1.0, 1.5, 2.5, 3.0)] == [False, True, False, True, False]
    fired = [a.fires("http_5xx", t) for t in (9.0, 10.0, 10.1, 25.0, 25.0)]
    assert fired == [False, True, False, True, False]
    assert a.counts == {"depth_gap": sum(draws_a), "clock_skew": 2, "http_5xx": 2}


def test_response_dropped_after_accept_then_lookup_and_duplicate(vs: Settings, tmp_path: Path) -> None:
    text = 'faults: {drop_after_accept: {rate: 1.0, routes: ["POST /api/v3/order"]}}'
    faults = load_faults(faults_file(tmp_path, text))

    async def main() -> None:
        async with running_venue(vs, static_tape(seconds=0), faults=faults) as (venue, hp):
            ex = client(hp)
            try:
                await ex.load_markets()
                with pytest.raises(ccxt.NetworkError):
                    await ex.create_order(SYM, "limit", "buy", 0.1, 99.0, {"newClientOrderId": "lost-1"})
                found = await ex.fetch_order(None, SYM, {"origClientOrderId": "lost-1"})
                assert found["status"] == "open" and found["clientOrderId"] == "lost-1"
                with pytest.raises(ccxt.InvalidOrder, match=r"Duplicate order sent\."):
                    await ex.create_order(SYM, "limit", "buy", 0.1, 99.0, {"newClientOrderId": "lost-1"})
            finally:
                await ex.close()
            assert venue.stats["orders_accepted"] == 1 and venue.stats["duplicate_rejects"] == 1
            assert faults.counts["drop_after_accept"] == 1
    run(main())


def test_ban_429_5xx_and_retry_after(vs: Settings, tmp_path: Path) -> None:
    faults = load_faults(faults_file(tmp_path, """
faults:
  http_418: {at_s: [0], retry_after_s: 1, routes: ["GET /api/v3/ping"]}
  http_429: {rate: 1.0, retry_after_s: 3, routes: ["GET /api/v3/aggTrades"]}
  http_5xx: {rate: 1.0, status: 503, routes: ["GET /api/v3/ticker/bookTicker"]}
"""))

    async def main() -> None:
        async with running_venue(vs, static_tape(seconds=0), faults=faults) as (venue, hp), \
                aiohttp.ClientSession() as http:
            async with http.get(f"http://{hp}/api/v3/ping") as r:
                assert r.status == 418 and r.headers["Retry-After"] == "1"
                assert (await r.json())["code"] == -1003
            async with http.get(f"http://{hp}/api/v3/time") as r:  # banned: every route, until Retry-After
                assert r.status == 418
            assert venue.stats["requests_during_ban"] == 1
            await asyncio.sleep(1.05)  # honour the Retry-After the venue asked for
            async with http.get(f"http://{hp}/api/v3/time") as r:
                assert r.status == 200
            ex = client(hp)
            try:
                await ex.load_markets()
                with pytest.raises(ccxt.DDoSProtection, match="429"):
                    await ex.fetch_trades(SYM)
                with pytest.raises(ccxt.ExchangeNotAvailable, match="503"):
                    await ex.fetch_bids_asks([SYM])
            finally:
                await ex.close()
            assert faults.counts == {"http_418": 1, "http_429": 1, "http_5xx": 1}
    run(main())


def test_clock_skew_gives_1021_until_the_client_resyncs(vs: Settings, tmp_path: Path) -> None:
    faults = load_faults(faults_file(tmp_path, 'faults: {clock_skew: {at_s: [0], skew_ms: 30000, '
                                               'routes: ["GET /api/v3/exchangeInfo"]}}'))

    async def main() -> None:
        async with running_venue(vs, static_tape(seconds=0), faults=faults) as (_, hp):
            ex = client(hp)
            try:
                await ex.load_markets()  # the venue's clock jumps 30 s ahead here
                with pytest.raises(ccxt.InvalidNonce, match="-1021"):
                    await ex.fetch_balance()
                await ex.load_time_difference()
                assert ex.options["timeDifference"] < -25_000
                assert (await ex.fetch_balance())["USDT"]["free"] == 1000.0
            finally:
                await ex.close()
    run(main())


def test_ws_disconnect_depth_gap_and_stale_snapshot(vs: Settings, tmp_path: Path) -> None:
    faults = load_faults(faults_file(tmp_path, "seed: 3\nfaults: {depth_gap: {rate: 1.0}, "
                                               "stale_snapshot: {rate: 1.0, age_diffs: 3}}"))
    drop = load_faults(faults_file(tmp_path, "faults: {ws_disconnect: {rate: 1.0}}"))
    tape = synthetic_tape("BTCUSDT", 0.02, 5, 0.1)

    async def main() -> None:
        async with running_venue(vs, tape, speed=10.0, faults=faults) as (venue, hp), \
                aiohttp.ClientSession() as http:
            ws = await http.ws_connect(f"ws://{hp}/ws/0")
            sub = {"method": "SUBSCRIBE", "params": ["btcusdt@depth@100ms"], "id": 1}
            await ws.send_str(orjson.dumps(sub).decode())
            assert orjson.loads((await ws.receive()).data) == {"result": None, "id": 1}
            diffs = [orjson.loads((await ws.receive()).data) for _ in range(5)]
            assert all(b["U"] == a["u"] + 2 for a, b in itertools.pairwise(diffs))  # every diff skips one id
            async with http.get(f"http://{hp}/api/v3/depth", params={"symbol": "BTCUSDT"}) as r:
                stale = await r.json()
            assert stale["lastUpdateId"] < diffs[-1]["u"] <= venue.book.update_id
            await ws.close()
        async with running_venue(vs, tape, speed=10.0, faults=drop) as (_, hp), \
                aiohttp.ClientSession() as http:
            ws = await http.ws_connect(f"ws://{hp}/ws/0")
            sub = {"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": 1}
            await ws.send_str(orjson.dumps(sub).decode())
            msg = await ws.receive()
            # a drop at every tick may come before the subscription's answer, or right after it
            if msg.type == aiohttp.WSMsgType.TEXT:
                assert orjson.loads(msg.data) == {"result": None, "id": 1}
                msg = await ws.receive()
            assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)
            assert drop.counts["ws_disconnect"] >= 1
    run(main())


def test_latency_is_added_to_the_matching_routes_only(vs: Settings, tmp_path: Path) -> None:
    faults = load_faults(faults_file(tmp_path, 'faults: {latency: {rate: 1.0, dist: fixed, ms: 80, '
                                               'routes: ["GET /api/v3/time"]}}'))

    async def main() -> None:
        async with running_venue(vs, static_tape(seconds=0), faults=faults) as (_, hp), \
                aiohttp.ClientSession() as http:
            for path, slow in (("/api/v3/time", True), ("/api/v3/ping", False), ("/api/v3/time", True)):
                t = asyncio.get_running_loop().time()
                async with http.get(f"http://{hp}{path}") as r:
                    assert r.status == 200
                if slow:  # a lower bound only: the delay was really added
                    assert asyncio.get_running_loop().time() - t >= 0.08
        assert faults.counts["latency"] == 2
    run(main())
