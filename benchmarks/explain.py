"""The plan explained by driver, measured against what is known: issue 22's figures in one run.

    .venv/bin/python benchmarks/explain.py [--only demo,uihc,load] [--candidates a,b,...]

- demo: the demo hospital (six units, 2021–2025), trained as `bedcast train` trains its year ahead (the census
  backtested a year ahead, all candidates, the choice per unit); the served model's tourism beds and summer cut
  of planned care in ISO weeks 28–32 of the year ahead against the truth the generator used (`demo/truth.csv`):
  true lift × guest nights × mean acute stay (the patients the tourists bring: what the split counts, a driver's
  beds being its patients on the week's busiest day), and the same at the plan's occupancy target (/0.85; the
  cut /0.95); per unit, and which units are within ±20 %.
- uihc: UIHC's emergency arrivals with the football home games as a regressor, backtested and forecast from
  2017-08-20 over the 2017 season; the football part of the explained forecast on home-game days against the
  difference measured directly: arrivals on home-game days against the same weekday from the season's first to
  its last home game without a game, each season of the data (the spread between seasons is printed too).
- load: the explanation of that hospital's next quarter and year ahead as the service computes it at load
  (`forecast.explain.explained_plans`), timed; every week's parts against the plan's beds.

Figures only; nothing is asserted (the tests assert the properties; see tests/test_explain*.py).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from forecast import beds, counterfactual, engine, explain, metrics, models
from forecast.data import ingest, ingest_file
from forecast.periods import year_window
from forecast.year_ahead import year_config

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
SUMMER = (28, 32)


def _summer(days: pd.Series) -> pd.Series:
    week = pd.to_datetime(days).dt.isocalendar().week
    return (week >= SUMMER[0]) & (week <= SUMMER[1])


def demo_year(candidates: tuple[str, ...]):
    """The demo hospital's year ahead as training makes it: backtest a year ahead, forecast, counterfactuals."""
    from forecast.demo import generate_demo_hospital

    hospital = generate_demo_hospital()
    ingested = ingest(hospital.episodes)
    quarter = engine.EngineConfig(candidates=candidates)
    probe = engine.prepare(ingested.daily, quarter, ingested.episodes, hospital.guest_nights)
    config = year_config(quarter, probe)
    assert config is not None
    prepared = engine.prepare(ingested.daily, config, ingested.episodes, hospital.guest_nights)
    started = time.perf_counter()
    result = engine.run(prepared, config)
    backtest = time.perf_counter() - started
    promise = metrics.promise_kept(result, config.overflow_risk)
    _, end = year_window(ingested.last_day)
    ahead_config = engine.EngineConfig(
        horizon=(end - ingested.last_day).days, candidates=candidates, folds=config.folds, step=config.step
    )
    ahead = engine.prepare(ingested.daily, ahead_config, ingested.episodes, hospital.guest_nights)
    forecast = engine.forecast_units(ahead, result, ahead_config, widening=promise["upper_widened_by"].to_dict())
    started = time.perf_counter()
    found = counterfactual.counterfactual_forecasts(
        ahead.series, ahead.future, result.choice, ahead_config.horizon, ahead.flow
    )
    seconds = time.perf_counter() - started
    print(f"demo: year-ahead backtest {backtest:.0f} s ({config.folds} folds), counterfactuals {seconds:.1f} s")
    return hospital, ingested, ahead, result, forecast, found


def demo(candidates: tuple[str, ...]) -> tuple[pd.DataFrame, counterfactual.Counterfactuals]:
    hospital, ingested, ahead, result, forecast, found = demo_year(candidates)
    start, end = year_window(ingested.last_day)
    weeks = explain.explain_weeks(found, forecast, beds.BedPolicy(), start, end)
    parts = weeks.parts[_summer(weeks.parts["period_start"])]
    mean = parts.groupby(["unique_id", "part"])["value"].mean().unstack()
    whole = parts.groupby(["unique_id", "part"])["beds"].mean().unstack()
    future = ahead.future[_summer(ahead.future["ds"])]
    truth = hospital.truth.set_index("unit")
    rows = []
    for unit in truth.index:
        row = truth.loc[unit]
        guest_nights = future.loc[future["unique_id"] == unit, "guest_nights"].mean()  # thousands
        tourists = row["acute_per_1000_guest_nights"] * guest_nights * row["los_mean_acute"]
        cut = -row["elective_per_day"] * (1 - row["summer_elective_share"]) * np.nan_to_num(row["los_mean_elective"])
        shown = mean.loc[unit]
        rows.append(
            {
                "unit": unit,
                "model": str(result.choice[unit]),
                "tourism_truth": tourists,
                "tourism": shown.get("tourism", np.nan),
                "tourism_beds": whole.loc[unit].get("tourism", np.nan),
                "ratio": shown.get("tourism", np.nan) / tourists if tourists else np.nan,
                "ratio_at_85": shown.get("tourism", np.nan) / (tourists / 0.85) if tourists else np.nan,
                "season": shown.get("season", np.nan),
                "cut_truth": cut,
                "cut": shown.get("planned_care", np.nan),
                "cut_ratio": shown.get("planned_care", np.nan) / cut if cut else np.nan,
                "cut_ratio_at_95": shown.get("planned_care", np.nan) / (cut / 0.95) if cut else np.nan,
            }
        )
    table = pd.DataFrame(rows)
    print(f"\ndemo, ISO weeks {SUMMER[0]}–{SUMMER[1]} of the year ahead: each unit's mean part against the truth")
    print(table.round(2).to_string(index=False))
    tourist_units = table[table["tourism_truth"] / 0.85 >= 1]
    kept = tourist_units[(tourist_units["ratio"] - 1).abs() <= 0.2]
    kept_85 = tourist_units[(tourist_units["ratio_at_85"] - 1).abs() <= 0.2]
    print(
        f"tourism within ±20 % of the true patients: {len(kept)} of {len(tourist_units)} units with a tourism bed "
        f"({', '.join(kept['unit'])}); of the true beds at 85 % occupancy: {len(kept_85)} "
        f"({', '.join(kept_85['unit'])})"
    )
    cut_units = table[-table["cut_truth"] / 0.95 >= 1]
    cut_kept = cut_units[(cut_units["cut_ratio"] - 1).abs() <= 0.2]
    print(
        f"summer cut within ±20 % of the true patients: {len(cut_kept)} of {len(cut_units)} units with a cut bed "
        f"({', '.join(cut_kept['unit'])})"
    )
    hospital_total = table[["tourism_truth", "tourism", "cut_truth", "cut"]].sum()
    print(
        f"hospital: tourism {hospital_total['tourism']:.1f} of a true {hospital_total['tourism_truth']:.1f} patients "
        f"({hospital_total['tourism'] / hospital_total['tourism_truth']:.2f}), cut {hospital_total['cut']:.1f} of "
        f"{hospital_total['cut_truth']:.1f} ({hospital_total['cut'] / hospital_total['cut_truth']:.2f})"
    )
    return forecast, found


def uihc() -> None:
    daily = ingest_file(SHARED / "uihc_ed" / "daily.csv").daily
    origin = pd.Timestamp("2017-08-20")
    history = daily[daily["date"] <= origin]
    config = engine.EngineConfig(
        target="admissions",
        country="US",
        column="arrivals",
        regressors=("football_home_game",),
        horizon=120,
        folds=4,
        step=91,
    )
    prepared = engine.prepare(history, config, future_regressors=daily)
    result = engine.run(prepared, config)
    forecast = engine.forecast_units(prepared, result, config)
    found = counterfactual.counterfactual_forecasts(prepared.series, prepared.future, result.choice, config.horizon)
    days = explain.explain_days(found, forecast)
    games = set(daily.loc[daily["football_home_game"] == 1, "date"])
    football = days.parts[(days.parts["part"] == "regressors") & days.parts["period_start"].isin(games)]["value"]
    d = daily.assign(year=daily["date"].dt.year, weekday=daily["date"].dt.dayofweek)
    differences, weights = [], []
    for _, rows in d[d["football_home_game"] == 1].groupby("year"):
        same = d[
            (d["date"] >= rows["date"].min())
            & (d["date"] <= rows["date"].max())
            & d["weekday"].isin(rows["weekday"].unique())
            & (d["football_home_game"] == 0)
        ]
        differences.append(rows["arrivals"].mean() - same["arrivals"].mean())
        weights.append(len(rows))
    direct = float(np.average(differences, weights=weights))
    spread = float(np.std(differences, ddof=1) / np.sqrt(len(differences)))
    explained = float(football.mean())
    print(
        f"\nuihc: chose {result.choice.iloc[0]}; football on {len(football)} home-game days of the 2017 season "
        f"explained {explained:+.2f} arrivals a day; measured directly {direct:+.2f} (seasons: "
        f"{', '.join(f'{x:+.1f}' for x in differences)}; standard error {spread:.1f}); ratio {explained / direct:.2f}, "
        f"{'within' if abs(explained / direct - 1) <= 0.25 else 'outside'} ±25 %"
    )


def load(forecast: pd.DataFrame, found: counterfactual.Counterfactuals) -> None:
    """The year ahead's explanation as the service computes it at load, timed, and checked against the plan."""
    start, end = year_window(pd.Timestamp(forecast["ds"].min()) - pd.Timedelta(days=1))
    policy = beds.BedPolicy()
    times = []
    for _ in range(3):
        started = time.perf_counter()
        weeks = explain.explain_weeks(found, forecast, policy, start, end)
        times.append(time.perf_counter() - started)
    plan = beds.period_plan(beds.daily_bed_plan(forecast[(forecast["ds"] >= start) & (forecast["ds"] <= end)]))
    plan = plan.set_index(["unique_id", "period"])["beds_risk"]
    summed = weeks.parts.groupby(["unique_id", "period"])["beds"].sum()
    equal = int((summed == plan.reindex(summed.index)).sum())
    units = forecast["unique_id"].nunique()
    print(
        f"\nload: the year ahead of {units} units ({weeks.totals['period'].nunique()} weeks, "
        f"{len(found.forecasts):,} counterfactual rows) explained in {min(times):.2f} s (best of 3; "
        f"{', '.join(f'{t:.2f}' for t in times)}); weeks whose parts add up to the plan's beds: "
        f"{equal} of {len(summed)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="demo,uihc,load")
    parser.add_argument("--candidates", default=",".join(models.CANDIDATES))
    args = parser.parse_args()
    wanted = set(args.only.split(","))
    candidates = models.candidates_for([c for c in args.candidates.split(",") if c])
    if wanted & {"demo", "load"}:
        forecast, found = demo(candidates)
        if "load" in wanted:
            load(forecast, found)
    if "uihc" in wanted:
        uihc()


if __name__ == "__main__":
    main()
