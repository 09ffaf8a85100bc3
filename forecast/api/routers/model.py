"""The model being served: what it is, and loading the current champion without downtime."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status

from forecast.api.deps import ApiKey, StateDep
from forecast.api.loading import describe, load_state
from forecast.api.responses import NEEDS_KEY, NEEDS_MODEL
from forecast.api.schemas import ErrorMessage, ModelAnswer, ReloadAnswer, WorkerServing

router = APIRouter(prefix="/v1", tags=["model"])
log = logging.getLogger("bedcast.api")


def _date(value: Any) -> str | None:
    return str(value)[:10] if value else None


@router.get("/model", response_model=ModelAnswer, responses=NEEDS_MODEL, summary="The model being served")
def model_info(state: StateDep) -> ModelAnswer:
    """Name, version, run, training time, the data's range and the backtest summary of the served model."""
    served, meta = state.served, state.bundle.meta
    return ModelAnswer(
        name=served.name,
        version=served.version,
        alias=served.alias,
        run_id=served.run_id,
        trained_at=meta.get("trained_at"),
        loaded_at=state.loaded_at,
        data_first_date=_date(meta.get("data_first_date")),  # type: ignore[arg-type]
        data_last_date=_date(meta.get("data_last_date")),  # type: ignore[arg-type]
        forecast_first_day=state.first_day.date(),
        forecast_last_day=state.last_day.date(),
        score=meta.get("score"),
        backtest=meta.get("backtest") or {},
        chosen=meta.get("chosen") or {},
        policy={k: float(v) for k, v in vars(state.policy).items()},
        staffing={k: float(v) for k, v in vars(state.ratios).items()},
    )


@router.post(
    "/reload",
    response_model=ReloadAnswer,
    dependencies=[ApiKey],
    responses={
        **NEEDS_KEY,
        409: {"model": ErrorMessage, "description": "Another reload is running."},
        503: {
            "model": ErrorMessage,
            "description": "The load failed (the previous model still serves), or not every worker reloaded.",
        },
    },
    summary="Load the current champion",
)
def reload_model(request: Request) -> ReloadAnswer:
    """Load the model the alias points at now, build its answers, then swap it in; the old model serves until
    the swap, and keeps serving if the load fails. With several workers (`bedcast serve --workers N`) every
    worker reloads, and the answer lists what each serves; a worker that does not reload within
    `BEDCAST_RELOAD_WAIT_SECONDS` makes the answer 503 naming it."""
    app = request.app
    follower = app.state.follower
    if not app.state.reload_lock.acquire(blocking=False):
        # The worker's own follower loading the alias's new version is no reason to refuse: wait for it.
        following = follower is not None and follower.loading
        if not (following and app.state.reload_lock.acquire(timeout=app.state.settings.reload_wait_seconds)):
            raise HTTPException(status.HTTP_409_CONFLICT, detail="a reload is already running; try again when it ends")
    try:
        previous = app.state.serving
        try:
            state = load_state(app.state.loader)
        except Exception as error:  # whatever went wrong, the model serving now must stay
            still = f"still serving version {previous.served.version}" if previous else "no model is serving"
            log.warning("reload failed: %s", describe(error))
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE, detail=f"reload failed ({still}): {describe(error)}"
            ) from None
        app.state.serving = state  # one reference: requests see the old state or the new, never a mix
        app.state.load_error = None
        board = follower.board if follower is not None else None
        if board is not None:
            follower.reloaded = board.ask_reload()  # the other workers' followers take it from here
            follower.report()
    finally:
        app.state.reload_lock.release()
    log.info("serving %s version %s", state.served.name, state.served.version)
    workers = []
    if board is not None:
        statuses, missing = board.wait_for_reload(follower.reloaded, app.state.settings.reload_wait_seconds)
        workers = [WorkerServing(worker=s.pid, model_version=s.version) for s in statuses]
        if missing:
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                detail=f"the reload did not reach every worker (this one serves version {state.served.version}): "
                f"{'; '.join(missing)}; the workers also follow the alias every "
                f"{app.state.settings.follow_seconds:g} s",
            )
    return ReloadAnswer(
        model_name=state.served.name,
        model_version=state.served.version,
        previous_version=previous.served.version if previous else None,
        loaded_at=state.loaded_at,
        workers=workers,
    )
