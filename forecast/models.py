"""Candidate models: each turns a unit's history (and known future regressors) into point forecasts.

All candidates share one shape: `fit_predict(history, future) -> np.ndarray` per unit, where `history` is the
long frame `unique_id, ds, y` plus regressor columns and `future` holds the same regressors for the h days to
forecast. The statsforecast models run for all units at once (they are vectorised over series); the others
per unit. Intervals are not made here: `forecast.calibration` derives every model's quantiles from its own
out-of-sample errors, so that all candidates are calibrated the same honest way.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import PoissonRegressor
from statsforecast import StatsForecast
from statsforecast.models import MSTL, AutoARIMA, AutoETS, SeasonalNaive

__all__ = [
    "BASELINE",
    "STATSFORECAST_MODELS",
    "CANDIDATES",
    "SIMPLICITY",
    "forecast_statsforecast",
    "forecast_gbm",
    "admissions_rate",
]

BASELINE = "seasonal_naive"
STATSFORECAST_MODELS = ("seasonal_naive", "ets", "mstl", "arima")
CANDIDATES = (*STATSFORECAST_MODELS, "gbm", "flow")
# Ties in the backtest go to the simpler model: lower rank is simpler.
SIMPLICITY = {"seasonal_naive": 0, "ets": 1, "flow": 2, "arima": 3, "mstl": 4, "gbm": 5}


def _statsforecast_model(name: str, season_lengths: Sequence[int]) -> object:
    weekly = season_lengths[0]
    if name == "seasonal_naive":
        return SeasonalNaive(season_length=weekly, alias=name)
    if name == "ets":
        # AutoETS ignores regressors; it is the strong plain-weekly-season candidate.
        return AutoETS(season_length=weekly, alias=name)
    if name == "mstl":
        # Weekly and yearly seasons by LOESS; the deseasonalised rest by an ARIMA on the regressors.
        return MSTL(
            season_length=list(season_lengths),
            trend_forecaster=AutoARIMA(season_length=1, max_p=2, max_q=2, approximation=True, alias="trend"),
            alias=name,
        )
    if name == "arima":
        # Regression on the calendar and tourism features with ARIMA errors.
        # The CSS approximation while searching orders: the exact likelihood on 1,000+ days with ~20
        # regressors costs seconds per candidate order.
        return AutoARIMA(season_length=1, max_p=2, max_q=2, approximation=True, alias=name)
    raise ValueError(f"unknown statsforecast model {name!r}; known: {', '.join(STATSFORECAST_MODELS)}")


def forecast_statsforecast(
    history: pd.DataFrame,
    future: pd.DataFrame,
    horizon: int,
    names: Sequence[str],
    season_lengths: Sequence[int] = (7, 365),
    n_jobs: int = 1,
    max_history: int = 1096,
) -> pd.DataFrame:
    """Point forecasts of the statsforecast candidates for every unit.

    Args:
        history: `unique_id, ds, y` and the regressor columns (every other column is one; statsforecast
            treats each extra column as a regressor).
        future: `unique_id, ds` and the same regressors for exactly `horizon` days per unit.
        horizon: days to forecast.
        names: which of `STATSFORECAST_MODELS` to run.
        season_lengths: weekly, then yearly season in days. A unit with less than two yearly seasons of
            history gets MSTL with the weekly season only.
        n_jobs: processes statsforecast may use.
        max_history: days of the most recent history to fit on (three years: enough for two yearly seasons;
            older years add cost — AutoARIMA on five years of daily data with twenty regressors takes ten times
            as long — and a level the unit has left).

    Returns:
        `unique_id, ds` and one column per model.
    """
    if not names:
        return future[["unique_id", "ds"]].copy()
    last = history.groupby("unique_id")["ds"].transform("max")
    history = history[history["ds"] > last - pd.Timedelta(days=max_history)]
    shortest = int(history.groupby("unique_id").size().min())
    seasons = [s for s in season_lengths if 2 * s < shortest] or [season_lengths[0]]
    models = [_statsforecast_model(n, seasons) for n in names]
    regressors = [c for c in history.columns if c not in ("unique_id", "ds", "y")]
    engine = StatsForecast(models=models, freq="D", n_jobs=n_jobs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = engine.forecast(
            df=history,
            h=horizon,
            X_df=future[["unique_id", "ds", *regressors]] if regressors else None,
        )
    result = result.reset_index() if "unique_id" not in result.columns else result
    return result[["unique_id", "ds", *names]]


def _level_feature(y: pd.Series, horizon: int, window: int = 28) -> pd.Series:
    # The mean of the last `window` days that are known `horizon` days ahead: the recent level the same
    # way for training rows and forecast rows.
    return y.shift(horizon).rolling(window, min_periods=7).mean()


def forecast_gbm(history: pd.DataFrame, future: pd.DataFrame, horizon: int, *, random_state: int = 0) -> np.ndarray:
    """Gradient boosting with Poisson loss on the calendar and tourism features, for one unit.

    Counts are non-negative and their variance grows with their level: the Poisson loss fits that. Trees
    cannot extrapolate a level, so the recent level known `horizon` days ahead is a feature.
    """
    regressors = [c for c in history.columns if c not in ("unique_id", "ds", "y")]
    y = history["y"].astype(float).reset_index(drop=True)
    both = pd.concat([y, pd.Series(np.nan, index=range(len(y), len(y) + horizon))], ignore_index=True)
    level = _level_feature(both, horizon)
    x_hist = np.column_stack([history[regressors].to_numpy(float), level[: len(y)].to_numpy()])
    x_future = np.column_stack([future[regressors].to_numpy(float), level[len(y) :].to_numpy()])
    usable = ~np.isnan(x_hist[:, -1])
    model = HistGradientBoostingRegressor(
        loss="poisson", max_iter=200, learning_rate=0.05, max_leaf_nodes=15, random_state=random_state
    )
    model.fit(x_hist[usable], y[usable])
    return np.clip(model.predict(x_future), 0, None)


def admissions_rate(history: pd.DataFrame, future: pd.DataFrame, years: float = 2.0) -> np.ndarray:
    """Expected daily admissions for one unit and admission type (a Poisson GLM on the calendar features).

    Only the last `years` of history are used, so the level follows the unit's recent intake.
    """
    regressors = [c for c in history.columns if c not in ("unique_id", "ds", "y")]
    recent = history[history["ds"] > history["ds"].max() - pd.Timedelta(days=int(365.25 * years))]
    if recent["y"].sum() == 0:
        return np.zeros(len(future))
    x = recent[regressors].to_numpy(float)
    scale = np.maximum(np.abs(x).max(axis=0), 1e-9)
    # Newton–Cholesky: a few exact steps for a couple of dozen features, far faster than L-BFGS here.
    model = PoissonRegressor(alpha=1e-4, max_iter=100, solver="newton-cholesky")
    model.fit(x / scale, recent["y"].to_numpy(float))
    return model.predict(future[regressors].to_numpy(float) / scale)
