"""Liveness and readiness, for load balancers and orchestrators."""

from __future__ import annotations

import os

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from forecast.api.deps import NO_MODEL
from forecast.api.responses import NEEDS_MODEL
from forecast.api.schemas import Health, Ready

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health, summary="The process lives")
async def health() -> Health:
    return Health()


@router.get("/ready", response_model=Ready, responses=NEEDS_MODEL, summary="A model is loaded and serving")
async def ready(request: Request) -> Ready | JSONResponse:
    slot = request.app.state.slot
    state = slot.state
    if state is None:
        return JSONResponse({"detail": slot.load_error or NO_MODEL}, status_code=503)
    served = state.served
    nowcaster = request.app.state.nowcaster
    return Ready(
        model_name=served.name,
        model_version=served.version,
        alias=served.alias,
        worker=os.getpid(),
        as_of=state.as_of.date(),
        nowcast_error=nowcaster.status.error if nowcaster is not None else None,
    )
