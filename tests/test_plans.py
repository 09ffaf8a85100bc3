"""Bed plans for units and pools: the one function the CLI, training and the API build a quarter's plan with."""

from __future__ import annotations

import pandas as pd
import pytest

from forecast import beds, plans
from tests.bundles import FIRST_DAY, make_bundle


def test_a_unit_plan_is_the_weekly_table_of_the_days_asked_for():
    census = make_bundle().select(target="census")
    start, end = FIRST_DAY + pd.Timedelta(days=7), FIRST_DAY + pd.Timedelta(days=34)
    table, warnings = plans.quarter_plan(census, start, end, beds.BedPolicy(), pd.Series({"medicine": 20}))
    days = census[(census["ds"] >= start) & (census["ds"] <= end)]
    assert table["days"].sum() == len(days)
    assert table["period_start"].min() >= start - pd.Timedelta(days=6)
    assert set(table.loc[table["unique_id"] == "medicine", "current_beds"]) == {20}
    assert table.loc[table["unique_id"] == "surgery", "current_beds"].isna().all()
    assert isinstance(warnings, list)


def test_a_pool_plan_needs_the_pools_and_names_a_wrong_level():
    census = make_bundle().select(target="census")
    start, end = FIRST_DAY, FIRST_DAY + pd.Timedelta(days=27)
    with pytest.raises(ValueError, match="needs hospital and region"):
        plans.quarter_plan(census, start, end, beds.BedPolicy(), level="hospital")
    with pytest.raises(ValueError, match="level must be unit, hospital or region"):
        plans.quarter_plan(census, start, end, beds.BedPolicy(), level="ward", pools=census, tree=census)
