"""The plan explained on the planner's pages (rendered by the server; the browser's view is tests/test_web.py)."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from forecast.api import create_app
from tests.api.conftest import Loader, settings_for


@pytest.fixture(scope="module")
def client(tmp_path_factory, explained_served):
    app = create_app(settings_for(tmp_path_factory.mktemp("pages")), loader=Loader(explained_served))
    with TestClient(app) as client:
        yield client


def _table(html: str, table_id: str) -> list[dict[str, str]]:
    """The rows of a table by their data attributes: week, beds and each part's data-beds."""
    body = re.search(rf'<table[^>]*id="{table_id}"[^>]*>(.*?)</table>', html, re.S).group(1)
    rows = []
    for week, beds, cells in re.findall(r'<tr data-week="([^"]+)" data-beds="(\d+)">(.*?)</tr>', body, re.S):
        parts = dict(re.findall(r'data-part="([^"]+)" data-beds="(-?\d*)"', cells))
        rows.append({"week": week, "beds": beds, **parts})
    return rows


def test_a_units_page_shows_its_beds_by_driver_as_the_api_says(client):
    page = client.get("/units/surgery").text
    answer = client.get("/v1/explain/surgery").json()["units"][0]
    shown = _table(page, "drivers-table")
    assert [r["week"] for r in shown] == [w["week"] for w in answer["weeks"]]
    for row, week in zip(shown, answer["weeks"], strict=True):
        assert int(row["beds"]) == week["beds"]
        assert {p: int(b) for p, b in row.items() if p not in ("week", "beds") and b} == week["parts"]
    assert page.count('class="part p-') > 0 and 'data-points="' in page  # the stacked chart and its line
    assert "patients in bed now: seen by flow, not by arima" in page  # what the model cannot split
    # The year ahead beside it, with its own chart, table and measured reliability.
    year = _table(page, "year-drivers-table")
    assert len(year) == 52
    assert "a year ahead: in backtest the census exceeded these beds on 9.0% of 728 days" in page


def test_the_overview_switches_between_the_quarter_and_the_year_and_names_the_biggest_drivers(client):
    quarter = client.get("/").text
    assert 'href="/?period=year"' in quarter and "Next quarter" in quarter
    year = client.get("/?period=year")
    assert year.status_code == 200
    answer = client.get("/v1/explain?period=year").json()
    headlines = re.findall(r'<li data-part="([^"]+)" data-week="([^"]+)" data-beds="(-?\d+)">', year.text)
    assert headlines == [(h["part"], h["week"], str(h["beds"])) for h in answer["headlines"]]
    assert ("tourism" in [h[0] for h in headlines]) and "Beds for the year ahead" in year.text
    hospital = _table(year.text, "hospital-drivers-table")
    assert [int(r["beds"]) for r in hospital] == [w["beds"] for w in answer["hospital"]]
    assert client.get("/?period=decade").status_code == 400


@pytest.mark.parametrize(
    ("query", "moved", "kept"),
    [
        ("overflow_risk=1", {"margin"}, {"base", "day_of_week", "tourism", "season", "planned_care", "level"}),
        ("admissions=20", {"base", "margin"}, set()),  # every driver's patients a fifth more
        ("stay_days=-0.5", {"base", "margin"}, set()),
        ("smooth=on", {"day_of_week"}, {"season", "tourism", "planned_care", "holidays"}),
    ],
)
def test_the_what_if_page_shows_which_drivers_a_scenario_moves(client, query, moved, kept):
    """A higher risk moves the margin alone; more admissions or shorter stays every driver in proportion;
    planned admissions levelled over the weekdays the busiest weekday's beds."""
    page = client.get(f"/what-if?unit=surgery&{query}")
    assert page.status_code == 200, page.text
    rows = dict(
        (part, (float(served), float(what_if)))
        for part, served, what_if in re.findall(
            r'<tr data-part="([^"]+)" data-served="([-\d.]+)" data-what-if="([-\d.]+)"', page.text
        )
    )
    assert {"base", "margin"} <= set(rows)
    for part in moved:
        assert abs(rows[part][1] - rows[part][0]) >= 0.1, (part, rows[part])
    for part in kept:
        assert rows[part][1] == pytest.approx(rows[part][0], abs=0.05), (part, rows[part])
    served = client.get("/what-if?unit=surgery").text
    untouched = re.findall(r'data-served="([-\d.]+)" data-what-if="([-\d.]+)"', served)
    assert untouched and all(a == b for a, b in untouched)
