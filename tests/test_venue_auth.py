"""The venue's signature check accepts exactly what ccxt signs (REST and websocket API), for any
parameters, and refuses any change to them."""

from __future__ import annotations

import time
from urllib.parse import parse_qsl, urlsplit

import ccxt
import ccxt.pro as ccxtpro
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aurora.venue import _auth as auth
from aurora.venue import _wire as wire

KEY, SECRET = "auth-test-key", "auth-test-secret"
values = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12)
params = st.dictionaries(st.sampled_from(["quantity", "price", "newClientOrderId", "side", "note", "a b"]),
                         values, max_size=4)


_CCXT = ccxt.binance({"apiKey": KEY, "secret": SECRET})  # built once: construction is slow


def _signed(method: str, extra: dict[str, str]) -> tuple[str, str, dict[str, str]]:
    req = _CCXT.sign("order", ["private"], method, dict(extra))
    query = urlsplit(req["url"]).query
    body = req["body"] or ""
    merged = dict(parse_qsl(query, keep_blank_values=True)) | dict(parse_qsl(body, keep_blank_values=True))
    assert req["headers"]["X-MBX-APIKEY"] == KEY
    return query, body, merged


@settings(deadline=None)  # a loaded CI machine must not turn slowness into a failure
@given(params, st.sampled_from(["GET", "POST", "DELETE"]))
def test_rest_signatures_made_by_ccxt_verify(extra: dict[str, str], method: str) -> None:
    query, body, merged = _signed(method, extra)
    now = int(time.time() * 1000)
    auth.verify_rest(query, body, merged, key=KEY, api_key=KEY, secret=SECRET, server_ms=now)
    with pytest.raises(wire.BinanceError) as info:
        auth.verify_rest(query, body, merged, key=KEY, api_key=KEY, secret=SECRET + "x", server_ms=now)
    assert info.value.code == -1022
    tampered_body = body.replace("timestamp=", "timestamp=1", 1) if body else body
    tampered_query = query if body else query.replace("timestamp=", "timestamp=1", 1)
    with pytest.raises(wire.BinanceError) as info:
        auth.verify_rest(tampered_query, tampered_body, merged, key=KEY, api_key=KEY, secret=SECRET,
                         server_ms=now)
    assert info.value.code == -1022


def test_rest_timestamp_window_and_keys() -> None:
    query, body, merged = _signed("GET", {})
    ts = int(merged["timestamp"])
    window = int(merged["recvWindow"])  # ccxt sends 10000 unless told
    ok = {"query": query, "body": body, "params": merged, "key": KEY, "api_key": KEY, "secret": SECRET}
    auth.verify_rest(**ok, server_ms=ts + window)
    late, early = (ts + window + 1, "outside of the recvWindow"), (ts - 1000, "ahead of the server")
    for server_ms, msg in (late, early):
        with pytest.raises(wire.BinanceError, match=msg) as info:
            auth.verify_rest(**ok, server_ms=server_ms)
        assert info.value.code == -1021
    for key, code in ((None, -2014), ("other", -2015)):
        with pytest.raises(wire.BinanceError) as info:
            auth.verify_rest(**(ok | {"key": key}), server_ms=ts)
        assert info.value.code == code


def test_websocket_api_signature_made_by_ccxt_pro_verifies() -> None:
    ex = ccxtpro.binance({"apiKey": KEY, "secret": SECRET})
    signed = ex.sign_params({})
    assert set(signed) == {"apiKey", "recvWindow", "timestamp", "signature"}
    auth.verify_ws(signed, KEY, SECRET, signed["timestamp"])
    with pytest.raises(wire.BinanceError) as info:
        auth.verify_ws(signed | {"recvWindow": 5000}, KEY, SECRET, signed["timestamp"])
    assert info.value.code == -1022
