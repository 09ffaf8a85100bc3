"""Units, hospitals and regions: the hierarchy, and the beds a pool of units needs.

A region plans beds for its hospitals, a hospital for its units. (Forecasts that add up across the levels, by
MinTrace reconciliation, are measured in `benchmarks/reconciliation.py`; production does not reconcile: on
synthetic countries it moved single units' accuracy by more than 2 % either way.)

Beds are another matter: a hospital that may move patients between units (or open surge beds anywhere) needs the
(1 − risk) quantile of its *summed* census, which is smaller than the sum of its units' quantiles because their
peaks do not all fall on the same day. The summed census' distribution comes either from the backtest errors of
the summed unit forecasts (`pooled_totals`, calibrated as the units are: they carry whatever the units have in
common, winter peaks and tourism) or from the unit distributions taken as independent (`independent_totals`;
optimistic when units rise and fall together). `pooled_plan` shows the difference: the pooling gain.

Ids: a unit keeps its id; a hospital's and a region's total take the hospital's and the region's name.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from forecast.backtest import Backtest
from forecast.beds import BedPolicy, Period, beds_at_overflow_risk, daily_bed_plan, period_plan
from forecast.calibration import apply_spread, calibrate_windows, spread_from_interval
from forecast.quantiles import LEVELS, column, columns

__all__ = [
    "LEVELS_OF_CARE",
    "hierarchy_from",
    "independent_totals",
    "pool_period_plan",
    "pooled_plan",
    "pooled_totals",
    "validate_hierarchy",
]

LEVELS_OF_CARE: tuple[str, ...] = ("region", "hospital", "unit")


def validate_hierarchy(hierarchy: pd.DataFrame) -> pd.DataFrame:
    """The hierarchy as text columns `unit, hospital, region`, one row per unit, sorted.

    Raises:
        ValueError: a missing column, a unit listed twice, a hospital in two regions, or a name used at two levels
            (ids must say which total they are).
    """
    missing = [c for c in ("unit", "hospital", "region") if c not in hierarchy.columns]
    if missing:
        raise ValueError(f"the hierarchy needs the columns unit, hospital, region; missing {', '.join(missing)}")
    frame = hierarchy[["unit", "hospital", "region"]].astype(str)
    twice = frame["unit"][frame["unit"].duplicated()]
    if len(twice):
        raise ValueError(f"unit {twice.iloc[0]!r} is listed more than once in the hierarchy")
    regions = frame.groupby("hospital")["region"].nunique()
    if (regions > 1).any():
        raise ValueError(f"hospital {regions[regions > 1].index[0]!r} is in more than one region")
    names = [set(frame[level]) for level in LEVELS_OF_CARE]
    clash = (names[0] & names[1]) | (names[0] & names[2]) | (names[1] & names[2])
    if clash:
        raise ValueError(f"{sorted(clash)[0]!r} names two levels (unit, hospital, region); ids must be unique")
    return frame.sort_values(["region", "hospital", "unit"]).reset_index(drop=True)


def independent_totals(
    forecasts: pd.DataFrame, hierarchy: pd.DataFrame, level: str = "hospital", samples: int = 4000, seed: int = 0
) -> pd.DataFrame:
    """The distribution of each hospital's (or region's) summed census, its units taken as independent.

    Each unit's census is drawn from its quantile grid (inverse distribution, linear between levels, flat beyond
    the outermost ones) and the draws are summed: a Monte Carlo convolution. Use it when the totals have no
    forecast of their own; where units share peaks (winter, tourism) it understates the spread.

    Returns:
        `unique_id` (the hospital or region), `ds`, `mean` and the quantile grid.
    """
    if level not in ("hospital", "region"):
        raise ValueError(f"level must be hospital or region, got {level!r}")
    tree = validate_hierarchy(hierarchy).set_index("unit")
    levels = np.array([q for q in LEVELS if column(q) in forecasts.columns])
    rng = np.random.default_rng(seed)
    owner = forecasts["unique_id"].astype(str).map(tree[level])
    pieces = []
    for (group, day), rows in forecasts.groupby([owner.rename("group"), forecasts["ds"]], sort=True):
        grid = np.maximum.accumulate(np.clip(rows[[column(q) for q in levels]].to_numpy(float), 0, None), axis=1)
        piece = {"unique_id": group, "ds": day, "mean": float(rows["mean"].sum())}
        if len(rows) == 1:  # a pool of one unit is that unit; sampling would only add noise
            piece.update(zip(columns(tuple(levels)), grid[0], strict=True))
            pieces.append(piece)
            continue
        u = np.clip(rng.random((len(rows), samples)), levels[0], levels[-1])
        upper = np.clip(np.searchsorted(levels, u), 1, len(levels) - 1)
        weight = (u - levels[upper - 1]) / (levels[upper] - levels[upper - 1])
        lower_value = np.take_along_axis(grid, upper - 1, axis=1)
        upper_value = np.take_along_axis(grid, upper, axis=1)
        total = (lower_value + weight * (upper_value - lower_value)).sum(axis=0)
        piece.update(zip(columns(tuple(levels)), np.quantile(total, levels), strict=True))
        pieces.append(piece)
    return pd.DataFrame(pieces)


def pooled_totals(
    result: Backtest, forecasts: pd.DataFrame, hierarchy: pd.DataFrame, level: str = "hospital"
) -> pd.DataFrame:
    """The distribution of each pool's summed census, calibrated on the backtest errors of the summed forecasts.

    The pool's point forecast is the sum of its units' (coherent by construction). Its spread is measured with the
    units' own: the ruler is the sum of their 80 % intervals' half-widths (the spread if their errors all went one
    way), and it is corrected, as the units' are (`forecast.calibration`), by the errors the summed honest
    forecasts made in the backtest windows. Errors that units share (a winter peak all of them missed) stay in the
    sum; errors that cancel out shrink the pool's intervals below the ruler. This is what a pool's beds should be
    sized from.

    Args:
        result: the units' backtest (`selected`: the honest forecasts and quantiles of the scored windows).
        forecasts: the units' forecasts (`unique_id, ds, mean` and the quantile grid), e.g. `engine.forecast_units`.
        hierarchy: `unit, hospital, region`.
        level: `hospital` or `region`.

    Returns:
        Per pool and day: `unique_id` (the pool), `ds`, `mean` and the quantile grid.
    """
    if level not in ("hospital", "region"):
        raise ValueError(f"level must be hospital or region, got {level!r}")
    tree = validate_hierarchy(hierarchy).set_index("unit")

    def summed(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
        own = frame[frame["unique_id"].astype(str).isin(tree.index)]
        own = own.assign(
            pool=own["unique_id"].astype(str).map(tree[level]).to_numpy(),
            spread=spread_from_interval(own[column(0.1)], own[column(0.9)]),
        )
        values = [c for c in ("y", "mean", "spread") if c in own.columns]
        return own.groupby(["pool", *keys], sort=True)[values].sum().reset_index().rename(columns={"pool": "unique_id"})

    past = summed(result.selected, ["cutoff", "ds", "step"]).rename(columns={"mean": "point"})
    _, calibration = calibrate_windows(past, int(past["step"].max()))
    ahead = summed(forecasts, ["ds"])
    pieces = []
    for pool, rows in ahead.groupby("unique_id", sort=True):
        rows = rows.sort_values("ds").reset_index(drop=True)
        grid = apply_spread(rows["mean"].to_numpy(), rows["spread"].to_numpy(), calibration.multipliers[str(pool)])
        pieces.append(pd.concat([rows[["unique_id", "ds", "mean"]], grid], axis=1))
    return pd.concat(pieces, ignore_index=True)


def pooled_plan(
    units: pd.DataFrame, totals: pd.DataFrame, hierarchy: pd.DataFrame, level: str = "hospital", risk: float = 0.05
) -> pd.DataFrame:
    """Beds at an overflow risk for each unit on its own, against the same risk for the pool of them.

    Args:
        units: unit forecasts (`unique_id, ds` and the quantile grid).
        totals: the pools' census distributions at `level` (`pooled_totals`, or `independent_totals`, or the
            totals' own reconciled forecasts from `reconcile`).
        hierarchy: `unit, hospital, region`.
        level: `hospital` or `region`: which units pool their beds.
        risk: the accepted P(census > beds) on a day.

    Returns:
        Per pool and day: `unique_id` (the pool), `ds`, `units`, `beds_units` (the sum of each unit's beds at
        the risk), `beds_pooled` (beds for the summed census at the risk) and `pooling_gain` (their difference:
        beds the pool saves by sharing).
    """
    if level not in ("hospital", "region"):
        raise ValueError(f"level must be hospital or region, got {level!r}")
    tree = validate_hierarchy(hierarchy).set_index("unit")
    own = units[units["unique_id"].astype(str).isin(tree.index)]
    per_unit = own[["unique_id", "ds"]].assign(
        pool=own["unique_id"].astype(str).map(tree[level]).to_numpy(), beds=beds_at_overflow_risk(own, risk)
    )
    summed = per_unit.groupby(["pool", "ds"]).agg(units=("unique_id", "nunique"), beds_units=("beds", "sum"))
    pools = totals[totals["unique_id"].astype(str).isin(set(tree[level]))]
    pooled = pools[["unique_id", "ds"]].assign(beds_pooled=beds_at_overflow_risk(pools, risk))
    plan = summed.reset_index().rename(columns={"pool": "unique_id"})
    plan = plan.merge(pooled.assign(unique_id=pooled["unique_id"].astype(str)), on=["unique_id", "ds"], how="inner")
    plan["pooling_gain"] = plan["beds_units"] - plan["beds_pooled"]
    return plan.sort_values(["unique_id", "ds"]).reset_index(drop=True)


def pool_period_plan(
    units: pd.DataFrame,
    pools: pd.DataFrame,
    hierarchy: pd.DataFrame,
    level: str,
    current_beds: pd.Series | None = None,
    policy: BedPolicy | None = None,
    period: Period = "week",
) -> pd.DataFrame:
    """The planner's table for pools of units (hospitals or regions) that share their beds, with the pooling gain.

    Args:
        units: unit census forecasts (`unique_id, ds, mean` and the quantile grid) over the planned days.
        pools: the pools' summed-census distributions over the same days (`pooled_totals`).
        hierarchy: `unit, hospital, region`.
        level: `hospital` or `region`.
        current_beds: today's beds per unit; a pool's are their sum when every unit's are known.
        policy: occupancy targets and the overflow risk (default: DESIGN.md's).
        period: week, month or quarter.

    Returns:
        `period_plan`'s columns per pool (`unique_id` is the pool) plus `beds_units_apart` (the sum of each
        unit's beds at the overflow risk in the period) and `pooling_gain` (those minus the pool's beds).
    """
    if level not in ("hospital", "region"):
        raise ValueError(f"level must be hospital or region, got {level!r}")
    tree = validate_hierarchy(hierarchy).set_index("unit")
    own = units[units["unique_id"].astype(str).isin(tree.index)]
    pool_beds = None
    if current_beds is not None:
        beds_by_unit = pd.Series(current_beds).reindex(tree.index)
        known = beds_by_unit.notna().groupby(tree[level]).all()
        pool_beds = beds_by_unit.groupby(tree[level]).sum()[known]
    policy = policy or BedPolicy()
    table = period_plan(daily_bed_plan(pools.reset_index(drop=True), pool_beds, policy), period)
    apart = period_plan(daily_bed_plan(own.reset_index(drop=True), None, policy), period)
    apart["pool"] = apart["unique_id"].astype(str).map(tree[level])
    summed = apart.groupby(["pool", "period_start"])["beds_risk"].sum().rename("beds_units_apart")
    table = table.merge(summed, left_on=["unique_id", "period_start"], right_index=True, how="left")
    table["pooling_gain"] = table["beds_units_apart"] - table["beds_risk"]
    return table


def hierarchy_from(tables: Sequence[pd.DataFrame | None], units: Sequence[str]) -> pd.DataFrame | None:
    """`unit, hospital, region` for `units` from the first table (units file, daily frame) that has all three.

    None when no table names a hospital and a region for every unit: pools are then unknown.
    """
    wanted = set(units)
    for frame in tables:
        if frame is None or not {"unit", "hospital", "region"} <= set(frame.columns):
            continue
        tree = frame[["unit", "hospital", "region"]].drop_duplicates("unit")
        tree = tree[tree["unit"].isin(wanted)]
        if set(tree["unit"]) == wanted and not tree.isna().any().any():
            return tree.astype(str).sort_values("unit").reset_index(drop=True)
    return None
