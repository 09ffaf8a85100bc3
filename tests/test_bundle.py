"""The trained bundle: look-ups by unit, target and dates, and the pyfunc model's request rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast.bundle import FORECAST_COLUMNS, ForecastBundle, answer_requests
from forecast.quantiles import LEVELS, column


def make_bundle(days: int = 10) -> ForecastBundle:
    rows = []
    for unit in ("ward_a", "ward_b"):
        for target in ("census", "admissions"):
            ds = pd.date_range("2026-01-01", periods=days, freq="D")
            frame = pd.DataFrame({"unique_id": unit, "target": target, "ds": ds, "model": "ets"})
            frame["mean"] = np.arange(days, dtype=float) + (10 if target == "census" else 1)
            for q in LEVELS:
                frame[column(q)] = frame["mean"] + (q - 0.5)
            rows.append(frame)
    forecasts = pd.concat(rows, ignore_index=True).reindex(columns=FORECAST_COLUMNS)
    units = pd.DataFrame(
        {
            "unit": ["ward_a", "ward_b"],
            "beds": pd.array([12, None], dtype="Int64"),
            "first_date": pd.Timestamp("2024-01-01"),
            "last_date": pd.Timestamp("2025-12-31"),
        }
    )
    return ForecastBundle(forecasts, units, pd.DataFrame(), {})


def test_select_by_unit_target_and_dates():
    bundle = make_bundle()
    rows = bundle.select(["ward_a"], "census", pd.Timestamp("2026-01-03"), 2)
    assert rows["ds"].dt.strftime("%m-%d").tolist() == ["01-03", "01-04"]
    assert rows["mean"].tolist() == [12.0, 13.0]
    assert len(bundle.select(target="admissions")) == 20
    assert bundle.current_beds().to_dict() == {"ward_a": 12}


def test_select_names_what_is_wrong():
    bundle = make_bundle()
    with pytest.raises(KeyError, match="known: ward_a, ward_b"):
        bundle.select(["icu"])
    with pytest.raises(KeyError, match="unknown target"):
        bundle.select(target="discharges")
    with pytest.raises(ValueError, match="covers 2026-01-01 to 2026-01-10"):
        bundle.select(["ward_a"], start=pd.Timestamp("2026-01-08"), days=5)


def test_requests_reproduce_the_whole_table_in_order():
    bundle = make_bundle()
    requests = pd.DataFrame(
        [
            {"unit": u, "target": t, "start": "", "days": 0}
            for t in ("census", "admissions")
            for u in ("ward_a", "ward_b")
        ]
    )
    answered = answer_requests(bundle, requests)
    assert len(answered) == 40
    pd.testing.assert_frame_equal(
        answered.sort_values(["target", "unique_id", "ds"]).reset_index(drop=True),
        bundle.forecasts.sort_values(["target", "unique_id", "ds"]).reset_index(drop=True),
    )
    with pytest.raises(ValueError, match="missing days"):
        answer_requests(bundle, requests.drop(columns="days"))
