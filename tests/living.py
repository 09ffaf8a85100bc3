"""A small trained bundle and the episodes after its training, for the nowcast, monitoring and replay tests."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import pandas as pd

from forecast import data
from forecast.bundle import ForecastBundle
from forecast.demo import DEFAULT_UNITS, generate_demo_hospital
from forecast.registry import ServedModel

__all__ = ["TRAINED_TO", "Replay", "replay", "seen_by", "served"]

TRAINED_TO = pd.Timestamp("2024-09-30")


@dataclass(frozen=True)
class Replay:
    """A bundle trained on the demo's first units up to `TRAINED_TO`, and every episode (before and after)."""

    bundle: ForecastBundle
    episodes: pd.DataFrame  # validated: episode_id, unit, admitted_at, discharged_at, admission_type, ...
    daily: pd.DataFrame  # the true daily frame of all episodes (census by unit and day)
    training: pd.DataFrame  # the episodes as the training extract had them (open stays at TRAINED_TO)


def seen_by(episodes: pd.DataFrame, day: pd.Timestamp) -> pd.DataFrame:
    """The episodes as known at midnight of `day`: admitted by then, discharges after it not yet known."""
    seen = episodes[episodes["admitted_at"] <= day].copy()
    seen.loc[seen["discharged_at"] > day, "discharged_at"] = pd.NaT
    return seen


@cache
def replay() -> Replay:
    """Trained once per test session (seconds): the census by seasonal naive and the flow model, one fold."""
    from training.pipeline import bundle_of, run_targets
    from training.sources import Source

    hospital = generate_demo_hospital(start="2023-01-01", end="2025-03-31", units=DEFAULT_UNITS[:3])
    everything = data.ingest(hospital.episodes)
    assert everything.episodes is not None
    training = seen_by(everything.episodes, TRAINED_TO)
    raw = training.drop(columns=[c for c in training.columns if c == "row"])
    ingested = data.ingest(raw.assign(discharged_at=raw["discharged_at"].dt.strftime("%Y-%m-%d").fillna("")))
    source = Source("replay", ingested, hospital.units.set_index("unit")["beds"], None, hospital.units)
    from training.settings import TrainSettings

    settings = TrainSettings(candidates=("seasonal_naive", "flow"), targets=("census",), horizon=28, folds=1, step=28)
    runs = run_targets(source, settings, lambda line: None)
    chosen = {t: {u: s["model"] for u, s in r.metrics["units"].items()} for t, r in runs.items()}
    meta = {
        "chosen": chosen,
        "policy": {"target_acute": 0.85, "target_elective": 0.95, "overflow_risk": 0.05},
        "backtest": {t: r.metrics["summary"] for t, r in runs.items()},
        "backtest_units": {t: {u: {"mase": s["mase"]} for u, s in r.metrics["units"].items()} for t, r in runs.items()},
    }
    bundle = bundle_of(source, runs, meta)
    return Replay(bundle, everything.episodes, everything.daily, training)


def served(bundle: ForecastBundle, version: str = "1") -> ServedModel:
    return ServedModel(bundle=bundle, name="bed-demand", version=version, alias="champion", run_id="run1", tags={})
