"""The plan explained by driver over HTTP (routers/explain.py), and the year ahead as a plan's period."""

from __future__ import annotations

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from forecast.api import create_app
from tests.api.conftest import Loader, csv_of, settings_for
from tests.bundles import make_served


@pytest.fixture(scope="module")
def client(tmp_path_factory, explained_served):
    app = create_app(settings_for(tmp_path_factory.mktemp("explain")), loader=Loader(explained_served))
    with TestClient(app) as client:
        yield client


def _planned(client, period: str, risk: str = "") -> dict[tuple[str, str], int]:
    plan = client.get(f"/v1/plan?period={period}{risk}").json()
    return {(w["unit"], w["week"]): w["beds_at_overflow_risk"] for w in plan["weeks"]}


@pytest.mark.parametrize("period", ["next", "year"])
def test_every_weeks_parts_add_up_to_the_plans_beds(client, period):
    answer = client.get(f"/v1/explain?period={period}").json()
    planned = _planned(client, period)
    weeks = [(u["unit"], w) for u in answer["units"] for w in u["weeks"]]
    assert len(weeks) == len(planned) > 0
    for unit, week in weeks:
        assert sum(week["parts"].values()) == week["beds"] == planned[(unit, week["week"])]
        assert sum(week["exact"].values()) == pytest.approx(week["beds"], abs=1)
        assert set(week["parts"]) <= set(answer["parts"]) and {"base", "margin"} <= set(week["parts"])
    # The hospital's weeks are the units' added up; its headlines name the biggest drivers in words.
    for total in answer["hospital"]:
        rows = [w for u, w in weeks if w["week"] == total["week"]]
        assert total["beds"] == sum(w["beds"] for w in rows)
        assert all(total["parts"][p] == sum(w["parts"].get(p, 0) for w in rows) for p in total["parts"])
    assert answer["headlines"] and all(h["text"].startswith(f"week {h['week']}: ") for h in answer["headlines"])


def test_the_year_ahead_is_52_weeks_from_its_own_forecast_with_its_reliability(client):
    year = client.get("/v1/explain?period=year").json()
    assert year["period"] == "year" and year["horizon"] == "year"
    assert pd.Timestamp(year["start"]).dayofweek == 0
    assert all(len(u["weeks"]) == 52 for u in year["units"])
    assert year["reliability"]["surgery"]["status"] == "broken"
    plan = client.get("/v1/plan?period=year").json()
    assert (plan["period"], plan["quarter"], plan["start"], plan["end"]) == ("year", None, year["start"], year["end"])
    assert plan["reliability"]["surgery"]["status"] == "broken"
    assert any("surgery" in note and "conservatively" in note for note in plan["notes"])
    # Summer weeks: the tourists' beds are there, and the planned-care cut takes beds away in surgery.
    surgery = next(u for u in year["units"] if u["unit"] == "surgery")
    july = [w for w in surgery["weeks"] if w["week"].endswith(("-W29", "-W30", "-W31"))]
    assert all(w["exact"]["tourism"] > 1 for w in july)
    assert all(w["exact"]["planned_care"] < -1 for w in july)


def test_a_unit_says_which_drivers_its_model_cannot_split(client):
    answer = client.get("/v1/explain/surgery").json()
    [unit] = answer["units"]
    assert unit["model"] == "arima+flow"
    status = {d["driver"]: d for d in unit["drivers"]}
    assert status["in_bed"]["status"] == "partly" and status["in_bed"]["seen_by"] == ["flow"]
    assert status["tourism"]["status"] == "separated"
    assert status["regressors"]["status"] == "no_input"
    assert any(note.startswith("patients in bed now: seen by flow, not by arima") for note in unit["notes"])
    assert answer["hospital"] == [] and answer["headlines"] == []


def test_a_higher_risk_needs_a_smaller_margin_and_still_adds_up(client):
    strict = client.get("/v1/explain/surgery?overflow_risk=0.01").json()["units"][0]["weeks"]
    loose = client.get("/v1/explain/surgery?overflow_risk=0.2").json()["units"][0]["weeks"]
    planned = _planned(client, "next", "&overflow_risk=0.2")
    for a, b in zip(strict, loose, strict=True):
        assert a["exact"]["margin"] > b["exact"]["margin"]
        assert sum(b["parts"].values()) == planned[("surgery", b["week"])]


def test_csv_is_a_row_per_unit_and_week_and_a_column_per_part(client):
    table = csv_of(client.get("/v1/explain?period=year&format=csv"))
    assert len(table) == 2 * 52
    parts = ["base", "day_of_week", "season", "holidays", "planned_care", "tourism", "regressors", "level"]
    assert list(table.columns[:7]) == ["unit", "model", "week", "week_start", "days", "planned_beds", "mean_census"]
    assert (table[[*parts, "in_bed", "margin"]].fillna(0).sum(axis=1) == table["planned_beds"]).all()
    assert table["regressors"].isna().all()  # no regressors: no column of numbers to invent


@pytest.mark.parametrize(
    ("path", "status", "field"),
    [
        ("/v1/explain/nowhere", 404, None),
        ("/v1/explain?period=2031Q1", 422, "period"),
        ("/v1/explain?period=0001Q1", 422, "period"),  # a year pandas cannot hold: refused, not a 500
        ("/v1/plan?quarter=0001Q1", 422, "quarter"),
        ("/v1/explain?period=summer", 422, "period"),
        ("/v1/explain?overflow_risk=0", 422, "overflow_risk"),
        ("/v1/plan?period=year&level=hospital", 422, "level"),
    ],
)
def test_bad_requests_are_refused_naming_the_field(client, path, status, field):
    response = client.get(path)
    assert response.status_code == status, response.text
    if field is not None:
        assert any(field in error["loc"] for error in response.json()["detail"])


def test_a_model_from_before_explanations_splits_only_the_margin_and_has_no_year(tmp_path):
    with TestClient(create_app(settings_for(tmp_path), loader=Loader(make_served("1")))) as client:
        answer = client.get("/v1/explain").json()
        planned = _planned(client, "next")
        for unit in answer["units"]:
            assert "trained before explanations" in unit["notes"][0]
            assert all(d["status"] == "not_separated" for d in unit["drivers"])
            for week in unit["weeks"]:
                assert set(week["parts"]) == {"base", "margin"}
                assert sum(week["parts"].values()) == planned[(unit["unit"], week["week"])]
        response = client.get("/v1/plan?period=year")
        assert response.status_code == 422 and "two years of history" in response.text
