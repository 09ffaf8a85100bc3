"""Scenario answers: checked against the served model, computed by `forecast.scenarios`, rendered once and cached.

A whole-hospital scenario of a quarter has a few thousand rows (days and shifts per unit), so the tables are
written to JSON by pandas (in C) rather than through a pydantic model per row; `ScenarioAnswer` documents the
same shape in OpenAPI. The served model's scenario inputs and the served plan of a quarter are worked out once
per loaded model and kept in the state.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from fastapi import HTTPException, status

from forecast import scenarios
from forecast.api.answers import Pending
from forecast.api.scenario_schemas import ScenarioIn
from forecast.api.state import Body, ServingState

__all__ = ["TABLES", "Table", "check_scenario", "scenario_answer", "warm_scenarios"]

Table = Literal["weeks", "days", "shifts", "fte"]
TABLES: tuple[Table, ...] = ("weeks", "days", "shifts", "fte")
Format = Literal["json", "csv"]

# The core's column names → the API's (the plan's names; "open beds" since a scenario may plan them).
NAMES = {
    "unique_id": "unit",
    "period": "week",
    "period_start": "week_start",
    "ds": "date",
    "mean": "mean_census",
    "p90": "p90_census",
    "beds_target": "beds_at_target_occupancy",
    "beds_risk": "beds_at_overflow_risk",
    "current_beds": "open_beds",
}
WHOLE = ("beds_at_target_occupancy", "beds_at_overflow_risk", "open_beds", "gap", "surge_days", "days")
COLUMNS: dict[Table, list[str]] = {
    "weeks": [
        "unit",
        "week",
        "week_start",
        "days",
        *(
            f"{prefix}{name}"
            for prefix in ("", "served_", "change_")
            for name in (
                "mean_census",
                "p90_census",
                "beds_at_target_occupancy",
                "beds_at_overflow_risk",
                "open_beds",
                "gap",
                "expected_days_over_capacity",
                "surge_days",
            )
        ),
    ],
    "days": [
        "unit",
        "date",
        "mean_census",
        "p90_census",
        "beds_at_target_occupancy",
        "beds_at_overflow_risk",
        "open_beds",
        "p_over_capacity",
        "surge_day",
        "served_mean_census",
        "served_beds_at_overflow_risk",
        "served_p_over_capacity",
        "change_mean_census",
        "change_beds_at_overflow_risk",
        "change_p_over_capacity",
    ],
    "shifts": [
        "unit",
        "date",
        "shift",
        "census",
        "registered_nurses",
        "assistant_nurses",
        "change_registered_nurses",
        "change_assistant_nurses",
    ],
    "fte": [
        "unit",
        "week",
        "days",
        "rn_fte",
        "an_fte",
        "served_rn_fte",
        "served_an_fte",
        "change_rn_fte",
        "change_an_fte",
    ],
}
JSON_KEYS: dict[Table, str] = {"weeks": "weeks", "days": "days", "shifts": "shifts", "fte": "weekly_fte"}


CORE_NAMES = {api: core for core, api in NAMES.items()}


def _core_name(name: str, columns: pd.Index) -> str:
    """The core's column behind an API column (`served_open_beds` → `served_current_beds`)."""
    if name in columns:  # the weekly table's `mean_census` is the core's own name; the daily one's is `mean`
        return name
    for prefix in ("served_", "change_"):
        if name.startswith(prefix):
            return prefix + CORE_NAMES.get(name[len(prefix) :], name[len(prefix) :])
    return CORE_NAMES.get(name, name)


def _whole(name: str) -> bool:
    base = name.removeprefix("served_").removeprefix("change_")
    return base in WHOLE or base.endswith("_nurses")


def _api_table(frame: pd.DataFrame, table: Table) -> pd.DataFrame:
    """The core's table with the API's names and types: dates as YYYY-MM-DD, whole numbers as whole."""
    out = {}
    for name in COLUMNS[table]:
        values = frame[_core_name(name, frame.columns)]
        if name in ("date", "week_start"):
            days, index = np.unique(values.to_numpy(), return_inverse=True)
            out[name] = pd.DatetimeIndex(days).strftime("%Y-%m-%d").to_numpy()[index]
        elif _whole(name) and not isinstance(values.dtype, pd.Int64Dtype):
            out[name] = pd.array(np.round(values.to_numpy(dtype=float, na_value=np.nan)), dtype="Int64")
        else:
            out[name] = values.array
    return pd.DataFrame(out, copy=False)


# --- per loaded model ----------------------------------------------------------------------------------------


def _inputs(state: ServingState) -> scenarios.ScenarioInputs:
    found = state.derived.get("scenario_inputs")
    if found is None:
        found = state.derived["scenario_inputs"] = scenarios.scenario_inputs(state.bundle)
    return found


def _ratios(state: ServingState) -> dict[str, Any]:
    return {unit: state.ratios_for(unit) for unit in state.units}


def _served_plan(state: ServingState, start: pd.Timestamp, end: pd.Timestamp) -> scenarios.PlanTables:
    key = ("served_plan", start, end)
    found = state.derived.get(key)
    if found is None:
        found = scenarios.served_plan(_inputs(state), state.current_beds, start, end, state.policy, _ratios(state))
        state.derived[key] = found
    return found


def warm_scenarios(state: ServingState) -> None:
    """Cut the scenario inputs and work out the next quarter's served plan before the state serves."""
    _inputs(state)
    if "NEXT" in state.quarters:
        _served_plan(state, *state.quarters["NEXT"])


# --- checking ------------------------------------------------------------------------------------------------


def _refuse(loc: Sequence[str | int], message: str) -> HTTPException:
    # FastAPI's own shape of a validation error, so clients parse every 422 the same way.
    return HTTPException(
        status.HTTP_422_UNPROCESSABLE_CONTENT,
        detail=[{"loc": ["body", *loc], "msg": message, "type": "scenario"}],
    )


def _quarter(state: ServingState, quarter: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    found = state.quarters.get(quarter.strip().upper())
    if found is None:
        allowed = ", ".join(["next", *(q for q in state.quarters if q != "NEXT")]) if state.quarters else "none"
        raise _refuse(
            ["quarter"],
            f"the forecast covers {state.first_day:%Y-%m-%d} to {state.last_day:%Y-%m-%d}; quarters: {allowed}",
        )
    return found


def check_scenario(state: ServingState, body: ScenarioIn) -> tuple[scenarios.Scenario, pd.Timestamp, pd.Timestamp]:
    """The core scenario and the plan's days, or a 422 naming the field the served model cannot answer."""
    start, end = _quarter(state, body.quarter)
    scenario = body.core()
    try:
        scenarios.check(state.bundle, scenario, start, end, _inputs(state))
    except scenarios.ScenarioError as error:
        loc = [int(p) if p.isdigit() else p for p in error.field.split(".")]
        raise _refuse(loc, str(error)) from None
    return scenario, start, end


# --- the answer ----------------------------------------------------------------------------------------------


def _json(state: ServingState, body: ScenarioIn, result: scenarios.ScenarioResult, start, end, tables) -> bytes:
    inputs = _inputs(state)
    head: dict[str, Any] = {
        "model_name": state.served.name,
        "model_version": state.served.version,
        "quarter": f"{start.year}Q{start.quarter}",
        "start": f"{start:%Y-%m-%d}",
        "end": f"{end:%Y-%m-%d}",
        "target_acute": result.policy.target_acute,
        "target_elective": result.policy.target_elective,
        "overflow_risk": result.policy.overflow_risk,
        "scenario": body.model_dump(mode="json"),
        "units": [
            {"unit": unit, "model": str(inputs.census[unit]["model"].iloc[0]), "how": how}
            for unit, how in result.how.items()
        ],
        "notes": result.notes,
    }
    parts = [json.dumps(head)[:-1]]
    for table in TABLES:
        key = JSON_KEYS[table]
        if table in tables:
            frame = _api_table(getattr(result, table), table)
            parts.append(f', "{key}": {frame.to_json(orient="records", double_precision=15)}')
        elif table != "weeks":
            parts.append(f', "{key}": null')
    parts.append("}")
    return "".join(parts).encode()


def scenario_answer(
    state: ServingState,
    body: ScenarioIn,
    fmt: Format = "json",
    tables: Sequence[Table] = ("weeks", "days", "fte"),
    table: Table = "weeks",
) -> Pending:
    """A checked scenario (422 at once for what the model cannot answer) and how to render its answer."""
    scenario, start, end = check_scenario(state, body)
    wanted = tuple(t for t in TABLES if t in tables or t == "weeks")

    def render() -> Body:
        result = scenarios.run_scenario(
            state.bundle,
            scenario,
            start,
            end,
            state.policy,
            _ratios(state),
            _served_plan(state, start, end),
            _inputs(state),
        )
        if fmt == "csv":
            text = _api_table(getattr(result, table), table).to_csv(index=False, lineterminator="\n")
            return Body(text.encode(), "text/csv; charset=utf-8")
        return Body(_json(state, body, result, start, end, wanted), "application/json")

    key = ("scenario", body.model_dump_json(), fmt, wanted if fmt == "json" else table)
    return Pending(key, render)
