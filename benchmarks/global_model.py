"""The global model (one LightGBM across units, `models.GlobalBoosting`) on the calibration benchmark's windows.

    .venv/bin/python benchmarks/global_model.py --base DIR --cache DIR [--data demo,italy,hdhi,uihc]
        [--protocols dense,sparse,short] [--horizons 28,91,364] [--params '{"num_leaves": 31}'] [--no-gbm]

`benchmarks/calibration.py --cache DIR` keeps every window's candidate forecasts (`<data>-<protocol>-<h>-windows-
<tag>.parquet` in `--base`, read only). For each such run this recomputes only the global model's forecasts on the
same windows (same cutoffs and horizon, on the data `calibration.load`/`last_days` give), keeps them in `--cache`
(`<run>-global[-<params>].parquet`), and prints per run:

- the global model's MASE, the best other candidate's, ETS's and the seasonal naive's (scored windows, MASE as in
  `calibration.mase`: per unit and window MAE over the window's seasonal-naive scale);
- the honest selection (`backtest.judge`, as the engine runs it) without and with the global model among the
  candidates: its MASE, its 80 % coverage and the share of days over the 5 %-risk beds;
- seconds per unit per window for the global model's fit and forecast, beside the per-unit `gbm` refitted on the
  same windows (whose forecasts must equal the cached ones: the check that the windows are the same).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

import calibration as cal  # the benchmark beside this one

from forecast import engine, models
from forecast.backtest import judge, split_at
from forecast.quantiles import column

ALIAS = models.GlobalBoosting.alias


def mase(frame: pd.DataFrame, point: str) -> float:
    return cal.mase(frame, point, frame.groupby(["unique_id", "fold"])["scale"].first())


def windows_forecast(
    prepared: engine.Prepared, frame: pd.DataFrame, horizon: int, alias: str, params: dict
) -> tuple[pd.Series, float]:
    """A candidate's forecasts on the rows of `frame` (its windows), and the seconds its fits and forecasts took."""
    values = pd.Series(np.nan, index=frame.index)
    seconds = 0.0
    for cutoff, rows in frame.groupby("cutoff", sort=True):
        history, ahead = split_at(prepared.series, cutoff, horizon)
        future = ahead.drop(columns="y").sort_values(["unique_id", "ds"]).reset_index(drop=True)
        started = time.perf_counter()
        # As `backtest.forecast_origin` does for one candidate: fit, forecast, clipped at zero.
        predicted = models.candidate(alias, **params).fit(history, horizon).predict(future)
        seconds += time.perf_counter() - started
        point = future[["unique_id", "ds"]].assign(point=predicted[alias].clip(lower=0).to_numpy())
        merged = rows[["unique_id", "ds"]].merge(point, on=["unique_id", "ds"], how="left")
        values.loc[rows.index] = merged["point"].to_numpy()
    return values, seconds


def selection(frame: pd.DataFrame, candidates: list[str], horizon: int) -> tuple[float, float, float]:
    """The honest selection's MASE, 80 % coverage and share of days over the 5 %-risk beds."""
    scale = frame.groupby(["unique_id", "fold"])["scale"].first()
    result = judge(frame.drop(columns="scale"), scale, candidates, horizon)
    chosen = result.selected.merge(frame[["unique_id", "ds", "fold", "scale"]], on=["unique_id", "ds", "fold"])
    y = chosen["y"].to_numpy(float)
    inside = (y >= chosen[column(0.1)]) & (y <= chosen[column(0.9)])
    beds = np.ceil(chosen[column(1 - cal.RISK)].to_numpy() - 1e-9)
    return mase(chosen, "mean"), float(inside.mean()), float((y > beds).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", type=Path, required=True, help="calibration.py's cache (read only)")
    parser.add_argument("--cache", type=Path, required=True, help="where the global model's forecasts are kept")
    parser.add_argument("--data", default="demo,italy,hdhi,uihc")
    parser.add_argument("--protocols", default="short,sparse,dense")
    parser.add_argument("--horizons", default="28,91,364")
    parser.add_argument("--params", default="{}", help="GlobalBoosting's hyper-parameters other than the defaults")
    parser.add_argument("--no-gbm", action="store_true", help="skip refitting gbm for the timing and the check")
    args = parser.parse_args()
    params = json.loads(args.params)
    suffix = "".join(f"-{k}={v}" for k, v in sorted(params.items()))
    args.cache.mkdir(parents=True, exist_ok=True)
    warnings.filterwarnings("ignore", category=UserWarning)
    loaded: dict[str, engine.Prepared] = {}
    lines = []
    for name, protocol, horizon in cal.runs(
        args.data.split(","), args.protocols.split(","), [int(h) for h in args.horizons.split(",")]
    ):
        key = f"{name}-{protocol}-{horizon}"
        found = sorted(args.base.glob(f"{key}-windows-*.parquet"))
        if not found:
            continue
        frame = pd.read_parquet(found[0])
        if name not in loaded:
            loaded[name] = cal.load(name)[1]
        prepared = cal.last_days(loaded[name], cal.SHORT_DAYS) if protocol == "short" else loaded[name]
        units, windows = frame["unique_id"].nunique(), frame["cutoff"].nunique()
        path = args.cache / f"{key}-{ALIAS}{re.sub(r'[^A-Za-z0-9=.,_-]', '', suffix)}.parquet"
        if path.exists():
            kept = pd.read_parquet(path)
            frame[ALIAS] = kept[ALIAS].to_numpy()
            seconds = float(kept["seconds"].iloc[0])
        else:
            frame[ALIAS], seconds = windows_forecast(prepared, frame, horizon, ALIAS, params)
            frame[["unique_id", "ds", "fold", ALIAS]].assign(seconds=seconds).to_parquet(path)
        gbm_seconds, gbm_gap = float("nan"), float("nan")
        if not args.no_gbm:
            refitted, gbm_seconds = windows_forecast(prepared, frame, horizon, "gbm", {})
            gbm_gap = float((refitted - frame["gbm"]).abs().max())
        others = [c for c in models.CANDIDATES if c in frame.columns and c != ALIAS]
        scored = frame[frame["fold"] > 0]
        score = {c: mase(scored, c) for c in [*others, ALIAS]}
        best = min((c for c in others if c != models.BASELINE), key=score.__getitem__)
        without = selection(frame, others, horizon)
        with_global = selection(frame, [*others, ALIAS], horizon)
        per = units * windows
        line = (
            f"{key:<18}{units:>3}{windows:>4}{score[ALIAS]:>8.3f}{score[best]:>8.3f} {best:<6}{score['ets']:>7.3f}"
            f"{score[models.BASELINE]:>8.3f}{without[0]:>8.3f}{with_global[0]:>8.3f}"
            f"{without[1]:>7.1%}{with_global[1]:>7.1%}{without[2]:>7.1%}{with_global[2]:>7.1%}"
            f"{seconds / per:>8.2f}{gbm_seconds / per:>7.2f}{gbm_gap:>7.0e}"
        )
        lines.append(line)
        print(line, flush=True)
    header = (
        f"{'run':<18}{'n':>3}{'win':>4}{'global':>8}{'best':>8} {'(of)':<6}{'ets':>7}{'naive':>8}"
        f"{'sel':>8}{'sel+g':>8}{'cov80':>7}{'+g':>7}{'over5':>7}{'+g':>7}{'s/u/w':>8}{'gbm':>7}{'gbmΔ':>7}"
    )
    print("\n" + header)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
