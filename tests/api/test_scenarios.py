"""POST /v1/scenarios and saved scenarios: the empty scenario is the served plan, refusals name the field."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from forecast.api import Settings, create_app
from forecast.registry import ServedModel
from forecast.store import EpisodeStore, ScenarioStore
from tests.scenario_bundles import flow_bundle

KEY = "test-key"
AUTH = {"X-API-Key": KEY}
SUMMER = {
    "name": "summer A",
    "admissions": [{"percent": -1, "admission_type": "acute"}],
    "length_of_stay": [{"days": -0.5, "units": ["medicine"]}],
    "target_acute": 0.88,
    "planned_beds": [{"unit": "medicine", "week": "2026-W05", "beds": 14}],
    "smooth_electives": True,
}


def served(version: str = "1") -> ServedModel:
    return ServedModel(bundle=flow_bundle(), name="bed-demand", version=version, alias="champion", run_id="r", tags={})


def app_for(tmp_path, loader=None):
    settings = Settings(api_key=KEY, episodes_url=f"sqlite:///{tmp_path / 'episodes.db'}")
    return create_app(settings, loader=loader or (lambda: served()))


@pytest.fixture
def client(tmp_path):
    with TestClient(app_for(tmp_path)) as client:
        yield client


def test_the_empty_scenario_is_the_served_plan(client):
    plan = client.get("/v1/plan").json()
    answer = client.post("/v1/scenarios?tables=weeks,days,shifts,fte", json={}).json()
    assert (answer["quarter"], answer["start"], answer["end"]) == (plan["quarter"], plan["start"], plan["end"])
    weeks = pd.DataFrame(answer["weeks"])
    served = pd.DataFrame(plan["weeks"]).rename(columns={"current_beds": "open_beds"})
    for name in ("beds_at_target_occupancy", "beds_at_overflow_risk", "open_beds", "gap", "surge_days", "days"):
        assert weeks[name].fillna(-1).tolist() == served[name].fillna(-1).tolist(), name
    # JSON numbers from pandas carry 15 significant digits, Python's 17.
    for name in ("mean_census", "p90_census", "expected_days_over_capacity"):
        pd.testing.assert_series_equal(weeks[name], served[name], rtol=1e-14, check_names=False)
    changes = [c for c in weeks.columns if c.startswith("change_")]
    assert (weeks[changes].fillna(0) == 0).all().all()
    staffing = client.get(f"/v1/staffing/medicine?start={plan['start']}&days=90").json()
    shifts = pd.DataFrame(answer["shifts"])
    mine = shifts[shifts["unit"] == "medicine"]
    assert mine["registered_nurses"].tolist() == [s["registered_nurses"] for s in staffing["shifts"]]
    assert (shifts["change_registered_nurses"] == 0).all()
    assert {u["unit"]: u["model"] for u in answer["units"]} == {"medicine": "flow", "surgery": "ets"}


def test_a_scenario_moves_beds_and_staff(client):
    answer = client.post("/v1/scenarios", json=SUMMER).json()
    weeks = pd.DataFrame(answer["weeks"]).set_index(["unit", "week"])
    assert weeks.loc[("medicine", "2026-W05"), "open_beds"] == 14
    assert weeks.loc[("medicine", "2026-W05"), "served_open_beds"] == 20
    assert weeks.loc[("medicine", "2026-W05"), "change_open_beds"] == -6
    assert (weeks["change_mean_census"] < 0).groupby(level="unit").mean()["medicine"] > 0.5
    assert answer["target_acute"] == 0.88
    how = {u["unit"]: u["how"] for u in answer["units"]}
    assert how["medicine"].startswith("flow model") and "scaled day by day" in how["surgery"]
    fte = pd.DataFrame(answer["weekly_fte"])
    assert fte.loc[fte["unit"] == "medicine", "change_rn_fte"].sum() < 0


def test_tables_and_csv(client):
    default = client.post("/v1/scenarios", json=SUMMER).json()
    assert default["days"] and default["weekly_fte"] and default["shifts"] is None
    only_weeks = client.post("/v1/scenarios?tables=weeks", json=SUMMER).json()
    assert only_weeks["days"] is None and only_weeks["shifts"] is None and only_weeks["weekly_fte"] is None
    response = client.post("/v1/scenarios?format=csv&table=shifts", json=SUMMER)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    shifts = pd.read_csv(io.StringIO(response.text))
    assert set(shifts["shift"]) == {"day", "evening", "night"} and len(shifts) == 2 * 90 * 3
    assert client.post("/v1/scenarios?tables=beds", json={}).status_code == 422


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"admissions": [{"percent": 5, "units": ["medicine", "icu"]}]}, ["body", "admissions", 0, "units", 1]),
        ({"planned_beds": [{"unit": "icu", "week": "2026-W05", "beds": 3}]}, ["body", "planned_beds", 0, "unit", 0]),
        ({"planned_beds": [{"unit": "medicine", "week": "2026-W30", "beds": 3}]}, ["body", "planned_beds", 0, "week"]),
        ({"planned_beds": [{"unit": "medicine", "week": "2026-W05", "beds": -1}]}, ["body", "planned_beds", 0, "beds"]),
        ({"admissions": [{"percent": -100}]}, ["body", "admissions", 0, "percent"]),
        ({"length_of_stay": [{"percent": -120}]}, ["body", "length_of_stay", 0, "percent"]),
        ({"length_of_stay": [{"days": -3.5}]}, ["body", "length_of_stay", 0, "days"]),
        ({"target_acute": 0}, ["body", "target_acute"]),
        ({"target_elective": 1.01}, ["body", "target_elective"]),
        ({"quarter": "2031Q1"}, ["body", "quarter"]),
        ({"admissions": [{"percent": 5, "start": "2031-01-01"}]}, ["body", "admissions", 0, "start"]),
    ],
)
def test_what_the_model_cannot_answer_is_422_naming_the_field(client, body, loc):
    response = client.post("/v1/scenarios", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == loc


def test_saved_scenarios_are_kept_listed_and_recomputed(tmp_path):
    with TestClient(app_for(tmp_path)) as client:
        assert client.post("/v1/scenarios/saved", json=SUMMER).status_code == 401  # no key
        saved = client.post("/v1/scenarios/saved", json=SUMMER, headers=AUTH)
        assert saved.status_code == 201, saved.text
        other = client.post("/v1/scenarios/saved", json={"name": "summer B", "target_acute": 0.9}, headers=AUTH)
        assert [s["name"] for s in client.get("/v1/scenarios").json()] == ["summer A", "summer B"]
        again = client.post("/v1/scenarios/saved", json=SUMMER, headers=AUTH)
        assert again.status_code == 409 and "summer A" in again.text
        scenario_id = saved.json()["id"]
        assert client.get(f"/v1/scenarios/{scenario_id}").json() == client.post("/v1/scenarios", json=SUMMER).json()
        csv = client.get(f"/v1/scenarios/{other.json()['id']}?format=csv&table=fte")
        assert csv.status_code == 200 and csv.text.startswith("unit,week,days,rn_fte")
        assert client.get("/v1/scenarios/999").status_code == 404
    # Kept in the episodes database: another app on the same database lists them.
    with TestClient(app_for(tmp_path)) as client:
        assert len(client.get("/v1/scenarios").json()) == 2


def test_a_refused_scenario_stores_nothing(tmp_path):
    with TestClient(app_for(tmp_path)) as client:
        bad = {**SUMMER, "planned_beds": [{"unit": "medicine", "week": "2026-W40", "beds": 3}]}
        response = client.post("/v1/scenarios/saved", json=bad, headers=AUTH)
        assert response.status_code == 422 and response.json()["detail"][0]["loc"][1] == "planned_beds"
        nameless = client.post("/v1/scenarios/saved", json={"target_acute": 0.9}, headers=AUTH)
        assert nameless.status_code == 422 and nameless.json()["detail"][0]["loc"] == ["body", "name"]
        assert client.get("/v1/scenarios").json() == []
    store = EpisodeStore(f"sqlite:///{tmp_path / 'episodes.db'}")
    try:
        assert store.count() == 0
    finally:
        store.dispose()


def test_a_saved_scenario_the_new_model_cannot_answer_names_the_field(tmp_path):
    later = served("2")
    later.bundle.forecasts["ds"] = later.bundle.forecasts["ds"] + pd.Timedelta(days=91)
    later.bundle.units["last_date"] = later.bundle.units["last_date"] + pd.Timedelta(days=91)
    models = iter([served("1"), later])
    with TestClient(app_for(tmp_path, loader=lambda: next(models))) as client:
        saved = client.post("/v1/scenarios/saved", json=SUMMER, headers=AUTH).json()
        assert client.post("/v1/reload", headers=AUTH).status_code == 200
        response = client.get(f"/v1/scenarios/{saved['id']}")
        assert response.status_code == 422 and response.json()["detail"][0]["loc"][1] == "planned_beds"


def test_openapi_documents_the_scenario_with_an_example(client):
    spec = client.get("/openapi.json").json()
    assert {"/v1/scenarios", "/v1/scenarios/saved", "/v1/scenarios/{scenario_id}"} <= set(spec["paths"])
    body = spec["paths"]["/v1/scenarios"]["post"]["requestBody"]["content"]["application/json"]
    assert body["examples"]["summer"]["value"]["planned_beds"]
    assert "ScenarioIn" in spec["components"]["schemas"] and "ScenarioAnswer" in spec["components"]["schemas"]


def test_a_saved_scenario_this_version_cannot_read_is_422_not_an_error(tmp_path):
    with TestClient(app_for(tmp_path)) as client:
        store = ScenarioStore(client.app.state.store.engine)
        old = store.save("from an older version", {"admissions": [{"percent": 5, "ward": "x"}]})
        response = client.get(f"/v1/scenarios/{old['id']}")
        assert response.status_code == 422 and response.json()["detail"][0]["loc"][:2] == ["saved", "admissions"]


def test_a_unit_at_targets_of_its_own_changes_only_its_beds_at_target(client):
    body = {"unit_targets": [{"unit": "medicine", "target_acute": 0.7}]}
    answer = client.post("/v1/scenarios", json=body)
    assert answer.status_code == 200, answer.text
    weeks = pd.DataFrame(answer.json()["weeks"])
    medicine, surgery = weeks[weeks["unit"] == "medicine"], weeks[weeks["unit"] == "surgery"]
    assert (medicine["change_beds_at_target_occupancy"] > 0).all()  # 70 % instead of 85 %: more beds
    assert (surgery["change_beds_at_target_occupancy"] == 0).all()
    assert (weeks["change_beds_at_overflow_risk"] == 0).all()  # targets move no census
    refused = client.post("/v1/scenarios", json={"unit_targets": [{"unit": "nowhere", "target_acute": 0.8}]})
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "unit_targets", 0, "unit"]


def test_several_changes_of_admissions_and_stays_compose(client):
    one = client.post("/v1/scenarios", json={"admissions": [{"percent": 10}]}).json()
    two = client.post(
        "/v1/scenarios", json={"admissions": [{"percent": 10}, {"percent": 10, "units": ["surgery"]}]}
    ).json()
    first = pd.DataFrame(one["weeks"]).set_index(["unit", "week"])
    second = pd.DataFrame(two["weeks"]).set_index(["unit", "week"])
    assert (second.loc["surgery", "mean_census"] > first.loc["surgery", "mean_census"]).all()
    assert (second.loc["medicine", "mean_census"] == first.loc["medicine", "mean_census"]).all()


def test_a_saved_scenario_is_deleted_with_the_key_only(tmp_path):
    with TestClient(app_for(tmp_path)) as client:
        saved = client.post("/v1/scenarios/saved", json=SUMMER, headers=AUTH).json()
        path = f"/v1/scenarios/saved/{saved['id']}"
        assert client.delete(path).status_code == 401
        assert client.delete(path, headers={"X-API-Key": "wrong"}).status_code == 401
        assert client.get(f"/v1/scenarios/{saved['id']}").status_code == 200
        assert client.delete(path, headers=AUTH).status_code == 204
        assert client.get(f"/v1/scenarios/{saved['id']}").status_code == 404
        assert client.delete(path, headers=AUTH).status_code == 404
        assert client.get("/v1/scenarios").json() == []
        again = client.post("/v1/scenarios/saved", json=SUMMER, headers=AUTH)  # the name is free again
        assert again.status_code == 201, again.text
