"""The global models (one LightGBM across units: `global`, and `global_diff` of the daily changes) on the
calibration benchmark's windows.

    .venv/bin/python benchmarks/global_model.py --base DIR --cache DIR [--data demo,italy,hdhi,uihc]
        [--protocols short,sparse,dense] [--horizons 28,91,364] [--params '{"num_leaves": 31}'] [--no-gbm] [--young]

`benchmarks/calibration.py --cache DIR` keeps every window's candidate forecasts (`<data>-<protocol>-<h>-windows-
<tag>.parquet` in `--base`, read only). For each such run this recomputes only the opt-in candidates' forecasts (the
table's aliases that need several units) on the same windows (same cutoffs and horizon, on the data
`calibration.load`/`last_days` give), keeps them in `--cache` (`<run>-<alias>[-<params>].parquet`), and prints a
line per run:

- each global model's MASE, the best default candidate's, ETS's and the seasonal naive's (scored windows, MASE as
  in `calibration.mase`: per unit and window MAE over the window's seasonal-naive scale);
- the honest selection's MASE (`backtest.judge`, as the engine runs it) on the default candidates, with each global
  model added, and with both; the 80 % coverage and the share of days over the 5 %-risk beds without and with both;
- seconds per unit per window for each global model's fits and forecasts, beside the per-unit `gbm` refitted on the
  same windows (`gbmΔ`: its largest difference from the cached forecasts, 0 when the windows are the same).

With `--young`, each short run of several units is also run with each unit in turn young (the short protocol's
last days) among old units (their whole history), the case a global model is for.
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
from forecast.calibration import spread_from_interval
from forecast.quantiles import column

# The candidates measured here: those of the table that runs compare only when asked (the global models).
OPT_IN = [alias for alias, model in models.CANDIDATES.items() if model.min_units > 1]


def short(alias: str) -> str:
    """A column label: `global`, `diff`."""
    return alias.split("_")[-1]


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


def young_unit(prepared: engine.Prepared, frame: pd.DataFrame, horizon: int, params: dict) -> pd.DataFrame:
    """Each unit in turn as a young one among old ones: its last `SHORT_DAYS` only, the other units' whole history.

    `frame` is the short protocol's run (every unit young). A local candidate's forecasts of the young unit read
    only its own short history, so they are the run's; a global model's differ, since it also learns from the
    others' years. Returns per unit the MASE of each candidate on its scored windows, and of each global model
    fitted with the others' whole history (`<alias>_old`) beside the one fitted among young units only.
    """
    short = cal.last_days(prepared, cal.SHORT_DAYS).series
    rows = []
    for unit in sorted(frame["unique_id"].unique()):
        mixed = engine.Prepared(
            pd.concat([prepared.series[prepared.series["unique_id"] != unit], short[short["unique_id"] == unit]]),
            prepared.future,
            None,
            prepared.column,
        )
        own = frame[frame["unique_id"] == unit].copy()
        for alias in OPT_IN:
            own[f"{alias}_old"], _ = windows_forecast(mixed, own, horizon, alias, params)
        scored = own[own["fold"] > 0]
        columns = [c for c in [*models.CANDIDATES, *(f"{a}_old" for a in OPT_IN)] if c in own.columns]
        rows.append({"unit": unit, **{c: mase(scored, c) for c in columns}})
    table = pd.DataFrame(rows).set_index("unit")
    table.loc["mean"] = table.mean()
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", type=Path, required=True, help="calibration.py's cache (read only)")
    parser.add_argument("--cache", type=Path, required=True, help="where the global models' forecasts are kept")
    parser.add_argument("--data", default="demo,italy,hdhi,uihc")
    parser.add_argument("--protocols", default="short,sparse,dense")
    parser.add_argument("--horizons", default="28,91,364")
    parser.add_argument("--params", default="{}", help="the global models' hyper-parameters other than the defaults")
    parser.add_argument("--no-gbm", action="store_true", help="skip refitting gbm for the timing and the check")
    parser.add_argument(
        "--young", action="store_true", help="short runs of several units: each unit young among old ones"
    )
    args = parser.parse_args()
    params = json.loads(args.params)
    suffix = re.sub(r"[^A-Za-z0-9=.,_-]", "", "".join(f"-{k}={v}" for k, v in sorted(params.items())))
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
        if "spread" not in frame.columns:  # a cache from before the ruler: as calibration.py, from ETS's interval
            frame["spread"] = spread_from_interval(frame[f"ets_{column(0.1)}"], frame[f"ets_{column(0.9)}"])
        if name not in loaded:
            loaded[name] = cal.load(name)[1]
        prepared = cal.last_days(loaded[name], cal.SHORT_DAYS) if protocol == "short" else loaded[name]
        units, windows = frame["unique_id"].nunique(), frame["cutoff"].nunique()
        seconds = {}
        for alias in OPT_IN:
            path = args.cache / f"{key}-{alias}{suffix}.parquet"
            if path.exists():
                kept = pd.read_parquet(path)
                frame[alias] = kept.drop(columns=["unique_id", "ds", "fold", "seconds"]).iloc[:, 0].to_numpy()
                seconds[alias] = float(kept["seconds"].iloc[0])
            else:
                frame[alias], seconds[alias] = windows_forecast(prepared, frame, horizon, alias, params)
                frame[["unique_id", "ds", "fold", alias]].assign(seconds=seconds[alias]).to_parquet(path)
        gbm_seconds, gbm_gap = float("nan"), float("nan")
        if not args.no_gbm:
            refitted, gbm_seconds = windows_forecast(prepared, frame, horizon, "gbm", {})
            gbm_gap = float((refitted - frame["gbm"]).abs().max())
        others = [c for c in models.CANDIDATES if c not in OPT_IN and c in frame.columns]
        scored = frame[frame["fold"] > 0]
        score = {c: mase(scored, c) for c in [*others, *OPT_IN]}
        best = min((c for c in others if c != models.BASELINE), key=score.__getitem__)
        without = selection(frame, others, horizon)
        each = [selection(frame, [*others, alias], horizon)[0] for alias in OPT_IN]
        everything = selection(frame, [*others, *OPT_IN], horizon)
        per = units * windows
        line = (
            f"{key:<16}{units:>3}{windows:>4}"
            + "".join(f"{score[a]:>8.3f}" for a in OPT_IN)
            + f"{score[best]:>7.3f} {best:<6}{score['ets']:>6.3f}{score[models.BASELINE]:>7.3f}{without[0]:>7.3f}"
            + "".join(f"{m:>8.3f}" for m in each)
            + f"{everything[0]:>7.3f}{without[1]:>6.0%}{everything[1]:>6.0%}{without[2]:>6.1%}{everything[2]:>6.1%}"
            + "".join(f"{seconds[a] / per:>9.2f}" for a in OPT_IN)
            + f"{gbm_seconds / per:>6.2f}{gbm_gap:>6.0e}"
        )
        lines.append(line)
        print(line, flush=True)
        if args.young and protocol == "short" and units > 1:
            print(f"\n{key}: each unit young (its last {cal.SHORT_DAYS} days) among old ones, MASE")
            print(young_unit(loaded[name], frame, horizon, params).round(3).to_string(), "\n", flush=True)
    header = (
        f"{'run':<16}{'n':>3}{'win':>4}"
        + "".join(f"{short(a):>8}" for a in OPT_IN)
        + f"{'best':>7} {'(of)':<6}{'ets':>6}{'naive':>7}{'sel':>7}"
        + "".join(f"{'+' + short(a):>8}" for a in OPT_IN)
        + f"{'+all':>7}{'cov80':>6}{'+all':>6}{'over5':>6}{'+all':>6}"
        + "".join(f"{'s:' + short(a):>9}" for a in OPT_IN)
        + f"{'s:gbm':>6}{'gbmΔ':>6}"
    )
    print("\n" + header)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
