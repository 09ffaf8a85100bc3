"""What-if scenarios: the empty scenario is the served plan, and the flow arithmetic against direct computation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast import beds
from forecast.beds import BedPolicy
from forecast.census import InBed, flow_census
from forecast.quantiles import LEVELS, column
from forecast.scenarios import (
    AdmissionsChange,
    LengthOfStayChange,
    PlannedBeds,
    PlanTables,
    Scenario,
    ScenarioError,
    changed_stays,
    mean_stay,
    plan_tables,
    run_scenario,
    scenario_census,
    scenario_inputs,
    smooth_electives,
)
from forecast.staffing import StaffingRatios, shift_staffing, weekly_fte
from tests.scenario_bundles import ARRIVALS, flow_bundle, geometric_stays

START, END = pd.Timestamp("2026-04-01"), pd.Timestamp("2026-06-30")
RATIOS = {"medicine": StaffingRatios(), "surgery": StaffingRatios(rn_night=9)}
GRID = [column(q) for q in LEVELS]


@pytest.fixture(scope="module")
def bundle():
    return flow_bundle()


def run(bundle, scenario, start=START, end=END):
    return run_scenario(bundle, scenario, start, end, BedPolicy(), RATIOS)


def served_census(bundle, start=START, end=END):
    rows = bundle.select(target="census", start=start, days=(end - start).days + 1)
    return rows.sort_values(["unique_id", "ds"]).reset_index(drop=True)


def test_the_empty_scenario_is_the_served_plan_exactly(bundle):
    result = run(bundle, Scenario())
    census = served_census(bundle)
    daily = beds.daily_bed_plan(census, bundle.current_beds(), BedPolicy())
    staffing = shift_staffing(census, RATIOS).reset_index(drop=True)
    weekly = beds.period_plan(daily, "week")
    # The same numbers to the last digit (whole numbers come as nullable integers from the array path).
    same = {"check_dtype": False, "check_exact": True}
    pd.testing.assert_frame_equal(result.days[list(daily.columns)], daily, **same)
    pd.testing.assert_frame_equal(result.weeks[list(weekly.columns)], weekly, **same)
    pd.testing.assert_frame_equal(result.shifts[list(staffing.columns)], staffing, **same)
    fte = weekly_fte(staffing, RATIOS)
    pd.testing.assert_frame_equal(result.fte[list(fte.columns)], fte, **same)
    changes = [c for table in (result.weeks, result.days, result.shifts, result.fte) for c in table if "change_" in c]
    for table in (result.weeks, result.days, result.shifts, result.fte):
        for name in [c for c in table.columns if c.startswith("change_")]:
            assert np.nan_to_num(table[name].to_numpy(float)).tolist() == [0.0] * len(table), name
    assert changes
    assert set(result.how.values()) == {"unchanged: the served flow forecast", "unchanged: the served ets forecast"}


def test_the_empty_scenario_keeps_every_quantile(bundle):
    census, _ = scenario_census(bundle, Scenario())
    served = bundle.forecasts[bundle.forecasts["target"] == "census"].sort_values(["unique_id", "ds"])
    assert np.array_equal(census[["mean", *GRID]].to_numpy(), served[["mean", *GRID]].to_numpy())


def test_a_scenario_that_changes_nothing_in_the_flow_keeps_every_quantile(bundle):
    # +0 % goes through the flow arithmetic: the ratio is exactly one on every day.
    census, how = scenario_census(bundle, Scenario(admissions=(AdmissionsChange(0.0),)))
    served = bundle.forecasts[bundle.forecasts["target"] == "census"].sort_values(["unique_id", "ds"])
    assert np.array_equal(census[["mean", *GRID]].to_numpy(), served[["mean", *GRID]].to_numpy())
    assert how["medicine"].startswith("flow model") and how["surgery"].startswith("the served ets forecast, scaled")


def steady(frame, unit, column_name="mean"):
    """A unit's mean over the last whole week of the forecast: the patients in bed at the origin have long gone
    home, and a week averages out the weekday pattern of planned admissions (steady state of a periodic queue)."""
    rows = frame[frame["unique_id"] == unit].sort_values("ds")
    return float(rows[column_name].iloc[-7:].mean())


def test_ten_percent_more_admissions_raise_the_steady_census_ten_percent(bundle):
    served, _ = scenario_census(bundle, Scenario())
    more, _ = scenario_census(bundle, Scenario(admissions=(AdmissionsChange(10.0),)))
    for unit in ("medicine", "surgery"):
        assert steady(more, unit) == pytest.approx(1.1 * steady(served, unit), rel=1e-12)
        for q in GRID:  # the distribution scales with the mean: quantile offsets grow by the same 10 %
            assert steady(more, unit, q) == pytest.approx(1.1 * steady(served, unit, q), rel=1e-12)
    # Against the queue computed directly: Σ 1.1·A·S(k) for medicine's acute patients at steady state.
    acute = ARRIVALS[("medicine", "acute")] * geometric_stays(4.0).sum()
    assert steady(more, "medicine", "mean_acute") / steady(served, "medicine", "mean_acute") == pytest.approx(1.1)
    assert acute * 1.1 == pytest.approx(
        flow_census(
            np.full(200, 1.1 * ARRIVALS[("medicine", "acute")]),
            geometric_stays(4.0),
            InBed(np.zeros(0, int), np.zeros(0)),
        )[0][-1]
    )


def test_admissions_change_from_a_date_and_by_type(bundle):
    from_day = pd.Timestamp("2026-05-01")
    census, _ = scenario_census(
        bundle, Scenario(admissions=(AdmissionsChange(-20.0, "elective", from_day, ("medicine",)),))
    )
    served, _ = scenario_census(bundle, Scenario())
    medicine = census[census["unique_id"] == "medicine"].set_index("ds")
    before = served[served["unique_id"] == "medicine"].set_index("ds")
    assert (
        medicine.loc[: from_day - pd.Timedelta(days=1), "mean"] == before.loc[: from_day - pd.Timedelta(days=1), "mean"]
    ).all()
    assert (medicine.loc[from_day:, "mean"] < before.loc[from_day:, "mean"]).all()
    assert np.array_equal(medicine["mean_acute"], before["mean_acute"])
    pd.testing.assert_frame_equal(census[census["unique_id"] == "surgery"], served[served["unique_id"] == "surgery"])


def test_changed_stays_move_the_mean_stay_exactly():
    survival = geometric_stays(4.0)
    for factor in (0.5, 0.9, 1.0, 1.25, 2.0):
        changed = changed_stays(survival, factor)
        assert mean_stay(changed) == pytest.approx(factor * mean_stay(survival), rel=1e-12)
        assert np.all(np.diff(changed) <= 1e-15) and changed.min() >= 0 and changed.max() <= 1


def test_shorter_stays_lower_the_steady_census_by_the_change_in_mean_stay(bundle):
    served, _ = scenario_census(bundle, Scenario())
    shorter, _ = scenario_census(bundle, Scenario(length_of_stay=(LengthOfStayChange(percent=-10.0),)))
    # Medicine's census is the flow model's: exactly the change in mean stay. Surgery's ETS census is scaled
    # day by day by the flow's ratio, which moves with the mix of acute and planned patients.
    assert steady(shorter, "medicine") == pytest.approx(0.9 * steady(served, "medicine"), rel=1e-9)
    assert steady(shorter, "surgery") == pytest.approx(0.9 * steady(served, "surgery"), rel=0.01)
    # Half a day shorter for acute stays: the acute census falls by arrivals × 0.5 (Little's law).
    half, _ = scenario_census(bundle, Scenario(length_of_stay=(LengthOfStayChange(days=-0.5, admission_type="acute"),)))
    stay = mean_stay(geometric_stays(4.0))
    ratio = steady(half, "medicine", "mean_acute") / steady(served, "medicine", "mean_acute")
    assert ratio == pytest.approx((stay - 0.5) / stay, rel=1e-9)
    assert np.array_equal(
        half.loc[half["unique_id"] == "medicine", "mean_elective"],
        served.loc[served["unique_id"] == "medicine", "mean_elective"],
    )


def test_shorter_stays_leave_the_patients_in_bed_alone(bundle):
    served, _ = scenario_census(bundle, Scenario())
    shorter, _ = scenario_census(bundle, Scenario(length_of_stay=(LengthOfStayChange(percent=-50.0),)))
    # On the first day the census is the patients in bed plus the day's admissions: only the latter change.
    first = served["ds"].min()
    assert (
        shorter.loc[shorter["ds"] == first, "mean"].to_numpy() < served.loc[served["ds"] == first, "mean"].to_numpy()
    ).all()
    assert (
        shorter.loc[shorter["ds"] == first, "mean"].to_numpy()
        > 0.5 * served.loc[served["ds"] == first, "mean"].to_numpy()
    ).all()


def test_smoothing_keeps_each_weeks_admissions_and_lowers_the_peak():
    days = pd.date_range("2026-03-30", periods=28, freq="D")  # four whole ISO weeks, Monday first
    pattern = np.array([9.0, 7.0, 5.0, 3.0, 2.0, 0.0, 0.0])
    admissions = np.tile(pattern, 4)
    admissions[9] = 0.0  # a Wednesday holiday: no planned admissions
    smoothed = smooth_electives(admissions, days)
    weekly = lambda a: a.reshape(4, 7).sum(axis=1)  # noqa: E731
    np.testing.assert_allclose(weekly(smoothed), weekly(admissions), rtol=1e-12)
    assert smoothed[days.dayofweek >= 5].sum() == 0 and smoothed[9] == 0
    assert smoothed[0] == pytest.approx(26 / 5) and smoothed[7] == pytest.approx(21 / 4)
    survival = geometric_stays(2.5)
    nobody = InBed(np.zeros(0, int), np.zeros(0))
    assert flow_census(smoothed, survival, nobody)[0].max() < flow_census(admissions, survival, nobody)[0].max()


def test_smoothing_in_a_scenario_keeps_weekly_admissions(bundle):
    inputs = scenario_inputs(bundle)
    structure = inputs.flows["surgery"]["elective"]
    skewed = np.where(structure.days.dayofweek == 0, 5.0, np.where(structure.days.dayofweek < 5, 1.0, 0.0))
    smoothed = smooth_electives(skewed, structure.days)
    weeks = structure.days.isocalendar().week.to_numpy()
    for week in np.unique(weeks):
        assert smoothed[weeks == week].sum() == pytest.approx(skewed[weeks == week].sum(), rel=1e-12)


def test_planned_beds_replace_todays_beds_in_their_week(bundle):
    result = run(
        bundle, Scenario(planned_beds=(PlannedBeds("medicine", "2026-W20", 12), PlannedBeds("surgery", "2026-W20", 30)))
    )
    weeks = result.weeks.set_index(["unique_id", "period"])
    closed = weeks.loc[("medicine", "2026-W20")]
    assert closed["current_beds"] == 12 and closed["served_current_beds"] == 20
    assert closed["gap"] == closed["beds_risk"] - 12 and closed["change_gap"] == 8
    assert closed["expected_days_over_capacity"] > closed["served_expected_days_over_capacity"]
    assert closed["change_mean_census"] == 0  # beds do not change the census
    assert weeks.loc[("medicine", "2026-W21"), "current_beds"] == 20
    # A unit whose beds are unknown gets them for the planned week only.
    assert weeks.loc[("surgery", "2026-W20"), "current_beds"] == 30
    assert pd.isna(weeks.loc[("surgery", "2026-W21"), "current_beds"])
    days = result.days[(result.days["unique_id"] == "medicine") & (result.days["ds"].dt.isocalendar().week == 20)]
    census = served_census(bundle)
    rows = census[(census["unique_id"] == "medicine") & (census["ds"].dt.isocalendar().week == 20)]
    np.testing.assert_array_equal(days["p_over_capacity"], beds.exceedance(rows, 12.0))


def test_targets_and_risk_change_the_beds_not_the_census(bundle):
    result = run(bundle, Scenario(target_acute=0.95, overflow_risk=0.01))
    assert (result.weeks["change_mean_census"] == 0).all()
    assert (result.weeks["change_beds_target"] <= 0).all() and (result.weeks["change_beds_target"] < 0).any()
    assert (result.weeks["change_beds_risk"] >= 0).all() and (result.weeks["change_beds_risk"] > 0).any()
    assert result.policy == BedPolicy(0.95, 0.95, 0.01)


@pytest.mark.parametrize(
    ("scenario", "field"),
    [
        (Scenario(admissions=(AdmissionsChange(5, units=("medicine", "icu")),)), "admissions.0.units.1"),
        (Scenario(admissions=(AdmissionsChange(-100),)), "admissions.0.percent"),
        (Scenario(admissions=(AdmissionsChange(5, start=pd.Timestamp("2030-01-01")),)), "admissions.0.start"),
        (Scenario(length_of_stay=(LengthOfStayChange(percent=-150),)), "length_of_stay.0.percent"),
        (Scenario(length_of_stay=(LengthOfStayChange(days=-3.0),)), "length_of_stay.0.days"),
        (Scenario(length_of_stay=(LengthOfStayChange(percent=-5, days=-1),)), "length_of_stay.0"),
        (Scenario(planned_beds=(PlannedBeds("medicine", "2026-W40", 10),)), "planned_beds.0.week"),
        (Scenario(planned_beds=(PlannedBeds("medicine", "2026-W20", -1),)), "planned_beds.0.beds"),
        (Scenario(planned_beds=(PlannedBeds("icu", "2026-W20", 1),)), "planned_beds.0.unit.0"),
        (Scenario(target_acute=1.2), "target_acute"),
        (Scenario(target_elective=0.0), "target_elective"),
        (Scenario(smooth_electives=("icu",)), "smooth_electives.0"),
    ],
)
def test_what_the_model_cannot_answer_names_the_field(bundle, scenario, field):
    with pytest.raises(ScenarioError) as error:
        run(bundle, scenario)
    assert error.value.field == field


def test_units_without_a_flow_structure_take_only_targets_and_beds():
    bundle = flow_bundle()
    bundle.admissions_by_type = pd.DataFrame()
    with pytest.raises(ScenarioError, match="trained on daily counts"):
        run(bundle, Scenario(admissions=(AdmissionsChange(5),)))
    assert run(bundle, Scenario(target_acute=0.9)).weeks["change_beds_target"].le(0).all()


def assert_same_plan(result, expected: PlanTables):
    """The array arithmetic of a scenario against the served plan's pandas functions on the same census."""
    for mine, theirs in (
        (result.weeks, expected.weeks),
        (result.days, expected.days),
        (result.shifts, expected.shifts),
        (result.fte, expected.fte),
    ):
        for name in theirs.columns:
            a, b = mine[name].reset_index(drop=True), theirs[name].reset_index(drop=True)
            if pd.api.types.is_float_dtype(b) and name not in ("current_beds",):
                np.testing.assert_allclose(a.to_numpy(float), b.to_numpy(float), rtol=1e-12, err_msg=name)
            else:
                assert (
                    a.astype(object).where(a.notna(), None).tolist() == b.astype(object).where(b.notna(), None).tolist()
                ), name


def test_a_scenario_that_moves_nothing_gives_the_served_figures_and_zero_changes(bundle):
    # Not the empty scenario: the served targets given again, so the array arithmetic runs.
    result = run(bundle, Scenario(target_acute=0.85, admissions=(AdmissionsChange(0.0),)))
    assert_same_plan(result, plan_tables(served_census(bundle), bundle.current_beds(), BedPolicy(), RATIOS))
    for table in (result.weeks, result.days, result.shifts, result.fte):
        for name in [c for c in table.columns if c.startswith("change_")]:
            assert (table[name].fillna(0) == 0).all(), name


def test_the_array_arithmetic_is_the_served_plans_on_the_scenario_census(bundle):
    scenario = Scenario(
        admissions=(AdmissionsChange(12.0, "acute"),),
        length_of_stay=(LengthOfStayChange(days=-0.5, start=pd.Timestamp("2026-02-01")),),
        target_acute=0.9,
        overflow_risk=0.02,
        smooth_electives=("surgery",),
    )
    result = run(bundle, scenario)
    census, _ = scenario_census(bundle, scenario)
    window = census[(census["ds"] >= START) & (census["ds"] <= END)].reset_index(drop=True)
    assert_same_plan(result, plan_tables(window, bundle.current_beds(), BedPolicy(0.9, 0.95, 0.02), RATIOS))
    served = plan_tables(served_census(bundle), bundle.current_beds(), BedPolicy(), RATIOS)
    np.testing.assert_allclose(result.weeks["served_mean_census"], served.weeks["mean_census"], rtol=1e-12)


def test_the_flow_structure_survives_the_bundle_on_disk(tmp_path, bundle):
    from forecast.registry import load_bundle, save_bundle

    loaded = load_bundle(save_bundle(bundle, tmp_path / "bundle"))
    pd.testing.assert_frame_equal(loaded.admissions_by_type, bundle.admissions_by_type)
    pd.testing.assert_frame_equal(loaded.in_bed, bundle.in_bed)
    scenario = Scenario(admissions=(AdmissionsChange(10.0),), smooth_electives=True)
    pd.testing.assert_frame_equal(run(loaded, scenario).weeks, run(bundle, scenario).weeks)
