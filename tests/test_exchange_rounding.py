"""exchange rounding: the gateway rounds with ccxt's precision functions on markets ccxt parsed from
Binance's exchangeInfo; the connection-free rule gives the same result; nothing that breaks a
filter is ever sent and nothing exceeds max_qty; a symbols config that disagrees is refused."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aurora.config import load_settings
from aurora.core.orders import OrderIntent, SymbolFilters, client_order_id, filter_violations
from aurora.exchange import BadRequestError, FilterRejectedError, Gateway, filters_from_settings, round_order


def symbol_info(sym: str, base: str, f: SymbolFilters) -> dict:
    """One entry of Binance's ``GET /api/v3/exchangeInfo`` ``symbols`` list."""
    return {"symbol": sym, "status": "TRADING", "baseAsset": base, "quoteAsset": "USDT",
            "baseAssetPrecision": 8, "quoteAssetPrecision": 8, "isSpotTradingAllowed": True,
            "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"], "permissions": ["SPOT"],
            "filters": [
                {"filterType": "PRICE_FILTER", "minPrice": str(f.tick_size), "maxPrice": "1000000",
                 "tickSize": str(f.tick_size)},
                {"filterType": "LOT_SIZE", "minQty": str(f.min_qty), "maxQty": "9000000",
                 "stepSize": str(f.step_size)},
                {"filterType": "NOTIONAL", "minNotional": str(f.min_notional), "applyMinToMarket": True,
                 "maxNotional": "9000000", "applyMaxToMarket": False, "avgPriceMins": 5}]}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    gw = Gateway(load_settings(home=home, env={}))
    gw.settings_filters = filters_from_settings(gw.settings)
    # what fetch_markets sets before parsing (spot only: no margin pairs)
    gw.exchange.options.update(crossMarginPairsData=[], isolatedMarginPairsData=[])
    yield gw
    asyncio.run(gw.close())


def _install(gw: Gateway, extra: dict[str, SymbolFilters]) -> None:
    """Markets as ccxt parses them (its real parse_market): the configured symbols plus ``extra``."""
    infos = [symbol_info(s, s.removesuffix("USDT"), f) for s, f in {**gw.settings_filters, **extra}.items()]
    gw.exchange.set_markets([gw.exchange.parse_market(i) for i in infos])
    gw.use_markets(gw.exchange.markets)


ticks = st.builds(lambda m, e: float(Decimal(m).scaleb(e)), st.sampled_from(["1", "5", "25"]),
                  st.integers(-8, 1))
filters = st.builds(lambda t, s, k, n: SymbolFilters(t, s, float(Decimal(str(s)) * k), n),
                    ticks, ticks, st.integers(1, 10), st.sampled_from([0.0, 1.0, 5.0, 10.0]))
prices = st.floats(min_value=1e-4, max_value=1e5, allow_nan=False)
quantities = st.floats(min_value=1e-8, max_value=1e5, allow_nan=False)


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(filt=filters, qty=quantities, price=prices, max_qty=st.one_of(st.none(), quantities),
       kind=st.sampled_from(["limit", "market", "limit_maker"]))
def test_gateway_rounding_equals_the_pure_rule_and_never_breaks_a_filter(gateway, filt, qty, price, max_qty,
                                                                         kind):
    _install(gateway, {"XYZUSDT": filt})
    assert gateway.filters("XYZUSDT") == filt
    intent = OrderIntent("XYZUSDT", "buy", kind, qty, None if kind == "market" else price,
                         "GTC" if kind == "limit" else None, client_order_id("r", "XYZUSDT", 1, "entry"),
                         "entry")
    ref = price if kind == "market" else None
    try:
        mine = round_order(qty, intent.price, filt, max_qty=max_qty, ref_price=ref)
    except FilterRejectedError as exc:
        with pytest.raises(FilterRejectedError):
            gateway.round(intent, max_qty=max_qty, ref_price=ref)
        assert exc.violations
        return
    theirs = gateway.round(intent, max_qty=max_qty, ref_price=ref)
    assert (Decimal(theirs.qty), theirs.price and Decimal(theirs.price)) == (
        Decimal(mine.qty), mine.price and Decimal(mine.price))
    assert filter_violations(theirs.qty, theirs.ref_price, filt) == ()
    assert float(theirs.qty) <= qty and (max_qty is None or float(theirs.qty) <= max_qty)


def test_configured_filters_must_match_the_exchange(gateway):
    wrong = SymbolFilters(0.1, 0.00001, 0.00001, 5.0)
    infos = [symbol_info("BTCUSDT", "BTC", wrong),
             symbol_info("ETHUSDT", "ETH", gateway.settings_filters["ETHUSDT"])]
    gateway.exchange.set_markets([gateway.exchange.parse_market(i) for i in infos])
    with pytest.raises(BadRequestError, match=r"BTCUSDT.tick_size: config says 0.01, the exchange says 0.1"):
        gateway.use_markets(gateway.exchange.markets)
    gateway.exchange.set_markets([gateway.exchange.parse_market(infos[0])])
    with pytest.raises(BadRequestError, match=r"symbols\.ETHUSDT: not traded on the exchange"):
        gateway.use_markets(gateway.exchange.markets)


def test_market_orders_need_a_reference_price(gateway):
    _install(gateway, {})
    intent = OrderIntent("BTCUSDT", "sell", "market", 0.001, None, None,
                         client_order_id("r", "BTCUSDT", 2, "exit"), "exit")
    with pytest.raises(FilterRejectedError, match="ref_price"):
        gateway.round(intent)
    r = gateway.round(intent, ref_price=65000.004)
    assert (r.qty, r.price, r.ref_price) == ("0.001", None, "65000")
