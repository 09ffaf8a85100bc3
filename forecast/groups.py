"""Sums, means and maxima over contiguous groups of rows: the reductions of every plan table, on arrays.

Plans (per unit and week), pools and scenarios all reduce days to periods with these. Sums are compensated
(Kahan), in row order, as pandas' groupby sums and means are, so a table made here and one made with pandas
agree to the last digit.
"""

from __future__ import annotations

import numpy as np

__all__ = ["group_max", "group_mean", "group_starts", "group_sum"]


def group_starts(*keys: np.ndarray) -> np.ndarray:
    """The first row of each run of equal keys (rows of a group must be contiguous)."""
    n = len(keys[0]) if keys else 0
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    same = np.ones(n - 1, dtype=bool)
    for key in keys:
        same &= np.asarray(key)[1:] == np.asarray(key)[:-1]
    return np.flatnonzero(np.concatenate([[True], ~same]))


def _sums(values: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Compensated sums skipping NaN, and the count of values summed, per group."""
    values = np.asarray(values, dtype=float)
    counts = np.diff(np.append(starts, len(values)))
    sums, compensation, seen = np.zeros(len(starts)), np.zeros(len(starts)), np.zeros(len(starts))
    for k in range(int(counts.max(initial=0))):
        groups = np.flatnonzero(counts > k)
        value = values[starts[groups] + k]
        known = ~np.isnan(value)
        groups, value = groups[known], value[known]
        y = value - compensation[groups]
        t = sums[groups] + y
        error = t - sums[groups] - y
        compensation[groups] = np.where(np.isnan(error), 0.0, error)
        sums[groups] = t
        seen[groups] += 1
    return sums, seen


def group_sum(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Per group the sum of its values, NaN skipped; NaN where all are NaN (pandas' `sum(min_count=1)`)."""
    sums, seen = _sums(values, starts)
    return np.where(seen > 0, sums, np.nan)


def group_mean(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Per group the mean of its values, NaN skipped (pandas' groupby `mean`)."""
    sums, seen = _sums(values, starts)
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / seen


def group_max(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Per group the largest value."""
    return np.maximum.reduceat(np.asarray(values), starts) if len(starts) else np.zeros(0)
