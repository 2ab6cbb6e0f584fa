"""Authenticated operator routes: kill switch and artifact reload."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from aurora.api.dependencies import Service, require_token
from aurora.api.routers.gate import ERRORS
from aurora.api.schemas import KillSwitchRequest, KillSwitchResponse, ReloadResponse

router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Depends(require_token)], responses=ERRORS)


@router.post("/kill-switch", response_model=KillSwitchResponse,
             summary="Engage or release the kill switch (durable; every check denies while engaged)")
async def kill_switch(body: KillSwitchRequest, service: Service) -> KillSwitchResponse:
    state = service.set_kill_switch(body.engaged, body.reason)
    return KillSwitchResponse(kill_switch=state.kill_switch, reason=state.kill_reason)


@router.post("/reload", response_model=ReloadResponse,
             summary="Reload the calibration artifact now (the current one stays on failure)")
async def reload(service: Service) -> ReloadResponse:
    error = service.reload("admin")
    cal = service.calibration
    return ReloadResponse(reloaded=error is None, model_version=cal.model_version if cal else None,
                          sha256=cal.sha256 if cal else None, error=error)
