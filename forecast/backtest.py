"""Rolling-origin evaluation, scores, honest model choice and calibrated quantiles.

Cutoffs: the last at the series end − h, each earlier one `step` days before it. A few extra, earlier windows
(`lead_windows`, closer together) are run but never scored: they give the first scored fold something to
choose a model and calibrate its intervals on. For every fold, the choice and the calibration use only windows
whose forecasts ended by that fold's cutoff, so the scores the product reports for itself are the scores it
would have had.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecast import models
from forecast.calibration import apply_error_quantiles, error_quantiles, level_scale, origin_level
from forecast.models import FlowInputs
from forecast.quantiles import column

__all__ = [
    "Backtest",
    "backtest_windows",
    "choice_point",
    "cutoffs",
    "forecast_origin",
    "lead_windows_for",
    "judge",
    "members",
    "split_at",
]

COMBINED = 3  # a combination averages the best this many candidates
# Days of history a window's origin needs: four weeks for a scored window (two weekly seasons and then some), eight
# for an unscored lead window, whose errors teach the intervals (from less, they teach mostly the cold start).
MIN_HISTORY_SCORED = 28
MIN_HISTORY_LEAD = 56
Progress = Callable[[str], None]


def cutoffs(last_day: pd.Timestamp, horizon: int, folds: int, step: int) -> list[pd.Timestamp]:
    """Forecast origins, oldest first: the last at `last_day − horizon`, each earlier one `step` days before."""
    last = last_day - pd.Timedelta(days=horizon)
    return [last - pd.Timedelta(days=step * k) for k in range(folds - 1, -1, -1)]


def split_at(series: pd.DataFrame, cutoff: pd.Timestamp, horizon: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A window of the backtest: the history up to `cutoff` and the `horizon` days after it."""
    history = series[series["ds"] <= cutoff]
    ahead = series[(series["ds"] > cutoff) & (series["ds"] <= cutoff + pd.Timedelta(days=horizon))]
    return history, ahead


def lead_cutoffs(first_scored: pd.Timestamp, horizon: int, windows: int) -> list[pd.Timestamp]:
    """Unscored origins before the first scored one, oldest first, whose forecasts end by its cutoff.

    They are `max(7, horizon // 2)` days apart: close enough to fit in a short history, far enough apart to
    see different weeks.
    """
    spacing = max(7, horizon // 2)
    last = first_scored - pd.Timedelta(days=horizon)
    return [last - pd.Timedelta(days=spacing * k) for k in range(windows - 1, -1, -1)]


def lead_windows_for(horizon: int, step: int, fewest: int = 3, most: int = 6) -> int:
    """How many lead windows reach back about one `step` before the first scored fold, at the lead spacing.

    Short horizons get more of them (h=28: six, 14 days apart; h=91: three): a choice made on three windows
    two weeks apart sees one month, and that month's best model is often not the next quarter's. Long
    horizons keep three, since the earliest of more would forecast from a few months of history and its
    large errors would widen every interval calibrated on it.
    """
    spacing = max(7, horizon // 2)
    return int(np.clip(1 + step // spacing, fewest, most))


def forecast_origin(
    history: pd.DataFrame,
    future: pd.DataFrame,
    horizon: int,
    candidates: Sequence[str],
    flow: FlowInputs | None = None,
    n_jobs: int = 1,
    progress: Progress | None = None,
    quantiles: bool = False,
) -> pd.DataFrame:
    """Point forecasts of every candidate from one origin, for every unit.

    Args:
        history: `unique_id, ds, y` and regressors, up to the origin.
        future: `unique_id, ds` and the same regressors for the `horizon` days after it.
        horizon: days ahead.
        candidates: aliases from `models.CANDIDATES`; those that need `flow` inputs are skipped without them.
        flow: admissions by type and episodes, for the flow model.
        n_jobs: processes for the vectorised (statsforecast) candidates.
        progress: called with a line per candidate.
        quantiles: also each candidate's own predictive distribution where it has one
            (`models.own_quantile_columns`).

    Returns:
        `unique_id, ds`, a column per candidate and the parts a candidate knows (the flow model's `flow_acute`,
        `flow_elective`), then with `quantiles` the candidates' own quantile columns.
    """
    say = progress or (lambda line: None)
    future = future.sort_values(["unique_id", "ds"]).reset_index(drop=True)
    out = future[["unique_id", "ds"]].copy()
    own = []
    units = history["unique_id"].nunique()
    for alias in candidates:
        model = models.candidate(alias)
        if model.needs_flow and flow is None:
            continue
        say(f"  {alias}: {units} unit(s)")
        predicted = model.fit(history, horizon, flow=flow, n_jobs=n_jobs).predict(future, quantiles=quantiles)
        spread = [c for c in predicted.columns if c in models.own_quantile_columns(alias)]
        own.append(predicted[spread])
        for name in predicted.columns.drop(spread):
            out[name] = predicted[name].to_numpy()
    out = pd.concat([out, *own], axis=1)
    for name in [c for c in out.columns if c not in ("unique_id", "ds")]:
        out[name] = out[name].clip(lower=0)
    return out


def _seasonal_naive_scale(history: pd.DataFrame, season: int = 7) -> pd.Series:
    """Per unit, the in-sample MAE of a lag-`season` naive forecast: the MASE denominator."""
    diffs = history.groupby("unique_id", sort=False)["y"].diff(season).abs()
    return diffs.groupby(history["unique_id"]).mean().replace(0, np.nan)


@dataclass
class Backtest:
    """Everything a backtest found, per unit, fold and model."""

    forecasts: pd.DataFrame  # unique_id, ds, cutoff, fold, step, y, one column per model
    scores: pd.DataFrame  # unique_id, fold, model, mae, mase, bias
    models: list[str]  # the candidates
    selected: pd.DataFrame  # unique_id, ds, cutoff, fold, step, y, model, mean, quantile columns
    choice: pd.Series  # per unit: the choice on all windows (for the production forecast), see `members`

    def error_quantiles(self, unit: str, choice: str, horizon: int, level: float) -> np.ndarray:
        """Quantiles of the errors by horizon step for a forecast from an origin at `level`, from every window.

        The errors are those of the honest procedure (each window's choice made on the windows before it;
        `choice` stands in for the first windows, which have none), relative to the level at their origin.
        """
        rows = self.forecasts[self.forecasts["unique_id"] == unit]
        return error_quantiles(honest_errors(rows, choice), horizon) * level_scale(level)


def members(choice: str) -> list[str]:
    """The models a choice averages: `ets` is one model, `ets+gbm+flow` the mean of three."""
    return choice.split("+")


def choice_point(rows: pd.DataFrame, choice: str) -> np.ndarray:
    """The point forecast of a choice: its model's column, or the mean of its members' columns."""
    return rows[members(choice)].mean(axis=1).to_numpy()


def honest_errors(rows: pd.DataFrame, fallback: str) -> pd.DataFrame:
    """`step, error`: backtest errors of the honest procedure, relative to the level at each window's origin.

    Calibrating on these rather than on the errors of today's choice avoids the winner's curse: a model is
    chosen because its past errors were small, so its past errors understate its future ones. The choice is
    part of the forecast, and its own mistakes (a poor pick in some window) belong in the intervals.
    Relative errors let a window at one level teach the intervals at another (census errors grow with the
    census). Windows with no earlier window to choose from (`honest` empty) use `fallback`'s forecasts.

    Args:
        rows: backtest forecasts with `y`, `step`, `origin_level`, `honest` and the candidates' columns.
        fallback: the choice whose forecasts stand in where `honest` is empty.
    """
    point = rows["honest"].to_numpy(float)
    missing = np.isnan(point)
    if missing.any():
        point = np.where(missing, choice_point(rows, fallback), point)
    error = (rows["y"].to_numpy(float) - point) / level_scale(rows["origin_level"].to_numpy(float))
    return pd.DataFrame({"step": rows["step"].to_numpy(), "error": error})


def _mean_mase(rows: pd.DataFrame, point: np.ndarray, scale: pd.Series) -> float:
    """Mean over windows of MAE / the window's seasonal-naive scale."""
    mae = pd.Series(np.abs(point - rows["y"].to_numpy())).groupby(rows["fold"].to_numpy()).mean()
    return float((mae / scale.reindex(mae.index).to_numpy()).mean())


Pooled = Callable[[str], float]

# How much a unit's choice leans on how the choices did across all units in the same windows: a few windows
# of one unit rank the candidates noisily, and units of one hospital mostly rank them alike.
SHRINK = 0.5


def _choose(rows: pd.DataFrame, scale: pd.Series, candidates: Sequence[str], pooled: Pooled | None = None) -> str:
    """The best of the candidates and of the mean of the best three, by mean MASE on the given windows.

    With `pooled`, a choice's MASE is its unit's own shrunk halfway toward its mean over all units. Ties go
    to the simpler; the choice is never worse than the seasonal-naive baseline by the same measure.

    Args:
        rows: one unit's backtest forecasts in the windows the choice may learn from.
        scale: that unit's MASE denominator by window (`fold`).
        candidates: the candidate models.
        pooled: a choice's mean MASE over all units in the same windows (see `_pooled_mase`).
    """
    if rows.empty:
        return models.BASELINE

    def score(choice: str) -> float:
        own = _mean_mase(rows, choice_point(rows, choice), scale)
        return own if pooled is None else (1 - SHRINK) * own + SHRINK * pooled(choice)

    mase = {m: score(m) for m in candidates if m in rows.columns}
    ranked = sorted((m for m in mase if m != models.BASELINE and np.isfinite(mase[m])), key=mase.__getitem__)
    if len(ranked) >= COMBINED:
        combo = "+".join(ranked[:COMBINED])
        mase[combo] = score(combo)
    rank = {m: (round(v, 4), models.SIMPLICITY.get(m, 9)) for m, v in mase.items() if np.isfinite(v)}
    if not rank:  # a constant series: no scale to judge by, and nothing to beat the baseline at
        return models.BASELINE
    best = min(rank, key=rank.__getitem__)
    baseline = mase.get(models.BASELINE, np.inf)
    return best if mase[best] <= baseline else models.BASELINE


def _pooled_mase(rows: pd.DataFrame, scale: pd.Series) -> Pooled:
    """A choice's mean MASE over the units of `rows` (all units, the windows a choice may learn from), cached.

    Args:
        rows: every unit's backtest forecasts in those windows.
        scale: the MASE denominators by unit and window.
    """
    units = [(unit, part) for unit, part in rows.groupby("unique_id", sort=True)]
    cache: dict[str, float] = {}

    def pooled(choice: str) -> float:
        if choice not in cache:
            per_unit = [_mean_mase(part, choice_point(part, choice), scale.loc[unit]) for unit, part in units]
            cache[choice] = float(np.nanmean(per_unit)) if np.isfinite(per_unit).any() else np.nan
        return cache[choice]

    return pooled


def backtest_windows(
    series: pd.DataFrame,
    horizon: int,
    folds: int,
    step: int,
    candidates: Sequence[str],
    flow: FlowInputs | None = None,
    n_jobs: int = 1,
    progress: Progress | None = None,
    lead_windows: int = 3,
    quantiles: bool = False,
) -> tuple[pd.DataFrame, pd.Series]:
    """Every candidate's forecasts from every origin, and each window's MASE scale: the costly part.

    Units are independent here, so chunks of units can run apart (`forecast.distributed`); the choice, which
    pools over units, is made on all of them together by `judge`.

    Args:
        series: `unique_id, ds, y` and regressor columns whose values are known ahead (calendar, tourism).
        horizon: days ahead per window.
        folds: scored windows.
        step: days between cutoffs.
        candidates: aliases from `models.CANDIDATES`; those that need `flow` inputs are skipped without them.
        flow: inputs of the flow model (census from episodes).
        n_jobs: processes for the vectorised candidates.
        progress: called with a line per window.
        lead_windows: unscored windows before the first scored one, for its choice and calibration (fewer
            where the history is too short for them).
        quantiles: also the candidates' own predictive distributions (see `forecast_origin`).

    Returns:
        `(forecasts, scale)`: the forecasts as in `Backtest.forecasts`; the scale by `unique_id, fold`.
    """
    last_day = series["ds"].max()
    scored_origins = cutoffs(last_day, horizon, folds, step)
    first_day = series.groupby("unique_id")["ds"].min().max()
    if scored_origins[0] < first_day + pd.Timedelta(days=MIN_HISTORY_SCORED - 1):
        raise ValueError(
            f"too little history for {folds} folds {step} days apart with horizon {horizon}: the first cutoff "
            f"{scored_origins[0]:%Y-%m-%d} leaves under {MIN_HISTORY_SCORED} days of training data; use fewer "
            "folds or a smaller step"
        )
    # A short history keeps the lead windows that fit; its first folds lean on the models' own spread.
    leads = [
        c
        for c in lead_cutoffs(scored_origins[0], horizon, lead_windows)
        if c >= first_day + pd.Timedelta(days=MIN_HISTORY_LEAD - 1)
    ]
    lead_windows = len(leads)
    origins = leads + scored_origins
    windows = []
    scales = []
    for fold, cutoff in enumerate(origins):
        if progress:
            progress(f"window {fold + 1}/{len(origins)}: origin {cutoff:%Y-%m-%d}, {len(candidates)} candidates")
        history, ahead = split_at(series, cutoff, horizon)
        future = ahead.drop(columns="y")
        result = forecast_origin(history, future, horizon, candidates, flow, n_jobs, progress, quantiles)
        result = result.merge(ahead[["unique_id", "ds", "y"]], on=["unique_id", "ds"])
        result["cutoff"] = cutoff
        result["fold"] = fold - lead_windows + 1  # 1..folds are scored; lead windows are ≤ 0
        result["step"] = (result["ds"] - cutoff).dt.days
        result["origin_level"] = result["unique_id"].map(origin_level(history))
        windows.append(result)
        scale = _seasonal_naive_scale(history).rename("scale").reset_index()
        scale["fold"] = fold - lead_windows + 1
        scales.append(scale)
    forecasts = pd.concat(windows, ignore_index=True)
    return forecasts, pd.concat(scales).set_index(["unique_id", "fold"])["scale"]


def judge(forecasts: pd.DataFrame, scale: pd.Series, candidates: Sequence[str], horizon: int) -> Backtest:
    """Scores per unit, fold and model; the honest per-fold selection; the choice per unit on all windows."""
    long = forecasts.melt(
        id_vars=["unique_id", "ds", "fold", "y"], value_vars=list(candidates), var_name="model", value_name="forecast"
    )
    long["error"] = long["forecast"] - long["y"]
    long["abs_error"] = long["error"].abs()
    scores = long.groupby(["unique_id", "fold", "model"], as_index=False).agg(
        mae=("abs_error", "mean"), bias=("error", "mean")
    )
    scores = scores.merge(scale.reset_index(), on=["unique_id", "fold"])
    scores["mase"] = scores["mae"] / scores["scale"]
    honest = _honest_choices(forecasts, scale, candidates)
    forecasts = forecasts.copy()
    forecasts["honest"] = np.nan
    for key, rows in forecasts.groupby(["unique_id", "fold"], sort=False):
        if key in honest:
            forecasts.loc[rows.index, "honest"] = choice_point(rows, honest[key])
    selected = _honest_selection(forecasts, honest, horizon)
    pooled = _pooled_mase(forecasts, scale)
    choice = pd.Series(
        {
            unit: _choose(rows, scale.loc[unit], candidates, pooled)
            for unit, rows in forecasts.groupby("unique_id", sort=True)
        }
    )
    return Backtest(forecasts, scores, list(candidates), selected, choice)


def _honest_choices(forecasts: pd.DataFrame, scale: pd.Series, candidates: Sequence[str]) -> dict[tuple, str]:
    """Per unit and window: the choice made on the windows whose forecasts ended by that window's cutoff.

    Windows with no earlier window (the first lead windows) have none.
    """
    ends = forecasts.groupby("fold")["ds"].max()
    choices: dict[tuple, str] = {}
    for fold, rows in forecasts.groupby("fold", sort=True):
        known = ends.index[ends <= rows["cutoff"].iloc[0]]
        if known.empty:
            continue
        everyone = forecasts[forecasts["fold"].isin(known)]
        pooled = _pooled_mase(everyone, scale)
        in_window = set(rows["unique_id"])
        for unit, past in everyone.groupby("unique_id", sort=True):
            if unit in in_window:
                choices[(unit, fold)] = _choose(past, scale.loc[unit], candidates, pooled)
    return choices


def _honest_selection(forecasts: pd.DataFrame, honest: dict[tuple, str], horizon: int) -> pd.DataFrame:
    """For each scored fold, the forecast of the choice made on earlier windows, with quantiles calibrated
    on the honest procedure's relative errors in those windows."""
    pieces = []
    ends = forecasts.groupby("fold")["ds"].max()
    for (unit, fold), rows in forecasts[forecasts["fold"] > 0].groupby(["unique_id", "fold"], sort=True):
        # Only windows whose forecasts (and so their actuals) ended by this fold's cutoff.
        known = ends.index[ends <= rows["cutoff"].iloc[0]]
        past = forecasts[forecasts["fold"].isin(known) & (forecasts["unique_id"] == unit)]
        choice = honest.get((unit, fold), models.BASELINE)
        rows = rows.sort_values("ds")
        point = choice_point(rows, choice)
        offsets = error_quantiles(honest_errors(past, choice), horizon) * level_scale(rows["origin_level"].iloc[0])
        piece = rows[["unique_id", "ds", "cutoff", "fold", "step", "y"]].reset_index(drop=True)
        piece["model"] = choice
        piece["mean"] = point
        pieces.append(pd.concat([piece, apply_error_quantiles(point, offsets)], axis=1))
    return pd.concat(pieces, ignore_index=True)


def coverage(selected: pd.DataFrame, level: int) -> pd.Series:
    """Per unit, the share of actuals inside the central `level` % interval."""
    tail = (100 - level) / 200
    inside = (selected["y"] >= selected[column(tail)]) & (selected["y"] <= selected[column(1 - tail)])
    return inside.groupby(selected["unique_id"]).mean()


def width(selected: pd.DataFrame, level: int) -> pd.Series:
    """Per unit, the mean width of the central `level` % interval."""
    tail = (100 - level) / 200
    return (selected[column(1 - tail)] - selected[column(tail)]).groupby(selected["unique_id"]).mean()
