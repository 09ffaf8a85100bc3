"""Daily forecasts of a unit's census and admissions, with the quantiles asked for."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from forecast.api.deps import DaysQuery, FormatQuery, StartQuery, StateDep
from forecast.api.responses import CSV, NEEDS_MODEL, UNKNOWN_UNIT, respond
from forecast.serving import answers
from forecast.serving.schemas import ForecastAnswer

router = APIRouter(prefix="/v1/forecast", tags=["forecast"])

QuantilesQuery = Annotated[
    str,
    Query(
        pattern=r"^\s*0?\.\d{0,3}[1-9]0*\s*(,\s*0?\.\d{0,3}[1-9]0*\s*){0,14}$",
        description="Up to 15 comma-separated levels strictly between 0 and 1 (up to 4 decimals); levels off the "
        "grid are interpolated.",
    ),
]


@router.get(
    "/{unit}",
    response_model=ForecastAnswer,
    responses={**CSV, **UNKNOWN_UNIT, **NEEDS_MODEL},
    summary="Daily census and admissions forecast of a unit",
)
async def unit_forecast(
    state: StateDep,
    unit: str,
    start: StartQuery = None,
    days: DaysQuery = None,
    quantiles: QuantilesQuery = answers.DEFAULT_QUANTILES,
    fmt: FormatQuery = "json",
) -> Response:
    """Per day from `start` for `days`: the expected census (occupied beds at midnight) and admissions, and
    their quantiles."""
    levels = answers.parse_quantiles(quantiles)
    return await respond(state, answers.forecast_answer(state, unit, start, days, levels), fmt)
