"""The plan states each unit's measured overflow promise, and names the units planned conservatively."""

from __future__ import annotations

import pandas as pd
from fastapi.testclient import TestClient

from forecast.api import create_app
from forecast.registry import ServedModel
from tests.api.conftest import Loader, settings_for
from tests.bundles import make_bundle


def _served_with_promise() -> ServedModel:
    bundle = make_bundle()
    promise = pd.DataFrame(
        {
            "unit": ["medicine", "surgery"],
            "promise": ["kept", "broken"],
            "promised_risk": [0.05, 0.05],
            "overflow_share": [0.046, 0.123],
            "promise_days": [364.0, 364.0],
            "upper_widened_by": [1.0, 1.8],
        }
    )
    bundle.units = bundle.units.merge(promise, on="unit")
    return ServedModel(bundle=bundle, name="bed-demand", version="1", alias="champion", run_id="r1", tags={})


def test_plan_and_beds_say_how_the_promise_held(tmp_path):
    app = create_app(settings_for(tmp_path), loader=Loader(_served_with_promise()))
    with TestClient(app) as client:
        plan = client.get("/v1/plan", params={"quarter": "2026Q1"})
        assert plan.status_code == 200, plan.text
        body = plan.json()
        medicine, surgery = body["reliability"]["medicine"], body["reliability"]["surgery"]
        assert medicine["text"] == (
            "medicine: in backtest the census exceeded these beds on 4.6% of 364 days; promised 5%"
        )
        assert medicine["status"] == "kept" and medicine["days"] == 364 and medicine["widened_by"] == 1.0
        assert surgery["status"] == "broken" and surgery["widened_by"] == 1.8
        assert "Promise broken" in surgery["text"] and "×1.80" in surgery["text"]
        # The conservative unit is named plainly among the notes; the kept one is not.
        assert any(note.startswith("surgery:") and "conservatively" in note for note in body["notes"])
        assert not any(note.startswith("medicine: in backtest") for note in body["notes"])
        beds = client.get("/v1/beds/surgery")
        assert beds.status_code == 200, beds.text
        assert beds.json()["reliability"]["overflow_share"] == 0.123
        assert "12.3% of 364 days" in beds.json()["reliability"]["text"]


def test_a_model_without_a_measured_promise_answers_without_one(tmp_path):
    app = create_app(settings_for(tmp_path), loader=Loader(_served_with_promise()))
    plain = make_bundle()
    served = ServedModel(bundle=plain, name="bed-demand", version="2", alias="champion", run_id="r2", tags={})
    app = create_app(settings_for(tmp_path), loader=Loader(served))
    with TestClient(app) as client:
        body = client.get("/v1/plan", params={"quarter": "2026Q1"}).json()
        assert body["reliability"] == {}
        assert client.get("/v1/beds/medicine").json()["reliability"] is None
