"""The weekly bed plan of a quarter (routers/plan.py)."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.api.conftest import csv_of


def test_plan_of_the_next_quarter(client):
    answer = client.get("/v1/plan").json()
    assert (answer["quarter"], answer["start"], answer["end"]) == ("2026Q1", "2026-01-01", "2026-03-31")
    weeks = pd.DataFrame(answer["weeks"])
    assert set(weeks["unit"]) == {"medicine", "surgery"}
    assert weeks.groupby("unit")["days"].sum().tolist() == [90, 90]
    medicine = weeks[weeks["unit"] == "medicine"]
    assert (medicine["gap"] == medicine["beds_at_overflow_risk"] - 20).all()
    assert medicine["note"].isna().all()
    surgery = weeks[weeks["unit"] == "surgery"]
    assert surgery[["current_beds", "gap", "expected_days_over_capacity", "surge_days"]].isna().all().all()
    assert surgery["note"].str.contains("unknown").all()
    assert any(n.startswith("surgery:") for n in answer["notes"])
    assert client.get("/v1/plan?quarter=2026q1").json() == answer


def test_plan_overflow_risk_and_csv(client):
    strict = pd.DataFrame(client.get("/v1/plan?overflow_risk=0.01").json()["weeks"])
    loose = pd.DataFrame(client.get("/v1/plan?overflow_risk=0.5").json()["weeks"])
    assert (strict["beds_at_overflow_risk"] >= loose["beds_at_overflow_risk"]).all()
    table = csv_of(client.get("/v1/plan?format=csv"))
    assert len(table) == len(strict) and "gap" in table.columns
    assert table.loc[table["unit"] == "medicine", "current_beds"].eq(20).all()


@pytest.mark.parametrize("quarter", ["2027Q1", "2025Q4", "Q1-2026", "2026Q5"])
def test_plan_quarter_out_of_range(client, quarter):
    response = client.get(f"/v1/plan?quarter={quarter}")
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["query", "quarter"] and "2026Q1" in error["msg"]


def test_plan_by_hospital_needs_the_units_hierarchy(client):
    response = client.get("/v1/plan?level=hospital")
    assert response.status_code == 422
    assert "level" in response.text and "hospital and region" in response.text
