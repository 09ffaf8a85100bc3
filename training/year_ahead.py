"""The year ahead in training: the census backtested a year ahead (`forecast.year_ahead`) where every unit has two
years of history, and forecast over the 52 whole weeks from the first Monday after the data, with the overflow
promise measured at that horizon and the counterfactual forecasts that explain its plan.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from forecast import counterfactual, engine, metrics, reliability
from forecast.bundle import FORECAST_COLUMNS
from forecast.periods import year_window
from forecast.year_ahead import YEAR_HORIZON, too_short, year_config
from training.runs import TargetRun
from training.settings import TrainSettings
from training.sources import Source

__all__ = ["year_run"]

Say = Callable[[str], None]


def year_run(
    source: Source, settings: TrainSettings, quarter: engine.EngineConfig, say: Say, runner: engine.Runner | None
) -> TargetRun | None:
    """The census backtest at a horizon of a year and the forecast of the year ahead, or None (and a line saying
    why) where a unit has less than two years of history."""
    daily, episodes = source.ingested.daily, source.ingested.episodes
    # Prepared once at the year's horizon (the protocol's folds and step do not change what is prepared).
    at_a_year = replace(quarter, horizon=YEAR_HORIZON)
    prepared = engine.prepare(daily, at_a_year, episodes, source.guest_nights, source.future_regressors)
    config = year_config(quarter, prepared)
    if config is None:
        say(f"year ahead: not planned: {too_short(prepared)}")
        return None
    say(f"year ahead: backtest at a horizon of {config.horizon} days, {config.folds} fold(s) {config.step} days apart")
    result = engine.run(prepared, config, progress=lambda line: say(f"year ahead: {line}"), runner=runner)
    scores = metrics.backtest_metrics(result, config)
    for unit, unit_scores in scores["units"].items():
        say(f"year ahead: {unit}: chose {unit_scores['model']} (MASE {unit_scores['mase']:.3f})")
    promise = metrics.promise_kept(result, config.overflow_risk)
    for record in reliability.records(promise).values():
        if record.conservative:
            say(f"year ahead: {reliability.statement(record)}")
    _, end = year_window(source.ingested.last_day)
    further = replace(config, horizon=(end - source.ingested.last_day).days)
    ahead = engine.prepare(daily, further, episodes, source.guest_nights, source.future_regressors)
    say(f"year ahead: fitting the chosen models on all history, forecasting {further.horizon} days")
    forecast = engine.forecast_units(
        ahead, result, further, runner=runner, widening=promise["upper_widened_by"].to_dict()
    )
    forecast.insert(1, "target", "census")
    say("year ahead: counterfactual forecasts for the explanation by driver")
    explained = counterfactual.counterfactual_forecasts(
        ahead.series, ahead.future, result.choice, further.horizon, ahead.flow
    )
    regressors = [c for c in prepared.series.columns if c not in ("unique_id", "ds", "y")]
    table = forecast.reindex(columns=FORECAST_COLUMNS)
    return TargetRun(config, result, scores, table, regressors, promise, explained)
