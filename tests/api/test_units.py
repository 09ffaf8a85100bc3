"""The units the model knows (routers/units.py)."""

from __future__ import annotations

import pandas as pd

from tests.api.conftest import csv_of


def test_units_with_unknown_beds_as_null(client):
    answer = client.get("/v1/units").json()
    assert [(u["unit"], u["current_beds"]) for u in answer["units"]] == [("medicine", 20), ("surgery", None)]
    assert answer["units"][0]["last_date"] == "2025-12-31"
    table = csv_of(client.get("/v1/units?format=csv"))
    assert table["unit"].tolist() == ["medicine", "surgery"]
    assert table["current_beds"].iloc[0] == 20 and pd.isna(table["current_beds"].iloc[1])
