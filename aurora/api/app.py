"""The Aurora FastAPI app: ``create_app(settings)`` wires the service, routes and middleware.

Bad input never reaches the gate and never yields a 5xx: bodies over ``api.max_body_bytes``
get 413 (checked on ``Content-Length`` and again while reading, for chunked bodies), and
validation errors get 422 listing ``loc``/``field``/``msg``/``type`` of each problem but never
the rejected input (FastAPI's default handler echoes it, and a NaN there fails to serialise
and becomes a 500). The artifact is re-read when its file changes (polled every
``api.artifact_poll_s``, which also rolls the trading day when due), on ``SIGHUP``, or on
``POST /admin/reload``. The authenticated routes (gate and admin) are bare ASGI endpoints
(:mod:`aurora.api.endpoint`); health and metrics are ordinary FastAPI routes.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aurora import __version__, signing
from aurora.api.clock import check_clock_config
from aurora.api.dependencies import SECURITY_SCHEME
from aurora.api.endpoint import bare_routes
from aurora.api.routers import admin, gate, health
from aurora.api.service import GateService
from aurora.config import ConfigError, Settings
from aurora.core.problems import REQUEST_PARTS, problems
from aurora.events import EventLog, event_log


class BodyLimit:
    """Pure ASGI middleware answering 413 for request bodies over ``max_bytes``."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and (not value.isdigit() or int(value) > self.max_bytes):
                await JSONResponse({"detail": f"request body over {self.max_bytes} bytes"},
                                   status_code=413)(scope, receive, send)
                return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise HTTPException(413, f"request body over {self.max_bytes} bytes")
            return message

        await self.app(scope, limited, send)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    """422 naming each field and reason; the rejected input is never echoed."""
    assert isinstance(exc, RequestValidationError)
    detail = []
    errors = exc.errors()
    for err, problem in zip(errors, problems(errors, strip=REQUEST_PARTS), strict=True):
        loc = tuple(p if isinstance(p, int) else str(p) for p in err.get("loc", ()))
        msg, field = problem.message, problem.where or "body"
        if err.get("type") == "json_invalid":  # FastAPI's loc is ("body", <character offset>)
            ctx_error = (err.get("ctx") or {}).get("error")
            msg, field = f"{msg}: {ctx_error}" if ctx_error else msg, "body"
        detail.append({"loc": list(loc), "field": field, "msg": msg, "type": str(err.get("type"))})
    return JSONResponse({"detail": detail}, status_code=422)


def _check_auth_config(settings: Settings) -> bytes | None:
    token = settings.api_token.get_secret_value().encode() if settings.api_token else None
    if settings.api.mode == "live" and token is None:
        raise ConfigError("api.mode is live but AURORA_API_TOKEN is not set: refusing to start without auth")
    if settings.api.mode == "live" and settings.api.allow_unauthenticated:
        raise ConfigError("api.allow_unauthenticated cannot be true in live mode")
    try:
        key = signing.configured_key(home=settings.home)
    except signing.SignatureError as exc:
        raise ConfigError(str(exc)) from None
    if settings.api.mode == "live" and key is None:
        raise ConfigError(f"api.mode is live but {signing.ENV_KEY} is not set: live mode serves only signed "
                          "artifacts (set the key the artifacts are exported with)")
    return token


async def _maintain(service: GateService, period_s: float) -> None:
    """Every ``period_s`` seconds: reload a changed artifact, roll the trading day when due."""
    while True:
        await asyncio.sleep(period_s)
        if service.artifact_changed():
            service.reload("file_change")
        service.state_now()


def create_app(settings: Settings, events: EventLog | None = None,
               clock: Callable[[], float] = time.time) -> FastAPI:
    """Build the app; opens the state database and loads the artifact immediately. ``clock``:
    epoch seconds now (see :class:`GateService`)."""
    check_clock_config(settings)
    token = _check_auth_config(settings)
    service = GateService(settings, events or event_log(settings, "aurora-api"), clock)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        watcher = asyncio.create_task(_maintain(service, settings.api.artifact_poll_s))
        loop = asyncio.get_running_loop()
        sighup = threading.current_thread() is threading.main_thread()
        if sighup:
            loop.add_signal_handler(signal.SIGHUP, service.reload, "sighup")
        service.events.emit("api.started", mode=settings.api.mode, clock=settings.api.clock,
                            artifact=str(service.artifact_path),
                            model_version=service.model.version if service.model else None)
        try:
            yield
        finally:
            if sighup:
                loop.remove_signal_handler(signal.SIGHUP)
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            service.close()

    app = FastAPI(title="Aurora pre-trade risk gate", version=__version__, lifespan=lifespan,
                  description="Gates every order of the WiseScalp runner (DESIGN.md §6). Mutating routes "
                              "need `Authorization: Bearer <AURORA_API_TOKEN>`.")
    app.state.service = service
    app.state.token = token
    app.state.allow_unauthenticated = settings.api.allow_unauthenticated
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_middleware(BodyLimit, max_bytes=settings.api.max_body_bytes)  # outermost: 413 first
    app.router.routes.extend([*bare_routes(gate.router), *bare_routes(admin.router)])
    app.include_router(health.router)

    def openapi() -> dict[str, Any]:
        """The generated schema, with the configured symbols and regimes as enums."""
        if app.openapi_schema is None:
            doc = get_openapi(title=app.title, version=app.version, description=app.description,
                              routes=[*gate.router.routes, *admin.router.routes, *health.router.routes])
            schemas = doc["components"]["schemas"]
            for name in ("PretradeRequest", "PosttradeRequest"):
                schemas[name]["properties"]["symbol"]["enum"] = sorted(settings.symbols)
            schemas["PretradeRequest"]["properties"]["regime"]["enum"] = sorted(settings.risk.regimes)
            doc["components"]["securitySchemes"] = SECURITY_SCHEME
            for operations in doc["paths"].values():
                for op in operations.values():
                    if {"gate", "admin"} & set(op.get("tags", ())):
                        op["security"] = [{"bearerAuth": []}]
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
