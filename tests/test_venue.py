"""Real ccxt (async REST + ccxt.pro websockets) against the real venue on loopback.

The market is a hand-built tape (tests/venue_support.py): a book that never moves and a taker sell
at the best bid every 100 ms, so every price and fill below is known in advance.
"""

from __future__ import annotations

import asyncio

import pytest
import yaml
from venue_support import ASKS, client, running_venue, static_tape, venue_settings

from aurora.config import PACKAGED_DEFAULTS, Settings

SYM = "BTC/USDT"
_COSTS = yaml.safe_load(PACKAGED_DEFAULTS.read_text())["costs"]
TAKER = _COSTS["fee_bps"] / 1e4  # costs.fee_bps (taker) / maker_fee_bps of configs/default.yaml, as rates
MAKER = _COSTS["maker_fee_bps"] / 1e4


def run(coro):  # one event loop per test: the venue and ccxt share it
    return asyncio.run(asyncio.wait_for(coro, timeout=60))


@pytest.fixture
def vs(settings: Settings) -> Settings:
    return venue_settings(settings)


def test_load_markets_filters_equal_exchange_info(vs: Settings) -> None:
    async def main() -> None:
        async with running_venue(vs, static_tape()) as (_, hp):
            ex = client(hp)
            try:
                markets = await ex.load_markets()
                info = await ex.publicGetExchangeInfo()
            finally:
                await ex.close()
        m = markets[SYM]
        filters = {f["filterType"]: f for f in info["symbols"][0]["filters"]}
        assert list(markets) == [SYM] and m["spot"] and m["active"]
        assert m["precision"]["price"] == float(filters["PRICE_FILTER"]["tickSize"]) == 0.1
        assert m["precision"]["amount"] == float(filters["LOT_SIZE"]["stepSize"]) == 0.001
        assert m["limits"]["amount"]["min"] == float(filters["LOT_SIZE"]["minQty"]) == 0.001
        assert m["limits"]["cost"]["min"] == float(filters["NOTIONAL"]["minNotional"]) == 5.0
    run(main())


def test_order_round_trips_walk_the_book_rest_fetch_and_cancel(vs: Settings) -> None:
    async def main() -> None:
        async with running_venue(vs, static_tape(seconds=0)) as (venue, hp):
            ex = client(hp)
            try:
                await ex.load_markets()
                o = await ex.create_order(SYM, "market", "buy", 1.0, None, {"newClientOrderId": "rt-1"})
                assert o["status"] == "closed" and o["clientOrderId"] == "rt-1"
                walked = [(t["price"], t["amount"]) for t in o["trades"]]
                assert walked == [(ASKS[0][0], 0.5), (ASKS[1][0], 0.5)]
                assert o["cost"] == pytest.approx(0.5 * 100.1 + 0.5 * 100.2)
                assert o["fee"]["currency"] == "BTC" and o["fee"]["cost"] == pytest.approx(1.0 * TAKER)

                lo = await ex.create_order(SYM, "limit", "sell", 0.2, 101.0, {"newClientOrderId": "rt-2"})
                assert lo["status"] == "open" and lo["filled"] == 0
                got = await ex.fetch_order(None, SYM, {"origClientOrderId": "rt-2"})
                assert (got["id"], got["status"]) == (lo["id"], "open")
                assert (got["price"], got["amount"]) == (101.0, 0.2)
                assert [x["clientOrderId"] for x in await ex.fetch_open_orders(SYM)] == ["rt-2"]
                bal = await ex.fetch_balance()
                assert bal["BTC"]["used"] == pytest.approx(0.2)
                assert bal["BTC"]["total"] == pytest.approx(1.0 + 1.0 - 1.0 * TAKER)
                c = await ex.cancel_order(lo["id"], SYM)
                assert c["status"] == "canceled"
                assert await ex.fetch_open_orders(SYM) == []
                assert (await ex.fetch_order(lo["id"], SYM))["status"] == "canceled"
                mine = await ex.fetch_my_trades(SYM)
                assert [t["order"] for t in mine] == [o["id"], o["id"]]
                assert all(t["takerOrMaker"] == "taker" for t in mine)
            finally:
                await ex.close()
            assert venue.stats["orders_accepted"] == 2
    run(main())


async def until(cond, what: str, timeout: float = 20.0) -> None:
    """Poll ``cond`` until true, with a deadline (a readiness probe, not a sleep as a handshake)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not cond():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def test_fills_arrive_on_the_private_stream(vs: Settings) -> None:
    """A bid at 100.0 rests behind 1.0 displayed; the tape's taker sells fill it as maker, on the stream."""
    async def main() -> None:
        async with running_venue(vs, static_tape()) as (venue, hp):
            ex = client(hp)
            try:
                await ex.load_markets()
                first = asyncio.ensure_future(ex.watch_my_trades(SYM))
                orders = asyncio.ensure_future(ex.watch_orders(SYM))
                await until(lambda: venue.user_subscribers > 0, "the user-data subscription")
                o = await ex.create_order(SYM, "limit", "buy", 0.1, 100.0, {"newClientOrderId": "q-1"})
                assert o["status"] == "open"
                fills = await asyncio.wait_for(first, 30)
                while sum(f["amount"] for f in fills) < 0.1 - 1e-12:
                    fills += await asyncio.wait_for(ex.watch_my_trades(SYM), 30)
                assert all(f["price"] == 100.0 and f["takerOrMaker"] == "maker" for f in fills)
                assert all(f["order"] == o["id"] and f["timestamp"] >= o["timestamp"] for f in fills)
                assert sum(f["amount"] for f in fills) == pytest.approx(0.1)
                assert sum(f["fee"]["cost"] for f in fills) == pytest.approx(0.1 * MAKER)
                seen = await asyncio.wait_for(orders, 30)  # ccxt updates its cached order in place
                assert [x["clientOrderId"] for x in seen] == ["q-1"]
                assert (await ex.fetch_order(o["id"], SYM))["status"] == "closed"
                bal = await ex.fetch_balance()
                assert bal["USDT"]["total"] == pytest.approx(1000.0 - 10.0)
                assert bal["BTC"]["total"] == pytest.approx(1.0 + 0.1 * (1 - MAKER))
            finally:
                await ex.close()
    run(main())
