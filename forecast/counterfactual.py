"""Counterfactual forecasts: the served model's own forecast with some of its drivers neutralised.

"Why eleven more beds in July?" is answered by asking the fitted model what it would forecast without the
tourists, without the season, without the summer cut of planned care, and so on, for every combination of the
drivers it can tell apart (`forecast.explain` turns those forecasts into beds per driver). The drivers:

- `day_of_week`: the weekly pattern (the plan sizes the week's busiest day); neutral: the average weekday;
- `season`: the yearly terms (winter peaks); neutral: their annual mean (0);
- `holidays`: public holidays, their eves, the days after and bridge days; neutral: an ordinary day;
- `planned_care`: the summer shutdown (ISO weeks 28–32) and the Christmas period; neutral: no cut;
- `tourism`: guest nights; neutral: no tourists;
- `regressors`: the user's other regressors (a football home game); neutral: 0, no event;
- `level`: the recent level against the history's (the flow model's level ratio, ARIMA's and MSTL's trend
  forecast, the trees' recent-level feature, ETS's level); neutral: the history's mean level;
- `in_bed`: the patients in bed at the forecast origin (flow model); neutral: the patients the model's own
  admission rate would have left in bed, so the driver is the news in today's beds, fading as they go home.

A model separates only what it sees: ETS and the seasonal naive forecast see the series alone (their weekly
pattern is the forecast's own, their level carries the season, holidays and tourism); MSTL's weekly and yearly
seasons are its own components; ARIMA, the trees and the flow model see the calendar and tourism columns. A
mean of several models is the mean of their counterfactuals: a driver one member does not see leaves that
member's forecast as it is. `Counterfactuals.drivers` says per unit which members separate which driver, so an
answer can say what it could not split rather than invent it.

Pure: fitted models and frames in, frames out. Aggregates only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from forecast import models
from forecast.backtest import members
from forecast.census import flow_census
from forecast.models import FlowInputs

__all__ = [
    "DRIVERS",
    "FEATURE_DRIVERS",
    "Counterfactuals",
    "coalition_code",
    "coalition_drivers",
    "counterfactual_forecasts",
    "driver_of",
    "weekly_mean",
]

DRIVERS: tuple[str, ...] = (
    "day_of_week",
    "season",
    "holidays",
    "planned_care",
    "tourism",
    "regressors",
    "level",
    "in_bed",
)
# The drivers that are columns of the features (the rest are states of a fitted model).
FEATURE_DRIVERS: tuple[str, ...] = DRIVERS[:6]

HOLIDAY_COLUMNS = ("holiday", "holiday_eve", "after_holiday", "bridge_day")
PLANNED_CARE_COLUMNS = ("summer_vacation", "christmas_period")
# How far back the patients the admission rate would have left in bed are counted (a longer stay is rare).
WARM_START_DAYS = 365


def driver_of(column: str) -> str:
    """The driver a feature column belongs to (`guest_nights` → tourism, `sin2_365` → season, …)."""
    if column.startswith("dow_"):
        return "day_of_week"
    if models.yearly_pair(column):
        return "season"
    if column in HOLIDAY_COLUMNS:
        return "holidays"
    if column in PLANNED_CARE_COLUMNS:
        return "planned_care"
    if column == "guest_nights":
        return "tourism"
    return "regressors"


def coalition_code(drivers: Iterable[str]) -> int:
    """The drivers left on, as a bit mask over `DRIVERS` (bit i for `DRIVERS[i]`)."""
    return sum(1 << DRIVERS.index(d) for d in set(drivers))


def coalition_drivers(code: int) -> tuple[str, ...]:
    """The drivers a coalition code leaves on, in `DRIVERS` order."""
    return tuple(d for i, d in enumerate(DRIVERS) if code >> i & 1)


def _subsets(items: Sequence[str]) -> list[frozenset[str]]:
    return [frozenset(c) for k in range(len(items) + 1) for c in combinations(items, k)]


def _ordered(drivers: Iterable[str]) -> tuple[str, ...]:
    found = set(drivers)
    return tuple(d for d in DRIVERS if d in found)


@dataclass(frozen=True)
class Counterfactuals:
    """Every unit's forecast with each combination of its drivers left on (the others neutral).

    Attributes:
        forecasts: `unique_id, coalition, ds, mean`: `coalition` is the bit mask of the drivers left on
            (`coalition_code`); the coalition of all the unit's drivers is the served point forecast.
        drivers: `unique_id, driver, status, seen_by, members`: per unit and driver, `separated` (every member
            of the chosen model sees it), `partly` (some members: `seen_by`), `not_separated` (the input is
            there but the model does not see it apart from the level) or `no_input` (the data has none: no guest
            nights, no episodes for the patients in bed, no regressors); `members` is the unit's choice.
    """

    forecasts: pd.DataFrame
    drivers: pd.DataFrame

    def players(self, unit: str) -> tuple[str, ...]:
        """The drivers the unit's model separates (fully or partly), in `DRIVERS` order."""
        rows = self.drivers[(self.drivers["unique_id"] == unit) & self.drivers["status"].isin(["separated", "partly"])]
        return _ordered(rows["driver"])


# --- neutral inputs ------------------------------------------------------------------------------------------


def _neutral_matrices(
    frame: pd.DataFrame, columns: Sequence[str], off: frozenset[str], neutral: Mapping[str, float] | None = None
) -> list[np.ndarray]:
    """The feature matrix with the drivers in `off` neutral: one matrix, or seven (every weekday) when the weekly
    pattern is off, whose predictions are averaged (the average weekday, also for models that are not linear).

    `neutral` gives a column's neutral value where it is not 0 (the trees' recent-level feature).
    """
    x = frame[list(columns)].to_numpy(float).copy()
    for j, name in enumerate(columns):
        driver = "level" if neutral and name in neutral else driver_of(name)
        if driver in off and driver != "day_of_week":
            x[:, j] = neutral[name] if neutral and name in neutral else 0.0
    weekdays = [j for j, name in enumerate(columns) if driver_of(name) == "day_of_week"]
    if "day_of_week" not in off or not weekdays:
        return [x]
    variants = []
    for day in range(7):  # Monday is the baseline: every dummy 0
        variant = x.copy()
        variant[:, weekdays] = 0.0
        name = f"dow_{day}"
        if name in columns:
            variant[:, list(columns).index(name)] = 1.0
        variants.append(variant)
    return variants


def _by_subset(
    frame: pd.DataFrame,
    columns: Sequence[str],
    drivers: Sequence[str],
    predict: Callable[[np.ndarray], np.ndarray],
    neutral: Mapping[str, float] | None = None,
) -> dict[frozenset[str], np.ndarray]:
    """`predict` on `frame` for every subset of `drivers` turned off, in one call (stacked matrices)."""
    plan: list[tuple[frozenset[str], int, int]] = []
    stacked: list[np.ndarray] = []
    for off in _subsets(drivers):
        matrices = _neutral_matrices(frame, columns, off, neutral)
        plan.append((off, len(stacked), len(matrices)))
        stacked.extend(matrices)
    if not len(frame):
        return {off: np.zeros(0) for off, _, _ in plan}
    values = np.asarray(predict(np.vstack(stacked)), dtype=float).reshape(len(stacked), len(frame))
    return {off: values[first : first + count].mean(axis=0) for off, first, count in plan}


def _feature_drivers(columns: Iterable[str]) -> list[str]:
    present = {driver_of(c) for c in columns}
    return [d for d in FEATURE_DRIVERS if d in present]


def weekly_mean(values: np.ndarray) -> np.ndarray:
    """The centred 7-day mean of a daily forecast (the ends take the first and last whole week): the forecast
    without its weekly pattern, for models whose pattern is their own (ETS, seasonal naive)."""
    values = np.asarray(values, dtype=float)
    if len(values) < 7:
        return np.full(len(values), values.mean() if len(values) else 0.0)
    means = np.convolve(values, np.ones(7) / 7, mode="valid")  # means[i]: days i..i+6
    centre = np.arange(len(values)) - 3
    return means[np.clip(centre, 0, len(means) - 1)]


# --- per model -----------------------------------------------------------------------------------------------

# Per unit: the drivers a fitted member separates, and its forecast of the unit's future days for every subset
# of them turned off.
UnitCounterfactuals = tuple[tuple[str, ...], dict[frozenset[str], np.ndarray]]


def _fit_window(model: Any, history: pd.DataFrame) -> pd.DataFrame:
    """The rows a statsforecast candidate was fitted on (its most recent `max_history` days per unit)."""
    last = history.groupby("unique_id")["ds"].transform("max")
    return history[history["ds"] > last - pd.Timedelta(days=model.max_history)]


class _StatsForecastMember:
    """ETS, seasonal naive, ARIMA and MSTL: a least-squares regression on some columns plus a series model of
    what it leaves. The regression is linear, so each driver's columns move it alone; the series model's own
    weekly pattern (ETS, seasonal naive: what the 7-day mean leaves out; MSTL: its weekly component), MSTL's
    yearly component and the level are split from its forecast."""

    def __init__(self, model: Any, history: pd.DataFrame, future: pd.DataFrame) -> None:
        self.model = model
        self.total = model.predict(future)[model.alias].to_numpy(float)
        self.seasons = model.season_forecasts(future) if isinstance(model, models.MSTL) else None
        self.window = _fit_window(model, history)

    def unit(self, future: pd.DataFrame, unit: Any) -> UnitCounterfactuals:
        model = self.model
        rows = np.flatnonzero(future["unique_id"].to_numpy() == unit)
        ahead = future.iloc[rows]
        columns = list(model.regressors_)
        beta = model.coef_.get(unit, np.zeros(len(columns)))
        regression = models.regression_values(ahead, columns, {unit: beta})
        series = self.total[rows] - regression  # the series model's forecast of what the regression leaves
        fitted = self.window[self.window["unique_id"] == unit]
        mean_level = float((fitted["y"] - models.regression_values(fitted, columns, {unit: beta})).mean())
        own: list[str] = []
        weekly = np.zeros(len(rows))
        yearly = np.zeros(len(rows))
        if self.seasons is not None:
            own.append("day_of_week")
            weekly = self.seasons["season_7"].to_numpy()[rows]
            if "season_365" in self.seasons:
                own.append("season")
                yearly = self.seasons["season_365"].to_numpy()[rows]
        elif not columns:
            own.append("day_of_week")
            weekly = series - weekly_mean(series)
        trend = series - weekly - yearly
        in_regression = _feature_drivers(columns)
        by_columns = _by_subset(ahead, columns, in_regression, lambda x: x @ beta)
        players = _ordered({*own, *in_regression, "level"})
        out = {}
        for off in _subsets(players):
            value = by_columns[off & frozenset(in_regression)].copy()
            value += mean_level if "level" in off else trend
            if "day_of_week" in own and "day_of_week" not in off:
                value += weekly
            if "season" in own and "season" not in off:
                value += yearly
            out[off] = np.clip(value, 0, None)
        return players, out


class _TreeMember:
    """Gradient boosting: its features neutralised, the recent-level feature at the history's mean level."""

    def __init__(self, model: models.GradientBoosting, history: pd.DataFrame, future: pd.DataFrame) -> None:
        self.model, self.history = model, history

    def unit(self, future: pd.DataFrame, unit: Any) -> UnitCounterfactuals:
        fit = self.model.fits_.get(unit)
        ahead = future[future["unique_id"] == unit]
        if fit is None or fit.model is None:
            constant = np.full(len(ahead), fit.fallback if fit is not None else 0.0)
            return ("level",), {frozenset(): constant, frozenset({"level"}): constant}
        past = self.history[self.history["unique_id"] == unit]
        frame = ahead[fit.regressors].assign(_level=fit.level)
        columns = [*fit.regressors, "_level"]
        drivers = [*_feature_drivers(fit.regressors), "level"]
        tree = fit.model

        def predict(x: np.ndarray) -> np.ndarray:
            return np.clip(tree.predict(x), 0, None)

        values = _by_subset(frame, columns, drivers, predict, neutral={"_level": float(past["y"].mean())})
        return _ordered(drivers), values


class _FlowMember:
    """The census of the flow model: admissions by type (a Poisson GLM on the calendar, at the recent level)
    through the length-of-stay curve, plus the patients in bed at the origin or, with those neutral, the patients
    the same admission rate would have left in bed."""

    def __init__(self, model: models.FlowModel, history: pd.DataFrame, future: pd.DataFrame) -> None:
        self.model, self.history = model, history

    def unit(self, future: pd.DataFrame, unit: Any) -> UnitCounterfactuals:
        ahead = future[future["unique_id"] == unit]
        past = self.history[self.history["unique_id"] == unit].sort_values("ds")
        parts = [self._type(fit, past, ahead) for fit in self.model.fits_[unit].values()]
        players = _ordered({p for seen, _ in parts for p in seen})
        out = {}
        for off in _subsets(players):
            census = sum((values[off & frozenset(seen)] for seen, values in parts), start=np.zeros(len(ahead)))
            out[off] = np.clip(census, 0, None)
        return players, out

    @staticmethod
    def _type(fit: Any, past: pd.DataFrame, ahead: pd.DataFrame) -> UnitCounterfactuals:
        rate = fit.rate
        h = len(ahead)
        survival = np.asarray(fit.survival, dtype=float)
        # The days up to the origin whose admissions could still be in bed (for the expected patients in bed).
        warm = past.tail(min(max(len(survival), 1), WARM_START_DAYS))
        arrivals: dict[frozenset[str], np.ndarray]
        if rate.model_ is None:  # no admissions of this type in the fitted years
            arrivals = {frozenset(): np.zeros(len(warm) + h)}
            drivers: list[str] = []
            level_ratio = 1.0
        else:
            glm, scale, columns = rate.model_, rate.scale_, list(rate.regressors_)
            frame = pd.concat([warm[columns], ahead[columns]], ignore_index=True)
            drivers = _feature_drivers(columns)
            arrivals = _by_subset(frame, columns, drivers, lambda x: glm.predict(x / scale))
            level_ratio = float(rate.level_)
        curve = np.zeros(len(warm) + h)
        curve[: min(len(survival), len(curve))] = survival[: len(curve)]
        out = {}
        for off_features, rates in arrivals.items():
            for level in (True, False):
                scaled = rates * (level_ratio if level else 1.0)
                with_patients = flow_census(scaled[len(warm) :], survival, fit.in_bed)[0]
                # Had everyone in bed arrived at this rate: day t's admissions in bed on day t + m with P(stay > m).
                expected = np.convolve(scaled, curve)[len(warm) : len(warm) + h]
                for patients, census in ((True, with_patients), (False, expected)):
                    neutral = {"level"} if not level else set()
                    if not patients:
                        neutral.add("in_bed")
                    out[frozenset(off_features | neutral)] = census
        return _ordered([*drivers, "level", "in_bed"]), out


class _WholeMember:
    """A model whose drivers are not taken apart here (the global models: one LightGBM across units, forecast a
    day at a time from its own forecasts): its forecast against the unit's mean level, every other driver not
    separated."""

    def __init__(self, model: models.Candidate, history: pd.DataFrame, future: pd.DataFrame) -> None:
        self.total = model.predict(future)[model.alias].to_numpy(float)
        self.mean = history.groupby("unique_id")["y"].mean()

    def unit(self, future: pd.DataFrame, unit: Any) -> UnitCounterfactuals:
        rows = np.flatnonzero(future["unique_id"].to_numpy() == unit)
        level = np.full(len(rows), float(self.mean.get(unit, 0.0)))
        return ("level",), {frozenset(): self.total[rows], frozenset({"level"}): level}


def _member(model: models.Candidate, history: pd.DataFrame, future: pd.DataFrame) -> Any:
    if isinstance(model, models.FlowModel):
        return _FlowMember(model, history, future)
    if isinstance(model, models.GradientBoosting):
        return _TreeMember(model, history, future)
    if isinstance(model, models.SeasonalNaive | models.ETS | models.MSTL | models.ARIMA):
        return _StatsForecastMember(model, history, future)
    return _WholeMember(model, history, future)


# --- the chosen model of every unit --------------------------------------------------------------------------


def counterfactual_forecasts(
    series: pd.DataFrame,
    future: pd.DataFrame,
    choice: pd.Series,
    horizon: int,
    flow: FlowInputs | None = None,
    n_jobs: int = 1,
) -> Counterfactuals:
    """Every unit's chosen model, fitted on all history, forecasting with each combination of its drivers.

    Args:
        series: `unique_id, ds, y` and the regressor columns (`engine.Prepared.series`).
        future: the regressors for the `horizon` days after the data (`engine.Prepared.future`).
        choice: per unit, the chosen model (`ets`, or `arima+ets+flow` for the mean of three).
        horizon: days ahead.
        flow: admissions by type and episodes, for the flow model.
        n_jobs: processes for the statsforecast candidates.

    Returns:
        The counterfactual forecasts and the drivers' status per unit. The coalition of all a unit's drivers
        is the point forecast `engine.forecast_units` serves for the same data and choice.
    """
    future = future.sort_values(["unique_id", "ds"]).reset_index(drop=True)
    units = [u for u in future["unique_id"].unique() if u in choice.index]
    needed = sorted({m for u in units for m in members(str(choice[u]))})
    by_member: dict[str, dict[Any, UnitCounterfactuals]] = {}
    for alias in needed:
        model = models.candidate(alias).fit(series, horizon, flow=flow, n_jobs=n_jobs)
        member = _member(model, series, future)
        mine = [u for u in units if alias in members(str(choice[u]))]
        by_member[alias] = {u: member.unit(future, u) for u in mine}
    inputs = _inputs(series, flow)
    pieces, statuses = [], []
    for unit in units:
        chosen = members(str(choice[unit]))
        parts = [by_member[m][unit] for m in chosen]
        players = _ordered({p for seen, _ in parts for p in seen})
        days = future.loc[future["unique_id"] == unit, "ds"].to_numpy()
        for off in _subsets(players):
            mean = np.mean([values[off & frozenset(seen)] for seen, values in parts], axis=0)
            code = coalition_code(set(players) - off)
            pieces.append(pd.DataFrame({"unique_id": unit, "coalition": code, "ds": days, "mean": mean}))
        for driver in DRIVERS:
            seen_by = [m for m, (seen, _) in zip(chosen, parts, strict=True) if driver in seen]
            if driver not in inputs:
                status = "no_input"
            elif not seen_by:
                status = "not_separated"
            else:
                status = "separated" if len(seen_by) == len(chosen) else "partly"
            statuses.append(
                {
                    "unique_id": unit,
                    "driver": driver,
                    "status": status,
                    "seen_by": "+".join(seen_by),
                    "members": str(choice[unit]),
                }
            )
    forecasts = (
        pd.concat(pieces, ignore_index=True)
        if pieces
        else pd.DataFrame({"unique_id": [], "coalition": [], "ds": [], "mean": []})
    )
    forecasts["coalition"] = forecasts["coalition"].astype(np.int16)
    return Counterfactuals(forecasts, pd.DataFrame(statuses, columns=list(_STATUS_COLUMNS)))


_STATUS_COLUMNS = ("unique_id", "driver", "status", "seen_by", "members")


def _inputs(series: pd.DataFrame, flow: FlowInputs | None) -> set[str]:
    """The drivers the data has an input for."""
    found = set(_feature_drivers([c for c in series.columns if c not in ("unique_id", "ds", "y")]))
    found.add("level")
    if flow is not None:
        found.add("in_bed")
    return found
