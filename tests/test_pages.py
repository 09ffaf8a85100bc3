"""The planner's pages as the server renders them (fast; the real browser's view is tests/test_web.py)."""

from __future__ import annotations

import re
import urllib.parse

import pytest
from fastapi.testclient import TestClient

from forecast.api import Settings, create_app
from forecast.registry import ModelNotFound
from forecast.serving.svg import Band, Line, nice_ticks, time_chart
from tests.bundles import make_served


def settings_for(tmp_path) -> Settings:
    return Settings(api_key="k", episodes_url=f"sqlite:///{tmp_path / 'episodes.db'}")


@pytest.fixture
def client(tmp_path):
    with TestClient(create_app(settings_for(tmp_path), loader=lambda: make_served("1"))) as client:
        yield client


def cells(html: str) -> dict[tuple[str, str], tuple[int, str]]:
    """(unit, week) → (beds needed, beds open) from the overview's table."""
    found = {}
    for row in re.findall(r'<tr data-unit="([^"]+)">(.*?)</tr>', html, re.S):
        unit, body = row
        for week, needed, open_beds in re.findall(r'data-week="([^"]+)" data-needed="(\d+)" data-open="(\d*)"', body):
            found[(unit, week)] = (int(needed), open_beds)
    return found


def test_overview_is_the_plans_numbers_with_unknown_beds_said(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    plan = client.get("/v1/plan").json()
    shown = cells(page.text)
    assert len(shown) == len(plan["weeks"]) > 0
    for week in plan["weeks"]:
        open_beds = "" if week["current_beds"] is None else str(week["current_beds"])
        assert shown[(week["unit"], week["week"])] == (week["beds_at_overflow_risk"], open_beds)
    assert "beds unknown" in page.text  # surgery's beds were not given at training
    assert "units sharing beds" not in page.text  # no hospital in the units: no pools to show
    assert "Forecast as of" in page.text and "2025-12-31" in page.text


def test_unit_page_has_the_fan_the_plan_and_the_staffing(client):
    page = client.get("/units/medicine")
    assert page.status_code == 200
    assert page.text.count('<svg class="chart"') == 2
    assert 'class="band b95"' in page.text and 'class="band b80"' in page.text
    staffing = client.get("/v1/staffing/medicine?days=28").json()
    assert page.text.count('<tr><th scope="row">2026-') >= 28  # a row per day of the four weeks (and the fan)
    assert staffing["weekly_fte"][0]["week"] in page.text
    assert "ets" in page.text  # the chosen model


def test_every_download_link_is_a_csv(client):
    for path in ("/", "/units/medicine", "/units/surgery"):
        page = client.get(path).text
        links = re.findall(r'class="download" href="([^"]+)"', page)
        assert len(links) >= page.count("<table"), path
        for href in links:
            href = href.replace("&amp;", "&")
            if href.startswith("data:"):
                assert urllib.parse.unquote(href.split(",", 1)[1]).count("\n") >= 2
            else:
                response = client.get(href)
                assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv"), href


def test_unknown_unit_and_no_model_are_pages_saying_what_to_do(client, tmp_path):
    for number in ("99", "x", "9" * 30):
        assert client.get(f"/what-if?saved={number}").status_code == 404
    missing = client.get("/units/nowhere")
    assert missing.status_code == 404 and "medicine, surgery" in missing.text
    never = ModelNotFound("no model version bed-demand@champion; train one with `bedcast train`")

    def fail():
        raise never

    with TestClient(create_app(settings_for(tmp_path), loader=fail)) as empty:
        page = empty.get("/")
        assert page.status_code == 503 and "bedcast train" in page.text
        assert page.headers["content-type"].startswith("text/html")


def test_pages_are_rendered_before_the_first_request(client):
    state = client.app.state.slot.state
    assert state.cache.peek(("page", "overview", "next")) is not None
    assert all(state.cache.peek(("page", "unit", unit)) is not None for unit in state.units)


def test_docs_and_their_assets_are_served_here(client):
    docs = client.get("/docs").text
    assert "cdn" not in docs.lower() and "/assets/docs/swagger-ui-bundle.js" in docs
    for asset in re.findall(r'(?:src|href)="(/[^"]+)"', docs):
        assert client.get(asset).status_code == 200, asset
    assert client.get("/redoc", follow_redirects=False).headers["location"] == "/docs"
    assert "/v1/history/{unit}" in client.get("/openapi.json").json()["paths"]


def test_history_answers_the_recent_days(client):
    answer = client.get("/v1/history/medicine").json()
    assert answer["days"] == [{"date": "2025-12-31", "census": 15.0, "admissions": None}]
    assert client.get("/v1/history/surgery").json()["days"] == []
    assert client.get("/v1/history/medicine?format=csv").text.splitlines()[0] == "date,census,admissions"
    assert client.get("/v1/history/nowhere").status_code == 404


def test_chart_draws_every_point_and_escapes_labels():
    import datetime as dt

    days = [dt.date(2026, 1, 1) + dt.timedelta(days=k) for k in range(40)]
    svg = time_chart(
        "A <chart>",
        [Line("census & more", days, [float(k) for k in range(39)] + [None], "history")],
        [Band("80 %", days, [0.0] * 40, [50.0] * 40, "b80")],
    )
    assert 'data-points="39"' in svg and svg.count('<circle class="point"') == 39
    assert "A &lt;chart&gt;" in svg and "census &amp; more" in svg
    assert nice_ticks(52.5) == [0, 20, 40, 60] and nice_ticks(3) == [0, 1, 2, 3]


def test_reliability_sentences_flag_the_units_planned_conservatively():
    from forecast.serving.pages import _reliability

    kept = "ward_a: in backtest the census exceeded these beds on 4.6% of 364 days; promised 5%"
    plan = {
        "reliability": {
            "ward_a": {"status": "kept", "text": kept},
            "ward_b": {
                "status": "unmeasured",
                "text": "ward_b: only 20 backtest days, too few to measure the 5% overflow promise; planned "
                "conservatively (upper forecast widened ×1.50)",
            },
        }
    }
    found = _reliability(plan)
    assert found["ward_a"] == {
        "text": "in backtest the census exceeded these beds on 4.6% of 364 days; promised 5%",
        "poor": False,
        "full": kept,
    }
    assert found["ward_b"]["poor"] and found["ward_b"]["text"].startswith("only 20 backtest days")
    assert _reliability({}) == {}  # a model from before the measure


def test_the_what_if_form_reads_several_changes_and_a_units_own_targets():
    from forecast.serving.whatif import change_rows, form_of, scenario_of

    units = ["medicine", "surgery"]
    form = {
        "unit": "surgery",
        "admissions": "-1",
        "admission_type": "acute",
        "admissions_2": "5",
        "admission_applies_2": "surgery",
        "stay_days": "-0.5",
        "stay_days_3": "1",
        "stay_type_3": "elective",
        "unit_target_acute": "80",
    }
    scenario = scenario_of(form, units, {"surgery": None})
    assert [(a.percent, a.admission_type, a.units) for a in scenario.admissions] == [
        (-1, "acute", None),
        (5, "all", ["surgery"]),
    ]
    assert [(s.days, s.admission_type) for s in scenario.length_of_stay] == [(-0.5, "all"), (1, "elective")]
    assert [(t.unit, t.target_acute, t.target_elective) for t in scenario.unit_targets] == [("surgery", 0.8, None)]
    assert change_rows(form) == 4 and change_rows({}) == 2
    # A saved scenario comes back into the same form, and reads back the same.
    again = scenario_of(form_of(scenario, units), units, {"surgery": None})
    assert again.model_dump() == scenario.model_dump()
