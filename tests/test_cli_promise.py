"""The overflow promise and future regressors as a user of the `bedcast` command meets them."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from forecast.cli import app
from tests.conftest import SHARED_DATA

runner = CliRunner()


def test_backtest_reports_how_the_overflow_promise_held(tmp_path):
    out = tmp_path / "metrics.json"
    args = ["backtest", str(SHARED_DATA / "italy_covid" / "census.csv"), "--target", "census", "--horizon", "28"]
    args += ["--folds", "3", "--step", "28", "--country", "IT", "--models", "seasonal_naive,ets", "-o", str(out), "-q"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    promise = report["summary"]["decisions"]["beds_risk"]
    assert promise["promised_risk"] == 0.05 and promise["days"] == 21 * 84
    assert f"were exceeded on {promise['overflow_share']:.1%} of 1764 unit-days" in result.output
    lombardia = report["units"]["lombardia"]
    assert lombardia["promise"] in ("kept", "broken")
    assert set(lombardia["decisions"]["beds_risk"]) >= {"overflow_share", "days", "beds_per_mean_census"}


def _daily_with_a_match_calendar(tmp_path) -> tuple[str, pd.DataFrame]:
    rng = np.random.default_rng(2)
    ds = pd.date_range("2023-01-01", periods=500, freq="D")
    match = (ds.dayofweek == 5).astype(int)
    daily = pd.DataFrame({"unit": "ed", "date": ds.strftime("%Y-%m-%d"), "admissions": rng.poisson(40 + 15 * match)})
    daily["match_day"] = match
    path = tmp_path / "daily.csv"
    daily.to_csv(path, index=False)
    return str(path), daily


def test_a_forecast_with_a_regressor_needs_its_future_values(tmp_path):
    data, _ = _daily_with_a_match_calendar(tmp_path)
    out = tmp_path / "forecast.csv"
    args = ["forecast", data, "--target", "admissions", "--horizon", "14", "--folds", "1", "--step", "14"]
    args += ["--regressors", "match_day", "-o", str(out), "-q"]
    refused = runner.invoke(app, args)
    assert refused.exit_code == 1
    assert "regressor 'match_day' has no values for 14 forecast day(s): 2024-05-15" in refused.output
    assert not out.exists()
    future = tmp_path / "matches.csv"
    days = pd.date_range("2024-05-15", periods=14, freq="D")
    pd.DataFrame({"date": days.strftime("%Y-%m-%d"), "match_day": (days.dayofweek == 5).astype(int)}).to_csv(
        future, index=False
    )
    given = runner.invoke(app, [*args, "--future-regressors", str(future)])
    assert given.exit_code == 0, given.output
    forecast = pd.read_csv(out, parse_dates=["ds"])
    assert len(forecast) == 14
    saturday = forecast["ds"].dt.dayofweek == 5
    # The match days are forecast busier, as the backtest learnt.
    assert forecast.loc[saturday, "mean"].mean() > forecast.loc[~saturday, "mean"].mean()
