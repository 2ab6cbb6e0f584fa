"""Bad requests get Binance's codes and messages, and ccxt maps them to its usual exceptions."""

from __future__ import annotations

import asyncio
from typing import Any

import ccxt
import pytest
from venue_support import client, running_venue, static_tape, venue_settings

from aurora.config import Settings

SYM = "BTC/USDT"


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout=60))


@pytest.fixture
def vs(settings: Settings) -> Settings:
    return venue_settings(settings)


async def _code(call: Any, exc_type: type[Exception]) -> str:
    with pytest.raises(exc_type) as info:
        await call
    return str(info.value)


def test_auth_errors(vs: Settings) -> None:
    async def main() -> None:
        async with running_venue(vs, static_tape(seconds=0)) as (venue, hp):
            good = client(hp)
            bad_secret = client(hp, secret="not-the-secret")
            bad_key = client(hp, key="not-the-key")
            late = client(hp)
            try:
                await good.load_markets()
                for ex in (bad_secret, bad_key, late):
                    ex.markets, ex.markets_by_id, ex.symbols = good.markets, good.markets_by_id, good.symbols
                msg = await _code(bad_secret.fetch_balance(), ccxt.AuthenticationError)
                assert '"code":-1022' in msg and "Signature for this request is not valid." in msg
                msg = await _code(bad_key.fetch_balance(), ccxt.AuthenticationError)
                assert '"code":-2015' in msg
                late.options["timeDifference"] = 20_000  # its timestamps are 20 s old: beyond recvWindow
                msg = await _code(late.fetch_balance(), ccxt.InvalidNonce)
                assert '"code":-1021' in msg and "outside of the recvWindow" in msg
                late.options["timeDifference"] = -5_000  # 5 s ahead of the server
                msg = await _code(late.fetch_balance(), ccxt.InvalidNonce)
                assert "ahead of the server's time" in msg
                # a rejected user-data subscription surfaces in ccxt 4.5.90 as KeyError('spot')
                with pytest.raises(KeyError):
                    await bad_secret.watch_orders(SYM)
            finally:
                for ex in (good, bad_secret, bad_key, late):
                    await ex.close()
            assert venue.reject_codes[-1022] == 2 and venue.reject_codes[-1021] == 2
    run(main())


def test_order_rejections(vs: Settings) -> None:
    async def main() -> None:
        async with running_venue(vs, static_tape(seconds=0)) as (_, hp):
            ex = client(hp)
            try:
                await ex.load_markets()
                await ex.create_order(SYM, "limit", "buy", 0.1, 99.0, {"newClientOrderId": "dup-1"})
                again = ex.create_order(SYM, "limit", "buy", 0.1, 98.0, {"newClientOrderId": "dup-1"})
                msg = await _code(again, ccxt.InvalidOrder)
                assert '{"code":-2010,"msg":"Duplicate order sent."}' in msg
                # ccxt matches this message exactly before the code: InsufficientFunds, not InvalidOrder
                msg = await _code(ex.create_order(SYM, "limit", "buy", 50.0, 99.0), ccxt.InsufficientFunds)
                assert "Account has insufficient balance for requested action." in msg
                msg = await _code(ex.create_order(SYM, "limit", "buy", 0.1, 100.1, {"postOnly": True}),
                                  ccxt.InvalidOrder)
                assert "Order would immediately match and take." in msg
                # filter violations that ccxt's own rounding would have prevented: sent raw
                base = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC"}
                msg = await _code(ex.privatePostOrder({**base, "quantity": "0.1005", "price": "99.0"}),
                                  ccxt.InvalidOrder)
                assert "Filter failure: LOT_SIZE" in msg
                msg = await _code(ex.privatePostOrder({**base, "quantity": "0.1", "price": "99.05"}),
                                  ccxt.InvalidOrder)
                assert "Filter failure: PRICE_FILTER" in msg
                msg = await _code(ex.privatePostOrder({**base, "quantity": "0.01", "price": "10.0"}),
                                  ccxt.BadRequest)
                assert '"code":-1013' in msg and "NOTIONAL" in msg
                doge = {**base, "symbol": "DOGEUSDT", "quantity": "1", "price": "1"}
                msg = await _code(ex.privatePostOrder(doge), ccxt.BadSymbol)
                assert '"code":-1121' in msg
                no_tif = {k: v for k, v in base.items() if k != "timeInForce"}
                no_tif |= {"quantity": "0.1", "price": "99.0"}
                msg = await _code(ex.privatePostOrder(no_tif), ccxt.BadRequest)
                assert "Mandatory parameter 'timeInForce'" in msg and '"code":-1102' in msg
                msg = await _code(ex.privatePostOrder({**base, "quantity": "0.1", "price": "99.0",
                                                       "newClientOrderId": "bad id!"}), ccxt.BadRequest)
                assert '"code":-1100' in msg
                never = ex.fetch_order(None, SYM, {"origClientOrderId": "never-sent"})
                msg = await _code(never, ccxt.OrderNotFound)
                assert '"code":-2013' in msg and "Order does not exist." in msg
                msg = await _code(ex.publicGetDepth({"symbol": "BTCUSDT", "limit": 99999}), ccxt.BadRequest)
                assert '"code":-1100' in msg and "'limit'" in msg
                msg = await _code(ex.cancel_order("424242", SYM), ccxt.OrderNotFound)
                assert '"code":-2011' in msg and "Unknown order sent." in msg
            finally:
                await ex.close()
    run(main())
