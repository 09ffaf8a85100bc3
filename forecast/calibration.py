"""Quantiles from out-of-sample errors: intervals that hold from the first months of data and react to misses.

Every forecast's quantiles are its point forecast plus a spread. The spread's shape comes from a ruler: the own
predictive distribution of exponential smoothing (statsforecast's AutoETS) fitted at the same origin, which follows
the unit's level, noise and horizon from the first weeks of data. Its size is corrected by the honest errors seen so
far (`standardised errors`: actual − forecast, over the ruler's spread):

- pooled over the units of the backtest (units of one hospital share the shape of their errors; a unit with three
  windows borrows from units with thirty), by horizon step, with a per-unit factor shrunk toward 1 by how many
  windows the unit has;
- with the ruler's own normal quantiles as a prior worth `prior_windows` windows, never narrower than them while
  fewer than `few_windows` windows have matured;
- adapted online to realised misses (adaptive conformal inference, Gibbs & Candès 2021): each tail's spread is
  scaled by exp(θ), and θ moves by `adapt_rate` × (miss − target) for every day that matures, so a run of misses
  widens the next forecasts and a run of hits narrows them.

The backtest replays this window by window exactly as the service runs it (`calibrate_windows`): a window's
quantiles use only the days that had been seen at its origin. The same state at the end of the data calibrates the
forecast beyond it (`Calibration`).

The ruler is the same model for every choice, so standardised errors of windows whose choices differ are
comparable; the chosen model's own distribution (the flow model's Poisson census ignores the uncertainty of its
admissions) is not.
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
    "apply_error_quantiles",
    "apply_spread",
    "calibrate_windows",
    "error_quantiles",
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
    """How the errors correct the ruler (values measured in benchmarks/calibration.py on every shared data set).

    Attributes:
        prior_windows: the weight of the ruler's own normal quantiles, in windows of errors.
        few_windows: below this many matured windows (pooled over units), never narrower than the ruler's own.
        unit_prior_windows: the weight of the pooled spread in a unit's factor, in windows of the unit's own.
        adapt_rate: the step of θ per matured day and miss (0 turns the online adaptation off).
        adapt_limits: bounds of θ (exp(1.5) ≈ 4.5 times the spread at most, exp(−1) ≈ 0.37 at least).
        target: the share of days beyond each tail the adaptation aims at (the 95th and 5th percentiles').
        share: the share of the pooled errors nearest a step that make that step's quantiles.
    """

    prior_windows: float = 1.0
    few_windows: int = 4
    unit_prior_windows: float = 4.0
    adapt_rate: float = 0.02
    adapt_days: int = 91
    adapt_limits: tuple[float, float] = (-1.0, 1.5)
    target: float = 0.05
    share: float = 0.4


@dataclass
class Calibration:
    """Per unit, the multipliers of the ruler's spread by step and quantile level, at the end of the data.

    `multipliers[unit]` has one row per horizon step and one column per level of the grid: the quantile of the
    forecast at step s is `point + spread(s) × multipliers[s]` (`apply_spread`).
    """

    multipliers: dict[str, np.ndarray] = field(default_factory=dict)
    adaptation: dict[str, tuple[float, float]] = field(default_factory=dict)

    def subset(self, units: list[str]) -> Calibration:
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
    # The nearest `take` errors to a step are a contiguous run of the sorted steps: slide it along.
    start = 0
    for step in range(1, horizon + 1):
        while start + take < len(z) and abs(at[start + take] - step) < abs(at[start] - step):
            start += 1
        out[step - 1] = np.quantile(z[start : start + take], GRID)
    return out


def _with_prior(estimate: np.ndarray, windows: int, settings: Settings) -> np.ndarray:
    """The errors' quantiles blended with the ruler's normal ones by weight; never narrower while they are few."""
    blended = (settings.prior_windows * NORMAL + windows * estimate) / (settings.prior_windows + windows)
    if windows < settings.few_windows:
        blended = np.where(UPPER, np.maximum(blended, NORMAL), np.where(LOWER, np.minimum(blended, NORMAL), blended))
    return blended


def _unit_factor(own: np.ndarray, own_windows: int, pooled: np.ndarray, settings: Settings) -> float:
    """How much wider a unit's errors run than the pool's, shrunk toward 1 by its number of windows."""
    if not own_windows or not len(pooled):
        return 1.0
    spread = float(np.mean(np.abs(pooled)))
    if spread <= 0:
        return 1.0
    ratio = float(np.mean(np.abs(own))) / spread
    return (own_windows * ratio + settings.unit_prior_windows) / (own_windows + settings.unit_prior_windows)


def _adapted(multipliers: np.ndarray, theta: tuple[float, float]) -> np.ndarray:
    """Each tail's distance from the median scaled by exp(θ) (upper, lower)."""
    median = multipliers[:, MEDIAN : MEDIAN + 1]
    out = multipliers.copy()
    out[:, UPPER] = median + (multipliers[:, UPPER] - median) * np.exp(theta[0])
    out[:, LOWER] = median + (multipliers[:, LOWER] - median) * np.exp(theta[1])
    return out


def apply_spread(point: np.ndarray, spread: np.ndarray, multipliers: np.ndarray) -> pd.DataFrame:
    """Quantile columns of a forecast: point + spread × multipliers, non-negative and non-crossing."""
    if len(multipliers) < len(point):  # beyond the backtest's horizon: the last step's
        multipliers = np.vstack([multipliers, np.repeat(multipliers[-1:], len(point) - len(multipliers), axis=0)])
    offsets = np.asarray(spread, float)[:, None] * multipliers[: len(point)]
    values = np.sort(np.clip(np.asarray(point, float)[:, None] + offsets, 0, None), axis=1)
    return pd.DataFrame(values, columns=[column(q) for q in LEVELS])


def calibrate_windows(
    windows: pd.DataFrame, horizon: int, settings: Settings = Settings()
) -> tuple[np.ndarray, Calibration]:
    """Quantiles of every backtest window, each from what had been seen at its origin, and the calibration at the
    end of the data.

    Args:
        windows: one row per unit, window and day: `unique_id, cutoff, ds, step, y`, `point` (the honest forecast:
            each window's choice made on the windows before it) and `spread` (the ruler at that origin).
        horizon: the steps each window forecasts.
        settings: the calibration's settings.

    Returns:
        The quantile grid for every row of `windows` (in its order), and the `Calibration` for a forecast made at
        the end of the data, when every window has matured.
    """
    units = windows["unique_id"].astype(str).to_numpy()
    cutoffs = windows["cutoff"].to_numpy()
    days = windows["ds"].to_numpy()
    steps = windows["step"].to_numpy()
    y = windows["y"].to_numpy(float)
    spread = windows["spread"].to_numpy(float)
    point = windows["point"].to_numpy(float)
    z = (y - point) / spread
    quantiles = np.full((len(windows), len(GRID)), np.nan)
    # What each tail promised on every day, to count the misses as they mature.
    promised_hi = np.full(len(windows), np.inf)
    promised_lo = np.full(len(windows), -np.inf)
    hi, lo = LEVELS.index(1 - settings.target), LEVELS.index(settings.target)
    theta: dict[str, np.ndarray] = {}
    applied: dict[str, np.datetime64] = {}
    by_origin = {c: np.flatnonzero(cutoffs == c) for c in np.unique(cutoffs)}
    end = days.max() + np.timedelta64(1, "D")
    for origin in [*sorted(by_origin), end]:
        seen = (days <= origin) & (cutoffs < origin)
        multipliers = _multipliers(z[seen], steps[seen], units[seen], cutoffs[seen], horizon, settings)
        _adapt(theta, applied, origin, seen, units, days, y, promised_hi, promised_lo, horizon, settings)
        if origin == end:
            return quantiles, Calibration(
                {u: _adapted(m, tuple(theta.get(u, (0.0, 0.0)))) for u, m in multipliers(sorted(set(units))).items()},
                {u: (float(t[0]), float(t[1])) for u, t in theta.items()},
            )
        rows = by_origin[origin]
        for unit, m in multipliers(sorted(set(units[rows]))).items():
            mine = rows[units[rows] == unit]
            m = _adapted(m, tuple(theta.get(unit, (0.0, 0.0))))
            values = apply_spread(point[mine], spread[mine], m[steps[mine] - 1]).to_numpy()
            quantiles[mine] = values
            promised_hi[mine] = np.ceil(values[:, hi] - 1e-9)
            promised_lo[mine] = values[:, lo]
    raise AssertionError("unreachable")


def _multipliers(
    z: np.ndarray, steps: np.ndarray, units: np.ndarray, cutoffs: np.ndarray, horizon: int, settings: Settings
):
    """From the errors seen so far: a function giving each unit's multipliers by step (before adaptation)."""
    windows = len(set(zip(units.tolist(), cutoffs.tolist(), strict=True)))
    if windows:
        pooled = _with_prior(step_quantiles(z, steps, horizon, settings.share), windows, settings)
    else:
        pooled = np.tile(NORMAL, (horizon, 1))

    def per_unit(names: list[str]) -> dict[str, np.ndarray]:
        out = {}
        for unit in names:
            own = units == unit
            factor = _unit_factor(z[own], len(set(cutoffs[own].tolist())), z, settings)
            out[unit] = pooled * factor
        return out

    return per_unit


def _adapt(
    theta: dict[str, np.ndarray],
    applied: dict[str, np.datetime64],
    origin: np.datetime64,
    seen: np.ndarray,
    units: np.ndarray,
    days: np.ndarray,
    y: np.ndarray,
    promised_hi: np.ndarray,
    promised_lo: np.ndarray,
    horizon: int,
    settings: Settings,
) -> None:
    """Move each unit's θ by the misses of the days that matured since its last update (in place)."""
    if not settings.adapt_rate:
        return
    low, high = settings.adapt_limits
    for unit in np.unique(units[seen]):
        new = seen & (units == unit) & np.isfinite(promised_hi)
        if unit in applied:
            new &= days > applied[unit]
        state = theta.setdefault(str(unit), np.zeros(2))
        if new.any():
            rate = settings.adapt_rate * min(1.0, settings.adapt_days / horizon)
            state[0] += rate * float(np.sum((y[new] > promised_hi[new]) - settings.target))
            state[1] += rate * float(np.sum((y[new] < promised_lo[new]) - settings.target))
            np.clip(state, low, high, out=state)
        applied[unit] = origin


# --- absolute errors (the pools of units in forecast.hierarchy) ---------------------------------------------

# The central quantiles (10 %–90 %) come from the errors at the nearest steps: a few dozen pin them down,
# and a wider pool would mix in steps whose errors differ. The tails need more errors than that (the 97.5 %
# quantile of 40 errors is one of the largest two), so they pool wider.
CENTRAL = (0.1, 0.9)
MIN_ERRORS_CENTRAL = 20
MIN_ERRORS_TAILS = 80


def _neighbourhood(step: int) -> int:
    # Wider pools further out, where errors change slowly with the step and fewer windows reach.
    return max(3, step // 3)


def _tail_neighbourhood(step: int) -> int:
    return max(3, step // 2)


def _pooled(by_step: dict[int, np.ndarray], step: int, reach: int, min_errors: int) -> np.ndarray:
    """The errors of the backtested steps nearest `step`: at least `2·reach + 1` steps and `min_errors` errors."""
    seen = np.array(sorted(by_step))
    order = seen[np.argsort(np.abs(seen - step), kind="stable")]
    pooled: list[np.ndarray] = []
    for count, s in enumerate(order, start=1):
        pooled.append(by_step[s])
        if count >= 2 * reach + 1 and sum(map(len, pooled)) >= min_errors:
            break
    return np.concatenate(pooled)


def conformal_levels(levels: np.ndarray, n: int) -> np.ndarray:
    """Quantile levels moved outward by the split-conformal finite-sample factor (n + 1) / n.

    The central interval between the empirical q and 1 − q quantiles of n errors covers a new error with
    probability below 1 − 2q; stretching the levels away from the median by (n + 1) / n restores it.
    """
    return np.clip(0.5 + (levels - 0.5) * (n + 1) / n, 0.0, 1.0)


def error_quantiles(errors: pd.DataFrame, horizon: int, levels: tuple[float, ...] = LEVELS) -> np.ndarray:
    """Quantiles of forecast errors (actual − forecast) for each horizon step.

    Args:
        errors: columns `step` (1 = the day after the origin) and `error`.
        horizon: the steps to give quantiles for (1..horizon).
        levels: the quantile levels.

    Returns:
        Array `(horizon, len(levels))`; zeros when there are no errors to learn from.
    """
    out = np.zeros((horizon, len(levels)))
    if errors.empty:
        return out
    by_step = errors.groupby("step")["error"].apply(np.asarray).to_dict()
    grid = np.asarray(levels, dtype=float)
    central = (grid >= CENTRAL[0] - 1e-9) & (grid <= CENTRAL[1] + 1e-9)
    for step in range(1, horizon + 1):
        near = _pooled(by_step, step, _neighbourhood(step), MIN_ERRORS_CENTRAL)
        wide = _pooled(by_step, step, _tail_neighbourhood(step), MIN_ERRORS_TAILS)
        out[step - 1, central] = np.quantile(near, grid[central])
        out[step - 1, ~central] = np.quantile(wide, conformal_levels(grid[~central], len(wide)))
    # Central and tail quantiles come from different pools: keep them in order of level.
    return np.sort(out, axis=1) if np.all(np.diff(grid) > 0) else out


def apply_error_quantiles(point: np.ndarray, quantiles: np.ndarray, levels: tuple[float, ...] = LEVELS) -> pd.DataFrame:
    """Quantile columns for a point forecast of h days: non-negative and non-crossing.

    Args:
        point: the point forecast, length h.
        quantiles: `error_quantiles(...)` for the same h.
        levels: the levels of `quantiles`' columns.
    """
    values = np.clip(point[:, None] + quantiles[: len(point)], 0, None)
    values = np.sort(values, axis=1)
    return pd.DataFrame(values, columns=[column(q) for q in levels])


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
