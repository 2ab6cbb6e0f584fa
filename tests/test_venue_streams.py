"""Venue market data: ccxt.pro's watch_order_book / watch_trades / watch_bids_asks, and the raw
``@depth`` protocol on a moving synthetic market (U/u chained; REST snapshot + later diffs = later book)."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from venue_support import ASKS, BIDS, client, running_venue, static_tape, venue_settings

from aurora.config import Settings
from aurora.ticks.binance_ws import import_recordings
from aurora.ticks.store import TickStore
from aurora.venue._market import load_store_day, synthetic_tape

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "binance_ws"

SYM = "BTC/USDT"


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout=60))


@pytest.fixture
def vs(settings: Settings) -> Settings:
    return venue_settings(settings)


def test_ccxt_pro_order_book_trades_and_bid_ask(vs: Settings) -> None:
    async def main() -> None:
        async with running_venue(vs, static_tape()) as (_, hp):
            ex = client(hp)
            try:
                await ex.load_markets()
                ob = await ex.watch_order_book(SYM)
                assert ob["bids"][:3] == [list(b) for b in BIDS] and ob["asks"][:3] == [list(a) for a in ASKS]
                trades = await ex.watch_trades(SYM)
                assert trades and all(t["price"] == 100.0 and t["side"] == "sell" for t in trades)
                ba = (await ex.watch_bids_asks([SYM]))[SYM]
                assert (ba["bid"], ba["bidVolume"], ba["ask"], ba["askVolume"]) == (100.0, 1.0, 100.1, 0.5)
                rest = await ex.fetch_order_book(SYM, 5)
                assert rest["bids"] == ob["bids"][:3] and rest["asks"] == ob["asks"][:3]
            finally:
                await ex.close()
    run(main())


async def _subscribe(session: aiohttp.ClientSession, url: str, streams: list[str]
                     ) -> aiohttp.ClientWebSocketResponse:
    ws = await session.ws_connect(url)
    await ws.send_str(orjson.dumps({"method": "SUBSCRIBE", "params": streams, "id": 7}).decode())
    ack = orjson.loads((await ws.receive()).data)
    assert ack == {"result": None, "id": 7}
    return ws


def test_depth_diffs_chain_and_agree_with_rest_snapshots(vs: Settings) -> None:
    """On a moving market: diffs chain U = previous u + 1, the first after a snapshot straddles it, and
    snapshot₁ + every later diff = snapshot₂ taken once the replay has ended and its last diff is out."""
    tape = synthetic_tape("BTCUSDT", 0.004, 3, 0.1)  # 14 s of market

    async def main() -> None:
        async with running_venue(vs, tape, speed=4.0) as (venue, hp), aiohttp.ClientSession() as http:
            ws = await _subscribe(http, f"ws://{hp}/ws/1", ["btcusdt@depth@100ms"])

            async def snapshot() -> dict[str, Any]:
                async with http.get(f"http://{hp}/api/v3/depth",
                                    params={"symbol": "BTCUSDT", "limit": "1000"}) as r:
                    return await r.json()

            diffs = [orjson.loads((await ws.receive()).data) for _ in range(2)]
            snap1 = await snapshot()
            await venue.market_done.wait()
            final_id = venue.book.update_id
            while diffs[-1]["u"] < final_id:
                diffs.append(orjson.loads((await ws.receive()).data))
            snap2 = await snapshot()
            await ws.close()
        assert snap2["lastUpdateId"] == final_id > snap1["lastUpdateId"]
        assert all(b["U"] == a["u"] + 1 for a, b in itertools.pairwise(diffs))
        later = [d for d in diffs if d["u"] > snap1["lastUpdateId"]]
        assert later and later[0]["U"] <= snap1["lastUpdateId"] + 1 <= later[0]["u"]
        book = {"b": dict(map(tuple, snap1["bids"])), "a": dict(map(tuple, snap1["asks"]))}
        for d in later:
            for side in ("b", "a"):
                for p, q in d[side]:
                    if float(q) == 0:
                        book[side].pop(p, None)
                    else:
                        book[side][p] = q
        assert book["b"] == dict(map(tuple, snap2["bids"])) and book["a"] == dict(map(tuple, snap2["asks"]))
    run(main())


def test_combined_stream_and_unknown_stream(vs: Settings) -> None:
    async def main() -> None:
        async with running_venue(vs, static_tape()) as (_, hp), aiohttp.ClientSession() as http:
            ws = await http.ws_connect(f"ws://{hp}/stream?streams=btcusdt@trade")
            msg = orjson.loads((await ws.receive()).data)
            assert msg["stream"] == "btcusdt@trade"
            assert msg["data"]["e"] == "trade" and msg["data"]["m"] is True  # taker sold
            kline = {"method": "SUBSCRIBE", "params": ["btcusdt@kline_1m"], "id": 3}
            await ws.send_str(orjson.dumps(kline).decode())
            while True:
                reply = orjson.loads((await ws.receive()).data)
                if "id" in reply:
                    break
            assert reply["id"] == 3 and reply["error"]["code"] == 2
            await ws.close()
    run(main())


def test_a_real_recording_replays_uncrossed_with_chained_diffs(vs: Settings, tmp_path: Path) -> None:
    """The shared BTCUSDT recording (head): ccxt.pro keeps a book from the venue's diffs to the end."""
    store = TickStore(tmp_path / "ticks")
    import_recordings([FIXTURES / "btcusdt_20240808_head.gz"], store, "binance", "BTCUSDT")
    tape = load_store_day(tmp_path / "ticks", "binance", "BTCUSDT", None)
    assert tape is not None and (tape.kind == 2).any()
    real = vs.model_copy(update={"symbols": {"BTCUSDT": vs.symbols["BTCUSDT"].model_copy(
        update={"tick_size": 0.01, "step_size": 0.00001, "min_qty": 0.00001})}})

    async def main() -> None:
        async with running_venue(real, tape, speed=5.0) as (venue, hp):
            ex = client(hp)
            try:
                await ex.load_markets()
                ob = await ex.watch_order_book(SYM)
                nonces = []
                while not venue.market_done.is_set() or ob["nonce"] < venue.book.update_id:
                    ob = await asyncio.wait_for(ex.watch_order_book(SYM), 10)
                    nonces.append(ob["nonce"])
                    assert ob["bids"][0][0] < ob["asks"][0][0]
            finally:
                await ex.close()
            bids, asks = venue.book.top(5)
            assert [list(b) for b in bids] == ob["bids"][:5] and [list(a) for a in asks] == ob["asks"][:5]
            assert len(nonces) > 3 and nonces == sorted(nonces)
    run(main())
