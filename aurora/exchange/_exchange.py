"""The ccxt exchange the gateway drives: ``ccxt.pro.binance`` (REST and websockets in one object),
pointed at Binance, the spot testnet (ccxt's sandbox mode) or the local venue (every URL of
``urls['api']`` with its scheme and host replaced, keys kept), chosen by ``exchange.target``.

Three additions to ccxt: every REST request waits at the gateway's
:class:`~aurora.exchange._retry.RequestBarrier` right before it is sent; every error response
keeps its HTTP status, Binance code and message and ``Retry-After`` on the exception (ccxt reads
none of them back), after blocking the barrier on a 429 or 418; and the raw depth traffic ccxt
builds its order books from (``@depth`` diffs, REST snapshots) can be tapped (:data:`DepthTap`), so
a recording holds what the book was built from.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import ccxt
import ccxt.pro

from aurora.exchange._errors import parse_retry_after
from aurora.exchange._retry import RequestBarrier


def override_urls(api: Any, base_url: str) -> Any:
    """``urls['api']`` with the scheme and host of ``base_url`` in every URL string (websocket
    URLs get ``ws``/``wss`` to match ``http``/``https``); keys and paths are kept."""
    base = urlsplit(base_url)
    ws_scheme = "wss" if base.scheme == "https" else "ws"

    def swap(url: str) -> str:
        parts = urlsplit(url)
        scheme = ws_scheme if parts.scheme in ("ws", "wss") else base.scheme
        return urlunsplit((scheme, base.netloc, parts.path, parts.query, parts.fragment))

    if isinstance(api, dict):
        return {k: override_urls(v, base_url) for k, v in api.items()}
    return swap(api) if isinstance(api, str) else api


#: ``tap(kind, market_id, raw, state)``: ``kind`` ``depth`` (a diff as received) or ``snapshot``
#: (the REST depth response); ``state`` of a diff: ``applied`` to the book at once, ``held`` by ccxt
#: until the next snapshot (applied then if newer than it), or ``dropped`` (no book yet).
DepthTap = Callable[[str, str, dict[str, Any], str], None]


class BinanceWire(ccxt.pro.binance):
    """``ccxt.pro.binance`` that waits at a request barrier, keeps error details and taps depth."""

    def __init__(self, config: dict[str, Any], barrier: RequestBarrier,
                 on_rate_limit: Callable[[int, float | None], None]) -> None:
        super().__init__(config)
        self.aurora_barrier = barrier
        self.aurora_on_rate_limit = on_rate_limit
        self.aurora_depth_tap: DepthTap | None = None
        # ccxt binds its implicit endpoints on the instance: the REST snapshot is tapped there
        self.aurora_get_depth = self.publicGetDepth
        self.publicGetDepth = self._tapped_depth

    def handle_order_book(self, client, message):  # type: ignore[no-untyped-def]
        tap = self.aurora_depth_tap
        if tap is not None and isinstance(message, dict) and "s" in message:
            ob = self.orderbooks.get(self.safe_market(message["s"], None, None, "spot")["symbol"])
            tap("depth", message["s"], message,
                "dropped" if ob is None else "held" if ob["nonce"] is None else "applied")
        return super().handle_order_book(client, message)

    async def _tapped_depth(self, params=None):  # type: ignore[no-untyped-def]
        raw = await self.aurora_get_depth(params or {})
        tap = self.aurora_depth_tap
        if tap is not None and isinstance(raw, dict):
            tap("snapshot", str((params or {}).get("symbol", "")), raw, "applied")
        return raw

    async def fetch(self, url, method="GET", headers=None, body=None):  # type: ignore[no-untyped-def]
        await self.aurora_barrier.wait()
        return await super().fetch(url, method, headers, body)

    def handle_errors(self, code, reason, url, method, headers, body, response,  # type: ignore[no-untyped-def] # noqa: PLR0917
                      request_headers, request_body):
        retry_after = parse_retry_after(_header(headers, "Retry-After")) if code >= 400 else None
        if code in (418, 429):
            self.aurora_on_rate_limit(code, retry_after)
        try:
            super().handle_errors(code, reason, url, method, headers, body, response, request_headers,
                                  request_body)
            if code >= 400:
                self.handle_http_status_code(code, reason, url, method, body)
        except ccxt.BaseError as exc:
            exc.aurora_http_status = code  # type: ignore[attr-defined]
            exc.aurora_retry_after_s = retry_after  # type: ignore[attr-defined]
            if isinstance(response, dict) and "code" in response:
                exc.aurora_code = int(response["code"])  # type: ignore[attr-defined]
                exc.aurora_msg = str(response.get("msg", ""))  # type: ignore[attr-defined]
            raise


def _header(headers: Any, name: str) -> str | None:
    if not headers:
        return None
    for k, v in headers.items():
        if k.lower() == name.lower():
            return v
    return None


def venue_url(venue: Any) -> str:
    """Base URL of the local venue (``auroractl venue``) from the ``venue:`` settings."""
    host = f"[{venue.host}]" if ":" in venue.host else venue.host
    return f"http://{host}:{venue.port}"


def make_exchange(settings: Any, *, api_key: str | None, api_secret: str | None,
                  barrier: RequestBarrier, on_rate_limit: Callable[[int, float | None], None]) -> BinanceWire:
    """The configured exchange: ``exchange.target`` live | testnet | venue (at ``venue.host:port``),
    with the ``http.*`` settings."""
    exchange_settings, http = settings.exchange, settings.http
    config: dict[str, Any] = {
        "enableRateLimit": exchange_settings.rate_limit,
        "timeout": int(http.timeout_s * 1000),
        "options": {
            "defaultType": "spot",
            "recvWindow": http.recv_window_ms,
            "fetchMargins": False,
            "fetchCurrencies": False,
            "fetchMarkets": {"types": ["spot"]},
            "warnOnFetchOpenOrdersWithoutSymbol": False,
        },
    }
    if api_key and api_secret:
        config["apiKey"], config["secret"] = api_key, api_secret
    ex = BinanceWire(config, barrier, on_rate_limit)
    if exchange_settings.target == "testnet":
        ex.set_sandbox_mode(True)
    elif exchange_settings.target == "venue":
        ex.urls["api"] = override_urls(ex.urls["api"], venue_url(settings.venue))
    return ex
