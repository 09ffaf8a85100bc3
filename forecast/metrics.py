"""The backtest as the `metrics.json` contract: each unit's honest scores and how its bed plans would have fared.

Above both the engine (the backtest) and the plans (`forecast.beds`): the metrics report the forecasts and score
the plans made from them, so neither of those has to know the other.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from forecast import beds, models
from forecast.backtest import Backtest, coverage, width
from forecast.engine import EngineConfig

__all__ = ["backtest_metrics"]


def backtest_metrics(result: Backtest, config: EngineConfig) -> dict[str, Any]:
    """The backtest as the `metrics.json` contract: per unit and a summary over units.

    Per unit, `model` is the choice for production (on all windows); `mase`, `mae`, `bias` and the
    coverages are those of the honestly selected forecasts (chosen and calibrated on earlier windows only);
    `baseline_mase` is the weekly seasonal naive's; `models` holds every candidate's MASE.
    """
    selected = result.selected
    scale = result.scores[result.scores["model"] == models.BASELINE].set_index(["unique_id", "fold"])["scale"]
    err = (selected["mean"] - selected["y"]).abs()
    fold_mae = err.groupby([selected["unique_id"], selected["fold"]]).mean()
    fold_mase = fold_mae / scale.reindex(fold_mae.index)
    scored = result.scores[result.scores["fold"] > 0]
    per_model = scored.groupby(["unique_id", "model"])["mase"].mean().unstack()
    cov80, cov95 = coverage(selected, 80), coverage(selected, 95)
    wid80, wid95 = width(selected, 80), width(selected, 95)
    policy = beds.BedPolicy()
    planned = {
        "beds_target": beds.beds_at_target_occupancy(selected, policy),
        "beds_risk": beds.beds_at_overflow_risk(selected, policy.overflow_risk),
    }
    units: dict[str, Any] = {}
    for unit in sorted(selected["unique_id"].unique()):
        mask = (selected["unique_id"] == unit).to_numpy()
        rows = selected[mask]
        units[str(unit)] = {
            "model": str(result.choice[unit]),
            "mase": float(fold_mase[unit].mean()),
            "mae": float(fold_mae[unit].mean()),
            "bias": float((rows["mean"] - rows["y"]).mean()),
            "coverage_80": float(cov80[unit]),
            "coverage_95": float(cov95[unit]),
            "width_80": float(wid80[unit]),
            "width_95": float(wid95[unit]),
            "baseline_mase": float(per_model.loc[unit, models.BASELINE]),
            "models": {m: float(v) for m, v in per_model.loc[unit].dropna().items()},
            "chosen_per_fold": rows.groupby("fold")["model"].first().tolist(),
            # How each bed policy would have fared over the scored windows (census targets).
            "decisions": {
                name: beds.decision_scores(rows["y"].to_numpy(), plan[mask]) for name, plan in planned.items()
            },
        }
    summary: dict[str, Any] = {
        key: float(np.mean([u[key] for u in units.values()]))
        for key in ("mase", "baseline_mase", "coverage_80", "coverage_95", "mae")
    }
    summary["models"] = {m: float(v) for m, v in per_model.mean().items()}
    return {
        "target": config.target,
        "horizon": config.horizon,
        "folds": config.folds,
        "step": config.step,
        "units": units,
        "summary": summary,
    }
