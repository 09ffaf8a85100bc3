"""The scenario's census against a direct simulation of the M_t/G/∞ queue, patient by patient, on the demo.

The scenario arithmetic works on expected values (admissions × P(stay > k), curves rescaled as a whole). Here
every patient is drawn: Poisson admissions per day, each stay drawn from the unit's length-of-stay curve and,
for admissions the scenario shortens, scaled and rounded at random to a whole night; the patients in bed at
the origin stay for a draw from the curve given the nights they have had. `benchmarks/scenario_simulation.py`
prints the same comparison with more replications.
"""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd
import pytest

from forecast import data, engine
from forecast.bundle import ForecastBundle
from forecast.los import length_of_stay_curves
from forecast.scenarios import (
    AdmissionsChange,
    FlowStructure,
    LengthOfStayChange,
    Scenario,
    flow_structure,
    queue_censuses,
    smooth_electives,
)

# Acute admissions 5 % down from the third week, stays 10 % shorter for admissions from the second week,
# planned admissions levelled over the weekdays.
SCENARIO = Scenario(
    admissions=(AdmissionsChange(-5.0, "acute", pd.Timestamp("2025-01-15")),),
    length_of_stay=(LengthOfStayChange(percent=-10.0, start=pd.Timestamp("2025-01-08")),),
    smooth_electives=True,
)
DAYS = 90


def demo_structures(days: int = DAYS) -> dict[str, dict[str, FlowStructure]]:
    """The demo hospital's flow structure per unit, as training puts it in the bundle."""
    from forecast.demo import generate_demo_hospital
    from training.pipeline import TargetRun, flow_of
    from training.sources import Source

    hospital = generate_demo_hospital(start="2022-01-01", end="2024-12-31")
    ingested = data.ingest(hospital.episodes)
    source = Source("demo", ingested, None, hospital.guest_nights)
    config = engine.EngineConfig(target="census", horizon=days)
    by_type, in_bed = flow_of(source, TargetRun(config, None, {}, pd.DataFrame(), [], pd.DataFrame()))  # type: ignore[arg-type]
    bundle = ForecastBundle(
        pd.DataFrame(),
        pd.DataFrame(),
        pd.DataFrame(),
        length_of_stay=length_of_stay_curves(ingested.episodes, ingested.last_day),
        admissions_by_type=by_type,
        in_bed=in_bed,
    )
    first = pd.Timestamp(by_type["ds"].min())
    window = pd.date_range(first, periods=days, freq="D")
    found = {unit: flow_structure(bundle, unit, window) for unit in sorted(by_type["unit"].unique())}
    return {unit: structures for unit, structures in found.items() if structures is not None}


def draw_stays(survival: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """Nights in bed of `count` patients, drawn from P(stay > k) (stays past the curve end the day after it)."""
    ends = np.concatenate([[1.0], survival]) - np.concatenate([survival, [0.0]])
    return rng.choice(len(ends), size=count, p=ends / ends.sum())


def simulate(structure: FlowStructure, scenario: Scenario, unit: str, kind: str, replications: int, seed: int = 0):
    """Mean midnight census per day over `replications` runs of the queue under the scenario."""
    rng = np.random.default_rng(seed)
    days, h = structure.days, len(structure.days)
    expected = structure.admissions.copy()
    for change in scenario.admissions:
        if change.admission_type in ("all", kind):
            expected[days >= (change.start or days[0])] *= 1 + change.percent / 100
    if kind == "elective" and scenario.smoothed(unit):
        expected = smooth_electives(expected, days)
    census = np.zeros((replications, h + 1))
    arrivals = rng.poisson(expected, size=(replications, h))
    replication, day = np.nonzero(arrivals)
    counts = arrivals[replication, day]
    replication, day = np.repeat(replication, counts), np.repeat(day, counts)
    stays = draw_stays(structure.survival, len(day), rng).astype(float)
    for change in scenario.length_of_stay:
        if change.admission_type in ("all", kind) and change.percent is not None:
            later = days[day] >= (change.start or days[0])
            scaled = stays[later] * (1 + change.percent / 100)
            stays[later] = np.floor(scaled) + (rng.random(later.sum()) < scaled - np.floor(scaled))
    leave = np.minimum(day + stays.astype(int), h)
    np.add.at(census, (replication, day), 1)
    np.add.at(census, (replication, leave), -1)
    census = census.cumsum(axis=1)[:, :h]
    # The patients in bed at the origin: each stays for a draw from the curve given the nights it has had.
    survival = np.concatenate([structure.survival, np.zeros(h + 1)])
    for nights, patients in zip(structure.in_bed.days_since_admission, structure.in_bed.patients, strict=True):
        n = int(patients) * replications
        if survival[nights] <= 0:  # outlived the curve: stays throughout, as the flow census takes it
            census += patients
            continue
        ends = (
            survival[nights : nights + len(structure.survival) + 1]
            - survival[nights + 1 : nights + len(structure.survival) + 2]
        )
        total = draw_stays_after(ends, n, rng) + nights + 1
        owner = np.repeat(np.arange(replications), int(patients))
        steps = np.arange(1, h + 1)
        present = (total[:, None] > nights + steps[None, :]).astype(float)
        np.add.at(census, owner, present)
    return census.mean(axis=0), census.std(axis=0) / np.sqrt(replications)


def draw_stays_after(ends: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """Further nights after the ones had: P(ends on the k-th further day) ∝ `ends[k]`."""
    return rng.choice(len(ends), size=count, p=ends / ends.sum())


def compare(replications: int) -> pd.DataFrame:
    """Per unit, the scenario's mean census over the window against the simulation's, and the largest daily gap
    in standard errors."""
    rows = []
    for unit, structures in demo_structures().items():
        flows = queue_censuses(SCENARIO, unit, structures)
        exact = sum(changed for _, changed in flows.values())
        simulated, error = np.zeros(DAYS), np.zeros(DAYS)
        for kind, structure in structures.items():
            # A seed per unit and type: one seed for all would make their sampling errors alike.
            mean, se = simulate(
                structure, SCENARIO, unit, kind, replications, seed=zlib.crc32(f"{unit}/{kind}".encode())
            )
            simulated += mean
            error = np.sqrt(error**2 + se**2)
        rows.append(
            {
                "unit": unit,
                "scenario_mean": exact.mean(),
                "simulated_mean": simulated.mean(),
                "relative_gap": simulated.mean() / exact.mean() - 1,
                "largest_daily_gap_se": float(np.max(np.abs(simulated - exact) / np.maximum(error, 1e-9))),
            }
        )
    return pd.DataFrame(rows)


@pytest.mark.slow
def test_the_scenario_census_is_the_simulated_queues_mean():
    table = compare(replications=2000)
    assert len(table) == 6
    assert (table["relative_gap"].abs() < 0.01).all(), table.to_string()
    assert (table["largest_daily_gap_se"] < 5).all(), table.to_string()
