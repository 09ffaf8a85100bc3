"""Liveness and readiness (routers/health.py)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from forecast.api import create_app
from forecast.registry import ModelNotFound
from tests.api.conftest import Loader, settings_for


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
