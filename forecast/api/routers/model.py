"""The model being served: what it is, and loading the current champion without downtime."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from forecast.api.deps import ApiKey, StateDep
from forecast.api.responses import NEEDS_KEY, NEEDS_MODEL, respond
from forecast.api.schemas import ErrorMessage, ReloadAnswer, WorkerServing
from forecast.serving import answers
from forecast.serving.errors import Busy, NoModel
from forecast.serving.schemas import ModelAnswer
from forecast.serving.slot import Slot, describe

router = APIRouter(prefix="/v1", tags=["model"])
log = logging.getLogger("bedcast.api")


@router.get("/model", response_model=ModelAnswer, responses=NEEDS_MODEL, summary="The model being served")
async def model_info(state: StateDep) -> Response:
    """Name, version, run, training time, the data's range and the backtest summary of the served model."""
    return await respond(state, answers.model_answer(state))


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
async def reload_model(request: Request) -> ReloadAnswer:
    """Load the model the alias points at now, build its answers, then swap it in; the old model serves until
    the swap, and keeps serving if the load fails. With several workers (`bedcast serve --workers N`) every
    worker reloads, and the answer lists what each serves; a worker that does not reload within
    `BEDCAST_RELOAD_WAIT_SECONDS` makes the answer 503 naming it."""
    return await run_in_threadpool(_reload, request)


def _reload(request: Request) -> ReloadAnswer:
    app = request.app
    slot: Slot = app.state.slot
    follower = app.state.follower
    # The worker's own follower loading the alias's new version is no reason to refuse: wait for it.
    wait = app.state.settings.reload_wait_seconds if slot.loading and follower is not None else 0
    previous = slot.state
    try:
        previous, state = slot.load(app.state.loader, wait=wait)
    except Busy:
        raise
    except Exception as error:  # whatever went wrong, the model serving now must stay
        still = f"still serving version {previous.served.version}" if previous else "no model is serving"
        log.warning("reload failed: %s", describe(error))
        raise NoModel(f"reload failed ({still}): {describe(error)}") from None
    if app.state.nowcaster is not None:
        app.state.nowcaster.poke()  # re-anchor the new model on the episodes since its training
    log.info("serving %s version %s", state.served.name, state.served.version)
    board = follower.board if follower is not None else None
    workers = []
    if board is not None:
        number = follower.asked_reload()  # the other workers' followers take it from here
        statuses, missing = board.wait_for_reload(number, app.state.settings.reload_wait_seconds)
        workers = [WorkerServing(worker=s.pid, model_version=s.version) for s in statuses]
        if missing:
            raise NoModel(
                f"the reload did not reach every worker (this one serves version {state.served.version}): "
                f"{'; '.join(missing)}; the workers also follow the alias every "
                f"{app.state.settings.follow_seconds:g} s"
            )
    return ReloadAnswer(
        model_name=state.served.name,
        model_version=state.served.version,
        previous_version=previous.served.version if previous else None,
        loaded_at=state.loaded_at,
        workers=workers,
    )
