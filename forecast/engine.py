"""The forecast engine: from a daily frame to backtest metrics and calibrated forecasts per unit.

This glues the pure pieces together (features → candidates → backtest → choice → quantiles); it reads no
files and logs nowhere, so the CLI, the training pipeline, the distributed run and the tests all call the same
code: `run` is the one backtest entry point, `forecast_units` the one forecast beyond the data.

Units are independent up to the choice (a unit's backtest forecasts read only its own series and, for the flow
model, its admissions and episodes), so both split the units into chunks and map the costly part over them:
in this process, or on a `Runner` such as `forecast.distributed.DaskRunner`. The choice, which pools over all
units, is made here on all of them. The results equal the single-chunk run's as long as every unit's series ends
on the same day (the backtest takes its cutoffs from the last day of the data it is given); `split_prepared`
checks that. Two caveats live in `forecast.models`: MSTL drops its yearly season when the shortest series *in the
call* has under two years, so a chunk can differ from the whole for MSTL when unit histories straddle two years;
and the global models learn across the units of their chunk only (each chunk must hold at least their
`min_units`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal, Protocol, TypeVar

import numpy as np
import pandas as pd

from forecast import features, models
from forecast.backtest import Backtest as BacktestResult
from forecast.backtest import backtest_windows, choice_point, forecast_origin, judge, lead_windows_for, members
from forecast.calibration import apply_spread, widen_upper
from forecast.models import FlowInputs

__all__ = [
    "UNITS_PER_PARTITION",
    "EngineConfig",
    "Prepared",
    "Runner",
    "Target",
    "candidates_in",
    "flow_tables",
    "forecast_units",
    "prepare",
    "require_future_regressors",
    "run",
    "split_prepared",
    "split_units",
    "windows",
]

Target = Literal["census", "admissions"]
Progress = Callable[[str], None]


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
    candidates: tuple[str, ...] = tuple(models.CANDIDATES)
    n_jobs: int = 1
    lead_windows: int | None = None  # unscored windows before the first fold; None: by horizon and step
    overflow_risk: float = 0.05  # the promise the backtest measures (`forecast.metrics`) and the plan keeps
    # Also each candidate's own predictive distribution in the backtest forecasts (`{alias}_q0.05`, …), where it
    # has one: off by default, since it costs time and the product's quantiles come from the errors.
    own_quantiles: bool = False


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
    if column == "census" and episodes is not None and any(models.CANDIDATES[c].needs_flow for c in config.candidates):
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


class Runner(Protocol):
    """Where chunks of units run: `map` applies a function to each chunk, results in the chunks' order."""

    @property
    def workers(self) -> int: ...

    def map(self, function: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]: ...


def run(
    prepared: Prepared,
    config: EngineConfig,
    progress: Progress | None = None,
    *,
    runner: Runner | None = None,
    partitions: int | None = None,
) -> BacktestResult:
    """The rolling-origin backtest of all candidates on prepared series: choice, calibration and scores.

    Args:
        prepared: `prepare(...)`'s output for all units.
        config: the engine settings; `n_jobs` applies inside each chunk (keep 1 on a cluster).
        progress: called with a line per window (one chunk) or per run (several).
        runner: where the chunks of units run (default: in this process, one after another).
        partitions: chunks of units; default chunks of at most `UNITS_PER_PARTITION` units, and on a runner
            at least four per worker.
    """
    chunks = split_prepared(prepared, _partitions(prepared, runner, partitions))
    # The global models learn across the units of a chunk: every chunk must hold enough of them.
    smallest = min(c.series["unique_id"].nunique() for c in chunks)
    if runner is None and len(chunks) == 1:
        forecasts, scale = windows(prepared, config, progress)
    else:
        if progress:
            progress(f"backtest of {prepared.series['unique_id'].nunique()} units in {len(chunks)} chunks")
        parts = _map(runner, partial(windows, config=config, units=smallest), chunks)
        forecasts = pd.concat([f for f, _ in parts], ignore_index=True).sort_values(["fold", "unique_id", "ds"])
        forecasts = forecasts.reset_index(drop=True)
        scale = pd.concat([s for _, s in parts]).sort_index()
    return judge(forecasts, scale, candidates_in(prepared, config, smallest), config.horizon)


def candidates_in(prepared: Prepared, config: EngineConfig, units: int | None = None) -> list[str]:
    """The candidates the data allows: the flow model needs episodes, the global models several units per fit.

    Args:
        prepared: the data of the run.
        config: the engine settings.
        units: the units each fit sees (the smallest chunk's; default all of `prepared`'s).
    """
    units = prepared.series["unique_id"].nunique() if units is None else units
    return [
        c
        for c in config.candidates
        if (not models.CANDIDATES[c].needs_flow or prepared.flow is not None)
        and units >= models.CANDIDATES[c].min_units
    ]


def windows(
    prepared: Prepared, config: EngineConfig, progress: Progress | None = None, units: int | None = None
) -> tuple[pd.DataFrame, pd.Series]:
    """Every candidate's backtest forecasts and the MASE scales (see `backtest.backtest_windows`).

    `units`: the units of the smallest chunk of the run this is part of (see `candidates_in`).
    """
    return backtest_windows(
        prepared.series,
        config.horizon,
        config.folds,
        config.step,
        candidates_in(prepared, config, units),
        prepared.flow,
        n_jobs=config.n_jobs,
        progress=progress,
        lead_windows=(
            config.lead_windows if config.lead_windows is not None else lead_windows_for(config.horizon, config.step)
        ),
        quantiles=config.own_quantiles,
    )


def forecast_units(
    prepared: Prepared,
    result: BacktestResult,
    config: EngineConfig,
    *,
    runner: Runner | None = None,
    partitions: int | None = None,
    widening: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Forecasts beyond the data: each unit's chosen model fitted on all history, quantiles from its errors.

    Args:
        prepared: the data prepared with the forecast's horizon.
        result: the backtest whose choices and errors the forecast uses (`run`).
        config: the engine settings of the forecast.
        runner, partitions: as in `run`.
        widening: per unit, a factor on the upper quantiles' distance from the forecast (1 where absent): the
            conservative plan for units whose backtest broke the overflow promise (`metrics.promise_kept`).

    Returns:
        `unique_id, ds, model, mean`, the quantile columns, and `mean_acute`, `mean_elective` where the chosen
        model knows the split by admission type (the flow model). `model` names the choice: one candidate, or
        `a+b+c` for the mean of three.
    """
    require_future_regressors(prepared, config)
    wider = dict(widening or {})
    chunks = split_prepared(prepared, _partitions(prepared, runner, partitions))
    if runner is None and len(chunks) == 1:
        return _forecast_chunk((prepared, result), config, wider)
    tasks = [
        (chunk, _slice_backtest(result, sorted(chunk.series["unique_id"].astype(str).unique()))) for chunk in chunks
    ]
    parts = _map(runner, partial(_forecast_chunk, config=config, widening=wider), tasks)
    frame = pd.concat(parts, ignore_index=True)
    return frame.sort_values(["unique_id", "ds"], kind="stable").reset_index(drop=True)


def flow_tables(prepared: Prepared) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What-if scenarios' inputs for every unit, whatever model its census chose: the flow model's expected
    admissions per day of `prepared`'s future by type (`unit, admission_type, ds, expected`) and the patients in
    bed at the end of the data by days since admission (`unit, admission_type, days_since_admission, patients`).

    Both are aggregates; both are empty without episodes (`prepared.flow`: daily counts have no stays).
    """
    by_type = pd.DataFrame(columns=["unit", "admission_type", "ds", "expected"])
    in_bed = pd.DataFrame(columns=["unit", "admission_type", "days_since_admission", "patients"])
    if prepared.flow is None:
        return by_type, in_bed
    fitted = models.FlowModel().fit(prepared.series, len(prepared.future), flow=prepared.flow)
    arrivals, patients = [], []
    for unit, kinds in fitted.fits_.items():
        ahead = prepared.future[prepared.future["unique_id"] == unit].sort_values("ds")
        for kind, fit in kinds.items():
            expected = fit.rate.predict(ahead)
            arrivals.append(
                pd.DataFrame({"unit": unit, "admission_type": kind, "ds": ahead["ds"], "expected": expected})
            )
            there = {"days_since_admission": fit.in_bed.days_since_admission, "patients": fit.in_bed.patients}
            patients.append(pd.DataFrame({"unit": unit, "admission_type": kind, **there}))
    return pd.concat(arrivals, ignore_index=True), pd.concat(patients, ignore_index=True)


def _forecast_chunk(
    task: tuple[Prepared, BacktestResult], config: EngineConfig, widening: Mapping[str, float]
) -> pd.DataFrame:
    prepared, result = task
    needed = {m for choice in result.choice for m in members(choice)}
    point = forecast_origin(
        prepared.series,
        prepared.future,
        config.horizon,
        [c for c in config.candidates if c in needed],
        prepared.flow,
        n_jobs=config.n_jobs,
    )
    pieces = []
    for unit, rows in point.groupby("unique_id", sort=True):
        choice = str(result.choice[unit])
        rows = rows.sort_values("ds")
        mean = choice_point(rows, choice)
        multipliers = result.calibration.multipliers[str(unit)]
        quantiles = apply_spread(mean, rows["spread"].to_numpy(), multipliers)
        quantiles = widen_upper(mean, quantiles, widening.get(str(unit), 1.0))
        piece = rows[["unique_id", "ds"]].reset_index(drop=True)
        piece["model"] = choice
        piece["mean"] = mean
        # The split by admission type, from a chosen model that knows it.
        for kind in ("acute", "elective"):
            if f"{choice}_{kind}" in rows.columns:
                piece[f"mean_{kind}"] = rows[f"{choice}_{kind}"].to_numpy()
        pieces.append(pd.concat([piece, quantiles], axis=1))
    return pd.concat(pieces, ignore_index=True)


# --- chunks of units ----------------------------------------------------------------------------------------

# The backtest finds a unit's rows by scanning the whole frame, so one call costs units × rows: quadratic in the
# units. Chunks of at most this many units keep the cost linear (measured in benchmarks/scale.py).
UNITS_PER_PARTITION = 100


def split_units(units: Sequence[str], partitions: int) -> list[list[str]]:
    """Sorted units in `partitions` contiguous chunks of near-equal size (no chunk is empty).

    Contiguous chunks of the sorted names keep each chunk in the order the single-chunk run uses, so putting
    them back together is a concatenation.
    """
    if partitions < 1:
        raise ValueError(f"partitions must be at least 1, got {partitions}")
    ordered = sorted(set(map(str, units)))
    return [list(chunk) for chunk in np.array_split(np.array(ordered, dtype=object), partitions) if len(chunk)]


def _subset(prepared: Prepared, units: list[str]) -> Prepared:
    """The prepared data of some units only, the flow model's inputs included."""

    def rows(frame: pd.DataFrame, key: str = "unique_id") -> pd.DataFrame:
        return frame[frame[key].astype(str).isin(units)].reset_index(drop=True)

    flow = None
    if prepared.flow is not None:
        flow = FlowInputs(rows(prepared.flow.admissions), rows(prepared.flow.episodes, "unit"))
    return Prepared(rows(prepared.series), rows(prepared.future), flow, prepared.column)


def split_prepared(prepared: Prepared, partitions: int) -> list[Prepared]:
    """The prepared data in chunks of whole units, each with its own slice of the flow model's inputs.

    Raises:
        ValueError: units whose series end on different days (each chunk would take other backtest cutoffs).
    """
    if partitions == 1:
        return [prepared]
    last = prepared.series.groupby("unique_id")["ds"].max()
    if last.nunique() > 1:
        early = last[last < last.max()]
        raise ValueError(
            f"every unit's series must end on the same day to split the run by unit; {len(early)} end before "
            f"{last.max():%Y-%m-%d} (e.g. {early.index[0]} on {early.iloc[0]:%Y-%m-%d}); fill or trim them first"
        )
    return [_subset(prepared, chunk) for chunk in split_units(last.index, partitions)]


def _slice_backtest(result: BacktestResult, units: list[str]) -> BacktestResult:
    def rows(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[frame["unique_id"].astype(str).isin(units)].reset_index(drop=True)

    return BacktestResult(
        rows(result.forecasts),
        rows(result.scores),
        result.models,
        rows(result.selected),
        result.choice.loc[units],
        result.calibration.subset(units),
    )


def _partitions(prepared: Prepared, runner: Runner | None, partitions: int | None) -> int:
    units = prepared.series["unique_id"].nunique()
    if partitions is not None:
        return max(1, min(partitions, units))
    by_size = -(-units // UNITS_PER_PARTITION)
    if runner is None:
        # In this process chunks only save time, so only where they give the same result: every unit's series
        # ends on the same day.
        return by_size if by_size == 1 or prepared.series.groupby("unique_id")["ds"].max().nunique() == 1 else 1
    # A few chunks per worker even out chunks of unequal cost without much per-task overhead.
    return max(1, min(units, max(4 * runner.workers, by_size)))


Item = TypeVar("Item")


def _map(runner: Runner | None, function: Callable[[Item], Any], items: Sequence[Item]) -> list[Any]:
    if runner is None:
        return [function(item) for item in items]
    return runner.map(function, items)
