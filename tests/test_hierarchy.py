"""Units, hospitals and regions (forecast/hierarchy.py): the tree, pooled totals and pooled beds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from benchmarks import reconciliation
from forecast import hierarchy
from forecast.quantiles import LEVELS, columns

TREE = pd.DataFrame(
    {"unit": ["a1", "a2", "b1", "c1"], "hospital": ["ha", "ha", "hb", "hc"], "region": ["r1", "r1", "r1", "r2"]}
)


def forecast_frame(ids: list[str], means: list[float], days: int = 5, spread: float = 3.0) -> pd.DataFrame:
    rows = []
    z = norm.ppf(LEVELS)  # a normal census distribution around each mean
    for unit, mean in zip(ids, means, strict=True):
        for d in pd.date_range("2025-01-01", periods=days):
            grid = dict(zip(columns(LEVELS), mean + spread * z, strict=True))
            rows.append({"unique_id": unit, "ds": d, "mean": mean, **grid})
    return pd.DataFrame(rows)


def test_hierarchy_names_must_be_unique_across_levels_and_hospitals_in_one_region():
    with pytest.raises(ValueError, match="names two levels"):
        hierarchy.validate_hierarchy(TREE.assign(hospital=["a1", "a1", "hb", "hc"]))
    with pytest.raises(ValueError, match="more than one region"):
        hierarchy.validate_hierarchy(TREE.assign(region=["r1", "r2", "r1", "r2"]))
    s_df, tags = reconciliation.summing_matrix(TREE)
    assert list(s_df["unique_id"]) == ["r1", "r2", "ha", "hb", "hc", "a1", "a2", "b1", "c1"]
    assert s_df.set_index("unique_id").loc["r1"].tolist() == [1, 1, 1, 0]
    assert list(tags) == ["region", "region/hospital", "region/hospital/unit"]


def test_pooled_beds_are_fewer_than_the_sum_of_unit_beds():
    units = forecast_frame(["a1", "a2", "b1", "c1"], [15, 6, 8, 17])
    totals = hierarchy.independent_totals(units, TREE, "hospital", samples=4000)
    # Independent units: the sum's spread is about sqrt(n) times a unit's, not n times.
    ha = totals[totals["unique_id"] == "ha"].iloc[0]
    assert ha["mean"] == pytest.approx(21)
    assert (ha["q0.95"] - ha["mean"]) == pytest.approx(norm.ppf(0.95) * 3.0 * np.sqrt(2), rel=0.1)
    plan = hierarchy.pooled_plan(units, totals, TREE, "hospital", risk=0.05)
    assert set(plan["unique_id"]) == {"ha", "hb", "hc"}
    assert (plan["beds_pooled"] <= plan["beds_units"]).all()
    assert (plan.loc[plan["unique_id"] == "ha", "pooling_gain"] >= 2).all()
    assert (plan.loc[plan["unique_id"] == "hb", "pooling_gain"] == 0).all()  # one unit pools with nobody


def test_hierarchy_from_the_first_table_that_names_every_unit():
    from forecast.hierarchy import hierarchy_from

    partial = pd.DataFrame({"unit": ["a"], "hospital": ["h1"], "region": ["r1"]})
    full = pd.DataFrame({"unit": ["b", "a", "b"], "hospital": ["h2", "h1", "h2"], "region": ["r1", "r1", "r1"]})
    assert hierarchy_from([partial, full], ["a", "b"])["hospital"].tolist() == ["h1", "h2"]
    assert hierarchy_from([None, partial], ["a", "b"]) is None
    assert hierarchy_from([full.assign(region=[None, "r1", None])], ["a", "b"]) is None
