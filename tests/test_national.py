"""The synthetic country (forecast/national.py) for scale tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast import national


def test_national_country_has_the_asked_shape_and_is_the_same_for_the_same_seed():
    country = national.generate_national(2, 2, 7, start="2024-01-01", end="2024-03-31", seed=3)
    assert len(country.units) == 2 * 2 * 7 and country.units["unit"].is_unique
    assert country.daily.groupby("unit").size().eq(91).all()
    assert set(country.hierarchy.columns) == {"unit", "hospital", "region"}
    assert country.hierarchy.groupby("hospital")["region"].nunique().eq(1).all()
    daily = country.daily
    assert (daily["admissions"] == daily["admissions_acute"] + daily["admissions_elective"]).all()
    assert (daily["census"] >= 0).all()
    # Warm from the first day: patients admitted before the start are in bed.
    assert daily.groupby("unit")["census"].first().gt(0).mean() > 0.9
    # Units of one type differ between hospitals (resized), and beds follow the census.
    medicine = daily[daily["unit"].str.contains("internal_medicine_1")].groupby("unit")["census"].mean()
    assert medicine.max() > 1.3 * medicine.min()
    census = daily.groupby("unit")["census"].mean()
    assert np.corrcoef(census, country.units.set_index("unit")["beds"].reindex(census.index))[0, 1] > 0.8
    again = national.generate_national(2, 2, 7, start="2024-01-01", end="2024-03-31", seed=3)
    pd.testing.assert_frame_equal(again.daily, country.daily)
    other = national.generate_national(2, 2, 7, start="2024-01-01", end="2024-03-31", seed=4)
    assert not other.daily["census"].equals(country.daily["census"])
    # A smaller country is part of a larger one.
    larger = national.generate_national(3, 2, 7, start="2024-01-01", end="2024-03-31", seed=3)
    part = larger.daily[larger.daily["unit"].isin(country.units["unit"])].reset_index(drop=True)
    pd.testing.assert_frame_equal(part, country.daily)


def test_national_default_is_a_country_of_more_than_a_thousand_units():
    profiles = national.national_profiles()
    assert len(profiles) >= 1000
    assert profiles["region"].nunique() == 21
    with pytest.raises(ValueError, match="between 1 and 21"):
        national.national_profiles(regions=22)
