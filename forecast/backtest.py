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
from forecast.calibration import Calibration, Settings, calibrate_windows, spread_from_interval
from forecast.models import FlowInputs
from forecast.quantiles import column, columns

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
# The model whose own predictive distribution is every forecast's ruler (`forecast.calibration`); with no
# window to choose on, the choice.
REFERENCE = "ets"
# Windows a unit needs before its choice leaves the reference (one window cannot rank), and before it may take
# the candidates that extrapolate a calendar or a regression and the combinations (a few windows rank only the
# robust ones reliably).
WINDOWS_TO_CHOOSE = 2
WINDOWS_FOR_ALL = 3
# Beyond a quarter the choice with no window is the calendar regression with ARIMA errors, not ETS: a year ahead
# ETS carries its trend across the year, where the ARIMA errors fade to the calendar's pattern (MASE a year ahead:
# UIHC 0.77-0.78 against ETS's 0.89-0.92; the demo 0.86 against 1.27). ETS stays every horizon's ruler.
LONG_REFERENCE = "arima"
QUARTER_DAYS = 91
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


def lead_spacing(horizon: int) -> int:
    """Days between lead windows: close enough to fit in a short history, far enough apart to see different weeks."""
    return max(7, horizon // 2)


def lead_cutoffs(first_scored: pd.Timestamp, horizon: int, windows: int) -> list[pd.Timestamp]:
    """Unscored origins before the first scored one, oldest first, whose forecasts end by its cutoff, `lead_spacing`
    days apart."""
    spacing = lead_spacing(horizon)
    last = first_scored - pd.Timedelta(days=horizon)
    return [last - pd.Timedelta(days=spacing * k) for k in range(windows - 1, -1, -1)]


def lead_windows_for(horizon: int, step: int, fewest: int = 3, most: int = 6) -> int:
    """How many lead windows reach back about one `step` before the first scored fold, at the lead spacing.

    Short horizons get more of them (h=28: six, 14 days apart; h=91: three): a choice made on three windows
    two weeks apart sees one month, and that month's best model is often not the next quarter's. Long
    horizons keep three, since the earliest of more would forecast from a few months of history and its
    large errors would widen every interval calibrated on it.
    """
    spacing = lead_spacing(horizon)
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
        `flow_elective`), then with `quantiles` the candidates' own quantile columns, and `spread`: the ruler of
        the intervals, from the reference model's own distribution (`forecast.calibration`; the reference is
        fitted for it when it is not a candidate).
    """
    say = progress or (lambda line: None)
    future = future.sort_values(["unique_id", "ds"]).reset_index(drop=True)
    out = future[["unique_id", "ds"]].copy()
    own = []
    units = history["unique_id"].nunique()
    ruler = None
    for alias in [*candidates, *([] if REFERENCE in candidates else [REFERENCE])]:
        model = models.candidate(alias)
        if model.needs_flow and flow is None:
            continue
        say(f"  {alias}: {units} unit(s)")
        fitted = model.fit(history, horizon, flow=flow, n_jobs=n_jobs)
        predicted = fitted.predict(future, quantiles=quantiles or alias == REFERENCE)
        spread = [c for c in predicted.columns if c in models.own_quantile_columns(alias)]
        if alias == REFERENCE:
            ruler = spread_from_interval(predicted[f"{alias}_{column(0.1)}"], predicted[f"{alias}_{column(0.9)}"])
        if alias not in candidates:
            continue
        if quantiles:
            own.append(predicted[spread])
        for name in predicted.columns.drop(spread):
            out[name] = predicted[name].to_numpy()
    out = pd.concat([out, *own], axis=1)
    for name in [c for c in out.columns if c not in ("unique_id", "ds")]:
        out[name] = out[name].clip(lower=0)
    out["spread"] = ruler
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
    calibration: Calibration  # per unit, the intervals' multipliers for a forecast at the end of the data


def members(choice: str) -> list[str]:
    """The models a choice averages: `ets` is one model, `ets+gbm+flow` the mean of three."""
    return choice.split("+")


def choice_point(rows: pd.DataFrame, choice: str) -> np.ndarray:
    """The point forecast of a choice: its model's column, or the mean of its members' columns."""
    return rows[members(choice)].mean(axis=1).to_numpy()


def _mean_mase(rows: pd.DataFrame, point: np.ndarray, scale: pd.Series) -> float:
    """Mean over windows of MAE / the window's seasonal-naive scale."""
    mae = pd.Series(np.abs(point - rows["y"].to_numpy())).groupby(rows["fold"].to_numpy()).mean()
    return float((mae / scale.reindex(mae.index).to_numpy()).mean())


Pooled = Callable[[str], float]

# How much a unit's choice leans on how the choices did across all units in the same windows: a few windows
# of one unit rank the candidates noisily, and units of one hospital mostly rank them alike. A unit's own
# windows weigh n / (n + SHRINK_WINDOWS): a third with three windows, over half with ten.
SHRINK_WINDOWS = 6


def reference_for(horizon: int, candidates: Sequence[str]) -> str:
    """The choice with no window to choose on at `horizon` days: ETS up to a quarter, the calendar regression with
    ARIMA errors beyond (ETS where it is not a candidate), the seasonal naive where neither is."""
    preferred = (LONG_REFERENCE, REFERENCE) if horizon > QUARTER_DAYS else (REFERENCE,)
    return next((alias for alias in preferred if alias in candidates), models.BASELINE)


def _choose(
    rows: pd.DataFrame,
    scale: pd.Series,
    candidates: Sequence[str],
    pooled: Pooled | None = None,
    horizon: int = QUARTER_DAYS,
) -> str:
    """The best of the candidates, of the mean of the best three and of the mean of the best two with the
    reference, by mean MASE on the given windows.

    With `pooled`, a choice's MASE is its unit's own shrunk toward its mean over all units, the more the fewer
    windows the unit has. Ties go to the simpler; the choice is never worse than the seasonal-naive baseline by
    the same measure. Few windows cannot rank many candidates: with fewer than `WINDOWS_TO_CHOOSE` the choice is
    the reference (`reference_for` the horizon), with fewer than `WINDOWS_FOR_ALL` it or the seasonal naive.

    Args:
        rows: one unit's backtest forecasts in the windows the choice may learn from.
        scale: that unit's MASE denominator by window (`fold`).
        candidates: the candidate models.
        pooled: a choice's mean MASE over all units in the same windows (see `_pooled_mase`).
        horizon: the days ahead the windows forecast (it sets the reference).
    """
    windows = rows["fold"].nunique() if len(rows) else 0
    reference = reference_for(horizon, candidates)
    if windows < WINDOWS_TO_CHOOSE:
        return reference
    allowed = [c for c in candidates if windows >= WINDOWS_FOR_ALL or c in (models.BASELINE, reference)]
    own_weight = windows / (windows + SHRINK_WINDOWS)

    def score(choice: str) -> float:
        own = _mean_mase(rows, choice_point(rows, choice), scale)
        return own if pooled is None else own_weight * own + (1 - own_weight) * pooled(choice)

    mase = {m: score(m) for m in allowed if m in rows.columns}
    ranked = sorted((m for m in mase if m != models.BASELINE and np.isfinite(mase[m])), key=mase.__getitem__)
    if len(ranked) >= COMBINED:
        combos = [ranked[:COMBINED]]
        if reference in ranked[COMBINED:]:
            # The best two hedged with the reference: where the windows rank it low only for a while (a level
            # shift early on), this mean keeps its steadiness (HDHI at a quarter: 0.943 -> 0.900 MASE).
            combos.append([*ranked[: COMBINED - 1], reference])
        for averaged in combos:
            mase["+".join(averaged)] = score("+".join(averaged))
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
        windows.append(result)
        scale = _seasonal_naive_scale(history).rename("scale").reset_index()
        scale["fold"] = fold - lead_windows + 1
        scales.append(scale)
    forecasts = pd.concat(windows, ignore_index=True)
    return forecasts, pd.concat(scales).set_index(["unique_id", "fold"])["scale"]


def judge(
    forecasts: pd.DataFrame,
    scale: pd.Series,
    candidates: Sequence[str],
    horizon: int,
    settings: Settings | None = None,
) -> Backtest:
    """Scores per unit, fold and model; the honest per-fold selection with its calibrated quantiles (each window
    chosen and calibrated on what had been seen at its origin); the choice per unit on all windows and the
    calibration at the end of the data, for the forecast beyond it."""
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
    honest = _honest_choices(forecasts, scale, candidates, horizon)
    forecasts = forecasts.copy()
    forecasts["honest"] = np.nan
    forecasts["honest_choice"] = ""
    for key, rows in forecasts.groupby(["unique_id", "fold"], sort=False):
        forecasts.loc[rows.index, "honest"] = choice_point(rows, honest[key])
        forecasts.loc[rows.index, "honest_choice"] = honest[key]
    quantiles, calibration = calibrate_windows(
        forecasts.assign(point=forecasts["honest"]), horizon, settings or Settings()
    )
    scored = (forecasts["fold"] > 0).to_numpy()
    selected = forecasts.loc[scored, ["unique_id", "ds", "cutoff", "fold", "step", "y", "honest_choice", "honest"]]
    selected = selected.rename(columns={"honest_choice": "model", "honest": "mean"})
    selected[columns()] = quantiles[scored]
    selected = selected.sort_values(["unique_id", "fold", "ds"]).reset_index(drop=True)
    pooled = _pooled_mase(forecasts, scale)
    choice = pd.Series(
        {
            unit: _choose(rows, scale.loc[unit], candidates, pooled, horizon)
            for unit, rows in forecasts.groupby("unique_id", sort=True)
        }
    )
    return Backtest(forecasts, scores, list(candidates), selected, choice, calibration)


def _honest_choices(
    forecasts: pd.DataFrame, scale: pd.Series, candidates: Sequence[str], horizon: int
) -> dict[tuple, str]:
    """Per unit and window: the choice made on the windows whose forecasts ended by that window's cutoff (with
    none, the reference)."""
    ends = forecasts.groupby("fold")["ds"].max()
    choices: dict[tuple, str] = {}
    for fold, rows in forecasts.groupby("fold", sort=True):
        known = ends.index[ends <= rows["cutoff"].iloc[0]]
        everyone = forecasts[forecasts["fold"].isin(known)]
        pooled = _pooled_mase(everyone, scale)
        past = dict(tuple(everyone.groupby("unique_id", sort=True)))
        for unit in sorted(set(rows["unique_id"])):
            mine = past.get(unit, everyone.iloc[:0])
            choices[(unit, fold)] = _choose(mine, scale.loc[unit], candidates, pooled, horizon)
    return choices


def coverage(selected: pd.DataFrame, level: int) -> pd.Series:
    """Per unit, the share of actuals inside the central `level` % interval."""
    tail = (100 - level) / 200
    inside = (selected["y"] >= selected[column(tail)]) & (selected["y"] <= selected[column(1 - tail)])
    return inside.groupby(selected["unique_id"]).mean()


def width(selected: pd.DataFrame, level: int) -> pd.Series:
    """Per unit, the mean width of the central `level` % interval."""
    tail = (100 - level) / 200
    return (selected[column(1 - tail)] - selected[column(tail)]).groupby(selected["unique_id"]).mean()
