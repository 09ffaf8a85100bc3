"""The explanation against the demo hospital's known effects (demo/truth.csv): the summer beds and the summer cut
of planned care that the flow model explains in ISO weeks 28–32 are the true ones.

The demo's tourists add admissions (lift × guest nights); the flow model's admission rate is a product (a Poisson
GLM with a log link), so it cannot give them exactly an additive effect, and puts part of them on its yearly
terms: on these units the tourism part alone is 0.53–1.09 of the truth, tourism and season together 0.83–0.98
(the demo has no summer season of its own). `benchmarks/explain.py` measures the served model's split.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast import beds, data, engine, explain
from forecast.counterfactual import counterfactual_forecasts
from forecast.demo import DEFAULT_UNITS, generate_demo_hospital
from forecast.periods import year_window

pytestmark = pytest.mark.slow

UNITS = DEFAULT_UNITS[:3]  # internal medicine, surgery, orthopaedics: the units with tourists and planned care


@pytest.fixture(scope="module")
def explained():
    hospital = generate_demo_hospital(units=UNITS)
    ingested = data.ingest(hospital.episodes)
    _, end = year_window(ingested.last_day)
    config = engine.EngineConfig(horizon=(end - ingested.last_day).days, candidates=("flow",))
    prepared = engine.prepare(ingested.daily, config, ingested.episodes, hospital.guest_nights)
    units = sorted(prepared.series["unique_id"].unique())
    found = counterfactual_forecasts(
        prepared.series, prepared.future, pd.Series("flow", index=units), config.horizon, prepared.flow
    )
    full = found.forecasts.groupby("unique_id")["coalition"].transform("max") == found.forecasts["coalition"]
    census = found.forecasts[full].assign(**{"q0.5": lambda f: f["mean"], "q0.95": lambda f: f["mean"] + 5})
    weeks = explain.explain_weeks(found, census, beds.BedPolicy())
    return hospital, prepared, weeks


def _summer(frame: pd.DataFrame, column: str) -> pd.Series:
    week = pd.to_datetime(frame[column]).dt.isocalendar().week
    return (week >= 28) & (week <= 32)


def test_the_summer_beds_beyond_the_base_are_the_tourists_true_ones(explained):
    hospital, prepared, weeks = explained
    truth = hospital.truth.set_index("unit")
    future = prepared.future[_summer(prepared.future, "ds")]
    parts = weeks.parts[_summer(weeks.parts, "period_start")]
    for unit in truth.index:
        guest_nights = future.loc[future["unique_id"] == unit, "guest_nights"].mean()  # thousands
        true = truth.loc[unit, "acute_per_1000_guest_nights"] * guest_nights * truth.loc[unit, "los_mean_acute"]
        mine = parts[parts["unique_id"] == unit]
        tourism = mine.loc[mine["part"] == "tourism", "value"].mean()
        season = mine.loc[mine["part"] == "season", "value"].mean()
        assert tourism > 0.4 * true, unit  # the tourists are seen, most of them under their own name
        assert tourism + season == pytest.approx(true, rel=0.2), unit


def test_the_summer_cut_of_planned_care_is_the_true_one(explained):
    hospital, _, weeks = explained
    truth = hospital.truth.set_index("unit")
    parts = weeks.parts[_summer(weeks.parts, "period_start") & (weeks.parts["part"] == "planned_care")]
    for unit in ("surgery", "orthopaedics"):
        row = truth.loc[unit]
        true = -row["elective_per_day"] * (1 - row["summer_elective_share"]) * row["los_mean_elective"]
        shown = parts.loc[parts["unique_id"] == unit, "value"].mean()
        assert shown == pytest.approx(true, rel=0.25), unit
    assert np.isfinite(parts["value"]).all()
