"""The plan explained: each week's beds split into the drivers that make them, in whole beds that add up.

The plan opens, per unit and ISO week, the beds its busiest day needs at the accepted overflow risk:
max over the week's days of ceil(q_{1−risk}(census)). The split asks the served model itself
(`forecast.counterfactual`): its forecast with every combination of its drivers left on, the others neutral.
For a set S of drivers left on, the week's value is

    v(S) = max over the week's days of  mean_S(d) + [margin ∈ S] · (q(d) − mean(d))

where mean is the served forecast, mean_S the counterfactual and q the (1 − risk) quantile: a driver's beds are
the patients it brings on the busiest day, and the margin is the beds above the expected census that the
overflow risk asks for. With every driver on, v is the plan's unrounded beds; with none, the base demand. The
drivers' shares are Shapley values of v: each driver's marginal effect averaged over every order of adding the
drivers, so the result does not depend on an arbitrary order, and base + shares = v exactly. Whole beds come by
largest remainder: each share rounded down, the beds still missing to the plan's (whole) beds given to the
largest remainders.

The served quantiles are the forecast plus offsets learned from its errors (`forecast.calibration`), which do
not move with a driver's input: so a driver that brings more patients moves its own beds, and the margin stays.
When the nowcast has re-anchored the served forecast on newer patients in bed, the change is the news in those
beds: it goes to `in_bed`. Pure: frames in, frames out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from math import factorial

import numpy as np
import pandas as pd

from forecast import beds
from forecast.bundle import ForecastBundle
from forecast.counterfactual import DRIVERS, Counterfactuals, coalition_code
from forecast.periods import iso_weeks, quarter_window, year_window

__all__ = [
    "BASE",
    "MARGIN",
    "PARTS",
    "Explanation",
    "HORIZONS",
    "explain_days",
    "explain_plan",
    "explained_plans",
    "plan_window",
    "scaled",
    "explain_weeks",
    "served_census",
    "largest_remainder",
    "shapley_values",
]

BASE = "base"
MARGIN = "margin"
# Every part of a week's beds, in the order answers show them.
PARTS: tuple[str, ...] = (BASE, *DRIVERS, MARGIN)


@cache
def _shapley_weights(players: int) -> np.ndarray:
    """The matrix W with Shapley values = W @ v, for v indexed by the bit mask of the players left on."""
    n = players
    weights = np.zeros((n, 1 << n))
    size = np.array([bin(mask).count("1") for mask in range(1 << n)])
    for i in range(n):
        bit = 1 << i
        for mask in range(1 << n):
            if mask & bit:
                continue
            w = factorial(size[mask]) * factorial(n - size[mask] - 1) / factorial(n)
            weights[i, mask | bit] += w
            weights[i, mask] -= w
    weights.flags.writeable = False
    return weights


def shapley_values(values: np.ndarray) -> np.ndarray:
    """Shapley values of the players of a game given by its value for every coalition.

    Args:
        values: `(2**n, …)`: row `mask` is the value with the players whose bits are set in `mask` on.

    Returns:
        `(n, …)`: player i's Shapley value; they sum to `values[-1] − values[0]`.
    """
    rows = values.shape[0]
    n = rows.bit_length() - 1
    if rows != 1 << n:
        raise ValueError(f"a game of n players has 2**n coalitions, got {rows}")
    return np.tensordot(_shapley_weights(n), values, axes=1)


def largest_remainder(parts: np.ndarray, totals: np.ndarray) -> np.ndarray:
    """Whole numbers per part that add up to `totals`, each within one of its part (Hamilton's method).

    Args:
        parts: `(k, periods)`: real shares whose column sums are close to `totals` (at most k below or above).
        totals: `(periods,)`: the whole numbers each column must add up to.

    Returns:
        `(k, periods)` integers: each part rounded down, then the missing units to the largest remainders (ties to
        the earlier part).
    """
    parts = np.asarray(parts, dtype=float)
    floors = np.floor(parts + 1e-9)
    remainders = parts - floors
    missing = np.asarray(totals, dtype=float) - floors.sum(axis=0)
    k = parts.shape[0]
    # Rank the parts by remainder within each column (stable: ties go to the earlier part).
    order = np.argsort(-remainders, axis=0, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(k)[:, None].repeat(parts.shape[1], axis=1), axis=0)
    extra = (rank < missing[None, :]).astype(float)
    # A column more than k below its total (not reachable from honest shares) still adds up: the rest goes to the
    # first part; a column above its total takes units back from the smallest remainders.
    extra[0] += np.clip(missing - k, 0, None)
    taken = (rank >= k + missing[None, :]).astype(float)
    return (floors + extra - taken).astype(np.int64)


@dataclass(frozen=True)
class Explanation:
    """The beds of a plan split by driver.

    Attributes:
        parts: `unique_id, period, period_start, part, beds, value`: per unit and period (ISO week, or day), the
            whole beds of each part (`PARTS`; parts a unit's model cannot separate are left out) and its exact
            share; a unit's parts add up to the plan's beds of the period.
        totals: `unique_id, period, period_start, beds, mean_census`: the plan's beds (at the overflow risk, the
            busiest day) and the expected census.
        drivers: per unit and driver, whether the model separates it (`Counterfactuals.drivers`).
    """

    parts: pd.DataFrame
    totals: pd.DataFrame
    drivers: pd.DataFrame


def _coalitions(counterfactuals: pd.DataFrame, players: Sequence[str], days: pd.DatetimeIndex) -> np.ndarray:
    """`(2**k, days)`: the unit's counterfactual mean per coalition of its k players (bit i: players[i] on)."""
    codes = {
        coalition_code(p for i, p in enumerate(players) if mask >> i & 1): mask for mask in range(1 << len(players))
    }
    table = counterfactuals[counterfactuals["coalition"].isin(list(codes))]
    wide = table.pivot(index="coalition", columns="ds", values="mean")
    if len(wide) != len(codes) or not days.isin(wide.columns).all():
        raise ValueError("the counterfactual forecasts do not cover the days and drivers of the served forecast")
    wide = wide.reindex(columns=days)
    out = np.zeros((1 << len(players), len(days)))
    for code, row in zip(wide.index, wide.to_numpy(float), strict=True):
        out[codes[int(code)]] = row
    return out


def _weeks(days: pd.DatetimeIndex) -> tuple[np.ndarray, pd.DatetimeIndex, list[str]]:
    """Per day its week's position, and each week's first day (Monday) and ISO label (`2026-W28`)."""
    monday = days - pd.to_timedelta(days.dayofweek, unit="D")
    starts = pd.DatetimeIndex(sorted(set(monday)))
    position = starts.get_indexer(monday)
    return position, starts, list(iso_weeks(starts))


def _unit_split(
    counterfactuals: pd.DataFrame,
    players: tuple[str, ...],
    served: pd.DataFrame,
    policy: beds.BedPolicy | None,
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Per-day values of every coalition: the expected census, with a `policy` also with the margin for its
    overflow risk as the last player."""
    days = pd.DatetimeIndex(served["ds"])
    mean = served["mean"].to_numpy(float)
    values = _coalitions(counterfactuals, players, days) if players else mean[None, :].copy()
    # What the served forecast holds beyond the counterfactuals (the nowcast's re-anchoring): the news in beds.
    change = mean - values[-1]
    if np.abs(change).max(initial=0) > 1e-9:
        if "in_bed" not in players:
            players = (*players, "in_bed")
            values = np.concatenate([values, values])
        bit = 1 << players.index("in_bed")
        on = np.array([mask & bit != 0 for mask in range(values.shape[0])])
        values[on] += change
    if policy is None:
        return values, mean, players
    upper = beds.quantile_at(served, 1 - policy.overflow_risk)
    # The margin: beds above the expected census, as many as the served distribution asks for at the risk.
    return np.concatenate([values, values + (upper - mean)]), upper, (*players, MARGIN)


def _split(
    values: np.ndarray, groups: np.ndarray, periods: int, totals: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each period's value per coalition (the busiest day), its base and Shapley shares, and whole beds."""
    by_period = np.full((values.shape[0], periods), -np.inf)
    for g in range(periods):
        by_period[:, g] = values[:, groups == g].max(axis=1)
    shares = np.vstack([by_period[:1], shapley_values(by_period)])
    return by_period, shares, largest_remainder(shares, totals)


def explain_weeks(
    counterfactuals: Counterfactuals,
    served: pd.DataFrame,
    policy: beds.BedPolicy,
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
) -> Explanation:
    """Every unit's planned beds per ISO week (at the policy's overflow risk, the busiest day) split by driver.

    Args:
        counterfactuals: the served model's counterfactual census forecasts (`forecast.counterfactual`).
        served: the served census forecast: `unique_id, ds, mean` and the quantile grid (as the plan reads it).
        policy: the plan's policy (its overflow risk sets the margin).
        start, end: the plan's first and last day (default: the whole forecast). Weeks cut by them are the
            plan's weeks too: their days inside.

    Returns:
        The split; per unit and week the parts add up to `beds.period_plan`'s `beds_risk`.
    """
    return _explain(counterfactuals, served, policy, start, end, weekly=True)


def explain_days(
    counterfactuals: Counterfactuals,
    served: pd.DataFrame,
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
) -> Explanation:
    """Every unit's expected value per day (census, or admissions for an admissions forecast) split by driver,
    without a margin: what each driver adds to the day's forecast. `beds` are the shares in whole units adding
    up to the rounded forecast."""
    return _explain(counterfactuals, served, None, start, end, weekly=False)


def _explain(
    counterfactuals: Counterfactuals,
    served: pd.DataFrame,
    policy: beds.BedPolicy | None,
    start: pd.Timestamp | None,
    end: pd.Timestamp | None,
    weekly: bool,
) -> Explanation:
    frame = served.assign(ds=pd.to_datetime(served["ds"]))
    if start is not None:
        frame = frame[frame["ds"] >= start]
    if end is not None:
        frame = frame[frame["ds"] <= end]
    table = counterfactuals.forecasts
    parts, totals = [], []
    for unit, rows in frame.groupby("unique_id", sort=True):
        rows = rows.sort_values("ds").reset_index(drop=True)
        days = pd.DatetimeIndex(rows["ds"])
        players = counterfactuals.players(str(unit))
        values, top, players = _unit_split(table[table["unique_id"] == unit], players, rows, policy)
        if weekly:
            groups, starts, labels = _weeks(days)
        else:
            groups, starts = np.arange(len(days)), days
            labels = [f"{d:%Y-%m-%d}" for d in days]
        top_by_period = np.array([top[groups == g].max() for g in range(len(starts))])
        whole = np.ceil(top_by_period - 1e-9) if policy is not None else np.round(top_by_period)
        _, shares, rounded = _split(values, groups, len(starts), whole)
        names = (BASE, *players)
        for k, name in enumerate(names):
            parts.append(
                pd.DataFrame(
                    {
                        "unique_id": unit,
                        "period": labels,
                        "period_start": starts,
                        "part": name,
                        "beds": rounded[k],
                        "value": shares[k],
                    }
                )
            )
        mean_by_period = pd.Series(rows["mean"].to_numpy(float)).groupby(groups).mean().to_numpy()
        totals.append(
            pd.DataFrame(
                {
                    "unique_id": unit,
                    "period": labels,
                    "period_start": starts,
                    "beds": whole.astype(np.int64),
                    "mean_census": mean_by_period,
                }
            )
        )
    columns = ["unique_id", "period", "period_start", "part", "beds", "value"]
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
    order = {name: k for k, name in enumerate(PARTS)}
    out = out.sort_values(["unique_id", "period_start", "part"], key=lambda c: c.map(order) if c.name == "part" else c)
    total = pd.concat(totals, ignore_index=True) if totals else pd.DataFrame()
    return Explanation(out.reset_index(drop=True), total, counterfactuals.drivers)


# The plans a bundle explains: the quarter's forecast and the year ahead's (each from its own backtest's models).
HORIZONS = ("quarter", "year")


def served_census(bundle: ForecastBundle, horizon: str) -> pd.DataFrame:
    """The census forecast a plan of `horizon` is made from: the quarter's (the bundle's forecasts) or the year
    ahead's."""
    if horizon == "year":
        return (
            bundle.year_ahead.assign(ds=pd.to_datetime(bundle.year_ahead["ds"]))
            if len(bundle.year_ahead)
            else bundle.year_ahead
        )
    rows = bundle.forecasts[bundle.forecasts["target"] == "census"]
    return rows.assign(ds=pd.to_datetime(rows["ds"]))


def explain_plan(
    bundle: ForecastBundle, horizon: str, policy: beds.BedPolicy, start: pd.Timestamp, end: pd.Timestamp
) -> Explanation | None:
    """The bundle's plan of `horizon` (quarter or year) from `start` to `end`, explained; None when the bundle
    holds no counterfactual forecasts for it (trained before explanations, or no year ahead)."""
    counterfactuals = bundle.explained(horizon)
    census = served_census(bundle, horizon)
    if counterfactuals is None or census.empty:
        return None
    return explain_weeks(counterfactuals, census, policy, start, end)


def plan_window(bundle: ForecastBundle, horizon: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The days of the plan a horizon names: the next whole quarter after the data, or the year ahead."""
    last = pd.Timestamp(bundle.units["last_date"].max())
    return year_window(last) if horizon == "year" else quarter_window("next", last)


def explained_plans(bundle: ForecastBundle, policy: beds.BedPolicy) -> dict[str, Explanation]:
    """The next quarter's and the year ahead's plans under `policy`, explained (what a service computes at load);
    a horizon the bundle cannot explain is left out."""
    out = {}
    for horizon in HORIZONS:
        start, end = plan_window(bundle, horizon)
        census = served_census(bundle, horizon)
        if census.empty or census["ds"].min() > start or census["ds"].max() < end:
            continue
        found = explain_plan(bundle, horizon, policy, start, end)
        if found is not None:
            out[horizon] = found
    return out


def scaled(counterfactuals: Counterfactuals, served: pd.DataFrame, changed: pd.DataFrame) -> Counterfactuals:
    """The counterfactuals of a what-if scenario that multiplies the served census day by day (`changed` over
    `served`, both `unique_id, ds, mean`): every combination of drivers moved by the same factor, so the split
    of the scenario's plan shows which drivers its change moves (`forecast.scenarios` scales the census so)."""
    keys = ["unique_id", "ds"]
    ratio = served[[*keys, "mean"]].merge(changed[[*keys, "mean"]], on=keys, suffixes=("_served", "_changed"))
    ratio["ratio"] = np.where(
        ratio["mean_served"] > 0, ratio["mean_changed"] / ratio["mean_served"].where(ratio["mean_served"] > 0, 1), 1.0
    )
    table = counterfactuals.forecasts.merge(ratio[[*keys, "ratio"]], on=keys, how="left")
    table["mean"] = table["mean"] * table["ratio"].fillna(1.0)
    return Counterfactuals(table.drop(columns="ratio"), counterfactuals.drivers)
