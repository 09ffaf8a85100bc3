"""Production accuracy of the served model: its forecast made at training against the census since."""

from __future__ import annotations

from fastapi import APIRouter, Response

from forecast.api.deps import FormatQuery, StateDep
from forecast.api.responses import CSV, NEEDS_MODEL, respond
from forecast.serving import answers
from forecast.serving.schemas import MonitoringAnswer

router = APIRouter(prefix="/v1/monitoring", tags=["monitoring"])


@router.get(
    "", response_model=MonitoringAnswer, responses={**CSV, **NEEDS_MODEL}, summary="Is the served model still good?"
)
async def unit_monitoring(state: StateDep, fmt: FormatQuery = "json") -> Response:
    """Per unit, over the days since training with an actual census (from the stored episodes): MASE against
    the backtest's, coverage of the 80 % and 95 % intervals, the share of days the census exceeded the beds
    planned at the overflow risk, bias, and a status (ok, watch, drifted) with the reason in words."""
    return await respond(state, answers.monitoring_answer(state), fmt)
