"""The gate: ``POST /pretrade/check`` and ``POST /posttrade/log`` (contract: DESIGN.md §6).

:data:`router` documents them (body, responses, examples); they are served as bare ASGI
endpoints (:mod:`aurora.api.endpoint`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from aurora.api.dependencies import Service, check_configured
from aurora.api.endpoint import CONFLICT, ERRORS
from aurora.api.schemas import PosttradeRequest, PosttradeResponse, PretradeRequest, PretradeResponse

router = APIRouter(tags=["gate"], responses=ERRORS)


@router.post("/pretrade/check", response_model=PretradeResponse,
             summary="Decide whether an order may be sent, and its largest allowed quantity")
async def pretrade_check(body: PretradeRequest, service: Service) -> dict[str, Any]:
    check_configured(service, body.symbol, body.regime)
    return service.check(body)


@router.post("/posttrade/log", response_model=PosttradeResponse, responses=CONFLICT,
             summary="Report a fill, close, cancel or reject (idempotent by client_order_id + status)")
async def posttrade_log(body: PosttradeRequest, service: Service) -> dict[str, Any]:
    check_configured(service, body.symbol)
    return service.posttrade(body)
