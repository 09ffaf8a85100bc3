"""Beds from census distributions: occupancy targets, overflow risk, the period plan."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import poisson

from forecast import beds
from forecast.quantiles import LEVELS, column


def poisson_forecast(means, unit="u", start="2026-01-05", current=None) -> pd.DataFrame:
    means = np.asarray(means, dtype=float)
    frame = pd.DataFrame({"unique_id": unit, "ds": pd.date_range(start, periods=len(means), freq="D"), "mean": means})
    for q in LEVELS:
        frame[column(q)] = poisson.ppf(q, means)
    return frame


@pytest.mark.parametrize("mu", [3, 12, 40, 150])
@pytest.mark.parametrize("risk", [0.05, 0.025, 0.01])
def test_overflow_risk_beds_are_the_smallest_with_small_enough_risk(mu, risk):
    got = beds.beds_at_overflow_risk(poisson_forecast([mu]), risk)[0]
    exact = next(b for b in range(2000) if poisson.sf(b, mu) <= risk)
    assert got == exact


def test_target_occupancy_by_admission_type():
    forecast = pd.DataFrame({"unique_id": ["u"], "mean": [26.5], "mean_acute": [17.0], "mean_elective": [9.5]})
    assert beds.beds_at_target_occupancy(forecast).tolist() == [30]  # 17/0.85 + 9.5/0.95 = 20 + 10


def test_blended_target_when_only_totals_are_known():
    forecast = pd.DataFrame({"unique_id": ["u", "v"], "mean": [87.0, 87.0]})
    got = beds.beds_at_target_occupancy(forecast, acute_share=pd.Series({"u": 0.5}))
    blended = 1 / (0.5 / 0.85 + 0.5 / 0.95)
    assert got.tolist() == [int(np.ceil(87 / blended)), int(np.ceil(87 / 0.85))]


def test_small_units_need_lower_occupancy_and_get_a_warning():
    small = beds.daily_bed_plan(poisson_forecast([4.0] * 7, unit="icu"))
    large = beds.daily_bed_plan(poisson_forecast([200.0] * 7, unit="medicine"))
    assert (small["beds_risk"] > small["beds_target"]).all()
    assert 4.0 / small["beds_risk"].iloc[0] < 0.6
    warnings = beds.small_unit_warnings(pd.concat([small, large]))
    assert len(warnings) == 1 and warnings[0].startswith("icu:")


def test_weekly_plan_sums_risk_and_reports_the_gap():
    means = np.r_[np.full(7, 20.0), np.full(7, 25.0), np.full(7, 30.0), np.full(7, 35.0)]
    forecast = poisson_forecast(means, start="2026-01-05")  # a Monday: four whole ISO weeks
    daily = beds.daily_bed_plan(forecast, pd.Series({"u": 30}))
    weekly = beds.period_plan(daily, "week")
    assert weekly["period"].tolist() == ["2026-W02", "2026-W03", "2026-W04", "2026-W05"]
    assert weekly["days"].tolist() == [7, 7, 7, 7]
    assert weekly["beds_risk"].tolist() == [
        next(b for b in range(200) if poisson.sf(b, m) <= 0.05) for m in (20, 25, 30, 35)
    ]
    assert weekly["gap"].tolist() == (weekly["beds_risk"] - 30).tolist()
    expected = daily.groupby(daily["ds"].dt.isocalendar().week)["p_over_capacity"].sum().to_numpy()
    np.testing.assert_allclose(weekly["expected_days_over_capacity"].to_numpy(float), expected)
    assert weekly["expected_days_over_capacity"].is_monotonic_increasing
    assert weekly["surge_days"].iloc[-1] == 7 and weekly["surge_days"].iloc[0] == 0


def test_unknown_beds_give_no_invented_numbers():
    daily = beds.daily_bed_plan(poisson_forecast([10.0] * 7))
    weekly = beds.period_plan(daily, "week")
    assert weekly["current_beds"].isna().all() and weekly["gap"].isna().all()
    assert weekly["expected_days_over_capacity"].isna().all()


def test_exceedance_inverts_the_quantiles():
    forecast = poisson_forecast([50.0])
    for q in (0.1, 0.5, 0.9, 0.99):
        b = beds.quantile_at(forecast, q)[0]
        assert beds.exceedance(forecast, b)[0] == pytest.approx(1 - q, abs=0.02)
    values = [beds.exceedance(forecast, b)[0] for b in range(20, 90)]
    assert (np.diff(values) <= 0).all()


def test_decision_scores():
    assert beds.decision_scores(np.array([8, 10, 12]), np.array([10, 10, 10])) == {
        "days_over_capacity": 1.0,
        "idle_bed_days": 2.0,
    }
