"""The model being served and reloading it (routers/model.py)."""

from __future__ import annotations

import threading

from fastapi.testclient import TestClient

from forecast.api import create_app
from forecast.registry import ModelNotFound
from tests.api.conftest import AUTH, Loader, settings_for
from tests.bundles import make_served


def test_model_info(client):
    info = client.get("/v1/model").json()
    assert (info["name"], info["version"], info["run_id"]) == ("bed-demand", "1", "run1")
    assert info["trained_at"].startswith("2026-01-02")
    assert (info["data_first_date"], info["data_last_date"]) == ("2024-01-01", "2025-12-31")
    assert info["forecast_first_day"] == "2026-01-01"
    assert info["backtest"]["census"]["mase"] == 0.8
    assert info["staffing"]["rn_night"] == 11


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


def test_requests_during_a_reload_are_answered_by_the_old_model(tmp_path):
    """The reload runs in a thread that blocks inside the loader: every step waits on an event, never on time."""
    loading, release = threading.Event(), threading.Event()

    def slow_second_load():
        loading.set()  # the reload holds its lock and is loading now
        assert release.wait(timeout=30), "the test never released the load"
        return make_served("2")

    calls = iter([lambda: make_served("1"), slow_second_load])
    app = create_app(settings_for(tmp_path), loader=lambda: next(calls)())
    with TestClient(app) as client:
        answers: list = []
        reload = threading.Thread(target=lambda: answers.append(client.post("/v1/reload", headers=AUTH)))
        reload.start()
        try:
            assert loading.wait(timeout=30), "the reload never reached the loader"
            for _ in range(5):  # the new model is loading: the old one answers, no request waits or fails
                assert client.get("/ready").json()["model_version"] == "1"
                assert client.get("/v1/plan").status_code == 200
            busy = client.post("/v1/reload", headers=AUTH)
            assert busy.status_code == 409 and "already running" in busy.json()["detail"]
        finally:
            release.set()
            reload.join(timeout=30)
        assert [a.status_code for a in answers] == [200]
        assert answers[0].json()["previous_version"] == "1"
        assert client.get("/ready").json()["model_version"] == "2"
