"""The planner's pages: HTML renderings of the very typed answers the JSON API and the CSV downloads render.

Each page takes the state's typed answers (`forecast.serving.answers`, built once and cached), so its numbers
are the API's by construction: there is no second computation. A rendered page depends only on the model and
the request, so it is cached with the answers (a new state brings a new, empty cache) and the common pages are
drawn before a state serves (`forecast.serving.slot.prepare`).
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
from typing import Any
from urllib.parse import quote

import jinja2
import pandas as pd
from markupsafe import Markup

from forecast.periods import YEAR
from forecast.serving import answers, explain_pages
from forecast.serving.errors import Invalid
from forecast.serving.state import Body, ServingState
from forecast.serving.svg import Band, Line, time_chart

__all__ = [
    "FAN_LEVELS",
    "answer_of",
    "as_of_day",
    "data_csv",
    "day_of",
    "model_answer",
    "overview_page",
    "render_page",
    "unit_page",
    "warm_pages",
]

# The fan chart's bands: 80 % between the 10th and 90th percentiles, 95 % between the 2.5th and 97.5th.
FAN_LEVELS = (0.025, 0.1, 0.5, 0.9, 0.975)
STAFFING_DAYS = 28
HTML = "text/html; charset=utf-8"


@functools.cache
def _templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("forecast.serving", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = _number
    env.filters["pct"] = lambda value: "–" if value is None else f"{100 * value:.0f} %"
    env.filters["signed"] = lambda value: "–" if value is None else f"{value:+d}" if value else "0"
    return env


def _number(value: float | None, decimals: int = 0) -> str:
    """A number as a planner reads it: no trailing noise, a dash where unknown."""
    if value is None:
        return "–"
    return f"{value:.{decimals}f}"


def render_page(name: str, **context: Any) -> Body:
    """A template rendered to bytes."""
    return Body(_templates().get_template(name).render(**context).encode(), HTML)


def answer_of(state: ServingState, ask: answers.Ask) -> Any:
    """The request's typed answer as the JSON API gives it (plain values): a page shows exactly what /v1/...
    answers."""
    return answers.answer(state, ask).model_dump(mode="json")


def model_answer(state: ServingState) -> dict[str, Any]:
    """The `/v1/model` answer itself."""
    return answer_of(state, answers.model_answer(state))


def as_of_day(model: dict[str, Any]) -> str:
    """The model's "as of" day: the last day of its data."""
    return str(model.get("data_last_date") or model["forecast_first_day"])


def day_of(text: str) -> dt.date:
    """A day from the API's YYYY-MM-DD."""
    return dt.date.fromisoformat(text)


def data_csv(header: list[str], rows: list[list[Any]]) -> str:
    """A small table as a `data:` link: a CSV download with no request and no script."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([["" if v is None else v for v in row] for row in rows])
    return "data:text/csv;charset=utf-8," + quote(out.getvalue())


def _gap_class(gap: int | None, beds: int | None) -> str:
    """How a week looks against today's beds: short of beds, tight (under a tenth spare), or enough."""
    if gap is None or beds is None:
        return "unknown"
    if gap > 0:
        return "short"
    if -gap < max(1, 0.1 * beds):
        return "tight"
    return "enough"


def _reliability(plan: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per unit, the plan's sentence on how often its beds at the risk held in the backtest, and whether it is
    poor (the promise broke or could not be measured: the plan says it planned those units conservatively).

    Models trained before the measure existed have none: then there is nothing to show.
    """
    found = {}
    for unit, record in (plan.get("reliability") or {}).items():
        sentence = str(record["text"]).removeprefix(f"{unit}: ")
        found[str(unit)] = {"text": sentence, "poor": record["status"] != "kept", "full": record["text"]}
    return found


# --- the hospital overview -----------------------------------------------------------------------------------


def overview_context(state: ServingState, period: str = "next") -> dict[str, Any]:
    """Per unit and ISO week of the next quarter (or the year ahead): beds needed at the risk against beds open,
    the pools, and what drives the beds."""
    model = model_answer(state)
    periods = {"next": "Next quarter", **({YEAR: "The year ahead"} if state.year else {})}
    try:
        plan = answer_of(state, answers.plan_answer(state, period))
    except Invalid as error:
        return {
            "model": model,
            "as_of": as_of_day(model),
            "plan": None,
            "problem": str(error),
            "reliability": {},
            "periods": periods,
            "period": period,
        }
    pooled = None
    if period != YEAR and state.bundle.hierarchy() is not None and not state.bundle.pools.empty:
        pooled = answer_of(state, answers.plan_answer(state, period, level="hospital"))
    weeks = sorted({w["week"] for w in plan["weeks"]})
    starts = {w["week"]: w["week_start"] for w in plan["weeks"]}
    units: dict[str, dict[str, Any]] = {}
    for row in plan["weeks"]:
        cell = dict(row, state=_gap_class(row["gap"], row["current_beds"]))
        units.setdefault(row["unit"], {})[row["week"]] = cell
    totals = []
    for week in weeks:
        rows = [units[u][week] for u in units if week in units[u]]
        known = [r["current_beds"] for r in rows if r["current_beds"] is not None]
        needed = sum(r["beds_at_overflow_risk"] for r in rows)
        open_beds = sum(known) if len(known) == len(rows) else None
        totals.append(
            {
                "week": week,
                "needed": needed,
                "open": open_beds,
                "gap": None if open_beds is None else needed - open_beds,
                "surge_days": sum(r["surge_days"] or 0 for r in rows),
            }
        )
    pools: dict[str, dict[str, dict[str, Any]]] = {}
    for row in (pooled or {}).get("weeks", []):
        pools.setdefault(row["unit"], {})[row["week"]] = dict(row, state=_gap_class(row["gap"], row["current_beds"]))
    chart = _overview_chart(weeks, starts, totals, pools, day_of(plan["end"]))
    reliability = _reliability(plan)
    poor = [note for note in plan["notes"] if any(note == r["full"] for r in reliability.values() if r["poor"])]
    return {
        "model": model,
        "as_of": as_of_day(model),
        "plan": plan,
        "pooled": pooled,
        "weeks": weeks,
        "units": units,
        "totals": totals,
        "pools": pools,
        "chart": Markup(chart),
        "hospital_csv": data_csv(*_hospital_table(totals, pools)),
        "reliability": reliability,
        "notes": poor + [note for note in plan["notes"] if note not in poor],  # unreliable units first
        "problem": None,
        "periods": periods,
        "period": period,
        "drivers": explain_pages.hospital_drivers(state, period),
    }


def _hospital_table(
    totals: list[dict[str, Any]], pools: dict[str, dict[str, dict[str, Any]]]
) -> tuple[list[str], list[list[Any]]]:
    """The hospital chart's numbers as a table: per week, beds needed apart and pooled, and beds open."""
    header = ["week", "beds_needed_units_apart", *[f"beds_needed_{name}_sharing" for name in pools], "beds_open_today"]
    rows = [
        [t["week"], t["needed"], *[pool[t["week"]]["beds_at_overflow_risk"] for pool in pools.values()], t["open"]]
        for t in totals
    ]
    return header, rows


def _overview_chart(
    weeks: list[str],
    starts: dict[str, str],
    totals: list[dict[str, Any]],
    pools: dict[str, dict[str, dict[str, Any]]],
    end: dt.date,
) -> str:
    # Steps hold each week's value to the next week's start; the extra last day closes the quarter's last week.
    days = [day_of(starts[w]) for w in weeks] + [end]

    def held(values: list[Any]) -> list[Any]:
        return [*values, values[-1]] if values else values

    lines = [Line("beds needed, units apart", days, held([t["needed"] for t in totals]), "needed", "step")]
    for name, by_week in pools.items():
        label = f"beds needed if {name}'s units share beds"
        lines.append(Line(label, days, held([by_week[w]["beds_at_overflow_risk"] for w in weeks]), "pooled", "step"))
    if all(t["open"] is not None for t in totals):
        lines.append(Line("beds open today", days, held([t["open"] for t in totals]), "today", "step", dashed=True))
    return time_chart("Beds the hospital needs per week against the beds open today", lines)


def overview_page(state: ServingState, period: str = "next") -> Body:
    """The overview of the next quarter, or with `period` year of the year ahead."""
    return state.cache.get(
        ("page", "overview", period), lambda: render_page("overview.html", **overview_context(state, period))
    )


# --- a unit --------------------------------------------------------------------------------------------------


def unit_context(state: ServingState, unit: str) -> dict[str, Any]:
    """The unit's last year and forecast fan, its weekly plan, its staffing for four weeks and its model."""
    model = model_answer(state)
    # The forecast from the day after the newest known day (after a nowcast the days before are history).
    begin = min(max(state.first_day, state.as_of + pd.Timedelta(days=1)), state.last_day)
    days = (state.last_day - begin).days + 1
    forecast = answer_of(state, answers.forecast_answer(state, unit, None, days, FAN_LEVELS))
    history = answer_of(state, answers.history_answer(state, unit))
    staffing = answer_of(state, answers.staffing_answer(state, unit, None, min(STAFFING_DAYS, days)))
    units = answer_of(state, answers.units_answer(state))
    beds = next(u["current_beds"] for u in units["units"] if u["unit"] == unit)
    try:
        plan = answer_of(state, answers.plan_answer(state, "next"))
        weeks = [dict(w, state=_gap_class(w["gap"], w["current_beds"])) for w in plan["weeks"] if w["unit"] == unit]
    except Invalid:
        plan, weeks = None, []
    fan_rows = _fan_rows(history, forecast, weeks, beds)
    shifts = _shift_rows(staffing)
    scores = _scores(model, unit)
    year = explain_pages.unit_drivers(state, unit, YEAR) if state.year else None
    return {
        "drivers": explain_pages.unit_drivers(state, unit),
        "year": year,
        "year_plan": year["answer"] if year else None,
        "model": model,
        "as_of": as_of_day(model),
        "unit": unit,
        "unit_names": state.units,
        "beds": beds,
        "plan": plan,
        "weeks": weeks,
        "forecast": forecast,
        "fan_rows": fan_rows,
        "chart": Markup(_fan_chart(f"Census of {unit}: the last year and the forecast", fan_rows)),
        "close_up": Markup(_fan_chart(f"Census of {unit}: the forecast close up", _close_up(fan_rows))),
        "shifts": shifts,
        "fte": staffing["weekly_fte"],
        "ratios": staffing["ratios"],
        "scores": scores,
        "scores_csv": data_csv(["measure", "value"], [[s["label"], s["value"]] for s in scores["rows"]]),
        "candidates_csv": data_csv(
            ["target", "model", "mase"], [[c["target"], c["model"], c["mase"]] for c in scores["candidates"]]
        ),
        "reliability": _reliability(plan or {}).get(unit),
        "fan_quantiles": {"q": ",".join(f"{q:g}" for q in FAN_LEVELS), "days": days},
    }


def _fan_rows(
    history: dict[str, Any], forecast: dict[str, Any], weeks: list[dict[str, Any]], beds: int | None
) -> list[dict[str, Any]]:
    """One row per day: the counted census (history), then the forecast's mean and bands, and the beds."""
    planned = {}
    for week in weeks:
        start = day_of(week["week_start"])
        for k in range(7):
            planned[start + dt.timedelta(days=k)] = week["beds_at_overflow_risk"]
    rows = [
        {"date": day_of(d["date"]), "census": d["census"], "mean": None, "bands": None, "beds": beds, "planned": None}
        for d in history["days"]
    ]
    for d in forecast["days"]:
        q = d["census"]["quantiles"]
        day = day_of(d["date"])
        rows.append(
            {
                "date": day,
                "census": None,
                "mean": d["census"]["mean"],
                "bands": (q["0.025"], q["0.1"], q["0.9"], q["0.975"]),
                "beds": beds,
                "planned": planned.get(day),
            }
        )
    return rows


def _close_up(rows: list[dict[str, Any]], days_before: int = 28) -> list[dict[str, Any]]:
    first = next((k for k, r in enumerate(rows) if r["bands"] is not None), len(rows))
    return rows[max(0, first - days_before) :]


def _fan_chart(title: str, rows: list[dict[str, Any]]) -> str:
    future = [r for r in rows if r["bands"] is not None]
    days = [r["date"] for r in rows]
    fdays = [r["date"] for r in future]
    bands = [
        Band("95 % of days inside", fdays, [r["bands"][0] for r in future], [r["bands"][3] for r in future], "b95"),
        Band("80 % of days inside", fdays, [r["bands"][1] for r in future], [r["bands"][2] for r in future], "b80"),
    ]
    lines = [
        Line("census counted", days, [r["census"] for r in rows], "history"),
        Line("expected census", fdays, [r["mean"] for r in future], "expected"),
    ]
    if any(r["beds"] is not None for r in rows):
        lines.append(Line("beds open today", days, [r["beds"] for r in rows], "today", dashed=True, tooltips=False))
    if any(r["planned"] is not None for r in future):
        lines.append(Line("beds the plan asks for", fdays, [r["planned"] for r in future], "planned", "step"))
    return time_chart(title, lines, bands)


def _shift_rows(staffing: dict[str, Any]) -> list[dict[str, Any]]:
    """The API's rows (one per day and shift) side by side: one row per day, RN and AN per shift."""
    by_day: dict[str, dict[str, Any]] = {}
    for need in staffing["shifts"]:
        day = by_day.setdefault(need["date"], {"date": need["date"], "census": need["census"]})
        day[need["shift"]] = (need["registered_nurses"], need["assistant_nurses"])
    return list(by_day.values())


def _scores(model: dict[str, Any], unit: str) -> dict[str, Any]:
    """The models chosen for the unit and the backtest's honest scores (per unit where the model keeps them)."""
    chosen = {target: by_unit.get(unit) for target, by_unit in model["chosen"].items()}
    rows = []
    for target, summary in model["backtest"].items():
        per_unit = (summary.get("units") or {}).get(unit) if isinstance(summary.get("units"), dict) else None
        source = per_unit or summary
        scope = "this unit" if per_unit else "all units"
        for key, label in (
            ("mase", "error against a same-weekday-last-week forecast (MASE; below 1 is better)"),
            ("baseline_mase", "that forecast's own MASE"),
            ("coverage_80", "days inside the 80 % band"),
            ("coverage_95", "days inside the 95 % band"),
        ):
            if source.get(key) is not None:
                value = source[key]
                shown = f"{100 * value:.0f} %" if key.startswith("coverage") else f"{value:.2f}"
                rows.append({"target": target, "label": f"{target}: {label}, {scope}", "value": shown})
    candidates = [
        {"target": target, "model": name, "mase": mase}
        for target, summary in model["backtest"].items()
        for name, mase in sorted((summary.get("models") or {}).items(), key=lambda item: item[1])
    ]
    return {"chosen": chosen, "rows": rows, "score": model.get("score"), "candidates": candidates}


def unit_page(state: ServingState, unit: str) -> Body:
    answers.history_answer(state, unit)  # an unknown unit fails here, before anything is rendered
    return state.cache.get(("page", "unit", unit), lambda: render_page("unit.html", **unit_context(state, unit)))


# --- ahead of time -------------------------------------------------------------------------------------------


# Unit pages rendered at load, at most: each costs tens of milliseconds, so with thousands of units the rest
# are rendered on their first request (and cached) rather than holding up the load.
WARM_UNIT_PAGES = 50


def warm_pages(state: ServingState) -> None:
    """Render the overview and the units' pages (up to `WARM_UNIT_PAGES`) before the state serves."""
    overview_page(state)
    if state.year:
        overview_page(state, YEAR)
    for unit in [u for u in state.units if u in state.census][:WARM_UNIT_PAGES]:
        unit_page(state, unit)
