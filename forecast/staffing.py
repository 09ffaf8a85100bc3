"""Nurses per shift from a census forecast, and the full-time posts a roster needs.

Averaged over 24 hours Swedish wards run 6–8 beds per registered nurse (RN) and 4–7 per assistant nurse (AN),
with nights at more than twice the day's patients per nurse (DESIGN.md). The defaults below match those averages;
every ratio is configurable per unit. A full-time post is 34 hours a week on rosters that include nights.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from forecast.beds import quantile_at
from forecast.groups import group_starts, group_sum
from forecast.periods import iso_week_numbers, iso_weeks

__all__ = [
    "SHIFTS",
    "StaffingRatios",
    "fte_per_group",
    "nurses_per_shift",
    "ratios_per_unit",
    "shift_staffing",
    "weekly_fte",
]

SHIFTS = ("day", "evening", "night")


@dataclass(frozen=True)
class StaffingRatios:
    """Patients per nurse on each shift, shift lengths, and the hours of a full-time post."""

    rn_day: float = 5
    rn_evening: float = 7
    rn_night: float = 11
    an_day: float = 4
    an_evening: float = 5
    an_night: float = 8
    hours_day: float = 8
    hours_evening: float = 8
    hours_night: float = 8
    fte_hours_per_week: float = 34

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not value > 0:
                raise ValueError(f"staffing ratio {name} must be positive, got {value}")

    def patients_per_nurse(self, role: str, shift: str) -> float:
        return float(getattr(self, f"{role}_{shift}"))

    def hours(self, shift: str) -> float:
        return float(getattr(self, f"hours_{shift}"))


def nurses_per_shift(census: np.ndarray, patients_per_nurse: np.ndarray) -> np.ndarray:
    """Nurses per row and shift (whole, as floats): the census over the shift's patients per nurse, rounded up.

    A unit with any patient needs a nurse; 1e-9 keeps exact multiples from rounding up a whole nurse.
    """
    return np.ceil(np.asarray(census, dtype=float)[:, None] / patients_per_nurse - 1e-9)


def fte_per_group(nurses: np.ndarray, hours: np.ndarray, post: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Full-time equivalents per group of rows (e.g. a unit's ISO week, rows contiguous from `starts`): nurse-hours
    of every shift, in row and shift order, over the hours of a post."""
    values = (nurses * hours / post[:, None]).ravel()
    return group_sum(values, np.asarray(starts) * nurses.shape[1])


def shift_staffing(
    forecast: pd.DataFrame,
    ratios: StaffingRatios | Mapping[str, StaffingRatios] = StaffingRatios(),
    level: float | None = None,
) -> pd.DataFrame:
    """Per unit, day and shift: the census to staff for and the RN and AN it needs.

    Args:
        forecast: `unique_id, ds, mean` and the quantile grid of the census.
        ratios: one set for all units, or a set per unit (units not in the mapping get the defaults).
        level: staff for this quantile of the census (e.g. 0.8) instead of the expected census.

    Returns:
        `unique_id, ds, shift, census, registered_nurses, assistant_nurses`, nurses rounded up.
    """
    census = forecast["mean"].to_numpy(float) if level is None else quantile_at(forecast, level)
    # The ratios of each distinct unit once, spread to its rows (a lookup per row dominated large tables).
    units, codes = np.unique(forecast["unique_id"].astype(str).to_numpy(), return_inverse=True)
    per_unit = [_ratios_for(ratios, unit) for unit in units]
    order = np.lexsort((forecast["ds"].to_numpy(), codes))
    n = len(order)
    table = pd.DataFrame(
        {
            "unique_id": np.repeat(forecast["unique_id"].to_numpy()[order], len(SHIFTS)),
            "ds": np.repeat(forecast["ds"].to_numpy()[order], len(SHIFTS)),
            "shift": np.tile(np.array(SHIFTS, dtype=object), n),
            "census": np.repeat(census[order], len(SHIFTS)),
        }
    )
    rn = np.array([[r.patients_per_nurse("rn", s) for s in SHIFTS] for r in per_unit]).reshape(-1, len(SHIFTS))
    an = np.array([[r.patients_per_nurse("an", s) for s in SHIFTS] for r in per_unit]).reshape(-1, len(SHIFTS))
    row_codes = codes[order]
    table["registered_nurses"] = nurses_per_shift(census[order], rn[row_codes]).ravel().astype(int)
    table["assistant_nurses"] = nurses_per_shift(census[order], an[row_codes]).ravel().astype(int)
    return table


def weekly_fte(
    staffing: pd.DataFrame, ratios: StaffingRatios | Mapping[str, StaffingRatios] = StaffingRatios()
) -> pd.DataFrame:
    """Full-time equivalents per unit and ISO week: nurse-hours of the week's shifts / hours of a post.

    A week only partly inside the forecast counts the days it has (`days` says how many).
    """
    keys, codes = np.unique(staffing["unique_id"].to_numpy(), return_inverse=True)
    codes = codes.reshape(-1)
    per_unit = [_ratios_for(ratios, str(unit)) for unit in keys]
    shift_of = {s: k for k, s in enumerate(SHIFTS)}
    hours_by = np.array([[r.hours(s) for s in SHIFTS] for r in per_unit]).reshape(-1, len(SHIFTS))
    hours = hours_by[codes, staffing["shift"].map(shift_of).to_numpy()]
    post = np.array([r.fte_hours_per_week for r in per_unit])[codes]
    ds = staffing["ds"].to_numpy()
    weeks = iso_week_numbers(ds)
    order = np.lexsort((weeks, codes))  # stable: a week's shifts keep their order
    starts = group_starts(codes[order], weeks[order])
    group = np.repeat(np.arange(len(starts)), np.diff(np.append(starts, len(order))))
    _, first_of_day = np.unique(
        np.stack([group, ds[order].astype("datetime64[ns]").astype(np.int64)]), axis=1, return_index=True
    )
    days = np.bincount(group[first_of_day], minlength=len(starts))

    def fte(role: str) -> np.ndarray:
        nurses = staffing[role].to_numpy(float)[order][:, None]
        return fte_per_group(nurses, hours[order][:, None], post[order], starts) if len(order) else np.zeros(0)

    return pd.DataFrame(
        {
            "unique_id": staffing["unique_id"].to_numpy()[order][starts],
            "week": iso_weeks(ds[order][starts]),
            "days": days.astype(np.int64),
            "rn_fte": fte("registered_nurses"),
            "an_fte": fte("assistant_nurses"),
        }
    )


def ratios_per_unit(units: pd.DataFrame, base: StaffingRatios = StaffingRatios()) -> dict[str, StaffingRatios]:
    """Each unit's ratios: `base`, overridden by the units table's columns named like the fields (`rn_night`, …).

    A unit with no such column, or an empty cell, keeps the base value.

    Raises:
        ValueError: a value that is not a positive number, naming the unit and the field.
    """
    fields = [name for name in asdict(base) if name in units.columns]
    out = {}
    for row in units.to_dict("records"):
        unit = str(row["unit"])
        given = {}
        for name in fields:
            value = row[name]
            if value is None or (isinstance(value, str) and not value.strip()) or pd.isna(value):
                continue
            number = pd.to_numeric(value, errors="coerce")
            if pd.isna(number) or number <= 0:
                raise ValueError(f"unit {unit}, field {name}: must be a positive number, got {value!r}")
            given[name] = float(number)
        out[unit] = StaffingRatios(**{**asdict(base), **given})
    return out


_DEFAULT_RATIOS = StaffingRatios()


def _ratios_for(ratios: StaffingRatios | Mapping[str, StaffingRatios], unit: str) -> StaffingRatios:
    if isinstance(ratios, StaffingRatios):
        return ratios
    # One default object: building (and validating) a new one per row was most of a whole-hospital table's cost.
    return ratios.get(unit, _DEFAULT_RATIOS)
