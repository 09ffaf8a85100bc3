"""Quantiles from out-of-sample errors: intervals that hold from the first months of data and react to misses.

Every forecast's quantiles are its point forecast plus a spread. The spread's shape comes from a ruler: the own
predictive distribution of exponential smoothing (statsforecast's AutoETS) fitted at the same origin, which follows
the unit's level, noise and horizon from its first weeks of data. Its size is corrected by the honest errors seen so
far, standardised by the ruler (actual − forecast, over the ruler's spread):

- pooled over the units of the backtest and over the steps nearest each horizon step: units of one hospital share
  the shape of their errors, so a unit with three windows borrows from units with thirty (the ruler carries each
  unit's own scale);
- with the ruler's normal quantiles as a prior worth `prior_windows` windows, and never narrower than them while
  fewer than `few_windows` windows have been seen;
- centred on the point forecast: the errors' median shifts the quantiles only by n / (n + `bias_prior_windows`);
- adapted online to realised misses (adaptive conformal inference, Gibbs & Candès 2021): each tail's distance from
  the median is scaled by exp(θ), and θ moves by `adapt_rate` × (miss − 5 %) for every day that matures, so a run of
  misses widens the next forecasts and a run of hits narrows them.

The backtest replays this window by window exactly as the service runs it (`calibrate_windows`): a window's
quantiles use only the days seen at its origin, partly matured windows included. The state at the end of the data
calibrates the forecast beyond it (`Calibration`).

The ruler is one model for every choice, so that standardised errors of windows whose choices differ compare; the
chosen model's own distribution does not serve (the flow model's Poisson census leaves out the uncertainty of its
admissions, and the trees have none).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from statistics import NormalDist

import numpy as np
import pandas as pd

from forecast.quantiles import LEVELS, column

__all__ = [
    "Calibration",
    "Settings",
    "apply_spread",
    "calibrate_windows",
    "adapted",
    "pooled_multipliers",
    "spread_from_interval",
    "step_quantiles",
    "widen_upper",
]

GRID = np.asarray(LEVELS, dtype=float)
NORMAL = np.array([NormalDist().inv_cdf(q) for q in LEVELS])
UPPER = GRID > 0.5
LOWER = GRID < 0.5
MEDIAN = int(np.flatnonzero(GRID == 0.5)[0])
# The ruler is read off the reference model's 80 % interval.
RULER_INTERVAL = 80
_Z_RULER = NormalDist().inv_cdf(0.5 + RULER_INTERVAL / 200)
# A spread of under half a patient is no spread: a constant series has none, and its errors would be infinite.
MIN_SPREAD = 0.5


@dataclass(frozen=True)
class Settings:
    """How the errors correct the ruler. The values were chosen on every shared data set under three protocols
    (`benchmarks/calibration.py`); the README has the figures.

    Attributes:
        prior_windows: the weight of the ruler's normal quantiles, in windows of errors (units × windows).
        few_windows: below this many windows seen, never narrower than the ruler's normal quantiles.
        bias_prior_windows: the errors' median moves the quantiles by n / (n + this): from a few windows it is
            noise, and the choice is already the best point forecast seen.
        adapt_rate: the step of θ per matured day and miss (0 turns the online adaptation off).
        adapt_days: beyond this horizon the step shrinks in proportion (a year's window holds no more independent
            misses than a quarter's).
        adapt_limits: bounds of θ (at most exp(1.5) ≈ 4.5 times the spread, at least exp(−1) ≈ 0.37).
        target: the share of days beyond each tail the adaptation aims at (the 95th and 5th percentiles').
        share: the share of the errors, those of the nearest steps, that make a step's quantiles.
    """

    prior_windows: float = 1.0
    few_windows: int = 4
    bias_prior_windows: float = 30.0
    adapt_rate: float = 0.02
    adapt_days: int = 91
    adapt_limits: tuple[float, float] = (-1.0, 1.5)
    target: float = 0.05
    share: float = 0.4


@dataclass
class Calibration:
    """Per unit, the multipliers of the ruler's spread by step and quantile level, at the end of the data.

    `multipliers[unit]` has a row per horizon step and a column per level of the grid: a forecast's quantile at
    step s is `point + spread(s) × multipliers[s]` (`apply_spread`). `adaptation[unit]` is the online state
    (θ of the upper and the lower tail) they include.
    """

    multipliers: dict[str, np.ndarray] = field(default_factory=dict)
    adaptation: dict[str, tuple[float, float]] = field(default_factory=dict)

    def subset(self, units: list[str]) -> Calibration:
        """The calibration of some units only."""
        return Calibration(
            {u: self.multipliers[u] for u in units if u in self.multipliers},
            {u: self.adaptation[u] for u in units if u in self.adaptation},
        )


def spread_from_interval(lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """The ruler: the standard deviation of a normal with the reference model's 80 % interval (at least
    `MIN_SPREAD`)."""
    spread = (np.asarray(upper, float) - np.asarray(lower, float)) / (2 * _Z_RULER)
    return np.maximum(np.nan_to_num(spread, nan=MIN_SPREAD), MIN_SPREAD)


def step_quantiles(errors: np.ndarray, steps: np.ndarray, horizon: int, share: float = 0.4) -> np.ndarray:
    """Quantiles of standardised errors for each step 1..horizon, from the errors of the nearest steps.

    A step's quantiles come from the `share` of all errors whose steps are nearest it (at least 40): the ruler
    already grows with the step, so what is left changes slowly with it, and a wide pool pins the tails down.

    Returns:
        Array `(horizon, len(LEVELS))`.
    """
    order = np.argsort(steps, kind="stable")
    z, at = errors[order], steps[order]
    take = min(len(z), max(40, int(share * len(z))))
    out = np.empty((horizon, len(GRID)))
    # The errors nearest a step are a run of the sorted steps: slide the run along as the step grows.
    start = 0
    for step in range(1, horizon + 1):
        while start + take < len(z) and abs(at[start + take] - step) < abs(at[start] - step):
            start += 1
        out[step - 1] = np.quantile(z[start : start + take], GRID)
    return out


def pooled_multipliers(
    errors: np.ndarray, steps: np.ndarray, windows: int, horizon: int, settings: Settings
) -> np.ndarray:
    """The ruler's multipliers by step from the standardised errors seen so far, before the online adaptation.

    Args:
        errors, steps: the standardised errors seen and their horizon steps.
        windows: how many windows (units × origins) they come from.
        horizon: the steps to give multipliers for.
        settings: the calibration's settings.
    """
    if not windows or not len(errors):
        return np.tile(NORMAL, (horizon, 1))
    seen = step_quantiles(errors, steps, horizon, settings.share)
    median = seen[:, MEDIAN : MEDIAN + 1]
    centred = seen - median + median * windows / (windows + settings.bias_prior_windows)
    blended = (settings.prior_windows * NORMAL + windows * centred) / (settings.prior_windows + windows)
    if windows < settings.few_windows:
        blended = np.where(UPPER, np.maximum(blended, NORMAL), np.where(LOWER, np.minimum(blended, NORMAL), blended))
    return blended


def adapted(multipliers: np.ndarray, upper: np.ndarray | float, lower: np.ndarray | float) -> np.ndarray:
    """Multipliers (rows × levels) with each tail's distance from the median scaled by exp(θ) of its row."""
    median = multipliers[:, MEDIAN : MEDIAN + 1]
    out = multipliers.copy()
    out[:, UPPER] = median + (multipliers[:, UPPER] - median) * np.exp(np.reshape(upper, (-1, 1)))
    out[:, LOWER] = median + (multipliers[:, LOWER] - median) * np.exp(np.reshape(lower, (-1, 1)))
    return out


def apply_spread(point: np.ndarray, spread: np.ndarray, multipliers: np.ndarray) -> pd.DataFrame:
    """Quantile columns of a forecast: point + spread × multipliers (a row per day), non-negative and in order.

    Days beyond the multipliers' rows take the last row's.
    """
    if len(multipliers) < len(point):
        multipliers = np.vstack([multipliers, np.repeat(multipliers[-1:], len(point) - len(multipliers), axis=0)])
    offsets = np.asarray(spread, float)[:, None] * multipliers[: len(point)]
    values = np.sort(np.clip(np.asarray(point, float)[:, None] + offsets, 0, None), axis=1)
    return pd.DataFrame(values, columns=[column(q) for q in LEVELS])


def calibrate_windows(
    windows: pd.DataFrame, horizon: int, settings: Settings | None = None
) -> tuple[np.ndarray, Calibration]:
    """Quantiles of every backtest window, each from what had been seen at its origin, and the calibration at the
    end of the data.

    Args:
        windows: a row per unit, window and day: `unique_id, cutoff, ds, step, y`, `point` (the honest forecast:
            each window's choice made on the windows before it) and `spread` (the ruler at that origin).
        horizon: the steps each window forecasts.
        settings: the calibration's settings (default `Settings()`).

    Returns:
        The quantile grid for every row of `windows` (in its order), and the `Calibration` of a forecast made at
        the end of the data, when every window has matured.
    """
    settings = settings or Settings()
    names, unit = np.unique(windows["unique_id"].astype(str).to_numpy(), return_inverse=True)
    cutoffs = windows["cutoff"].to_numpy()
    days = windows["ds"].to_numpy()
    steps = windows["step"].to_numpy()
    y = windows["y"].to_numpy(float)
    spread = windows["spread"].to_numpy(float)
    point = windows["point"].to_numpy(float)
    z = (y - point) / spread
    window = np.unique(cutoffs, return_inverse=True)[1] * len(names) + unit
    quantiles = np.full((len(windows), len(GRID)), np.nan)
    # What each tail promised on every day (nothing before it is issued), to count the misses as days mature.
    over, under = np.full(len(windows), np.inf), np.full(len(windows), -np.inf)
    hi, lo = LEVELS.index(1 - settings.target), LEVELS.index(settings.target)
    theta = np.zeros((len(names), 2))
    counted = np.zeros(len(windows), dtype=bool)
    rate = settings.adapt_rate * min(1.0, settings.adapt_days / horizon)
    end = days.max() + np.timedelta64(1, "D")
    for origin in [*np.unique(cutoffs), end]:
        seen = (days <= origin) & (cutoffs < origin)
        # The online adaptation: the misses of the days that matured since the last origin.
        new = seen & ~counted & np.isfinite(over)
        if rate and new.any():
            for tail, missed in ((0, y[new] > over[new]), (1, y[new] < under[new])):
                theta[:, tail] += rate * np.bincount(unit[new], missed - settings.target, len(names))
            np.clip(theta, *settings.adapt_limits, out=theta)
        counted |= seen
        pooled = pooled_multipliers(z[seen], steps[seen], len(np.unique(window[seen])), horizon, settings)
        if origin == end:
            return quantiles, Calibration(
                {name: adapted(pooled, theta[i, 0], theta[i, 1]) for i, name in enumerate(names)},
                {name: (float(theta[i, 0]), float(theta[i, 1])) for i, name in enumerate(names)},
            )
        rows = np.flatnonzero(cutoffs == origin)
        m = adapted(pooled[steps[rows] - 1], theta[unit[rows], 0], theta[unit[rows], 1])
        values = apply_spread(point[rows], spread[rows], m).to_numpy()
        quantiles[rows] = values
        over[rows] = np.ceil(values[:, hi] - 1e-9)
        under[rows] = values[:, lo]
    raise AssertionError("the loop returns at the end of the data")


def widen_upper(
    point: np.ndarray, quantiles: pd.DataFrame, factor: float, levels: tuple[float, ...] = LEVELS
) -> pd.DataFrame:
    """The quantile columns with every level above the median moved `factor` times as far above the point.

    For a unit whose intervals did not hold in the backtest: a conservative plan needs more room above the
    forecast, not a different forecast.
    """
    out = quantiles.copy()
    if factor == 1.0:
        return out
    for level in levels:
        if level > 0.5:
            name = column(level)
            values = out[name].to_numpy(float)
            out[name] = np.where(values > point, point + factor * (values - point), values)
    return out
