"""What a training run logs to MLflow: parameters, metrics overall and per unit and model, tables and charts."""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import asdict
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd

from forecast import beds, explain, plans, plots
from forecast.bundle import ForecastBundle
from forecast.periods import quarter_window, year_window
from forecast.staffing import shift_staffing, weekly_fte
from training.runs import TargetRun
from training.settings import TrainSettings
from training.sources import Source

__all__ = ["log_artifacts", "next_quarter_plan", "run_metrics", "run_params"]

Say = Callable[[str], None]
PROJECT = Path(__file__).resolve().parents[1]


def next_quarter_plan(bundle: ForecastBundle, policy: beds.BedPolicy) -> tuple[pd.DataFrame, str]:
    """The weekly bed plan of the first whole quarter after the data, and the quarter's name."""
    start, end = quarter_window("next", pd.Timestamp(bundle.units["last_date"].max()))
    census = bundle.select(target="census", start=start, days=(end - start).days + 1)
    plan, _ = plans.quarter_plan(census, start, end, policy, bundle.current_beds())
    return plan, f"{start.year}Q{start.quarter}"


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.stdout.strip() or "unknown"


def run_params(settings: TrainSettings, source: Source, data_print: str, regressors: list[str]) -> dict[str, Any]:
    daily = source.ingested.daily
    units = sorted(daily["unit"].unique())
    params: dict[str, Any] = {
        "data": source.name,
        "data_fingerprint": data_print,
        "data_first_date": f"{daily['date'].min():%Y-%m-%d}",
        "data_last_date": f"{source.ingested.last_day:%Y-%m-%d}",
        "units": ",".join(units)[:5000],
        "unit_count": len(units),
        "horizon": settings.horizon,
        "folds": settings.folds,
        "step": settings.step,
        "candidates": ",".join(settings.candidates),
        "targets": ",".join(settings.targets),
        "season_lengths": "7,365",
        "country": settings.country,
        "regressors": ",".join(regressors)[:5000],
        "model_name": settings.model_name,
        "git_commit": git_commit(),
        **{f"policy_{k}": v for k, v in asdict(settings.policy).items()},
        **{f"staffing_{k}": v for k, v in asdict(settings.staffing).items()},
    }
    for lib in ("statsforecast", "scikit-learn", "pandas", "numpy", "mlflow"):
        params[f"version_{lib}"] = package_version(lib)
    return params


def _metric_key(*parts: str) -> str:
    # MLflow keys allow letters, digits and _-./ and space; unit names may hold anything.
    return ".".join("".join(ch if ch.isalnum() or ch in "_-" else "_" for ch in p) for p in parts)


def run_metrics(runs: dict[str, TargetRun]) -> dict[str, float]:
    """Overall, per unit and per unit and model (MASE, MAE, coverage, decision scores)."""
    out: dict[str, float] = {}
    for target, run in runs.items():
        summary = run.metrics["summary"]
        for key in ("mase", "baseline_mase", "mae", "coverage_80", "coverage_95"):
            out[_metric_key(target, key)] = summary[key]
        for model, mase in summary["models"].items():
            out[_metric_key(target, "model", model, "mase")] = mase
        for unit, scores in run.metrics["units"].items():
            for key in ("mase", "mae", "bias", "coverage_80", "coverage_95", "width_80", "width_95", "baseline_mase"):
                out[_metric_key(target, "unit", unit, key)] = scores[key]
            for model, mase in scores["models"].items():
                out[_metric_key(target, "unit", unit, "model", model, "mase")] = mase
            for policy, decision in scores["decisions"].items():
                for key, value in decision.items():
                    out[_metric_key(target, "unit", unit, policy, key)] = value
    return {k: float(v) for k, v in out.items() if np.isfinite(v)}


def log_artifacts(runs: dict[str, TargetRun], bundle: ForecastBundle, settings: TrainSettings, say: Say) -> None:
    """Tables and charts of the run."""
    plan, quarter = next_quarter_plan(bundle, settings.policy)
    first = bundle.first_forecast_day
    ratios = {unit: bundle.meta.staffing_per_unit.get(unit, settings.staffing) for unit in bundle.unit_names}
    staffing = shift_staffing(bundle.select(target="census", start=first, days=28), ratios)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        tables = {
            "backtest.csv": pd.concat([r.result.scores.assign(target=t) for t, r in runs.items()], ignore_index=True),
            "forecast.csv": bundle.forecasts,
            f"bed_plan_{quarter}.csv": plan,
            "staffing_next_28_days.csv": staffing,
            "staffing_fte_next_28_days.csv": weekly_fte(staffing, ratios),
        }
        for name, table in tables.items():
            table.to_csv(folder / name, index=False, date_format="%Y-%m-%d")
        # CSV for spreadsheets; Parquet keeps every digit, to check a loaded model against.
        bundle.forecasts.to_parquet(folder / "forecast.parquet", index=False)
        for target, run in runs.items():
            (folder / f"metrics_{target}.json").write_text(json.dumps(run.metrics, indent=2))
        mlflow.log_artifacts(str(folder), artifact_path="tables")
    current = bundle.current_beds()
    for unit in bundle.unit_names:
        history = bundle.history[bundle.history["unique_id"] == unit].set_index("ds")["census"]
        rows = bundle.select([unit], "census")
        figure = plots.fan_chart(history, rows, unit, float(current[unit]) if unit in current else None)
        mlflow.log_figure(figure, f"plots/fan_{_metric_key(unit)}.png")
        say(f"logged the fan chart of {unit}")
    mlflow.log_figure(plots.beds_chart(plan, f"beds needed in {quarter} against today's"), "plots/beds.png")
    log_explanations(bundle, settings.policy, quarter, say)


def log_explanations(bundle: ForecastBundle, policy: beds.BedPolicy, quarter: str, say: Say) -> None:
    """The plans of the next quarter and the year ahead split by driver: a table each, and a chart per unit."""
    last = pd.Timestamp(bundle.meta.data_last_date or bundle.first_forecast_day - pd.Timedelta(days=1))
    windows = {"quarter": (quarter, quarter_window("next", last)), "year": ("the year ahead", year_window(last))}
    explained = {}
    for horizon, (title, (start, end)) in windows.items():
        found = explain.explain_plan(bundle, horizon, policy, start, end)
        if found is not None:
            explained[horizon] = (title, found)
    if not explained:
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for horizon, (_, found) in explained.items():
            name = f"explain_{quarter}.csv" if horizon == "quarter" else "explain_year.csv"
            found.parts.to_csv(folder / name, index=False, date_format="%Y-%m-%d")
        mlflow.log_artifacts(str(folder), artifact_path="tables")
    for unit in bundle.unit_names:
        panels = [
            (f"beds by driver, {title}", found.parts[found.parts["unique_id"] == unit])
            for title, found in explained.values()
        ]
        mlflow.log_figure(plots.drivers_chart(panels, unit), f"plots/drivers_{_metric_key(unit)}.png")
    say(f"logged the beds by driver of {len(bundle.unit_names)} unit(s)")
