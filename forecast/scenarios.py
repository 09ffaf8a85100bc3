"""What-if scenarios: the served plan recomputed after changing admissions, stays, targets or open beds.

A planner asks "what if we shorten stays by half a day, move 1 % of admissions elsewhere, close beds for the
summer, or level planned admissions over the weekdays?". Census is the M_t/G/∞ queue of the design brief:
expected census = Σ admissions(t − k)·P(stay > k) plus the remaining stays of the patients already in bed. The
served model keeps, for every unit, the flow model's forecast admissions by type and its length-of-stay curves,
so a scenario changes those and pushes them through the queue twice (as served and as changed):

- where the unit's census model is the flow model, that is the census itself;
- where another model was chosen (ETS, ARIMA, …), its served census is multiplied day by day by the ratio of
  the two flow censuses, so the served level and calendar stay and the scenario moves them as the flow would.

Uncertainty carries over the same way: every quantile of the served (calibrated) distribution is multiplied by
the day's ratio, i.e. the quantile offsets around the mean scale with the mean. An empty scenario has ratio 1
on every day and gives the served plan exactly. Targets, overflow risk and planned open beds change only the
bed arithmetic, not the census.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Literal

import numpy as np
import pandas as pd

from forecast import beds
from forecast.bundle import ForecastBundle, per_unit
from forecast.census import ADMISSION_TYPES, InBed, flow_census
from forecast.periods import iso_week_numbers, iso_weeks
from forecast.plan_tables import Arrays, Window, tables_beside, window_of
from forecast.quantiles import LEVELS, column
from forecast.staffing import StaffingRatios, shift_staffing, weekly_fte

__all__ = [
    "AdmissionsChange",
    "FlowStructure",
    "LengthOfStayChange",
    "PlanTables",
    "PlannedBeds",
    "Scenario",
    "ScenarioError",
    "UnitTargets",
    "ScenarioInputs",
    "ScenarioResult",
    "changed_stays",
    "check",
    "flow_structure",
    "mean_stay",
    "plan_tables",
    "queue_censuses",
    "run_scenario",
    "scenario_census",
    "scenario_inputs",
    "smooth_electives",
]

AdmissionType = Literal["all", "acute", "elective"]
# A weekday whose expected planned admissions are below this share of the week's busiest weekday is taken as
# closed for planned care (a public holiday): levelling does not book patients onto it.
CLOSED_WEEKDAY_SHARE = 0.2


class ScenarioError(ValueError):
    """A scenario the served model cannot answer; `field` names the offending field (e.g. `admissions.0.units.1`)."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(message)


@dataclass(frozen=True)
class AdmissionsChange:
    """Admissions up or down by `percent` from `start` (default: the first forecast day).

    Attributes:
        units: the units it applies to; None: all.
    """

    percent: float
    admission_type: AdmissionType = "all"
    start: pd.Timestamp | None = None
    units: tuple[str, ...] | None = None


@dataclass(frozen=True)
class LengthOfStayChange:
    """Stays longer or shorter, for patients admitted from `start` (those already in bed keep their stays).

    Give `percent` (every stay scaled by 1 + percent/100) or `days` (the mean stay moved by that many days, every
    stay scaled in proportion).
    """

    percent: float | None = None
    days: float | None = None
    admission_type: AdmissionType = "all"
    start: pd.Timestamp | None = None
    units: tuple[str, ...] | None = None


@dataclass(frozen=True)
class PlannedBeds:
    """The beds a unit plans to have open in an ISO week (`2026-W28`), replacing today's beds in that week."""

    unit: str
    week: str
    beds: int


@dataclass(frozen=True)
class UnitTargets:
    """A unit's own occupancy targets in a scenario (None: the scenario's, else the served plan's)."""

    unit: str
    target_acute: float | None = None
    target_elective: float | None = None


@dataclass(frozen=True)
class Scenario:
    """A what-if: every field left at its default keeps the served plan's value.

    Attributes:
        smooth_electives: True for all units, or the units whose planned admissions are spread evenly over the
            weekdays of each week (the week's total kept).
        unit_targets: units planned at occupancy targets of their own (a small ward at 80 %, say).
    """

    admissions: tuple[AdmissionsChange, ...] = ()
    length_of_stay: tuple[LengthOfStayChange, ...] = ()
    target_acute: float | None = None
    target_elective: float | None = None
    overflow_risk: float | None = None
    planned_beds: tuple[PlannedBeds, ...] = ()
    smooth_electives: bool | tuple[str, ...] = False
    unit_targets: tuple[UnitTargets, ...] = ()

    def unit_policies(self, policy: beds.BedPolicy) -> dict[str, beds.BedPolicy]:
        """Per unit with targets of its own, the scenario's `policy` with them (the last given for a unit wins)."""
        out: dict[str, beds.BedPolicy] = {}
        for own in self.unit_targets:
            base = out.get(own.unit, policy)
            out[own.unit] = beds.BedPolicy(
                base.target_acute if own.target_acute is None else own.target_acute,
                base.target_elective if own.target_elective is None else own.target_elective,
                policy.overflow_risk,
            )
        return out

    def policy(self, served: beds.BedPolicy) -> beds.BedPolicy:
        """The served bed policy with this scenario's targets and risk."""
        return beds.BedPolicy(
            served.target_acute if self.target_acute is None else self.target_acute,
            served.target_elective if self.target_elective is None else self.target_elective,
            served.overflow_risk if self.overflow_risk is None else self.overflow_risk,
        )

    def smoothed(self, unit: str) -> bool:
        return self.smooth_electives is True or (
            isinstance(self.smooth_electives, tuple) and unit in self.smooth_electives
        )

    def changes_census_of(self, unit: str) -> bool:
        """Whether the scenario changes the unit's admissions or stays (else its census is the served one)."""
        changes: Sequence[AdmissionsChange | LengthOfStayChange] = (*self.admissions, *self.length_of_stay)
        return self.smoothed(unit) or any(c.units is None or unit in c.units for c in changes)


# --- the flow structure --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FlowStructure:
    """One unit and admission type's queue: expected admissions per forecast day, stays, patients in bed."""

    days: pd.DatetimeIndex
    admissions: np.ndarray
    survival: np.ndarray
    in_bed: InBed
    served: np.ndarray = field(default_factory=lambda: np.zeros(0))  # the flow census as served
    remaining: np.ndarray = field(default_factory=lambda: np.zeros(0))  # the census of the patients in bed
    weeks: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # ISO year·100 + week per day


def flow_structure(bundle: ForecastBundle, unit: str, days: pd.DatetimeIndex) -> dict[str, FlowStructure] | None:
    """The unit's queue per admission type on the forecast's `days`, or None when the bundle lacks it."""
    arrivals, curves, present = bundle.admissions_by_type, bundle.length_of_stay, bundle.in_bed
    if arrivals.empty or curves.empty:
        return None
    out = {}
    for kind in ADMISSION_TYPES:
        expected = arrivals[(arrivals["unit"] == unit) & (arrivals["admission_type"] == kind)]
        curve = curves[(curves["unit"] == unit) & (curves["admission_type"] == kind)].sort_values("day")
        here = present[(present["unit"] == unit) & (present["admission_type"] == kind)] if len(present) else present
        per_day = pd.Series(expected["expected"].to_numpy(float), index=pd.to_datetime(expected["ds"]))
        if len(per_day) == 0 or not days.isin(per_day.index).all():
            return None
        structure = FlowStructure(
            days=days,
            admissions=per_day.reindex(days).to_numpy(float),
            survival=curve["survival"].to_numpy(float),
            in_bed=InBed(
                here["days_since_admission"].to_numpy(np.int64) if len(here) else np.zeros(0, np.int64),
                here["patients"].to_numpy(float) if len(here) else np.zeros(0),
            ),
            weeks=iso_week_numbers(days),
        )
        remaining, _ = flow_census(np.zeros(len(days)), structure.survival, structure.in_bed)
        structure = replace(structure, remaining=remaining)
        served = _queue_census(structure, structure.admissions, [(0, structure.survival)])
        out[kind] = replace(structure, served=served)
    return out


@dataclass
class ScenarioInputs:
    """What every scenario of one served model starts from, cut per unit once.

    Attributes:
        census: per unit, the served census forecast rows by day.
        flows: per unit, its queue per admission type (None where the model has none).
        mean_stays: per unit and admission type, the served mean stay in days.
        current_beds: today's beds per unit where known.
        days: the forecast's first and last day.
        windows: plan windows cut for scenario arithmetic (see `window`).
    """

    census: dict[str, pd.DataFrame]
    flows: dict[str, dict[str, FlowStructure] | None]
    mean_stays: dict[tuple[str, str], float]
    current_beds: pd.Series = field(default_factory=lambda: pd.Series(dtype=int))
    days: tuple[pd.Timestamp, pd.Timestamp] = (pd.Timestamp(0), pd.Timestamp(0))
    windows: dict[Hashable, tuple[Window, Arrays, dict[str, int]]] = field(default_factory=dict)

    def window(
        self,
        start: pd.Timestamp,
        end: pd.Timestamp,
        current_beds: pd.Series,
        ratios: Mapping[str, StaffingRatios],
    ) -> tuple[Window, Arrays, dict[str, int]]:
        """The served census of `start`..`end` cut for scenario arithmetic, and each unit's first forecast day
        in it (kept: a planner tries many scenarios on one quarter)."""
        key = (start, end, tuple(current_beds.items()), tuple(sorted(ratios.items(), key=lambda item: item[0])))
        found = self.windows.get(key)
        if found is None:
            rows, offsets = [], {}
            for unit, census in self.census.items():
                inside = ((census["ds"] >= start) & (census["ds"] <= end)).to_numpy()
                offsets[unit] = int(np.argmax(inside))
                rows.append(census[inside])
            window, served = window_of(pd.concat(rows, ignore_index=True), current_beds, ratios)
            found = self.windows[key] = (window, served, offsets)
        return found


def scenario_inputs(bundle: ForecastBundle) -> ScenarioInputs:
    """Cut a served model's census and flow structure per unit (once per model, not per scenario)."""
    census = per_unit(bundle.forecasts, "census")
    flows = {unit: flow_structure(bundle, unit, pd.DatetimeIndex(rows["ds"])) for unit, rows in census.items()}
    curves = bundle.length_of_stay
    stays = {}
    if not curves.empty:
        for (unit, kind), curve in curves.groupby(["unit", "admission_type"], sort=True):
            stays[(str(unit), str(kind))] = mean_stay(curve.sort_values("day")["survival"].to_numpy(float))
    days = (bundle.first_forecast_day, bundle.last_forecast_day)
    return ScenarioInputs(census, flows, stays, bundle.current_beds(), days)


def mean_stay(survival: np.ndarray) -> float:
    """Expected nights in bed of an admission, Σ_k P(stay > k): what the census counts per admitted patient."""
    return float(np.sum(survival))


def changed_stays(survival: np.ndarray, factor: float) -> np.ndarray:
    """The length-of-stay curve with every stay scaled by `factor`, its mean exactly `factor` × the old mean.

    A stay of d nights becomes factor·d, shared between the two whole numbers around it so that its mean is
    kept (a stay of 4.5 nights: half the patients stay 4, half 5). Stays past the curve's last day are taken to
    end the day after it, as the flow census does.
    """
    survival = np.asarray(survival, dtype=float)
    if factor == 1.0 or survival.size == 0:
        return survival
    # P(stay = d) for d = 0 … len, the last holding everyone still there at the curve's end.
    before = np.concatenate([[1.0], survival])
    mass = before - np.concatenate([survival, [0.0]])
    scaled = factor * np.arange(mass.size)
    low = np.floor(scaled).astype(np.int64)
    upper = scaled - low
    new = np.zeros(int(low.max()) + 2)
    np.add.at(new, low, mass * (1 - upper))
    np.add.at(new, low + 1, mass * upper)
    out = 1.0 - np.cumsum(new)
    return np.clip(out[:-1], 0.0, 1.0)


def smooth_electives(admissions: np.ndarray, days: pd.DatetimeIndex, weeks: np.ndarray | None = None) -> np.ndarray:
    """Each ISO week's planned admissions spread evenly over its open weekdays; the week's total is kept.

    Open weekdays: Monday to Friday, less any whose expected admissions are below `CLOSED_WEEKDAY_SHARE` of the
    week's busiest weekday (a public holiday). A week with none (a forecast edge of Saturday and Sunday) is
    left as it is.
    """
    out = np.asarray(admissions, dtype=float).copy()
    weeks = iso_week_numbers(days) if weeks is None else weeks
    weekday = days.dayofweek.to_numpy() < 5
    _, week = np.unique(weeks, return_inverse=True)
    busiest = np.zeros(week.max(initial=-1) + 1)
    np.maximum.at(busiest, week[weekday], out[weekday])
    has_weekday = np.bincount(week[weekday], minlength=len(busiest)) > 0
    open_days = weekday & (out >= CLOSED_WEEKDAY_SHARE * busiest[week])
    total = np.bincount(week, weights=out, minlength=len(busiest))
    opened = np.bincount(week[open_days], minlength=len(busiest))
    moved = has_weekday[week]
    out[moved] = np.where(open_days[moved], total[week[moved]] / np.maximum(opened[week[moved]], 1), 0.0)
    return out


def _factor(changes: Sequence[AdmissionsChange], kind: str, unit: str, days: pd.DatetimeIndex) -> np.ndarray:
    factor = np.ones(len(days))
    for change in changes:
        if change.admission_type not in ("all", kind) or (change.units is not None and unit not in change.units):
            continue
        first = 0 if change.start is None else int(days.searchsorted(change.start))
        factor[first:] *= 1 + change.percent / 100
    return factor


def _stay_factor(
    changes: Sequence[tuple[int, LengthOfStayChange]], survival: np.ndarray, kind: str, unit: str, day: pd.Timestamp
) -> float:
    """How much longer (> 1) or shorter stays are for admissions on `day` (changes compose)."""
    factor = 1.0
    base = mean_stay(survival)
    for index, change in changes:
        if change.admission_type not in ("all", kind) or (change.units is not None and unit not in change.units):
            continue
        if change.start is not None and day < change.start:
            continue
        if change.percent is not None:
            factor *= 1 + change.percent / 100
        elif change.days is not None and base > 0:
            factor *= 1 + change.days / (base * factor)
        new = base * factor
        if change.days is not None and base > 0 and new <= 0:
            raise ScenarioError(
                f"length_of_stay.{index}.days",
                f"{unit}: {kind} stays average {base:.2f} days; a change of {change.days:g} days leaves none",
            )
    return factor


def _queue_census(structure: FlowStructure, admissions: np.ndarray, curves: list[tuple[int, np.ndarray]]) -> np.ndarray:
    """Expected census on each forecast day: admissions from day `i` on follow the curve of the segment that
    begins at `i` (segments in order of their first day); the patients in bed follow the served curve."""
    census = structure.remaining.copy()
    starts = [start for start, _ in curves] + [len(admissions)]
    for (start, survival), end in zip(curves, starts[1:], strict=True):
        part = np.zeros(len(admissions))
        part[start:end] = admissions[start:end]
        new, _ = flow_census(part, survival, InBed(np.zeros(0, np.int64), np.zeros(0)))
        census += new
    return census


def queue_censuses(
    scenario: Scenario, unit: str, structures: dict[str, FlowStructure]
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per admission type, the served and the scenario's flow census of one unit (expected midnight census on
    each forecast day: the M_t/G/∞ queue of its admissions, stays and patients in bed)."""
    out = {}
    stays = list(enumerate(scenario.length_of_stay))
    for kind, structure in structures.items():
        days = structure.days
        changed = structure.admissions * _factor(scenario.admissions, kind, unit, days)
        if kind == "elective" and scenario.smoothed(unit):
            changed = smooth_electives(changed, days, structure.weeks)
        served = structure.served
        # A new curve wherever a change of stays begins: before it, admissions keep the served stays.
        breaks = sorted({0, *(int(days.searchsorted(c.start)) for _, c in stays if c.start is not None)})
        breaks = [b for b in breaks if b < len(days)]
        curves = []
        for start in breaks:
            factor = _stay_factor(stays, structure.survival, kind, unit, days[start])
            curves.append((start, changed_stays(structure.survival, factor)))
        out[kind] = (served, _queue_census(structure, changed, curves))
    return out


def _ratio(scenario: np.ndarray, served: np.ndarray) -> np.ndarray:
    # A day with no flow census as served (no such patients at all) keeps the served forecast as it is.
    return np.divide(scenario, served, out=np.ones_like(served), where=served > 0)


@dataclass(frozen=True)
class CensusChange:
    """How a scenario moves one unit's census on each forecast day: the served value × `total` (and, for a
    census split by type, the acute and planned parts × their own ratios)."""

    total: np.ndarray
    acute: np.ndarray
    elective: np.ndarray


def census_changes(scenario: Scenario, inputs: ScenarioInputs) -> dict[str, CensusChange]:
    """Per unit the scenario changes, the ratio of its scenario to its served flow census on each forecast day.

    Raises:
        ScenarioError: a unit the scenario changes has no flow structure (trained on daily counts).
    """
    out = {}
    for unit in inputs.census:
        if not scenario.changes_census_of(unit):
            continue
        structures = inputs.flows.get(unit)
        if structures is None:
            raise ScenarioError("units", f"{unit}: {NO_FLOW}")
        flows = queue_censuses(scenario, unit, structures)
        total_served = sum(s for s, _ in flows.values())
        total_changed = sum(c for _, c in flows.values())
        out[unit] = CensusChange(
            _ratio(np.asarray(total_changed), np.asarray(total_served)),
            _ratio(flows["acute"][1], flows["acute"][0]),
            _ratio(flows["elective"][1], flows["elective"][0]),
        )
    return out


NO_FLOW = (
    "the served model has no admissions by type or length of stay for this unit (trained on daily counts, not "
    "episodes): only targets, overflow risk and planned beds can change its plan"
)


def how_made(scenario: Scenario, unit: str, model: str) -> str:
    """How a unit's scenario census is made, in a sentence for the planner."""
    if not scenario.changes_census_of(unit):
        return f"unchanged: the served {model} forecast"
    if model == "flow":
        return "flow model: its own admissions by type and length-of-stay curves, changed by the scenario"
    return (
        f"the served {model} forecast, scaled day by day by the flow model's change (scenario / served census "
        "from the unit's forecast admissions by type, length-of-stay curves and patients in bed)"
    )


def scenario_census(
    bundle: ForecastBundle, scenario: Scenario, inputs: ScenarioInputs | None = None
) -> tuple[pd.DataFrame, dict[str, str]]:
    """The census forecast rows under the scenario (every unit, every forecast day), and how each was made.

    Raises:
        ScenarioError: a unit whose admissions or stays the scenario changes, but the model has no admissions
            by type and stays for (trained on daily counts).
    """
    inputs = inputs or scenario_inputs(bundle)
    changes = census_changes(scenario, inputs)
    pieces, how = [], {}
    for unit, served in inputs.census.items():
        how[unit] = how_made(scenario, unit, str(served["model"].iloc[0]))
        change = changes.get(unit)
        if change is None:
            pieces.append(served)
            continue
        grid = [column(q) for q in LEVELS if column(q) in served.columns]
        changed = served.copy()
        changed["mean"] = served["mean"].to_numpy(float) * change.total
        changed[grid] = served[grid].to_numpy(float) * change.total[:, None]
        if served["mean_acute"].notna().all():
            changed["mean_acute"] = served["mean_acute"].to_numpy(float) * change.acute
            changed["mean_elective"] = served["mean_elective"].to_numpy(float) * change.elective
        pieces.append(changed)
    return pd.concat(pieces, ignore_index=True), how


# --- the plan tables -----------------------------------------------------------------------------------------


@dataclass
class PlanTables:
    """The served plan's tables for some days: per unit and day, per unit and week, per shift, FTE per week."""

    days: pd.DataFrame
    weeks: pd.DataFrame
    shifts: pd.DataFrame
    fte: pd.DataFrame


def plan_tables(
    census: pd.DataFrame,
    current_beds: pd.Series,
    policy: beds.BedPolicy,
    ratios: Mapping[str, StaffingRatios],
) -> PlanTables:
    """The served plan's tables of a census forecast: `beds.daily_bed_plan` and `period_plan` by week,
    `shift_staffing` and `weekly_fte`."""
    days = beds.daily_bed_plan(census, current_beds, policy)
    staffing = shift_staffing(census, ratios).reset_index(drop=True)
    return PlanTables(days, beds.period_plan(days, "week"), staffing, weekly_fte(staffing, ratios))


@dataclass
class ScenarioResult:
    """The scenario's plan beside the served one.

    Attributes:
        weeks: per unit and ISO week, the plan's week table (`beds.period_plan`) under the scenario, with the
            served plan's figures (`served_*`) and the differences (`change_*`, scenario − served).
        days, shifts, fte: the same for the daily plan, the nurses per shift and the weekly FTE (None when not
            asked for).
        how: per unit, how its scenario census was made.
        policy: the scenario's bed policy.
        notes: units so small that the overflow risk needs clearly more beds than the occupancy target.
    """

    weeks: pd.DataFrame
    days: pd.DataFrame | None
    shifts: pd.DataFrame | None
    fte: pd.DataFrame | None
    how: dict[str, str]
    policy: beds.BedPolicy
    notes: list[str] = field(default_factory=list)


def check(
    bundle: ForecastBundle,
    scenario: Scenario,
    start: pd.Timestamp,
    end: pd.Timestamp,
    inputs: ScenarioInputs | None = None,
) -> None:
    """Raise `ScenarioError` naming the field for what the served model cannot answer: unknown units, dates or
    weeks outside the plan's days, beds below zero, changes of −100 % or less, stays shorter than a day, targets
    outside (0, 1]."""
    inputs = inputs or scenario_inputs(bundle)
    known = set(inputs.census)
    first, last = inputs.days

    def units_known(where: str, units: Sequence[str] | None) -> None:
        for k, unit in enumerate(units or ()):
            if unit not in known:
                raise ScenarioError(f"{where}.{k}", f"unknown unit {unit!r}; known units: {', '.join(sorted(known))}")

    for name in ("target_acute", "target_elective"):
        value = getattr(scenario, name)
        if value is not None and not 0 < value <= 1:
            raise ScenarioError(name, f"{name} must be above 0 and at most 1, got {value}")
    for k, own in enumerate(scenario.unit_targets):
        if own.unit not in known:
            raise ScenarioError(
                f"unit_targets.{k}.unit", f"unknown unit {own.unit!r}; known units: {', '.join(sorted(known))}"
            )
        for name in ("target_acute", "target_elective"):
            value = getattr(own, name)
            if value is not None and not 0 < value <= 1:
                raise ScenarioError(f"unit_targets.{k}.{name}", f"{name} must be above 0 and at most 1, got {value}")
    if scenario.overflow_risk is not None and not 0 < scenario.overflow_risk < 1:
        raise ScenarioError("overflow_risk", f"overflow_risk must be between 0 and 1, got {scenario.overflow_risk}")
    for group in ("admissions", "length_of_stay"):
        changes: Sequence[AdmissionsChange | LengthOfStayChange] = getattr(scenario, group)
        for k, change in enumerate(changes):
            units_known(f"{group}.{k}.units", change.units)
            if change.start is not None and not first <= change.start <= last:
                raise ScenarioError(
                    f"{group}.{k}.start",
                    f"start must be between {first:%Y-%m-%d} and {last:%Y-%m-%d} (the forecast's days)",
                )
            if change.percent is not None and change.percent <= -100:
                raise ScenarioError(f"{group}.{k}.percent", f"a change must be above −100 %, got {change.percent}")
    for k, stay in enumerate(scenario.length_of_stay):
        if (stay.percent is None) == (stay.days is None):
            raise ScenarioError(f"length_of_stay.{k}", "give the change of stays in percent or in days (one of them)")
    if isinstance(scenario.smooth_electives, tuple):
        units_known("smooth_electives", scenario.smooth_electives)
    if scenario.planned_beds:
        weeks = _plan_weeks(start, end)
        for k, planned in enumerate(scenario.planned_beds):
            units_known(f"planned_beds.{k}.unit", [planned.unit])
            if planned.week not in weeks:
                raise ScenarioError(
                    f"planned_beds.{k}.week",
                    f"week {planned.week!r} is outside the plan ({start:%Y-%m-%d} to {end:%Y-%m-%d}): weeks "
                    f"{weeks[0]} to {weeks[-1]}",
                )
            if planned.beds < 0:
                raise ScenarioError(f"planned_beds.{k}.beds", f"beds must be 0 or more, got {planned.beds}")
    _check_stays(scenario, inputs.mean_stays)
    for unit in sorted(known):
        if scenario.changes_census_of(unit) and inputs.flows.get(unit) is None:
            raise ScenarioError(
                "admissions"
                if scenario.admissions
                else "length_of_stay"
                if scenario.length_of_stay
                else "smooth_electives",
                f"{unit}: the served model has no admissions by type or length of stay for this unit (trained on "
                "daily counts, not episodes): only targets, overflow risk and planned beds can change its plan",
            )


@lru_cache(maxsize=64)
def _plan_weeks(start: pd.Timestamp, end: pd.Timestamp) -> list[str]:
    return sorted(set(iso_weeks(pd.date_range(start, end, freq="D"))))


def _check_stays(scenario: Scenario, mean_stays: Mapping[tuple[str, str], float]) -> None:
    """A change that leaves a unit's mean stay below one day is refused (a stay that short is not a bed-day)."""
    for k, change in enumerate(scenario.length_of_stay):
        for (unit, kind), before in mean_stays.items():
            if change.admission_type not in ("all", kind) or (change.units is not None and unit not in change.units):
                continue
            if change.percent is not None:
                after, name = before * (1 + change.percent / 100), "percent"
            else:
                after, name = before + float(change.days or 0), "days"
            if after < 1 and after < before:
                raise ScenarioError(
                    f"length_of_stay.{k}.{name}",
                    f"{unit}: {kind} stays would average {after:.2f} days (now {before:.2f}): at least one day",
                )


def run_scenario(
    bundle: ForecastBundle,
    scenario: Scenario,
    start: pd.Timestamp,
    end: pd.Timestamp,
    policy: beds.BedPolicy,
    ratios: Mapping[str, StaffingRatios],
    inputs: ScenarioInputs | None = None,
    tables: Sequence[str] = ("weeks", "days", "shifts", "fte"),
) -> ScenarioResult:
    """The plan of `start`..`end` under the scenario, beside the served plan.

    Args:
        bundle: the served model.
        scenario: the what-if.
        start: the plan's first day (inside the forecast).
        end: the plan's last day (inside the forecast).
        policy: the served bed policy (the scenario's targets and risk replace parts of it).
        ratios: staffing ratios per unit.
        inputs: `scenario_inputs(bundle)` when already at hand.
        tables: the tables to make besides the weeks (`days`, `shifts`, `fte`).

    Raises:
        ScenarioError: the field the model cannot answer, and why.
    """
    inputs = inputs or scenario_inputs(bundle)
    check(bundle, scenario, start, end, inputs)
    current = inputs.current_beds
    how = {unit: how_made(scenario, unit, str(rows["model"].iloc[0])) for unit, rows in inputs.census.items()}
    # The empty scenario takes this path too: its ratios are 1, so its tables are the served plan's.
    window, served, offsets = inputs.window(start, end, current, ratios)
    changed = _changed(window, served, offsets, census_changes(scenario, inputs))
    changed_policy = scenario.policy(policy)
    weeks, days, shifts, fte, notes = tables_beside(
        window,
        changed,
        served,
        changed_policy,
        policy,
        _open_beds(window, scenario.planned_beds),
        scenario.unit_policies(changed_policy),
        tables,
    )
    return ScenarioResult(weeks, days, shifts, fte, how, changed_policy, notes)


def _changed(window: Window, served: Arrays, offsets: dict[str, int], changes: dict[str, CensusChange]) -> Arrays:
    """The window's served census moved by each changed unit's ratios (quantiles scale with the mean)."""
    mean, grid = served.mean.copy(), served.grid.copy()
    acute, elective = served.acute.copy(), served.elective.copy()
    for unit, change in changes.items():
        rows = window.rows_of[unit]
        days = slice(offsets[unit], offsets[unit] + rows.stop - rows.start)
        mean[rows] *= change.total[days]
        grid[rows] *= change.total[days, None]
        acute[rows] *= change.acute[days]
        elective[rows] *= change.elective[days]
    return Arrays(mean, grid, acute, elective)


def _open_beds(window: Window, planned: Sequence[PlannedBeds]) -> np.ndarray:
    """Per row, the week's planned open beds where the scenario gives them, else today's beds."""
    beds_open = window.current_beds.copy()
    for plan in planned:
        rows = np.arange(window.rows_of[plan.unit].start, window.rows_of[plan.unit].stop)
        beds_open[rows[window.weeks[rows] == plan.week]] = plan.beds
    return beds_open
