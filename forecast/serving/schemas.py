"""The typed answers of the service: one pydantic model per answer, built once and rendered many ways.

An answer that is a table (`TableAnswer`) renders as JSON (the model), as CSV (`table()`) and in the planner's
pages; `forecast.serving.render` does the first two, `forecast.serving.pages` the third.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, Field

from forecast.reliability import Reliability, statement

__all__ = [
    "BedsAnswer",
    "BedsDay",
    "Distribution",
    "ForecastAnswer",
    "ForecastDay",
    "HistoryAnswer",
    "HistoryDay",
    "ModelAnswer",
    "MonitoringAnswer",
    "PlanAnswer",
    "PlanWeek",
    "ShiftNeed",
    "StaffingAnswer",
    "TableAnswer",
    "UnitInfo",
    "UnitMonitoring",
    "UnitReliability",
    "UnitsAnswer",
    "WeeklyFte",
]


class TableAnswer(BaseModel):
    """An answer that is also a table (`?format=csv`)."""

    as_of: dt.date | None = Field(
        default=None,
        description="The newest day the answer knows: the last day of episodes the forecast is re-anchored on "
        "(the nowcast), else the training data's last day. The forecast starts the day after.",
    )

    def table(self, which: str | None = None) -> pd.DataFrame:
        """The answer's table (`which` names one where the answer has several)."""
        raise NotImplementedError


def frame_of(rows: Sequence[BaseModel], model: type[BaseModel]) -> pd.DataFrame:
    """Rows of one model as a frame; whole numbers that may be missing stay whole (20, not 20.0, in CSV)."""
    frame = pd.DataFrame([r.model_dump() for r in rows], columns=list(model.model_fields))
    for name, info in model.model_fields.items():
        if info.annotation == int | None:
            frame[name] = pd.array(frame[name], dtype="Int64")
    return frame


LengthOfStaySource = Literal["unit", "hospital", "all"]


class UnitInfo(BaseModel):
    unit: str
    current_beds: int | None = Field(description="Staffed beds today; null where the training data did not say.")
    first_date: dt.date = Field(description="First day of the unit's data.")
    last_date: dt.date = Field(description="Last day of the unit's data.")
    length_of_stay_source_acute: LengthOfStaySource | None = Field(
        None,
        description="Whose stays the unit's acute length-of-stay curve is drawn from: the unit's own (20 stays or "
        "more), its hospital's or all units' pooled (a smaller unit's curve would give its stays away); null: none.",
    )
    length_of_stay_source_elective: LengthOfStaySource | None = Field(None, description="The same for elective stays.")


class UnitsAnswer(TableAnswer):
    units: list[UnitInfo]
    forecast_first_day: dt.date
    forecast_last_day: dt.date

    def table(self, which: str | None = None) -> pd.DataFrame:
        return frame_of(self.units, UnitInfo)


class Distribution(BaseModel):
    mean: float
    quantiles: dict[str, float] = Field(description="Quantile level (e.g. '0.95') → value.")


class ForecastDay(BaseModel):
    date: dt.date
    census: Distribution = Field(description="Occupied beds at midnight.")
    admissions: Distribution | None = Field(description="Admissions that day; null when the model has none.")


class ForecastAnswer(TableAnswer):
    unit: str
    model: str = Field(description="The model chosen for the unit's census in the backtest.")
    nowcast: str | None = Field(
        default=None, description="How the census from `as_of` on was made (null: as trained, nothing newer)."
    )
    quantiles: list[float] = Field(description="The levels asked for, each strictly between 0 and 1.")
    days: list[ForecastDay]

    def table(self, which: str | None = None) -> pd.DataFrame:
        rows = []
        for day in self.days:
            row: dict[str, Any] = {"date": day.date}
            for target in ("census", "admissions"):
                dist: Distribution | None = getattr(day, target)
                row[f"{target}_mean"] = dist.mean if dist else None
                for level in self.quantiles:
                    row[f"{target}_q{level:g}"] = dist.quantiles[f"{level:g}"] if dist else None
            rows.append(row)
        return pd.DataFrame(rows)


class HistoryDay(BaseModel):
    date: dt.date
    census: float | None = Field(description="Occupied beds at midnight, as counted in the data.")
    admissions: float | None = Field(description="Admissions that day, as counted in the data.")


class HistoryAnswer(TableAnswer):
    unit: str
    days: list[HistoryDay] = Field(description="The recent days the model was trained on (up to a year).")

    def table(self, which: str | None = None) -> pd.DataFrame:
        return frame_of(self.days, HistoryDay)


class UnitReliability(BaseModel):
    """A unit's overflow promise as measured in the backtest (`forecast.reliability`)."""

    status: Literal["kept", "broken", "unmeasured"] = Field(
        description="kept; broken (exceeded on more than half again the promised share of days) or unmeasured "
        "(too few backtest days): then the unit is planned conservatively."
    )
    promised_risk: float
    overflow_share: float | None = Field(description="Share of backtest days the census exceeded the beds.")
    days: int = Field(description="Backtest days measured.")
    widened_by: float = Field(description="Factor on the upper forecast of a conservative plan (1: not widened).")
    text: str = Field(description="The same in the planner's words.")

    @classmethod
    def of(cls, record: Reliability) -> UnitReliability:
        share = record.overflow_share
        return cls(
            status=record.status,
            promised_risk=record.promised_risk,
            overflow_share=None if share != share else share,
            days=record.days,
            widened_by=record.widened_by,
            text=statement(record),
        )


class BedsDay(BaseModel):
    date: dt.date
    mean_census: float
    beds_at_target_occupancy: int
    beds_at_overflow_risk: int
    current_beds: int | None
    p_over_capacity: float | None = Field(
        ge=0, le=1, description="P(census > today's beds); null where beds are unknown."
    )


class BedsAnswer(TableAnswer):
    unit: str
    target_occupancy: float | None = Field(
        ge=0.01,
        le=1,
        description="The one occupancy target asked for; null: the model's policy (acute and elective targets).",
    )
    target_acute: float = Field(gt=0, le=1)
    target_elective: float = Field(gt=0, le=1)
    overflow_risk: float = Field(gt=0, lt=1, description="Accepted P(census > beds).")
    days: list[BedsDay]
    note: str | None = None
    reliability: UnitReliability | None = Field(
        None,
        description="How often the census exceeded the beds planned at the model's overflow risk in the backtest, "
        "beside the promise; says so when the promise broke and the plan is conservative.",
    )

    def table(self, which: str | None = None) -> pd.DataFrame:
        return frame_of(self.days, BedsDay)


class PlanWeek(BaseModel):
    unit: str = Field(description="The unit, or with level hospital/region the pool of units sharing beds.")
    level: str = Field("unit", description="unit, hospital or region.")
    week: str = Field(description="ISO week, e.g. 2026-W14.")
    week_start: dt.date
    days: int = Field(ge=1, le=7, description="Days of the week inside the quarter.")
    mean_census: float
    p90_census: float = Field(description="The highest daily 90th percentile of the census in the week.")
    beds_at_target_occupancy: int
    beds_at_overflow_risk: int
    current_beds: int | None
    gap: int | None = Field(description="Beds at the overflow risk − today's beds (positive: short).")
    expected_days_over_capacity: float | None
    surge_days: int | None = Field(description="Days likely (above the overflow risk) to need surge beds.")
    beds_units_apart: int | None = Field(
        None, description="Pools only: the sum of each unit's beds at the overflow risk, were they apart."
    )
    pooling_gain: int | None = Field(
        None, description="Pools only: beds saved by sharing (beds_units_apart − beds_at_overflow_risk)."
    )
    note: str | None = None


class PlanAnswer(TableAnswer):
    quarter: str | None = Field(pattern=r"^[0-9]{4}Q[1-4]$", description="The quarter planned; null for the year.")
    period: str = Field(
        pattern=r"^([0-9]{4}Q[1-4]|year)$",
        description="The period planned: a quarter, or year (the 52 weeks ahead, from the year-ahead forecast).",
    )
    start: dt.date
    end: dt.date
    overflow_risk: float = Field(gt=0, lt=1, description="Accepted P(census > beds).")
    target_acute: float = Field(gt=0, le=1)
    target_elective: float = Field(gt=0, le=1)
    level: str = "unit"
    weeks: list[PlanWeek]
    notes: list[str]
    reliability: dict[str, UnitReliability] = Field(
        default_factory=dict,
        description="Per unit, the measured reliability of its overflow-risk beds in the backtest (`text`: e.g. "
        "'in backtest the census exceeded these beds on 4.6% of 364 days; promised 5%'); units whose promise "
        "broke or could not be measured are planned conservatively and named in `notes` too.",
    )

    def table(self, which: str | None = None) -> pd.DataFrame:
        return frame_of(self.weeks, PlanWeek)


class ShiftNeed(BaseModel):
    date: dt.date
    shift: str = Field(description="day, evening or night.")
    census: float = Field(description="Expected census to staff for.")
    registered_nurses: int
    assistant_nurses: int


class WeeklyFte(BaseModel):
    week: str
    days: int
    rn_fte: float = Field(description="Registered-nurse full-time equivalents.")
    an_fte: float = Field(description="Assistant-nurse full-time equivalents.")


class StaffingAnswer(TableAnswer):
    unit: str
    ratios: dict[str, float] = Field(description="Patients per nurse per shift, shift hours, hours of a post.")
    shifts: list[ShiftNeed]
    weekly_fte: list[WeeklyFte]

    def table(self, which: str | None = None) -> pd.DataFrame:
        """The shifts (default), or with `which="fte"` the weekly full-time equivalents."""
        if which == "fte":
            return frame_of(self.weekly_fte, WeeklyFte)
        return frame_of(self.shifts, ShiftNeed)


class ModelAnswer(BaseModel):
    name: str
    version: str
    alias: str
    run_id: str
    trained_at: str | None
    loaded_at: dt.datetime
    data_first_date: dt.date | None
    data_last_date: dt.date | None
    forecast_first_day: dt.date
    forecast_last_day: dt.date
    score: float | None = Field(description="Mean honest MASE over the targets (lower is better).")
    backtest: dict[str, dict[str, Any]] = Field(description="Backtest summary per target.")
    chosen: dict[str, dict[str, str]] = Field(description="Chosen model per target and unit.")
    policy: dict[str, float]
    staffing: dict[str, float]
    as_of: dt.date | None = Field(default=None, description="The newest day the served answers know.")
    nowcast: dict[str, str] = Field(
        default_factory=dict, description="Per unit, how its census from `as_of` on was made (empty: as trained)."
    )


class UnitMonitoring(BaseModel):
    unit: str
    status: Literal["ok", "watch", "drifted"]
    reason: str = Field(description="Why the status, in words.")
    days: int = Field(description="Days since training with an actual census.")
    first_day: dt.date | None
    last_day: dt.date | None
    mase: float | None = Field(description="MASE of the training forecast over those days.")
    backtest_mase: float | None = Field(description="The unit's MASE in the backtest at training.")
    mae: float | None
    bias: float | None = Field(description="Mean of forecast − census (negative: the census ran above).")
    coverage_80: float | None = Field(description="Share of days the census was inside the 80 % interval.")
    coverage_95: float | None = Field(description="Share of days the census was inside the 95 % interval.")
    over_beds_at_risk: float | None = Field(
        description="Share of days the census exceeded the beds planned at the overflow risk."
    )
    overflow_risk: float


class MonitoringAnswer(TableAnswer):
    model_name: str
    model_version: str
    trained_to: dt.date = Field(description="The training data's last day; monitoring counts the days after it.")
    units: list[UnitMonitoring]

    def table(self, which: str | None = None) -> pd.DataFrame:
        return frame_of(self.units, UnitMonitoring)
