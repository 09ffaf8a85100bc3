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

from forecast.serving import explain_pages
from forecast.serving.answers import answer, plan_answer, units_answer
from forecast.serving.errors import Invalid
from forecast.serving.pages import answer_of, as_of_day, data_csv, day_of, model_answer, render_page
from forecast.serving.scenario import scenario_answer
from forecast.serving.scenario_schemas import ScenarioIn
from forecast.serving.state import Body, ServingState
from forecast.serving.svg import Line, nice_ticks, time_chart

__all__ = ["FormError", "form_of", "scenario_of", "whatif_page"]

ADMISSION_TYPES = ("all", "acute", "elective")
# Changes of admissions and of stays the form holds (the first of each uses the names and the scope `applies`
# the form has always had; the others `admissions_2`, `admission_type_2`, `admission_applies_2`, …).
MAX_CHANGES = 4


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
    admissions, stays = [], []
    for k in range(1, MAX_CHANGES + 1):
        names = _row_names(k)
        own = scope if k == 1 else _scope(_choice(form, names["admission_applies"], ("all", *units), "all"))
        percent = _number(form, names["admissions"], f"admissions change {k}")
        if percent:
            kind = _choice(form, names["admission_type"], ADMISSION_TYPES, "all")
            admissions.append({"percent": percent, "admission_type": kind, "units": own})
        own = scope if k == 1 else _scope(_choice(form, names["stay_applies"], ("all", *units), "all"))
        days = _number(form, names["stay_days"], f"length of stay change {k}")
        if days:
            kind = _choice(form, names["stay_type"], ADMISSION_TYPES, "all")
            stays.append({"days": days, "admission_type": kind, "units": own})
    if admissions:
        body["admissions"] = admissions
    if stays:
        body["length_of_stay"] = stays
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
    own_targets = {
        field: value / 100
        for field, value in (
            ("target_acute", _number(form, "unit_target_acute", f"occupancy target of {unit}, acute care")),
            ("target_elective", _number(form, "unit_target_elective", f"occupancy target of {unit}, planned care")),
        )
        if value is not None
    }
    if own_targets:
        body["unit_targets"] = [{"unit": unit, **own_targets}]
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


def _row_names(k: int) -> dict[str, str]:
    """The form's field names of the k-th change of admissions and of stays (k = 1: the first)."""
    suffix = "" if k == 1 else f"_{k}"
    return {
        "admissions": f"admissions{suffix}",
        "admission_type": f"admission_type{suffix}",
        "admission_applies": f"admission_applies{suffix}",
        "stay_days": f"stay_days{suffix}",
        "stay_type": f"stay_type{suffix}",
        "stay_applies": f"stay_applies{suffix}",
    }


def _scope(applies: str) -> list[str] | None:
    return None if applies == "all" else [applies]


def change_rows(form: Mapping[str, str]) -> int:
    """How many rows of changes the form shows: those filled in and one more, up to `MAX_CHANGES`."""
    filled = [
        k
        for k in range(1, MAX_CHANGES + 1)
        if form.get(_row_names(k)["admissions"], "").strip() or form.get(_row_names(k)["stay_days"], "").strip()
    ]
    return min(MAX_CHANGES, max([1, *filled]) + 1)


def form_of(scenario: ScenarioIn, units: list[str]) -> dict[str, str]:
    """The form's fields for a (saved) scenario, in the form's units (up to `MAX_CHANGES` of each kind)."""
    form: dict[str, str] = {}
    firsts = [c.units for c in (scenario.admissions[:1] + scenario.length_of_stay[:1]) if c.units]
    if isinstance(scenario.smooth_electives, list) and scenario.smooth_electives:
        firsts.append(scenario.smooth_electives)
    if firsts and len(firsts[0]) == 1:
        form["applies"] = firsts[0][0]
    for k, change in enumerate(scenario.admissions[:MAX_CHANGES], start=1):
        names = _row_names(k)
        form[names["admissions"]] = f"{change.percent:g}"
        form[names["admission_type"]] = change.admission_type
        if k > 1 and change.units and len(change.units) == 1:
            form[names["admission_applies"]] = change.units[0]
    for k, stay in enumerate(scenario.length_of_stay[:MAX_CHANGES], start=1):
        if stay.days is None:
            continue
        names = _row_names(k)
        form[names["stay_days"]] = f"{stay.days:g}"
        form[names["stay_type"]] = stay.admission_type
        if k > 1 and stay.units and len(stay.units) == 1:
            form[names["stay_applies"]] = stay.units[0]
    for field in ("target_acute", "target_elective", "overflow_risk"):
        value = getattr(scenario, field)
        if value is not None:
            form[field] = f"{100 * value:g}"
    if scenario.smooth_electives:
        form["smooth"] = "on"
    if scenario.unit_targets:
        form["unit"] = scenario.unit_targets[0].unit
        for field in ("target_acute", "target_elective"):
            value = getattr(scenario.unit_targets[0], field)
            if value is not None:
                form[f"unit_{field}"] = f"{100 * value:g}"
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
        # The unit on screen when it was saved, unless the scenario plans beds or targets of a unit.
        if asked and not scenario.planned_beds and not scenario.unit_targets:
            form["unit"] = asked
        context["not_in_form"] = not _fits_the_form(scenario, form, units)
    unit = shown_unit(form, units)
    context.update(form=dict(form), unit=unit, change_rows=change_rows(form))
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
    context["drivers"] = explain_pages.scenario_drivers(state, scenario, unit)
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
