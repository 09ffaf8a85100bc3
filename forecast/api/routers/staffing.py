"""Nurses per shift for a unit's expected census, and the full-time posts they add up to."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from forecast.api.deps import DaysQuery, FormatQuery, StartQuery, StateDep
from forecast.api.responses import CSV, NEEDS_MODEL, UNKNOWN_UNIT, respond
from forecast.serving import answers
from forecast.serving.schemas import StaffingAnswer

router = APIRouter(prefix="/v1/staffing", tags=["staffing"])

TableQuery = Annotated[
    Literal["shifts", "fte"], Query(description="Which table ?format=csv gives: per shift, or weekly FTE.")
]


@router.get(
    "/{unit}",
    response_model=StaffingAnswer,
    responses={**CSV, **UNKNOWN_UNIT, **NEEDS_MODEL},
    summary="Nurses per day and shift",
)
async def unit_staffing(
    state: StateDep,
    unit: str,
    start: StartQuery = None,
    days: DaysQuery = None,
    table: TableQuery = "shifts",
    fmt: FormatQuery = "json",
) -> Response:
    """Per day and shift (day, evening, night): the expected census and the registered and assistant nurses
    it needs (the model's ratios), plus full-time equivalents per ISO week."""
    return await respond(state, answers.staffing_answer(state, unit, start, days, table), fmt)
