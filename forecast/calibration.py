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

__all__ = ["error_quantiles", "apply_error_quantiles"]


# Enough errors that the 2.5 % and 97.5 % quantiles are more than the extremes of a handful.
MIN_ERRORS = 40


def _neighbourhood(step: int) -> int:
    # Wider pools further out, where errors change slowly with the step and fewer windows reach.
    return max(3, step // 3)


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
    seen = np.array(sorted(by_step))
    for step in range(1, horizon + 1):
        # The nearest backtested steps, at least a neighbourhood's worth and enough errors for the tails.
        order = seen[np.argsort(np.abs(seen - step), kind="stable")]
        pooled: list[np.ndarray] = []
        for count, s in enumerate(order, start=1):
            pooled.append(by_step[s])
            if count >= 2 * _neighbourhood(step) + 1 and sum(map(len, pooled)) >= MIN_ERRORS:
                break
        out[step - 1] = np.quantile(np.concatenate(pooled), levels)
    return out


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
