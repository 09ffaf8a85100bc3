"""Beds a unit needs per day: at the target occupancy and at the accepted overflow risk."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from forecast.api.deps import DaysQuery, FormatQuery, StartQuery, StateDep
from forecast.api.responses import CSV, NEEDS_MODEL, UNKNOWN_UNIT, respond
from forecast.serving import answers
from forecast.serving.schemas import BedsAnswer

router = APIRouter(prefix="/v1/beds", tags=["beds"])

TargetOccupancyQuery = Annotated[
    float | None,
    Query(
        ge=0.01,
        le=1,
        description="One occupancy target for all care (0.01 to 1); default the model's acute/elective targets.",
    ),
]
OverflowRiskQuery = Annotated[
    float | None, Query(gt=0, le=0.5, description="Accepted P(census > beds); default the model's policy.")
]


@router.get(
    "/{unit}",
    response_model=BedsAnswer,
    responses={**CSV, **UNKNOWN_UNIT, **NEEDS_MODEL},
    summary="Beds needed per day",
)
async def unit_beds(
    state: StateDep,
    unit: str,
    start: StartQuery = None,
    days: DaysQuery = None,
    target_occupancy: TargetOccupancyQuery = None,
    overflow_risk: OverflowRiskQuery = None,
    fmt: FormatQuery = "json",
) -> Response:
    """Per day: the expected census, beds at the target occupancy, beds at the overflow risk (the fewest beds
    with P(census > beds) ≤ risk), today's beds and the chance the census exceeds them."""
    return await respond(state, answers.beds_answer(state, unit, start, days, target_occupancy, overflow_risk), fmt)
