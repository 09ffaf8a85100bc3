"""The plan explained: each unit's planned beds per week split by driver (tourism, season, planned-care cuts, the
patients in bed, the risk margin, …), for a quarter or the year ahead."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from forecast.api.deps import FormatQuery, StateDep
from forecast.api.responses import CSV, NEEDS_MODEL, UNKNOWN_UNIT, respond
from forecast.api.routers.beds import OverflowRiskQuery
from forecast.serving.explain_answers import ExplainAnswer, explain_answer

router = APIRouter(prefix="/v1/explain", tags=["explain"])

PeriodQuery = Annotated[
    str,
    Query(
        pattern=r"^([Nn][Ee][Xx][Tt]|[0-9]{4}[Qq][1-4]|[Yy][Ee][Aa][Rr])$",
        description="next (the first whole quarter after the data), a quarter like 2026Q1 inside the forecast, or "
        "year (the 52 weeks ahead, where the model forecasts them).",
    ),
]
DESCRIPTION = """Per unit and ISO week, the plan's beds at the overflow risk split into parts that add up to them
exactly, in whole beds: the base demand, the busiest weekday, season, public holidays, the planned-care cuts
(summer, Christmas), tourism (guest nights), other regressors, trend and level, the patients in bed now, and the
margin for the overflow risk. Each part is the driver's Shapley value over the served model's own counterfactual
forecasts (the driver neutral), rounded by largest remainder. A driver the unit's model cannot tell apart is left
out and `notes` says why; `drivers` gives each driver's status. CSV: a row per unit and week, a column per part."""


@router.get(
    "",
    response_model=ExplainAnswer,
    responses={**CSV, **NEEDS_MODEL},
    summary="Every unit's planned beds by driver, with the hospital's biggest drivers",
    description=DESCRIPTION + " Also the units' parts added up per week (`hospital`) and the biggest (`headlines`).",
)
async def explain_all(
    state: StateDep, period: PeriodQuery = "next", overflow_risk: OverflowRiskQuery = None, fmt: FormatQuery = "json"
) -> Response:
    return await respond(state, explain_answer(state, None, period, overflow_risk), fmt)


@router.get(
    "/{unit}",
    response_model=ExplainAnswer,
    responses={**CSV, **NEEDS_MODEL, **UNKNOWN_UNIT},
    summary="A unit's planned beds by driver",
    description=DESCRIPTION,
)
async def explain_unit(
    state: StateDep,
    unit: str,
    period: PeriodQuery = "next",
    overflow_risk: OverflowRiskQuery = None,
    fmt: FormatQuery = "json",
) -> Response:
    return await respond(state, explain_answer(state, unit, period, overflow_risk), fmt)
