"""Scenario answers: checked against the served model, computed by `forecast.scenarios`, typed once as
`ScenarioTables` and rendered as JSON, CSV, the what-if page or the CLI's table.

A whole-hospital scenario of a quarter has a few thousand rows (days and shifts per unit), so the typed answer
holds its tables as frames with the API's column names and writes them to JSON by pandas (in C) rather than
through a pydantic model per row; `ScenarioAnswer` documents the same shape in OpenAPI. The served model's
scenario inputs are cut once per loaded model and kept in the state.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from forecast import scenarios
from forecast.serving.answers import Ask, answer, quarter_of
from forecast.serving.errors import Invalid, Problem
from forecast.serving.scenario_schemas import ScenarioIn
from forecast.serving.state import ServingState

__all__ = ["TABLES", "ScenarioTables", "Table", "api_table", "check_scenario", "scenario_answer", "warm_scenarios"]

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


def api_table(frame: pd.DataFrame, table: Table) -> pd.DataFrame:
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


def scenario_inputs_of(state: ServingState) -> scenarios.ScenarioInputs:
    """The served model's scenario inputs, cut once per state."""
    return _inputs(state)


def _ratios(state: ServingState) -> dict[str, Any]:
    return {unit: state.ratios_for(unit) for unit in state.units}


def warm_scenarios(state: ServingState) -> None:
    """Cut the scenario inputs and work out the next quarter's served figures before the state serves."""
    with contextlib.suppress(Invalid):  # a forecast without the next whole quarter: scenarios refuse on request
        for tables in (("weeks", "days", "fte"), ("weeks", "days")):
            answer(state, scenario_answer(state, ScenarioIn.model_validate({}), tables, keep=True))


# --- checking ------------------------------------------------------------------------------------------------


def check_scenario(
    state: ServingState, body: ScenarioIn, where: tuple[str | int, ...] = ("body",)
) -> tuple[scenarios.Scenario, pd.Timestamp, pd.Timestamp]:
    """The core scenario and the plan's days, or `Invalid` naming the field (under `where`) the served model
    cannot answer."""
    start, end = quarter_of(state, body.quarter, (*where, "quarter"))
    scenario = body.core()
    try:
        scenarios.check(state.bundle, scenario, start, end, _inputs(state))
    except scenarios.ScenarioError as error:
        loc = (*where, *(int(p) if p.isdigit() else p for p in error.field.split(".")))
        raise Invalid(str(error), [Problem(loc, str(error), "scenario")]) from None
    return scenario, start, end


# --- the answer ----------------------------------------------------------------------------------------------


@dataclass
class ScenarioTables:
    """The typed answer of a scenario: the head (model, quarter, policy, the scenario, how each unit was made,
    notes) and the tables asked for, with the API's column names (`weeks` always)."""

    head: dict[str, Any]
    tables: dict[Table, pd.DataFrame]
    shown: tuple[Table, ...] = TABLES  # the tables the JSON answer carries (the CSV may ask for another)

    def table(self, which: str | None = None) -> pd.DataFrame:
        """One table (`weeks` by default)."""
        return self.tables[which or "weeks"]  # type: ignore[index]

    def to_json(self) -> bytes:
        parts = [json.dumps(self.head)[:-1]]
        for table in TABLES:
            key = JSON_KEYS[table]
            if table in self.tables and table in self.shown:
                parts.append(f', "{key}": {self.tables[table].to_json(orient="records", double_precision=15)}')
            elif table != "weeks":
                parts.append(f', "{key}": null')
        parts.append("}")
        return "".join(parts).encode()

    def to_dict(self) -> dict[str, Any]:
        """The JSON answer as Python values (what the what-if page shows)."""
        return json.loads(self.to_json())


def scenario_answer(
    state: ServingState,
    body: ScenarioIn,
    tables: Sequence[Table] = ("weeks", "days", "fte"),
    table: Table = "weeks",
    where: tuple[str | int, ...] = ("body",),
    keep: bool = False,
) -> Ask:
    """A checked scenario (`Invalid` at once for what the model cannot answer) and how to build its answer;
    `table` is the one its CSV gives; `keep` keeps the typed answer too (the served plan's, for the pages)."""
    scenario, start, end = check_scenario(state, body, where)
    shown = tuple(t for t in TABLES if t in tables or t == "weeks")
    wanted = tuple(t for t in TABLES if t in (*shown, table))

    def build() -> ScenarioTables:
        inputs = _inputs(state)
        result = scenarios.run_scenario(
            state.bundle, scenario, start, end, state.policy, _ratios(state), inputs, wanted
        )
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
        return ScenarioTables(head, {t: api_table(getattr(result, t), t) for t in wanted}, shown)

    return Ask(("scenario", body.model_dump_json(), shown, wanted), build, table, keep=keep)
