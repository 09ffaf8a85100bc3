"""What a training run does: its settings, every one with a default a user can override."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from forecast import beds, models, registry
from forecast.bundle import TARGETS
from forecast.staffing import StaffingRatios

__all__ = ["TrainSettings"]


@dataclass(frozen=True)
class TrainSettings:
    """What a training run does; every field has a default a user can override."""

    data: Path | None = None  # episodes or daily counts; None: the demo hospital
    episodes_db: str | None = None  # SQLAlchemy URL of episodes posted to the API, added to `data`
    units: Path | None = None  # current beds per unit (unit, beds)
    guest_nights: Path | None = None
    country: str = "SE"
    horizon: int = 91  # backtest horizon (days)
    folds: int = 4
    step: int = 91
    candidates: tuple[str, ...] = tuple(models.CANDIDATES)
    targets: tuple[str, ...] = TARGETS
    regressors: tuple[str, ...] = ()  # daily-count columns with known future values
    future_regressors: Path | None = None  # the regressors' values after the data (date[, unit], columns)
    model_name: str = registry.DEFAULT_MODEL_NAME
    promote: bool = False
    policy: beds.BedPolicy = field(default_factory=beds.BedPolicy)
    staffing: StaffingRatios = field(default_factory=StaffingRatios)
    root: Path | None = None  # folder of the embedded MLflow store; default the working folder
    engine: str = "local"  # local or dask (forecast.distributed)
    address: str | None = None  # the cluster's address; Dask without one starts a local cluster
    # Also backtest and forecast the census a year ahead (52 weeks), where every unit has two years of history.
    year_ahead: bool = True
