"""Calendar, holiday and tourism features for history and future, in the utilsforecast style.

Every feature function has the shape `f(df, h, ...) -> (history_with_features, future_features)`: the history
is `df` with new columns, the future holds the h days after each series' last date with the same columns. The
future comes from the calendar (and a tourism series or its seasonal profile), never from the data's `y`.
Calendar features are computed once per distinct date and mapped onto rows, so thousands of units cost little.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

import holidays as holidays_lib
import numpy as np
import pandas as pd

__all__ = [
    "future_dates",
    "day_of_week",
    "yearly_fourier",
    "public_holidays",
    "holiday_dates",
    "summer_vacation",
    "christmas_period",
    "tourism",
    "pipeline",
    "calendar_features",
]

Feature = Callable[..., tuple[pd.DataFrame, pd.DataFrame]]


def future_dates(df: pd.DataFrame, h: int, id_col: str = "unique_id", time_col: str = "ds") -> pd.DataFrame:
    """The h daily dates after each series' last date, as `id_col, time_col`."""
    if not pd.api.types.is_datetime64_any_dtype(df[time_col]):
        raise ValueError(f"{time_col} must hold dates (datetime64), found {df[time_col].dtype}")
    repeated = df.duplicated([id_col, time_col])
    if repeated.any():
        first = df[repeated].iloc[0]
        raise ValueError(f"series {first[id_col]} has the date {first[time_col]:%Y-%m-%d} more than once")
    last = df.groupby(id_col, sort=False)[time_col].max()
    if h <= 0:
        return pd.DataFrame({id_col: pd.Series(dtype=df[id_col].dtype), time_col: pd.Series(dtype="datetime64[ns]")})
    steps = pd.to_timedelta(np.arange(1, h + 1), unit="D")
    return pd.DataFrame(
        {
            id_col: np.repeat(last.index.to_numpy(), h),
            time_col: (np.repeat(last.to_numpy(), h) + np.tile(steps.to_numpy(), len(last))),
        }
    )


def _with_date_features(
    df: pd.DataFrame,
    h: int,
    make: Callable[[pd.DatetimeIndex], pd.DataFrame],
    id_col: str,
    time_col: str,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Compute `make` once per distinct date of history and future, and attach it to both."""
    future = future_dates(df, h, id_col, time_col)
    dates = pd.DatetimeIndex(pd.concat([df[time_col], future[time_col]]).unique()).sort_values()
    table = make(dates)
    table.index = dates

    def attach(frame: pd.DataFrame) -> pd.DataFrame:
        values = table.reindex(pd.DatetimeIndex(frame[time_col]))
        values.index = frame.index
        return pd.concat([frame, values], axis=1)

    return attach(df), attach(future)


def day_of_week(df: pd.DataFrame, h: int, id_col: str = "unique_id", time_col: str = "ds"):
    """`dow_1` … `dow_6`: Tuesday to Sunday dummies (Monday is the baseline, for linear models)."""

    def make(dates: pd.DatetimeIndex) -> pd.DataFrame:
        return pd.DataFrame({f"dow_{k}": (dates.dayofweek == k).astype(float) for k in range(1, 7)})

    return _with_date_features(df, h, make, id_col, time_col)


def yearly_fourier(df: pd.DataFrame, h: int, k: int = 3, id_col: str = "unique_id", time_col: str = "ds"):
    """`sin1_365, cos1_365, …`: k Fourier pairs of the yearly cycle, from the absolute date."""

    def make(dates: pd.DatetimeIndex) -> pd.DataFrame:
        t = (dates - pd.Timestamp("1970-01-01")).days.to_numpy(float)
        columns = {}
        for i in range(1, k + 1):
            columns[f"sin{i}_365"] = np.sin(2 * np.pi * i * t / 365.25)
            columns[f"cos{i}_365"] = np.cos(2 * np.pi * i * t / 365.25)
        return pd.DataFrame(columns)

    return _with_date_features(df, h, make, id_col, time_col)


# Days that count as holidays beyond the official list: hospitals run weekend staffing on them.
_DE_FACTO = {"SE": ("Midsummer Eve", "Christmas Eve", "New Year's Eve")}


def holiday_dates(years: Sequence[int], country: str = "SE", subdiv: str | None = None) -> dict:
    """Public holidays (and, for Sweden, the de-facto ones: Midsummer, Christmas and New Year's Eve)."""
    try:
        calendar = holidays_lib.country_holidays(country, subdiv=subdiv, years=list(years))
    except NotImplementedError:
        raise ValueError(
            f"unknown country code {country!r}; use an ISO 3166 alpha-2 code from holidays.list_supported_countries()"
        ) from None
    dates = dict(calendar.items())
    de_facto = _DE_FACTO.get(country.upper())
    if de_facto:
        extra = holidays_lib.country_holidays(country, subdiv=subdiv, years=list(years), categories=("de_facto",))
        dates.update({d: name for d, name in extra.items() if any(n in name for n in de_facto)})
    return dates


def public_holidays(
    df: pd.DataFrame,
    h: int,
    country: str = "SE",
    subdiv: str | None = None,
    id_col: str = "unique_id",
    time_col: str = "ds",
):
    """`holiday`, `holiday_eve`, `after_holiday` and `bridge_day` from the country's calendar.

    A bridge day ("klämdag") is a weekday that is no holiday but lies between a holiday and a weekend or
    another holiday, such as the Friday after Ascension Thursday: many take it off, planned care slows.
    """

    def make(dates: pd.DatetimeIndex) -> pd.DataFrame:
        years = range(dates.min().year - 1, dates.max().year + 2)
        marked = pd.DatetimeIndex(sorted(pd.Timestamp(d) for d in holiday_dates(years, country, subdiv)))
        holiday = dates.isin(marked)
        before = dates.isin(marked - pd.Timedelta(days=1)) & ~holiday
        after = dates.isin(marked + pd.Timedelta(days=1)) & ~holiday

        def off(shift: int) -> np.ndarray:
            # A day off, `shift` days away: a weekend day or a holiday.
            moved = dates + pd.Timedelta(days=shift)
            return (moved.dayofweek >= 5) | moved.isin(marked)

        weekday = (dates.dayofweek < 5) & ~holiday
        bridge = weekday & (
            (dates.isin(marked + pd.Timedelta(days=1)) & off(1)) | (dates.isin(marked - pd.Timedelta(days=1)) & off(-1))
        )
        return pd.DataFrame(
            {
                "holiday": holiday.astype(float),
                "holiday_eve": before.astype(float),
                "after_holiday": after.astype(float),
                "bridge_day": bridge.astype(float),
            }
        )

    return _with_date_features(df, h, make, id_col, time_col)


def summer_vacation(
    df: pd.DataFrame, h: int, weeks: tuple[int, int] = (28, 32), id_col: str = "unique_id", time_col: str = "ds"
):
    """`summer_vacation`: 1 in ISO weeks 28–32, when Swedish hospitals shut most planned care."""

    def make(dates: pd.DatetimeIndex) -> pd.DataFrame:
        week = dates.isocalendar().week.to_numpy()
        return pd.DataFrame({"summer_vacation": ((week >= weeks[0]) & (week <= weeks[1])).astype(float)})

    return _with_date_features(df, h, make, id_col, time_col)


def christmas_period(df: pd.DataFrame, h: int, id_col: str = "unique_id", time_col: str = "ds"):
    """`christmas_period`: 1 from 23 December to 6 January (Epiphany), the holiday slowdown."""

    def make(dates: pd.DatetimeIndex) -> pd.DataFrame:
        late_dec = (dates.month == 12) & (dates.day >= 23)
        early_jan = (dates.month == 1) & (dates.day <= 6)
        return pd.DataFrame({"christmas_period": (late_dec | early_jan).astype(float)})

    return _with_date_features(df, h, make, id_col, time_col)


def _daily_guest_nights(guest_nights: pd.DataFrame, column: str) -> pd.Series:
    """A daily series from daily or monthly guest nights (a month's total spread evenly over its days)."""
    date_col = "date" if "date" in guest_nights.columns else "ds"
    if date_col not in guest_nights.columns or column not in guest_nights.columns:
        raise ValueError(f"guest nights need the columns date and {column}")
    values = pd.to_numeric(guest_nights[column], errors="coerce")
    if values.isna().any() or (values < 0).any():
        row = int(np.flatnonzero(values.isna().to_numpy() | (values < 0).to_numpy())[0]) + 1
        raise ValueError(f"guest nights: row {row}, field {column}: must be a number ≥ 0")
    dates = pd.to_datetime(guest_nights[date_col])
    if dates.duplicated().any():
        raise ValueError(f"guest nights: the date {dates[dates.duplicated()].iloc[0]:%Y-%m-%d} appears more than once")
    series = pd.Series(values.to_numpy(float), index=pd.DatetimeIndex(dates)).sort_index()
    monthly = (
        len(series) > 1
        and (series.index.day == 1).all()
        and (series.index.to_series().diff().dt.days.dropna() >= 28).all()
    )
    if monthly:
        days = pd.date_range(series.index.min(), series.index.max() + pd.offsets.MonthEnd(0), freq="D")
        per_day = series / series.index.days_in_month
        return per_day.reindex(days, method="ffill")
    return series.asfreq("D")


def _seasonal_profile(daily: pd.Series) -> pd.Series:
    """Mean by day of year over past years, smoothed over 15 days (circular), at the latest year's level."""
    known = daily.dropna()
    if (known.index.max() - known.index.min()).days < 364:
        raise ValueError("guest nights cover less than a year: give future values or at least a full year of history")
    doy = np.minimum(known.index.dayofyear, 365)
    profile = known.groupby(doy).mean().reindex(range(1, 366)).interpolate(limit_direction="both")
    padded = pd.concat([profile.iloc[-7:], profile, profile.iloc[:7]])
    smooth = padded.rolling(15, center=True).mean().iloc[7:-7]
    last_year = known[known.index > known.index.max() - pd.Timedelta(days=365)]
    level = last_year.mean() / smooth.reindex(np.minimum(last_year.index.dayofyear, 365)).mean()
    return smooth * (level if np.isfinite(level) and level > 0 else 1.0)


def tourism(
    df: pd.DataFrame,
    h: int,
    guest_nights: pd.DataFrame,
    column: str = "guest_nights",
    scale: float = 1000.0,
    id_col: str = "unique_id",
    time_col: str = "ds",
):
    """`guest_nights` (in thousands by default): tourists present, a driver of acute admissions.

    Given values are used where the series covers a day (a published tourism forecast covers the future);
    elsewhere the seasonal profile of past years (same day of year, 15-day smoothing) at the most recent
    year's level, so growth carries into the forecast.
    """
    daily = _daily_guest_nights(guest_nights, column)

    def make(dates: pd.DatetimeIndex) -> pd.DataFrame:
        values = daily.reindex(dates)
        missing = values.isna()
        if missing.any():
            profile = _seasonal_profile(daily)
            values[missing] = profile.reindex(np.minimum(dates[missing.to_numpy()].dayofyear, 365)).to_numpy()
        return pd.DataFrame({"guest_nights": values.to_numpy(float) / scale})

    return _with_date_features(df, h, make, id_col, time_col)


def pipeline(df: pd.DataFrame, h: int, features: Sequence[Feature]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Apply feature functions in turn; their future frames are joined on the series and date."""
    history = df
    future = None
    for feature in features:
        history, ahead = feature(history, h)
        new = [c for c in ahead.columns if c not in ("unique_id", "ds")]
        future = ahead if future is None else future.merge(ahead[["unique_id", "ds", *new]], on=["unique_id", "ds"])
    return history, future if future is not None else future_dates(df, h)


def calendar_features(
    df: pd.DataFrame,
    h: int,
    country: str = "SE",
    guest_nights: pd.DataFrame | None = None,
    fourier_k: int = 3,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The standard set: day of week, yearly Fourier terms, holidays, summer vacation, Christmas, tourism."""
    steps: list[Feature] = [
        day_of_week,
        partial(yearly_fourier, k=fourier_k),
        partial(public_holidays, country=country),
        summer_vacation,
        christmas_period,
    ]
    if guest_nights is not None:
        steps.append(partial(tourism, guest_nights=guest_nights))
    return pipeline(df, h, steps)
