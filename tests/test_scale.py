"""Scale-out and hierarchy: the Dask run equals the local one, the national data set, reconciliation, pooling."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm
from threadpoolctl import threadpool_limits

from benchmarks import reconciliation
from forecast import data, distributed, engine, hierarchy, models, national
from forecast.demo import DEFAULT_UNITS, generate_demo_hospital
from forecast.quantiles import LEVELS, columns


@pytest.fixture(scope="module")
def demo_hospital() -> tuple[data.Ingested, pd.DataFrame]:
    hospital = generate_demo_hospital(start="2023-01-01", end="2024-12-31", units=DEFAULT_UNITS[:3])
    return data.ingest(hospital.episodes.astype(str).replace({"NaT": ""})), hospital.guest_nights


@pytest.fixture(scope="module")
def demo_prepared(demo_hospital) -> tuple[engine.Prepared, engine.EngineConfig]:
    ingested, guest_nights = demo_hospital
    # ETS costs most of a run here; one statsforecast model and one of ours cover both code paths.
    config = engine.EngineConfig(horizon=28, folds=2, step=28, candidates=("seasonal_naive", "gbm"))
    return engine.prepare(ingested.daily, config, ingested.episodes, guest_nights), config


def test_split_units_makes_contiguous_sorted_chunks_of_whole_units():
    chunks = engine.split_units(["c", "a", "e", "b", "d", "a"], 2)
    assert chunks == [["a", "b", "c"], ["d", "e"]]
    assert engine.split_units(["a", "b"], 5) == [["a"], ["b"]]
    with pytest.raises(ValueError, match="at least 1"):
        engine.split_units(["a"], 0)


def test_split_prepared_refuses_units_that_end_on_different_days(demo_prepared):
    prepared, _ = demo_prepared
    series = prepared.series[~((prepared.series["unique_id"] == "surgery") & (prepared.series["ds"] > "2024-12-01"))]
    short = engine.Prepared(series, prepared.future, prepared.flow, prepared.column)
    with pytest.raises(ValueError, match="end on the same day"):
        engine.split_prepared(short, 2)


def test_unknown_engine_fails_with_a_clear_message():
    with pytest.raises(ValueError, match="unknown engine 'ray'; known: local, dask"), distributed.runner("ray"):
        pass


@pytest.mark.slow
def test_dask_run_equals_the_single_machine_run(demo_prepared):
    from distributed import Client, LocalCluster

    prepared, config = demo_prepared
    with (
        # One OpenMP thread for gradient boosting: on a busy machine spinning OpenMP threads slow a run tenfold,
        # and the worker threads share this process.
        threadpool_limits(1),
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None, silence_logs=logging.ERROR
        ) as cluster,
        Client(cluster) as client,
    ):
        local = engine.run(prepared, config)
        spread = engine.run(prepared, config, runner=distributed.DaskRunner(client), partitions=2)
        for name in ("forecasts", "scores", "selected"):
            pd.testing.assert_frame_equal(getattr(spread, name), getattr(local, name))
        pd.testing.assert_series_equal(spread.choice, local.choice)
        assert spread.models == local.models
        # The production forecast too, from the same choices and errors.
        local_forecast = engine.forecast_units(prepared, local, config)
        spread_forecast = engine.forecast_units(
            prepared, spread, config, runner=distributed.DaskRunner(client), partitions=2
        )
    pd.testing.assert_frame_equal(spread_forecast, local_forecast)
    assert np.isfinite(spread_forecast["mean"]).all()


def test_each_chunk_carries_only_its_units_flow_inputs(demo_hospital):
    ingested, guest_nights = demo_hospital
    with_flow = engine.EngineConfig(horizon=28, candidates=("seasonal_naive", "flow"))
    full = engine.prepare(ingested.daily, with_flow, ingested.episodes, guest_nights)
    assert full.flow is not None
    chunks = engine.split_prepared(full, 2)
    for chunk in chunks:
        units = set(chunk.series["unique_id"])
        assert chunk.flow is not None
        assert set(chunk.flow.admissions["unique_id"]) == units
        assert set(chunk.flow.episodes["unit"]) == units
        assert set(chunk.future["unique_id"]) == units
    assert sum(len(c.flow.episodes) for c in chunks if c.flow is not None) == len(full.flow.episodes)


def test_national_country_has_the_asked_shape_and_is_the_same_for_the_same_seed():
    country = national.generate_national(2, 2, 7, start="2024-01-01", end="2024-03-31", seed=3)
    assert len(country.units) == 2 * 2 * 7 and country.units["unit"].is_unique
    assert country.daily.groupby("unit").size().eq(91).all()
    assert set(country.hierarchy.columns) == {"unit", "hospital", "region"}
    assert country.hierarchy.groupby("hospital")["region"].nunique().eq(1).all()
    daily = country.daily
    assert (daily["admissions"] == daily["admissions_acute"] + daily["admissions_elective"]).all()
    assert (daily["census"] >= 0).all()
    # Warm from the first day: patients admitted before the start are in bed.
    assert daily.groupby("unit")["census"].first().gt(0).mean() > 0.9
    # Units of one type differ between hospitals (resized), and beds follow the census.
    medicine = daily[daily["unit"].str.contains("internal_medicine_1")].groupby("unit")["census"].mean()
    assert medicine.max() > 1.3 * medicine.min()
    census = daily.groupby("unit")["census"].mean()
    assert np.corrcoef(census, country.units.set_index("unit")["beds"].reindex(census.index))[0, 1] > 0.8
    again = national.generate_national(2, 2, 7, start="2024-01-01", end="2024-03-31", seed=3)
    pd.testing.assert_frame_equal(again.daily, country.daily)
    other = national.generate_national(2, 2, 7, start="2024-01-01", end="2024-03-31", seed=4)
    assert not other.daily["census"].equals(country.daily["census"])
    # A smaller country is part of a larger one.
    larger = national.generate_national(3, 2, 7, start="2024-01-01", end="2024-03-31", seed=3)
    part = larger.daily[larger.daily["unit"].isin(country.units["unit"])].reset_index(drop=True)
    pd.testing.assert_frame_equal(part, country.daily)


def test_national_default_is_a_country_of_more_than_a_thousand_units():
    profiles = national.national_profiles()
    assert len(profiles) >= 1000
    assert profiles["region"].nunique() == 21
    with pytest.raises(ValueError, match="between 1 and 21"):
        national.national_profiles(regions=22)


TREE = pd.DataFrame(
    {"unit": ["a1", "a2", "b1", "c1"], "hospital": ["ha", "ha", "hb", "hc"], "region": ["r1", "r1", "r1", "r2"]}
)


def forecast_frame(ids: list[str], means: list[float], days: int = 5, spread: float = 3.0) -> pd.DataFrame:
    rows = []
    z = norm.ppf(LEVELS)  # a normal census distribution around each mean
    for unit, mean in zip(ids, means, strict=True):
        for d in pd.date_range("2025-01-01", periods=days):
            grid = dict(zip(columns(LEVELS), mean + spread * z, strict=True))
            rows.append({"unique_id": unit, "ds": d, "mean": mean, **grid})
    return pd.DataFrame(rows)


def test_hierarchy_names_must_be_unique_across_levels_and_hospitals_in_one_region():
    with pytest.raises(ValueError, match="names two levels"):
        hierarchy.validate_hierarchy(TREE.assign(hospital=["a1", "a1", "hb", "hc"]))
    with pytest.raises(ValueError, match="more than one region"):
        hierarchy.validate_hierarchy(TREE.assign(region=["r1", "r2", "r1", "r2"]))
    s_df, tags = reconciliation.summing_matrix(TREE)
    assert list(s_df["unique_id"]) == ["r1", "r2", "ha", "hb", "hc", "a1", "a2", "b1", "c1"]
    assert s_df.set_index("unique_id").loc["r1"].tolist() == [1, 1, 1, 0]
    assert list(tags) == ["region", "region/hospital", "region/hospital/unit"]


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


def test_pooled_beds_are_fewer_than_the_sum_of_unit_beds():
    units = forecast_frame(["a1", "a2", "b1", "c1"], [15, 6, 8, 17])
    totals = hierarchy.independent_totals(units, TREE, "hospital", samples=4000)
    # Independent units: the sum's spread is about sqrt(n) times a unit's, not n times.
    ha = totals[totals["unique_id"] == "ha"].iloc[0]
    assert ha["mean"] == pytest.approx(21)
    assert (ha["q0.95"] - ha["mean"]) == pytest.approx(norm.ppf(0.95) * 3.0 * np.sqrt(2), rel=0.1)
    plan = hierarchy.pooled_plan(units, totals, TREE, "hospital", risk=0.05)
    assert set(plan["unique_id"]) == {"ha", "hb", "hc"}
    assert (plan["beds_pooled"] <= plan["beds_units"]).all()
    assert (plan.loc[plan["unique_id"] == "ha", "pooling_gain"] >= 2).all()
    assert (plan.loc[plan["unique_id"] == "hb", "pooling_gain"] == 0).all()  # one unit pools with nobody


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


def test_hierarchy_from_the_first_table_that_names_every_unit():
    from forecast.hierarchy import hierarchy_from

    partial = pd.DataFrame({"unit": ["a"], "hospital": ["h1"], "region": ["r1"]})
    full = pd.DataFrame({"unit": ["b", "a", "b"], "hospital": ["h2", "h1", "h2"], "region": ["r1", "r1", "r1"]})
    assert hierarchy_from([partial, full], ["a", "b"])["hospital"].tolist() == ["h1", "h2"]
    assert hierarchy_from([None, partial], ["a", "b"]) is None
    assert hierarchy_from([full.assign(region=[None, "r1", None])], ["a", "b"]) is None
