"""Candidate models: one class per model, all in one table (`CANDIDATES`, keyed by each model's `alias`).

Every candidate has the shape of a statsforecast or scikit-learn model: its hyper-parameters in `__init__`,
`fit(history, horizon)` returning the candidate with its fitted state in attributes ending in `_`, and
`predict(future)` giving the point forecast for every unit and, where the model has one, its own predictive
distribution on the quantile grid (`predict(future, quantiles=True)`). `history` is the long frame
`unique_id, ds, y` plus regressor columns; `future` holds the same regressors for the `horizon` days to forecast,
sorted by unit and day. The statsforecast candidates fit all units at once (they are vectorised over series);
the global models learn one model across units; the others fit unit by unit. The backtest, the engine, training
and the distributed run all look candidates up here: adding a candidate is adding a class to this file and its
alias to the table.

The intervals the product reports are not made here: `forecast.calibration` derives every candidate's quantiles
from its own out-of-sample errors, so that all candidates are calibrated the same honest way. A candidate's own
distribution is available beside it (as a floor, or to compare).
"""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import PoissonRegressor
from statsforecast import StatsForecast
from statsforecast import models as sf
from threadpoolctl import threadpool_limits

from forecast.census import ADMISSION_TYPES, InBed, flow_census, in_bed_at, transfers_in
from forecast.los import survival_at
from forecast.quantiles import LEVELS, column

__all__ = [
    "LEVEL_DAYS",
    "BASELINE",
    "CANDIDATES",
    "SIMPLICITY",
    "ARIMA",
    "ETS",
    "MSTL",
    "AdmissionsRate",
    "Candidate",
    "FlowInputs",
    "FlowModel",
    "GlobalBoosting",
    "GlobalChanges",
    "GradientBoosting",
    "SeasonalNaive",
    "statsforecast_notes_silenced",
    "admissions_rate",
    "candidate",
    "candidates_for",
    "known_regressors",
    "own_quantile_columns",
    "regression_effects",
]


@dataclass(frozen=True)
class FlowInputs:
    """What the flow model needs beyond the census: admissions by type and the episodes (for stays)."""

    admissions: pd.DataFrame  # unique_id, ds, acute, elective
    episodes: pd.DataFrame  # ward stays: unit, admitted_at, discharged_at, admission_type (+ transfer_in)


class Candidate(ABC):
    """A candidate model: fitted on every unit's history from one origin, it forecasts every unit.

    Class attributes:
        alias: the candidate's name in tables, metrics and the choice (`ets`, `ets+gbm+flow`).
        simplicity: ties in the backtest go to the simpler candidate, the lower number.
        needs_flow: whether it needs `FlowInputs` (admissions by type and episodes); without them it is skipped.
        min_units: the fewest units a fit must see (the global models learn across units); with fewer, skipped.
        has_distribution: whether `predict(..., quantiles=True)` gives its own predictive distribution.
    """

    alias: ClassVar[str]
    simplicity: ClassVar[int]
    needs_flow: ClassVar[bool] = False
    min_units: ClassVar[int] = 1
    has_distribution: ClassVar[bool] = False

    @abstractmethod
    def fit(self, history: pd.DataFrame, horizon: int, *, flow: FlowInputs | None = None, n_jobs: int = 1) -> Self:
        """Fit on every unit's history up to the origin, to forecast `horizon` days.

        Args:
            history: `unique_id, ds, y` and the regressor columns, up to the origin.
            horizon: days to forecast after the origin.
            flow: admissions by type and episodes (the flow model only).
            n_jobs: processes the vectorised candidates may use.
        """

    @abstractmethod
    def predict(self, future: pd.DataFrame, quantiles: bool = False) -> pd.DataFrame:
        """The forecast for the rows of `future` (`unique_id, ds` and the regressors, sorted by unit and day).

        Returns:
            A frame on `future`'s index: the point forecast in the column named `alias`, any parts of it the
            candidate knows (the flow model's `flow_acute`, `flow_elective`) and, with `quantiles` and where
            the candidate has a distribution of its own, `own_quantile_columns(alias)`.
        """


def own_quantile_columns(alias: str) -> list[str]:
    """The columns of a candidate's own predictive distribution on the quantile grid: `ets_q0.05`, …"""
    return [f"{alias}_{column(q)}" for q in LEVELS]


# The central intervals whose bounds are the grid's levels below and above the median (0.005 and 0.995: 99 %).
_INTERVALS: dict[float, int] = {q: round(100 * (1 - 2 * min(q, 1 - q))) for q in LEVELS if q != 0.5}


def _interval_column(alias: str, q: float) -> str:
    """statsforecast's column of a quantile level: `ets-lo-90` for 0.05, `ets-hi-90` for 0.95, `ets` for 0.5."""
    if q == 0.5:
        return alias
    return f"{alias}-{'lo' if q < 0.5 else 'hi'}-{_INTERVALS[q]}"


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


def regression_coefficients(history: pd.DataFrame, regressors: Sequence[str]) -> dict[Any, np.ndarray]:
    """Per unit, the least-squares effect of the regressors (fitted with an intercept, which is left out).

    Fitting the regression first and the ARIMA on what it leaves is the two-step form of regression with
    ARIMA errors: AutoARIMA with twenty regressors optimises twenty more parameters for every order it tries
    (seconds per series), on the remainder it fits a handful (a tenth of a second). The intercept stays in
    the remainder: its level is the ARIMA's to follow.
    """
    coefficients: dict[Any, np.ndarray] = {}
    if not regressors:
        return coefficients
    units = history["unique_id"].to_numpy()
    for unit in pd.unique(units):
        rows = units == unit
        x = history.loc[rows, list(regressors)].to_numpy(float)
        design = np.column_stack([np.ones(len(x)), x])
        coefficients[unit] = np.linalg.lstsq(design, history.loc[rows, "y"].to_numpy(float), rcond=None)[0][1:]
    return coefficients


def regression_values(
    frame: pd.DataFrame, regressors: Sequence[str], coefficients: Mapping[Any, np.ndarray]
) -> np.ndarray:
    """The regression's values on the rows of `frame` (history or future), per unit; zero without regressors."""
    values = np.zeros(len(frame))
    if not regressors:
        return values
    units = frame["unique_id"].to_numpy()
    for unit, beta in coefficients.items():
        rows = units == unit
        values[rows] = frame.loc[rows, list(regressors)].to_numpy(float) @ beta
    return values


def regression_effects(
    history: pd.DataFrame, future: pd.DataFrame, regressors: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Per unit, the regression's fitted values on the history rows and its values on the future rows."""
    coefficients = regression_coefficients(history, regressors)
    return regression_values(history, regressors, coefficients), regression_values(future, regressors, coefficients)


@contextmanager
def statsforecast_notes_silenced() -> Iterator[None]:
    """Silence the notes statsforecast gives on every fit that say nothing about the forecast, by message, category
    and module; any other warning still shows.

    AutoARIMA tries many orders and notes each whose optimiser stopped early ("possible convergence problem");
    the order search itself judges them (by AICc).
    """
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="possible convergence problem", category=UserWarning, module="statsforecast.arima"
        )
        yield


class _StatsForecastCandidate(Candidate):
    """A statsforecast model fitted on all units at once, after a least-squares regression on some regressors.

    Its own distribution is statsforecast's prediction intervals (`level=`) of the remainder, shifted by the
    regression's future values (the regression's own uncertainty is left out).
    """

    has_distribution = True

    def __init__(self, season_lengths: Sequence[int] = (7, 365), max_history: int = 1096) -> None:
        """
        Args:
            season_lengths: weekly, then yearly season in days. With less than two seasons of history in the
                shortest unit, a season is left out.
            max_history: days of the most recent history to fit on (three years: enough for two yearly seasons;
                older years add cost and a level the unit has left).
        """
        self.season_lengths = tuple(season_lengths)
        self.max_history = max_history

    @abstractmethod
    def _model(self, seasons: Sequence[int]) -> Any:
        """The statsforecast model, with the seasons the history allows."""

    def _regressors(self, known: list[str]) -> list[str]:
        """Of the regressors the history allows, the ones the regression before the model uses (default none)."""
        return []

    def fit(self, history: pd.DataFrame, horizon: int, *, flow: FlowInputs | None = None, n_jobs: int = 1) -> Self:
        last = history.groupby("unique_id")["ds"].transform("max")
        history = history[history["ds"] > last - pd.Timedelta(days=self.max_history)]
        history = history.sort_values(["unique_id", "ds"]).reset_index(drop=True)
        # The shortest unit decides the seasons and the columns: all units are fitted together.
        days = history.groupby("unique_id").size()
        self.seasons_ = [s for s in self.season_lengths if 2 * s < days.min()] or [self.season_lengths[0]]
        shortest_unit = history[history["unique_id"] == days.idxmin()]
        self.regressors_ = self._regressors(known_regressors(shortest_unit, pairs=YEARLY_PAIRS, pairs_per_year=2))
        self.coef_ = regression_coefficients(history, self.regressors_)
        remainder = history.assign(y=history["y"] - regression_values(history, self.regressors_, self.coef_))
        self.horizon_ = horizon
        self.engine_ = StatsForecast(models=[self._model(self.seasons_)], freq="D", n_jobs=n_jobs)
        with statsforecast_notes_silenced():
            self.engine_.fit(df=remainder[["unique_id", "ds", "y"]])
        return self

    def predict(self, future: pd.DataFrame, quantiles: bool = False) -> pd.DataFrame:
        with statsforecast_notes_silenced():
            result = self.engine_.predict(
                h=self.horizon_, level=sorted(set(_INTERVALS.values())) if quantiles else None
            )
        result = result.reset_index() if "unique_id" not in result.columns else result
        # Aligned on unit and date, not on position: statsforecast makes its own dates.
        aligned = future[["unique_id", "ds"]].merge(result, on=["unique_id", "ds"], how="left")
        ahead = regression_values(future, self.regressors_, self.coef_)
        out = pd.DataFrame({self.alias: aligned[self.alias].to_numpy() + ahead}, index=future.index)
        if quantiles:
            for q, name in zip(LEVELS, own_quantile_columns(self.alias), strict=True):
                out[name] = aligned[_interval_column(self.alias, q)].to_numpy() + ahead
        return out


class SeasonalNaive(_StatsForecastCandidate):
    """Each weekday as last week's: the baseline every choice must beat."""

    alias = "seasonal_naive"
    simplicity = 0

    def _model(self, seasons: Sequence[int]) -> Any:
        return sf.SeasonalNaive(season_length=seasons[0], alias=self.alias)


class ETS(_StatsForecastCandidate):
    """Exponential smoothing of the series alone, with weekly season: statsforecast's full model search."""

    alias = "ets"
    simplicity = 1

    def _model(self, seasons: Sequence[int]) -> Any:
        # The full search (error, trend and season each chosen by AICc). On hospital series that hold a level it
        # picks additive errors and no trend, the same forecasts as a fixed ANA at three times its cost; on a
        # ward census in an epidemic wave it picks a (damped) trend with multiplicative errors, and a fixed ANA
        # lagged the wave (Italy, h=28: ETS MASE 4.30 → 3.97, the selection 4.96 → 3.98, level with AutoETS).
        return sf.AutoETS(season_length=seasons[0], alias=self.alias)


class MSTL(_StatsForecastCandidate):
    """Weekly and yearly seasons by LOESS, the rest by a small ARIMA, after a regression on the holidays and
    tourism (the regressors other than its own seasons)."""

    alias = "mstl"
    simplicity = 4

    def _regressors(self, known: list[str]) -> list[str]:
        return [c for c in known if not _is_seasonal_term(c)]

    def _model(self, seasons: Sequence[int]) -> Any:
        # The LOESS fits every seventh day and interpolates (R's stl jumps a tenth of each window): the yearly
        # season's ~700-day windows at every day cost seconds per series. Against every third day, per fit
        # 0.235 → 0.16 s on the demo, MSTL's MASE within ±0.03 and the selection unchanged on HDHI and UIHC.
        return sf.MSTL(
            season_length=list(seasons),
            trend_forecaster=sf.AutoARIMA(season_length=1, max_p=2, max_q=2, approximation=True, alias="trend"),
            stl_kwargs={"seasonal_jump": 7, "trend_jump": 7, "low_pass_jump": 7},
            alias=self.alias,
        )

    def season_forecasts(self, future: pd.DataFrame) -> pd.DataFrame:
        """Each season's part of the forecast on the rows of `future`: `season_7` (and `season_365` when the
        history allowed the yearly season), the last cycle of the fitted component repeated, as MSTL forecasts
        it. The rest of the forecast is the trend's and the regression's (`forecast.counterfactual` splits them).
        """
        out = pd.DataFrame(0.0, index=future.index, columns=[f"season_{s}" for s in self.seasons_])
        units = future["unique_id"].to_numpy()
        for i, unit in enumerate(self.engine_.uids):
            rows = np.flatnonzero(units == unit)
            if not rows.size:
                continue
            fitted = self.engine_.fitted_[i, 0].model_
            components = [c for c in fitted.columns if c.startswith("seasonal")]
            last = np.datetime64(self.engine_.last_dates[i])
            steps = (future["ds"].to_numpy()[rows] - last) // np.timedelta64(1, "D")
            for season, name in zip(self.seasons_, components, strict=True):
                cycle = fitted[name].to_numpy(float)[-season:]
                out.iloc[rows, out.columns.get_loc(f"season_{season}")] = cycle[(steps - 1) % season]
        return out


class ARIMA(_StatsForecastCandidate):
    """ARIMA errors of the calendar and tourism regression (the regression itself is fitted first)."""

    alias = "arima"
    simplicity = 3

    def _regressors(self, known: list[str]) -> list[str]:
        return known

    def _model(self, seasons: Sequence[int]) -> Any:
        # Orders up to (2, d, 2): against (1, d, 1) the selection improved on the demo at h=28 (0.715 → 0.708)
        # and on UIHC at h=91 (0.720 → 0.718), was unchanged on HDHI, and still fits in ~0.1 s per series.
        return sf.AutoARIMA(season_length=1, max_p=2, max_q=2, approximation=True, alias=self.alias)


def _unit_rows(future: pd.DataFrame) -> dict[Any, np.ndarray]:
    """Per unit, the positions of its rows in `future`."""
    units = future["unique_id"].to_numpy()
    return {unit: np.flatnonzero(units == unit) for unit in pd.unique(units)}


@dataclass
class _TreeFit:
    model: HistGradientBoostingRegressor | None
    regressors: list[str]
    level: np.ndarray  # the recent-level feature of the forecast rows
    fallback: float  # the recent mean, when no row knows a level


class GradientBoosting(Candidate):
    """Gradient boosting with Poisson loss on the calendar and tourism features, one model per unit.

    Counts are non-negative and their variance grows with their level: the Poisson loss fits that. Trees
    cannot extrapolate a level, so the recent level known `horizon` days ahead is a feature (a direct model:
    fitted for one horizon).
    """

    alias = "gbm"
    simplicity = 5

    def __init__(
        self,
        max_iter: int = 200,
        learning_rate: float = 0.05,
        max_leaf_nodes: int = 15,
        level_window: int = 28,
        random_state: int = 0,
    ) -> None:
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.level_window = level_window
        self.random_state = random_state

    def _level_feature(self, y: pd.Series, horizon: int) -> pd.Series:
        # The mean of the last `level_window` days that are known `horizon` days ahead: the recent level the
        # same way for training rows and forecast rows.
        return y.shift(horizon).rolling(self.level_window, min_periods=7).mean()

    def fit(self, history: pd.DataFrame, horizon: int, *, flow: FlowInputs | None = None, n_jobs: int = 1) -> Self:
        self.fits_: dict[Any, _TreeFit] = {}
        for unit, past in history.groupby("unique_id", sort=False):
            self.fits_[unit] = self._fit_unit(past, horizon)
        return self

    def _fit_unit(self, history: pd.DataFrame, horizon: int) -> _TreeFit:
        # The yearly terms on any history (trees do not extrapolate them), but only the smooth ones.
        regressors = [
            c for c in history.columns if c not in ("unique_id", "ds", "y") and yearly_pair(c) <= SMOOTH_PAIRS
        ]
        y = history["y"].astype(float).reset_index(drop=True)
        both = pd.concat([y, pd.Series(np.nan, index=range(len(y), len(y) + horizon))], ignore_index=True)
        level = self._level_feature(both, horizon)
        x_hist = np.column_stack([history[regressors].to_numpy(float), level[: len(y)].to_numpy()])
        fallback = float(y.tail(28).mean())
        usable = ~np.isnan(x_hist[:, -1])
        if not usable.any():
            # History shorter than the horizon plus a week: no row knows a level; the recent mean is all there is.
            return _TreeFit(None, regressors, level[len(y) :].to_numpy(), fallback)
        model = HistGradientBoostingRegressor(
            loss="poisson",
            max_iter=self.max_iter,
            learning_rate=self.learning_rate,
            max_leaf_nodes=self.max_leaf_nodes,
            random_state=self.random_state,
        )
        # One thread: a fit on a thousand rows gains nothing from OpenMP, and with other processes on the cores
        # its threads wait on each other (one fit took 116 s instead of 0.4 s on a busy two-core machine).
        with threadpool_limits(limits=1, user_api="openmp"):
            model.fit(x_hist[usable], y[usable])
        return _TreeFit(model, regressors, level[len(y) :].to_numpy(), fallback)

    def predict(self, future: pd.DataFrame, quantiles: bool = False) -> pd.DataFrame:
        point = np.full(len(future), np.nan)
        for unit, rows in _unit_rows(future).items():
            fit = self.fits_.get(unit)
            if fit is None:
                continue
            if fit.model is None:
                point[rows] = fit.fallback
                continue
            x_future = np.column_stack([future.iloc[rows][fit.regressors].to_numpy(float), fit.level])
            with threadpool_limits(limits=1, user_api="openmp"):
                point[rows] = np.clip(fit.model.predict(x_future), 0, None)
        return pd.DataFrame({self.alias: point}, index=future.index)


class GlobalBoosting(Candidate):
    """One LightGBM model fitted on every unit's history at once (Nixtla's mlforecast), the approach of the M5
    winners: a young unit borrows the calendar, holiday and tourism effects the other units' histories show.

    Units of different size share the model through their series over each unit's recent level (the mean of the
    last `level_window` days before the origin); the forecast is scaled back by it. The unit is a categorical
    feature, so a unit's own shape is learned where its history shows one. The model reads the last days and
    weeks of the series and is forecast recursively, a day at a time, its own forecasts standing in for the days
    it has not seen.

    The only candidates whose forecast of a unit depends on the other units' series: a run split into chunks of
    units (`engine.split_prepared`, at most `engine.UNITS_PER_PARTITION` units each) fits one per chunk. With one
    or two units it is a local model, and a weaker one than `gbm` (HDHI at h=28: 0.99 against 0.71 for MSTL, the
    selection 0.639 → 0.679 with it): it needs `min_units` units.
    """

    alias = "global"
    simplicity = 6
    min_units = 3

    def __init__(
        self,
        n_estimators: int = 300,
        learning_rate: float = 0.05,
        num_leaves: int = 15,
        min_child_samples: int = 20,
        objective: str = "l1",
        lags: Sequence[int] = (1, 2, 3, 4, 5, 6, 7, 14, 21, 28),
        windows: Sequence[int] = (7, 28),
        differences: Sequence[int] = (),
        level_window: int = 28,
        max_history: int = 1096,
        random_state: int = 0,
    ) -> None:
        """
        Args:
            n_estimators, learning_rate, num_leaves, min_child_samples, objective: LightGBM's. The absolute
                loss (`l1`) is the one MASE scores.
            lags: days back of the series the model reads (forecast recursively, day by day).
            windows: rolling means of the series up to yesterday, in days.
            differences: model the series' changes over these many days (mlforecast's `Differences`) rather than
                its levels; none by default (`GlobalChanges` takes the daily changes).
            level_window: days of the recent level each unit's series is divided by.
            max_history: days of the most recent history to fit on.
        """
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.objective = objective
        self.lags = tuple(lags)
        self.windows = tuple(windows)
        self.differences = tuple(differences)
        self.level_window = level_window
        self.max_history = max_history
        self.random_state = random_state

    def fit(self, history: pd.DataFrame, horizon: int, *, flow: FlowInputs | None = None, n_jobs: int = 1) -> Self:
        from lightgbm import LGBMRegressor
        from mlforecast import MLForecast
        from mlforecast.lag_transforms import RollingMean
        from mlforecast.target_transforms import Differences

        last = history.groupby("unique_id")["ds"].transform("max")
        history = history[history["ds"] > last - pd.Timedelta(days=self.max_history)]
        history = history.sort_values(["unique_id", "ds"]).reset_index(drop=True)
        self.regressors_ = [c for c in known_regressors(history) if not c.startswith("dow_")]
        self.recent_ = history.groupby("unique_id", sort=False)["y"].apply(lambda y: y.tail(self.level_window).mean())
        self.level_ = self.recent_.clip(lower=1.0)
        self.horizon_ = horizon
        self.engine_: Any = None
        # Rows that know every lag (and difference); with too few of them over all units, the recent level is
        # all there is to forecast with.
        needed = max(self.lags, default=0) + sum(self.differences)
        if (history.groupby("unique_id").size() - needed).clip(lower=0).sum() < 2 * self.min_child_samples:
            return self
        self.units_ = pd.CategoricalDtype(sorted(self.level_.index.astype(str)))
        frame = history[["unique_id", "ds", *self.regressors_]].copy()
        frame["y"] = history["y"].to_numpy(float) / history["unique_id"].map(self.level_).to_numpy(float)
        frame["unit"] = history["unique_id"].astype(str).astype(self.units_)
        transforms: dict[int, list[Any]] = {1: [RollingMean(w, min_samples=min(w, 7)) for w in self.windows]}
        model = LGBMRegressor(
            n_estimators=self.n_estimators,
            learning_rate=self.learning_rate,
            num_leaves=self.num_leaves,
            min_child_samples=self.min_child_samples,
            objective=self.objective,
            random_state=self.random_state,
            n_jobs=1,
            deterministic=True,
            force_row_wise=True,
            verbose=-1,
        )
        self.engine_ = MLForecast(
            models={self.alias: model},
            freq="D",
            lags=list(self.lags),
            lag_transforms=transforms if self.windows else None,
            date_features=["dayofweek"],
            num_threads=1,
            target_transforms=[Differences(list(self.differences))] if self.differences else None,
        )
        with warnings.catch_warnings():
            # A unit too young for the longest lag adds no training rows, yet is forecast (its lags are missing).
            warnings.filterwarnings("ignore", message="The following series were dropped completely")
            self.engine_.fit(frame, static_features=["unit"], dropna=True, validate_data=False)
        return self

    def predict(self, future: pd.DataFrame, quantiles: bool = False) -> pd.DataFrame:
        if self.engine_ is None:
            return pd.DataFrame({self.alias: future["unique_id"].map(self.recent_).to_numpy(float)}, index=future.index)
        grid = None
        if self.regressors_:
            # Every unit's next `horizon` days, whatever rows `future` has (a missing day's regressors are unknown).
            grid = self.engine_.make_future_dataframe(self.horizon_).merge(
                future[["unique_id", "ds", *self.regressors_]], on=["unique_id", "ds"], how="left"
            )
        predicted = self.engine_.predict(self.horizon_, X_df=grid)
        predicted[self.alias] *= predicted["unique_id"].map(self.level_).to_numpy(float)
        aligned = future[["unique_id", "ds"]].merge(predicted, on=["unique_id", "ds"], how="left")
        return pd.DataFrame({self.alias: aligned[self.alias].clip(lower=0).to_numpy()}, index=future.index)


class GlobalChanges(GlobalBoosting):
    """The global model of the day-to-day changes of each unit's series (over its recent level): what the units'
    recent moves say about the next ones, summed day by day. It follows a wave or a climb that the model of
    levels, which cannot forecast outside the levels it was fitted on, lags; on a steady census its summed
    changes drift, the more the longer the horizon (the backtest's choice weighs that per unit)."""

    alias = "global_diff"
    simplicity = 7

    def __init__(self, differences: Sequence[int] = (1,), **params: Any) -> None:
        super().__init__(differences=differences, **params)


# The flow model's admissions follow the level of this many recent days (the nowcast rolls the same rule on).
LEVEL_DAYS = 70


class AdmissionsRate:
    """Expected daily admissions of one unit and admission type: a Poisson GLM on the calendar features, at
    the unit's recent level.

    The GLM learns the calendar from the last `years` of history; its level is then moved to the last
    `recent_days`' actual admissions (their sum over the GLM's fitted sum). Intake shifts for months at a time
    (HDHI: 15 to 27 a day in monthly means) and a two-year fit would forecast the average of those shifts; the
    ratio keeps the calendar's shape and the current level (on HDHI at h=28 the flow model's MASE went from
    0.785 to 0.718; on the demo from 0.718 to 0.713).
    """

    def __init__(self, years: float = 2.0, recent_days: int = LEVEL_DAYS) -> None:
        self.years = years
        self.recent_days = recent_days

    def fit(self, history: pd.DataFrame) -> Self:
        """Fit on one unit's `ds, y` (admissions of one type) and calendar columns."""
        self.regressors_ = known_regressors(history)
        recent = history[history["ds"] > history["ds"].max() - pd.Timedelta(days=int(365.25 * self.years))]
        y = recent["y"].to_numpy(float)
        self.model_: PoissonRegressor | None = None
        if y.sum() == 0:
            return self
        x = recent[self.regressors_].to_numpy(float)
        self.scale_ = np.maximum(np.abs(x).max(axis=0), 1e-9)
        # Newton–Cholesky: a few exact steps for a couple of dozen features, far faster than L-BFGS here.
        self.model_ = PoissonRegressor(alpha=1e-4, max_iter=100, solver="newton-cholesky")
        self.model_.fit(x / self.scale_, y)
        fitted = self.model_.predict(x[-self.recent_days :] / self.scale_)
        # One admission added to both sums keeps a quiet spell from zeroing the forecast.
        self.level_ = (y[-self.recent_days :].sum() + 1) / (fitted.sum() + 1)
        return self

    def predict(self, future: pd.DataFrame) -> np.ndarray:
        """Expected admissions on the days of `future`."""
        if self.model_ is None:
            return np.zeros(len(future))
        return self.model_.predict(future[self.regressors_].to_numpy(float) / self.scale_) * self.level_


def admissions_rate(
    history: pd.DataFrame, future: pd.DataFrame, years: float = 2.0, recent_days: int = LEVEL_DAYS
) -> np.ndarray:
    """`AdmissionsRate` fitted on `history`, for the days of `future`."""
    return AdmissionsRate(years, recent_days).fit(history).predict(future)


@dataclass
class _TypeFit:
    rate: AdmissionsRate
    survival: np.ndarray
    in_bed: InBed


# Columns that do not drive an admission type: planned admissions follow the hospital's schedule, not the
# tourists; the planned-care shutdowns (summer, Christmas) cut planned admissions, not acute ones. Left in, a
# type's rate gives them whatever effect their overlap with the calendar suggests: on the demo hospital the
# acute rate put a third of the summer tourists on the summer shutdown, and the planned rate a 30 % cut on
# tourism (offset by its yearly terms).
NOT_DRIVING: dict[str, tuple[str, ...]] = {
    "acute": ("summer_vacation", "christmas_period"),
    "elective": ("guest_nights",),
}


class FlowModel(Candidate):
    """The census as a flow: forecast admissions of each type × their length of stay, plus the patients in bed.

    Its own distribution: the census of the M_t/G/∞ queue (`census.flow_census`) is a sum of independent Poisson
    and Bernoulli counts, taken here as normal with that mean and variance (of both admission types together).
    """

    alias = "flow"
    simplicity = 2
    needs_flow = True
    has_distribution = True

    def __init__(self, years: float = 2.0, recent_days: int = LEVEL_DAYS) -> None:
        self.years = years
        self.recent_days = recent_days

    def fit(self, history: pd.DataFrame, horizon: int, *, flow: FlowInputs | None = None, n_jobs: int = 1) -> Self:
        if flow is None:
            raise ValueError("the flow model needs admissions by type and the episodes (census from episodes)")
        self.fits_: dict[Any, dict[str, _TypeFit]] = {}
        regressors = [c for c in history.columns if c not in ("unique_id", "ds", "y")]
        for unit, past in history.groupby("unique_id", sort=False):
            origin = past["ds"].max()
            admitted = flow.admissions[(flow.admissions["unique_id"] == unit) & (flow.admissions["ds"] <= origin)]
            stays = flow.episodes[flow.episodes["unit"] == str(unit)]
            by_type = {}
            for kind in ADMISSION_TYPES:
                of_kind = stays[stays["admission_type"] == kind]
                # A unit's arrivals are its admissions plus its transfers in: the stays its curve is drawn from.
                counts = admitted[["unique_id", "ds", kind]].rename(columns={kind: "y"})
                counts["y"] = counts["y"] + transfers_in(of_kind, counts["ds"])
                own = [c for c in regressors if c not in NOT_DRIVING.get(kind, ())]
                rate = AdmissionsRate(self.years, self.recent_days).fit(counts.merge(past[["ds", *own]], on="ds"))
                by_type[kind] = _TypeFit(rate, survival_at(of_kind, origin), in_bed_at(of_kind, origin))
            self.fits_[unit] = by_type
        return self

    def predict(self, future: pd.DataFrame, quantiles: bool = False) -> pd.DataFrame:
        parts = {kind: np.full(len(future), np.nan) for kind in ADMISSION_TYPES}
        variance = np.full(len(future), np.nan)
        for unit, rows in _unit_rows(future).items():
            if unit not in self.fits_:
                continue
            ahead = future.iloc[rows]
            variance[rows] = 0.0
            for kind, fit in self.fits_[unit].items():
                mean, var = flow_census(fit.rate.predict(ahead), fit.survival, fit.in_bed)
                parts[kind][rows] = mean
                variance[rows] += var
        acute, elective = (parts[kind] for kind in ADMISSION_TYPES)
        out = pd.DataFrame(
            {self.alias: acute + elective, f"{self.alias}_acute": acute, f"{self.alias}_elective": elective},
            index=future.index,
        )
        if quantiles:
            sd = np.sqrt(variance)
            for q, name in zip(LEVELS, own_quantile_columns(self.alias), strict=True):
                out[name] = out[self.alias].to_numpy() + NormalDist().inv_cdf(q) * sd
        return out


# The table of candidates, in the order of the forecast columns.
CANDIDATES: dict[str, type[Candidate]] = {
    model.alias: model
    for model in (SeasonalNaive, ETS, MSTL, ARIMA, GradientBoosting, FlowModel, GlobalBoosting, GlobalChanges)
}
BASELINE = SeasonalNaive.alias
# Ties in the backtest go to the simpler model: lower rank is simpler.
SIMPLICITY = {alias: model.simplicity for alias, model in CANDIDATES.items()}


def candidates_for(names: Sequence[str]) -> tuple[str, ...]:
    """Candidate aliases, checked against the table.

    Raises:
        ValueError: an alias that is not a candidate (the message lists the known ones).
    """
    unknown = [n for n in names if n not in CANDIDATES]
    if unknown:
        raise ValueError(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(CANDIDATES)}")
    return tuple(names)


def candidate(alias: str, **params: Any) -> Candidate:
    """A new, unfitted candidate by its alias, with hyper-parameters other than the defaults in `params`."""
    return CANDIDATES[candidates_for([alias])[0]](**params)
