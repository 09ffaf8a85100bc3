"""Counterfactual forecasts of the served model (forecast.counterfactual) on the demo hospital: with every driver
on they are the engine's own forecast, whatever the model; a driver whose input changes moves its own beds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast import beds, engine, explain
from forecast.backtest import choice_point, forecast_origin
from forecast.counterfactual import coalition_code, counterfactual_forecasts, weekly_mean
from forecast.quantiles import columns

# Into the summer: the tourists are there.
HORIZON = 240


@pytest.fixture(scope="module")
def summer(demo_hospital) -> engine.Prepared:
    ingested, guest_nights = demo_hospital
    config = engine.EngineConfig(horizon=HORIZON)
    return engine.prepare(ingested.daily, config, ingested.episodes, guest_nights)


def _full(found, unit: str) -> np.ndarray:
    code = coalition_code(found.players(unit))
    rows = found.forecasts[(found.forecasts["unique_id"] == unit) & (found.forecasts["coalition"] == code)]
    return rows.sort_values("ds")["mean"].to_numpy()


def test_with_every_driver_on_each_model_forecasts_what_the_engine_serves(summer):
    units = sorted(summer.series["unique_id"].unique())
    candidates = ["seasonal_naive", "ets", "mstl", "arima", "gbm", "flow", "global"]
    served = forecast_origin(summer.series, summer.future, HORIZON, candidates, summer.flow)
    for choice in [*candidates, "arima+ets+flow", "global+ets+flow"]:
        found = counterfactual_forecasts(
            summer.series, summer.future, pd.Series(choice, index=units), HORIZON, summer.flow
        )
        for unit in units:
            rows = served[served["unique_id"] == unit].sort_values("ds")
            assert _full(found, unit) == pytest.approx(choice_point(rows, choice), abs=1e-9), (choice, unit)
            # One forecast per combination of the unit's drivers.
            assert found.forecasts[found.forecasts["unique_id"] == unit]["coalition"].nunique() == 2 ** len(
                found.players(unit)
            )


def test_each_model_separates_what_it_sees_and_says_what_it_does_not(summer):
    units = sorted(summer.series["unique_id"].unique())
    found = counterfactual_forecasts(summer.series, summer.future, pd.Series("ets", index=units), HORIZON)
    status = found.drivers.set_index(["unique_id", "driver"])["status"]
    unit = units[0]
    assert status[(unit, "tourism")] == "not_separated"  # ETS sees the series alone
    assert status[(unit, "day_of_week")] == "separated"
    assert status[(unit, "in_bed")] == "no_input"  # no stays given
    assert status[(unit, "regressors")] == "no_input"
    mixed = counterfactual_forecasts(
        summer.series, summer.future, pd.Series("ets+flow", index=units), HORIZON, summer.flow
    )
    row = mixed.drivers.set_index(["unique_id", "driver"]).loc[(unit, "tourism")]
    assert row["status"] == "partly" and row["seen_by"] == "flow"
    # A global model (one LightGBM across units, read recursively) is not taken apart: it says so.
    whole = counterfactual_forecasts(summer.series, summer.future, pd.Series("global", index=units), HORIZON)
    status = whole.drivers.set_index(["unique_id", "driver"])["status"]
    assert status[(unit, "tourism")] == "not_separated" and status[(unit, "day_of_week")] == "not_separated"


def test_a_weekly_mean_takes_the_weekly_pattern_out():
    pattern = np.tile([3.0, 1.0, 0.0, 0.0, -1.0, -1.5, -1.5], 8)
    trend = np.linspace(10, 12, len(pattern))
    assert weekly_mean(trend + pattern)[3:-3] == pytest.approx(trend[3:-3], abs=1e-9)


def _explained(prepared: engine.Prepared, choice: str, future: pd.DataFrame, spread: pd.DataFrame):
    units = sorted(prepared.series["unique_id"].unique())
    found = counterfactual_forecasts(prepared.series, future, pd.Series(choice, index=units), HORIZON, prepared.flow)
    served = []
    for unit in units:
        mean = _full(found, unit)
        rows = spread[spread["unique_id"] == unit].sort_values("ds").reset_index(drop=True)
        # The served distribution: the new mean with the same offsets (calibration is by step, not by input).
        quantiles = rows[columns()].to_numpy() - rows[["mean"]].to_numpy() + mean[:, None]
        served.append(
            pd.concat(
                [rows[["unique_id", "ds"]], pd.DataFrame({"mean": mean}), pd.DataFrame(quantiles, columns=columns())],
                axis=1,
            )
        )
    census = pd.concat(served, ignore_index=True)
    return explain.explain_weeks(found, census, beds.BedPolicy()), census


@pytest.mark.parametrize("choice", ["arima", "flow"])
def test_doubled_guest_nights_move_the_tourism_beds_and_nothing_else(summer, choice):
    units = sorted(summer.series["unique_id"].unique())
    served = forecast_origin(summer.series, summer.future, HORIZON, [choice], summer.flow).rename(
        columns={choice: "mean"}
    )
    sd = np.sqrt(served["mean"].clip(lower=1).to_numpy())[:, None]
    offsets = np.array([-2.6, -2.3, -2.0, -1.6, -1.3, -0.8, -0.7, 0, 0.7, 0.8, 1.3, 1.6, 2.0, 2.3, 2.6])
    spread = pd.concat(
        [
            served[["unique_id", "ds", "mean"]],
            pd.DataFrame(served[["mean"]].to_numpy() + offsets * sd, columns=columns()),
        ],
        axis=1,
    )
    before, _ = _explained(summer, choice, summer.future, spread)
    doubled = summer.future.assign(guest_nights=summer.future["guest_nights"] * 2)
    after, census = _explained(summer, choice, doubled, spread)
    # The plan is still explained whole: every week's parts add up to the plan's beds.
    plan = beds.period_plan(beds.daily_bed_plan(census), "week").set_index(["unique_id", "period"])["beds_risk"]
    summed = after.parts.groupby(["unique_id", "period"])["beds"].sum()
    assert (summed == plan.reindex(summed.index)).all()
    key = ["unique_id", "period", "part"]
    moved = (
        before.parts.set_index(key)["value"]
        .to_frame("before")
        .join(after.parts.set_index(key)["value"].rename("after"))
    )
    moved["change"] = moved["after"] - moved["before"]
    change = moved["change"].abs().groupby(level="part").max()
    tourism = moved.xs("tourism", level="part")
    summer_weeks = tourism[tourism["before"] > 2]
    assert len(summer_weeks) >= 4 and units
    # Tourists twice as many: their beds at least about double, every summer week.
    assert (summer_weeks["after"] > 1.8 * summer_weeks["before"]).all()
    # Every other part stays where it was: exactly in a linear model but for the week's busiest day moving a
    # little; within a bed in the flow model, whose admission rate is a product (more tourists, a larger weekly
    # swing of the same shape: Shapley gives half of such an interaction to each driver).
    others = change.drop("tourism")
    assert others.max() < 0.08 * change["tourism"], change.to_dict()
    assert others.max() < (0.6 if choice == "arima" else 1.0), change.to_dict()
