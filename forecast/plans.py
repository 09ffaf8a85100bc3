"""Bed plans for units and for pools of units that share beds: the one place a plan is put together.

The CLI, training (the plan it logs) and the API all build a quarter's plan here, from a census forecast per unit
and, for pools (hospitals, regions), the pools' summed-census distributions (`pooled_forecasts`, which the
serving bundle stores).
"""

from __future__ import annotations

import pandas as pd

from forecast import beds, hierarchy
from forecast.backtest import Backtest

__all__ = ["POOL_LEVELS", "pooled_forecasts", "quarter_plan"]

POOL_LEVELS: tuple[str, ...] = ("hospital", "region")


def pooled_forecasts(result: Backtest, forecast: pd.DataFrame, tree: pd.DataFrame | None) -> pd.DataFrame:
    """Each hospital's and region's summed census distribution (from the backtest errors of the sum).

    Args:
        result: the units' census backtest.
        forecast: the units' census forecast (`unique_id, ds, mean`, e.g. `engine.forecast_units`).
        tree: `unit, hospital, region`; None when the units have no hospital and region.

    Returns:
        `level, unique_id, ds, mean` and the quantile grid (`hierarchy.pooled_totals` per level); empty without
        a tree.
    """
    if tree is None:
        return pd.DataFrame()
    levels = [
        hierarchy.pooled_totals(result, forecast[["unique_id", "ds", "mean"]], tree, level).assign(level=level)
        for level in POOL_LEVELS
    ]
    pools = pd.concat(levels, ignore_index=True)
    return pools[["level", *[c for c in pools.columns if c != "level"]]]


def quarter_plan(
    census: pd.DataFrame,
    start: pd.Timestamp,
    end: pd.Timestamp,
    policy: beds.BedPolicy,
    current_beds: pd.Series | None = None,
    level: str = "unit",
    pools: pd.DataFrame | None = None,
    tree: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    """The planner's weekly table from `start` to `end`, per unit or per pool of units, and its warnings.

    Args:
        census: unit census forecasts (`unique_id, ds, mean` and the quantile grid), covering the days.
        start: the first planned day.
        end: the last planned day.
        policy: occupancy targets and the overflow risk.
        current_beds: today's beds per unit where known.
        level: `unit`, or `hospital` / `region` for pools that share their beds.
        pools: the pools' distributions (`pooled_forecasts`), for a pool level.
        tree: `unit, hospital, region`, for a pool level.

    Returns:
        `beds.period_plan`'s table (with, for pools, `beds_units_apart` and `pooling_gain`) and the warnings
        about small units.

    Raises:
        ValueError: a pool level without pools or hierarchy.
    """
    rows = census[(census["ds"] >= start) & (census["ds"] <= end)]
    if level == "unit":
        daily = beds.daily_bed_plan(rows, current_beds, policy)
        return beds.period_plan(daily, "week"), beds.small_unit_warnings(daily)
    if level not in POOL_LEVELS:
        raise ValueError(f"level must be unit, {' or '.join(POOL_LEVELS)}, got {level!r}")
    if tree is None or pools is None or pools.empty:
        raise ValueError(f"a plan by {level} needs hospital and region for every unit")
    own = pools[(pools["level"] == level) & (pools["ds"] >= start) & (pools["ds"] <= end)]
    return hierarchy.pool_period_plan(rows, own.drop(columns="level"), tree, level, current_beds, policy), []
