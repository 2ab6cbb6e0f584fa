"""exchange construction from config: the target picks the URLs, http.* reach ccxt, symbols checked."""

from __future__ import annotations

import asyncio

import pytest

from aurora.config import load_settings
from aurora.exchange import BadRequestError, Gateway, override_urls


def _gateway(home, **env):
    return Gateway(load_settings(home=home, env={f"AURORA_{k}": v for k, v in env.items()}))


def _urls(api):
    out = []
    for v in api.values():
        out += _urls(v) if isinstance(v, dict) else [v]
    return out


@pytest.mark.parametrize("target, rest, ws_api", [
    ("live", "https://api.binance.com/api/v3", "wss://ws-api.binance.com:443/ws-api/v3"),
    ("testnet", "https://testnet.binance.vision/api/v3", "wss://ws-api.testnet.binance.vision/ws-api/v3"),
    ("venue", "http://127.0.0.1:8765/api/v3", "ws://127.0.0.1:8765/ws-api/v3"),
])
def test_target_chooses_the_urls(home, target, rest, ws_api):
    gw = _gateway(home, EXCHANGE__TARGET=target)
    api = gw.exchange.urls["api"]
    assert (api["private"], api["ws"]["ws-api"]["spot"]) == (rest, ws_api)
    if target == "venue":
        assert all(u.startswith(("http://127.0.0.1:8765/", "ws://127.0.0.1:8765/")) for u in _urls(api))
        assert api["ws"]["spot"] == "ws://127.0.0.1:8765/ws"
    asyncio.run(gw.close())


def test_http_settings_reach_ccxt(home):
    gw = _gateway(home, HTTP__RECV_WINDOW_MS="2500", HTTP__TIMEOUT_S="1.5", EXCHANGE__RATE_LIMIT="false",
                  VENUE__PORT="9999", BINANCE_API_KEY="k", BINANCE_API_SECRET="s")
    ex = gw.exchange
    assert (ex.options["recvWindow"], ex.timeout, ex.enableRateLimit) == (2500, 1500, False)
    assert (ex.apiKey, ex.secret) == ("k", "s")
    assert ex.urls["api"]["public"] == "http://127.0.0.1:9999/api/v3"
    asyncio.run(gw.close())


def test_override_urls_keeps_keys_and_paths():
    api = {"public": "https://api.binance.com/api/v3?x=1", "ws": {"spot": "wss://stream.binance.com:9443/ws"}}
    assert override_urls(api, "https://venue.example:443") == {
        "public": "https://venue.example:443/api/v3?x=1", "ws": {"spot": "wss://venue.example:443/ws"}}


def test_symbols_without_configured_filters_are_refused(home):
    with pytest.raises(BadRequestError, match="DOGEUSDT have no filters"):
        Gateway(load_settings(home=home, env={}), symbols=["DOGEUSDT"])
