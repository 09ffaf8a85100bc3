"""Beds from a census forecast: at target occupancy, at an overflow risk, and the planner's period table.

Two answers to "how many beds": the occupancy rule of thumb (expected census / 0.85 for acute care, / 0.95
for planned care) and the distribution answer (the fewest beds B with P(census > B) ≤ risk). They agree for
large units and part for small ones, where random peaks are large relative to the mean (de Bruin et al. 2010):
there the plan should follow the distribution, and we say so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from forecast.groups import group_max, group_mean, group_starts, group_sum
from forecast.periods import iso_weeks
from forecast.quantiles import LEVELS, column

__all__ = [
    "BedPolicy",
    "beds_at_overflow_risk",
    "daily_beds",
    "period_beds",
    "risk_beds",
    "target_beds",
    "whole",
    "beds_at_target_occupancy",
    "daily_bed_plan",
    "decision_scores",
    "exceedance",
    "grid_exceedance",
    "grid_quantile",
    "period_plan",
    "quantile_at",
    "quantile_grid",
    "reliability",
    "small_unit_warning",
    "small_unit_warnings",
    "widening_to_keep",
]

Period = Literal["week", "month", "quarter"]


@dataclass(frozen=True)
class BedPolicy:
    """Occupancy targets and the accepted overflow risk of a unit (DESIGN.md defaults)."""

    target_acute: float = 0.85
    target_elective: float = 0.95
    overflow_risk: float = 0.05


def quantile_grid(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The grid's levels and, per row, its quantiles made non-negative and non-crossing."""
    levels = np.array([q for q in LEVELS if column(q) in frame.columns])
    values = frame[[column(q) for q in levels]].to_numpy(float)
    return levels, np.maximum.accumulate(np.clip(values, 0, None), axis=1)


def _interp(x: np.ndarray, xp: np.ndarray, fp: np.ndarray, j: np.ndarray) -> np.ndarray:
    """`np.interp` row by row, vectorised: `x` lies in [xp[j], xp[j + 1]) of its row (same formula as numpy's)."""
    rows = np.arange(len(x))
    x0, x1, y0, y1 = xp[rows, j], xp[rows, j + 1], fp[rows, j], fp[rows, j + 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = (y1 - y0) / (x1 - x0)
        out = slope * (x - x0) + y0
    return np.where(x == x0, y0, out)


def quantile_at(frame: pd.DataFrame, level: float) -> np.ndarray:
    """The census quantile at `level` per row, interpolated linearly between the grid's levels."""
    return grid_quantile(*quantile_grid(frame), level)


def grid_quantile(levels: np.ndarray, values: np.ndarray, level: float) -> np.ndarray:
    """`quantile_at` on the arrays of `quantile_grid`."""
    if level <= levels[0]:
        return values[:, 0].copy()
    if level >= levels[-1]:
        return values[:, -1].copy()
    j = np.full(len(values), int(np.searchsorted(levels, level, side="right")) - 1)
    return _interp(np.full(len(values), float(level)), np.broadcast_to(levels, values.shape), values, j)


def exceedance(frame: pd.DataFrame, threshold: np.ndarray | float) -> np.ndarray:
    """P(census > threshold) per row, by inverting the quantile grid.

    Beyond the grid the tail is not known; we take the outermost level (e.g. 0.5 % above the top quantile),
    which errs on the side of warning.
    """
    return grid_exceedance(*quantile_grid(frame), threshold)


def grid_exceedance(levels: np.ndarray, values: np.ndarray, threshold: np.ndarray | float) -> np.ndarray:
    """`exceedance` on the arrays of `quantile_grid`."""
    n, width = values.shape
    threshold = np.broadcast_to(np.asarray(threshold, dtype=float), (n,))
    if n == 0:
        return np.zeros(0)
    # Counts make flat stretches (the same quantile at several levels): P(census ≤ x) is the highest level at
    # x. Interpolate between the last grid value ≤ the threshold and the next larger value, each at the
    # highest level it holds.
    below = (values <= threshold[:, None]).sum(axis=1) - 1
    inside = (below >= 0) & (below < width - 1)
    lowest = (values <= values[:, :1]).sum(axis=1) - 1
    out = np.where(below < 0, levels[lowest], levels[-1]).astype(float)
    if inside.any():
        rows = values[inside]
        low = below[inside]
        upper = rows[np.arange(len(rows)), low + 1]
        high = (rows <= upper[:, None]).sum(axis=1) - 1
        xp = np.stack([rows[np.arange(len(rows)), low], upper], axis=1)
        fp = np.stack([levels[low], levels[high]], axis=1)
        out[inside] = _interp(threshold[inside], xp, fp, np.zeros(len(rows), dtype=int))
    return np.clip(1.0 - out, 0.0, 1.0)


def target_beds(
    mean: np.ndarray,
    policy: BedPolicy,
    acute: np.ndarray | None = None,
    elective: np.ndarray | None = None,
    share: np.ndarray | None = None,
) -> np.ndarray:
    """Beds at the occupancy targets per row (whole numbers, as floats): the census by type over its target
    when every row has it split (`acute`, `elective`), else the total over a target blended by the acute
    `share` of the census (none known: the acute target, the cautious one)."""
    mean = np.asarray(mean, dtype=float)
    if acute is not None and elective is not None and not np.isnan(acute).any():
        beds = (
            np.asarray(acute, dtype=float) / policy.target_acute + np.asarray(elective, float) / policy.target_elective
        )
    else:
        share = np.ones(len(mean)) if share is None else share
        beds = mean / (1 / (share / policy.target_acute + (1 - share) / policy.target_elective))
    return np.ceil(beds - 1e-9)


def risk_beds(levels: np.ndarray, grid: np.ndarray, risk: float) -> np.ndarray:
    """The fewest beds B with P(census > B) ≤ risk per row (whole numbers, as floats), from the quantile grid."""
    if not 0 < risk < 1:
        raise ValueError(f"overflow risk must be between 0 and 1, got {risk}")
    return np.ceil(grid_quantile(levels, grid, 1 - risk) - 1e-9)


def daily_beds(
    levels: np.ndarray,
    grid: np.ndarray,
    mean: np.ndarray,
    policy: BedPolicy,
    open_beds: np.ndarray,
    acute: np.ndarray | None = None,
    elective: np.ndarray | None = None,
    share: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """The daily bed plan on arrays: per row `mean`, `p90`, `beds_target`, `beds_risk`, `current_beds` (the open
    beds, NaN where unknown), `p_over_capacity` (P(census > open beds)) and `surge_day` (1 where that is above the
    overflow risk, NaN where beds are unknown). What `daily_bed_plan`, pools and scenarios all compute."""
    open_beds = np.asarray(open_beds, dtype=float)
    known = ~np.isnan(open_beds)
    p_over = np.full(len(open_beds), np.nan)
    if known.any():
        p_over[known] = grid_exceedance(levels, grid[known], open_beds[known])
    return {
        "mean": np.asarray(mean, dtype=float),
        "p90": grid_quantile(levels, grid, 0.9),
        "beds_target": target_beds(mean, policy, acute, elective, share),
        "beds_risk": risk_beds(levels, grid, policy.overflow_risk),
        "current_beds": open_beds,
        "p_over_capacity": p_over,
        "surge_day": np.where(known, p_over > policy.overflow_risk, np.nan),
    }


def period_beds(daily: dict[str, np.ndarray], starts: np.ndarray) -> dict[str, np.ndarray]:
    """The period table on arrays, from `daily_beds` of rows whose groups (unit and period) are contiguous and
    begin at `starts`: days, mean census, the highest 90th percentile and beds of any day, open beds (the same on
    every day of a period), expected days over capacity, surge days and the gap (beds at the risk − open beds)."""
    n = len(daily["mean"])
    table = {
        "days": np.diff(np.append(starts, n)).astype(float),
        "mean_census": group_mean(daily["mean"], starts),
        "p90_census": group_max(daily["p90"], starts),
        "beds_target": group_max(daily["beds_target"], starts),
        "beds_risk": group_max(daily["beds_risk"], starts),
        "current_beds": daily["current_beds"][starts],
        "expected_days_over_capacity": group_sum(daily["p_over_capacity"], starts),
        "surge_days": group_sum(daily["surge_day"], starts),
    }
    table["gap"] = table["beds_risk"] - table["current_beds"]
    return table


def whole(values: np.ndarray) -> pd.arrays.IntegerArray:
    """Whole numbers as pandas' nullable integers (NaN: unknown)."""
    values = np.asarray(values, dtype=float)
    missing = np.isnan(values)
    return pd.arrays.IntegerArray(np.where(missing, 0, values).astype(np.int64), missing)


def beds_at_target_occupancy(
    forecast: pd.DataFrame, policy: BedPolicy = BedPolicy(), acute_share: pd.Series | None = None
) -> np.ndarray:
    """ceil(acute census / acute target + elective census / elective target) per row (`target_beds`).

    When the forecast has only the total, a blended target from the unit's acute share of census
    (`acute_share`, by unit); with no share known, the acute target (the cautious one).
    """
    return target_beds(*_census_of(forecast, acute_share, policy)).astype(int)


def _census_of(
    forecast: pd.DataFrame, acute_share: pd.Series | None, policy: BedPolicy = BedPolicy()
) -> tuple[np.ndarray, BedPolicy, np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    split = {"mean_acute", "mean_elective"} <= set(forecast.columns)
    share = forecast["unique_id"].map(acute_share).fillna(1.0).to_numpy(float) if acute_share is not None else None
    return (
        forecast["mean"].to_numpy(float),
        policy,
        forecast["mean_acute"].to_numpy(dtype=float, na_value=np.nan) if split else None,
        forecast["mean_elective"].to_numpy(dtype=float, na_value=np.nan) if split else None,
        share,
    )


def beds_at_overflow_risk(forecast: pd.DataFrame, risk: float = 0.05) -> np.ndarray:
    """The fewest beds B with P(census > B) ≤ risk on each day: the (1 − risk) quantile, rounded up."""
    return risk_beds(*quantile_grid(forecast), risk).astype(int)


def daily_bed_plan(
    forecast: pd.DataFrame,
    current_beds: pd.Series | None = None,
    policy: BedPolicy = BedPolicy(),
    acute_share: pd.Series | None = None,
) -> pd.DataFrame:
    """Per unit and day: expected and 90th-percentile census, beds by both rules, and the risk at today's beds
    (`daily_beds` as a table).

    `surge_day` marks the days on which the census is likely (more than the accepted overflow risk) to exceed
    today's beds: the days surge beds would be needed. Where a unit's beds are unknown these stay empty.
    """
    mean, _, acute, elective, share = _census_of(forecast, acute_share)
    beds = (
        forecast["unique_id"].map(current_beds) if current_beds is not None else pd.Series(np.nan, index=forecast.index)
    )
    levels, grid = quantile_grid(forecast)
    daily = daily_beds(levels, grid, mean, policy, beds.to_numpy(dtype=float, na_value=np.nan), acute, elective, share)
    plan = forecast[["unique_id", "ds"]].copy()
    plan["mean"] = daily["mean"]
    plan["p90"] = daily["p90"]
    plan["beds_target"] = daily["beds_target"].astype(int)
    plan["beds_risk"] = daily["beds_risk"].astype(int)
    plan["current_beds"] = pd.array(beds.to_numpy(), dtype="Int64")
    plan["p_over_capacity"] = daily["p_over_capacity"]
    known = ~np.isnan(daily["surge_day"])
    plan["surge_day"] = pd.array(np.where(known, daily["surge_day"] == 1, pd.NA), dtype="boolean")
    return plan


def _period_start(ds: pd.Series, period: Period) -> np.ndarray:
    freq = {"week": "W-SUN", "month": "M", "quarter": "Q"}[period]
    # Worked out once per distinct day: a plan repeats each day for every unit.
    days, index = np.unique(ds.to_numpy(), return_inverse=True)
    return pd.Series(days).dt.to_period(freq).dt.start_time.to_numpy()[index.reshape(-1)]


def _period_label(start: pd.Series, period: Period) -> pd.Series:
    if period == "week":
        return pd.Series(iso_weeks(start.to_numpy()), index=start.index)
    if period == "month":
        return start.dt.strftime("%Y-%m")
    return start.dt.year.astype(str) + "Q" + start.dt.quarter.astype(str)


def period_plan(daily_plan: pd.DataFrame, period: Period = "week") -> pd.DataFrame:
    """The planner's table: per unit and period, the beds needed on the period's busiest day (`period_beds` as a
    table, rows sorted by unit and period).

    Census columns are the mean of the daily expected census and the highest daily 90th percentile; beds are
    the most any day of the period needs; `gap` = beds at the overflow risk − today's beds (positive: short);
    `expected_days_over_capacity` sums the daily P(census > today's beds).
    """
    starts_of_period = _period_start(daily_plan["ds"], period)
    _, codes = np.unique(daily_plan["unique_id"].to_numpy(), return_inverse=True)
    order = np.lexsort((starts_of_period, codes.reshape(-1)))  # stable: a period's days keep their order
    rows = daily_plan.iloc[order]
    period_starts = starts_of_period[order]
    starts = group_starts(codes.reshape(-1)[order], period_starts)
    surge = rows["surge_day"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    daily = {
        "mean": rows["mean"].to_numpy(float),
        "p90": rows["p90"].to_numpy(float),
        "beds_target": rows["beds_target"].to_numpy(float),
        "beds_risk": rows["beds_risk"].to_numpy(float),
        "current_beds": rows["current_beds"].astype("Float64").to_numpy(dtype=float, na_value=np.nan),
        "p_over_capacity": rows["p_over_capacity"].to_numpy(float),
        "surge_day": surge,
    }
    figures = period_beds(daily, starts)
    table = pd.DataFrame(
        {
            "unique_id": rows["unique_id"].to_numpy()[starts],
            "period_start": pd.to_datetime(period_starts[starts]),
        }
    )
    table["period"] = _period_label(table["period_start"], period)
    table["days"] = figures["days"].astype(np.int64)
    table["mean_census"] = figures["mean_census"]
    table["p90_census"] = figures["p90_census"]
    table["beds_target"] = figures["beds_target"].astype(np.int64)
    table["beds_risk"] = figures["beds_risk"].astype(np.int64)
    table["current_beds"] = whole(figures["current_beds"])
    table["expected_days_over_capacity"] = figures["expected_days_over_capacity"]
    table["surge_days"] = whole(figures["surge_days"]).to_numpy()  # as pandas gives it: int, or float with NaN
    table["gap"] = whole(figures["gap"])
    return table


def small_unit_warnings(daily_plan: pd.DataFrame, threshold: float = 2.0, relative: float = 0.2) -> list[str]:
    """Units so small that the overflow-risk answer needs clearly more beds than the occupancy target.

    A warning when, on average over the plan, beds at the overflow risk exceed beds at the target by more than
    `threshold` beds and by more than `relative` of the target.
    """
    messages = []
    for unit, rows in daily_plan.groupby("unique_id", sort=True):
        message = small_unit_warning(
            str(unit), rows["beds_target"].mean(), rows["beds_risk"].mean(), threshold, relative
        )
        if message:
            messages.append(message)
    return messages


def small_unit_warning(
    unit: str, target: float, risk: float, threshold: float = 2.0, relative: float = 0.2
) -> str | None:
    """The warning of `small_unit_warnings` for one unit's mean beds at the target and at the risk, or None."""
    if risk - target > threshold and risk > (1 + relative) * target:
        return (
            f"{unit}: the occupancy target gives {target:.0f} beds but the overflow risk needs {risk:.0f}; "
            "in a unit this small random peaks dominate (de Bruin et al. 2010): plan by the overflow risk"
        )
    return None


def decision_scores(census: np.ndarray, beds: np.ndarray) -> dict[str, float]:
    """How a bed plan would have fared: days with census above the beds, and bed-days left idle."""
    census, beds = np.asarray(census, float), np.asarray(beds, float)
    return {
        "days_over_capacity": float((census > beds).sum()),
        "idle_bed_days": float(np.clip(beds - census, 0, None).sum()),
    }


# The promise "beds at a 5 % overflow risk" is broken, for a unit, when its backtest census exceeded those beds on
# more than half again as many days (7.5 %); it cannot be judged on fewer days than `MIN_DAYS` (two four-week
# windows, or more for small risks: at 1 % a few hundred days hold only a few overflow days).
BROKEN_FACTOR = 1.5
MIN_DAYS = 56
# A unit whose promise cannot be measured gets its upper quantiles widened by half again (conservative, not
# tuned): the plan then holds more beds than the unmeasured distribution says.
UNMEASURED_WIDENING = 1.5


def reliability(census: np.ndarray, beds: np.ndarray, risk: float) -> dict[str, float | str]:
    """How well beds planned at `risk` kept the promise over backtest days: the measured overflow share.

    Returns:
        `promised_risk`, `overflow_share` (share of days with census above the beds), `days`, `beds_per_mean_census`
        and `status`: `kept`, `broken` (share above `BROKEN_FACTOR` × risk) or `unmeasured` (too few days).
    """
    census, beds = np.asarray(census, float), np.asarray(beds, float)
    days = len(census)
    share = float((census > beds).mean()) if days else float("nan")
    enough = days >= max(MIN_DAYS, 2 / risk)
    status = "unmeasured" if not enough else ("broken" if share > BROKEN_FACTOR * risk else "kept")
    mean = float(census.mean()) if days else float("nan")
    return {
        "promised_risk": float(risk),
        "overflow_share": share,
        "days": float(days),
        "beds_per_mean_census": float(beds.mean() / mean) if days and mean > 0 else float("nan"),
        "status": status,
    }


def widening_to_keep(census: np.ndarray, mean: np.ndarray, beds_quantile: np.ndarray, risk: float) -> float:
    """The factor on the upper offsets (quantile − mean) that would have kept the promise in the backtest.

    The smallest factor from 1 to 4 (in steps of 0.05) at which beds = ceil(mean + factor · (quantile − mean))
    were exceeded on at most `risk` of the days; 4 when none does.
    """
    census, mean, upper = (np.asarray(a, float) for a in (census, mean, beds_quantile))
    offset = np.clip(upper - mean, 0, None)
    for factor in np.arange(1.0, 4.0001, 0.05):
        beds = np.ceil(mean + factor * offset - 1e-9)
        if (census > beds).mean() <= risk:
            return float(round(factor, 2))
    return 4.0
