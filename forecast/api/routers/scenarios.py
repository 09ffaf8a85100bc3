"""What-if scenarios: the plan recomputed after changing admissions, stays, targets or open beds; saved by name."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Path, Query, Request, Response, status
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from forecast.api.deps import ApiKey, FormatQuery, StateDep
from forecast.api.responses import CSV, NEEDS_KEY, NEEDS_MODEL, respond
from forecast.api.schemas import ErrorMessage
from forecast.serving.errors import Conflict, Invalid, NotFound, Problem
from forecast.serving.scenario import TABLES, Table, check_scenario, scenario_answer
from forecast.serving.scenario_schemas import EXAMPLE, NamedScenarioIn, SavedScenario, ScenarioAnswer, ScenarioIn
from forecast.store import ScenarioNameTaken, ScenarioStore

router = APIRouter(prefix="/v1/scenarios", tags=["scenarios"])

REFUSED: dict[int | str, dict[str, Any]] = {
    422: {
        "description": "A field the served model cannot answer: an unknown unit, a week or day outside the forecast, "
        "a change of −100 % or less, stays below one day, beds below zero, an occupancy outside (0, 1]. "
        "`loc` names the field."
    }
}
NOT_JSON: dict[int | str, dict[str, Any]] = {400: {"model": ErrorMessage, "description": "The body is not JSON."}}
ScenarioBody = Annotated[
    ScenarioIn,
    Body(
        openapi_examples={
            "summer": {"summary": "Shorter stays, a closure, levelled planned admissions", "value": EXAMPLE},
            "empty": {"summary": "The empty scenario: the served plan", "value": {}},
        }
    ),
]
TablesQuery = Annotated[
    str,
    Query(
        max_length=40,
        pattern=r"^(weeks|days|shifts|fte)(,(weeks|days|shifts|fte))*$",
        description="JSON: the tables to include, comma-separated, of weeks, days, shifts, fte (weeks always; "
        "shifts, a row per unit, day and shift, only when asked for).",
    ),
]
ScenarioId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The id `POST /v1/scenarios/saved` gave.")]
TableQuery = Annotated[Literal["weeks", "days", "shifts", "fte"], Query(description="CSV: which table.")]


def _tables(text: str) -> tuple[Table, ...]:
    return tuple(t for t in TABLES if t in text.split(","))


def _scenarios(request: Request) -> ScenarioStore:
    return ScenarioStore(request.app.state.store.engine)


@router.post(
    "",
    response_model=ScenarioAnswer,
    responses={**CSV, **NEEDS_MODEL, **REFUSED, **NOT_JSON},
    summary="Plan a what-if scenario",
)
async def plan_scenario(
    state: StateDep,
    scenario: ScenarioBody,
    fmt: FormatQuery = "json",
    tables: TablesQuery = "weeks,days,fte",
    table: TableQuery = "weeks",
) -> Response:
    """The quarter's plan under the scenario beside the served plan: per unit and ISO week (as `GET /v1/plan`),
    per unit and day, full-time equivalents per week and (with `tables=...,shifts`) nurses per shift, each
    figure with `served_` (the served plan) and `change_` (scenario − served). `units` says how each unit's
    scenario census was made.

    Admissions and length-of-stay changes go through each unit's flow structure (its forecast admissions by
    type, length-of-stay curves and patients in bed): a unit whose census model is the flow model is recomputed;
    another model's census is scaled day by day by the flow's ratio of scenario to served census. Quantiles scale
    with the mean by the same ratio, so the calibrated uncertainty carries over; the empty scenario is the served
    plan exactly. Planned open beds replace today's beds in their ISO week."""
    return await respond(state, scenario_answer(state, scenario, _tables(tables), table), fmt)


@router.get("", response_model=list[SavedScenario], summary="Saved scenarios")
def saved_scenarios(request: Request) -> list[SavedScenario]:
    """Every saved scenario, oldest first."""
    return [SavedScenario(**row) for row in _scenarios(request).list()]


@router.post(
    "/saved",
    response_model=SavedScenario,
    status_code=status.HTTP_201_CREATED,
    dependencies=[ApiKey],
    responses={
        **NEEDS_KEY,
        **NEEDS_MODEL,
        **REFUSED,
        **NOT_JSON,
        409: {"model": ErrorMessage, "description": "A scenario of that name is already saved."},
    },
    summary="Save a named scenario",
)
async def save_scenario(
    request: Request,
    state: StateDep,
    scenario: Annotated[NamedScenarioIn, Body(openapi_examples={"summer": {"summary": "Summer A", "value": EXAMPLE}})],
) -> SavedScenario:
    """Keep a scenario under its `name` (in the episodes database), after checking it against the served
    model: a scenario it cannot answer is refused (422) and nothing is stored."""
    check_scenario(state, scenario)
    try:
        row = await run_in_threadpool(_scenarios(request).save, scenario.name, scenario.model_dump(mode="json"))
    except ScenarioNameTaken as error:
        raise Conflict(str(error)) from None
    return SavedScenario(**row)


@router.get(
    "/{scenario_id}",
    response_model=ScenarioAnswer,
    responses={
        **CSV,
        **NEEDS_MODEL,
        **REFUSED,
        404: {"model": ErrorMessage, "description": "No saved scenario has this id."},
    },
    summary="A saved scenario, recomputed against the served model",
)
async def saved_scenario(
    request: Request,
    state: StateDep,
    scenario_id: ScenarioId,
    fmt: FormatQuery = "json",
    tables: TablesQuery = "weeks,days,fte",
    table: TableQuery = "weeks",
) -> Response:
    """The saved scenario's plan against the model serving now (as `POST /v1/scenarios`); a scenario the new
    model cannot answer (e.g. its weeks are no longer in the forecast) is a 422 naming the field."""
    row = await run_in_threadpool(_scenarios(request).get, scenario_id)
    if row is None:
        raise NotFound(f"no saved scenario {scenario_id}; GET /v1/scenarios")
    try:
        scenario = ScenarioIn.model_validate(row["scenario"])
    except ValidationError as error:  # saved by an older version whose fields this one no longer reads
        problems = [Problem(("saved", *e["loc"]), e["msg"], e["type"]) for e in error.errors()]
        raise Invalid(f"saved scenario {scenario_id} cannot be read by this version", problems) from None
    return await respond(state, scenario_answer(state, scenario, _tables(tables), table, where=("saved",)), fmt)


@router.delete(
    "/saved/{scenario_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[ApiKey],
    responses={**NEEDS_KEY, 404: {"model": ErrorMessage, "description": "No saved scenario has this id."}},
    summary="Delete a saved scenario",
)
async def delete_scenario(request: Request, scenario_id: ScenarioId) -> Response:
    """Remove a saved scenario for good (its name is free again)."""
    if not await run_in_threadpool(_scenarios(request).delete, scenario_id):
        raise NotFound(f"no saved scenario {scenario_id}; GET /v1/scenarios")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
