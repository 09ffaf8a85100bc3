"""Accuracy, calibration and speed of the engine beside the anchors, in one run, on the same windows.

    .venv/bin/python benchmarks/accuracy.py [--runs hdhi:28:4:91,italy:28:3:28,...] [--no-prophet] [--no-timing]

A run is `data:horizon:folds:step`; the default covers the real data sets (HDHI census, UIHC arrivals, the Italy
ward census through two epidemic waves) and the demo hospital under the protocols of the README. Per run it
prints every candidate's MASE (scaled by the in-sample MAE of a lag-7 seasonal naive), then one line each for
the engine's honest per-unit choice, statsforecast's AutoETS (default model search, its own intervals) and
Prophet (default settings plus the country's holidays):

- MASE; coverage of the 80 % and 95 % intervals;
- `over5`: the share of days the census exceeded the beds planned at a 5 % overflow risk (the 95th percentile
  rounded up; for AutoETS its own 95th percentile, the upper end of its 90 % interval);
- `beds/c`: those beds over the mean census (lower is sharper; compare at equal `over5`);
- seconds per fit over the same scored origins.

Then the issue's targets for the run, met or not. Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import logging
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
from statsforecast import StatsForecast
from statsforecast.models import AutoETS

from forecast import engine, models
from forecast.backtest import cutoffs, forecast_origin, split_at
from forecast.data import ingest, ingest_file
from forecast.quantiles import column

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
RISK = 0.05
DEFAULT_RUNS = (
    "hdhi:28:4:91,hdhi:91:4:91,hdhi:28:10:28,hdhi:91:10:28,"
    "uihc:28:4:91,uihc:91:4:91,demo:28:4:91,demo:91:4:91,italy:28:3:28"
)


@dataclass(frozen=True)
class Scores:
    mase: float
    coverage_80: float
    coverage_95: float
    over: float  # share of days above the beds planned at RISK
    beds_per_census: float
    seconds: float = float("nan")


def load(name: str) -> tuple[engine.EngineConfig, engine.Prepared, str]:
    """A data set as prepared series: (base config, prepared, holiday country)."""
    if name == "hdhi":
        ingested = ingest_file(SHARED / "hdhi" / "episodes.csv")
        config = engine.EngineConfig(target="census", country="IN")
        return config, engine.prepare(ingested.daily, config, ingested.episodes), "IN"
    if name == "uihc":
        ingested = ingest_file(SHARED / "uihc_ed" / "daily.csv")
        config = engine.EngineConfig(
            target="admissions", country="US", column="arrivals", regressors=("football_home_game",)
        )
        return config, engine.prepare(ingested.daily, config, future_regressors=ingested.daily), "US"
    if name == "italy":
        ingested = ingest_file(SHARED / "italy_covid" / "census.csv")
        config = engine.EngineConfig(target="census", country="IT")
        return config, engine.prepare(ingested.daily, config), "IT"
    if name == "demo":
        from forecast.demo import generate_demo_hospital

        hospital = generate_demo_hospital()
        ingested = ingest(hospital.episodes)
        config = engine.EngineConfig(target="census", country="SE")
        return config, engine.prepare(ingested.daily, config, ingested.episodes, hospital.guest_nights), "SE"
    raise SystemExit(f"unknown data set {name!r}")


def _mase(frame: pd.DataFrame, point: str, scale: pd.Series) -> float:
    """Mean over units of the mean over windows of MAE / the window's seasonal-naive scale."""
    mae = (frame[point] - frame["y"]).abs().groupby([frame["unique_id"], frame["fold"]]).mean()
    return float((mae / scale.reindex(mae.index).to_numpy()).groupby(level=0).mean().mean())


def _interval_scores(y: np.ndarray, lo80, hi80, lo95, hi95, beds) -> dict[str, float]:
    return {
        "coverage_80": float(((y >= lo80) & (y <= hi80)).mean()),
        "coverage_95": float(((y >= lo95) & (y <= hi95)).mean()),
        "over": float((y > beds).mean()),
        "beds_per_census": float(np.sum(beds) / max(np.sum(y), 1e-9)),
    }


def selection_scores(result, scale: pd.Series) -> Scores:
    s = result.selected
    beds = np.ceil(s[column(1 - RISK)].to_numpy() - 1e-9)
    intervals = _interval_scores(
        s["y"].to_numpy(),
        s[column(0.1)].to_numpy(),
        s[column(0.9)].to_numpy(),
        s[column(0.025)].to_numpy(),
        s[column(0.975)].to_numpy(),
        beds,
    )
    return Scores(_mase(s, "mean", scale), **intervals)


def autoets_backtest(series: pd.DataFrame, config: engine.EngineConfig, scale: pd.Series) -> Scores:
    """statsforecast's AutoETS with its default model search and its own intervals, on the scored windows."""
    pieces, seconds, fits = [], 0.0, 0
    for fold, cutoff in enumerate(cutoffs(series["ds"].max(), config.horizon, config.folds, config.step), start=1):
        history, ahead = split_at(series, cutoff, config.horizon)
        started = time.perf_counter()
        sf = StatsForecast(models=[AutoETS(season_length=7, alias="autoets")], freq="D")
        with models.statsforecast_notes_silenced():
            predicted = sf.forecast(df=history[["unique_id", "ds", "y"]], h=config.horizon, level=[80, 90, 95])
        seconds += time.perf_counter() - started
        fits += history["unique_id"].nunique()
        predicted = predicted.reset_index() if "unique_id" not in predicted.columns else predicted
        predicted = predicted.merge(ahead[["unique_id", "ds", "y"]], on=["unique_id", "ds"])
        predicted["fold"] = fold
        pieces.append(predicted)
    a = pd.concat(pieces, ignore_index=True)
    for name in [c for c in a.columns if c.startswith("autoets")]:
        a[name] = a[name].clip(lower=0)
    intervals = _interval_scores(
        a["y"].to_numpy(),
        a["autoets-lo-80"].to_numpy(),
        a["autoets-hi-80"].to_numpy(),
        a["autoets-lo-95"].to_numpy(),
        a["autoets-hi-95"].to_numpy(),
        np.ceil(a["autoets-hi-90"].to_numpy() - 1e-9),
    )
    return Scores(_mase(a, "autoets", scale), **intervals, seconds=seconds / max(fits, 1))


def prophet_backtest(
    series: pd.DataFrame, config: engine.EngineConfig, country: str, regressors: list[str], scale: pd.Series
) -> Scores:
    """Prophet on the same scored windows, with its own 80 % and 95 % intervals."""
    from prophet import Prophet

    # cmdstanpy sets its own logger to INFO on every fit: disable it rather than lower its level.
    logging.getLogger("cmdstanpy").disabled = True
    logging.getLogger("prophet").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message="Requested Holidays are available only", category=UserWarning)
    pieces, seconds, fits = [], 0.0, 0
    for fold, cutoff in enumerate(cutoffs(series["ds"].max(), config.horizon, config.folds, config.step), start=1):
        for _, frame in series.groupby("unique_id"):
            train, test = split_at(frame, cutoff, config.horizon)
            bounds = {}
            started = time.perf_counter()
            for width in (0.8, 0.9, 0.95):
                model = Prophet(interval_width=width)
                model.add_country_holidays(country_name=country)
                for name in regressors:
                    model.add_regressor(name)
                with warnings.catch_warnings():
                    # Prophet's holiday table for some countries (India) stops at a year it names, once per fit.
                    warnings.filterwarnings(
                        "ignore",
                        message="Requested Holidays are available only",
                        category=UserWarning,
                        module="prophet",
                    )
                    model.fit(train[["ds", "y", *regressors]])
                    predicted = model.predict(test[["ds", *regressors]])
                bounds[width] = predicted
            seconds += (time.perf_counter() - started) / 3
            fits += 1
            piece = test[["unique_id", "ds", "y"]].copy()
            piece["fold"] = fold
            piece["prophet"] = bounds[0.8]["yhat"].to_numpy().clip(0)
            for width, predicted in bounds.items():
                piece[f"lo{width}"] = predicted["yhat_lower"].to_numpy()
                piece[f"hi{width}"] = predicted["yhat_upper"].to_numpy()
            pieces.append(piece)
    p = pd.concat(pieces, ignore_index=True)
    intervals = _interval_scores(
        p["y"].to_numpy(),
        p["lo0.8"].to_numpy(),
        p["hi0.8"].to_numpy(),
        p["lo0.95"].to_numpy(),
        p["hi0.95"].to_numpy(),
        np.ceil(p["hi0.9"].to_numpy() - 1e-9),
    )
    return Scores(_mase(p, "prophet", scale), **intervals, seconds=seconds / max(fits, 1))


def candidate_fit_seconds(prepared: engine.Prepared, config: engine.EngineConfig, name: str) -> float:
    """Seconds per series of one fit+forecast of a candidate, over the same scored origins as the anchors."""
    series = prepared.series
    per_origin = []
    for cutoff in cutoffs(series["ds"].max(), config.horizon, config.folds, config.step):
        history, ahead = split_at(series, cutoff, config.horizon)
        started = time.perf_counter()
        forecast_origin(history, ahead.drop(columns="y"), config.horizon, [name], prepared.flow)
        per_origin.append((time.perf_counter() - started) / history["unique_id"].nunique())
    return float(np.mean(per_origin))


def line(label: str, s: Scores, naive: float) -> str:
    return (
        f"{label:<16}{s.mase:>8.3f}{s.mase / naive - 1:>+10.1%}{s.coverage_80:>8.1%}{s.coverage_95:>8.1%}"
        f"{s.over:>8.1%}{s.beds_per_census:>8.2f}{s.seconds:>8.2f}"
    )


def targets(name: str, chosen: Scores, best_single: float, autoets: Scores) -> list[str]:
    """The issue's targets for this run: (text, met)."""
    checks = [
        (f"MASE within 1 % of the best single candidate ({best_single:.3f})", chosen.mase <= 1.01 * best_single),
        (f"MASE no worse than AutoETS ({autoets.mase:.3f})", chosen.mase <= autoets.mase),
    ]
    if name == "italy":
        checks += [
            (f"fewer days over the 5 %-risk beds than AutoETS ({autoets.over:.1%})", chosen.over < autoets.over),
            (
                f"no more beds than AutoETS ({autoets.beds_per_census:.2f})",
                chosen.beds_per_census <= autoets.beds_per_census,
            ),
        ]
    else:
        checks += [
            ("95 % coverage 92-98 %", 0.92 <= chosen.coverage_95 <= 0.98),
            ("80 % coverage 75-85 %", 0.75 <= chosen.coverage_80 <= 0.85),
            ("5 %-risk beds exceeded on at most 7.5 % of days", chosen.over <= 0.075),
            (
                f"beds per mean census no higher than AutoETS's rule ({autoets.beds_per_census:.2f})",
                chosen.beds_per_census <= autoets.beds_per_census,
            ),
        ]
    return [f"  [{'met' if ok else 'MISSED'}] {text}" for text, ok in checks]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", default=DEFAULT_RUNS, help="data:horizon:folds:step, comma-separated")
    parser.add_argument("--no-prophet", action="store_true")
    parser.add_argument("--no-timing", action="store_true", help="skip the per-candidate fit timings")
    args = parser.parse_args()
    loaded: dict[str, tuple[engine.EngineConfig, engine.Prepared, str]] = {}
    for spec in args.runs.split(","):
        name, horizon, folds, step = spec.split(":")
        if name not in loaded:
            loaded[name] = load(name)
        base, prepared, country = loaded[name]
        config = replace(base, horizon=int(horizon), folds=int(folds), step=int(step))
        started = time.perf_counter()
        result = engine.run(prepared, config)
        elapsed = time.perf_counter() - started
        scale = result.scores[result.scores["model"] == models.BASELINE].set_index(["unique_id", "fold"])["scale"]
        per_model = result.scores[result.scores["fold"] > 0].groupby(["unique_id", "model"])["mase"].mean()
        per_model = per_model.unstack().mean()
        naive = float(per_model[models.BASELINE])
        print(f"\n== {name}  h={horizon}  folds={folds} step={step}  ({elapsed:.0f} s for the backtest)")
        print(f"{'model':<16}{'MASE':>8}{'vs naive':>10}{'cov80':>8}{'cov95':>8}{'over5':>8}{'beds/c':>8}{'s/fit':>8}")
        for model, mase in per_model.sort_values().items():
            fit = float("nan") if args.no_timing else candidate_fit_seconds(prepared, config, str(model))
            print(f"{model:<16}{mase:>8.3f}{mase / naive - 1:>+10.1%}{'':>32}{fit:>8.2f}")
        chosen = selection_scores(result, scale)
        print(line("selected", chosen, naive))
        autoets = autoets_backtest(prepared.series, config, scale)
        print(line("AutoETS (own)", autoets, naive))
        if not args.no_prophet:
            regressors = list(config.regressors)
            series = prepared.series[["unique_id", "ds", "y", *regressors]]
            print(line("Prophet (own)", prophet_backtest(series, config, country, regressors, scale), naive))
        best_single = float(per_model.drop(models.BASELINE).min())
        print("\n".join(targets(name, chosen, best_single, autoets)))


if __name__ == "__main__":
    main()
