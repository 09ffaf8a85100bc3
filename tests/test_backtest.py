"""Rolling-origin backtest: cutoffs, honest choice, calibrated quantiles."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast import backtest, engine
from forecast.quantiles import column


def weekly_series(days: int = 600, units: int = 2, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frames = []
    for u in range(units):
        ds = pd.date_range("2022-01-01", periods=days, freq="D")
        weekly = np.array([30, 32, 31, 30, 28, 20, 18], dtype=float)[ds.dayofweek] * (1 + u)
        frames.append(pd.DataFrame({"unique_id": f"u{u}", "ds": ds, "y": rng.poisson(weekly).astype(float)}))
    frame = pd.concat(frames, ignore_index=True)
    frame["weekend"] = (frame["ds"].dt.dayofweek >= 5).astype(float)
    return frame


def run_backtest(
    series: pd.DataFrame,
    horizon: int,
    folds: int,
    step: int,
    candidates: tuple[str, ...] = engine.EngineConfig.candidates,
    lead_windows: int = 3,
) -> backtest.Backtest:
    """`engine.run` on a ready series (its regressor columns as they are, no flow inputs)."""
    config = engine.EngineConfig(
        horizon=horizon, folds=folds, step=step, candidates=tuple(candidates), lead_windows=lead_windows
    )
    return engine.run(engine.Prepared(series, series.iloc[:0].drop(columns="y"), None, "census"), config)


def test_cutoffs_last_at_end_minus_horizon_each_earlier_one_step_before():
    end = pd.Timestamp("2025-12-31")
    got = backtest.cutoffs(end, horizon=28, folds=3, step=91)
    assert got == [
        pd.Timestamp("2025-12-03") - pd.Timedelta(days=182),
        pd.Timestamp("2025-09-03"),
        pd.Timestamp("2025-12-03"),
    ]


def test_backtest_choice_per_fold_uses_only_earlier_windows():
    series = weekly_series()
    result = run_backtest(series, horizon=14, folds=3, step=28, candidates=["seasonal_naive", "ets"])
    assert sorted(result.forecasts["fold"].unique()) == [-2, -1, 0, 1, 2, 3]  # three unscored lead windows
    assert sorted(result.selected["fold"].unique()) == [1, 2, 3]
    scale = result.scores.set_index(["unique_id", "fold"])["scale"].groupby(level=[0, 1]).first()
    for (unit, fold), rows in result.selected.groupby(["unique_id", "fold"]):
        f = result.forecasts
        everyone = f[f["fold"] < fold]
        earlier = everyone[everyone["unique_id"] == unit]
        pooled = backtest._pooled_mase(everyone, scale)
        assert rows["model"].iloc[0] == backtest._choose(earlier, scale.loc[unit], result.models, pooled)
    # Every scored window has h rows per unit; quantiles do not cross.
    assert (result.selected.groupby(["unique_id", "fold"]).size() == 14).all()
    assert (result.selected[column(0.1)] <= result.selected[column(0.5)]).all()
    assert (result.selected[column(0.5)] <= result.selected[column(0.9)]).all()
    cov = backtest.coverage(result.selected, 80)
    assert ((cov > 0.4) & (cov <= 1.0)).all()


def test_windows_still_open_at_a_cutoff_are_not_used_for_its_choice():
    # With h = 28 and cutoffs 14 days apart, the previous window's actuals run past this fold's cutoff.
    series = weekly_series(units=1)
    result = run_backtest(series, horizon=28, folds=3, step=14, candidates=["seasonal_naive", "ets"])
    scale = result.scores.set_index(["unique_id", "fold"])["scale"].groupby(level=[0, 1]).first()
    ends = result.forecasts.groupby("fold")["ds"].max()
    for fold, rows in result.selected.groupby("fold"):
        cutoff = rows["cutoff"].iloc[0]
        usable = ends.index[ends <= cutoff]
        if fold >= 2:  # the previous scored window is still open at this cutoff; lead windows never are
            assert fold - 1 not in usable
        earlier = result.forecasts[result.forecasts["fold"].isin(usable)]
        assert rows["model"].iloc[0] == backtest._choose(earlier, scale.loc["u0"], result.models)


def test_the_best_three_are_combined_when_their_mean_is_better():
    rows = pd.DataFrame(
        {
            "fold": [1, 1, 2, 2, 3, 3],
            "y": 10.0,
            "seasonal_naive": [14.0, 6.0] * 3,
            "a": 12.0,
            "b": 8.0,
            "c": [10.5, 9.0] * 3,
        }
    )
    scale = pd.Series({1: 1.0, 2: 1.0, 3: 1.0})
    # a and b are 2 off either way; their mean with c is 0.17 off: the combination wins.
    assert backtest._choose(rows, scale, ["seasonal_naive", "a", "b", "c"]) == "c+a+b"
    assert backtest.choice_point(rows, "c+a+b").tolist() == pytest.approx([10.1667, 9.6667] * 3, abs=1e-3)
    # Never worse than the baseline.
    worse = rows.assign(a=20.0, b=0.0, c=30.0)
    assert backtest._choose(worse, scale, ["seasonal_naive", "a", "b", "c"]) == "seasonal_naive"


def test_the_best_two_are_hedged_with_ets_when_it_ranks_lower():
    # a, b and c all run high (1.0-1.3 over): their mean does too. ETS alone is worse (2.5 under), but the mean of
    # the best two with it is 0.1 off: the hedge wins, and the combination of the best three would not.
    rows = pd.DataFrame(
        {"fold": [1, 1, 2, 2, 3, 3], "y": 10.0, "seasonal_naive": [14.0, 6.0] * 3, "a": 11.0, "b": 11.2, "c": 11.3}
    ).assign(ets=7.5)
    scale = pd.Series({1: 1.0, 2: 1.0, 3: 1.0})
    candidates = ["seasonal_naive", "ets", "a", "b", "c"]
    assert backtest._choose(rows, scale, candidates) == "a+b+ets"
    assert backtest.choice_point(rows, "a+b+ets") == pytest.approx([9.9] * 6)
    # Where ETS is among the best three there is no separate hedge: the combination already holds it.
    assert backtest._choose(rows.assign(ets=8.95), scale, candidates) == "a+ets+b"


def test_mase_is_scaled_by_the_seasonal_naive_in_sample_error():
    series = weekly_series(units=1)
    result = run_backtest(series, horizon=7, folds=1, step=7, candidates=["seasonal_naive"])
    row = result.scores[result.scores["fold"] == 1].iloc[0]
    history = series[series["ds"] <= result.forecasts.loc[result.forecasts["fold"] == 1, "cutoff"].iloc[0]]
    scale = history["y"].diff(7).abs().mean()
    assert row["mase"] == pytest.approx(row["mae"] / scale)


def test_too_little_history_is_a_clear_error():
    with pytest.raises(ValueError, match="too little history"):
        run_backtest(weekly_series(days=130), horizon=28, folds=4, step=28)


def test_lead_windows_reach_back_about_one_step_between_three_and_six():
    assert backtest.lead_windows_for(horizon=28, step=91) == 6  # 14 days apart
    assert backtest.lead_windows_for(horizon=91, step=91) == 3  # 45 days apart
    assert backtest.lead_windows_for(horizon=56, step=91) == 4
    assert backtest.lead_windows_for(horizon=14, step=14) == 3
    series = weekly_series(units=1)
    result = run_backtest(series, horizon=28, folds=2, step=56, candidates=["seasonal_naive"], lead_windows=5)
    assert sorted(result.forecasts["fold"].unique()) == [-4, -3, -2, -1, 0, 1, 2]


def test_a_unit_leans_on_how_the_candidates_did_across_all_units():
    def unit_rows(unit: str, a_off: float, b_off: float) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "unique_id": unit,
                "fold": [1, 1, 2, 2, 3, 3],
                "y": 10.0,
                "seasonal_naive": 14.0,
                "a": 10.0 + a_off,
                "b": 10.0 + b_off,
            }
        )

    rows = pd.concat([unit_rows("u0", 1.0, 1.2), unit_rows("u1", 3.0, 0.2)], ignore_index=True)
    scale = pd.Series(1.0, index=pd.MultiIndex.from_product([["u0", "u1"], [1, 2, 3]]))
    candidates = ["seasonal_naive", "a", "b"]
    own = rows[rows["unique_id"] == "u0"]
    # Alone, u0 prefers a (1.0 off against 1.2); across both units b is far better (0.7 against 2.0), and three
    # windows of u0's own weigh a third.
    assert backtest._choose(own, scale.loc["u0"], candidates) == "a"
    assert backtest._choose(own, scale.loc["u0"], candidates, backtest._pooled_mase(rows, scale)) == "b"
    # A single unit's pooled score is its own: pooling changes nothing.
    assert backtest._choose(own, scale.loc["u0"], candidates, backtest._pooled_mase(own, scale)) == "a"


def test_few_windows_cannot_rank_many_candidates():
    def rows(windows: int) -> pd.DataFrame:
        folds = np.repeat(np.arange(1, windows + 1), 2)
        # gbm is far better in every window, ets a little better than the seasonal naive.
        return pd.DataFrame({"fold": folds, "y": 10.0, "seasonal_naive": 14.0, "ets": 13.0, "gbm": 10.5})

    candidates = ["seasonal_naive", "ets", "gbm"]
    scale = pd.Series(1.0, index=range(1, 5))
    # No window, or one: exponential smoothing, whatever that window said.
    assert backtest._choose(rows(1).iloc[:0], scale, candidates) == "ets"
    assert backtest._choose(rows(1), scale, candidates) == "ets"
    # Two windows rank the robust candidates only; three rank them all.
    assert backtest._choose(rows(2).assign(ets=15.0), scale, candidates) == "seasonal_naive"
    assert backtest._choose(rows(2), scale, candidates) == "ets"
    assert backtest._choose(rows(3), scale, candidates) == "gbm"
    # Without exponential smoothing among the candidates, the seasonal naive stands in.
    assert backtest._choose(rows(1).drop(columns="ets"), scale, ["seasonal_naive", "gbm"]) == "seasonal_naive"


def test_a_year_ahead_with_no_window_to_choose_on_takes_the_calendar_regression_not_the_trend():
    candidates = ["seasonal_naive", "ets", "arima", "gbm"]
    assert backtest.reference_for(28, candidates) == backtest.reference_for(91, candidates) == "ets"
    assert backtest.reference_for(364, candidates) == "arima"
    assert backtest.reference_for(364, ["seasonal_naive", "ets"]) == "ets"
    assert backtest.reference_for(364, ["seasonal_naive", "gbm"]) == "seasonal_naive"
    # One matured window cannot rank: the reference of the horizon; two rank only it against the seasonal naive.
    one = pd.DataFrame({"fold": [1, 1], "y": 10.0, "seasonal_naive": 12.0, "ets": 10.0, "arima": 11.0, "gbm": 10.0})
    scale = pd.Series({1: 1.0, 2: 1.0})
    assert backtest._choose(one, scale, candidates, horizon=364) == "arima"
    assert backtest._choose(one, scale, candidates, horizon=91) == "ets"
    two = pd.concat([one, one.assign(fold=2)])
    assert backtest._choose(two, scale, candidates, horizon=364) == "arima"  # ETS and gbm are better, not allowed


def test_a_short_history_keeps_the_lead_windows_that_fit_and_still_backtests():
    # 120 days, h = 28, three folds 14 days apart: the first scored origin has 64 days of history, no room
    # for a lead window's 56 days plus its 28-day forecast.
    series = weekly_series(days=120, units=1)
    result = run_backtest(series, horizon=28, folds=3, step=14, candidates=["seasonal_naive", "ets"], lead_windows=6)
    assert sorted(result.forecasts["fold"].unique()) == [1, 2, 3]
    # The first fold had nothing to choose on: exponential smoothing, with its own spread as the intervals.
    first = result.selected[result.selected["fold"] == 1]
    assert (first["model"] == "ets").all()
    assert (first[column(0.95)] > first["mean"]).all()
