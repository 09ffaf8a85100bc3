"""How the engine scales: series per second with 1 and 2 Dask workers, cost against the number of series, memory,
and what reconciliation and pooling do on a synthetic country. Figures only; nothing is asserted.

    .venv/bin/python benchmarks/scale.py [--sizes 100,1000,5000] [--worker-units 1000] [--skip-plain-above 1000]

All runs use the national data set (`forecast.national`), one run per figure, ratios taken within the same run.
The scaling curve uses the cheapest candidate (seasonal naive): it measures what the engine itself costs per
series (features, windows, choice, calibration), which models only add to; the worker comparison also runs
AutoETS. Each run is bounded: one scored fold plus the engine's three lead windows, horizon 14.
"""

from __future__ import annotations

import os

# Before numpy/sklearn load: one BLAS/OpenMP thread per process, so that one worker is one core.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import logging
import time

import pandas as pd
import psutil
from reconciliation import aggregate, choose_method  # beside this script

from forecast import data, distributed, engine, hierarchy, models, national
from forecast.demo import generate_demo_hospital


def country_for(units: int, start: str, end: str, seed: int = 7) -> national.National:
    """A country of at least `units` units (21 regions × 3 hospitals × enough units each)."""
    per_hospital = max(1, -(-units // 63))
    return national.generate_national(21, 3, per_hospital, start=start, end=end, seed=seed)


def first_units(country: national.National, units: int) -> pd.DataFrame:
    chosen = country.units["unit"].iloc[:units]
    return country.daily[country.daily["unit"].isin(chosen)].reset_index(drop=True)


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 1e6


def cpu_seconds() -> float:
    times = psutil.Process().cpu_times()
    return times.user + times.system


def frame_mb(*frames: pd.DataFrame) -> float:
    return sum(float(f.memory_usage(deep=True).sum()) for f in frames) / 1e6


def scaling_curve(country: national.National, sizes: list[int], config: engine.EngineConfig, plain_max: int) -> None:
    print(f"\n## Cost against the number of series (candidates {', '.join(config.candidates)}, one process)\n")
    print("| series | plain run (s) | series/s | chunks of 100 (s) | series/s | µs per series-day | MB per series |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for size in sizes:
        daily = first_units(country, size)
        prepared = engine.prepare(daily, config, guest_nights=country.guest_nights)
        days = prepared.series.groupby("unique_id").size().mean()
        plain = "—"
        plain_rate = "—"
        if size <= plain_max:
            started = time.perf_counter()
            engine.run(prepared, config, partitions=1)
            seconds = time.perf_counter() - started
            plain, plain_rate = f"{seconds:.1f}", f"{size / seconds:.0f}"
        started = time.perf_counter()
        result = engine.run(prepared, config)
        seconds = time.perf_counter() - started
        held = frame_mb(prepared.series, prepared.future, result.forecasts, result.selected, result.scores)
        print(
            f"| {size:,} | {plain} | {plain_rate} | {seconds:.1f} | {size / seconds:.0f} | "
            f"{1e6 * seconds / size / days:.0f} | {held / size:.3f} |",
            flush=True,
        )


def _warm_up() -> None:
    # A cluster that serves many runs has its libraries loaded; statsforecast's import alone takes seconds.
    import forecast.distributed  # noqa: F401


def workers(country: national.National, units: int, config: engine.EngineConfig, partitions: int) -> None:
    from distributed import Client, LocalCluster

    daily = first_units(country, units)
    prepared = engine.prepare(daily, config, guest_nights=country.guest_nights)
    started = time.perf_counter()
    engine.run(prepared, config, partitions=partitions)
    local = time.perf_counter() - started
    print(f"\n## Dask workers ({units} series, {', '.join(config.candidates)}, {partitions} chunks)\n")
    # Cores obtained: the workers' CPU seconds per second of the run. On a machine shared with other jobs two
    # workers may get well under two cores, and no design can be faster than the cores it gets.
    print("| workers | seconds | series/s | speed-up | cores obtained | peak worker memory (MB) |")
    print("|---:|---:|---:|---:|---:|---:|")
    print(f"| in-process (no Dask) | {local:.1f} | {units / local:.1f} | — | — | — |", flush=True)
    base = None
    for n in (1, 2):
        with (
            LocalCluster(
                n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=logging.ERROR
            ) as cluster,
            Client(cluster) as client,
        ):
            client.run(_warm_up)  # workers up, libraries loaded, before the clock starts
            cpu_before = sum(client.run(cpu_seconds).values())
            started = time.perf_counter()
            engine.run(prepared, config, runner=distributed.DaskRunner(client), partitions=partitions)
            seconds = time.perf_counter() - started
            cores = (sum(client.run(cpu_seconds).values()) - cpu_before) / seconds
            memory = max(client.run(rss_mb).values())
        base = base or seconds
        print(
            f"| {n} | {seconds:.1f} | {units / seconds:.1f} | {base / seconds:.2f}× | {cores:.2f} | {memory:.0f} |",
            flush=True,
        )


def reconciliation(config: engine.EngineConfig, seed: int) -> None:
    country = national.generate_national(3, 2, 4, start="2024-01-01", end="2025-12-31", seed=seed)
    daily = country.daily[["unit", "date", "census"]]
    every_level = aggregate(daily, country.hierarchy, values=("census",), id_col="unit")
    prepared = engine.prepare(every_level, config, guest_nights=country.guest_nights)
    result = engine.run(prepared, config)
    scale = result.scores[result.scores["model"] == models.BASELINE].set_index(["unique_id", "fold"])["scale"]
    method, table = choose_method(result.selected, scale, country.hierarchy)
    print(
        f"\n## Reconciliation ({len(country.units)} units, {country.hierarchy['hospital'].nunique()} hospitals, "
        f"{country.hierarchy['region'].nunique()} regions; {', '.join(config.candidates)}; {config.folds} folds)\n"
    )
    print("| method | mean unit MASE | change of mean unit MASE | worst unit | within 2 % |")
    print("|---|---:|---:|---:|---|")
    for row in table.itertuples():
        print(
            f"| {row.method} | {row.mase:.3f} | {100 * row.mean_change:+.2f} % | {100 * row.worst_change:+.2f} % | "
            f"{'yes' if row.qualifies else 'no'} |"
        )
    print(f"\nchosen: {method}")


def pooling(config: engine.EngineConfig, risk: float = 0.05) -> None:
    hospital = generate_demo_hospital(start="2023-01-01", end="2025-12-31")
    ingested = data.ingest(hospital.episodes.astype(str).replace({"NaT": ""}))
    prepared = engine.prepare(ingested.daily, config, ingested.episodes, hospital.guest_nights)
    result = engine.run(prepared, config)
    forecast = engine.forecast_units(prepared, result, config)
    tree = hospital.units[["unit", "hospital", "region"]]
    pools = hierarchy.pooled_totals(result, forecast, tree, "hospital")
    independent = hierarchy.independent_totals(forecast, tree, "hospital")
    print(f"\n## Pooling on the demo hospital (6 units, next {config.horizon} days, overflow risk {risk:.0%})\n")
    print("| pool census from | sum of unit beds | pooled beds | pooling gain (beds) |")
    print("|---|---:|---:|---:|")
    for name, totals in (("backtest errors of the sum", pools), ("units taken as independent", independent)):
        plan = hierarchy.pooled_plan(forecast, totals, tree, "hospital", risk)
        print(
            f"| {name} | {plan['beds_units'].mean():.1f} | {plan['beds_pooled'].mean():.1f} | "
            f"{plan['pooling_gain'].mean():.1f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,5000", help="numbers of series for the scaling curve")
    parser.add_argument("--skip-plain-above", type=int, default=1000, help="largest size for the unchunked run")
    parser.add_argument("--worker-units", type=int, default=64, help="series for the 1 vs 2 workers comparison")
    parser.add_argument(
        "--worker-candidates", default="seasonal_naive,ets", help="candidates for the worker comparison"
    )
    parser.add_argument("--partitions", type=int, default=8, help="chunks of units in the worker comparison")
    parser.add_argument("--parts", default="curve,workers,reconcile,pool", help="which figures to make")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    sizes = [int(s) for s in args.sizes.split(",")]
    cheap = engine.EngineConfig(horizon=14, folds=1, step=14, candidates=("seasonal_naive",))
    print(f"cores: {os.cpu_count()}; load average at start: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    if parts & {"curve", "workers"}:
        started = time.perf_counter()
        before = rss_mb()
        largest = max([*(sizes if "curve" in parts else []), args.worker_units if "workers" in parts else 0])
        country = country_for(largest, start="2025-01-01", end="2025-12-31", seed=args.seed)
        print(
            f"national data set: {len(country.units):,} units × {country.daily['date'].nunique()} days in "
            f"{time.perf_counter() - started:.1f} s, {frame_mb(country.daily) / len(country.units):.3f} MB per "
            f"series as daily counts (process grew {rss_mb() - before:.0f} MB)"
        )
        if "curve" in parts:
            scaling_curve(country, sizes, cheap, args.skip_plain_above)
        if "workers" in parts:
            config = engine.EngineConfig(
                horizon=14, folds=1, step=14, candidates=tuple(args.worker_candidates.split(","))
            )
            workers(country, args.worker_units, config, args.partitions)
    if "reconcile" in parts:
        reconciliation(engine.EngineConfig(horizon=28, folds=2, step=28, candidates=("seasonal_naive", "ets")), 3)
    if "pool" in parts:
        pooling(engine.EngineConfig(horizon=28, folds=2, step=28, candidates=("seasonal_naive", "ets")))
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\nload average at the end: {load}; this process holds {rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
