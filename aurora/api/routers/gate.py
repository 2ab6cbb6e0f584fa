"""The gate: ``POST /pretrade/check`` and ``POST /posttrade/log`` (contract: DESIGN.md §6).

These two routes are the hot path. Each is a bare ASGI endpoint (:class:`_Endpoint`): the
token is checked first (so an unauthenticated request gets 401 before its body is looked at),
then the raw body bytes are validated by pydantic's JSON parser in one step (errors are the
same 422 as everywhere else), and the answer is sent as pre-encoded JSON bytes. A ``POST`` to
them is answered by the :class:`HotRoutes` middleware, before the exception middleware, the
router and FastAPI's exit-stack middleware; the router holds them too (405 for other methods).
Server CPU per pre-trade check with ``auroractl bench gate``'s load on one worker (server and
load generator pinned to one core each; the trivial endpoint ~125 µs): a Starlette function
route (``Request`` in, ``Response`` out, one more exception-handling layer) ~156 µs; the bare
endpoint through the router ~147 µs, ~136 µs once decision events were written in batches;
through :class:`HotRoutes` ~122 µs. An ``APIRoute``,
which solves dependencies and builds its request context on every call, was slower still
(throughput 0.63–0.68× the trivial endpoint's where the function route gave 0.79–0.82×).
:data:`router` holds the same endpoint functions as ``APIRoute`` s: it is not mounted, it
generates their OpenAPI documentation (body, responses, examples).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import APIRouter
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from aurora.api.dependencies import Service, authorise, check_configured
from aurora.api.schemas import (
    ErrorBody,
    PosttradeRequest,
    PosttradeResponse,
    PretradeRequest,
    PretradeResponse,
    ValidationErrorBody,
)
from aurora.api.service import GateService
from aurora.api.store import StateStoreError
from aurora.events import encode

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "missing or invalid bearer token"},
    413: {"model": ErrorBody, "description": "body larger than api.max_body_bytes"},
    422: {"model": ValidationErrorBody, "description": "invalid input; each error names its field"},
    503: {"model": ErrorBody, "description": "no API token configured, or the risk state store cannot "
                                             "be read or written right now (nothing was applied)"},
}
router = APIRouter(tags=["gate"], responses=ERRORS)
_JSON = (b"content-type", b"application/json")
_AUTH = b"authorization"


@router.post("/pretrade/check", response_model=PretradeResponse,
             summary="Decide whether an order may be sent, and its largest allowed quantity")
async def pretrade_check(body: PretradeRequest, service: Service) -> dict[str, Any]:
    check_configured(service, body.symbol, body.regime)
    return service.check(body)


@router.post("/posttrade/log", response_model=PosttradeResponse,
             summary="Report a fill, close, cancel or reject (idempotent by client_order_id + status)")
async def posttrade_log(body: PosttradeRequest, service: Service) -> dict[str, Any]:
    check_configured(service, body.symbol)
    return service.posttrade(body)


async def _read_body(receive: Receive) -> bytes:
    message = await receive()
    chunks = []
    while True:
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)
        message = await receive()


class _Endpoint:
    """One gate route as a bare ASGI app: token, body validation, the endpoint, JSON bytes out.

    Errors are raised as ``HTTPException`` / ``RequestValidationError`` for the app's handlers.
    """

    def __init__(self, endpoint: Callable[..., Awaitable[dict[str, Any]]], model: type[BaseModel]) -> None:
        self.endpoint = endpoint
        self.validate = model.model_validate_json

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = scope["app"].state
        authorise(state, next((v.decode("latin-1") for k, v in scope["headers"] if k == _AUTH), ""))
        try:
            body = self.validate(await _read_body(receive))
        except ValidationError as exc:
            errors = exc.errors(include_url=False, include_input=False, include_context=False)
            raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in errors]) from None
        service: GateService = state.service
        try:
            out = encode(await self.endpoint(body=body, service=service))
        except StateStoreError as exc:  # fail closed: no allow, nothing applied; the caller retries
            raise HTTPException(503, detail="risk state store unavailable, nothing was applied: "
                                            f"{exc}") from None
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", b"%d" % len(out)), _JSON]})
        await send({"type": "http.response.body", "body": out})


def serving_routes() -> list[BaseRoute]:
    """The gate endpoints as bare ASGI routes: what the app's router serves (a POST to them is
    normally answered earlier, by :class:`HotRoutes`)."""
    return [Route(r.path, _Endpoint(r.endpoint, r.body_field.field_info.annotation), methods=list(r.methods))
            for r in router.routes if isinstance(r, APIRoute) and r.body_field is not None]


class HotRoutes:
    """Pure ASGI middleware answering ``POST`` to the gate routes itself; everything else (other
    paths, other methods: 405 from the router) goes on to the app.

    Installed inside :class:`aurora.api.app.BodyLimit` (so 413 still applies) and outside the
    app's exception middleware, router and FastAPI's exit-stack middleware, which it saves on
    every check; ``HTTPException`` and ``RequestValidationError`` get the app's own handlers
    (``handlers``: ``app.exception_handlers``), so every answer is the one the routes give.
    Anything else propagates to the server-error middleware as before. Server CPU per pre-trade
    check, server and load generator pinned to one core each: ~136 µs through the router,
    ~122 µs here (the trivial endpoint: ~125 µs).
    """

    def __init__(self, app: ASGIApp, handlers: Mapping[Any, Callable[..., Awaitable[Response]]]) -> None:
        self.app = app
        self.handlers = handlers
        self.endpoints = {route.path: route.app for route in serving_routes() if isinstance(route, Route)}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = self.endpoints.get(scope["path"]) if scope["type"] == "http" else None
        if endpoint is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        try:
            await endpoint(scope, receive, send)
        except (HTTPException, RequestValidationError) as exc:
            handler = next(self.handlers[cls] for cls in type(exc).__mro__ if cls in self.handlers)
            response = await handler(Request(scope, receive), exc)
            await response(scope, receive, send)
