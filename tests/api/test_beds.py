"""Beds a unit needs per day (routers/beds.py)."""

from __future__ import annotations

import math

import pytest

from forecast.quantiles import column
from tests.api.conftest import csv_of
from tests.bundles import make_bundle


def test_beds_at_target_and_at_risk(client):
    rows = make_bundle().select(["medicine"], "census", days=7)
    answer = client.get("/v1/beds/medicine?days=7").json()
    day = answer["days"][0]
    # The default policy: acute / 0.85 + elective / 0.95 on the split census.
    mean = rows["mean"].iloc[0]
    assert day["beds_at_target_occupancy"] == math.ceil(0.8 * mean / 0.85 + 0.2 * mean / 0.95)
    assert day["beds_at_overflow_risk"] == math.ceil(rows[column(0.95)].iloc[0])
    assert day["current_beds"] == 20 and 0 <= day["p_over_capacity"] <= 1
    asked = client.get("/v1/beds/medicine?days=7&target_occupancy=0.9&overflow_risk=0.01").json()
    assert asked["days"][0]["beds_at_target_occupancy"] == math.ceil(mean / 0.9 - 1e-9)
    assert asked["days"][0]["beds_at_overflow_risk"] == math.ceil(rows[column(0.99)].iloc[0])


def test_beds_unknown_are_null_with_a_note(client):
    answer = client.get("/v1/beds/surgery?days=3").json()
    assert all(d["current_beds"] is None and d["p_over_capacity"] is None for d in answer["days"])
    assert "unknown" in answer["note"]
    assert len(csv_of(client.get("/v1/beds/surgery?days=3&format=csv"))) == 3


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("overflow_risk=0", "overflow_risk"),
        ("overflow_risk=0.6", "overflow_risk"),
        ("target_occupancy=1.2", "target_occupancy"),
        ("target_occupancy=1e-300", "target_occupancy"),  # beds beyond any count
    ],
)
def test_beds_parameters_out_of_range(client, query, field):
    response = client.get(f"/v1/beds/medicine?{query}")
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["query", field] and "allowed" in error["msg"]
