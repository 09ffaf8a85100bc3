"""The living service, measured: nowcast against the frozen forecast, update time, and serving during updates.

    .venv/bin/python benchmarks/living.py accuracy [--data demo|hdhi] [--weeks 12]
    .venv/bin/python benchmarks/living.py update                  # seconds per update after a day's episodes
    .venv/bin/python benchmarks/living.py load [--rate 200]       # p50/p99 and errors while updates run

accuracy: trains on the data up to an origin (all candidates, the project's backtest protocol; no MLflow), then
replays the following weeks day by day: on each day D the episodes known at midnight of D (admissions, and the
discharges up to D) re-anchor the forecast (`forecast.nowcast`), and the next seven days' census is compared with
the truth, for the nowcast and for the forecast frozen at training. Two origins per data set. Prints the 7-day
census MAE of both and the reduction.

update: the demo hospital trained up to an origin, its training episodes in an SQLite episodes database; each day
of two weeks, the day's episodes are stored and one update of `forecast.api.nowcasting.Nowcaster` is timed (read
the stays, re-anchor, build the serving state, render the common answers).

load: the same model served by `bedcast serve` (a subprocess on 127.0.0.1); an open-loop request stream
(benchmarks/load.py) at `--rate` while a day's episodes are posted every second (each wakes an update). Prints
p50/p99 latency and errors, and the seconds from each POST until /ready says the new day.
Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from forecast import data  # noqa: E402
from forecast.bundle import ForecastBundle  # noqa: E402

HDHI = ROOT.parent / "shared" / "data" / "hdhi" / "episodes.csv"
ORIGINS = {"demo": ("2024-06-30", "2024-12-31"), "hdhi": ("2018-09-30", "2018-12-31")}
STORED = ["episode_id", "unit", "admitted_at", "discharged_at", "admission_type", "hospital", "region"]


def all_episodes(name: str) -> tuple[pd.DataFrame, pd.DataFrame | None, pd.DataFrame | None]:
    """Validated episodes of the data set, its units (beds) and guest nights."""
    if name == "demo":
        from forecast.demo import generate_demo_hospital

        hospital = generate_demo_hospital()
        ingested = data.ingest(hospital.episodes)
        assert ingested.episodes is not None
        return ingested.episodes, hospital.units, hospital.guest_nights
    ingested = data.ingest_file(HDHI)
    assert ingested.episodes is not None
    return ingested.episodes, None, None


def seen_by(episodes: pd.DataFrame, day: pd.Timestamp) -> pd.DataFrame:
    """The episodes as known at midnight of `day`: admitted by then, later discharges not yet known."""
    seen = episodes[episodes["admitted_at"] <= day].copy()
    seen.loc[seen["discharged_at"] > day, "discharged_at"] = pd.NaT
    return seen


def train_until(
    episodes: pd.DataFrame, units: pd.DataFrame | None, guests: pd.DataFrame | None, origin: pd.Timestamp, **settings
) -> ForecastBundle:
    """The bundle training makes from the episodes known at `origin` (no MLflow)."""
    from training.pipeline import bundle_of, run_targets
    from training.settings import TrainSettings
    from training.sources import Source

    known = seen_by(episodes, origin).drop(columns=["row"], errors="ignore")
    raw = known.assign(
        admitted_at=known["admitted_at"].dt.strftime("%Y-%m-%d"),
        discharged_at=known["discharged_at"].dt.strftime("%Y-%m-%d").fillna(""),
    )
    ingested = data.ingest(raw.fillna(""))
    beds = units.set_index("unit")["beds"] if units is not None else None
    source = Source("benchmark", ingested, beds, guests, units)
    run_settings = TrainSettings(**settings)
    runs = run_targets(source, run_settings, lambda line: None)
    meta = {
        "chosen": {t: {u: s["model"] for u, s in r.metrics["units"].items()} for t, r in runs.items()},
        "policy": {"target_acute": 0.85, "target_elective": 0.95, "overflow_risk": 0.05},
        "backtest": {t: r.metrics["summary"] for t, r in runs.items()},
    }
    return bundle_of(source, runs, meta)


def accuracy(name: str, weeks: int, settings: dict) -> None:
    from forecast.nowcast import nowcast

    episodes, units, guests = all_episodes(name)
    truth = data.ingest(
        episodes.drop(columns=["row"], errors="ignore")
        .assign(
            admitted_at=episodes["admitted_at"].dt.strftime("%Y-%m-%d"),
            discharged_at=episodes["discharged_at"].dt.strftime("%Y-%m-%d").fillna(""),
        )
        .fillna("")
    ).daily.set_index(["unit", "date"])["census"]
    totals = {"frozen": [], "nowcast": []}
    for origin in map(pd.Timestamp, ORIGINS[name]):
        started = time.perf_counter()
        bundle = train_until(episodes, units, guests, origin, **settings)
        trained_seconds = time.perf_counter() - started
        frozen = bundle.forecasts[bundle.forecasts["target"] == "census"].set_index(["unique_id", "ds"])["mean"]
        errors: dict[str, list[float]] = {"frozen": [], "nowcast": []}
        seconds = []
        for lag in range(1, 7 * weeks + 1):
            day = origin + pd.Timedelta(days=lag)
            if day + pd.Timedelta(days=7) > bundle.last_forecast_day:
                break
            known = seen_by(episodes, day)
            tick = time.perf_counter()
            now = nowcast(bundle, known[known["discharged_at"].isna() | (known["discharged_at"] > origin)], day)
            seconds.append(time.perf_counter() - tick)
            moved = now.bundle.forecasts
            moved = moved[moved["target"] == "census"].set_index(["unique_id", "ds"])["mean"]
            week = [(u, day + pd.Timedelta(days=k)) for u in bundle.unit_names for k in range(1, 8)]
            actual = truth.reindex(week).to_numpy(float)
            errors["frozen"].append(float(np.nanmean(np.abs(frozen.reindex(week).to_numpy(float) - actual))))
            errors["nowcast"].append(float(np.nanmean(np.abs(moved.reindex(week).to_numpy(float) - actual))))
        for key in totals:
            totals[key] += errors[key]
        chosen = ", ".join(f"{u} {m}" for u, m in bundle.meta["chosen"]["census"].items())
        frozen_mae, now_mae = np.mean(errors["frozen"]), np.mean(errors["nowcast"])
        print(
            f"{name} from {origin:%Y-%m-%d} ({len(errors['frozen'])} days replayed; trained in "
            f"{trained_seconds:.0f} s; census models: {chosen}): 7-day census MAE frozen {frozen_mae:.2f}, "
            f"nowcast {now_mae:.2f} "
            f"({now_mae / frozen_mae - 1:+.1%}); nowcast {np.median(seconds) * 1000:.0f} ms median"
        )
    frozen_mae, now_mae = np.mean(totals["frozen"]), np.mean(totals["nowcast"])
    print(f"{name} overall: frozen {frozen_mae:.2f}, nowcast {now_mae:.2f}: {now_mae / frozen_mae - 1:+.1%}")


def posted_on(episodes: pd.DataFrame, day: pd.Timestamp) -> pd.DataFrame:
    """What an admission system sends at the end of `day`: its admissions (open) and its discharges."""
    admitted = episodes[(episodes["admitted_at"] == day) & (episodes["discharged_at"] != day)]
    discharged = episodes[episodes["discharged_at"] == day]
    return pd.concat([admitted.assign(discharged_at=pd.NaT), discharged], ignore_index=True)


QUICK = {"candidates": ("seasonal_naive", "ets", "flow"), "horizon": 28, "folds": 2, "step": 91}


def update(days: int = 14) -> None:
    from forecast.api.nowcasting import Nowcaster
    from forecast.registry import ServedModel
    from forecast.serving.slot import Slot
    from forecast.store import EpisodeStore

    episodes, units, guests = all_episodes("demo")
    origin = pd.Timestamp(ORIGINS["demo"][1])
    bundle = train_until(episodes, units, guests, origin, **QUICK)
    with tempfile.TemporaryDirectory() as tmp:
        store = EpisodeStore(f"sqlite:///{tmp}/episodes.db")
        store.create()
        store.add(seen_by(episodes, origin)[STORED])

        slot = Slot()
        slot.load(lambda: ServedModel(bundle, "bed-demand", "1", "champion", "run", {}))
        nowcaster = Nowcaster(slot, store)
        seconds = []
        for lag in range(1, days + 1):
            day = origin + pd.Timedelta(days=lag)
            store.add(posted_on(episodes, day)[STORED])
            tick = time.perf_counter()
            assert nowcaster.update(), nowcaster.status
            seconds.append(time.perf_counter() - tick)
        store.dispose()
    print(
        f"nowcast update after a day's episodes (demo, {len(bundle.unit_names)} units, {store.url.split('/')[-1]}): "
        f"median {statistics.median(seconds):.3f} s, max {max(seconds):.3f} s over {days} days "
        f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)"
    )


def load(rate: float, seconds: float) -> None:
    import load as load_benchmark  # benchmarks/load.py

    from training.pipeline import train
    from training.settings import TrainSettings

    episodes, units, _ = all_episodes("demo")
    origin = pd.Timestamp(ORIGINS["demo"][1])
    with tempfile.TemporaryDirectory(prefix="bedcast-living-") as tmp:
        folder = Path(tmp)
        known = seen_by(episodes, origin)
        known.drop(columns=["row"], errors="ignore").to_csv(
            folder / "episodes.csv", index=False, date_format="%Y-%m-%d"
        )
        assert units is not None
        units.to_csv(folder / "units.csv", index=False)
        os.environ.pop("MLFLOW_TRACKING_URI", None)
        train(
            TrainSettings(data=folder / "episodes.csv", units=folder / "units.csv", root=folder, **QUICK),
            lambda _: None,
        )
        from forecast.store import EpisodeStore

        store = EpisodeStore(f"sqlite:///{folder / 'episodes.db'}")
        store.create()
        store.add(known[STORED])
        store.dispose()
        os.environ["BEDCAST_API_KEY"] = "benchmark-key"
        port = load_benchmark.free_port()
        server = load_benchmark.start_server(folder, port)
        try:
            load_benchmark.wait_ready(port, server)
            # The nowcast's worker process starts with the first update: one day posted before measuring.
            post_day(port, episodes, origin + pd.Timedelta(days=1))
            unit_paths = [f"/v1/forecast/{u}" for u in sorted(units["unit"])]
            paths = ["/v1/plan", *unit_paths, "/v1/units", "/v1/monitoring"]
            asyncio.run(load_benchmark.drive(port, paths, 50, 1))
            quiet, elapsed = asyncio.run(load_benchmark.drive(port, paths, rate, seconds))
            load_benchmark.report("no update running", quiet, elapsed, load_benchmark.rss_mib(server.pid), 0.0)
            updates: list[float] = []
            stop = threading.Event()

            def post_days() -> None:
                for lag in range(2, 10_000):
                    if stop.is_set():
                        return
                    tick = time.perf_counter()
                    if post_day(port, episodes, origin + pd.Timedelta(days=lag), stop):
                        updates.append(time.perf_counter() - tick)
                    time.sleep(max(0.0, 1.0 - (time.perf_counter() - tick)))

            poster = threading.Thread(target=post_days, daemon=True)
            poster.start()
            busy, elapsed = asyncio.run(load_benchmark.drive(port, paths, rate, seconds))
            stop.set()
            poster.join(timeout=30)
            load_benchmark.report("a day posted every second", busy, elapsed, load_benchmark.rss_mib(server.pid), 0.0)
            if updates:
                print(
                    f"{len(updates)} updates during the load: POST to /ready showing the new day median "
                    f"{statistics.median(updates):.2f} s, max {max(updates):.2f} s "
                    f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)"
                )
        finally:
            server.terminate()
            server.wait(timeout=10)


def post_day(port: int, episodes: pd.DataFrame, day: pd.Timestamp, stop: threading.Event | None = None) -> bool:
    """POST a day's episodes to the service and wait until /ready says that day (False when stopped first)."""
    import load as load_benchmark  # benchmarks/load.py

    rows = json.loads(posted_on(episodes, day)[STORED].to_json(orient="records", date_format="iso"))
    for row in rows:
        for key in ("admitted_at", "discharged_at"):
            row[key] = row[key][:10] if row[key] else None
    request = urllib.request.Request(
        f"http://{load_benchmark.HOST}:{port}/v1/episodes",
        data=json.dumps(rows).encode(),
        headers={"X-API-Key": "benchmark-key", "Content-Type": "application/json"},
        method="POST",
    )
    urllib.request.urlopen(request, timeout=30).read()
    while stop is None or not stop.is_set():
        with urllib.request.urlopen(f"http://{load_benchmark.HOST}:{port}/ready", timeout=5) as answer:
            if json.loads(answer.read())["as_of"] == f"{day:%Y-%m-%d}":
                return True
        time.sleep(0.01)
    return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["accuracy", "update", "load"])
    parser.add_argument("--data", choices=["demo", "hdhi", "both"], default="both")
    parser.add_argument("--weeks", type=int, default=12, help="weeks replayed after each origin")
    parser.add_argument("--quick", action="store_true", help="accuracy: three candidates and two folds (faster)")
    parser.add_argument("--rate", type=float, default=200, help="load: requests a second")
    parser.add_argument("--seconds", type=float, default=20, help="load: seconds of each run")
    args = parser.parse_args()
    if args.what == "accuracy":
        for name in ("demo", "hdhi") if args.data == "both" else (args.data,):
            # HDHI has 18 months before its first origin: two folds a quarter apart (four reach before its start).
            settings = QUICK if args.quick else ({"folds": 2} if name == "hdhi" else {})
            accuracy(name, args.weeks, dict(settings))
    elif args.what == "update":
        update()
    else:
        load(args.rate, args.seconds)


if __name__ == "__main__":
    main()
