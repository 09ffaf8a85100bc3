"""The overflow-risk promise: intervals that follow the level, honest errors, the measured promise and the
conservative plan where it did not hold."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast import backtest, beds, engine, metrics, reliability
from forecast.calibration import error_quantiles, level_scale, origin_level, widen_upper
from forecast.data import ingest_file
from forecast.quantiles import LEVELS, column
from tests.conftest import SHARED_DATA


def _window_rows(level: float, errors: np.ndarray, fold: int) -> pd.DataFrame:
    steps = np.arange(1, len(errors) + 1)
    return pd.DataFrame(
        {
            "unique_id": "ward",
            "fold": fold,
            "step": steps,
            "y": level + errors,
            "a": np.full(len(errors), level),
            "origin_level": level,
            "honest": np.full(len(errors), level),
        }
    )


def test_errors_learned_at_one_level_scale_to_another():
    rng = np.random.default_rng(3)
    # Windows at a census of 20 whose errors are 10 % of it; the forecast is from a census of 200.
    rows = pd.concat([_window_rows(20.0, rng.normal(0, 2.0, 28), fold) for fold in range(-5, 1)])
    offsets = error_quantiles(backtest.honest_errors(rows, "a"), 28)
    at_200 = offsets * level_scale(200.0)
    at_20 = offsets * level_scale(20.0)
    spread = LEVELS.index(0.975), LEVELS.index(0.025)
    assert np.allclose(
        at_200[:, spread[0]] - at_200[:, spread[1]], (201 / 21) * (at_20[:, spread[0]] - at_20[:, spread[1]])
    )
    # About ±1.96 × 10 % of 200 at the 95 % interval, not ±1.96 × 2 beds.
    width = float(np.median(at_200[:, spread[0]] - at_200[:, spread[1]]))
    assert 50 < width < 110


def test_honest_errors_are_those_of_each_windows_own_choice_not_todays():
    rows = _window_rows(50.0, np.zeros(7), 1)
    rows["a"] = 50.0  # today's choice was perfect in this window ...
    rows["honest"] = 45.0  # ... but the choice made before the window forecast 45
    errors = backtest.honest_errors(rows, "a")
    assert np.allclose(errors["error"], 5.0 / 51.0)
    rows["honest"] = np.nan  # a first window has no earlier choice: today's stands in
    assert np.allclose(backtest.honest_errors(rows, "a")["error"], 0.0)


def test_origin_level_is_the_last_weeks_mean_per_unit():
    ds = pd.date_range("2025-01-01", periods=30, freq="D")
    history = pd.concat(
        [
            pd.DataFrame({"unique_id": "a", "ds": ds, "y": np.r_[np.zeros(23), np.full(7, 14.0)]}),
            pd.DataFrame({"unique_id": "b", "ds": ds, "y": np.arange(30.0)}),
        ]
    )
    level = origin_level(history)
    assert level["a"] == 14.0
    assert level["b"] == np.mean(np.arange(23.0, 30.0))


def test_judge_records_the_honest_choice_of_every_window_with_an_earlier_one():
    rng = np.random.default_rng(0)
    ds = pd.date_range("2023-01-01", periods=500, freq="D")
    series = pd.DataFrame({"unique_id": "u", "ds": ds, "y": rng.poisson(30, len(ds)).astype(float)})
    forecasts, scale = backtest.backtest_windows(series, 14, 3, 28, ["seasonal_naive", "ets"], lead_windows=3)
    result = backtest.judge(forecasts, scale, ["seasonal_naive", "ets"], 14)
    f = result.forecasts
    first_end = f.loc[f["fold"] == f["fold"].min(), "ds"].max()
    # Windows from before any window had ended have no honest choice; all later ones have one.
    assert f.loc[f["cutoff"] < first_end, "honest"].isna().all()
    assert f.loc[f["cutoff"] >= first_end, "honest"].notna().all()
    # A scored fold's point forecast is that window's honest choice.
    scored = result.forecasts[result.forecasts["fold"] > 0].sort_values(["fold", "ds"])
    assert np.allclose(result.selected.sort_values(["fold", "ds"])["mean"], scored["honest"])


def test_reliability_kept_broken_and_unmeasured():
    census = np.full(100, 10.0)
    kept = beds.reliability(census, np.where(np.arange(100) < 4, 9, 12), 0.05)
    assert kept["status"] == "kept" and kept["overflow_share"] == pytest.approx(0.04)
    broken = beds.reliability(census, np.where(np.arange(100) < 8, 9, 12), 0.05)
    assert broken["status"] == "broken" and broken["overflow_share"] == pytest.approx(0.08)
    short = beds.reliability(census[:40], np.full(40, 12), 0.05)
    assert short["status"] == "unmeasured"
    assert kept["beds_per_mean_census"] == pytest.approx((4 * 9 + 96 * 12) / 100 / 10)


def test_widening_to_keep_finds_the_factor_that_would_have_held():
    mean = np.full(100, 20.0)
    upper = np.full(100, 24.0)  # 95th percentile 4 above the forecast
    census = np.r_[np.full(90, 20.0), np.full(10, 27.0)]  # 10 % of days at 27: over 24, under 20 + 2·4
    factor = beds.widening_to_keep(census, mean, upper, 0.05)
    assert 1.0 < factor <= 2.0
    assert (census > np.ceil(mean + factor * (upper - mean))).mean() <= 0.05
    assert beds.widening_to_keep(np.full(100, 20.0), mean, upper, 0.05) == 1.0


def test_widen_upper_moves_only_the_levels_above_the_median():
    point = np.array([10.0, 20.0])
    quantiles = pd.DataFrame({column(q): point + 10 * (q - 0.5) for q in LEVELS})
    wider = widen_upper(point, quantiles, 2.0)
    for q in LEVELS:
        expected = point + (20 if q > 0.5 else 10) * (q - 0.5)
        assert np.allclose(wider[column(q)], expected)


def _record(unit: str, measured: dict, widened_by: float = 1.0) -> reliability.Reliability:
    frame = pd.DataFrame([{**measured, "upper_widened_by": widened_by}], index=[unit])
    return reliability.records(frame)[unit]


def test_a_statement_names_the_measured_share_and_the_promise():
    measured = beds.reliability(np.full(364, 10.0), np.where(np.arange(364) < 17, 9, 12), 0.05)
    kept = _record("surgery", measured)
    assert kept.status == "kept" and not kept.conservative and kept.days == 364
    text = reliability.statement(kept)
    assert text == "surgery: in backtest the census exceeded these beds on 4.7% of 364 days; promised 5%"
    assert reliability.statement(kept, with_unit=False) == text.removeprefix("surgery: ")
    broken = _record("icu", beds.reliability(np.full(100, 10.0), np.where(np.arange(100) < 20, 9, 12), 0.05), 1.6)
    assert broken.conservative and broken.widened_by == 1.6
    assert "Promise broken" in reliability.statement(broken)
    assert "×1.60" in reliability.statement(broken)


def _italy(units: int = 4) -> pd.DataFrame:
    daily = ingest_file(SHARED_DATA / "italy_covid" / "census.csv").daily
    keep = sorted(daily["unit"].unique())[:units]
    return daily[daily["unit"].isin(keep)]


@pytest.mark.slow
def test_metrics_carry_the_measured_promise_and_the_served_plan_widens_where_it_broke():
    daily = _italy()
    config = engine.EngineConfig(
        target="census", horizon=28, folds=3, step=28, country="IT", candidates=("seasonal_naive", "ets")
    )
    prepared = engine.prepare(daily, config)
    result = engine.run(prepared, config)
    report = metrics.backtest_metrics(result, config)
    for unit, scores in report["units"].items():
        beds_risk = scores["decisions"]["beds_risk"]
        assert beds_risk["promised_risk"] == 0.05
        assert beds_risk["days"] == 84
        rows = result.selected[result.selected["unique_id"] == unit]
        planned = np.ceil(rows[column(0.95)].to_numpy() - 1e-9)
        assert beds_risk["overflow_share"] == pytest.approx((rows["y"].to_numpy() > planned).mean())
        assert scores["promise"] in ("kept", "broken")
    summary = report["summary"]["decisions"]
    assert 0 <= summary["beds_risk"]["overflow_share"] <= 1
    promise = metrics.promise_kept(result, 0.05)
    served = engine.forecast_units(prepared, result, config)
    for _, row in promise.iterrows():
        if row["status"] == "broken":
            assert row["upper_widened_by"] > 1
    # A unit whose promise broke is served a wider upper tail than its calibration alone gives.
    broken = promise.index[promise["status"] == "broken"]
    assert len(broken), "the autumn wave breaks the promise somewhere: the test needs such a unit"
    unit = broken[0]
    rows = served[served["unique_id"] == unit]
    assert (rows[column(0.95)] - rows["mean"]).max() > 0


def test_a_forecast_refuses_a_regressor_without_future_values_naming_it_and_the_days():
    ds = pd.date_range("2024-01-01", periods=400, freq="D")
    rng = np.random.default_rng(1)
    admissions = rng.poisson(50, len(ds)).astype(float)
    daily = pd.DataFrame({"unit": "ed", "date": ds, "admissions": admissions, "match_day": (ds.dayofweek == 5) * 1.0})
    config = engine.EngineConfig(
        target="admissions", horizon=14, folds=1, step=14, regressors=("match_day",), candidates=("seasonal_naive",)
    )
    prepared = engine.prepare(daily, config)
    result = engine.run(prepared, config)  # the backtest needs only the past values
    with pytest.raises(ValueError, match=r"'match_day' has no values for 14 forecast day\(s\): 2025-02-04"):
        engine.forecast_units(prepared, result, config)
    future = pd.DataFrame({"date": pd.date_range("2025-02-04", periods=14, freq="D"), "match_day": 1.0})
    given = engine.prepare(daily, config, future_regressors=future)
    assert (given.future["match_day"] == 1.0).all()
    assert len(engine.forecast_units(given, result, config)) == 14
    partial = engine.prepare(daily, config, future_regressors=future.iloc[:10])
    with pytest.raises(ValueError, match=r"4 forecast day\(s\): 2025-02-14"):
        engine.forecast_units(partial, result, config)
