"""The `bedcast` command as a user runs it."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from forecast.cli import app
from tests.conftest import SHARED_DATA

runner = CliRunner()
HDHI = SHARED_DATA / "hdhi" / "episodes.csv"

GOOD = """episode_id,unit,admitted_at,discharged_at,admission_type
E1,ward_a,2024-01-01,2024-01-03,acute
E2,ward_a,2024-01-02,,elective
"""
BAD = GOOD + "E3,ward_a,2024-01-05,2024-01-02,acute\n"


def test_ingest_writes_the_daily_frame(tmp_path):
    source = tmp_path / "episodes.csv"
    source.write_text(GOOD)
    out = tmp_path / "daily.csv"
    result = runner.invoke(app, ["ingest", str(source), "--out", str(out)])
    assert result.exit_code == 0, result.output
    daily = pd.read_csv(out)
    assert daily["census"].tolist() == [1, 2]
    assert "wrote 2 unit-days" in result.output


def test_ingest_discharge_before_admission_fails_naming_the_row(tmp_path):
    source = tmp_path / "episodes.csv"
    source.write_text(BAD)
    out = tmp_path / "daily.csv"
    out.write_text("an earlier good result\n")
    result = runner.invoke(app, ["ingest", str(source), "--out", str(out)])
    assert result.exit_code == 1
    assert "row 3, field discharged_at (episode_id E3): discharge is before admission" in result.output
    # Nothing already stored is lost or half-written.
    assert out.read_text() == "an earlier good result\n"


def test_ingest_lenient_writes_rejects(tmp_path):
    source = tmp_path / "episodes.csv"
    source.write_text(BAD)
    out = tmp_path / "daily.csv"
    result = runner.invoke(app, ["ingest", str(source), "--out", str(out), "--lenient"])
    assert result.exit_code == 0, result.output
    rejects = pd.read_csv(tmp_path / "daily.rejects.csv")
    assert rejects["row"].tolist() == [3]
    assert "wrote 1 rejected row(s)" in result.output


def test_ingest_missing_file_is_a_clear_error(tmp_path):
    result = runner.invoke(app, ["ingest", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "d.csv")])
    assert result.exit_code == 1
    assert "no such file" in result.output


@pytest.mark.slow
def test_ingest_real_hdhi_episodes(tmp_path):
    out = tmp_path / "daily.parquet"
    result = runner.invoke(app, ["ingest", str(HDHI), "--out", str(out)])
    assert result.exit_code == 0, result.output
    daily = pd.read_parquet(out)
    assert len(daily) == 730
    assert "cardiology: census incomplete for the first 33 day(s)" in result.output


@pytest.mark.slow
def test_backtest_writes_the_metrics_contract(tmp_path):
    import json

    out = tmp_path / "metrics.json"
    uihc = SHARED_DATA / "uihc_ed" / "daily.csv"
    args = ["backtest", str(uihc), "--target", "admissions", "--horizon", "14", "--folds", "2", "--step", "28"]
    args += ["--country", "US", "--column", "arrivals", "--regressors", "football_home_game"]
    args += ["--models", "seasonal_naive,ets", "--output", str(out), "--quiet"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    metrics = json.loads(out.read_text())
    assert (metrics["target"], metrics["horizon"], metrics["folds"]) == ("admissions", 14, 2)
    unit = metrics["units"]["emergency"]
    for key in ("model", "mase", "mae", "coverage_80", "coverage_95", "baseline_mase"):
        assert key in unit
    assert unit["model"] in ("seasonal_naive", "ets", "ensemble")
    assert 0 <= unit["coverage_80"] <= unit["coverage_95"] <= 1
    assert set(metrics["summary"]) >= {"mase", "baseline_mase", "coverage_80", "coverage_95"}


def test_backtest_unknown_column_is_a_clear_error(tmp_path):
    uihc = SHARED_DATA / "uihc_ed" / "daily.csv"
    result = runner.invoke(app, ["backtest", str(uihc), "--column", "nope", "--output", str(tmp_path / "m.json")])
    assert result.exit_code == 1
    assert "--column 'nope' is not in the data" in result.output


@pytest.mark.slow
def test_beds_prints_the_quarter_plan_per_unit_and_week(tmp_path):
    from forecast.cli import write_demo

    episodes = write_demo(tmp_path, seed=1, start="2023-01-01", end="2024-12-31")
    out = tmp_path / "plan.csv"
    args = ["beds", str(episodes), "--quarter", "2025Q1", "--units", str(tmp_path / "units.csv")]
    args += ["--guest-nights", str(tmp_path / "guest_nights.csv"), "--folds", "1", "--output", str(out), "-q"]
    args += ["--models", "seasonal_naive,gbm"]  # the plan's table is what is tested, not the candidates
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    plan = pd.read_csv(out)
    assert plan["unique_id"].nunique() == 6
    assert plan["period"].iloc[0] == "2025-W01" and plan["period"].iloc[-1] == "2025-W14"
    assert (plan["beds_risk"] >= plan["mean_census"]).all()
    assert (plan["gap"] == plan["beds_risk"] - plan["current_beds"]).all()
    assert "intensive_care" in result.output
    assert "reliability: intensive_care: " in result.output  # each unit's measured overflow promise


def test_beds_rejects_a_quarter_already_in_the_data(tmp_path):
    source = tmp_path / "episodes.csv"
    source.write_text(GOOD)
    result = runner.invoke(app, ["beds", str(source), "--quarter", "2024Q1"])
    assert result.exit_code == 1
    assert "starts before the data ends" in result.output


@pytest.mark.slow
def test_beds_explain_splits_each_weeks_beds_by_driver(tmp_path):
    from forecast.demo import DEFAULT_UNITS, generate_demo_hospital

    hospital = generate_demo_hospital(start="2023-01-01", end="2024-12-31", units=DEFAULT_UNITS[1:2])
    hospital.episodes.to_csv(tmp_path / "episodes.csv", index=False)
    hospital.guest_nights.to_csv(tmp_path / "guest_nights.csv", index=False)
    out = tmp_path / "explained.csv"
    args = ["beds", str(tmp_path / "episodes.csv"), "--guest-nights", str(tmp_path / "guest_nights.csv")]
    result = runner.invoke(
        app, [*args, "--models", "seasonal_naive,flow", "--folds", "1", "--explain", "--output", str(out), "-q"]
    )
    assert result.exit_code == 0, result.output
    assert "beds by driver" in result.output
    table = pd.read_csv(out)
    parts = [c for c in table.columns if c not in ("unit", "week", "planned_beds")]
    assert {"base", "day_of_week", "margin"} <= set(parts)
    assert (table[parts].fillna(0).sum(axis=1) == table["planned_beds"]).all()
    assert table["week"].iloc[0] == "2025-W01" and len(table) == 14
    # Two years less the census's warm-up: no year ahead, and it says why.
    result = runner.invoke(app, [*args, "--quarter", "year", "-q"])
    assert result.exit_code == 1 and "the year ahead needs two years" in result.output
