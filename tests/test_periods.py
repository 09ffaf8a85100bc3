"""Quarters and ISO weeks: one function turns a quarter's name into its days for every caller."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast.periods import QuarterError, iso_week_numbers, iso_weeks, quarter_bounds, quarter_window


def test_quarter_bounds():
    assert quarter_bounds("next", pd.Timestamp("2025-12-31")) == (
        pd.Timestamp("2026-01-01"),
        pd.Timestamp("2026-03-31"),
    )
    assert quarter_bounds("next", pd.Timestamp("2025-11-15"))[0] == pd.Timestamp("2026-01-01")
    assert quarter_bounds("2026q3", pd.Timestamp("2025-12-31")) == (
        pd.Timestamp("2026-07-01"),
        pd.Timestamp("2026-09-30"),
    )
    for bad in ("2026Q5", "soon", "0000Q1", "0001Q1"):
        with pytest.raises(QuarterError, match="next"):
            quarter_bounds(bad, pd.Timestamp("2025-12-31"))


def test_a_quarter_window_must_lie_inside_the_forecast_and_names_those_that_do():
    last_data = pd.Timestamp("2025-12-31")
    first, last = pd.Timestamp("2026-01-01"), pd.Timestamp("2026-07-15")
    assert quarter_window("next", last_data, first, last) == (pd.Timestamp("2026-01-01"), pd.Timestamp("2026-03-31"))
    assert quarter_window("2026Q2", last_data, first, last)[1] == pd.Timestamp("2026-06-30")
    with pytest.raises(QuarterError, match="allowed quarters: next, 2026Q1, 2026Q2"):
        quarter_window("2026Q3", last_data, first, last)
    with pytest.raises(QuarterError, match="allowed: next, 2026Q1, 2026Q2"):
        quarter_window("soon", last_data, first, last)
    with pytest.raises(QuarterError, match="no whole quarter"):
        quarter_window("next", last_data, first, pd.Timestamp("2026-02-01"))


def test_without_a_forecast_a_quarter_must_start_after_the_data():
    assert quarter_window("next", pd.Timestamp("2025-11-15"))[0] == pd.Timestamp("2026-01-01")
    with pytest.raises(QuarterError, match="starts before the data ends"):
        quarter_window("2025Q4", pd.Timestamp("2025-11-15"))


def test_iso_weeks_follow_the_iso_calendar_across_the_year_end():
    days = pd.date_range("2025-12-27", "2026-01-06")
    labels = iso_weeks(days.to_numpy())
    assert list(labels[:2]) == ["2025-W52", "2025-W52"] and labels[2] == "2026-W01"  # 29 Dec 2025 is a Monday
    assert list(iso_week_numbers(days.to_numpy())[[0, 2, -1]]) == [202552, 202601, 202602]
    shuffled = np.random.default_rng(0).permutation(len(days))
    assert list(iso_weeks(days.to_numpy()[shuffled])) == list(labels[shuffled])
