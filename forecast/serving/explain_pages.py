"""The plan explained on the planner's pages: a unit's beds by driver per week (a stacked chart and its table),
and the hospital's biggest drivers. Both read the `/v1/explain` answers (`forecast.serving.explain_answers`), so
a page shows what the API answers.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote

from markupsafe import Markup

from forecast.serving import answers
from forecast.serving.errors import Invalid
from forecast.serving.explain_answers import explain_answer
from forecast.serving.stacked import drivers_chart
from forecast.serving.state import ServingState

__all__ = ["hospital_drivers", "unit_drivers"]


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
