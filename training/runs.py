"""One target's run: what the pipeline computes for a target and what tracking logs of it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from forecast import engine
from forecast.backtest import Backtest
from forecast.counterfactual import Counterfactuals

__all__ = ["TargetRun"]


@dataclass
class TargetRun:
    """One target's backtest, its metrics (the metrics.json contract) and its forecast beyond the data."""

    config: engine.EngineConfig
    result: Backtest
    metrics: dict[str, Any]
    forecast: pd.DataFrame
    regressors: list[str]
    promise: pd.DataFrame  # per unit, the overflow promise measured in the backtest (`metrics.promise_kept`)
    # The census forecast with each combination of its drivers neutral (`forecast.counterfactual`): what the
    # plan's explanation by driver is computed from. None for other targets.
    counterfactuals: Counterfactuals | None = None
