"""Nurses per shift and full-time equivalents from a census forecast."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast.quantiles import LEVELS, column
from forecast.staffing import StaffingRatios, ratios_per_unit, shift_staffing, weekly_fte


def census_forecast(mean: list[float], unit: str = "ward_a", spread: float = 2.0) -> pd.DataFrame:
    frame = pd.DataFrame(
        {"unique_id": unit, "ds": pd.date_range("2026-01-05", periods=len(mean), freq="D"), "mean": mean}
    )
    for q in LEVELS:
        frame[column(q)] = np.array(mean) + spread * (q - 0.5) * 4
    return frame


def test_nurses_follow_the_ratios_per_shift():
    table = shift_staffing(census_forecast([22.0]))
    by_shift = table.set_index("shift")
    assert list(table["shift"]) == ["day", "evening", "night"]
    # 22 patients: RN 22/5 → 5, 22/7 → 4, 22/11 → 2; AN 22/4 → 6, 22/5 → 5, 22/8 → 3.
    assert by_shift["registered_nurses"].tolist() == [5, 4, 2]
    assert by_shift["assistant_nurses"].tolist() == [6, 5, 3]


def test_exact_multiples_do_not_round_up_and_an_empty_ward_needs_no_one():
    table = shift_staffing(census_forecast([10.0, 0.0]))
    day = table[table["shift"] == "day"]
    assert day["registered_nurses"].tolist() == [2, 0]


def test_ratios_per_unit_and_a_quantile_to_staff_for():
    both = pd.concat([census_forecast([20.0], "a"), census_forecast([20.0], "b")], ignore_index=True)
    table = shift_staffing(both, {"b": StaffingRatios(rn_day=4)})
    day = table[table["shift"] == "day"].set_index("unique_id")
    assert day.loc["a", "registered_nurses"] == 4 and day.loc["b", "registered_nurses"] == 5
    high = shift_staffing(census_forecast([20.0]), level=0.9)
    assert high["census"].iloc[0] == pytest.approx(23.2)
    assert high[high["shift"] == "day"]["registered_nurses"].iloc[0] == 5


def test_weekly_fte_counts_nurse_hours_over_a_34_hour_post():
    table = shift_staffing(census_forecast([22.0] * 7))
    fte = weekly_fte(table)
    assert fte["week"].tolist() == ["2026-W02"] and fte["days"].tolist() == [7]
    # RN per day: (5 + 4 + 2) nurses × 8 h = 88 h; a week 616 h / 34.
    assert fte["rn_fte"].iloc[0] == pytest.approx(616 / 34)


def test_ratios_must_be_positive():
    with pytest.raises(ValueError, match="rn_night"):
        StaffingRatios(rn_night=0)


def test_ratios_per_unit_from_a_units_table():
    units = pd.DataFrame({"unit": ["a", "b", "c"], "beds": [10, 20, 30], "rn_night": ["", "9", None]})
    ratios = ratios_per_unit(units, StaffingRatios(rn_day=6))
    assert ratios["a"] == StaffingRatios(rn_day=6) and ratios["c"] == StaffingRatios(rn_day=6)
    assert ratios["b"] == StaffingRatios(rn_day=6, rn_night=9)
    with pytest.raises(ValueError, match="unit b, field rn_night"):
        ratios_per_unit(units.assign(rn_night=["", "-1", None]))
