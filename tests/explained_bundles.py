"""A served model of the demo hospital that explains its plans: two units, the next quarter and the year ahead,
counterfactual forecasts from real fits (flow; ARIMA beside it), no backtest (the spread is the flow model's own
Poisson-like width), with the flow tables what-if scenarios change. Built once per test session; API and page
tests read it."""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pandas as pd

from forecast import data, engine
from forecast.bundle import FORECAST_COLUMNS, ForecastBundle
from forecast.counterfactual import coalition_code, counterfactual_forecasts
from forecast.demo import DEFAULT_UNITS, generate_demo_hospital
from forecast.los import length_of_stay_curves
from forecast.periods import quarter_window, year_window
from forecast.quantiles import LEVELS, column
from forecast.registry import ServedModel

__all__ = ["CHOICE", "make_explained_served"]

CHOICE = {"internal_medicine": "flow", "surgery": "arima+flow"}


def _forecast_and_counterfactuals(ingested, guest_nights, days: int):
    config = engine.EngineConfig(horizon=days)
    prepared = engine.prepare(ingested.daily, config, ingested.episodes, guest_nights)
    flows = engine.flow_tables(prepared)
    found = counterfactual_forecasts(prepared.series, prepared.future, pd.Series(CHOICE), days, prepared.flow)
    rows = []
    for unit, choice in CHOICE.items():
        table = found.forecasts[found.forecasts["unique_id"] == unit]
        full = table[table["coalition"] == coalition_code(found.players(unit))].sort_values("ds")
        mean = full["mean"].to_numpy()
        frame = pd.DataFrame({"unique_id": unit, "target": "census", "ds": full["ds"].to_numpy(), "model": choice})
        frame["mean"] = mean
        for q in LEVELS:
            frame[column(q)] = np.clip(mean + NormalDist().inv_cdf(q) * np.sqrt(mean + 1), 0, None)
        rows.append(frame)
    return pd.concat(rows, ignore_index=True).reindex(columns=FORECAST_COLUMNS), found, flows


def make_explained_served(version: str = "1") -> ServedModel:
    hospital = generate_demo_hospital(start="2022-01-01", end="2024-12-31", units=DEFAULT_UNITS[:2])
    ingested = data.ingest(hospital.episodes)
    last = ingested.last_day
    _, quarter_end = quarter_window("next", last)
    _, year_end = year_window(last)
    quarter, quarter_found, (by_type, in_bed) = _forecast_and_counterfactuals(
        ingested, hospital.guest_nights, (quarter_end - last).days
    )
    year, year_found, _ = _forecast_and_counterfactuals(ingested, hospital.guest_nights, (year_end - last).days)
    units = pd.DataFrame(
        {
            "unit": list(CHOICE),
            "beds": pd.array([48, 30], dtype="Int64"),
            "first_date": pd.Timestamp("2022-01-01"),
            "last_date": last,
        }
    )
    promise = pd.DataFrame(
        {
            "unit": list(CHOICE),
            "promise": ["kept", "broken"],
            "promised_risk": 0.05,
            "overflow_share": [0.04, 0.09],
            "promise_days": [728.0, 728.0],
            "upper_widened_by": [1.0, 1.3],
        }
    )
    history = ingested.daily[ingested.daily["date"] > last - pd.Timedelta(days=365)]
    history = history.rename(columns={"unit": "unique_id", "date": "ds"})[["unique_id", "ds", "census", "admissions"]]
    explained = {"quarter": quarter_found, "year": year_found}
    meta = {
        "trained_at": "2025-01-02T03:00:00+00:00",
        "data_first_date": "2022-01-01",
        "data_last_date": f"{last:%Y-%m-%d}",
        "score": 0.8,
        "backtest": {"census": {"mase": 0.8, "coverage_80": 0.8}},
        "chosen": {"census": dict(CHOICE)},
        "year_ahead": {"horizon": 364, "folds": 1, "step": 91, "chosen": dict(CHOICE)},
    }
    bundle = ForecastBundle(
        quarter,
        units,
        history.reset_index(drop=True),
        meta,
        length_of_stay=length_of_stay_curves(ingested.episodes, last),
        admissions_by_type=by_type,
        in_bed=in_bed,
        year_ahead=year,
        year_units=promise,
        counterfactuals=pd.concat([c.forecasts.assign(horizon=h) for h, c in explained.items()], ignore_index=True)[
            ["horizon", "unique_id", "coalition", "ds", "mean"]
        ],
        drivers=pd.concat([c.drivers.assign(horizon=h) for h, c in explained.items()], ignore_index=True),
    )
    return ServedModel(bundle=bundle, name="bed-demand", version=version, alias="champion", run_id="r1", tags={})
