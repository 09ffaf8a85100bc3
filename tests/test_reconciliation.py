"""MinTrace reconciliation beside its benchmark (benchmarks/reconciliation.py)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm
from threadpoolctl import threadpool_limits

from benchmarks import reconciliation
from forecast import engine, hierarchy, models, national
from forecast.quantiles import LEVELS, columns
from tests.test_hierarchy import TREE, forecast_frame


@pytest.mark.parametrize("method", ["bottom_up", "ols", "wls_struct"])
def test_reconciled_forecasts_add_up_and_stay_non_negative(method):
    # The totals' own forecasts disagree with their units' sum; a unit near zero tempts negative forecasts.
    base = forecast_frame(["r1", "r2", "ha", "hb", "hc", "a1", "a2", "b1", "c1"], [40, 20, 30, 9, 18, 15, 0.2, 8, 17])
    done = reconciliation.reconcile(base, TREE, method)
    mean = done.pivot(index="ds", columns="unique_id", values="mean")
    assert np.allclose(mean["ha"], mean["a1"] + mean["a2"])
    assert np.allclose(mean["r1"], mean["ha"] + mean["hb"])
    assert np.allclose(mean["r2"], mean["hc"])
    assert (done["mean"] >= -1e-9).all()
    assert (np.diff(done[columns(LEVELS)].to_numpy(), axis=1) >= 0).all()
    if method == "bottom_up":
        units = done[done["unique_id"].isin(TREE["unit"])]
        assert np.allclose(units["mean"], units["mean_base"])
    # Quantiles move with the mean: the spread of each series is its own.
    width = done["q0.9"] - done["q0.1"]
    assert np.allclose(width[done["mean"] > 10], 2 * norm.ppf(0.9) * 3.0)


@pytest.mark.slow
def test_reconciliation_of_a_small_country_keeps_unit_accuracy_and_pools_beds():
    country = national.generate_national(1, 2, 2, start="2023-07-01", end="2024-12-31", seed=2)
    daily = country.daily[["unit", "date", "census"]].rename(columns={"unit": "unique_id"})
    every_level = reconciliation.aggregate(daily, country.hierarchy, values=("census",))
    config = engine.EngineConfig(horizon=28, folds=2, step=28, candidates=("seasonal_naive", "gbm"))
    prepared = engine.prepare(every_level.rename(columns={"unique_id": "unit"}), config)
    with threadpool_limits(1):
        result = engine.run(prepared, config)
    scale = result.scores[result.scores["model"] == models.BASELINE].set_index(["unique_id", "fold"])["scale"]
    method, table = reconciliation.choose_method(result.selected, scale, country.hierarchy)
    chosen = table.set_index("method").loc[method]
    assert chosen["worst_change"] <= 0.02 and chosen["mean_change"] <= 0.02
    assert table.set_index("method").loc["bottom_up", "worst_change"] == 0
    lenient, _ = reconciliation.choose_method(result.selected, scale, country.hierarchy, every_unit=False)
    assert table.set_index("method").loc[lenient, "mean_change"] <= 0.02
    assert table.set_index("method").loc[lenient, "mase"] <= chosen["mase"]
    forecast = engine.forecast_units(prepared, result, config)
    done = reconciliation.reconcile(forecast, country.hierarchy, method, result.selected)
    mean = done.pivot(index="ds", columns="unique_id", values="mean")
    for hospital, units in country.hierarchy.groupby("hospital")["unit"]:
        assert np.allclose(mean[hospital], mean[list(units)].sum(axis=1), rtol=1e-6)
    units = done[done["unique_id"].isin(country.hierarchy["unit"])]
    # The pool's census from the backtest errors of the sum of its units' forecasts: sized as one ward.
    pools = hierarchy.pooled_totals(result, units, country.hierarchy, "hospital")
    plan = hierarchy.pooled_plan(units, pools, country.hierarchy, "hospital")
    assert len(plan) == 2 * 28
    assert (plan["beds_pooled"] <= plan["beds_units"]).all()
    assert plan["pooling_gain"].mean() > 0
