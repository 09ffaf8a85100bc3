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
from threadpoolctl import threadpool_limits

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
        # Additive errors and weekly season, no trend. The full ZZZ search picked additive error and season on
        # every hospital series we tried, at five times the cost; the AZA search picked no trend on HDHI and
        # UIHC (identical forecasts) and moved the demo's ETS MASE by 0.002, at four times the cost (0.10 →
        # 0.03 s per fit on HDHI). A census does not trend for a quarter; a straight line through it would.
        return AutoETS(season_length=weekly, model="ANA", alias=name)
    if name == "mstl":
        # Weekly and yearly seasons by LOESS, the rest by a small ARIMA (on what the holidays left). The LOESS
        # fits every seventh day and interpolates (R's stl jumps a tenth of each window): the yearly season's
        # ~700-day windows at every day cost seconds per series. Against every third day, per fit 0.235 →
        # 0.16 s on the demo, MSTL's MASE within ±0.03 and the selection unchanged on HDHI and UIHC.
        return MSTL(
            season_length=list(season_lengths),
            trend_forecaster=AutoARIMA(season_length=1, max_p=2, max_q=2, approximation=True, alias="trend"),
            stl_kwargs={"seasonal_jump": 7, "trend_jump": 7, "low_pass_jump": 7},
            alias=name,
        )
    if name == "arima":
        # ARIMA errors of the calendar and tourism regression (the regression itself is fitted first). Orders
        # up to (2, d, 2): against (1, d, 1) the selection improved on the demo at h=28 (0.715 → 0.708) and on
        # UIHC at h=91 (0.720 → 0.718), was unchanged on HDHI, and still fits in ~0.1 s per series.
        return AutoARIMA(season_length=1, max_p=2, max_q=2, approximation=True, alias=name)
    raise ValueError(f"unknown statsforecast model {name!r}; known: {', '.join(STATSFORECAST_MODELS)}")


# Days of history before the yearly Fourier terms are used: fitted on less than a year, they are not a season
# but a curve through the level shifts of a few months, and a Poisson link turns its extrapolation into
# forecasts of thousands (HDHI, six months of history: a flow forecast a million times the census).
YEARLY_TERMS_FROM = 365
# Yearly Fourier pairs the features provide, and how many a fit uses. The regression under ARIMA takes one
# pair per half-year of history, up to six: a sharper yearly shape needs more pairs, and more pairs need
# more years to be told from level shifts. On UIHC (three years per fit; a university town's emergency
# department, whose year follows the academic calendar) six pairs against three moved ARIMA's MASE from
# 0.715 to 0.703 at h=28 and the selection from 0.696 to 0.691 (with ten folds 28 days apart: ARIMA 0.732
# → 0.710, the selection 0.739 → 0.703, level with Prophet's ten pairs at 0.700). On HDHI (one to two
# years) the selection did not change. The Poisson GLM of the flow model and the trees keep three.
YEARLY_PAIRS = 6
SMOOTH_PAIRS = 3


def yearly_pair(column: str) -> int:
    """The Fourier pair a yearly term belongs to (`sin2_365` → 2); 0 for any other column."""
    if column.startswith(("sin", "cos")) and column.endswith("_365") and column[3:-4].isdigit():
        return int(column[3:-4])
    return 0


def known_regressors(
    history: pd.DataFrame, pairs: int = SMOOTH_PAIRS, pairs_per_year: float | None = None
) -> list[str]:
    """The regressor columns a fit on `history` may use.

    The yearly terms only once the history spans a year: then `pairs` Fourier pairs, or with
    `pairs_per_year`, that many per year of history up to `pairs`.
    """
    columns = [c for c in history.columns if c not in ("unique_id", "ds", "y")]
    span = (history["ds"].max() - history["ds"].min()).days + 1 if len(history) else 0
    if span < YEARLY_TERMS_FROM:
        pairs = 0
    elif pairs_per_year is not None:
        pairs = min(pairs, int(pairs_per_year * span / 365.25))
    return [c for c in columns if yearly_pair(c) <= pairs]


def _is_seasonal_term(column: str) -> bool:
    # Day-of-week dummies and yearly Fourier terms: MSTL models these seasons itself.
    return column.startswith(("dow_", "sin", "cos"))


def regression_effects(
    history: pd.DataFrame, future: pd.DataFrame, regressors: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Per unit, the least-squares effect of the regressors (with an intercept) in history and future.

    Fitting the regression first and the ARIMA on what it leaves is the two-step form of regression with
    ARIMA errors: AutoARIMA with twenty regressors optimises twenty more parameters for every order it tries
    (seconds per series), on the remainder it fits a handful (a tenth of a second).

    Args:
        history: `unique_id, ds, y` and the regressors, sorted by unit and date.
        future: `unique_id, ds` and the same regressors, sorted by unit and date.
        regressors: the columns to regress on.

    Returns:
        The regression's fitted values for the history rows and its values for the future rows (without
        the intercept, which the remainder keeps: its level is the ARIMA's to follow).
    """
    fitted = np.zeros(len(history))
    ahead = np.zeros(len(future))
    if not regressors:
        return fitted, ahead
    past_units = history["unique_id"].to_numpy()
    future_units = future["unique_id"].to_numpy()
    for unit in pd.unique(past_units):
        rows, later = past_units == unit, future_units == unit
        x = history.loc[rows, list(regressors)].to_numpy(float)
        design = np.column_stack([np.ones(len(x)), x])
        beta = np.linalg.lstsq(design, history.loc[rows, "y"].to_numpy(float), rcond=None)[0]
        fitted[rows] = x @ beta[1:]
        ahead[later] = future.loc[later, list(regressors)].to_numpy(float) @ beta[1:]
    return fitted, ahead


def _run_statsforecast(history: pd.DataFrame, horizon: int, models: list[object], n_jobs: int) -> pd.DataFrame:
    engine = StatsForecast(models=models, freq="D", n_jobs=n_jobs)
    with warnings.catch_warnings():
        # AutoARIMA tries many orders and says so for each whose optimiser stopped early; the order search
        # itself judges them (by AICc), so the note is noise. Any other warning still shows.
        warnings.filterwarnings(
            "ignore", message="possible convergence problem", category=UserWarning, module="statsforecast.arima"
        )
        result = engine.forecast(df=history[["unique_id", "ds", "y"]], h=horizon)
    result = result.reset_index() if "unique_id" not in result.columns else result
    return result.sort_values(["unique_id", "ds"]).reset_index(drop=True)


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

    Seasonal naive and AutoETS see only the series. AutoARIMA and MSTL forecast what a least-squares
    regression on the regressors leaves (MSTL: on the regressors other than its own seasons), and the
    regression's future values are added back.

    Args:
        history: `unique_id, ds, y` and the regressor columns.
        future: `unique_id, ds` and the same regressors for exactly `horizon` days per unit.
        horizon: days to forecast.
        names: which of `STATSFORECAST_MODELS` to run.
        season_lengths: weekly, then yearly season in days. A unit with less than two yearly seasons of
            history gets MSTL with the weekly season only.
        n_jobs: processes statsforecast may use.
        max_history: days of the most recent history to fit on (three years: enough for two yearly seasons;
            older years add cost and a level the unit has left).

    Returns:
        `unique_id, ds` and one column per model.
    """
    future = future.sort_values(["unique_id", "ds"]).reset_index(drop=True)
    out = future[["unique_id", "ds"]].copy()
    if not names:
        return out
    last = history.groupby("unique_id")["ds"].transform("max")
    history = history[history["ds"] > last - pd.Timedelta(days=max_history)]
    history = history.sort_values(["unique_id", "ds"]).reset_index(drop=True)
    # The shortest unit decides the seasons and the columns: all units are fitted together.
    days = history.groupby("unique_id").size()
    seasons = [s for s in season_lengths if 2 * s < days.min()] or [season_lengths[0]]
    shortest_unit = history[history["unique_id"] == days.idxmin()]
    regressors = known_regressors(shortest_unit, pairs=YEARLY_PAIRS, pairs_per_year=2)
    groups = {
        # The regressors each group of models is fitted after: none, all, or all but MSTL's own seasons.
        "plain": [n for n in names if n in ("seasonal_naive", "ets")],
        "arima": [n for n in names if n == "arima"],
        "mstl": [n for n in names if n == "mstl"],
    }
    for group, members in groups.items():
        if not members:
            continue
        used = {"plain": [], "arima": regressors, "mstl": [c for c in regressors if not _is_seasonal_term(c)]}[group]
        fitted, ahead = regression_effects(history, future, used)
        result = _run_statsforecast(
            history.assign(y=history["y"] - fitted),
            horizon,
            [_statsforecast_model(n, seasons) for n in members],
            n_jobs,
        )
        # Aligned on unit and date, not on position: statsforecast makes its own dates.
        aligned = out[["unique_id", "ds"]].merge(result, on=["unique_id", "ds"], how="left")
        for name in members:
            out[name] = aligned[name].to_numpy() + ahead
    return out[["unique_id", "ds", *names]]


def _level_feature(y: pd.Series, horizon: int, window: int = 28) -> pd.Series:
    # The mean of the last `window` days that are known `horizon` days ahead: the recent level the same
    # way for training rows and forecast rows.
    return y.shift(horizon).rolling(window, min_periods=7).mean()


def forecast_gbm(history: pd.DataFrame, future: pd.DataFrame, horizon: int, *, random_state: int = 0) -> np.ndarray:
    """Gradient boosting with Poisson loss on the calendar and tourism features, for one unit.

    Counts are non-negative and their variance grows with their level: the Poisson loss fits that. Trees
    cannot extrapolate a level, so the recent level known `horizon` days ahead is a feature.
    """
    # The yearly terms on any history (trees do not extrapolate them), but only the smooth ones.
    regressors = [c for c in history.columns if c not in ("unique_id", "ds", "y") and yearly_pair(c) <= SMOOTH_PAIRS]
    y = history["y"].astype(float).reset_index(drop=True)
    both = pd.concat([y, pd.Series(np.nan, index=range(len(y), len(y) + horizon))], ignore_index=True)
    level = _level_feature(both, horizon)
    x_hist = np.column_stack([history[regressors].to_numpy(float), level[: len(y)].to_numpy()])
    x_future = np.column_stack([future[regressors].to_numpy(float), level[len(y) :].to_numpy()])
    usable = ~np.isnan(x_hist[:, -1])
    if not usable.any():
        # History shorter than the horizon plus a week: no row knows a level; the recent mean is all there is.
        return np.full(len(future), float(y.tail(28).mean()))
    model = HistGradientBoostingRegressor(
        loss="poisson", max_iter=200, learning_rate=0.05, max_leaf_nodes=15, random_state=random_state
    )
    # One thread: a fit on a thousand rows gains nothing from OpenMP, and with other processes on the cores its
    # threads wait on each other (one fit took 116 s instead of 0.4 s on a busy two-core machine).
    with threadpool_limits(limits=1, user_api="openmp"):
        model.fit(x_hist[usable], y[usable])
        return np.clip(model.predict(x_future), 0, None)


def admissions_rate(
    history: pd.DataFrame, future: pd.DataFrame, years: float = 2.0, recent_days: int = 70
) -> np.ndarray:
    """Expected daily admissions for one unit and admission type: a Poisson GLM on the calendar features, at
    the unit's recent level.

    The GLM learns the calendar from the last `years` of history; its level is then moved to the last
    `recent_days`' actual admissions (their sum over the GLM's fitted sum). Intake shifts for months at a time
    (HDHI: 15 to 27 a day in monthly means) and a two-year fit would forecast the average of those shifts; the
    ratio keeps the calendar's shape and the current level (on HDHI at h=28 the flow model's MASE went from
    0.785 to 0.718; on the demo from 0.718 to 0.713).
    """
    regressors = known_regressors(history)
    recent = history[history["ds"] > history["ds"].max() - pd.Timedelta(days=int(365.25 * years))]
    y = recent["y"].to_numpy(float)
    if y.sum() == 0:
        return np.zeros(len(future))
    x = recent[regressors].to_numpy(float)
    scale = np.maximum(np.abs(x).max(axis=0), 1e-9)
    # Newton–Cholesky: a few exact steps for a couple of dozen features, far faster than L-BFGS here.
    model = PoissonRegressor(alpha=1e-4, max_iter=100, solver="newton-cholesky")
    model.fit(x / scale, y)
    fitted = model.predict(x[-recent_days:] / scale)
    # One admission added to both sums keeps a quiet spell from zeroing the forecast.
    level = (y[-recent_days:].sum() + 1) / (fitted.sum() + 1)
    return model.predict(future[regressors].to_numpy(float) / scale) * level
