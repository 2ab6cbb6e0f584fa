"""Open routes: health (liveness + readiness), a constant liveness probe, Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from aurora.api.dependencies import Service
from aurora.api.schemas import Health
from aurora.events import encode

router = APIRouter(tags=["health"])
_LIVE = b'{"live":true}'


@router.get("/health", response_model=Health, responses={503: {"model": Health, "description": "not ready"}},
            summary="Liveness and readiness: artifact loaded and fresh, state store writable, kill switch")
async def health(service: Service) -> Response:
    body = service.health()
    return Response(encode(body), status_code=200 if body["ready"] else 503, media_type="application/json")


@router.get("/health/live", summary="Constant liveness probe (also the benchmark's trivial endpoint)",
            responses={200: {"content": {"application/json": {"example": {"live": True}}}}})
async def live() -> Response:
    return Response(_LIVE, media_type="application/json")


@router.get("/metrics", summary="Prometheus metrics (text exposition format)", response_class=Response,
            responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}})
async def metrics(service: Service) -> Response:
    service.state_now()  # equity and drawdown as of now: the day rolled if due
    return Response(generate_latest(service.metrics.registry), media_type=CONTENT_TYPE_LATEST)
