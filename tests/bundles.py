"""Hand-made forecast bundles and loaders for the API's tests (no training, no MLflow)."""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pandas as pd

from forecast.bundle import FORECAST_COLUMNS, ForecastBundle
from forecast.quantiles import LEVELS, column
from forecast.registry import ServedModel

__all__ = ["FIRST_DAY", "make_bundle", "make_served"]

FIRST_DAY = pd.Timestamp("2026-01-01")


def _rows(unit: str, target: str, level: float, days: int, split: bool) -> pd.DataFrame:
    ds = pd.date_range(FIRST_DAY, periods=days, freq="D")
    weekday = np.array([1.1, 1.05, 1.0, 1.0, 0.95, 0.9, 0.9])[ds.dayofweek]
    mean = level * weekday
    sd = np.sqrt(mean)
    frame = pd.DataFrame({"unique_id": unit, "target": target, "ds": ds, "model": "ets", "mean": mean})
    for q in LEVELS:
        frame[column(q)] = np.clip(mean + NormalDist().inv_cdf(q) * sd, 0, None)
    frame["mean_acute"] = mean * 0.8 if split else np.nan
    frame["mean_elective"] = mean * 0.2 if split else np.nan
    return frame


def make_bundle(days: int = 120, level: float = 16.0) -> ForecastBundle:
    """Two units from 2026-01-01: `medicine` with 20 beds (census split by type), `surgery` with beds unknown."""
    forecasts = pd.concat(
        [
            _rows("medicine", "census", level, days, split=True),
            _rows("medicine", "admissions", level / 4, days, split=False),
            _rows("surgery", "census", level / 2, days, split=False),
            _rows("surgery", "admissions", level / 8, days, split=False),
        ],
        ignore_index=True,
    )[FORECAST_COLUMNS]
    units = pd.DataFrame(
        {
            "unit": ["medicine", "surgery"],
            "beds": pd.array([20, pd.NA], dtype="Int64"),
            "first_date": pd.Timestamp("2024-01-01"),
            "last_date": FIRST_DAY - pd.Timedelta(days=1),
        }
    )
    history = pd.DataFrame({"unique_id": ["medicine"], "ds": [FIRST_DAY - pd.Timedelta(days=1)], "census": [15]})
    meta = {
        "trained_at": "2026-01-02T03:00:00+00:00",
        "data_first_date": "2024-01-01",
        "data_last_date": "2025-12-31",
        "score": 0.8,
        "policy": {"target_acute": 0.85, "target_elective": 0.95, "overflow_risk": 0.05},
        "staffing": {"rn_day": 5, "rn_evening": 7, "rn_night": 11, "an_day": 4, "an_evening": 5, "an_night": 8},
        "backtest": {"census": {"mase": 0.8, "coverage_80": 0.81}},
        "chosen": {"census": {"medicine": "ets", "surgery": "ets"}},
    }
    return ForecastBundle(forecasts, units, history, meta)


def make_served(version: str = "1", **bundle_options: float) -> ServedModel:
    return ServedModel(
        bundle=make_bundle(**bundle_options),  # type: ignore[arg-type]
        name="bed-demand",
        version=version,
        alias="champion",
        run_id=f"run{version}",
        tags={},
    )
