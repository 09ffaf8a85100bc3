"""The year ahead: the census backtested and forecast 52 weeks out, beside the quarter.

Gotland plans its summer beds in winter, when a quarter's forecast does not reach the summer. Where every unit
has two years of history, training backtests the census at a horizon of a year (its own choice of model and its
own calibration: errors a year ahead are not a quarter's) and forecasts the 52 whole weeks from the first
Monday after the data, with the overflow promise measured at that horizon.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pandas as pd

from forecast import counterfactual, engine, metrics, reliability
from forecast.bundle import FORECAST_COLUMNS
from forecast.periods import year_window
from training.runs import TargetRun
from training.settings import TrainSettings
from training.sources import Source

__all__ = ["YEAR_HORIZON", "history_days", "year_protocol", "year_run"]

Say = Callable[[str], None]
YEAR_HORIZON = 364
# Scored windows a quarter apart, and one unscored window a year before the first (its choice and calibration).
YEAR_STEP = 91
MOST_YEAR_FOLDS = 3
# A window's history must leave a fortnight before the first origin (`backtest.backtest_windows`).
SLACK_DAYS = 15


def history_days(prepared: engine.Prepared) -> int:
    """Days of census history of the unit with the least (warm-up days left out)."""
    span = prepared.series.groupby("unique_id")["ds"].agg(["min", "max"])
    return int(((span["max"] - span["min"]).dt.days + 1).min())


def year_protocol(days: int) -> tuple[int, int] | None:
    """Scored folds and the step between them for a year-ahead backtest on `days` of history, or None when the
    history is shorter than two years (a lead window a year before one scored window)."""
    first = 2 * YEAR_HORIZON + SLACK_DAYS
    if days < first:
        return None
    return min(MOST_YEAR_FOLDS, 1 + (days - first) // YEAR_STEP), YEAR_STEP


def year_run(
    source: Source, settings: TrainSettings, quarter: engine.EngineConfig, say: Say, runner: engine.Runner | None
) -> TargetRun | None:
    """The census backtest at a horizon of a year and the forecast of the year ahead, or None (and a line saying
    why) where a unit has less than two years of history."""
    daily, episodes = source.ingested.daily, source.ingested.episodes
    prepared = engine.prepare(daily, quarter, episodes, source.guest_nights, source.future_regressors)
    days = history_days(prepared)
    protocol = year_protocol(days)
    if protocol is None:
        say(f"year ahead: not planned, a unit has {days} days of census history; it needs two years")
        return None
    folds, step = protocol
    config = replace(quarter, horizon=YEAR_HORIZON, folds=folds, step=step, lead_windows=1)
    prepared = engine.prepare(daily, config, episodes, source.guest_nights, source.future_regressors)
    say(f"year ahead: backtest at a horizon of {YEAR_HORIZON} days, {folds} fold(s) {step} days apart")
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


def chosen_table(run: TargetRun) -> pd.Series:
    """Per unit, the model the year-ahead backtest chose."""
    return run.result.choice.astype(str)
