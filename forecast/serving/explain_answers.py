"""The plan explained, as answers: each unit's planned beds per ISO week split by driver (`forecast.explain`),
for the next quarter, another quarter of the forecast or the year ahead, and the hospital's biggest drivers.

`explain_answer` checks a request and returns an `Ask` like every other answer; the typed `ExplainAnswer`
renders as JSON, as CSV (a row per unit and week, a column per driver) and on the planner's pages. The model's
own plans (next quarter, year ahead, at its overflow risk) were split when the state was built
(`ServingState.explained`); other quarters and risks are split on request and cached.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, Field

from forecast import beds, explain
from forecast.counterfactual import DRIVERS, Counterfactuals
from forecast.explain import PARTS, Explanation
from forecast.periods import YEAR
from forecast.serving.answers import Ask, _ask, period_window, plan_answer
from forecast.serving.errors import UnknownUnit
from forecast.serving.render import Format
from forecast.serving.schemas import TableAnswer, UnitReliability
from forecast.serving.state import ServingState

__all__ = [
    "LABELS",
    "DriverStatus",
    "ExplainAnswer",
    "ExplainedWeek",
    "Headline",
    "HospitalWeek",
    "UnitExplanation",
    "counterfactuals_of",
    "explain_answer",
    "warm_explanations",
]

# The parts of a week's beds in the planner's words.
LABELS: dict[str, str] = {
    "base": "base demand",
    "day_of_week": "busiest weekday",
    "season": "season",
    "holidays": "public holidays",
    "planned_care": "planned-care cuts (summer, Christmas)",
    "tourism": "tourism (guest nights)",
    "regressors": "other regressors",
    "level": "trend and level",
    "in_bed": "patients in bed now",
    "margin": "margin for the overflow risk",
}
# How many of the hospital's biggest drivers the overview names.
HEADLINES = 5

Status = Literal["separated", "partly", "not_separated", "no_input"]


class DriverStatus(BaseModel):
    driver: str
    label: str = Field(description="The driver in the planner's words.")
    status: Status = Field(
        description="separated: the unit's model tells it apart; partly: some members of a mean of models do "
        "(the others' share is in their trend and level); not_separated: the model does not see it apart from "
        "the level; no_input: the data had none (no guest nights, no stays, no regressors)."
    )
    seen_by: list[str] = Field(description="The models of the unit's choice that see the driver.")


class ExplainedWeek(BaseModel):
    week: str = Field(description="ISO week, e.g. 2026-W28.")
    week_start: dt.date
    days: int = Field(ge=1, le=7, description="Days of the week inside the period.")
    beds: int = Field(description="The plan's beds at the overflow risk (the week's busiest day).")
    mean_census: float = Field(description="The week's mean expected census.")
    parts: dict[str, int] = Field(
        description="Whole beds per part (base, drivers the model separates, margin); they add up to `beds`."
    )
    exact: dict[str, float] = Field(description="The same parts unrounded (Shapley values; they add up exactly).")


class UnitExplanation(BaseModel):
    unit: str
    model: str = Field(description="The chosen census model: one candidate, or `a+b+c` for the mean of three.")
    drivers: list[DriverStatus]
    notes: list[str] = Field(description="What the model could not split, and why, in words.")
    weeks: list[ExplainedWeek]


class HospitalWeek(BaseModel):
    week: str
    week_start: dt.date
    beds: int = Field(description="The units' planned beds added up.")
    parts: dict[str, int] = Field(description="Whole beds per part, added up over the units.")


class Headline(BaseModel):
    part: str
    label: str
    week: str = Field(description="The week this part moves the hospital's beds most.")
    beds: int = Field(description="Beds it adds (negative: takes away) across units that week.")
    text: str


class ExplainAnswer(TableAnswer):
    period: str = Field(description="The plan explained: a quarter (2026Q3) or year (the 52 weeks ahead).")
    horizon: Literal["quarter", "year"] = Field(
        description="Whose forecast: the quarter's models, or the year ahead's (backtested a year ahead)."
    )
    start: dt.date
    end: dt.date
    overflow_risk: float = Field(gt=0, lt=1)
    parts: list[str] = Field(description="Every part a week's beds can have, in order; `base` first, `margin` last.")
    labels: dict[str, str] = Field(description="The parts in the planner's words.")
    units: list[UnitExplanation]
    hospital: list[HospitalWeek] = Field(description="Per week, the units' parts added up.")
    headlines: list[Headline] = Field(description="The hospital's biggest drivers over the period.")
    reliability: dict[str, UnitReliability] = Field(
        default_factory=dict,
        description="Per unit, how often the census exceeded these beds in the backtest at this horizon.",
    )

    def table(self, which: str | None = None) -> pd.DataFrame:
        """A row per unit and week: the plan's beds, the mean census and a column of whole beds per part (empty
        where the unit's model does not separate it)."""
        rows = [
            {
                "unit": unit.unit,
                "model": unit.model,
                "week": week.week,
                "week_start": week.week_start,
                "days": week.days,
                "planned_beds": week.beds,
                "mean_census": week.mean_census,
                **{part: week.parts.get(part) for part in self.parts},
            }
            for unit in self.units
            for week in unit.weeks
        ]
        frame = pd.DataFrame(
            rows, columns=["unit", "model", "week", "week_start", "days", "planned_beds", "mean_census", *self.parts]
        )
        for part in self.parts:
            frame[part] = pd.array(frame[part], dtype="Int64")
        return frame


# --- building the answer ---------------------------------------------------------------------------------------


def counterfactuals_of(state: ServingState, horizon: str) -> Counterfactuals:
    """The horizon's counterfactual forecasts, cut from the bundle once per state (a request only checks). A
    model trained before explanations holds none: then no driver is split, only the margin from the census."""
    found = state.derived.get(("counterfactuals", horizon))
    if found is None:
        found = state.bundle.explained(horizon) or _none_split(state)
        state.derived[("counterfactuals", horizon)] = found
    return found


def _none_split(state: ServingState) -> Counterfactuals:
    models = {unit: str(rows["model"].iloc[0]) for unit, rows in state.census.items()}
    drivers = pd.DataFrame(
        [
            {"unique_id": unit, "driver": driver, "status": "not_separated", "seen_by": "", "members": model}
            for unit, model in models.items()
            for driver in DRIVERS
        ]
    )
    empty = pd.DataFrame({"unique_id": [], "coalition": [], "ds": [], "mean": []})
    return Counterfactuals(empty, drivers)


def _explained_by_training(state: ServingState, horizon: str) -> bool:
    drivers = state.bundle.drivers
    return horizon in state.explained or (not drivers.empty and (drivers["horizon"] == horizon).any())


def _frames(state: ServingState, horizon: str) -> dict[str, pd.DataFrame]:
    return state.year if horizon == "year" else state.census


def _census(state: ServingState, horizon: str) -> pd.DataFrame:
    return pd.concat(list(_frames(state, horizon).values()), ignore_index=True)


def explain_answer(
    state: ServingState, unit: str | None = None, period: str = "next", overflow_risk: float | None = None
) -> Ask:
    """Every unit's (or one unit's) planned beds per week of `period` split by driver.

    Args:
        state: the served state.
        unit: one unit, or None for all (with the hospital's sums and headlines).
        period: `next`, a quarter of the forecast (`2026Q3`) or `year` (the 52 weeks ahead).
        overflow_risk: the plan's risk; default the model's.
    """
    if unit is not None and unit not in state.census:
        raise UnknownUnit(unit, state.units)
    horizon, (start, end) = period_window(state, period)
    risk = state.policy.overflow_risk if overflow_risk is None else overflow_risk

    def build() -> ExplainAnswer:
        found = state.explained.get(horizon)
        default = (start, end) == explain.plan_window(state.bundle, horizon) and risk == state.policy.overflow_risk
        if found is None or not default:
            policy = beds.BedPolicy(state.policy.target_acute, state.policy.target_elective, risk)
            # Each unit is split on its own: one unit's question splits only its own census.
            census = _frames(state, horizon)[unit] if unit is not None else _census(state, horizon)
            found = explain.explain_weeks(counterfactuals_of(state, horizon), census, policy, start, end)
        return _answer(state, found, horizon, name, start, end, risk, unit)

    name = f"{start.year}Q{start.quarter}" if horizon == "quarter" else YEAR
    return _ask(state, ("explain", unit, name, risk), build)


def _answer(
    state: ServingState,
    found: Explanation,
    horizon: str,
    period: str,
    start: pd.Timestamp,
    end: pd.Timestamp,
    risk: float,
    only: str | None,
) -> ExplainAnswer:
    units = [u for u in sorted(found.totals["unique_id"].astype(str).unique()) if only is None or u == only]
    explained = [_unit(state, found, unit, horizon, start, end) for unit in units]
    hospital = _hospital(explained) if only is None else []
    records = state.bundle.year_reliability() if horizon == "year" else state.bundle.reliability()
    labels = _labels(state)
    return ExplainAnswer(
        period=period,
        horizon=horizon,  # type: ignore[arg-type]
        start=start.date(),
        end=end.date(),
        overflow_risk=risk,
        parts=list(PARTS),
        labels=labels,
        units=explained,
        hospital=hospital,
        headlines=_headlines(hospital, labels) if only is None else [],
        reliability={u: UnitReliability.of(r) for u, r in sorted(records.items()) if u in units},
    )


def _labels(state: ServingState) -> dict[str, str]:
    labels = dict(LABELS)
    named = state.bundle.meta.settings.get("regressors") or []
    if named:
        labels["regressors"] = ", ".join(str(n) for n in named)
    return labels


def _unit(
    state: ServingState, found: Explanation, unit: str, horizon: str, start: pd.Timestamp, end: pd.Timestamp
) -> UnitExplanation:
    parts = found.parts[found.parts["unique_id"] == unit]
    totals = found.totals[found.totals["unique_id"] == unit]
    status = found.drivers[found.drivers["unique_id"] == unit]
    drivers = [
        DriverStatus(
            driver=str(row.driver),
            label=LABELS[str(row.driver)],
            status=str(row.status),  # type: ignore[arg-type]
            seen_by=[m for m in str(row.seen_by).split("+") if m],
        )
        for row in status.itertuples(index=False)
    ]
    model = str(status["members"].iloc[0]) if len(status) else ""
    by_week = {week: rows for week, rows in parts.groupby("period", sort=False)}
    weeks = []
    for row in totals.itertuples(index=False):
        rows = by_week[row.period]
        first = max(pd.Timestamp(row.period_start), start)
        last = min(pd.Timestamp(row.period_start) + pd.Timedelta(days=6), end)
        weeks.append(
            ExplainedWeek(
                week=str(row.period),
                week_start=pd.Timestamp(row.period_start).date(),
                days=(last - first).days + 1,
                beds=int(row.beds),
                mean_census=float(row.mean_census),
                parts={str(p): int(b) for p, b in zip(rows["part"], rows["beds"], strict=True)},
                exact={str(p): float(v) for p, v in zip(rows["part"], rows["value"], strict=True)},
            )
        )
    notes = _notes(state, drivers, model, horizon)
    return UnitExplanation(unit=unit, model=model, drivers=drivers, notes=notes, weeks=weeks)


def _notes(state: ServingState, drivers: list[DriverStatus], model: str, horizon: str) -> list[str]:
    """What the unit's model could not split, in words (made here, from the drivers' status)."""
    if not _explained_by_training(state, horizon):
        return [
            "the served model was trained before explanations by driver: only the margin for the overflow risk is "
            "split from the expected census; retrain it to split the drivers"
        ]
    members = model.split("+")
    notes = []
    for d in drivers:
        if d.status == "not_separated":
            alone = set(members) <= {"ets", "seasonal_naive"}
            why = f"{model} sees the series alone" if alone else f"{model} does not model it apart"
            notes.append(f"{d.label}: not separated ({why}); its effect is counted under trend and level")
        elif d.status == "partly":
            others = [m for m in members if m not in d.seen_by]
            notes.append(
                f"{d.label}: seen by {', '.join(d.seen_by)}, not by {', '.join(others)} (the forecast is their mean): "
                f"the share of {', '.join(others)} is counted under trend and level"
            )
        elif d.status == "no_input" and d.driver == "tourism":
            notes.append(f"{d.label}: no guest nights were given at training")
        elif d.status == "no_input" and d.driver == "in_bed":
            notes.append(f"{d.label}: trained on daily counts, with no stays to count patients in bed")
    if state.nowcast is not None:
        notes.append(
            f"re-anchored on the patients in bed on {state.as_of:%Y-%m-%d}: the change from the forecast made at "
            "training is counted under patients in bed now"
        )
    return notes


def _hospital(units: list[UnitExplanation]) -> list[HospitalWeek]:
    weeks: dict[str, HospitalWeek] = {}
    for unit in units:
        for week in unit.weeks:
            total = weeks.setdefault(
                week.week, HospitalWeek(week=week.week, week_start=week.week_start, beds=0, parts={})
            )
            total.beds += week.beds
            for part, whole in week.parts.items():
                total.parts[part] = total.parts.get(part, 0) + whole
    return sorted(weeks.values(), key=lambda w: w.week_start)


def _headlines(hospital: list[HospitalWeek], labels: dict[str, str]) -> list[Headline]:
    """Per driver (not the base, not the margin), the week it moves the hospital's beds most; the largest first."""
    found = []
    for part in PARTS:
        if part in ("base", "margin"):
            continue
        weeks = [(w, w.parts[part]) for w in hospital if w.parts.get(part)]
        if not weeks:
            continue
        week, beds = max(weeks, key=lambda item: abs(item[1]))
        text = f"week {week.week}: {beds:+d} beds from {labels[part]} across units"
        found.append(Headline(part=part, label=labels[part], week=week.week, beds=beds, text=text))
    return sorted(found, key=lambda h: -abs(h.beds))[:HEADLINES]


def warm_explanations(state: ServingState, render: Callable[[ServingState, Ask, Format], Any]) -> None:
    """Build and `render` the explanations of the model's own plans (the next quarter, the year ahead) for the
    hospital and each unit, and the year's plan, before the state serves."""
    both: tuple[Format, ...] = ("json", "csv")
    for horizon in state.explained:
        period = YEAR if horizon == "year" else "next"
        for unit in (None, *state.units):
            for fmt in both if unit is None else both[:1]:
                render(state, explain_answer(state, unit, period), fmt)
    if state.year:
        for fmt in both:
            render(state, plan_answer(state, YEAR), fmt)
