"""End to end: the champion `training.train` registered (the session's trained demo), served with the real
loader."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from forecast.api import create_app
from forecast.demo import DEFAULT_UNITS
from forecast.registry import CHAMPION, DEFAULT_MODEL_NAME
from tests.api.conftest import settings_for


@pytest.mark.slow
def test_trained_champion_served_end_to_end(trained_demo, tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{trained_demo / 'mlflow.db'}")
    with TestClient(create_app(settings_for(tmp_path))) as client:  # the real loader: the registry's champion
        champion = MlflowClient().get_model_version_by_alias(DEFAULT_MODEL_NAME, CHAMPION)
        assert client.get("/ready").json()["model_version"] == str(champion.version)
        assert client.get("/v1/model").json()["run_id"] == champion.run_id
        units = [u["unit"] for u in client.get("/v1/units").json()["units"]]
        assert units == sorted(u.unit for u in DEFAULT_UNITS)
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
        assert (pooled["current_beds"] == sum(u.beds for u in DEFAULT_UNITS)).all()
