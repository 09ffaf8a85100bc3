"""The what-if page: a form of the scenario levers, read into the API's scenario, and its answer beside the plan.

The form is a plain GET form (bookmarkable, works without scripts); its fields become a `ScenarioIn`, the body
`POST /v1/scenarios` takes, and the page shows that endpoint's own answer (`scenario_answer`). Saving goes to
`POST /v1/scenarios/saved` from the browser with the key typed into the page (whatif.js), so the key is sent
once in a header and kept nowhere.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from markupsafe import Markup
from pydantic import ValidationError

from forecast.serving.answers import answer, plan_answer, units_answer
from forecast.serving.errors import Invalid
from forecast.serving.pages import answer_of, as_of_day, data_csv, day_of, model_answer, render_page
from forecast.serving.scenario import scenario_answer
from forecast.serving.scenario_schemas import ScenarioIn
from forecast.serving.state import Body, ServingState
from forecast.serving.svg import Line, nice_ticks, time_chart

__all__ = ["FormError", "form_of", "scenario_of", "whatif_page"]

ADMISSION_TYPES = ("all", "acute", "elective")


class FormError(ValueError):
    """A form field that cannot be read; `field` names it as the form does."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(message)


def _number(form: Mapping[str, str], field: str, label: str) -> float | None:
    text = form.get(field, "").strip().replace(",", ".").replace("−", "-")
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise FormError(field, f"{label}: {text!r} is not a number") from None


def _choice(form: Mapping[str, str], field: str, allowed: tuple[str, ...], default: str) -> str:
    value = form.get(field, default)
    return value if value in allowed else default


def shown_unit(form: Mapping[str, str], units: list[str]) -> str:
    unit = form.get("unit", "")
    return unit if unit in units else units[0]


def scenario_of(form: Mapping[str, str], units: list[str], open_beds: Mapping[str, int | None]) -> ScenarioIn:
    """The scenario the form's fields describe (an empty form: the served plan).

    Raises:
        FormError: a field that is not a number, naming it.
        ValidationError: a scenario the API refuses (the same rules as `POST /v1/scenarios`).
    """
    applies = _choice(form, "applies", ("all", *units), "all")
    scope = None if applies == "all" else [applies]
    body: dict[str, Any] = {"quarter": "next"}
    percent = _number(form, "admissions", "admissions change")
    if percent:
        kind = _choice(form, "admission_type", ADMISSION_TYPES, "all")
        body["admissions"] = [{"percent": percent, "admission_type": kind, "units": scope}]
    days = _number(form, "stay_days", "length of stay change")
    if days:
        kind = _choice(form, "stay_type", ADMISSION_TYPES, "all")
        body["length_of_stay"] = [{"days": days, "admission_type": kind, "units": scope}]
    for field, label in (
        ("target_acute", "occupancy target, acute care"),
        ("target_elective", "occupancy target, planned care"),
        ("overflow_risk", "overflow risk"),
    ):
        value = _number(form, field, label)
        if value is not None:
            body[field] = value / 100  # the form asks in percent
    if form.get("smooth"):
        body["smooth_electives"] = True if scope is None else scope
    unit = shown_unit(form, units)
    planned = []
    for key in sorted(form):
        if key.startswith("beds_"):
            week = key.removeprefix("beds_")
            beds = _number(form, key, f"open beds in {week}")
            if beds is not None and (beds != open_beds.get(unit) or open_beds.get(unit) is None):
                if beds != int(beds):
                    raise FormError(key, f"open beds in {week}: give whole beds, not {beds:g}")
                planned.append({"unit": unit, "week": week, "beds": int(beds)})
    if planned:
        body["planned_beds"] = planned
    return ScenarioIn.model_validate(body)


def form_of(scenario: ScenarioIn, units: list[str]) -> dict[str, str]:
    """The form's fields for a (saved) scenario: the first change of each kind, in the form's units."""
    form: dict[str, str] = {}
    scopes = [a.units for a in scenario.admissions if a.units] + [s.units for s in scenario.length_of_stay if s.units]
    if isinstance(scenario.smooth_electives, list) and scenario.smooth_electives:
        scopes.append(scenario.smooth_electives)
    if scopes and len(scopes[0]) == 1:
        form["applies"] = scopes[0][0]
    if scenario.admissions:
        form["admissions"] = f"{scenario.admissions[0].percent:g}"
        form["admission_type"] = scenario.admissions[0].admission_type
    if scenario.length_of_stay and scenario.length_of_stay[0].days is not None:
        form["stay_days"] = f"{scenario.length_of_stay[0].days:g}"
        form["stay_type"] = scenario.length_of_stay[0].admission_type
    for field in ("target_acute", "target_elective", "overflow_risk"):
        value = getattr(scenario, field)
        if value is not None:
            form[field] = f"{100 * value:g}"
    if scenario.smooth_electives:
        form["smooth"] = "on"
    if scenario.planned_beds:
        form["unit"] = scenario.planned_beds[0].unit
        form.update({f"beds_{p.week}": str(p.beds) for p in scenario.planned_beds if p.unit == form["unit"]})
    return form


def _fits_the_form(scenario: ScenarioIn, form: dict[str, str], units: list[str]) -> bool:
    try:
        again = scenario_of(form, units, {})
    except (FormError, ValidationError):
        return False
    return again.model_dump(exclude={"name"}) == scenario.model_dump(exclude={"name"})


# --- the page ------------------------------------------------------------------------------------------------


def _unit_rows(answer: dict[str, Any], unit: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    weeks = [w for w in answer["weeks"] if w["unit"] == unit]
    days = [d for d in answer["days"] if d["unit"] == unit]
    return weeks, days


def _summary(answer: dict[str, Any]) -> list[dict[str, Any]]:
    """Per unit over the quarter: the busiest week's beds, days expected over open beds, surge days; both ways."""
    rows: dict[str, dict[str, Any]] = {}
    for w in answer["weeks"]:
        row = rows.setdefault(
            w["unit"], {"unit": w["unit"], "beds": 0, "served_beds": 0, "over": 0.0, "served_over": 0.0, "surge": 0}
        )
        row["beds"] = max(row["beds"], w["beds_at_overflow_risk"])
        row["served_beds"] = max(row["served_beds"], w["served_beds_at_overflow_risk"])
        row["over"] += w["expected_days_over_capacity"] or 0.0
        row["served_over"] += w["served_expected_days_over_capacity"] or 0.0
        row["surge"] += w["surge_days"] or 0
        row.setdefault("served_surge", 0)
        row["served_surge"] += w["served_surge_days"] or 0
    return list(rows.values())


def _charts(unit: str, days: list[dict[str, Any]], beds_today: int | None) -> tuple[str, str]:
    """The unit's days as served and under the scenario, on the same scale so they compare at a glance."""
    dates = [day_of(d["date"]) for d in days]
    top = nice_ticks(
        max(
            [d["beds_at_overflow_risk"] for d in days]
            + [d["served_beds_at_overflow_risk"] for d in days]
            + [d["open_beds"] or 0 for d in days]
            + [beds_today or 0]
        )
        * 1.05
    )[-1]

    def chart(title: str, census: str, beds: str, open_beds: list[Any], css: str) -> str:
        lines = [
            Line("expected census", dates, [d[census] for d in days], css),
            Line("beds needed at the overflow risk", dates, [d[beds] for d in days], "planned", "step"),
        ]
        if any(v is not None for v in open_beds):
            lines.append(Line("open beds", dates, open_beds, "today", "step", dashed=True, tooltips=False))
        return time_chart(title, lines, top=top)

    served_open = [beds_today] * len(days)
    return (
        chart(f"{unit}, as served", "served_mean_census", "served_beds_at_overflow_risk", served_open, "needed"),
        chart(f"{unit}, what if", "mean_census", "beds_at_overflow_risk", [d["open_beds"] for d in days], "scenario"),
    )


def _weeks_of_next_quarter(state: ServingState) -> list[str]:
    try:
        return sorted({w["week"] for w in answer_of(state, plan_answer(state, "next"))["weeks"]})
    except Invalid:
        return []


def whatif_context(
    state: ServingState,
    form: Mapping[str, str],
    saved: list[dict[str, Any]],
    loaded: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], int]:
    """The page's content and its status (422 when the form asks what the model cannot answer)."""
    model = model_answer(state)
    units = state.units
    beds_today = {u["unit"]: u["current_beds"] for u in answer_of(state, units_answer(state))["units"]}
    context: dict[str, Any] = {
        "model": model,
        "as_of": as_of_day(model),
        "units": units,
        "beds_today": beds_today,
        "saved": saved,
        "loaded": loaded,
        "problem": None,
        "answer": None,
        "not_in_form": False,
        "planned_weeks": _weeks_of_next_quarter(state),
    }
    if loaded is not None:
        scenario = ScenarioIn.model_validate(loaded["scenario"])
        asked = form.get("unit")
        form = form_of(scenario, units)
        if asked and not scenario.planned_beds:  # the unit on screen when it was saved, unless it plans beds
            form["unit"] = asked
        context["not_in_form"] = not _fits_the_form(scenario, form, units)
    unit = shown_unit(form, units)
    context.update(form=dict(form), unit=unit)
    try:
        if loaded is None:
            scenario = scenario_of(form, units, beds_today)
        result = answer(state, scenario_answer(state, scenario, ("weeks", "days"))).to_dict()
    except FormError as error:
        context["problem"] = str(error)
        return context, 422
    except ValidationError as error:
        context["problem"] = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        return context, 422
    except Invalid as error:  # the scenario API's own refusal, naming the field
        context["problem"] = "; ".join(f"{'.'.join(map(str, p.loc[1:]))}: {p.message}" for p in error.problems)
        return context, 422
    weeks, days = _unit_rows(result, unit)
    served_chart, scenario_chart = _charts(unit, days, beds_today.get(unit))
    summary = _summary(result)
    week_fields = [
        "week",
        "served_beds_at_overflow_risk",
        "beds_at_overflow_risk",
        "change_beds_at_overflow_risk",
        "served_open_beds",
        "open_beds",
        "served_gap",
        "gap",
        "served_expected_days_over_capacity",
        "expected_days_over_capacity",
        "served_surge_days",
        "surge_days",
        "served_mean_census",
        "mean_census",
    ]
    day_fields = [
        "date",
        "served_mean_census",
        "mean_census",
        "served_beds_at_overflow_risk",
        "beds_at_overflow_risk",
        "open_beds",
    ]
    summary_fields = ["unit", "served_beds", "beds", "served_over", "over", "served_surge", "surge"]
    context.update(
        answer=result,
        weeks=weeks,
        days=days,
        summary=summary,
        served_chart=Markup(served_chart),
        scenario_chart=Markup(scenario_chart),
        scenario_json=Markup(json.dumps(result["scenario"]).replace("</", "<\\/")),
        weeks_csv=data_csv(week_fields, [[w[f] for f in week_fields] for w in weeks]),
        days_csv=data_csv(day_fields, [[d[f] for f in day_fields] for d in days]),
        summary_csv=data_csv(
            [
                "unit",
                "busiest_week_beds_served",
                "busiest_week_beds_what_if",
                "days_over_open_beds_served",
                "days_over_open_beds_what_if",
                "surge_days_served",
                "surge_days_what_if",
            ],
            [[row[f] for f in summary_fields] for row in summary],
        ),
    )
    return context, 200


def whatif_page(
    state: ServingState, form: Mapping[str, str], saved: list[dict[str, Any]], loaded: dict[str, Any] | None = None
) -> tuple[Body, int]:
    context, status = whatif_context(state, form, saved, loaded)
    return render_page("whatif.html", **context), status
