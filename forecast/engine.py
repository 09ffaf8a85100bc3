"""The forecast engine: from a daily frame to backtest metrics and calibrated forecasts per unit.

This glues the pure pieces together (features → candidates → backtest → choice → quantiles); it reads no
files and logs nowhere, so the CLI, the training pipeline and the tests all call the same code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from forecast import beds, features, models
from forecast.backtest import Backtest as BacktestResult
from forecast.backtest import (
    FlowInputs,
    backtest_windows,
    choice_point,
    coverage,
    forecast_origin,
    judge,
    lead_windows_for,
    members,
    width,
)
from forecast.calibration import apply_error_quantiles, origin_level, widen_upper

__all__ = ["Target", "EngineConfig", "Prepared", "prepare", "run", "windows", "backtest_metrics", "forecast_units"]

Target = Literal["census", "admissions"]


@dataclass(frozen=True)
class EngineConfig:
    """Settings of a forecasting run (all have defaults a user can override)."""

    target: Target = "census"
    horizon: int = 91
    folds: int = 4
    step: int = 91
    country: str = "SE"
    column: str | None = None  # the series to forecast in daily counts; default per target
    regressors: tuple[str, ...] = ()  # data columns with known future values
    candidates: tuple[str, ...] = models.CANDIDATES
    n_jobs: int = 1
    lead_windows: int | None = None  # unscored windows before the first fold; None: by horizon and step
    overflow_risk: float = 0.05  # the promise the backtest checks and the plan keeps


@dataclass
class Prepared:
    """The long series with its regressors, and what the flow model needs if the data allows it."""

    series: pd.DataFrame  # unique_id, ds, y, regressors (history)
    future: pd.DataFrame  # unique_id, ds, regressors for the horizon after the data
    flow: FlowInputs | None
    column: str


def _target_column(daily: pd.DataFrame, config: EngineConfig) -> str:
    if config.column:
        if config.column not in daily.columns:
            raise ValueError(f"--column {config.column!r} is not in the data; columns: {', '.join(daily.columns)}")
        return config.column
    for name in (config.target, *(("arrivals",) if config.target == "admissions" else ())):
        if name in daily.columns:
            return name
    raise ValueError(
        f"the data has no {config.target!r} column; name the series to forecast with --column "
        f"(columns: {', '.join(daily.columns)})"
    )


def prepare(
    daily: pd.DataFrame,
    config: EngineConfig,
    episodes: pd.DataFrame | None = None,
    guest_nights: pd.DataFrame | None = None,
    future_regressors: pd.DataFrame | None = None,
) -> Prepared:
    """Long series with calendar, holiday and tourism features, history and future.

    The census target drops each unit's warm-up days (their census misses patients admitted before the
    extract). Regressors named in `config.regressors` must be numeric columns of the daily frame; their values
    after the data come from `future_regressors` (`date`, optionally `unit`, and the regressor columns: a
    published event calendar, say). Days it does not cover stay empty: a backtest does not need them, a
    forecast beyond the data refuses them (`require_future_regressors`).
    """
    column = _target_column(daily, config)
    frame = daily
    if column == "census" and "warmup" in daily.columns:
        frame = daily[~daily["warmup"]]
    for name in config.regressors:
        if name not in daily.columns:
            raise ValueError(f"--regressors names {name!r}, which is not in the data")
        if not pd.api.types.is_numeric_dtype(daily[name]):
            raise ValueError(f"regressor {name!r} must be numeric")
    series = frame[["unit", "date", column, *config.regressors]].rename(
        columns={"unit": "unique_id", "date": "ds", column: "y"}
    )
    series = series.sort_values(["unique_id", "ds"]).reset_index(drop=True)
    history, future = features.calendar_features(
        series[["unique_id", "ds", "y"]],
        config.horizon,
        country=config.country,
        guest_nights=guest_nights,
        fourier_k=models.YEARLY_PAIRS,
    )
    for name in config.regressors:
        history[name] = series[name].to_numpy(float)
    if config.regressors:
        future = _with_future_regressors(future, future_regressors, config.regressors)
    flow = None
    if column == "census" and episodes is not None and "flow" in config.candidates:
        admissions = daily[["unit", "date", "admissions_acute", "admissions_elective"]].rename(
            columns={
                "unit": "unique_id",
                "date": "ds",
                "admissions_acute": "acute",
                "admissions_elective": "elective",
            }
        )
        flow = FlowInputs(admissions, episodes)
    return Prepared(history, future, flow, column)


def _with_future_regressors(
    future: pd.DataFrame, given: pd.DataFrame | None, regressors: Sequence[str]
) -> pd.DataFrame:
    """The future frame with the regressors' given values per unit and day (NaN where not given)."""
    if given is None:
        return future.assign(**{name: np.nan for name in regressors})
    missing = [c for c in ("date", *regressors) if c not in given.columns]
    if missing:
        raise ValueError(f"the future regressors need the columns date, {', '.join(regressors)}; missing {missing}")
    values = given.assign(ds=pd.to_datetime(given["date"]))
    keys = ["unique_id", "ds"] if "unit" in values.columns else ["ds"]
    values = values.rename(columns={"unit": "unique_id"})[[*keys, *regressors]].drop_duplicates(keys, keep="last")
    for name in regressors:
        values[name] = pd.to_numeric(values[name], errors="coerce")
    return future.merge(values, on=keys, how="left")


def require_future_regressors(prepared: Prepared, config: EngineConfig) -> None:
    """Refuse a forecast beyond the data when a regressor's future values are not given.

    The backtest saw each regressor's real values; a forecast that took unknown ones as 0 would be served
    with a backtest that overstates it.

    Raises:
        ValueError: naming the column and the first missing dates.
    """
    for name in config.regressors:
        gaps = prepared.future[prepared.future[name].isna()]
        if gaps.empty:
            continue
        days = sorted(gaps["ds"].dt.strftime("%Y-%m-%d").unique())
        shown = ", ".join(days[:5]) + (f" and {len(days) - 5} more" if len(days) > 5 else "")
        raise ValueError(
            f"regressor {name!r} has no values for {len(days)} forecast day(s): {shown}; give its future values "
            f"(a file of date[, unit], {name}) for every day of the forecast"
        )


def run(prepared: Prepared, config: EngineConfig, progress: Any = None) -> BacktestResult:
    """The rolling-origin backtest of all candidates on prepared series."""
    forecasts, scale = windows(prepared, config, progress)
    return judge(forecasts, scale, candidates_in(prepared, config), config.horizon)


def candidates_in(prepared: Prepared, config: EngineConfig) -> list[str]:
    """The candidates the data allows (the flow model needs episodes)."""
    return [c for c in config.candidates if c != "flow" or prepared.flow is not None]


def windows(prepared: Prepared, config: EngineConfig, progress: Any = None) -> tuple[pd.DataFrame, pd.Series]:
    """Every candidate's backtest forecasts and the MASE scales (see `backtest.backtest_windows`)."""
    return backtest_windows(
        prepared.series,
        config.horizon,
        config.folds,
        config.step,
        candidates_in(prepared, config),
        prepared.flow,
        n_jobs=config.n_jobs,
        progress=progress,
        lead_windows=(
            config.lead_windows if config.lead_windows is not None else lead_windows_for(config.horizon, config.step)
        ),
    )


def backtest_metrics(result: BacktestResult, config: EngineConfig) -> dict[str, Any]:
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


def promise_kept(result: BacktestResult, risk: float) -> pd.DataFrame:
    """Per unit, how the beds planned at `risk` fared in the honest backtest, and the widening the plan gets.

    Returns:
        Indexed by unit: `promised_risk, overflow_share, days, beds_per_mean_census, status` (see
        `beds.reliability`) and `upper_widened_by`: 1 where the promise held; where it was broken, the factor
        on the upper quantiles' distance from the forecast that would have kept it; where it cannot be measured,
        `beds.UNMEASURED_WIDENING`.
    """
    rows = []
    selected = result.selected
    for unit, part in selected.groupby("unique_id", sort=True):
        census = part["y"].to_numpy()
        upper = beds.quantile_at(part, 1 - risk)
        measured = beds.reliability(census, np.ceil(upper - 1e-9), risk)
        widened = {
            "kept": 1.0,
            "broken": beds.widening_to_keep(census, part["mean"].to_numpy(), upper, risk),
            "unmeasured": beds.UNMEASURED_WIDENING,
        }[str(measured["status"])]
        rows.append({"unit": unit, **measured, "upper_widened_by": widened})
    return pd.DataFrame(rows).set_index("unit")


def forecast_units(prepared: Prepared, result: BacktestResult, config: EngineConfig) -> pd.DataFrame:
    """Forecasts beyond the data: each unit's chosen model fitted on all history, quantiles from its errors.

    Returns:
        `unique_id, ds, model, mean`, the quantile columns, and `mean_acute`, `mean_elective` where the flow
        model was chosen (it knows the split by admission type). `model` names the choice: one candidate, or
        `a+b+c` for the mean of three.
    """
    require_future_regressors(prepared, config)
    needed = {m for choice in result.choice for m in members(choice)}
    point = forecast_origin(
        prepared.series,
        prepared.future,
        config.horizon,
        [c for c in config.candidates if c in needed],
        prepared.flow,
        n_jobs=config.n_jobs,
    )
    level = origin_level(prepared.series)
    # Units whose backtest broke the overflow promise, or could not measure it, are planned conservatively.
    widening = promise_kept(result, config.overflow_risk)["upper_widened_by"].to_dict()
    pieces = []
    for unit, rows in point.groupby("unique_id", sort=True):
        choice = str(result.choice[unit])
        rows = rows.sort_values("ds")
        mean = choice_point(rows, choice)
        offsets = result.error_quantiles(str(unit), choice, config.horizon, float(level[unit]))
        quantiles = widen_upper(mean, apply_error_quantiles(mean, offsets), widening.get(unit, 1.0))
        piece = rows[["unique_id", "ds"]].reset_index(drop=True)
        piece["model"] = choice
        piece["mean"] = mean
        if choice == "flow":
            piece["mean_acute"] = rows["flow_acute"].to_numpy()
            piece["mean_elective"] = rows["flow_elective"].to_numpy()
        pieces.append(pd.concat([piece, quantiles], axis=1))
    return pd.concat(pieces, ignore_index=True)


def candidates_for(names: Sequence[str]) -> tuple[str, ...]:
    """Validate a list of candidate names."""
    unknown = [n for n in names if n not in models.CANDIDATES]
    if unknown:
        raise ValueError(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(models.CANDIDATES)}")
    return tuple(names)
