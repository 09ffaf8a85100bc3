"""The plan explained on the planner's pages: a unit's beds by driver per week (a stacked chart and its table),
and the hospital's biggest drivers. Both read the `/v1/explain` answers (`forecast.serving.explain_answers`), so
a page shows what the API answers.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any
from urllib.parse import quote

from markupsafe import Markup

from forecast import explain, scenarios
from forecast.serving import answers
from forecast.serving.errors import Invalid
from forecast.serving.explain_answers import LABELS, counterfactuals_of, explain_answer
from forecast.serving.scenario import check_scenario, scenario_inputs_of
from forecast.serving.scenario_schemas import ScenarioIn
from forecast.serving.stacked import drivers_chart
from forecast.serving.state import ServingState

__all__ = ["hospital_drivers", "scenario_drivers", "unit_drivers"]


def _answer(state: ServingState, unit: str | None, period: str) -> dict[str, Any] | None:
    try:
        ask = explain_answer(state, unit, period)
    except Invalid:
        return None  # no explanation (a model from before them, or no year ahead): the page says so
    return answers.answer(state, ask).model_dump(mode="json")


def _shown_parts(parts: list[str], weeks: list[dict[str, Any]]) -> list[str]:
    """The parts some week has (a driver the model does not separate is not a column)."""
    return [p for p in parts if any(p in w["parts"] for w in weeks)]


def _drawn(title: str, explained: dict[str, Any], weeks: list[dict[str, Any]], shown: list[str]) -> Markup:
    return Markup(
        drivers_chart(
            title,
            [w["week"] for w in weeks],
            [dt.date.fromisoformat(w["week_start"]) for w in weeks],
            {p: [w["parts"].get(p, 0) for w in weeks] for p in shown},
            [w["beds"] for w in weeks],
            explained["labels"],
        )
    )


def unit_drivers(state: ServingState, unit: str, period: str = "next") -> dict[str, Any] | None:
    """A unit's plan of `period` by driver: the chart, the table's columns and rows, the notes, the CSV link; None
    when the model holds no explanation for it."""
    explained = _answer(state, unit, period)
    if explained is None or not explained["units"]:
        return None
    found = explained["units"][0]
    weeks = found["weeks"]
    shown = _shown_parts(explained["parts"], weeks)
    name = "the year ahead" if explained["horizon"] == "year" else explained["period"]
    return {
        "answer": explained,
        "unit": found,
        "parts": shown,
        "labels": explained["labels"],
        "weeks": weeks,
        "chart": _drawn(f"Beds of {unit} by driver, {name}", explained, weeks, shown),
        "csv": f"/v1/explain/{quote(unit)}?period={quote(period)}&format=csv",
        "name": name,
        "reliability": explained["reliability"].get(unit),
    }


def hospital_drivers(state: ServingState, period: str = "next") -> dict[str, Any] | None:
    """The hospital's plan of `period` by driver: the biggest drivers in words, the units' parts added up per week
    (chart and table), the CSV link; None when the model holds no explanation for it."""
    explained = _answer(state, None, period)
    if explained is None or not explained["hospital"]:
        return None
    weeks = explained["hospital"]
    shown = _shown_parts(explained["parts"], weeks)
    name = "the year ahead" if explained["horizon"] == "year" else explained["period"]
    return {
        "answer": explained,
        "headlines": explained["headlines"],
        "parts": shown,
        "labels": explained["labels"],
        "weeks": weeks,
        "chart": _drawn(f"The hospital's beds by driver, {name}", explained, weeks, shown),
        "csv": f"/v1/explain?period={quote(period)}&format=csv",
        "name": name,
    }


def scenario_drivers(state: ServingState, body: ScenarioIn, unit: str) -> dict[str, Any] | None:
    """A unit's quarter by driver as served and under a what-if: per part the beds of an average week and of the
    busiest, beside each other; None when the model holds no explanation.

    A scenario moves the served census day by day (`forecast.scenarios`); every combination of drivers moves by
    the same factor, so the split shows which drivers its change moves (shorter stays shrink every driver's
    beds, levelled planned admissions the busiest weekday's, a higher risk the margin).
    """
    served = unit_drivers(state, unit, body.quarter)
    if served is None:
        return None
    scenario, start, end = check_scenario(state, body)
    key = ("scenario drivers", body.model_dump_json(), unit)

    def build() -> explain.Explanation:
        inputs = scenario_inputs_of(state)
        changed, _ = scenarios.scenario_census(state.bundle, scenario, inputs)
        changed = changed[changed["unique_id"] == unit]
        found = counterfactuals_of(state, "quarter")
        mine = explain.Counterfactuals(
            found.forecasts[found.forecasts["unique_id"] == unit], found.drivers[found.drivers["unique_id"] == unit]
        )
        base = state.census[unit].assign(unique_id=unit)
        return explain.explain_weeks(
            explain.scaled(mine, base, changed), changed, scenario.policy(state.policy), start, end
        )

    what_if = state.answers.get(key, build)
    # An average week from the exact shares (whole beds move by one with every other part's rounding).
    exact = what_if.parts.pivot_table(index="period", columns="part", values="value", aggfunc="sum")
    whole = what_if.parts.pivot_table(index="period", columns="part", values="beds", aggfunc="sum")
    weeks = {w["week"]: w for w in served["weeks"]}
    rows = []
    for part in served["parts"]:
        before = [weeks[week]["exact"].get(part, 0.0) for week in exact.index]
        after = exact[part].tolist() if part in exact.columns else [0.0] * len(before)
        rows.append(
            {
                "part": part,
                "label": served["labels"].get(part, LABELS.get(part, part)),
                "served": sum(before) / len(before),
                "what_if": sum(after) / len(after),
                "served_peak": max(weeks[week]["parts"].get(part, 0) for week in whole.index),
                "what_if_peak": int(whole[part].max()) if part in whole.columns else 0,
            }
        )
    totals_before = [weeks[week]["beds"] for week in whole.index]
    totals_after = what_if.totals.set_index("period").loc[list(whole.index), "beds"].tolist()
    return {
        "rows": rows,
        "served_beds": sum(totals_before) / len(totals_before),
        "what_if_beds": sum(totals_after) / len(totals_after),
        "name": served["name"],
        "csv": data_rows(rows),
    }


def data_rows(rows: list[dict[str, Any]]) -> str:
    """The split beside the served one as a CSV download."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        ["part", "beds_a_week_served", "beds_a_week_what_if", "busiest_week_served", "busiest_week_what_if"]
    )
    for r in rows:
        writer.writerow([r["part"], f"{r['served']:.2f}", f"{r['what_if']:.2f}", r["served_peak"], r["what_if_peak"]])
    return "data:text/csv;charset=utf-8," + quote(out.getvalue())
