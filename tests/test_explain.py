"""The plan split by driver (forecast.explain): Shapley values, whole beds by largest remainder, and weeks whose
parts add up to the plan's beds, on hand-made counterfactual forecasts whose drivers are known."""

from __future__ import annotations

from itertools import permutations
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forecast import beds, explain
from forecast.counterfactual import Counterfactuals, coalition_code
from forecast.quantiles import LEVELS, column

POLICY = beds.BedPolicy()


def test_shapley_values_of_an_additive_game_are_each_players_own_effect():
    effects = np.array([3.0, -1.0, 0.5])
    values = np.array([sum(effects[i] for i in range(3) if mask >> i & 1) for mask in range(8)]) + 10
    assert explain.shapley_values(values) == pytest.approx(effects)


def test_shapley_values_split_an_interaction_evenly_and_add_up():
    values = np.array([0.0, 0.0, 0.0, 6.0])  # only both players together make anything
    assert explain.shapley_values(values) == pytest.approx([3.0, 3.0])
    rng = np.random.default_rng(1)
    game = rng.normal(size=(16, 5))
    assert explain.shapley_values(game).sum(axis=0) == pytest.approx(game[-1] - game[0])


def test_shapley_values_do_not_depend_on_the_order_of_the_players():
    rng = np.random.default_rng(2)
    game = rng.normal(size=8)
    found = explain.shapley_values(game)
    for order in permutations(range(3)):
        # Relabel the players: coalition masks move with them.
        moved = np.zeros(8)
        for mask in range(8):
            new = sum(1 << order[i] for i in range(3) if mask >> i & 1)
            moved[new] = game[mask]
        assert explain.shapley_values(moved)[list(order)] == pytest.approx(found)


def test_a_game_needs_two_to_the_n_coalitions():
    with pytest.raises(ValueError, match="2\\*\\*n"):
        explain.shapley_values(np.zeros(6))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(-30, 60, allow_nan=False), min_size=1, max_size=10), st.integers(0, 2))
def test_largest_remainder_adds_up_and_stays_within_one_bed(shares, extra):
    parts = np.array(shares)[:, None]
    total = np.ceil(parts.sum() - 1e-9) + 0 * extra  # the plan rounds its beds up
    whole = explain.largest_remainder(parts, np.array([total]))
    assert whole.sum() == total
    assert np.all(np.abs(whole[:, 0] - parts[:, 0]) < 1 + 1e-9)


def test_largest_remainder_gives_the_missing_beds_to_the_largest_remainders():
    whole = explain.largest_remainder(np.array([[2.7], [1.2], [0.6]]), np.array([5]))
    assert whole[:, 0].tolist() == [3, 1, 1]


# --- weeks of a hand-made unit ---------------------------------------------------------------------------------

DAYS = pd.date_range("2026-07-06", periods=28, freq="D")  # ISO weeks 28–31, Monday first


def _served(mean: np.ndarray, sd: float = 2.0) -> pd.DataFrame:
    frame = pd.DataFrame({"unique_id": "ward", "ds": DAYS, "mean": mean})
    for q in LEVELS:
        frame[column(q)] = mean + NormalDist().inv_cdf(q) * sd
    return frame


def _counterfactuals(parts: dict[str, np.ndarray], base: float) -> Counterfactuals:
    """An additive model: the census is base + each driver left on."""
    names = list(parts)
    rows = []
    for mask in range(1 << len(names)):
        on = [n for i, n in enumerate(names) if mask >> i & 1]
        mean = base + sum((parts[n] for n in on), start=np.zeros(len(DAYS)))
        rows.append(pd.DataFrame({"unique_id": "ward", "coalition": coalition_code(on), "ds": DAYS, "mean": mean}))
    drivers = pd.DataFrame(
        [
            {"unique_id": "ward", "driver": n, "status": "separated", "seen_by": "arima", "members": "arima"}
            for n in names
        ]
    )
    return Counterfactuals(pd.concat(rows, ignore_index=True), drivers)


def test_every_weeks_parts_add_up_to_the_plans_beds_and_each_driver_gets_its_own_beds():
    tourism = np.where(DAYS.isocalendar().week.to_numpy() >= 30, 8.0, 0.0)  # tourists from week 30
    weekly = np.tile([2.0, 1.0, 0.0, 0.0, -1.0, -1.0, -1.0], 4)
    counterfactuals = _counterfactuals({"day_of_week": weekly, "tourism": tourism}, base=20.0)
    served = _served(20 + weekly + tourism)
    found = explain.explain_weeks(counterfactuals, served, POLICY)
    plan = beds.period_plan(beds.daily_bed_plan(served, policy=POLICY), "week").set_index("period")["beds_risk"]
    by_week = found.parts.groupby("period")["beds"].sum()
    assert (by_week == plan.reindex(by_week.index)).all()
    exact = found.parts.pivot_table(index="period", columns="part", values="value")
    assert exact.sum(axis=1).to_numpy() == pytest.approx(
        found.totals.set_index("period")["beds"].to_numpy(), abs=1 - 1e-9
    )
    # Tourists add their eight patients from week 30, nothing before.
    assert exact.loc["2026-W28", "tourism"] == pytest.approx(0, abs=1e-9)
    assert exact.loc["2026-W30", "tourism"] == pytest.approx(8)
    # The margin: the beds above the expected census at the 5 % risk.
    assert exact.loc["2026-W30", "margin"] == pytest.approx(NormalDist().inv_cdf(0.95) * 2)
    # Every part against Shapley's definition worked out here: every order of adding the drivers.
    margin = NormalDist().inv_cdf(0.95) * 2

    def value(on: set[str], week: int) -> float:
        mean = 20 + weekly * ("day_of_week" in on) + tourism * ("tourism" in on)
        days = DAYS.isocalendar().week.to_numpy() == week
        return float(np.max((mean + margin * ("margin" in on))[days]))

    orders = list(permutations(("day_of_week", "tourism", "margin")))
    for week in (29, 30):
        for player in ("day_of_week", "tourism", "margin"):
            gains = [value({*o[: o.index(player) + 1]}, week) - value({*o[: o.index(player)]}, week) for o in orders]
            assert exact.loc[f"2026-W{week}", player] == pytest.approx(np.mean(gains)), (week, player)


def test_a_week_cut_by_the_plans_start_is_the_plans_week_too():
    counterfactuals = _counterfactuals({"tourism": np.full(len(DAYS), 3.0)}, base=10.0)
    served = _served(np.full(len(DAYS), 13.0))
    found = explain.explain_weeks(counterfactuals, served, POLICY, start=DAYS[3], end=DAYS[-1])
    assert found.totals["period"].iloc[0] == "2026-W28"
    plan = beds.period_plan(beds.daily_bed_plan(served[served["ds"] >= DAYS[3]], policy=POLICY), "week")
    assert found.totals["beds"].tolist() == plan["beds_risk"].tolist()


def test_what_the_nowcast_moved_goes_to_the_patients_in_bed():
    counterfactuals = _counterfactuals({"tourism": np.full(len(DAYS), 3.0)}, base=10.0)
    news = np.where(np.arange(len(DAYS)) < 7, 4.0, 0.0)  # four more patients in bed, gone after a week
    found = explain.explain_weeks(counterfactuals, _served(13.0 + news), POLICY)
    exact = found.parts.pivot_table(index="period", columns="part", values="value")
    assert exact.loc["2026-W28", "in_bed"] == pytest.approx(4)
    assert exact.loc["2026-W29", "in_bed"] == pytest.approx(0, abs=1e-9)
    assert exact["tourism"].to_numpy() == pytest.approx(3)


def test_counterfactuals_that_miss_the_served_days_are_refused():
    counterfactuals = _counterfactuals({"tourism": np.full(len(DAYS), 3.0)}, base=10.0)
    later = _served(np.full(len(DAYS), 13.0)).assign(ds=DAYS + pd.Timedelta(days=60))
    with pytest.raises(ValueError, match="do not cover"):
        explain.explain_weeks(counterfactuals, later, POLICY)


def test_a_daily_explanation_splits_each_days_forecast():
    tourism = np.linspace(0, 6, len(DAYS))
    counterfactuals = _counterfactuals({"tourism": tourism}, base=100.0)
    found = explain.explain_days(counterfactuals, _served(100 + tourism))
    exact = found.parts.pivot_table(index="period_start", columns="part", values="value")
    assert exact["tourism"].to_numpy() == pytest.approx(tourism)
    assert exact["base"].to_numpy() == pytest.approx(100)


def test_a_nowcast_moves_the_year_ahead_and_its_explanation_still_adds_up(explained_served):
    from forecast.demo import DEFAULT_UNITS, generate_demo_hospital
    from forecast.nowcast import nowcast

    bundle, policy = explained_served.bundle, explained_served.bundle.meta.policy
    # Three weeks of newer stays, as the episodes database would hold them on the as-of day.
    day = bundle.first_forecast_day + pd.Timedelta(days=19)
    episodes = generate_demo_hospital(start="2022-01-01", end="2025-03-31", units=DEFAULT_UNITS[:2]).episodes
    episodes = episodes.assign(
        admitted_at=pd.to_datetime(episodes["admitted_at"]), discharged_at=pd.to_datetime(episodes["discharged_at"])
    )
    episodes = episodes[episodes["admitted_at"] < day + pd.Timedelta(days=1)]
    episodes.loc[episodes["discharged_at"] >= day + pd.Timedelta(days=1), "discharged_at"] = pd.NaT
    now = nowcast(bundle, episodes, day)
    before = bundle.year_ahead.set_index(["unique_id", "ds"])["mean"]
    after = now.bundle.year_ahead.set_index(["unique_id", "ds"])["mean"]
    assert (after - before).abs().groupby(level=0).sum().min() > 10  # every unit's year moved
    # The year's plan is still split exactly into its drivers, the news under the patients in bed.
    year = explain.explained_plans(now.bundle, policy)["year"]
    start, end = explain.plan_window(now.bundle, "year")
    census = explain.served_census(now.bundle, "year")
    plan = beds.period_plan(beds.daily_bed_plan(census[(census["ds"] >= start) & (census["ds"] <= end)], policy=policy))
    summed = year.parts.groupby(["unique_id", "period"])["beds"].sum()
    assert (summed == plan.set_index(["unique_id", "period"])["beds_risk"].reindex(summed.index)).all()
    in_bed = year.parts[year.parts["part"] == "in_bed"].groupby("unique_id")["value"].apply(lambda v: v.abs().sum())
    assert (in_bed > 1).all(), in_bed.to_dict()
