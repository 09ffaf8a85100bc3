"""A small trained demo model for the end-to-end tests (train, register, serve)."""

from __future__ import annotations

from pathlib import Path


def train_demo(folder: Path, say=lambda line: None, **settings):
    """The small demo model (2 units, 2 candidates) trained into whatever MLFLOW_TRACKING_URI names; `settings`
    override any of its TrainSettings."""
    from forecast.demo import DEFAULT_UNITS, generate_demo_hospital
    from training.pipeline import train
    from training.settings import TrainSettings

    folder.mkdir(parents=True, exist_ok=True)
    hospital = generate_demo_hospital(start="2023-01-01", end="2024-12-31", units=DEFAULT_UNITS[:2])
    hospital.episodes.to_csv(folder / "episodes.csv", index=False)
    hospital.units.to_csv(folder / "units.csv", index=False)
    small = {"candidates": ("seasonal_naive", "ets"), "folds": 2, "horizon": 28}
    settings = {**small, **settings}
    return train(
        TrainSettings(data=folder / "episodes.csv", units=folder / "units.csv", root=folder, **settings), say=say
    )
