"""Quantiles from out-of-sample errors: split-conformal intervals that widen with the horizon.

A model's own intervals are often too wide or too narrow (AutoETS over-covers hospital series). Instead, every
model's quantiles are its point forecast plus the empirical quantiles of its backtest errors at nearby
horizon steps: errors one day ahead are small for a census (most patients are already in bed), errors a
quarter ahead are not.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecast.quantiles import LEVELS, column

__all__ = ["error_quantiles", "apply_error_quantiles", "level_scale", "origin_level", "widen_upper"]


# The central quantiles (10 %–90 %) come from the errors at the nearest steps: a few dozen pin them down,
# and a wider pool would mix in steps whose errors differ. The tails need more errors than that (the 97.5 %
# quantile of 40 errors is one of the largest two), so they pool wider.
CENTRAL = (0.1, 0.9)
MIN_ERRORS_CENTRAL = 20
MIN_ERRORS_TAILS = 80


# Errors are learned relative to the level at each window's origin, so that errors seen at one level set the
# intervals at another: a census twice as high has errors about twice as large (a ward census through an
# epidemic wave moves from tens to thousands). One patient is added to the level so a unit near zero does
# not turn one patient into an infinite relative error.
LEVEL_DAYS = 7
LEVEL_OFFSET = 1.0


def origin_level(history: pd.DataFrame, days: int = LEVEL_DAYS) -> pd.Series:
    """Per unit, the mean of `y` over the last `days` days of `history` (the level at the forecast origin)."""
    last = history.groupby("unique_id")["ds"].transform("max")
    recent = history[history["ds"] > last - pd.Timedelta(days=days)]
    return recent.groupby("unique_id")["y"].mean()


def level_scale(level: np.ndarray | float) -> np.ndarray | float:
    """What errors are divided by (at calibration) and multiplied by (at forecast): the level plus one."""
    return np.asarray(level, dtype=float) + LEVEL_OFFSET


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
