"""The engine (forecast/engine.py): preparing series, the backtest run, forecasts per unit, chunks of units."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from forecast import engine
from forecast.quantiles import LEVELS, columns


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


@pytest.fixture(scope="module")
def ran(demo_prepared):
    prepared, config = demo_prepared
    with threadpool_limits(1):
        result = engine.run(prepared, config)
        forecast = engine.forecast_units(prepared, result, config)
    return prepared, config, result, forecast


def test_prepare_leaves_out_the_warm_up_and_lays_out_the_horizon(demo_hospital, demo_prepared):
    ingested, _ = demo_hospital
    prepared, config = demo_prepared
    daily = ingested.daily
    settled = daily[~daily["warmup"]].groupby("unit").size()
    assert prepared.series.groupby("unique_id").size().sort_index().tolist() == settled.sort_index().tolist()
    assert prepared.column == "census"
    ahead = prepared.future.groupby("unique_id")["ds"].agg(["min", "max", "size"])
    assert (ahead["size"] == config.horizon).all()
    assert (ahead["min"] == daily["date"].max() + pd.Timedelta(days=1)).all()


def test_the_forecast_follows_the_backtests_choice_per_unit(ran):
    prepared, config, result, forecast = ran
    units = sorted(prepared.series["unique_id"].unique())
    assert forecast.groupby("unique_id").size().to_dict() == dict.fromkeys(units, config.horizon)
    chosen = forecast.groupby("unique_id")["model"].first()
    assert chosen.to_dict() == result.choice.reindex(units).to_dict()
    grid = forecast[columns(LEVELS)].to_numpy()
    assert (np.diff(grid, axis=1) >= -1e-9).all() and (grid >= 0).all()
    assert set(result.scores["model"]) >= set(config.candidates)


def test_widening_moves_only_the_upper_quantiles_of_the_unit_named(ran):
    prepared, config, result, forecast = ran
    unit = sorted(prepared.series["unique_id"].unique())[0]
    with threadpool_limits(1):
        wider = engine.forecast_units(prepared, result, config, widening={unit: 2.0})
    upper = [c for c, q in zip(columns(LEVELS), LEVELS, strict=True) if q > 0.5]
    lower = [c for c, q in zip(columns(LEVELS), LEVELS, strict=True) if q < 0.5]
    mine, base = wider[wider["unique_id"] == unit], forecast[forecast["unique_id"] == unit]
    pd.testing.assert_frame_equal(mine[lower].reset_index(drop=True), base[lower].reset_index(drop=True))
    assert (mine[upper].to_numpy() >= base[upper].to_numpy() - 1e-9).all()
    assert (mine[upper].to_numpy() > base[upper].to_numpy() + 1e-9).any()
    others = wider["unique_id"] != unit
    pd.testing.assert_frame_equal(wider[others].reset_index(drop=True), forecast[others].reset_index(drop=True))


def test_bad_settings_are_clear_errors(demo_hospital):
    ingested, _ = demo_hospital
    with pytest.raises(ValueError, match="not in the data"):
        engine.prepare(ingested.daily, engine.EngineConfig(regressors=("rain",)))
    with pytest.raises(ValueError, match="--column"):
        engine.prepare(ingested.daily.drop(columns="census"), engine.EngineConfig(target="census"))


def test_the_flow_candidate_needs_episodes(demo_hospital):
    ingested, _ = demo_hospital
    config = engine.EngineConfig(horizon=28, candidates=("seasonal_naive", "flow"))
    with_episodes = engine.prepare(ingested.daily, config, ingested.episodes)
    without = engine.prepare(ingested.daily, config)
    assert engine.candidates_in(with_episodes, config) == ["seasonal_naive", "flow"]
    assert engine.candidates_in(without, config) == ["seasonal_naive"]


def test_the_global_models_run_only_where_every_fit_sees_several_units():
    ds = pd.date_range("2024-01-01", periods=200, freq="D")
    series = pd.concat(
        [pd.DataFrame({"unique_id": f"u{i}", "ds": ds, "y": 10.0 + i}) for i in range(4)], ignore_index=True
    )
    prepared = engine.Prepared(series, series.iloc[:0].drop(columns="y"), None, "census")
    config = engine.EngineConfig(candidates=("seasonal_naive", "ets", "flow", "global", "global_diff"))
    assert engine.candidates_in(prepared, config) == ["seasonal_naive", "ets", "global", "global_diff"]
    # Split into chunks of two units, no fit sees three.
    assert engine.candidates_in(prepared, config, units=2) == ["seasonal_naive", "ets"]
    one = engine.Prepared(series[series["unique_id"] == "u0"], series.iloc[:0], None, "census")
    assert engine.candidates_in(one, config) == ["seasonal_naive", "ets"]
