"""Nurses per shift (routers/staffing.py)."""

from __future__ import annotations

import math
from dataclasses import replace

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from forecast.api import create_app
from forecast.staffing import StaffingRatios
from tests.api.conftest import Loader, csv_of, settings_for
from tests.bundles import make_served


def test_staffing_per_shift_and_fte(client):
    answer = client.get("/v1/staffing/medicine?start=2026-01-05&days=7").json()
    shifts = pd.DataFrame(answer["shifts"])
    assert len(shifts) == 21 and shifts["shift"].iloc[:3].tolist() == ["day", "evening", "night"]
    day = shifts.iloc[0]
    assert day["registered_nurses"] == math.ceil(day["census"] / 5 - 1e-9)
    assert day["assistant_nurses"] == math.ceil(day["census"] / 4 - 1e-9)
    [week] = answer["weekly_fte"]
    assert week["week"] == "2026-W02" and week["days"] == 7
    nurse_hours = (shifts["registered_nurses"] * 8).sum()
    assert week["rn_fte"] == pytest.approx(nurse_hours / 34)
    assert len(csv_of(client.get("/v1/staffing/medicine?days=7&format=csv"))) == 21
    assert list(csv_of(client.get("/v1/staffing/medicine?days=7&format=csv&table=fte")).columns) == [
        "week",
        "days",
        "rn_fte",
        "an_fte",
    ]


def test_staffing_follows_a_units_own_ratios(tmp_path):
    served = make_served("1")
    served.bundle.meta = replace(served.bundle.meta, staffing_per_unit={"surgery": StaffingRatios(rn_day=4.0)})
    with TestClient(create_app(settings_for(tmp_path), loader=Loader(served))) as client:
        surgery = client.get("/v1/staffing/surgery?days=7").json()
        medicine = client.get("/v1/staffing/medicine?days=7").json()
    assert surgery["ratios"]["rn_day"] == 4 and medicine["ratios"]["rn_day"] == 5
    day = pd.DataFrame(surgery["shifts"]).iloc[0]
    assert day["registered_nurses"] == math.ceil(day["census"] / 4 - 1e-9)
