"""Candidate models: the regression the ARIMA-type candidates are fitted after, and what they forecast."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from forecast import models


def event_series(days: int = 400, units: int = 2, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Units at levels 50, 100, … with an event that adds 10 × (unit + 1); the events of the next 28 days."""
    rng = np.random.default_rng(seed)
    history, future = [], []
    for u in range(units):
        ds = pd.date_range("2023-01-01", periods=days + 28, freq="D")
        event = (np.arange(days + 28) % 11 == 0).astype(float)
        y = 50.0 * (u + 1) + 10.0 * (u + 1) * event + rng.normal(0, 1, days + 28)
        frame = pd.DataFrame({"unique_id": f"u{u}", "ds": ds, "y": y, "event": event})
        history.append(frame.iloc[:days])
        future.append(frame.iloc[days:].drop(columns="y"))
    return pd.concat(history, ignore_index=True), pd.concat(future, ignore_index=True)


def test_regression_effects_are_per_unit_and_carry_into_the_future():
    history, future = event_series()
    fitted, ahead = models.regression_effects(history, future, ["event"])
    for u, effect in ((0, 10.0), (1, 20.0)):
        past = (history["unique_id"] == f"u{u}").to_numpy()
        later = (future["unique_id"] == f"u{u}").to_numpy()
        # The intercept stays in the remainder: on days without the event the effect is zero.
        assert fitted[past] == pytest.approx(effect * history.loc[past, "event"].to_numpy(), abs=0.5)
        assert ahead[later] == pytest.approx(effect * future.loc[later, "event"].to_numpy(), abs=0.5)


def test_regression_effects_without_regressors_are_zero():
    history, future = event_series(units=1)
    fitted, ahead = models.regression_effects(history, future, [])
    assert not fitted.any() and not ahead.any()


def test_arima_forecasts_the_regressor_effect_on_event_days():
    history, future = event_series()
    out = future[["unique_id", "ds"]].copy()
    for alias in ("arima", "ets"):
        out[alias] = models.candidate(alias).fit(history, 28).predict(future)[alias]
    assert len(out) == 2 * 28
    for u in range(2):
        rows = out[out["unique_id"] == f"u{u}"].merge(future, on=["unique_id", "ds"])
        on_event = rows.loc[rows["event"] == 1, "arima"].mean()
        off_event = rows.loc[rows["event"] == 0, "arima"].mean()
        assert on_event - off_event == pytest.approx(10.0 * (u + 1), abs=1.5)
        assert off_event == pytest.approx(50.0 * (u + 1), abs=1.5)


def test_gbm_with_history_shorter_than_the_horizon_forecasts_the_recent_mean():
    history, future = event_series(days=60, units=1)
    future = pd.concat([future] * 4, ignore_index=True).iloc[:91]
    point = models.GradientBoosting().fit(history, 91).predict(future)["gbm"].to_numpy()
    assert point == pytest.approx(np.full(91, history["y"].tail(28).mean()))


def stepped_months(days: int = 120) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A few months of admissions whose level steps up halfway, with the yearly terms, and the next quarter."""
    frame = features_frame(days + 91)
    t = np.arange(days + 91)
    frame["y"] = np.random.default_rng(1).poisson(np.where(t < days / 2, 15, 25))
    return frame.iloc[:days].reset_index(drop=True), frame.iloc[days:].drop(columns="y").reset_index(drop=True)


def features_frame(days: int) -> pd.DataFrame:
    from forecast.features import calendar_features

    series = pd.DataFrame({"unique_id": "u", "ds": pd.date_range("2017-05-01", periods=days, freq="D"), "y": 0.0})
    history, _ = calendar_features(series, 1, country="IN", fourier_k=models.YEARLY_PAIRS)
    return history


def test_yearly_terms_wait_for_a_year_of_history():
    short, _ = stepped_months(180)
    year, _ = stepped_months(400)
    assert not any(c.startswith(("sin", "cos")) for c in models.known_regressors(short))
    assert {"sin1_365", "cos3_365"} <= set(models.known_regressors(year))


def yearly_pairs(columns: list[str]) -> int:
    return max((models.yearly_pair(c) for c in columns), default=0)


def test_yearly_pairs_grow_with_the_years_of_history():
    # Under ARIMA: one pair per half-year up to six; the Poisson GLM and the trees: three once there is a year.
    assert models.yearly_pair("cos2_365") == 2 and models.yearly_pair("holiday") == 0
    for days, arima_pairs in ((300, 0), (450, 2), (800, 4), (1096, 6), (1500, 6)):
        history = features_frame(days)
        assert yearly_pairs(models.known_regressors(history, pairs=6, pairs_per_year=2)) == arima_pairs
        assert yearly_pairs(models.known_regressors(history)) == (3 if days >= 365 else 0)


def test_admissions_on_a_few_months_do_not_extrapolate_a_yearly_curve():
    # Fitted on four months with a level step, yearly terms bend the Poisson link into millions a day.
    history, future = stepped_months(120)
    rate = models.admissions_rate(history, future)
    assert rate.max() < 3 * history["y"].max()


def test_admissions_follow_a_recent_shift_in_intake():
    # Two years at 20 a day, then ten weeks at 30: the next quarter is forecast at the new level. (Without the
    # yearly terms, which would take up part of a shift seen in one year only.)
    days = 730
    frame = features_frame(days + 91)
    frame = frame.drop(columns=[c for c in frame.columns if c.startswith(("sin", "cos"))])
    t = np.arange(days + 91)
    frame["y"] = np.random.default_rng(2).poisson(np.where(t < days - 70, 20, 30))
    history, future = frame.iloc[:days], frame.iloc[days:].drop(columns="y")
    rate = models.admissions_rate(history, future)
    assert rate.mean() == pytest.approx(30, rel=0.1)


# --- the global models: one LightGBM across units ---------------------------------------------------------------

WEEK_SHAPE = np.array([1.25, 1.2, 1.1, 1.0, 0.95, 0.7, 0.6])  # Monday to Sunday, the same in every unit


def shared_week_panel(young_days: int = 56, seed: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Units of very different size with one weekly shape and one event effect (×0.5), Poisson counts, and the
    next 28 days; the last unit is young (`young_days` of history, the others 500)."""
    rng = np.random.default_rng(seed)
    end = pd.Timestamp("2024-06-30")
    history, future = [], []
    for u, level in enumerate((4.0, 15.0, 60.0, 250.0, 30.0)):
        days = young_days if u == 4 else 500
        ds = pd.date_range(end=end + pd.Timedelta(days=28), periods=days + 28, freq="D")
        event = (np.arange(len(ds)) % 17 == 3).astype(float)
        mean = level * WEEK_SHAPE[ds.dayofweek] * np.where(event == 1, 0.5, 1.0)
        frame = pd.DataFrame({"unique_id": f"u{u}", "ds": ds, "y": rng.poisson(mean).astype(float), "event": event})
        frame["expected"] = mean
        history.append(frame.iloc[:days].drop(columns="expected"))
        future.append(frame.iloc[days:])
    return pd.concat(history, ignore_index=True), pd.concat(future, ignore_index=True)


def test_the_global_model_fits_all_units_at_once_and_forecasts_every_unit_and_day():
    history, ahead = shared_week_panel()
    future = ahead.drop(columns=["y", "expected"])
    model = models.candidate("global").fit(history, 28)
    out = model.predict(future)
    assert list(out.columns) == ["global"] and out.index.equals(future.index)
    assert out["global"].notna().all() and (out["global"] >= 0).all()
    # One model for every unit, fitted once; the same data gives the same forecast.
    assert len(model.engine_.models_) == 1
    again = models.candidate("global").fit(history, 28).predict(future)
    assert out["global"].to_numpy() == pytest.approx(again["global"].to_numpy())
    # Per unit, closer to the truth than the recent level (the mean of the last four weeks), the young unit
    # included: eight weeks of its own are too few to tell its week from noise, the others' years are not.
    ahead["global"] = out["global"].to_numpy()
    recent = history.groupby("unique_id")["y"].apply(lambda y: y.tail(28).mean())
    ahead["naive"] = ahead["unique_id"].map(recent)
    for unit, rows in ahead.groupby("unique_id"):
        error = (rows["global"] - rows["expected"]).abs().mean()
        naive = (rows["naive"] - rows["expected"]).abs().mean()
        assert error < 0.6 * naive, unit
        # The shared shape in the young unit's own forecast: weekdays above the weekend, event days below.
        weekday = rows["ds"].dt.dayofweek < 5
        assert rows.loc[weekday, "global"].mean() > 1.3 * rows.loc[~weekday, "global"].mean(), unit
    young = ahead[(ahead["unique_id"] == "u4") & (ahead["ds"].dt.dayofweek < 5)]
    assert young.loc[young["event"] == 1, "global"].mean() < 0.75 * young.loc[young["event"] == 0, "global"].mean()


def test_the_global_model_of_changes_follows_a_shared_climb_the_model_of_levels_lags():
    # Every unit climbs 1.5 % a day (an epidemic wave): the levels model cannot forecast above the levels it was
    # fitted on; the model of the day-to-day changes carries the climb on.
    rng = np.random.default_rng(5)
    history, future, truth = [], [], []
    for u, level in enumerate((20.0, 80.0, 300.0)):
        ds = pd.date_range("2020-03-01", periods=150 + 28, freq="D")
        mean = level * np.exp(0.015 * np.arange(len(ds)))
        frame = pd.DataFrame({"unique_id": f"u{u}", "ds": ds, "y": rng.poisson(mean).astype(float)})
        history.append(frame.iloc[:150])
        future.append(frame.iloc[150:].drop(columns="y"))
        truth.append(mean[150:])
    history_frame, future_frame = pd.concat(history, ignore_index=True), pd.concat(future, ignore_index=True)
    expected = np.concatenate(truth)
    levels = models.candidate("global").fit(history_frame, 28).predict(future_frame)["global"].to_numpy()
    changes = models.candidate("global_diff").fit(history_frame, 28).predict(future_frame)["global_diff"].to_numpy()
    assert np.abs(changes - expected).mean() < 0.5 * np.abs(levels - expected).mean()
    # Each unit's forecast keeps climbing (the levels' stays flat): from its first week to its last, by at least
    # a third of the true rise (the smallest unit's noise hides part of the climb; the largest keeps 80 % of it).
    for u in range(3):
        forecast, flat, true = (x[28 * u : 28 * (u + 1)] for x in (changes, levels, expected))
        rise = true[21:].mean() - true[:7].mean()
        assert forecast[21:].mean() - forecast[:7].mean() > rise / 3 > flat[21:].mean() - flat[:7].mean(), u


def test_the_global_models_are_candidates_of_the_backtest():
    from forecast import engine
    from forecast.backtest import backtest_windows, judge

    assert {"global", "global_diff"} <= set(engine.EngineConfig().candidates)
    history, _ = shared_week_panel(young_days=120)
    candidates = ["seasonal_naive", "global", "global_diff"]
    forecasts, scale = backtest_windows(history, 28, folds=2, step=14, candidates=candidates, lead_windows=2)
    assert forecasts[["global", "global_diff"]].notna().all().all()
    assert forecasts.groupby("fold")["unique_id"].nunique().eq(5).all()
    result = judge(forecasts, scale, candidates, 28)
    # On a steady panel with a shared week the global model of levels beats last week's values.
    mase = result.scores[result.scores["fold"] > 0].groupby("model")["mase"].mean()
    assert mase["global"] < mase["seasonal_naive"]


# --- the table of candidates and their own distributions -------------------------------------------------------


def test_every_candidate_in_the_table_has_its_own_alias_and_rank():
    assert list(models.CANDIDATES) == ["seasonal_naive", "ets", "mstl", "arima", "gbm", "flow", "global", "global_diff"]
    # The global models learn across units: a fit needs three of them.
    assert {a for a, m in models.CANDIDATES.items() if m.min_units > 1} == {"global", "global_diff"}
    for alias, model in models.CANDIDATES.items():
        assert model.alias == alias and models.candidate(alias).alias == alias
    assert len(set(models.SIMPLICITY.values())) == len(models.CANDIDATES)
    assert models.SIMPLICITY[models.BASELINE] == 0
    with pytest.raises(ValueError, match=r"unknown model\(s\) prophet; known: seasonal_naive"):
        models.candidate("prophet")
    # Hyper-parameters go to `__init__`; fitting returns the candidate with its state in `_` attributes.
    history, _ = event_series(units=1)
    trees = models.candidate("gbm", max_iter=20)
    assert trees.max_iter == 20 and trees.fit(history, 28) is trees and "u0" in trees.fits_


def test_own_quantiles_are_ordered_around_the_point_forecast():
    history, future = event_series()
    for alias in ("seasonal_naive", "ets", "arima", "mstl"):
        out = models.candidate(alias).fit(history, 28).predict(future, quantiles=True)
        grid = out[models.own_quantile_columns(alias)].to_numpy()
        assert (np.diff(grid, axis=1) >= -1e-9).all(), alias
        # The median of these symmetric intervals is the point forecast.
        assert out[f"{alias}_q0.5"].to_numpy() == pytest.approx(out[alias].to_numpy()), alias
        assert (grid[:, -1] > grid[:, 0]).all(), alias
    # Gradient boosting has no distribution of its own: asked for one, it gives only its point forecast.
    assert list(models.GradientBoosting().fit(history, 28).predict(future, quantiles=True).columns) == ["gbm"]


def test_own_quantiles_reach_the_backtest_table_only_when_asked():
    from forecast import data, engine
    from forecast.demo import DEFAULT_UNITS, generate_demo_hospital

    hospital = generate_demo_hospital(start="2023-01-01", end="2024-06-30", units=DEFAULT_UNITS[:1])
    ingested = data.ingest(hospital.episodes.astype(str).replace({"NaT": ""}))
    config = engine.EngineConfig(horizon=14, folds=1, step=14, candidates=("seasonal_naive", "gbm", "flow"))
    prepared = engine.prepare(ingested.daily, config, ingested.episodes, hospital.guest_nights)
    plain, _ = engine.windows(prepared, config)
    spread, _ = engine.windows(prepared, replace(config, own_quantiles=True))
    own = [*models.own_quantile_columns("seasonal_naive"), *models.own_quantile_columns("flow")]
    assert not set(own) & set(plain.columns)
    assert set(spread.columns) == {*plain.columns, *own}
    pd.testing.assert_frame_equal(spread[plain.columns], plain)
    # The flow model's census is a sum of Poisson and Bernoulli counts: its spread is about √mean, never 0.
    sd = (spread["flow_q0.975"] - spread["flow_q0.025"]) / 3.92
    assert (sd > 0).all()
    assert sd.mean() == pytest.approx(np.sqrt(spread["flow"]).mean(), rel=0.5)


def test_flow_model_counts_transfers_in_as_arrivals():
    from forecast import engine
    from forecast.data import ingest
    from forecast.demo import generate_demo_hospital

    hospital = generate_demo_hospital(start="2023-01-01", end="2024-12-31", transfers=True)
    ingested = ingest(hospital.episodes)
    origin = pd.Timestamp("2024-09-30")
    config = engine.EngineConfig(horizon=60, candidates=("flow",))
    upto = ingested.daily[ingested.daily["date"] <= origin]
    stays = ingested.episodes
    known = stays[stays["admitted_at"] <= origin].assign(
        discharged_at=lambda f: f["discharged_at"].where(f["discharged_at"] <= origin)
    )
    actual = ingested.daily.set_index(["unit", "date"])["census"]

    def error(episodes: pd.DataFrame) -> float:
        prepared = engine.prepare(upto, config, episodes)
        fitted = models.FlowModel().fit(prepared.series, 60, flow=prepared.flow)
        future = prepared.future[prepared.future["unique_id"] == "internal_medicine"]
        forecast = fitted.predict(future)["flow"].to_numpy()
        truth = actual.loc["internal_medicine"].reindex(future["ds"]).to_numpy()
        return float(np.mean(forecast - truth))

    # Without the transfers in, the medicine ward's arrivals miss the patients coming from intensive care (about
    # 0.8 a day, staying about 5 days): the forecast falls short by some 4 beds more than with them.
    without, with_transfers = error(known.drop(columns=["transfer_in", "transfer_out"])), error(known)
    assert abs(with_transfers) < abs(without) - 2
