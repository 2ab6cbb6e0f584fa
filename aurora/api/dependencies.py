"""Route dependencies: the gate service, bearer-token authentication, configured-name checks.

Authentication policy for mutating routes (``/pretrade/check``, ``/posttrade/log``,
``/admin/*``): with ``AURORA_API_TOKEN`` set, the request must carry
``Authorization: Bearer <token>`` (compared in constant time) or gets 401. Without a token,
they answer 503 (the service is not configured to accept orders) unless
``api.allow_unauthenticated`` is true, which is meant for local replay only and is refused
in live mode, as is live mode without a token (:func:`aurora.api.app.create_app`).
``/health`` and ``/metrics`` are always open. The check runs before the body is read
(:class:`aurora.api.endpoint.BareEndpoint`).
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from starlette.datastructures import State

from aurora.api.service import GateService

#: OpenAPI security scheme of the mutating routes (added to the schema by ``create_app``).
#: The header is read directly rather than through ``fastapi.security.HTTPBearer``: as a
#: sub-dependency that class costs ~40 µs per request, a third of a whole pre-trade check.
SECURITY_SCHEME = {"bearerAuth": {"type": "http", "scheme": "bearer",
                                  "description": "Authorization: Bearer <AURORA_API_TOKEN>"}}


async def get_service(request: Request) -> GateService:
    # async: FastAPI runs plain-def dependencies in a worker thread
    return request.app.state.service


Service = Annotated[GateService, Depends(get_service)]


def authorise(state: State, authorization: str) -> None:
    """Admit the request or raise 401 (wrong or missing token) / 503 (no token configured), given
    the app's state and the ``Authorization`` header."""
    token: bytes | None = state.token
    if token is None:
        if state.allow_unauthenticated:
            return
        raise HTTPException(503, "no API token is configured: set AURORA_API_TOKEN "
                                 "(or api.allow_unauthenticated: true for local replay)")
    scheme, _, given = authorization.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token):
        raise HTTPException(401, "missing or invalid bearer token", headers={"WWW-Authenticate": "Bearer"})


def check_configured(service: GateService, symbol: str, regime: str | None = None) -> None:
    """Raise a 422 naming the field when the symbol or regime is not configured."""
    errors = []
    symbols, regimes = service.limits.symbols, service.limits.regimes
    if symbol not in symbols:
        errors.append({"loc": ("body", "symbol"), "type": "enum",
                       "msg": f"unknown symbol {symbol!r}; configured: {', '.join(sorted(symbols))}"})
    if regime is not None and regime not in regimes:
        errors.append({"loc": ("body", "regime"), "type": "enum",
                       "msg": f"unknown regime {regime!r}; configured: {', '.join(sorted(regimes))}"})
    if errors:
        raise RequestValidationError(errors)
