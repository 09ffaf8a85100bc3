"""Calendar, holiday and tourism features: right dates, same columns ahead, future from the calendar."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast.features import calendar_features, public_holidays, summer_vacation, tourism, yearly_fourier


def frame(start: str, end: str, units=("a",)) -> pd.DataFrame:
    days = pd.date_range(start, end, freq="D")
    return pd.concat([pd.DataFrame({"unique_id": u, "ds": days, "y": 1.0}) for u in units], ignore_index=True)


@pytest.fixture(scope="module")
def sweden():
    history, _ = public_holidays(frame("2024-01-01", "2027-12-31"), 0)
    return history.set_index("ds")


@pytest.mark.parametrize("year", [2024, 2025, 2026, 2027])
def test_midsummer_eve_is_a_friday_holiday_between_19_and_25_june(sweden, year):
    june = sweden.loc[f"{year}-06-19" : f"{year}-06-25"]
    eve = june[(june.index.dayofweek == 4)]
    assert len(eve) == 1 and eve["holiday"].iloc[0] == 1


@pytest.mark.parametrize(
    "day",
    [
        "2024-04-01", "2025-04-21", "2026-04-06", "2027-03-29",  # Easter Monday
        "2024-06-21", "2025-06-20", "2026-06-19", "2027-06-25",  # Midsummer Eve
        "2025-12-24", "2025-12-25", "2025-12-26", "2025-12-31", "2026-01-01", "2026-01-06",
        "2025-04-18", "2025-05-01", "2025-05-29", "2025-06-06",
    ],
)  # fmt: skip
def test_swedish_holidays(sweden, day):
    assert sweden.loc[day, "holiday"] == 1


def test_ordinary_days_and_sundays_are_not_holidays(sweden):
    assert sweden.loc["2025-03-12", "holiday"] == 0  # a Wednesday
    assert sweden.loc["2025-03-16", "holiday"] == 0  # a Sunday
    assert sweden.loc["2025-05-30", "bridge_day"] == 1  # Friday after Ascension Thursday
    assert sweden.loc["2025-05-28", "holiday_eve"] == 1
    assert sweden.loc["2025-05-30", "after_holiday"] == 1


@pytest.mark.parametrize(("country", "day"), [("US", "2025-07-04"), ("PT", "2025-04-25"), ("IN", "2025-01-26")])
def test_other_countries(country, day):
    history, _ = public_holidays(frame("2025-01-01", "2025-12-31"), 0, country=country)
    assert history.set_index("ds").loc[day, "holiday"] == 1


def test_unknown_country_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown country code"):
        public_holidays(frame("2025-01-01", "2025-01-31"), 0, country="XX")


def test_future_has_h_rows_per_series_and_holidays_from_the_calendar():
    history, future = calendar_features(frame("2025-06-01", "2025-12-20", units=("a", "b")), 14)
    assert future.groupby("unique_id").size().tolist() == [14, 14]
    assert future["ds"].min() == pd.Timestamp("2025-12-21")
    assert set(future.columns) == set(history.columns) - {"y"}
    marked = set(future.loc[future["holiday"] == 1, "ds"].dt.strftime("%Y-%m-%d"))
    assert {"2025-12-24", "2025-12-25", "2025-12-26", "2025-12-31", "2026-01-01"} <= marked


def test_features_do_not_depend_on_row_order():
    df = frame("2025-01-01", "2025-03-31", units=("a", "b"))
    shuffled = df.sample(frac=1, random_state=0)
    a, _ = calendar_features(df, 7)
    b, _ = calendar_features(shuffled, 7)
    pd.testing.assert_frame_equal(a, b.loc[a.index])


def test_fourier_terms_continuous_and_equal_across_series():
    history, future = yearly_fourier(frame("2025-01-01", "2025-06-30", units=("a", "b")), 3)
    both = pd.concat([history, future]).sort_values(["unique_id", "ds"])
    jumps = both.groupby("unique_id")["sin1_365"].diff().abs().max()
    assert jumps < 2 * np.pi / 365
    a = both[both["unique_id"] == "a"].set_index("ds")["cos2_365"]
    b = both[both["unique_id"] == "b"].set_index("ds")["cos2_365"]
    pd.testing.assert_series_equal(a, b)


def test_summer_vacation_marks_iso_weeks_28_to_32():
    history, _ = summer_vacation(frame("2025-01-01", "2025-12-31"), 0)
    marked = history.loc[history["summer_vacation"] == 1, "ds"]
    assert set(marked.dt.isocalendar().week) == {28, 29, 30, 31, 32}


def test_tourism_monthly_spread_given_future_and_seasonal_profile():
    months = pd.date_range("2023-01-01", "2025-12-01", freq="MS")
    totals = np.where(months.month == 7, 600_000.0, 40_000.0)
    monthly = pd.DataFrame({"date": months, "guest_nights": totals})
    history, future = tourism(frame("2023-01-01", "2024-12-31"), 31, monthly, scale=1.0)
    july = history[(history["ds"] >= "2024-07-01") & (history["ds"] <= "2024-07-31")]
    assert july["guest_nights"].sum() == pytest.approx(600_000)
    assert future["guest_nights"].sum() == pytest.approx(40_000)  # January 2025 as given
    # Without future values: the seasonal profile of past years puts a future July far above a January.
    past = monthly[monthly["date"] < "2025-01-01"]
    _, ahead = tourism(frame("2023-01-01", "2024-12-31"), 365, past, scale=1.0)
    by_month = ahead.groupby(ahead["ds"].dt.month)["guest_nights"].mean()
    assert by_month[7] > 5 * by_month[1]


def test_bad_guest_nights_are_named():
    bad = pd.DataFrame({"date": pd.date_range("2024-01-01", periods=3), "guest_nights": [1.0, -5.0, 2.0]})
    with pytest.raises(ValueError, match="row 2, field guest_nights"):
        tourism(frame("2024-01-01", "2024-01-03"), 1, bad)
