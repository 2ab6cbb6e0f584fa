"""Binance request authentication: ``X-MBX-APIKEY``, HMAC-SHA256 signatures, timestamp/recvWindow.

REST (SIGNED endpoints): the signature is the hex HMAC-SHA256, keyed by the API secret, of
``totalParams`` = the query string concatenated with the form body, each as sent and without its
``signature`` parameter. Websocket API: of the request's params other than ``signature``, sorted by
key and joined as ``k=v&…`` without URL encoding. A request is valid when
``server_ms − recvWindow ≤ timestamp < server_ms + 1000``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from aurora.venue import _wire as wire


def _strip_signature(raw: str) -> tuple[str, str | None]:
    """(``raw`` without its ``signature=`` parameter, the signature or None)."""
    if not raw:
        return "", None
    kept, sig = [], None
    for part in raw.split("&"):
        if part.startswith("signature="):
            sig = part[len("signature="):]
        else:
            kept.append(part)
    return "&".join(kept), sig


def sign(payload: str, secret: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def check_key(key: str | None, api_key: str) -> None:
    if not key:
        raise wire.bad_key_format()
    if not hmac.compare_digest(key.encode(), api_key.encode()):
        raise wire.bad_key()


def check_time(params: Mapping[str, str], server_ms: int) -> None:
    raw_ts = params.get("timestamp")
    if not raw_ts or not raw_ts.isdigit():
        raise wire.mandatory("timestamp")
    window = params.get("recvWindow")
    recv_window = 5000
    if window:
        if not window.isdigit():
            raise wire.illegal("recvWindow", "^[0-9]{1,20}$")
        recv_window = int(window)
        if recv_window > wire.MAX_RECV_WINDOW_MS:
            raise wire.BinanceError(-1131, f"recvWindow must be less than {wire.MAX_RECV_WINDOW_MS}")
    ts = int(raw_ts)
    if ts >= server_ms + wire.MAX_AHEAD_MS:
        raise wire.timestamp_ahead()
    if server_ms - ts > recv_window:
        raise wire.timestamp_outside()


def verify_rest(query: str, body: str, params: Mapping[str, str], *, key: str | None,
                api_key: str, secret: str, server_ms: int) -> None:
    """Authenticate a SIGNED REST request; raises :class:`~aurora.venue._wire.BinanceError`."""
    check_key(key, api_key)
    q, sig_q = _strip_signature(query)
    b, sig_b = _strip_signature(body)
    sig = sig_q or sig_b
    if not sig:
        raise wire.mandatory("signature")
    check_time(params, server_ms)
    if not hmac.compare_digest(sign(q + b, secret), sig.lower()):
        raise wire.bad_signature()


def verify_ws(params: Mapping[str, object], api_key: str, secret: str, server_ms: int) -> None:
    """Authenticate a websocket API request's ``params`` (apiKey, timestamp, recvWindow, signature)."""
    check_key(str(params.get("apiKey") or ""), api_key)
    sig = params.get("signature")
    if not sig:
        raise wire.mandatory("signature")
    check_time({k: str(v) for k, v in params.items()}, server_ms)
    payload = "&".join(f"{k}={params[k]}" for k in sorted(params) if k != "signature")
    if not hmac.compare_digest(sign(payload, secret), str(sig).lower()):
        raise wire.bad_signature()
