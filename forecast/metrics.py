"""The backtest as the `metrics.json` contract: each unit's honest scores and how its bed plans would have fared.

Above both the engine (the backtest) and the plans (`forecast.beds`): the metrics report the forecasts and score
the plans made from them, so neither of those has to know the other.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from forecast import beds, models
from forecast.backtest import Backtest, coverage, width
from forecast.engine import EngineConfig

__all__ = ["backtest_metrics", "promise_kept"]


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
    policy = beds.BedPolicy(overflow_risk=config.overflow_risk)
    planned = {
        "beds_target": beds.beds_at_target_occupancy(selected, policy),
        "beds_risk": beds.beds_at_overflow_risk(selected, policy.overflow_risk),
    }
    promise = promise_kept(result, config.overflow_risk)
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
            "promise": str(promise.loc[unit, "status"]),
        }
        measured = ("promised_risk", "overflow_share", "days", "beds_per_mean_census", "upper_widened_by")
        units[str(unit)]["decisions"]["beds_risk"].update({k: float(promise.loc[unit, k]) for k in measured})
    summary: dict[str, Any] = {
        key: float(np.mean([u[key] for u in units.values()]))
        for key in ("mase", "baseline_mase", "coverage_80", "coverage_95", "mae")
    }
    summary["models"] = {m: float(v) for m, v in per_model.mean().items()}
    everyone = beds.reliability(selected["y"].to_numpy(), planned["beds_risk"], config.overflow_risk)
    summary["decisions"] = {
        "beds_risk": {k: v for k, v in everyone.items() if k != "status"},
        "units_promise_broken": float((promise["status"] == "broken").sum()),
        "units_promise_unmeasured": float((promise["status"] == "unmeasured").sum()),
    }
    return {
        "target": config.target,
        "horizon": config.horizon,
        "folds": config.folds,
        "step": config.step,
        "units": units,
        "summary": summary,
    }


def promise_kept(result: Backtest, risk: float) -> pd.DataFrame:
    """Per unit, how the beds planned at `risk` fared in the honest backtest, and the widening the plan gets.

    Returns:
        Indexed by unit: `promised_risk, overflow_share, days, beds_per_mean_census, status` (see
        `beds.reliability`) and `upper_widened_by`: 1 where the promise held; where it was broken, the factor
        on the upper quantiles' distance from the forecast that would have kept it; where it cannot be measured,
        `beds.UNMEASURED_WIDENING`. Pass `upper_widened_by` to `engine.forecast_units` as its `widening`.
    """
    rows = []
    for unit, part in result.selected.groupby("unique_id", sort=True):
        census = part["y"].to_numpy()
        upper = beds.quantile_at(part, 1 - risk)
        measured = beds.reliability(census, np.ceil(upper - 1e-9), risk)
        widened = {
            "kept": 1.0,
            "broken": beds.widening_to_keep(census, part["mean"].to_numpy(), upper, risk),
            "unmeasured": beds.UNMEASURED_WIDENING,
        }[str(measured["status"])]
        rows.append({"unit": str(unit), **measured, "upper_widened_by": widened})
    return pd.DataFrame(rows).set_index("unit")
