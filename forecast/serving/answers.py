"""The answers, built once from a serving state as typed objects: units, forecast, beds, plan, staffing, history,
monitoring and the model.

Each function checks its request against what the model covers (cheap: a refusal comes at once, naming the
field) and returns an `Ask`: the request's key and how to build its typed answer. `answer` builds it once per
state (cached); `forecast.serving.render` turns it into JSON or CSV bytes (cached too), the pages into HTML.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

from forecast import beds, plans
from forecast.monitoring import monitor
from forecast.periods import YEAR, QuarterError
from forecast.quantiles import LEVELS, column
from forecast.serving.errors import Refusal, UnknownUnit, invalid
from forecast.serving.schemas import (
    BedsAnswer,
    BedsDay,
    Distribution,
    ForecastAnswer,
    ForecastDay,
    HistoryAnswer,
    HistoryDay,
    ModelAnswer,
    MonitoringAnswer,
    PlanAnswer,
    PlanWeek,
    ShiftNeed,
    StaffingAnswer,
    TableAnswer,
    UnitInfo,
    UnitMonitoring,
    UnitReliability,
    UnitsAnswer,
    WeeklyFte,
)
from forecast.serving.state import ServingState
from forecast.staffing import weekly_fte

__all__ = [
    "DEFAULT_DAYS",
    "DEFAULT_QUANTILES",
    "UNKNOWN_BEDS",
    "Ask",
    "answer",
    "beds_answer",
    "forecast_answer",
    "history_answer",
    "length_of_stay_sources",
    "model_answer",
    "monitoring_answer",
    "parse_quantiles",
    "period_window",
    "plan_answer",
    "quarter_of",
    "staffing_answer",
    "units_answer",
    "warm",
]

Format = Literal["json", "csv"]
DEFAULT_DAYS = 28
DEFAULT_QUANTILES = "0.05,0.5,0.95"
UNKNOWN_BEDS = "current beds unknown: give them at training (a units file with unit, beds)"


@dataclass(frozen=True)
class Ask:
    """A checked request: the key of its answer, how to build the typed answer, and the table its CSV gives
    (`None`: the answer's only or first table). Answers asked once and rarely again (a new what-if) are not
    kept as objects (`keep`): their JSON and CSV are, like every answer's."""

    key: tuple
    build: Callable[[], Any]
    table: str | None = None
    keep: bool = True  # keep the typed answer for the pages; False: only its renderings are cached


def answer(state: ServingState, ask: Ask) -> Any:
    """The typed answer of a checked request, built once per state (CPU work on a miss: not on the event loop)."""
    if not ask.keep:
        return state.answers.peek(ask.key) or ask.build()
    return state.answers.get(ask.key, ask.build)


def _ask(state: ServingState, key: tuple, build: Callable[[], TableAnswer], table: str | None = None) -> Ask:
    def built() -> TableAnswer:
        typed = build()
        typed.as_of = state.as_of.date()  # every answer says the newest day it knows
        return typed

    return Ask(key, built, table)


def _unit(state: ServingState, unit: str) -> pd.DataFrame:
    rows = state.census.get(unit)
    if rows is None:
        raise UnknownUnit(unit, state.units)
    return rows


def quarter_of(state: ServingState, quarter: str, loc: tuple[str | int, ...]) -> tuple[pd.Timestamp, pd.Timestamp]:
    """A quarter's first and last day, or a refusal at `loc` naming the quarters the forecast covers."""
    try:
        return state.quarter(quarter)
    except QuarterError as error:
        raise invalid(loc, str(error), "out_of_range") from None


def period_window(
    state: ServingState, period: str, loc: tuple[str | int, ...] = ("query", "period")
) -> tuple[str, tuple[pd.Timestamp, pd.Timestamp]]:
    """The horizon (quarter or year) and first and last day of the period a request names (`next`, `2026Q3` or
    `year`), or a refusal at `loc` that names the periods the model covers."""
    if period.strip().lower() == YEAR:
        window = state.year_window()
        if window is None:
            raise invalid(loc, _no_year(state), "out_of_range")
        return "year", window
    return "quarter", quarter_of(state, period, loc)


def _no_year(state: ServingState) -> str:
    first = pd.Timestamp(state.bundle.units["first_date"].min())
    days = (state.data_last_day - first).days + 1
    return (
        f"the model has no year ahead: it needs two years of history in every unit (the data hold {days} days) "
        "and training with the year ahead (the default); periods: next or a quarter of the forecast"
    )


def _window(state: ServingState, start: dt.date | None, days: int | None) -> tuple[pd.Timestamp, int]:
    """The asked window, checked against the forecast's days (the errors name the parameter and its range)."""
    first, last = state.first_day, state.last_day
    # Without `start`, from the day after the newest known day (the days before are as they were).
    begin = pd.Timestamp(start) if start is not None else min(max(first, state.as_of + pd.Timedelta(days=1)), last)
    if not first <= begin <= last:
        raise invalid(
            ("query", "start"),
            f"start must be between {first:%Y-%m-%d} and {last:%Y-%m-%d} (the forecast's days)",
            "out_of_range",
        )
    most = (last - begin).days + 1
    # Without `days`, up to four weeks: as many as the forecast has, rather than an error near its end.
    days = min(DEFAULT_DAYS, most) if days is None else days
    if not 1 <= days <= most:
        raise invalid(
            ("query", "days"),
            f"days must be between 1 and {most}: the forecast ends on {last:%Y-%m-%d}",
            "out_of_range",
        )
    return begin, days


def _slice(rows: pd.DataFrame, begin: pd.Timestamp, days: int) -> pd.DataFrame:
    end = begin + pd.Timedelta(days=days - 1)
    return rows[(rows["ds"] >= begin) & (rows["ds"] <= end)].reset_index(drop=True)


def _missing(value: object) -> bool:
    # Cheaper than pd.isna on one value, which dominated the cost of a table's rows.
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _none_if_nan(value: float) -> float | None:
    return None if _missing(value) else float(value)


def _int_or_none(value: object) -> int | None:
    return None if _missing(value) else int(value)  # type: ignore[call-overload]


# --- units ---------------------------------------------------------------------------------------------------


def length_of_stay_sources(state: ServingState) -> dict[tuple[str, str], str]:
    """(unit, admission type) → whose stays its stored curve rests on: unit, hospital or all (`forecast.los`)."""
    curves = state.bundle.length_of_stay
    if curves.empty:
        return {}
    if "source" not in curves.columns:  # bundles from before pooling kept every unit's own curve
        curves = curves.assign(source="unit")
    firsts = curves.drop_duplicates(["unit", "admission_type"])
    return {
        (str(u), str(t)): str(src)
        for u, t, src in zip(firsts["unit"], firsts["admission_type"], firsts["source"], strict=True)
    }


def units_answer(state: ServingState) -> Ask:
    def build() -> UnitsAnswer:
        sources = length_of_stay_sources(state)
        units = [
            UnitInfo(
                unit=str(row.unit),
                current_beds=_int_or_none(row.beds),
                first_date=pd.Timestamp(row.first_date).date(),
                last_date=pd.Timestamp(row.last_date).date(),
                length_of_stay_source_acute=sources.get((str(row.unit), "acute")),  # type: ignore[arg-type]
                length_of_stay_source_elective=sources.get((str(row.unit), "elective")),  # type: ignore[arg-type]
            )
            for row in state.bundle.units.sort_values("unit").itertuples(index=False)
        ]
        return UnitsAnswer(
            units=units, forecast_first_day=state.first_day.date(), forecast_last_day=state.last_day.date()
        )

    return _ask(state, ("units",), build)


# --- forecast ------------------------------------------------------------------------------------------------


def parse_quantiles(text: str) -> tuple[float, ...]:
    """Levels from `0.05,0.5,0.95`: each strictly between 0 and 1, at most 15, sorted and unique."""
    try:
        levels = tuple(sorted({float(f"{float(part):g}") for part in text.split(",") if part.strip()}))
    except ValueError:
        raise invalid(
            ("query", "quantiles"), f"quantiles must be numbers separated by commas, e.g. {DEFAULT_QUANTILES}"
        ) from None
    if not levels or len(levels) > len(LEVELS) or not all(0 < q < 1 and math.isfinite(q) for q in levels):
        raise invalid(
            ("query", "quantiles"),
            f"quantiles must be 1 to {len(LEVELS)} levels strictly between 0 and 1 (grid: "
            f"{', '.join(f'{q:g}' for q in LEVELS)}; others are interpolated)",
        )
    return levels


def _distributions(rows: pd.DataFrame, levels: tuple[float, ...]) -> list[Distribution]:
    # Levels on the grid are read; others interpolated between the grid's neighbours (forecast.beds).
    values = {
        q: rows[column(q)].to_numpy(float) if column(q) in rows.columns else beds.quantile_at(rows, q) for q in levels
    }
    means = rows["mean"].to_numpy(float)
    return [
        Distribution(mean=float(means[i]), quantiles={f"{q:g}": float(values[q][i]) for q in levels})
        for i in range(len(rows))
    ]


def forecast_answer(
    state: ServingState,
    unit: str,
    start: dt.date | None = None,
    days: int | None = None,
    levels: tuple[float, ...] = (0.05, 0.5, 0.95),
) -> Ask:
    census = _unit(state, unit)
    begin, days = _window(state, start, days)

    def build() -> ForecastAnswer:
        rows = _slice(census, begin, days)
        admissions = state.admissions.get(unit)
        admitted = _slice(admissions, begin, days) if admissions is not None else None
        by_day = (
            dict(zip(admitted["ds"], _distributions(admitted, levels), strict=True)) if admitted is not None else {}
        )
        return ForecastAnswer(
            unit=unit,
            model=str(rows["model"].iloc[0]) if len(rows) else "",
            quantiles=list(levels),
            nowcast=state.nowcast.methods.get(unit) if state.nowcast is not None else None,
            days=[
                ForecastDay(date=ds.date(), census=dist, admissions=by_day.get(ds))
                for ds, dist in zip(rows["ds"], _distributions(rows, levels), strict=True)
            ],
        )

    return _ask(state, ("forecast", unit, begin, days, levels), build)


# --- beds ----------------------------------------------------------------------------------------------------


def beds_answer(
    state: ServingState,
    unit: str,
    start: dt.date | None = None,
    days: int | None = None,
    target_occupancy: float | None = None,
    overflow_risk: float | None = None,
) -> Ask:
    census = _unit(state, unit)
    begin, days = _window(state, start, days)
    policy = state.policy
    if target_occupancy is not None:
        policy = beds.BedPolicy(target_occupancy, target_occupancy, policy.overflow_risk)
    if overflow_risk is not None:
        policy = beds.BedPolicy(policy.target_acute, policy.target_elective, overflow_risk)

    def build() -> BedsAnswer:
        if policy == state.policy:
            plan = _slice(state.bed_plans[unit], begin, days)
        else:
            plan = beds.daily_bed_plan(_slice(census, begin, days), state.current_beds, policy)
        known = plan["current_beds"].notna().any()
        return BedsAnswer(
            unit=unit,
            target_occupancy=target_occupancy,
            target_acute=policy.target_acute,
            target_elective=policy.target_elective,
            overflow_risk=policy.overflow_risk,
            days=[
                BedsDay(
                    date=row.ds.date(),
                    mean_census=float(row.mean),
                    beds_at_target_occupancy=int(row.beds_target),
                    beds_at_overflow_risk=int(row.beds_risk),
                    current_beds=_int_or_none(row.current_beds),
                    p_over_capacity=_none_if_nan(row.p_over_capacity),
                )
                for row in plan.itertuples(index=False)
            ],
            note=None if known else UNKNOWN_BEDS,
            reliability=_reliability(state).get(unit),
        )

    return _ask(state, ("beds", unit, begin, days, policy), build)


# --- plan ----------------------------------------------------------------------------------------------------


def _reliability(state: ServingState) -> dict[str, UnitReliability]:
    return {unit: UnitReliability.of(record) for unit, record in sorted(state.bundle.reliability().items())}


def plan_answer(
    state: ServingState,
    quarter: str = "next",
    overflow_risk: float | None = None,
    level: str = "unit",
    field: str = "quarter",
) -> Ask:
    """The weekly plan of a period: `next`, a quarter of the forecast (`2026Q1`) or `year` (the 52 weeks ahead,
    from the year-ahead forecast); `field` names the request's parameter in refusals."""
    horizon, (start, end) = period_window(state, quarter, ("query", field))
    risk = state.policy.overflow_risk if overflow_risk is None else overflow_risk
    policy = beds.BedPolicy(state.policy.target_acute, state.policy.target_elective, risk)
    tree = state.bundle.hierarchy() if level != "unit" else None
    if level != "unit" and (tree is None or state.bundle.pools.empty):
        message = "the model's units have no hospital and region: only level=unit is possible"
        raise invalid(("query", "level"), message, "out_of_range")
    if level != "unit" and horizon == "year":
        raise invalid(
            ("query", "level"), "the year ahead is planned per unit: only level=unit is possible", "out_of_range"
        )
    frames = state.year if horizon == "year" else state.census

    def build() -> PlanAnswer:
        records = state.bundle.year_reliability() if horizon == "year" else state.bundle.reliability()
        days = (end - start).days + 1
        rows = pd.concat([_slice(frame, start, days) for frame in frames.values()]).reset_index(drop=True)
        table, warnings = plans.quarter_plan(
            rows, start, end, policy, state.current_beds, level, state.bundle.pools, tree
        )
        unknown = sorted(set(table.loc[table["current_beds"].isna(), "unique_id"].astype(str)))
        notes = [f"{unit}: {UNKNOWN_BEDS}" for unit in unknown] + warnings
        planned = set(table["unique_id"].astype(str))
        promised = {u: UnitReliability.of(r) for u, r in sorted(records.items()) if u in planned}
        # A unit whose promise did not hold (or could not be measured) is said plainly, among the notes too.
        notes += [r.text for r in promised.values() if r.status != "kept"]
        pooled = level != "unit"
        weeks = [
            PlanWeek(
                unit=str(row.unique_id),
                level=level,
                week=str(row.period),
                week_start=row.period_start.date(),
                days=int(row.days),
                mean_census=float(row.mean_census),
                p90_census=float(row.p90_census),
                beds_at_target_occupancy=int(row.beds_target),
                beds_at_overflow_risk=int(row.beds_risk),
                current_beds=_int_or_none(row.current_beds),
                gap=_int_or_none(row.gap),
                expected_days_over_capacity=_none_if_nan(row.expected_days_over_capacity),
                surge_days=_int_or_none(row.surge_days),
                beds_units_apart=_int_or_none(row.beds_units_apart) if pooled else None,
                pooling_gain=_int_or_none(row.pooling_gain) if pooled else None,
                note=UNKNOWN_BEDS if pd.isna(row.current_beds) else None,
            )
            for row in table.itertuples(index=False)
        ]
        return PlanAnswer(
            quarter=f"{start.year}Q{start.quarter}" if horizon == "quarter" else None,
            period=f"{start.year}Q{start.quarter}" if horizon == "quarter" else YEAR,
            start=start.date(),
            end=end.date(),
            overflow_risk=risk,
            target_acute=policy.target_acute,
            target_elective=policy.target_elective,
            level=level,
            weeks=weeks,
            notes=notes,
            reliability=promised,
        )

    return _ask(state, ("plan", horizon, start, risk, level), build)


# --- staffing ------------------------------------------------------------------------------------------------


def staffing_answer(
    state: ServingState,
    unit: str,
    start: dt.date | None = None,
    days: int | None = None,
    table: Literal["shifts", "fte"] = "shifts",
) -> Ask:
    _unit(state, unit)  # 404 for a unit the model does not know
    begin, days = _window(state, start, days)

    def build() -> StaffingAnswer:
        staffing = _slice(state.staffing[unit], begin, days)
        ratios = state.ratios_for(unit)
        fte = weekly_fte(staffing, ratios)
        answer = StaffingAnswer(
            unit=unit,
            ratios={k: float(v) for k, v in vars(ratios).items()},
            shifts=[
                ShiftNeed(
                    date=row.ds.date(),
                    shift=str(row.shift),
                    census=float(row.census),
                    registered_nurses=int(row.registered_nurses),
                    assistant_nurses=int(row.assistant_nurses),
                )
                for row in staffing.itertuples(index=False)
            ],
            weekly_fte=[
                WeeklyFte(week=str(row.week), days=int(row.days), rn_fte=float(row.rn_fte), an_fte=float(row.an_fte))
                for row in fte.itertuples(index=False)
            ],
        )
        return answer

    return _ask(state, ("staffing", unit, begin, days), build, table)


# --- history -------------------------------------------------------------------------------------------------


def history_answer(state: ServingState, unit: str, days: int | None = None) -> Ask:
    """The unit's recent daily census and admissions as counted in the training data (the last `days`)."""
    _unit(state, unit)

    def build() -> HistoryAnswer:
        history = state.bundle.history
        rows = history[history["unique_id"].astype(str) == unit].sort_values("ds")
        if days is not None:
            rows = rows.tail(days)
        census = rows["census"] if "census" in rows.columns else pd.Series(None, index=rows.index, dtype=float)
        admitted = rows["admissions"] if "admissions" in rows.columns else pd.Series(None, index=rows.index)
        return HistoryAnswer(
            unit=unit,
            days=[
                HistoryDay(date=pd.Timestamp(ds).date(), census=_none_if_nan(c), admissions=_none_if_nan(a))
                for ds, c, a in zip(rows["ds"], census, admitted, strict=True)
            ],
        )

    return _ask(state, ("history", unit, days), build)


# --- ahead of time -------------------------------------------------------------------------------------------


def warm(state: ServingState, render: Callable[[ServingState, Ask, Format], Any]) -> None:
    """Build and `render` the answers most asked for, before the state serves: the units, the monitoring, the
    next quarter's plan, and each unit's default forecast, beds and staffing."""
    formats: tuple[Format, ...] = ("json", "csv")
    asks = [units_answer(state), monitoring_answer(state)]
    with contextlib.suppress(Refusal):  # a forecast without the next whole quarter: the plan refuses on request
        asks.append(plan_answer(state, "next"))
    for ask in asks:
        for fmt in formats:
            render(state, ask, fmt)
    levels = parse_quantiles(DEFAULT_QUANTILES)
    for unit in state.units:
        if unit in state.census:
            for ask in (
                forecast_answer(state, unit, levels=levels),
                beds_answer(state, unit),
                staffing_answer(state, unit),
            ):
                render(state, ask, "json")


# --- monitoring ----------------------------------------------------------------------------------------------


def monitoring_answer(state: ServingState) -> Ask:
    def build() -> MonitoringAnswer:
        found = state.monitoring
        if found is None:  # not measured yet (the nowcast thread is off or has not looked): measure now
            empty = pd.DataFrame({"unit": pd.Series(dtype=str), "ds": pd.to_datetime([]), "census": []})
            found = monitor(state.trained, empty, state.policy)
        return MonitoringAnswer(
            model_name=state.served.name,
            model_version=state.served.version,
            trained_to=(state.trained.first_forecast_day - pd.Timedelta(days=1)).date(),
            units=[
                UnitMonitoring(
                    **{
                        **vars(m),
                        "first_day": m.first_day.date() if m.first_day is not None else None,
                        "last_day": m.last_day.date() if m.last_day is not None else None,
                    }
                )
                for m in found
            ],
        )

    return _ask(state, ("monitoring",), build)


# --- the model -----------------------------------------------------------------------------------------------


def _date(value: Any) -> str | None:
    return str(value)[:10] if value else None


def model_answer(state: ServingState) -> Ask:
    """Name, version, run, training time, the data's range and the backtest summary of the served model."""

    def build() -> ModelAnswer:
        served, meta = state.served, state.bundle.meta
        return ModelAnswer(
            name=served.name,
            version=served.version,
            alias=served.alias,
            run_id=served.run_id,
            trained_at=meta.trained_at,
            loaded_at=state.loaded_at,
            data_first_date=_date(meta.data_first_date),  # type: ignore[arg-type]
            data_last_date=_date(meta.data_last_date),  # type: ignore[arg-type]
            forecast_first_day=state.first_day.date(),
            forecast_last_day=state.last_day.date(),
            score=meta.score,
            backtest=meta.backtest,
            chosen=meta.chosen,
            policy={k: float(v) for k, v in vars(state.policy).items()},
            staffing={k: float(v) for k, v in vars(state.ratios).items()},
            as_of=state.as_of.date(),
            nowcast=state.nowcast.methods if state.nowcast is not None else {},
        )

    return Ask(("model",), build)
