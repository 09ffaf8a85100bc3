"""The bed and staffing arithmetic is written once, on arrays; these hold it equal, to the last digit, to the
plain pandas reading of the same rules (the group-bys the plan tables were first written with)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast import beds, groups, staffing
from tests.bundles import make_bundle
from tests.scenario_bundles import flow_bundle


def reference_period_plan(daily_plan: pd.DataFrame) -> pd.DataFrame:
    """Weeks as pandas' group-by computes them."""
    start = daily_plan["ds"].dt.to_period("W-SUN").dt.start_time
    frame = daily_plan.assign(period_start=start)
    grouped = frame.groupby(["unique_id", "period_start"], sort=True)
    table = grouped.agg(
        days=("ds", "size"),
        mean_census=("mean", "mean"),
        p90_census=("p90", "max"),
        beds_target=("beds_target", "max"),
        beds_risk=("beds_risk", "max"),
        current_beds=("current_beds", "first"),
    ).reset_index()
    table["expected_days_over_capacity"] = grouped["p_over_capacity"].sum(min_count=1).to_numpy()
    surge = frame["surge_day"].astype("Int64").groupby([frame["unique_id"], frame["period_start"]], sort=True)
    table["surge_days"] = surge.sum(min_count=1).to_numpy()
    iso = table["period_start"].dt.isocalendar()
    table.insert(2, "period", iso["year"].astype(str) + "-W" + iso["week"].astype(str).str.zfill(2))
    table["gap"] = (table["beds_risk"] - table["current_beds"]).astype("Int64")
    return table


def reference_weekly_fte(shifts: pd.DataFrame, ratios: staffing.StaffingRatios) -> pd.DataFrame:
    frame = shifts.copy()
    hours = frame["shift"].map({s: ratios.hours(s) for s in staffing.SHIFTS}).to_numpy()
    frame["rn_fte"] = frame["registered_nurses"] * hours / ratios.fte_hours_per_week
    frame["an_fte"] = frame["assistant_nurses"] * hours / ratios.fte_hours_per_week
    iso = frame["ds"].dt.isocalendar()
    frame["week"] = iso["year"].astype(str) + "-W" + iso["week"].astype(str).str.zfill(2)
    return frame.groupby(["unique_id", "week"], as_index=False, sort=True).agg(
        days=("ds", "nunique"), rn_fte=("rn_fte", "sum"), an_fte=("an_fte", "sum")
    )


@pytest.mark.parametrize("bundle", [make_bundle(days=200), flow_bundle(200)], ids=["plain", "flow"])
def test_weeks_and_fte_equal_pandas_group_by_to_the_digit(bundle):
    census = bundle.forecasts[bundle.forecasts["target"] == "census"].reset_index(drop=True)
    rng = np.random.default_rng(3)
    census = census.assign(mean=census["mean"] * rng.uniform(0.9, 1.1, len(census)))  # digits that round
    daily = beds.daily_bed_plan(census, bundle.current_beds(), beds.BedPolicy(0.87, 0.93, 0.03))
    shuffled = daily.sample(frac=1, random_state=1)  # rows in any order: the table comes sorted all the same
    for frame in (daily, shuffled):
        pd.testing.assert_frame_equal(beds.period_plan(frame, "week"), reference_period_plan(frame), check_exact=True)
    ratios = staffing.StaffingRatios(rn_day=4.5, hours_day=7.5, fte_hours_per_week=38.25)
    shifts = staffing.shift_staffing(census, ratios)
    pd.testing.assert_frame_equal(
        staffing.weekly_fte(shifts, ratios), reference_weekly_fte(shifts, ratios), check_exact=True
    )


def test_group_sums_are_compensated_and_skip_what_is_unknown():
    values = np.array([0.1, 0.2, 0.3, 1e16, 1.0, 1.0, 1.0, np.nan, np.nan, 2.0])
    labels = np.array([0, 0, 0, 1, 1, 1, 1, 2, 2, 3])
    starts = np.array([0, 3, 7, 9])
    sums = groups.group_sum(values, starts)
    expected = pd.Series(values).groupby(labels).sum(min_count=1).to_numpy()
    assert np.array_equal(sums, expected, equal_nan=True)
    assert sums[1] == 1e16 + 4  # a plain running sum loses each 1.0 next to 1e16
    assert np.array_equal(groups.group_mean(values, starts), pd.Series(values).groupby(labels).mean(), equal_nan=True)
    assert list(groups.group_starts(np.array(["a", "a", "b", "b"]), np.array([1, 2, 2, 2]))) == [0, 1, 2]
