"""The gate: ``POST /pretrade/check`` and ``POST /posttrade/log`` (contract: DESIGN.md §6)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response

from aurora.api.dependencies import Service, check_configured, require_token
from aurora.api.schemas import (
    ErrorBody,
    PosttradeRequest,
    PosttradeResponse,
    PretradeRequest,
    PretradeResponse,
    ValidationErrorBody,
)
from aurora.events import encode

ERRORS = {
    401: {"model": ErrorBody, "description": "missing or invalid bearer token"},
    413: {"model": ErrorBody, "description": "body larger than api.max_body_bytes"},
    422: {"model": ValidationErrorBody, "description": "invalid input; each error names its field"},
    503: {"model": ErrorBody, "description": "no API token configured"},
}
router = APIRouter(tags=["gate"], dependencies=[Depends(require_token)], responses=ERRORS)


@router.post("/pretrade/check", response_model=PretradeResponse,
             summary="Decide whether an order may be sent, and its largest allowed quantity")
async def pretrade_check(body: PretradeRequest, service: Service) -> Response:
    check_configured(service, body.symbol, body.regime)
    return Response(encode(service.check(body)), media_type="application/json")


@router.post("/posttrade/log", response_model=PosttradeResponse,
             summary="Report a fill, close, cancel or reject (idempotent by client_order_id + status)")
async def posttrade_log(body: PosttradeRequest, service: Service) -> Response:
    check_configured(service, body.symbol)
    return Response(encode(service.posttrade(body)), media_type="application/json")
