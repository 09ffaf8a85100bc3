"""The HTTP API: every endpoint and error, CSV answers, reload, episodes, schema fuzzing, and end to end."""

from __future__ import annotations

import contextlib
import io
import itertools
import math

import pandas as pd
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import positive_data_acceptance

from forecast.api import Settings, create_app
from forecast.quantiles import column
from forecast.registry import ModelNotFound
from forecast.staffing import StaffingRatios
from tests.bundles import make_bundle, make_served

KEY = "test-key"
AUTH = {"X-API-Key": KEY}


class Loader:
    """Hands out models (or raises errors) in turn; the last one repeats."""

    def __init__(self, *results):
        self.results = list(results)

    def __call__(self):
        result = self.results.pop(0) if len(self.results) > 1 else self.results[0]
        if isinstance(result, BaseException):
            raise result
        return result


def settings_for(tmp_path, api_key: str | None = KEY) -> Settings:
    return Settings(api_key=api_key, episodes_url=f"sqlite:///{tmp_path / 'episodes.db'}")


@pytest.fixture
def client(tmp_path):
    app = create_app(settings_for(tmp_path), loader=Loader(make_served("1")))
    with TestClient(app) as client:
        yield client


def csv_of(response) -> pd.DataFrame:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    return pd.read_csv(io.StringIO(response.text))


# --- health and the model ------------------------------------------------------------------------------------


def test_health_and_ready(client):
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["model_version"] == "1"


def test_no_model_is_503_saying_how_to_train(tmp_path):
    missing = ModelNotFound("no model version bed-demand@champion; train one with `bedcast train` (or `make demo`)")
    with TestClient(create_app(settings_for(tmp_path), loader=Loader(missing))) as client:
        assert client.get("/health").status_code == 200
        for path in ("/ready", "/v1/units", "/v1/plan", "/v1/forecast/medicine", "/v1/model"):
            response = client.get(path)
            assert response.status_code == 503, path
            assert "bedcast train" in response.json()["detail"]


def test_model_info(client):
    info = client.get("/v1/model").json()
    assert (info["name"], info["version"], info["run_id"]) == ("bed-demand", "1", "run1")
    assert info["trained_at"].startswith("2026-01-02")
    assert (info["data_first_date"], info["data_last_date"]) == ("2024-01-01", "2025-12-31")
    assert info["forecast_first_day"] == "2026-01-01"
    assert info["backtest"]["census"]["mase"] == 0.8
    assert info["staffing"]["rn_night"] == 11


# --- units and forecasts -------------------------------------------------------------------------------------


def test_units_with_unknown_beds_as_null(client):
    answer = client.get("/v1/units").json()
    assert [(u["unit"], u["current_beds"]) for u in answer["units"]] == [("medicine", 20), ("surgery", None)]
    assert answer["units"][0]["last_date"] == "2025-12-31"
    table = csv_of(client.get("/v1/units?format=csv"))
    assert table["unit"].tolist() == ["medicine", "surgery"]
    assert table["current_beds"].iloc[0] == 20 and pd.isna(table["current_beds"].iloc[1])


def test_forecast_reads_the_grid_and_interpolates_off_it(client):
    bundle = make_bundle()
    rows = bundle.select(["medicine"], "census", pd.Timestamp("2026-01-05"), 3)
    answer = client.get("/v1/forecast/medicine?start=2026-01-05&days=3&quantiles=0.95,0.3").json()
    assert answer["quantiles"] == [0.3, 0.95]
    assert [d["date"] for d in answer["days"]] == ["2026-01-05", "2026-01-06", "2026-01-07"]
    first = answer["days"][0]
    assert first["census"]["mean"] == pytest.approx(rows["mean"].iloc[0])
    assert first["census"]["quantiles"]["0.95"] == pytest.approx(rows[column(0.95)].iloc[0])
    low, high = rows[column(0.25)].iloc[0], rows[column(0.5)].iloc[0]
    assert first["census"]["quantiles"]["0.3"] == pytest.approx(low + (high - low) * 0.2)
    assert first["admissions"]["mean"] == pytest.approx(rows["mean"].iloc[0] / 4)


def test_forecast_defaults_and_csv(client):
    answer = client.get("/v1/forecast/surgery").json()
    assert len(answer["days"]) == 28 and answer["quantiles"] == [0.05, 0.5, 0.95]
    table = csv_of(client.get("/v1/forecast/surgery?days=2&format=csv"))
    assert list(table.columns) == [
        "date",
        *(f"{t}_{c}" for t in ("census", "admissions") for c in ("mean", "q0.05", "q0.5", "q0.95")),
    ]
    assert len(table) == 2


def test_unknown_unit_is_404_listing_the_known(client):
    for path in ("/v1/forecast/icu", "/v1/beds/icu", "/v1/staffing/icu"):
        response = client.get(path)
        assert response.status_code == 404
        assert "medicine, surgery" in response.json()["detail"]


@pytest.mark.parametrize(
    ("query", "field", "says"),
    [
        ("start=2025-12-31", "start", "2026-01-01 and 2026-04-30"),
        ("start=2026-05-01", "start", "2026-01-01 and 2026-04-30"),
        ("start=2026-04-01&days=31", "days", "between 1 and 30"),
        ("days=0", "days", "1 ≤ days"),
        ("days=500", "days", "≤ 366"),
        ("quantiles=0,0.5", "quantiles", "pattern"),
        ("quantiles=median", "quantiles", "pattern"),
        ("format=xml", "format", "json or csv"),
    ],
)
def test_out_of_range_is_422_naming_the_field(client, query, field, says):
    response = client.get(f"/v1/forecast/medicine?{query}")
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["query", field]
    assert says in error["msg"]


# --- beds and the plan ---------------------------------------------------------------------------------------


def test_beds_at_target_and_at_risk(client):
    rows = make_bundle().select(["medicine"], "census", days=7)
    answer = client.get("/v1/beds/medicine?days=7").json()
    day = answer["days"][0]
    # The default policy: acute / 0.85 + elective / 0.95 on the split census.
    mean = rows["mean"].iloc[0]
    assert day["beds_at_target_occupancy"] == math.ceil(0.8 * mean / 0.85 + 0.2 * mean / 0.95)
    assert day["beds_at_overflow_risk"] == math.ceil(rows[column(0.95)].iloc[0])
    assert day["current_beds"] == 20 and 0 <= day["p_over_capacity"] <= 1
    asked = client.get("/v1/beds/medicine?days=7&target_occupancy=0.9&overflow_risk=0.01").json()
    assert asked["days"][0]["beds_at_target_occupancy"] == math.ceil(mean / 0.9 - 1e-9)
    assert asked["days"][0]["beds_at_overflow_risk"] == math.ceil(rows[column(0.99)].iloc[0])


def test_beds_unknown_are_null_with_a_note(client):
    answer = client.get("/v1/beds/surgery?days=3").json()
    assert all(d["current_beds"] is None and d["p_over_capacity"] is None for d in answer["days"])
    assert "unknown" in answer["note"]
    assert len(csv_of(client.get("/v1/beds/surgery?days=3&format=csv"))) == 3


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("overflow_risk=0", "overflow_risk"),
        ("overflow_risk=0.6", "overflow_risk"),
        ("target_occupancy=1.2", "target_occupancy"),
    ],
)
def test_beds_parameters_out_of_range(client, query, field):
    response = client.get(f"/v1/beds/medicine?{query}")
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["query", field] and "allowed" in error["msg"]


def test_plan_of_the_next_quarter(client):
    answer = client.get("/v1/plan").json()
    assert (answer["quarter"], answer["start"], answer["end"]) == ("2026Q1", "2026-01-01", "2026-03-31")
    weeks = pd.DataFrame(answer["weeks"])
    assert set(weeks["unit"]) == {"medicine", "surgery"}
    assert weeks.groupby("unit")["days"].sum().tolist() == [90, 90]
    medicine = weeks[weeks["unit"] == "medicine"]
    assert (medicine["gap"] == medicine["beds_at_overflow_risk"] - 20).all()
    assert medicine["note"].isna().all()
    surgery = weeks[weeks["unit"] == "surgery"]
    assert surgery[["current_beds", "gap", "expected_days_over_capacity", "surge_days"]].isna().all().all()
    assert surgery["note"].str.contains("unknown").all()
    assert any(n.startswith("surgery:") for n in answer["notes"])
    assert client.get("/v1/plan?quarter=2026q1").json() == answer


def test_plan_overflow_risk_and_csv(client):
    strict = pd.DataFrame(client.get("/v1/plan?overflow_risk=0.01").json()["weeks"])
    loose = pd.DataFrame(client.get("/v1/plan?overflow_risk=0.5").json()["weeks"])
    assert (strict["beds_at_overflow_risk"] >= loose["beds_at_overflow_risk"]).all()
    table = csv_of(client.get("/v1/plan?format=csv"))
    assert len(table) == len(strict) and "gap" in table.columns
    assert table.loc[table["unit"] == "medicine", "current_beds"].eq(20).all()


@pytest.mark.parametrize("quarter", ["2027Q1", "2025Q4", "Q1-2026", "2026Q5"])
def test_plan_quarter_out_of_range(client, quarter):
    response = client.get(f"/v1/plan?quarter={quarter}")
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["query", "quarter"] and "2026Q1" in error["msg"]


# --- staffing ------------------------------------------------------------------------------------------------


def test_staffing_per_shift_and_fte(client):
    answer = client.get("/v1/staffing/medicine?start=2026-01-05&days=7").json()
    shifts = pd.DataFrame(answer["shifts"])
    assert len(shifts) == 21 and shifts["shift"].iloc[:3].tolist() == ["day", "evening", "night"]
    day = shifts.iloc[0]
    assert day["registered_nurses"] == math.ceil(day["census"] / 5 - 1e-9)
    assert day["assistant_nurses"] == math.ceil(day["census"] / 4 - 1e-9)
    [week] = answer["weekly_fte"]
    assert week["week"] == "2026-W02" and week["days"] == 7
    nurse_hours = (shifts["registered_nurses"] * 8).sum()
    assert week["rn_fte"] == pytest.approx(nurse_hours / 34)
    assert len(csv_of(client.get("/v1/staffing/medicine?days=7&format=csv"))) == 21
    assert list(csv_of(client.get("/v1/staffing/medicine?days=7&format=csv&table=fte")).columns) == [
        "week",
        "days",
        "rn_fte",
        "an_fte",
    ]


def test_staffing_follows_a_units_own_ratios(tmp_path):
    served = make_served("1")
    served.bundle.meta["staffing_per_unit"] = {"surgery": {**vars(StaffingRatios()), "rn_day": 4.0}}
    with TestClient(create_app(settings_for(tmp_path), loader=Loader(served))) as client:
        surgery = client.get("/v1/staffing/surgery?days=7").json()
        medicine = client.get("/v1/staffing/medicine?days=7").json()
    assert surgery["ratios"]["rn_day"] == 4 and medicine["ratios"]["rn_day"] == 5
    day = pd.DataFrame(surgery["shifts"]).iloc[0]
    assert day["registered_nurses"] == math.ceil(day["census"] / 4 - 1e-9)


# --- write endpoints: the key --------------------------------------------------------------------------------


EPISODE = {
    "episode_id": "e1",
    "unit": "medicine",
    "admitted_at": "2026-01-01T10:00:00+01:00",
    "discharged_at": None,
    "admission_type": "acute",
}


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "wrong"}])
def test_write_endpoints_need_the_key(client, headers):
    for path, body in (("/v1/episodes", [EPISODE]), ("/v1/reload", None)):
        response = client.post(path, json=body, headers=headers)
        assert response.status_code == 401
        assert "X-API-Key" in response.json()["detail"]


def test_write_endpoints_refused_without_a_configured_key(tmp_path):
    with TestClient(create_app(settings_for(tmp_path, api_key=None), loader=Loader(make_served()))) as client:
        response = client.post("/v1/episodes", json=[EPISODE], headers={"X-API-Key": ""})
        assert response.status_code == 401
        assert "set BEDCAST_API_KEY" in response.json()["detail"]


# --- episodes ------------------------------------------------------------------------------------------------


def post(client, *episodes):
    return client.post("/v1/episodes", json=list(episodes), headers=AUTH)


def test_episodes_are_idempotent(client):
    second = {**EPISODE, "episode_id": "e2", "discharged_at": "2026-01-04", "admission_type": "elective"}
    assert post(client, EPISODE, second).json() == {"added": 2, "unchanged": 0, "discharged": 0, "stored": 2}
    assert post(client, EPISODE, second, second).json() == {"added": 0, "unchanged": 3, "discharged": 0, "stored": 2}
    completed = post(client, {**EPISODE, "discharged_at": "2026-01-06"})
    assert completed.json()["discharged"] == 1


def test_episode_with_other_content_is_409_naming_the_id(client):
    post(client, {**EPISODE, "discharged_at": "2026-01-03"})
    response = post(client, {**EPISODE, "episode_id": "e9"}, {**EPISODE, "discharged_at": "2026-01-08"})
    assert response.status_code == 409
    assert "e1" in response.json()["detail"]
    assert post(client).json()["stored"] == 1  # e9 was not kept: all or nothing


def test_bad_episodes_are_422_naming_row_field_and_id_only(client):
    good = {**EPISODE, "episode_id": "ok", "unit": "SECRET-WARD"}
    bad = {**EPISODE, "episode_id": "b7", "unit": "SECRET-WARD", "admission_type": "urgent"}
    response = post(client, good, bad)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", 1, "admission_type"] and error["episode_id"] == "b7"
    assert "row 2" in error["msg"]
    assert "SECRET-WARD" not in response.text and "urgent" not in response.text
    assert post(client).json()["stored"] == 0  # the good row was not stored either


def test_malformed_episodes_do_not_echo_the_body(client):
    response = post(client, {"episode_id": "x", "unit": 12345678, "admitted_at": "2026-01-01", "admission_type": "a"})
    assert response.status_code == 422
    assert "12345678" not in response.text


def test_episodes_are_durable_across_app_instances(tmp_path):
    first = create_app(settings_for(tmp_path), loader=Loader(make_served()))
    with TestClient(first) as client:
        assert post(client, EPISODE).json()["added"] == 1
    second = create_app(settings_for(tmp_path), loader=Loader(make_served()))
    with TestClient(second) as client:
        assert post(client, EPISODE).json() == {"added": 0, "unchanged": 1, "discharged": 0, "stored": 1}


# --- reload --------------------------------------------------------------------------------------------------


def test_reload_swaps_the_model(tmp_path):
    loader = Loader(make_served("1"), make_served("2", level=30.0))
    with TestClient(create_app(settings_for(tmp_path), loader=loader)) as client:
        before = client.get("/v1/beds/medicine?days=1").json()
        answer = client.post("/v1/reload", headers=AUTH).json()
        assert (answer["model_version"], answer["previous_version"]) == ("2", "1")
        assert client.get("/ready").json()["model_version"] == "2"
        after = client.get("/v1/beds/medicine?days=1").json()
        assert after["days"][0]["mean_census"] > before["days"][0]["mean_census"]  # no stale cached answer


def test_failed_reload_keeps_the_old_model(tmp_path):
    loader = Loader(make_served("1"), RuntimeError("artifact store unreachable"))
    with TestClient(create_app(settings_for(tmp_path), loader=loader)) as client:
        plan = client.get("/v1/plan").json()
        response = client.post("/v1/reload", headers=AUTH)
        assert response.status_code == 503
        assert "still serving version 1" in response.json()["detail"]
        assert "artifact store unreachable" in response.json()["detail"]
        assert client.get("/ready").json()["model_version"] == "1"
        assert client.get("/v1/plan").json() == plan


def test_reload_after_training_brings_the_service_up(tmp_path):
    loader = Loader(ModelNotFound("no model; train one with `bedcast train`"), make_served("3"))
    with TestClient(create_app(settings_for(tmp_path), loader=loader)) as client:
        assert client.get("/ready").status_code == 503
        assert client.post("/v1/reload", headers=AUTH).json()["previous_version"] is None
        assert client.get("/v1/units").status_code == 200


def test_common_answers_are_ready_before_the_first_request(client):
    state = client.app.state.serving
    assert len(state.cache) >= 4 + 3 * 2  # units and plan (JSON, CSV), each unit's forecast, beds, staffing


# --- the whole API fuzzed from its OpenAPI schema ------------------------------------------------------------


def test_api_conforms_to_its_schema(tmp_path):
    """Calls generated from the OpenAPI schema, valid and invalid, per operation: no 5xx, invalid requests
    refused, and every answer (status, content type, body) is what the schema documents.

    Not checked: that every schema-valid request is accepted, because the forecast's date range depends on the
    loaded model and JSON Schema cannot state it (a `start` years away is valid in the schema and answered 422).
    schemathesis' pytest fixture loader does not run on pytest 9, so the operations are driven with Hypothesis.
    """
    app = create_app(settings_for(tmp_path), loader=Loader(make_served("1")))
    with TestClient(app):  # runs the lifespan: the model is loaded for every generated call
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) == 15  # with GET /v1/history/{unit}
        for operation, mode in itertools.product(operations, GenerationMode):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), database=None)
            def check(case: schemathesis.Case) -> None:
                case.call_and_validate(headers=AUTH, excluded_checks=[positive_data_acceptance])

            # An operation without parameters or body (GET /health) has no invalid request to make.
            with contextlib.suppress(Unsatisfiable) if mode is GenerationMode.NEGATIVE else contextlib.nullcontext():
                check()


# --- end to end: train, register, serve with the real loader -------------------------------------------------


@pytest.mark.slow
def test_trained_champion_served_end_to_end(tmp_path, monkeypatch):
    from forecast.demo import DEFAULT_UNITS, generate_demo_hospital
    from training.pipeline import train
    from training.settings import TrainSettings

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    hospital = generate_demo_hospital(start="2023-01-01", end="2024-12-31", units=DEFAULT_UNITS[:2])
    hospital.episodes.to_csv(tmp_path / "episodes.csv", index=False)
    hospital.units.to_csv(tmp_path / "units.csv", index=False)
    trained = train(
        TrainSettings(
            data=tmp_path / "episodes.csv",
            units=tmp_path / "units.csv",
            candidates=("seasonal_naive", "ets"),
            folds=2,
            horizon=28,
            root=tmp_path,
        ),
        say=lambda line: None,
    )

    with TestClient(create_app(settings_for(tmp_path))) as client:  # the real loader: the registry's champion
        assert client.get("/ready").json()["model_version"] == trained.version
        assert client.get("/v1/model").json()["run_id"] == trained.run_id
        units = [u["unit"] for u in client.get("/v1/units").json()["units"]]
        assert units == sorted(u.unit for u in DEFAULT_UNITS[:2])
        plan = client.get("/v1/plan?overflow_risk=0.05").json()
        assert plan["quarter"] == "2025Q1"
        weeks = pd.DataFrame(plan["weeks"])
        for unit in units:
            forecast = client.get(f"/v1/forecast/{unit}?start=2025-01-01&days=90&quantiles=0.9,0.95").json()
            census = pd.DataFrame(
                {
                    "date": [d["date"] for d in forecast["days"]],
                    "mean": [d["census"]["mean"] for d in forecast["days"]],
                    "q95": [d["census"]["quantiles"]["0.95"] for d in forecast["days"]],
                }
            )
            # The plan's beds at a 5 % overflow risk: the 95th percentile of the busiest day, rounded up.
            busiest = census["q95"].max()
            assert weeks.loc[weeks["unit"] == unit, "beds_at_overflow_risk"].max() == math.ceil(busiest - 1e-9)
            assert weeks.loc[weeks["unit"] == unit, "days"].sum() == 90
            daily = client.get(f"/v1/beds/{unit}?start=2025-01-01&days=90").json()["days"]
            assert [d["beds_at_overflow_risk"] for d in daily] == [math.ceil(q - 1e-9) for q in census["q95"]]
            assert weeks.loc[weeks["unit"] == unit, "current_beds"].notna().all()
        # The hospital pools its units' beds: sized from the summed census, never more than the units apart.
        pooled = pd.DataFrame(client.get("/v1/plan?level=hospital").json()["weeks"])
        assert set(pooled["unit"]) == {"visby"} and (pooled["level"] == "hospital").all()
        apart = weeks.groupby("week")["beds_at_overflow_risk"].sum()
        assert (pooled.set_index("week")["beds_units_apart"] == apart).all()
        assert (pooled["pooling_gain"] >= 0).all() and pooled["pooling_gain"].sum() > 0
        assert (pooled["current_beds"] == sum(u.beds for u in DEFAULT_UNITS[:2])).all()


def test_plan_by_hospital_needs_the_units_hierarchy(client):
    response = client.get("/v1/plan?level=hospital")
    assert response.status_code == 422
    assert "level" in response.text and "hospital and region" in response.text


def test_openapi_documents_every_route(client):
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    assert set(paths) >= {"/v1/units", "/v1/forecast/{unit}", "/v1/beds/{unit}", "/v1/plan", "/v1/staffing/{unit}"}
    for path, methods in paths.items():
        for method, operation in methods.items():
            ok = operation["responses"]["200"]["content"]
            assert "application/json" in ok, (method, path)
            if path.startswith(("/v1/units", "/v1/forecast", "/v1/beds", "/v1/plan", "/v1/staffing")):
                assert "text/csv" in ok, path
    assert paths["/v1/episodes"]["post"]["security"] == [{"APIKeyHeader": []}]


def test_default_days_stop_at_the_forecast_end(client):
    answer = client.get("/v1/forecast/medicine?start=2026-04-20").json()
    assert len(answer["days"]) == 11 and answer["days"][-1]["date"] == "2026-04-30"


def test_requests_during_a_reload_are_answered_by_the_old_model(tmp_path):
    import threading

    release = threading.Event()

    def slow_second_load():
        release.wait(timeout=10)
        return make_served("2")

    calls = iter([lambda: make_served("1"), slow_second_load])
    app = create_app(settings_for(tmp_path), loader=lambda: next(calls)())
    with TestClient(app) as client:
        reload = threading.Thread(target=lambda: client.post("/v1/reload", headers=AUTH))
        reload.start()
        try:
            for _ in range(5):  # the new model is loading: the old one answers, no request waits or fails
                assert client.get("/ready").json()["model_version"] == "1"
                assert client.get("/v1/plan").status_code == 200
            busy = client.post("/v1/reload", headers=AUTH)
            assert busy.status_code == 409 and "already running" in busy.json()["detail"]
        finally:
            release.set()
            reload.join(timeout=10)
        assert client.get("/ready").json()["model_version"] == "2"


def test_serve_command_is_there():
    from typer.testing import CliRunner

    from forecast.cli import app

    result = CliRunner().invoke(app, ["serve", "--help"])
    assert result.exit_code == 0
    assert "--port" in result.output and "--host" in result.output
