"""How the authenticated routes are served: each is a bare ASGI endpoint (:class:`BareEndpoint`).

In order: the bearer token is checked (so an unauthenticated request gets 401 before its body
is read or parsed), the raw body is read, validated by pydantic's JSON parser in one step and
checked for duplicate keys (JSON allows them and parsers disagree on which one wins: a proxy
reading the first would see another order than Aurora reading the last, so they are a 422),
the endpoint runs, and its answer is sent as pre-encoded JSON bytes. Errors are raised as
``HTTPException`` / ``RequestValidationError`` for the app's handlers. A client that goes away
mid-body is not an error of the server: nothing is answered and nothing is logged as one.

The routes' documentation (body, responses, examples) comes from ordinary FastAPI
``APIRouter`` s, which are not mounted: :func:`bare_routes` turns their routes into these
endpoints. Figure (``auroractl bench gate``, pretrade vs trivial throughput): an ``APIRoute``
0.63–0.68×, these bare endpoints ≥ 0.77× in every run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from aurora.api.dependencies import authorise
from aurora.api.schemas import ConflictBody, ErrorBody, ValidationErrorBody
from aurora.api.service import GateService
from aurora.api.store import StateStoreError
from aurora.events import encode

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "missing or invalid bearer token"},
    413: {"model": ErrorBody, "description": "body larger than api.max_body_bytes"},
    422: {"model": ValidationErrorBody, "description": "invalid input (or a JSON key given twice); each "
                                                       "error names its field"},
    503: {"model": ErrorBody, "description": "no API token configured, or the risk state store cannot "
                                             "be read or written right now (nothing was applied)"},
}
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": ConflictBody, "description": "this client_order_id + status was logged with another "
                                                "payload: the differing fields, nothing applied"}}
_JSON = (b"content-type", b"application/json")
_AUTH = b"authorization"
#: The end of a JSON object key: a closing quote, optional whitespace, a colon. Without a
#: backslash in the body every quote delimits a string, so this counts the keys exactly.
_KEY_END = re.compile(rb'"[ \t\r\n]*:')


async def read_body(receive: Receive) -> bytes:
    """The whole request body; ``ClientDisconnect`` if the client goes away first."""
    message = await receive()
    chunks = []
    while True:
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)
        message = await receive()


class _DuplicateKeyError(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> None:
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise _DuplicateKeyError(key)
        seen.add(key)


def duplicate_key(raw: bytes, n_fields: int) -> str | None:
    """The first key given twice in the flat JSON object ``raw`` (which validated with ``n_fields``
    distinct fields), or None. A regex count when it is exact (~1 µs), else a full parse."""
    if b"\\" not in raw and len(_KEY_END.findall(raw)) == n_fields:
        return None
    try:
        json.loads(raw, object_pairs_hook=_no_duplicates)
    except _DuplicateKeyError as exc:
        return str(exc)
    return None


def _validation_error(exc: ValidationError) -> RequestValidationError:
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    return RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in errors])


class BareEndpoint:
    """One authenticated route as a bare ASGI app (see the module docstring). ``model``: the body's
    model, or None for a route without a body."""

    def __init__(self, endpoint: Callable[..., Awaitable[dict[str, Any]]],
                 model: type[BaseModel] | None) -> None:
        self.endpoint = endpoint
        self.model = model

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = scope["app"].state
        authorise(state, next((v.decode("latin-1") for k, v in scope["headers"] if k == _AUTH), ""))
        service: GateService = state.service
        kwargs: dict[str, Any] = {"service": service}
        if self.model is not None:
            try:
                raw = await read_body(receive)
            except ClientDisconnect:  # the client left mid-body: no one to answer, not a server error
                return
            try:
                body = self.model.model_validate_json(raw)
            except ValidationError as exc:
                raise _validation_error(exc) from None
            key = duplicate_key(raw, len(body.model_fields_set))
            if key is not None:
                raise RequestValidationError([{"loc": ("body", key), "type": "duplicate_key", "msg": (
                    f"key {key!r} appears more than once in the JSON object; send each key once")}])
            kwargs["body"] = body
        try:
            out = encode(await self.endpoint(**kwargs))
        except StateStoreError as exc:  # fail closed: no allow, nothing applied; the caller retries
            raise HTTPException(503, detail="risk state store unavailable, nothing was applied: "
                                            f"{exc}") from None
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", b"%d" % len(out)), _JSON]})
        await send({"type": "http.response.body", "body": out})


def bare_routes(router: APIRouter) -> list[Route]:
    """The routes of the (documentation-only) ``router`` as :class:`BareEndpoint` routes."""
    return [Route(r.path, BareEndpoint(r.endpoint, r.body_field.field_info.annotation if r.body_field
                                       else None), methods=list(r.methods))
            for r in router.routes if isinstance(r, APIRoute)]
