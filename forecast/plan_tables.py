"""The plan's tables (days, weeks, nurses per shift, FTE) of a window of days, and a scenario's beside the
served plan's, on arrays.

A planner trying scenarios in a meeting asks for the whole hospital's quarter again and again with a lever
moved, so the fixed part of a window (rows, weeks, beds, ratios) is cut once and each scenario is arithmetic on
it, by the very functions every plan uses (`beds.daily_beds`, `beds.period_beds`, `staffing.nurses_per_shift`,
`staffing.fte_per_group`): the served plan's tables and a scenario's are made the same way, so a figure the
scenario does not move changes by exactly zero, and the empty scenario is the served plan to the digit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np
import pandas as pd

from forecast.beds import BedPolicy, daily_beds, period_beds, quantile_grid, small_unit_warning, target_beds, whole
from forecast.groups import group_starts
from forecast.periods import iso_weeks
from forecast.staffing import SHIFTS, StaffingRatios, fte_per_group, nurses_per_shift

__all__ = ["Window", "Arrays", "window_of", "tables_beside"]


@dataclass(frozen=True)
class Window:
    """The rows of a plan window (units in order, each unit's days in order) and what does not change in it.

    Attributes:
        units, ds: per row, its unit and day.
        rows_of: per unit, its rows.
        starts: first row of each (unit, ISO week) group; rows of a group are contiguous.
        levels: the quantile grid's levels.
        split: whether every row has the census by admission type (then beds at target use it).
        current_beds: per row, today's beds (NaN where unknown).
        weeks: per row, its ISO week label.
        rn, an, hours: per row and shift, patients per nurse and shift hours; post: hours of a full-time post.
        memo: the served plan's figures of the window, once worked out.
    """

    units: np.ndarray
    ds: np.ndarray
    rows_of: dict[str, slice]
    starts: np.ndarray
    levels: np.ndarray
    split: bool
    current_beds: np.ndarray
    weeks: np.ndarray
    rn: np.ndarray
    an: np.ndarray
    hours: np.ndarray
    post: np.ndarray
    memo: dict = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class Arrays:
    """A census forecast of the window's rows: mean, the quantile grid, and the mean by type (NaN if unsplit)."""

    mean: np.ndarray
    grid: np.ndarray
    acute: np.ndarray
    elective: np.ndarray


def window_of(
    census: pd.DataFrame, current_beds: pd.Series, ratios: Mapping[str, StaffingRatios]
) -> tuple[Window, Arrays]:
    """Cut a window's served census rows (sorted by unit and day) into a `Window` and its served `Arrays`."""
    units = census["unique_id"].astype(str).to_numpy()
    ds = census["ds"].to_numpy()
    names, first = np.unique(units, return_index=True)
    bounds = [*sorted(first), len(units)]
    rows_of = {str(units[a]): slice(a, b) for a, b in pairwise(bounds)}
    labels = iso_weeks(ds)
    levels, grid = quantile_grid(census)
    per_row = [ratios.get(unit, StaffingRatios()) for unit in names]
    code = {name: k for k, name in enumerate(names)}
    codes = np.array([code[u] for u in units], dtype=int)

    def by_shift(role: str) -> np.ndarray:
        return np.array([[r.patients_per_nurse(role, s) for s in SHIFTS] for r in per_row]).reshape(-1, 3)[codes]

    window = Window(
        units=units,
        ds=ds,
        rows_of=rows_of,
        starts=group_starts(units, labels),
        levels=levels,
        split=bool(census["mean_acute"].notna().all()) if "mean_acute" in census else False,
        current_beds=census["unique_id"].map(current_beds).to_numpy(dtype=float, na_value=np.nan),
        weeks=labels,
        rn=by_shift("rn"),
        an=by_shift("an"),
        hours=np.array([[r.hours(s) for s in SHIFTS] for r in per_row]).reshape(-1, 3)[codes],
        post=np.array([r.fte_hours_per_week for r in per_row])[codes],
    )
    split = census.reindex(columns=["mean_acute", "mean_elective"]).to_numpy(dtype=float, na_value=np.nan)
    return window, Arrays(census["mean"].to_numpy(float), grid, split[:, 0], split[:, 1])


def _daily(
    window: Window,
    census: Arrays,
    policy: BedPolicy,
    open_beds: np.ndarray,
    unit_policies: Mapping[str, BedPolicy] | None = None,
) -> dict[str, np.ndarray]:
    split = (census.acute, census.elective) if window.split else (None, None)
    daily = daily_beds(window.levels, census.grid, census.mean, policy, open_beds, *split)
    for unit, own in (unit_policies or {}).items():  # units at targets of their own
        rows = window.rows_of[unit]
        parts = [None if part is None else part[rows] for part in split]
        daily["beds_target"][rows] = target_beds(census.mean[rows], own, *parts)
    return daily


def _staffing(window: Window, mean: np.ndarray) -> dict[str, np.ndarray]:
    """Nurses per row and shift, and FTE per week group."""
    rn, an = nurses_per_shift(mean, window.rn), nurses_per_shift(mean, window.an)
    return {
        "census": np.repeat(mean, len(SHIFTS)),
        "registered_nurses": rn.ravel(),
        "assistant_nurses": an.ravel(),
        "rn_fte": fte_per_group(rn, window.hours, window.post, window.starts),
        "an_fte": fte_per_group(an, window.hours, window.post, window.starts),
    }


WHOLE = {"days", "beds_target", "beds_risk", "current_beds", "gap", "surge_days", "registered_nurses"}
WHOLE |= {"assistant_nurses"}


def _columns(scenario: dict[str, np.ndarray], served: dict[str, np.ndarray], names: list[str]) -> dict[str, object]:
    out: dict[str, object] = {}
    for name in names:
        mine, theirs = scenario[name], served[name]
        out[name] = whole(mine) if name in WHOLE else mine
        out[f"served_{name}"] = whole(theirs) if name in WHOLE else theirs
        out[f"change_{name}"] = whole(mine - theirs) if name in WHOLE else mine - theirs
    return out


def _served(
    window: Window, served: Arrays, policy: BedPolicy
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The served plan's daily, weekly and staffing figures of the window (worked out once per policy)."""
    key = (id(served), policy)
    found = window.memo.get(key)
    if found is None or found[0] is not served:
        daily = _daily(window, served, policy, window.current_beds)
        found = window.memo[key] = (served, daily, period_beds(daily, window.starts), _staffing(window, served.mean))
    return found[1], found[2], found[3]


def tables_beside(
    window: Window,
    scenario: Arrays,
    served: Arrays,
    policy: BedPolicy,
    served_policy: BedPolicy,
    open_beds: np.ndarray,
    unit_policies: Mapping[str, BedPolicy] | None = None,
    tables: Sequence[str] = ("weeks", "days", "shifts", "fte"),
) -> tuple[pd.DataFrame, pd.DataFrame | None, pd.DataFrame | None, pd.DataFrame | None, list[str]]:
    """Weeks, days, shifts and FTE of the scenario beside the served plan's (`served_*`, `change_*`), and the
    small-unit warnings of the scenario's plan; `unit_policies` gives units occupancy targets of their own. Only
    the `tables` asked for are made (the others are None; the weeks always)."""
    day_now = _daily(window, scenario, policy, open_beds, unit_policies)
    week_now, staff_now = period_beds(day_now, window.starts), _staffing(window, scenario.mean)
    day_then, week_then, staff_then = _served(window, served, served_policy)
    starts = window.starts
    week_start = window.ds[starts] - (pd.DatetimeIndex(window.ds[starts]).dayofweek.to_numpy() * np.timedelta64(1, "D"))
    weeks = pd.DataFrame(
        {
            "unique_id": window.units[starts],
            "period_start": week_start,
            "period": window.weeks[starts],
            **_columns(week_now, week_then, list(week_now)),
        }
    )
    days = shifts = fte = None
    if "days" in tables:
        surge = np.where(np.isnan(day_now["surge_day"]), None, day_now["surge_day"] == 1)
        days = pd.DataFrame(
            {
                "unique_id": window.units,
                "ds": window.ds,
                **_columns(day_now, day_then, [n for n in day_now if n != "surge_day"]),
                "surge_day": pd.array(surge, dtype="boolean"),
            }
        )
    if "shifts" in tables:
        shifts = pd.DataFrame(
            {
                "unique_id": np.repeat(window.units, len(SHIFTS)),
                "ds": np.repeat(window.ds, len(SHIFTS)),
                "shift": np.tile(np.array(SHIFTS, dtype=object), len(window.units)),
                **_columns(staff_now, staff_then, ["census", "registered_nurses", "assistant_nurses"]),
            }
        )
    if "fte" in tables:
        fte = pd.DataFrame(
            {
                "unique_id": window.units[starts],
                "week": window.weeks[starts],
                "days": np.diff(np.append(starts, len(window.units))),
                **_columns(staff_now, staff_then, ["rn_fte", "an_fte"]),
            }
        )
    return weeks, days, shifts, fte, _warnings(window, day_now)


def _warnings(window: Window, daily: dict[str, np.ndarray]) -> list[str]:
    """`beds.small_unit_warnings` of the scenario's daily plan."""
    messages = []
    for unit, rows in sorted(window.rows_of.items()):
        message = small_unit_warning(unit, daily["beds_target"][rows].mean(), daily["beds_risk"][rows].mean())
        if message:
            messages.append(message)
    return messages
