"""A unit's recent days as counted in the training data: the census and admissions the forecast starts from."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from forecast.api.deps import FormatQuery, StateDep
from forecast.api.responses import CSV, NEEDS_MODEL, UNKNOWN_UNIT, respond
from forecast.serving import answers
from forecast.serving.schemas import HistoryAnswer

router = APIRouter(prefix="/v1/history", tags=["history"])

HistoryDaysQuery = Annotated[
    int | None, Query(ge=1, le=366, description="The last days to give; default all the model keeps (up to a year).")
]


@router.get(
    "/{unit}",
    response_model=HistoryAnswer,
    responses={**CSV, **UNKNOWN_UNIT, **NEEDS_MODEL},
    summary="Recent daily census and admissions of a unit",
)
async def unit_history(
    state: StateDep, unit: str, days: HistoryDaysQuery = None, fmt: FormatQuery = "json"
) -> Response:
    """Per day up to the data's last: the midnight census and the admissions as counted in the training data."""
    return await respond(state, answers.history_answer(state, unit, days), fmt)
