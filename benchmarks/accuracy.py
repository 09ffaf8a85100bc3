"""Accuracy and speed of the engine against Prophet, in the same run, on real and demo data.

    .venv/bin/python benchmarks/accuracy.py [--horizons 28,91] [--folds 4] [--step 91] [--data hdhi,uihc,demo]

Prints, per data set and horizon, the mean MASE (scaled by the in-sample MAE of a lag-7 seasonal naive), the
80 % / 95 % interval coverage and the time per fit of every candidate, of the engine's honest per-unit choice
and of Prophet (default settings plus the country's holidays). Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import logging
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from forecast import engine, metrics, models
from forecast.backtest import cutoffs, forecast_origin, split_at
from forecast.data import ingest, ingest_file

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


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
        return config, engine.prepare(ingested.daily, config), "US"
    if name == "demo":
        from forecast.demo import generate_demo_hospital

        hospital = generate_demo_hospital()
        ingested = ingest(hospital.episodes)
        config = engine.EngineConfig(target="census", country="SE")
        return config, engine.prepare(ingested.daily, config, ingested.episodes, hospital.guest_nights), "SE"
    raise SystemExit(f"unknown data set {name!r}")


def prophet_backtest(
    series: pd.DataFrame, horizon: int, folds: int, step: int, country: str, regressors: list[str]
) -> tuple[pd.DataFrame, float]:
    """Prophet on the same scored windows: MAE, coverage and mean seconds per fit."""
    from prophet import Prophet

    logging.getLogger("cmdstanpy").setLevel(logging.WARNING)
    logging.getLogger("prophet").setLevel(logging.WARNING)
    rows, seconds, fits = [], 0.0, 0
    for cutoff in cutoffs(series["ds"].max(), horizon, folds, step):
        for unit, frame in series.groupby("unique_id"):
            train, test = split_at(frame, cutoff, horizon)
            started = time.perf_counter()
            model = Prophet(interval_width=0.8)
            model.add_country_holidays(country_name=country)
            for name in regressors:
                model.add_regressor(name)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model.fit(train[["ds", "y", *regressors]])
                predicted = model.predict(test[["ds", *regressors]])
            seconds += time.perf_counter() - started
            fits += 1
            scale = train["y"].diff(7).abs().mean()
            mae = float(np.abs(predicted["yhat"].to_numpy() - test["y"].to_numpy()).mean())
            inside = (test["y"].to_numpy() >= predicted["yhat_lower"].to_numpy()) & (
                test["y"].to_numpy() <= predicted["yhat_upper"].to_numpy()
            )
            rows.append({"unique_id": unit, "cutoff": cutoff, "mase": mae / scale, "coverage_80": inside.mean()})
    return pd.DataFrame(rows), seconds / max(fits, 1)


def candidate_fit_seconds(prepared: engine.Prepared, config: engine.EngineConfig, name: str, repeats: int = 3) -> float:
    """Seconds per series of one fit+forecast of a candidate, over the same scored origins Prophet is fitted at.

    Per origin the median of `repeats` runs, since other jobs on a shared machine make single timings jump;
    the mean over origins, like Prophet's figure (its 4 folds × units fits), so both see the same histories.
    """
    series = prepared.series
    per_origin = []
    for cutoff in cutoffs(series["ds"].max(), config.horizon, config.folds, config.step):
        history, ahead = split_at(series, cutoff, config.horizon)
        future = ahead.drop(columns="y")
        seconds = []
        for _ in range(repeats):
            started = time.perf_counter()
            forecast_origin(history, future, config.horizon, [name], prepared.flow)
            seconds.append(time.perf_counter() - started)
        per_origin.append(float(np.median(seconds)) / history["unique_id"].nunique())
    return float(np.mean(per_origin))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="hdhi,uihc,demo")
    parser.add_argument("--horizons", default="28,91")
    parser.add_argument("--folds", type=int, default=4)
    parser.add_argument("--step", type=int, default=91)
    parser.add_argument("--no-prophet", action="store_true")
    args = parser.parse_args()
    for name in args.data.split(","):
        # The backtest reads only the history and its regressors, the same for every horizon.
        base, prepared, country = load(name)
        for horizon in map(int, args.horizons.split(",")):
            config = replace(base, horizon=horizon, folds=args.folds, step=args.step)
            started = time.perf_counter()
            result = engine.run(prepared, config)
            report = metrics.backtest_metrics(result, config)
            elapsed = time.perf_counter() - started
            s = report["summary"]
            print(f"\n== {name}  h={horizon}  folds={args.folds} step={args.step}  ({elapsed:.0f} s for the backtest)")
            print(f"{'model':<16}{'MASE':>8}{'vs naive':>10}{'cov80':>8}{'cov95':>8}{'s/fit':>8}")
            naive = s["models"][models.BASELINE]
            for model, mase in sorted(s["models"].items(), key=lambda kv: kv[1]):
                fit = candidate_fit_seconds(prepared, config, model) if model in config.candidates else float("nan")
                print(f"{model:<16}{mase:>8.3f}{mase / naive - 1:>+10.1%}{'':>8}{'':>8}{fit:>8.2f}")
            print(
                f"{'selected':<16}{s['mase']:>8.3f}{s['mase'] / naive - 1:>+10.1%}"
                f"{s['coverage_80']:>8.1%}{s['coverage_95']:>8.1%}"
            )
            if not args.no_prophet:
                regressors = list(config.regressors)
                scores, per_fit = prophet_backtest(
                    prepared.series[["unique_id", "ds", "y", *regressors]],
                    horizon,
                    args.folds,
                    args.step,
                    country,
                    regressors,
                )
                mase = scores.groupby("unique_id")["mase"].mean().mean()
                print(
                    f"{'prophet':<16}{mase:>8.3f}{mase / naive - 1:>+10.1%}"
                    f"{scores['coverage_80'].mean():>8.1%}{'':>8}{per_fit:>8.2f}"
                )


if __name__ == "__main__":
    main()
