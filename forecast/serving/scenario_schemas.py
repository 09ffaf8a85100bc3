"""What-if scenarios over HTTP: the scenario a planner sends, and the plan, staffing and differences it gets.

Kept apart from `schemas.py` because a scenario is a request body with its own rules and an answer with four
tables; the field names follow `forecast.scenarios`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from forecast import scenarios

__all__ = [
    "AdmissionsChangeIn",
    "EXAMPLE",
    "LengthOfStayChangeIn",
    "NamedScenarioIn",
    "PlannedBedsIn",
    "SavedScenario",
    "UnitTargetsIn",
    "ScenarioAnswer",
    "ScenarioDay",
    "ScenarioFte",
    "ScenarioIn",
    "ScenarioShift",
    "ScenarioWeek",
    "UnitHow",
]

AdmissionType = Literal["all", "acute", "elective"]
UnitName = Field(min_length=1, max_length=200)

EXAMPLE: dict[str, Any] = {
    "name": "summer A",
    "quarter": "next",
    "admissions": [{"percent": -1, "admission_type": "acute"}],
    "length_of_stay": [{"days": -0.5, "units": ["internal_medicine"]}],
    "target_acute": 0.88,
    "planned_beds": [{"unit": "surgery", "week": "2025-W10", "beds": 20}],
    "smooth_electives": True,
    "unit_targets": [{"unit": "intensive_care", "target_acute": 0.8}],
}


class AdmissionsChangeIn(BaseModel):
    """Admissions up or down by a percentage, from a day on."""

    model_config = ConfigDict(extra="forbid")

    percent: float = Field(gt=-100, le=1000, description="Change in %: −1 moves 1 % of admissions elsewhere.")
    admission_type: AdmissionType = Field("all", description="all, acute or elective.")
    start: dt.date | None = Field(None, description="First day of the change; default the first forecast day.")
    units: list[str] | None = Field(None, max_length=1000, description="The units it applies to; default all.")


class LengthOfStayChangeIn(BaseModel):
    """Stays longer or shorter for patients admitted from a day on (patients already in bed keep theirs)."""

    # Exactly one of `percent` and `days`, stated in the schema too (clients generated from it must know).
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "oneOf": [
                {"required": ["percent"], "properties": {"percent": {"type": "number"}}},
                {"required": ["days"], "properties": {"days": {"type": "number"}}},
            ]
        },
    )

    percent: float | None = Field(None, gt=-100, le=1000, description="Every stay scaled by 1 + percent/100.")
    days: float | None = Field(
        None, ge=-365, le=365, description="The mean stay moved by this many days (every stay in proportion)."
    )
    admission_type: AdmissionType = "all"
    start: dt.date | None = Field(None, description="Admissions from this day; default the first forecast day.")
    units: list[str] | None = Field(None, max_length=1000, description="The units it applies to; default all.")

    @model_validator(mode="after")
    def one_of_percent_or_days(self) -> LengthOfStayChangeIn:
        if (self.percent is None) == (self.days is None):
            raise ValueError("give the change of stays in percent or in days (one of them)")
        return self


class PlannedBedsIn(BaseModel):
    """Beds a unit plans to have open in an ISO week: a closure (fewer) or surge beds (more)."""

    model_config = ConfigDict(extra="forbid")

    unit: str = UnitName
    week: str = Field(pattern=r"^\d{4}-W\d{2}$", description="ISO week, e.g. 2025-W28.")
    beds: int = Field(ge=0, le=100_000, description="Open beds that week (0 closes the unit).")


class UnitTargetsIn(BaseModel):
    """A unit's own occupancy targets (a small ward run at 80 %, say); left out: the scenario's or the plan's."""

    model_config = ConfigDict(extra="forbid")

    unit: str = UnitName
    target_acute: float | None = Field(None, ge=0.01, le=1, description="The unit's acute-care target.")
    target_elective: float | None = Field(None, ge=0.01, le=1, description="The unit's planned-care target.")


class ScenarioIn(BaseModel):
    """A what-if: every field left out keeps the served plan's value. An empty scenario is the served plan."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE]})

    name: str | None = Field(None, min_length=1, max_length=200, description="Needed to save the scenario.")
    quarter: str = Field(
        "next",
        pattern=r"^([Nn][Ee][Xx][Tt]|[0-9]{4}[Qq][1-4])$",
        description="next (the first whole quarter after the data), or 2025Q1.",
    )
    admissions: list[AdmissionsChangeIn] = Field(default_factory=list, max_length=100)
    length_of_stay: list[LengthOfStayChangeIn] = Field(default_factory=list, max_length=100)
    # From 1 %: a target near zero asks for more beds than can be counted (1e-300: infinite beds).
    target_acute: float | None = Field(None, ge=0.01, le=1, description="Occupancy target of acute care (0.85).")
    target_elective: float | None = Field(None, ge=0.01, le=1, description="Occupancy target of planned care (0.95).")
    overflow_risk: float | None = Field(None, gt=0, le=0.5, description="Accepted P(census > beds) a day.")
    planned_beds: list[PlannedBedsIn] = Field(default_factory=list, max_length=5000)
    smooth_electives: bool | list[str] = Field(
        False, description="true: level planned admissions over the weekdays in every unit; or a list of units."
    )
    unit_targets: list[UnitTargetsIn] = Field(
        default_factory=list, max_length=1000, description="Units planned at occupancy targets of their own."
    )

    def core(self) -> scenarios.Scenario:
        """The scenario of `forecast.scenarios`."""

        def day(value: dt.date | None) -> pd.Timestamp | None:
            return None if value is None else pd.Timestamp(value)

        def units(value: list[str] | None) -> tuple[str, ...] | None:
            return None if value is None else tuple(value)

        return scenarios.Scenario(
            admissions=tuple(
                scenarios.AdmissionsChange(a.percent, a.admission_type, day(a.start), units(a.units))
                for a in self.admissions
            ),
            length_of_stay=tuple(
                scenarios.LengthOfStayChange(s.percent, s.days, s.admission_type, day(s.start), units(s.units))
                for s in self.length_of_stay
            ),
            target_acute=self.target_acute,
            target_elective=self.target_elective,
            overflow_risk=self.overflow_risk,
            planned_beds=tuple(scenarios.PlannedBeds(p.unit, p.week, p.beds) for p in self.planned_beds),
            smooth_electives=(
                tuple(self.smooth_electives) if isinstance(self.smooth_electives, list) else self.smooth_electives
            ),
            unit_targets=tuple(
                scenarios.UnitTargets(t.unit, t.target_acute, t.target_elective) for t in self.unit_targets
            ),
        )


class UnitHow(BaseModel):
    unit: str
    model: str = Field(description="The model chosen for the unit's census.")
    how: str = Field(description="How the unit's scenario census was made.")


class ScenarioWeek(BaseModel):
    """The plan's week (as `GET /v1/plan`), the served figures beside it and the change (scenario − served)."""

    unit: str
    week: str = Field(description="ISO week, e.g. 2025-W14.")
    week_start: dt.date
    days: int
    mean_census: float
    p90_census: float
    beds_at_target_occupancy: int
    beds_at_overflow_risk: int
    open_beds: int | None = Field(description="Planned open beds of the week where given, else today's beds.")
    gap: int | None = Field(description="Beds at the overflow risk − open beds (positive: short).")
    expected_days_over_capacity: float | None
    surge_days: int | None
    served_mean_census: float
    served_p90_census: float
    served_beds_at_target_occupancy: int
    served_beds_at_overflow_risk: int
    served_open_beds: int | None
    served_gap: int | None
    served_expected_days_over_capacity: float | None
    served_surge_days: int | None
    change_mean_census: float
    change_p90_census: float
    change_beds_at_target_occupancy: int
    change_beds_at_overflow_risk: int
    change_open_beds: int | None
    change_gap: int | None
    change_expected_days_over_capacity: float | None
    change_surge_days: int | None


class ScenarioDay(BaseModel):
    unit: str
    date: dt.date
    mean_census: float
    p90_census: float
    beds_at_target_occupancy: int
    beds_at_overflow_risk: int
    open_beds: int | None
    p_over_capacity: float | None = Field(description="P(census > open beds); null where beds are unknown.")
    surge_day: bool | None
    served_mean_census: float
    served_beds_at_overflow_risk: int
    served_p_over_capacity: float | None
    change_mean_census: float
    change_beds_at_overflow_risk: int
    change_p_over_capacity: float | None


class ScenarioShift(BaseModel):
    unit: str
    date: dt.date
    shift: str = Field(description="day, evening or night.")
    census: float
    registered_nurses: int
    assistant_nurses: int
    change_registered_nurses: int
    change_assistant_nurses: int


class ScenarioFte(BaseModel):
    unit: str
    week: str
    days: int
    rn_fte: float
    an_fte: float
    served_rn_fte: float
    served_an_fte: float
    change_rn_fte: float
    change_an_fte: float


class ScenarioAnswer(BaseModel):
    """The plan of a quarter under the scenario, beside the served plan (CSV: one table, `table=`)."""

    model_name: str
    model_version: str
    quarter: str
    start: dt.date
    end: dt.date
    target_acute: float
    target_elective: float
    overflow_risk: float
    scenario: ScenarioIn
    units: list[UnitHow]
    weeks: list[ScenarioWeek]
    days: list[ScenarioDay] | None = Field(None, description="Per unit and day; null when `tables` leaves it out.")
    shifts: list[ScenarioShift] | None = Field(
        None, description="Nurses per unit, day and shift; only when `tables` names it (a quarter: thousands of rows)."
    )
    weekly_fte: list[ScenarioFte] | None = Field(None, description="Null when `tables` leaves it out.")
    notes: list[str]


class SavedScenario(BaseModel):
    id: int
    name: str
    saved_at: dt.datetime
    scenario: ScenarioIn


class NamedScenarioIn(ScenarioIn):
    """A scenario to save: the same levers, and a name (required) to find it by."""

    name: str = Field(min_length=1, max_length=200, description="The name the scenario is saved under.")
