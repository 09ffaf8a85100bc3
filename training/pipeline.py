"""The training pipeline: data → features → backtest → fit per unit → MLflow run → registered model.

Every run logs its parameters, its metrics overall and per unit and model, the backtest, forecast and bed-plan
tables and the planner's charts (`training.tracking`), then registers a new version of the model; the alias
`champion` moves to it only when it wins (see `forecast.registry`). The command line is `training.train`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.tracking import MlflowClient

from forecast import counterfactual, distributed, engine, metrics, registry, reliability
from forecast.bundle import FORECAST_COLUMNS, ForecastBundle, build_bundle
from forecast.periods import quarter_window
from training.runs import TargetRun
from training.settings import TrainSettings
from training.sources import Source, fingerprint, hierarchy_of, load_source, unit_ratios
from training.tracking import log_artifacts, run_metrics, run_params
from training.year_ahead import year_run

__all__ = [
    "TargetRun",
    "TrainResult",
    "bundle_of",
    "champion_score_on",
    "method_of",
    "run_targets",
    "score_of",
    "train",
    "window_of",
]

Say = Callable[[str], None]
DEFAULT_SETTINGS = TrainSettings()  # the demo hospital


@dataclass
class TrainResult:
    run_id: str
    version: str
    promotion: registry.Promotion
    score: float
    bundle: ForecastBundle
    seconds: float
    mlflow_seconds: float
    tracking_uri: str


def forecast_days(last_day: pd.Timestamp, horizon: int) -> int:
    """Days to forecast: through the end of the next whole quarter, and at least the backtest horizon."""
    _, end = quarter_window("next", last_day)
    return max(horizon, (end - last_day).days)


def run_target(
    source: Source,
    settings: TrainSettings,
    target: str,
    say: Say,
    ahead: bool = True,
    runner: engine.Runner | None = None,
) -> TargetRun | None:
    """Backtest the candidates for one target and (with `ahead`) forecast it beyond the data.

    Returns None when the data lacks the target.
    """
    daily = source.ingested.daily
    wanted = {"census": ("census",), "admissions": ("admissions", "arrivals")}[target]
    if not any(c in daily.columns for c in wanted):
        say(f"{target}: not in the data, skipped")
        return None
    config = engine.EngineConfig(
        target=target,  # type: ignore[arg-type]
        horizon=settings.horizon,
        folds=settings.folds,
        step=settings.step,
        country=settings.country,
        regressors=settings.regressors,
        candidates=settings.candidates,
        overflow_risk=settings.policy.overflow_risk,
    )
    episodes = source.ingested.episodes
    prepared = engine.prepare(daily, config, episodes, source.guest_nights, source.future_regressors)
    say(f"{target}: backtest of {', '.join(config.candidates)} on {prepared.series['unique_id'].nunique()} unit(s)")
    result = engine.run(prepared, config, progress=lambda line: say(f"{target}: {line}"), runner=runner)
    scores_of = metrics.backtest_metrics(result, config)
    for unit, scores in scores_of["units"].items():
        mase, naive = scores["mase"], scores["baseline_mase"]
        say(f"{target}: {unit}: chose {scores['model']} (MASE {mase:.3f}, seasonal naive {naive:.3f})")
    promise = metrics.promise_kept(result, config.overflow_risk)
    for record in reliability.records(promise).values():
        if record.conservative:
            say(f"{target}: {reliability.statement(record)}")
    regressors = [c for c in prepared.series.columns if c not in ("unique_id", "ds", "y")]
    forecast = pd.DataFrame(columns=FORECAST_COLUMNS)
    explained = None
    if ahead:
        further = replace(config, horizon=forecast_days(source.ingested.last_day, config.horizon))
        say(f"{target}: fitting the chosen models on all history, forecasting {further.horizon} days")
        further_prepared = engine.prepare(daily, further, episodes, source.guest_nights, source.future_regressors)
        widening = promise["upper_widened_by"].to_dict()
        forecast = engine.forecast_units(further_prepared, result, further, runner=runner, widening=widening)
        forecast.insert(1, "target", target)
        if target == "census":
            say(f"{target}: counterfactual forecasts for the explanation by driver")
            explained = counterfactual.counterfactual_forecasts(
                further_prepared.series, further_prepared.future, result.choice, further.horizon, further_prepared.flow
            )
    table = forecast.reindex(columns=FORECAST_COLUMNS)
    return TargetRun(config, result, scores_of, table, regressors, promise, explained)


def run_targets(source: Source, settings: TrainSettings, say: Say, ahead: bool = True) -> dict[str, TargetRun]:
    runs = {}
    # One runner (for Dask one cluster, local or at the address) for every target's backtest and forecast.
    with distributed.runner(settings.engine, settings.address) as runner:
        for target in settings.targets:
            run = run_target(source, settings, target, say, ahead, runner)
            if run is not None:
                runs[target] = run
    if "census" not in runs:
        raise ValueError("the data has no census (neither episodes nor a census column): nothing to plan beds from")
    return runs


def window_of(data_print: str, settings: TrainSettings) -> str:
    """What a score was measured on: the data (its fingerprint) and the backtest protocol. Scores compare only
    within one."""
    protocol = f"h{settings.horizon}|k{settings.folds}|s{settings.step}|{'+'.join(settings.targets)}"
    return f"{data_print}|{protocol}"


def method_of(settings: TrainSettings) -> str:
    """What makes the forecasts, apart from the data: candidates, holidays, regressors (JSON)."""
    method = {
        "candidates": list(settings.candidates),
        "country": settings.country,
        "regressors": list(settings.regressors),
    }
    return json.dumps(method, sort_keys=True)


def champion_score_on(
    champion: dict[str, str] | None, source: Source, settings: TrainSettings, window: str, say: Say
) -> tuple[float | None, bool]:
    """The champion's score on this run's data window, and whether this run is a refit of its method.

    Same window: the champion's own score. Another window (newer data or another protocol): the champion's
    method is backtested here on this window — unless it is this run's method, which is then a refit.
    """
    if champion is None:
        return None, False
    if champion.get("window") == window:
        return float(champion.get("score", "inf")), False
    if champion.get("method") == method_of(settings):
        return None if "score" not in champion else float(champion["score"]), True
    try:
        method = json.loads(champion.get("method", ""))
        theirs = replace(
            settings,
            candidates=tuple(method["candidates"]),
            country=str(method["country"]),
            regressors=tuple(method["regressors"]),
        )
    except (ValueError, KeyError, TypeError):
        say("the champion records no method to re-score; comparing with its own score")
        return float(champion.get("score", "inf")), False
    say(f"re-scoring the champion (version {champion.get('version')}) on this data window")
    return score_of(run_targets(source, theirs, say, ahead=False)), False


def score_of(runs: dict[str, TargetRun]) -> float:
    """The run's score for the champion contest: mean honest MASE over its targets (lower is better)."""
    return float(np.mean([r.metrics["summary"]["mase"] for r in runs.values()]))


def bundle_of(
    source: Source, runs: dict[str, TargetRun], meta: dict[str, Any], year: TargetRun | None = None
) -> ForecastBundle:
    """The serving bundle of a run's forecasts (`forecast.bundle.build_bundle` on this source), with the year
    ahead where there is one."""
    explained = {
        horizon: run.counterfactuals
        for horizon, run in (("quarter", runs["census"]), ("year", year))
        if run is not None and run.counterfactuals is not None
    }
    return build_bundle(
        source.ingested.daily,
        [run.forecast for run in runs.values()],
        runs["census"].result,
        meta,
        last_day=source.ingested.last_day,
        episodes=source.ingested.episodes,
        current_beds=source.current_beds,
        tree=hierarchy_of(source),
        promise=runs["census"].promise,
        flow=flow_of(source, runs["census"]),
        year_ahead=year.forecast if year is not None else None,
        year_promise=year.promise if year is not None else None,
        explained=explained,
    )


def run_year(source: Source, settings: TrainSettings, census: TargetRun, say: Say) -> TargetRun | None:
    """The census a year ahead (`training.year_ahead`), when the settings ask for it and the data allow it."""
    if not settings.year_ahead:
        return None
    with distributed.runner(settings.engine, settings.address) as runner:
        return year_run(source, settings, census.config, say, runner)


def year_meta(year: TargetRun | None) -> dict[str, Any]:
    """What the bundle records of the year ahead: its backtest's protocol, summary and choices."""
    if year is None:
        return {}
    return {
        "horizon": year.config.horizon,
        "folds": year.config.folds,
        "step": year.config.step,
        "backtest": year.metrics["summary"],
        "chosen": {u: s["model"] for u, s in year.metrics["units"].items()},
    }


def backtest_per_unit(runs: dict[str, TargetRun]) -> dict[str, dict[str, dict[str, float]]]:
    """Per target and unit, the honest backtest scores monitoring compares production with."""
    keys = ("mase", "mae", "bias", "coverage_80", "coverage_95")
    return {t: {u: {k: float(s[k]) for k in keys} for u, s in r.metrics["units"].items()} for t, r in runs.items()}


def flow_of(source: Source, census: TargetRun) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every unit's expected admissions by type over the forecast's days and its patients in bed (for scenarios)."""
    daily = source.ingested.daily
    config = replace(census.config, horizon=forecast_days(source.ingested.last_day, census.config.horizon))
    config = replace(config, candidates=("flow",))
    prepared = engine.prepare(daily, config, source.ingested.episodes, source.guest_nights, source.future_regressors)
    return engine.flow_tables(prepared)


def train(settings: TrainSettings = DEFAULT_SETTINGS, say: Say = print) -> TrainResult:
    """Train, log and register; move `champion` only when the new version wins (or `promote` forces it)."""
    started = time.perf_counter()
    uri = registry.configure_tracking(settings.root)
    say(f"tracking: {uri}")
    source = load_source(settings)
    say(f"data: {source.name}: {source.ingested.daily['unit'].nunique()} unit(s)")
    runs = run_targets(source, settings, say)
    year = run_year(source, settings, runs["census"], say)
    data_print = fingerprint(source)
    window = window_of(data_print, settings)
    score = score_of(runs)
    meta = {
        "trained_at": pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds"),
        "data": source.name,
        "data_fingerprint": data_print,
        "window": window,
        "method": method_of(settings),
        "data_first_date": f"{source.ingested.daily['date'].min():%Y-%m-%d}",
        "data_last_date": f"{source.ingested.last_day:%Y-%m-%d}",
        "score": score,
        "settings": {
            "horizon": settings.horizon,
            "folds": settings.folds,
            "step": settings.step,
            "country": settings.country,
            "candidates": list(settings.candidates),
            "regressors": list(settings.regressors),
        },
        "policy": asdict(settings.policy),
        "staffing": asdict(settings.staffing),
        "staffing_per_unit": {
            unit: asdict(ratios)
            for unit, ratios in unit_ratios(source, settings).items()
            if ratios != settings.staffing
        },
        "backtest": {t: r.metrics["summary"] for t, r in runs.items()},
        "backtest_units": backtest_per_unit(runs),
        "chosen": {t: {u: s["model"] for u, s in r.metrics["units"].items()} for t, r in runs.items()},
        "year_ahead": year_meta(year),
    }
    bundle = bundle_of(source, runs, meta, year)
    client = MlflowClient()
    champion = registry.champion_tags(client, settings.model_name)
    champion_score, refit = (
        (None, False) if settings.promote else champion_score_on(champion, source, settings, window, say)
    )
    promotion = registry.decide_promotion(
        score, champion["version"] if champion else None, champion_score, refit, force=settings.promote
    )
    say("logging the run to MLflow")
    logging_started = time.perf_counter()
    with mlflow.start_run(run_name=f"{settings.model_name} {meta['data_last_date']}") as active:
        mlflow.log_params(run_params(settings, source, data_print, runs["census"].regressors))
        mlflow.log_metrics({"score": score, **run_metrics(runs)})
        log_artifacts(runs, bundle, settings, say)
        info = registry.log_bundle(bundle, settings.model_name)
        version = str(info.registered_model_version)
        for key, value in {
            "score": repr(score),  # every digit: a refit ties exactly, not by rounding
            "window": window,
            "method": meta["method"],
            "data_fingerprint": data_print,
        }.items():
            client.set_model_version_tag(settings.model_name, version, key, value)
        registry.set_alias(client, settings.model_name, version, promotion)
        mlflow.set_tags({"alias": promotion.alias, "promotion_reason": promotion.reason, "model_version": version})
        run_id = active.info.run_id
    mlflow_seconds = time.perf_counter() - logging_started
    say(f"registered {settings.model_name} version {version} as {promotion.alias}: {promotion.reason}")
    return TrainResult(run_id, version, promotion, score, bundle, time.perf_counter() - started, mlflow_seconds, uri)
