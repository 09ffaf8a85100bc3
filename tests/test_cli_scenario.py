"""`bedcast scenario FILE`: a what-if against the registered champion, from JSON or YAML."""

from __future__ import annotations

import json

import mlflow
import pandas as pd
import pytest
from typer.testing import CliRunner

from forecast import registry
from forecast.cli import app
from tests.scenario_bundles import flow_bundle

runner = CliRunner()

SUMMER_YAML = """\
# Summer A: half a day shorter stays in medicine, fewer acute admissions, a closure, levelled planned care
name: summer A
admissions:
  - percent: -1
    admission_type: acute
length_of_stay:
  - days: -0.5
    units: [medicine]
planned_beds:
  - {unit: medicine, week: 2026-W05, beds: 14}
smooth_electives: true
"""


@pytest.fixture(scope="module")
def champion(tmp_path_factory):
    """The hand-made bundle registered as `bed-demand@champion` in an embedded MLflow store."""
    folder = tmp_path_factory.mktemp("mlflow")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{folder / 'mlflow.db'}")
        patch.chdir(folder)
        registry.configure_tracking(folder)
        with mlflow.start_run():
            info = registry.log_bundle(flow_bundle(), "bed-demand")
        client = mlflow.tracking.MlflowClient()
        client.set_registered_model_alias("bed-demand", "champion", str(info.registered_model_version))
        yield folder


@pytest.fixture
def store(champion, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{champion / 'mlflow.db'}")
    monkeypatch.chdir(champion)
    return champion


@pytest.mark.slow
def test_scenario_from_yaml_prints_the_weeks_and_how_each_unit_was_made(store, tmp_path):
    (tmp_path / "summer.yaml").write_text(SUMMER_YAML)
    out = tmp_path / "weeks.csv"
    result = runner.invoke(app, ["scenario", str(tmp_path / "summer.yaml"), "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert "medicine: flow model" in result.output and "surgery: the served ets forecast, scaled" in result.output
    assert "2026-W05" in result.output and "change_mean_census" in result.output
    weeks = pd.read_csv(out)
    row = weeks[(weeks["unit"] == "medicine") & (weeks["week"] == "2026-W05")].iloc[0]
    assert row["open_beds"] == 14 and row["served_open_beds"] == 20


@pytest.mark.slow
def test_scenario_from_json_prints_the_fte_and_refuses_naming_the_field(store, tmp_path):
    (tmp_path / "empty.json").write_text("{}")
    result = runner.invoke(app, ["scenario", str(tmp_path / "empty.json"), "--table", "fte"])
    assert result.exit_code == 0, result.output
    assert "rn_fte" in result.output and "change_rn_fte" in result.output
    (tmp_path / "bad.json").write_text(json.dumps({"planned_beds": [{"unit": "icu", "week": "2026-W05", "beds": 3}]}))
    result = runner.invoke(app, ["scenario", str(tmp_path / "bad.json")])
    assert result.exit_code == 1 and "planned_beds.0.unit.0" in result.output and "icu" in result.output
    (tmp_path / "worse.json").write_text(json.dumps({"admissions": [{"percent": -100}]}))
    result = runner.invoke(app, ["scenario", str(tmp_path / "worse.json")])
    assert result.exit_code == 1 and "admissions.0.percent" in result.output
