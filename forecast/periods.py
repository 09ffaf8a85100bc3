"""The planner's periods: ISO weeks and quarters, named once for the CLI, training, plans and serving.

A quarter is asked for by name (`next`, the first whole quarter after the data, or `2026Q1`); `quarter_window`
turns the name into its first and last day and checks it against the days a forecast covers, with one message
for every caller. ISO week labels (`2026-W07`) are made by `iso_weeks`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = [
    "QuarterError",
    "iso_week_numbers",
    "iso_weeks",
    "quarter_bounds",
    "quarter_window",
    "quarters_inside",
    "YEAR",
    "YEAR_WEEKS",
    "year_window",
]


class QuarterError(ValueError):
    """A quarter that cannot be planned: not a quarter's name, or not inside the forecast."""


def quarter_bounds(spec: str, last_date: pd.Timestamp) -> tuple[pd.Timestamp, pd.Timestamp]:
    """First and last day of a quarter: `next` (the first whole quarter after `last_date`) or `YYYYQn`.

    Raises:
        QuarterError: `spec` is neither.
    """
    text = spec.strip().upper()
    if text == "NEXT":
        quarter = (pd.Timestamp(last_date) + pd.Timedelta(days=1)).to_period("Q")
        if quarter.start_time != pd.Timestamp(last_date) + pd.Timedelta(days=1):
            quarter += 1
    else:
        if len(text) != 6 or text[4] != "Q" or not text[:4].isdigit() or text[5] not in "1234":
            raise QuarterError(f"quarter must be 'next' or like 2026Q1, got {spec!r}")
        try:  # the bounds too: pandas overflows on them for years outside its calendar (1677-2262)
            quarter = pd.Period(text, freq="Q")
            return quarter.start_time.normalize(), quarter.end_time.normalize()
        except (ValueError, OverflowError):  # year 0, or before the calendar pandas counts in (1677)
            raise QuarterError(
                f"quarter {spec!r} is not a quarter of the calendar; give next or one like 2026Q1"
            ) from None
    return quarter.start_time.normalize(), quarter.end_time.normalize()


def quarters_inside(first: pd.Timestamp, last: pd.Timestamp) -> list[str]:
    """The names of the whole quarters from `first` to `last`."""
    names = []
    for period in pd.period_range(first, last, freq="Q"):
        if first <= period.start_time.normalize() and period.end_time.normalize() <= last:
            names.append(f"{period.year}Q{period.quarter}")
    return names


def quarter_window(
    spec: str,
    data_last_day: pd.Timestamp,
    first: pd.Timestamp | None = None,
    last: pd.Timestamp | None = None,
) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The first and last day of the quarter `spec` names, checked against the forecast's days.

    Args:
        spec: `next` (the first whole quarter after `data_last_day`) or like `2026Q1`.
        data_last_day: the data's last day.
        first: the forecast's first day; without it and `last` the quarter need only start after the data (a
            forecast made to cover it comes later).
        last: the forecast's last day.

    Raises:
        QuarterError: not a quarter's name, or a quarter the forecast does not cover whole; the message names
            the quarters it does cover.
    """
    if first is None or last is None:
        start, end = quarter_bounds(spec, data_last_day)
        if start <= data_last_day:
            raise QuarterError(f"{spec} starts before the data ends ({data_last_day:%Y-%m-%d}); plan a later quarter")
        return start, end
    inside = quarters_inside(first, last)
    nxt = quarter_bounds("next", data_last_day)
    allowed = (["next"] if first <= nxt[0] and nxt[1] <= last else []) + inside
    hint = ", ".join(allowed) if allowed else "none: the forecast holds no whole quarter"
    try:
        start, end = quarter_bounds(spec, data_last_day)
    except QuarterError:
        raise QuarterError(f"quarter must be next or like 2026Q1; allowed: {hint}") from None
    if not (first <= start and end <= last):
        raise QuarterError(f"the forecast covers {first:%Y-%m-%d} to {last:%Y-%m-%d}; allowed quarters: {hint}")
    return start, end


def iso_week_numbers(ds: np.ndarray | pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """ISO year × 100 + week per day (`202607`), worked out once per distinct day."""
    days, index = np.unique(np.asarray(ds, dtype="datetime64[ns]"), return_inverse=True)
    iso = pd.DatetimeIndex(days).isocalendar()
    return (iso["year"].to_numpy(np.int64) * 100 + iso["week"].to_numpy(np.int64))[index.reshape(-1)]


def iso_weeks(ds: np.ndarray | pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """ISO week labels like `2026-W07` per day, worked out once per distinct day."""
    days, index = np.unique(np.asarray(ds, dtype="datetime64[ns]"), return_inverse=True)
    iso = pd.DatetimeIndex(days).isocalendar()
    labels = (iso["year"].astype(str) + "-W" + iso["week"].astype(str).str.zfill(2)).to_numpy(dtype=object)
    return labels[index.reshape(-1)]


# The year ahead: 52 whole ISO weeks from the first Monday after the data (a forecast of 364 days and the days
# to that Monday). Planned where the data hold two years (the year-ahead backtest needs a year to learn from and
# a year to score).
YEAR = "year"
YEAR_WEEKS = 52


def year_window(data_last_day: pd.Timestamp) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The first and last day of the year ahead: 52 ISO weeks from the first Monday after `data_last_day`."""
    day = pd.Timestamp(data_last_day).normalize()
    start = day + pd.Timedelta(days=7 - day.dayofweek)
    return start, start + pd.Timedelta(weeks=YEAR_WEEKS) - pd.Timedelta(days=1)
