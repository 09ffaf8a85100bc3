"""The capacity planner's table: per unit and week of a quarter or the year ahead, beds needed against today's."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from forecast.api.deps import FormatQuery, StateDep
from forecast.api.responses import CSV, NEEDS_MODEL, respond
from forecast.api.routers.beds import OverflowRiskQuery
from forecast.serving import answers
from forecast.serving.schemas import PlanAnswer

router = APIRouter(prefix="/v1/plan", tags=["plan"])

QuarterQuery = Annotated[
    str,
    Query(
        pattern=r"^([Nn][Ee][Xx][Tt]|[0-9]{4}[Qq][1-4])$",
        description="next (the first whole quarter after the data), or like 2026Q1 (one inside the forecast).",
    ),
]
PeriodQuery = Annotated[
    str | None,
    Query(
        pattern=r"^([Nn][Ee][Xx][Tt]|[0-9]{4}[Qq][1-4]|[Yy][Ee][Aa][Rr])$",
        description="The period to plan: next, a quarter like 2026Q1, or year (the 52 weeks ahead, where the "
        "model forecasts them: two years of history). Given, it replaces `quarter`.",
    ),
]


@router.get(
    "", response_model=PlanAnswer, responses={**CSV, **NEEDS_MODEL}, summary="Weekly bed plan of a quarter or the year"
)
async def quarter_plan(
    state: StateDep,
    quarter: QuarterQuery = "next",
    period: PeriodQuery = None,
    overflow_risk: OverflowRiskQuery = None,
    fmt: FormatQuery = "json",
    level: Annotated[
        Literal["unit", "hospital", "region"],
        Query(description="unit, or hospital/region: pools whose units share beds, sized from the summed census."),
    ] = "unit",
) -> Response:
    """Per unit and ISO week: mean and 90th-percentile census, beds at the target occupancy and at the overflow
    risk (the week's busiest day), today's beds, the gap, expected days over capacity and surge days. Where a
    unit's beds are unknown those are null and `note` says so. `period=year` plans the 52 weeks ahead from the
    year-ahead forecast (its own backtest a year ahead: `reliability` says how it held)."""
    if period is not None:
        return await respond(state, answers.plan_answer(state, period, overflow_risk, level, field="period"), fmt)
    return await respond(state, answers.plan_answer(state, quarter, overflow_risk, level), fmt)
