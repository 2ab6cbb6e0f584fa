"""Authenticated operator routes: kill switch, artifact reload, equity correction.

:data:`router` documents them; they are served as bare ASGI endpoints
(:mod:`aurora.api.endpoint`), so the token is checked before any body is read.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from aurora.api.dependencies import Service
from aurora.api.endpoint import ERRORS
from aurora.api.schemas import (
    EquityCorrection,
    EquityCorrectionResponse,
    KillSwitchRequest,
    KillSwitchResponse,
    ReloadResponse,
)

router = APIRouter(prefix="/admin", tags=["admin"], responses=ERRORS)


@router.post("/kill-switch", response_model=KillSwitchResponse,
             summary="Engage or release the kill switch (durable; every check denies while engaged)")
async def kill_switch(body: KillSwitchRequest, service: Service) -> dict[str, Any]:
    state = service.set_kill_switch(body.engaged, body.reason)
    return {"kill_switch": state.kill_switch, "reason": state.kill_reason}


@router.post("/reload", response_model=ReloadResponse,
             summary="Reload the calibration artifact now (the current one stays on failure)")
async def reload(service: Service) -> dict[str, Any]:
    error = service.reload("admin")
    cal = service.calibration
    return {"reloaded": error is None, "model_version": cal.model_version if cal else None,
            "sha256": cal.sha256 if cal else None, "error": error}


@router.post("/equity", response_model=EquityCorrectionResponse,
             summary="Correct the equity after a bad post-trade report (durable, audited as an event)")
async def correct_equity(body: EquityCorrection, service: Service) -> dict[str, Any]:
    state = service.correct_equity(body.equity, body.reason, body.client_order_id)
    return {"equity": state.equity, "daily_pnl": state.daily_pnl, "drawdown_pct": state.drawdown_pct,
            "dd_breached": state.dd_breached, "cooloff_s": service.cooloff_s(service.clock())}
