"""The API tests' shared parts: a loader of hand-made models, settings on a temporary store, a client."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from forecast.api import Settings, create_app
from tests.bundles import make_served

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


def settings_for(tmp_path, api_key: str | None = KEY, nowcast_interval: float = 0) -> Settings:
    """Settings on a temporary store; the nowcast is off unless asked for (tests/api/test_nowcast.py tests it): a
    test that posts episodes would otherwise start its worker process and wait for it at the end."""
    return Settings(
        api_key=api_key, episodes_url=f"sqlite:///{tmp_path / 'episodes.db'}", nowcast_interval=nowcast_interval
    )


@pytest.fixture
def client(tmp_path):
    app = create_app(settings_for(tmp_path), loader=Loader(make_served("1")))
    with TestClient(app) as client:
        yield client


def csv_of(response) -> pd.DataFrame:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    return pd.read_csv(io.StringIO(response.text))


EPISODE = {
    "episode_id": "e1",
    "unit": "medicine",
    "admitted_at": "2026-01-01T10:00:00+01:00",
    "discharged_at": None,
    "admission_type": "acute",
}


def post(client, *episodes):
    return client.post("/v1/episodes", json=list(episodes), headers=AUTH)
