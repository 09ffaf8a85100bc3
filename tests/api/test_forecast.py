"""Daily forecasts of a unit (routers/forecast.py)."""

from __future__ import annotations

import pandas as pd
import pytest

from forecast.quantiles import column
from tests.api.conftest import csv_of
from tests.bundles import make_bundle


def test_forecast_reads_the_grid_and_interpolates_off_it(client):
    bundle = make_bundle()
    rows = bundle.select(["medicine"], "census", pd.Timestamp("2026-01-05"), 3)
    answer = client.get("/v1/forecast/medicine?start=2026-01-05&days=3&quantiles=0.95,0.3").json()
    assert answer["quantiles"] == [0.3, 0.95]
    assert [d["date"] for d in answer["days"]] == ["2026-01-05", "2026-01-06", "2026-01-07"]
    first = answer["days"][0]
    assert first["census"]["mean"] == pytest.approx(rows["mean"].iloc[0])
    assert first["census"]["quantiles"]["0.95"] == pytest.approx(rows[column(0.95)].iloc[0])
    low, high = rows[column(0.25)].iloc[0], rows[column(0.5)].iloc[0]
    assert first["census"]["quantiles"]["0.3"] == pytest.approx(low + (high - low) * 0.2)
    assert first["admissions"]["mean"] == pytest.approx(rows["mean"].iloc[0] / 4)


def test_forecast_defaults_and_csv(client):
    answer = client.get("/v1/forecast/surgery").json()
    assert len(answer["days"]) == 28 and answer["quantiles"] == [0.05, 0.5, 0.95]
    table = csv_of(client.get("/v1/forecast/surgery?days=2&format=csv"))
    assert list(table.columns) == [
        "date",
        *(f"{t}_{c}" for t in ("census", "admissions") for c in ("mean", "q0.05", "q0.5", "q0.95")),
    ]
    assert len(table) == 2


def test_unknown_unit_is_404_listing_the_known(client):
    for path in ("/v1/forecast/icu", "/v1/beds/icu", "/v1/staffing/icu"):
        response = client.get(path)
        assert response.status_code == 404
        assert "medicine, surgery" in response.json()["detail"]


@pytest.mark.parametrize(
    ("query", "field", "says"),
    [
        ("start=2025-12-31", "start", "2026-01-01 and 2026-04-30"),
        ("start=2026-05-01", "start", "2026-01-01 and 2026-04-30"),
        ("start=2026-04-01&days=31", "days", "between 1 and 30"),
        ("days=0", "days", "1 ≤ days"),
        ("days=500", "days", "≤ 366"),
        ("quantiles=0,0.5", "quantiles", "pattern"),
        ("quantiles=median", "quantiles", "pattern"),
        ("format=xml", "format", "json or csv"),
    ],
)
def test_out_of_range_is_422_naming_the_field(client, query, field, says):
    response = client.get(f"/v1/forecast/medicine?{query}")
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["query", field]
    assert says in error["msg"]


def test_default_days_stop_at_the_forecast_end(client):
    answer = client.get("/v1/forecast/medicine?start=2026-04-20").json()
    assert len(answer["days"]) == 11 and answer["days"][-1]["date"] == "2026-04-30"
