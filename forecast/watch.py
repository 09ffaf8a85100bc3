"""Watching the champion in production: monitoring logged to MLflow, retraining, and telling serving to reload.

`bedcast monitor` measures the champion's training forecast against the census since (from the episodes
database, `forecast.monitoring`) and logs it as a monitoring run nested under the champion's training run, with
the same metric names as the training run's backtest (`census.unit.<unit>.mase`, …) by step = days since
training, so MLflow's Compare puts production beside the backtest. `bedcast retrain` retrains on the data file
plus the stored episodes, lets the champion rule decide, and asks a serving process to reload when the champion
changed. Only aggregates (per unit and day) are logged.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from forecast import registry
from forecast.bundle import ForecastBundle
from forecast.monitoring import STATUSES, UnitMonitor, monitor, monitor_by_day
from forecast.nowcast import nowcast
from forecast.store import EpisodeStore

__all__ = ["Watched", "census_since", "log_monitoring", "reload_service", "retrain", "watch"]

MONITORED = ("mase", "mae", "bias", "coverage_80", "coverage_95", "over_beds_at_risk")
KIND_TAG = "bedcast.kind"
OF_RUN_TAG = "bedcast.monitoring_of_run"
LAST_STEP_TAG = "bedcast.last_step"


@dataclass(frozen=True)
class Watched:
    """A monitoring pass: the champion, the units' state now, and the MLflow run it was logged to."""

    version: str
    run_id: str
    as_of: pd.Timestamp | None
    units: list[UnitMonitor]
    monitoring_run_id: str | None


def census_since(bundle: ForecastBundle, store: EpisodeStore) -> tuple[pd.DataFrame, pd.Timestamp | None]:
    """The census of each day after training up to the newest stored day (within the forecast), and that day."""
    end = bundle.first_forecast_day - pd.Timedelta(days=1)
    episodes = store.read_in_bed_after(end.date())
    as_of = episodes.attrs.get("as_of")
    empty = pd.DataFrame({"unit": pd.Series(dtype=str), "ds": pd.to_datetime([]), "census": []})
    if as_of is None or as_of <= end:
        return empty, None
    # Past the forecast's end there is nothing to compare with: measure up to its last day but one.
    as_of = min(as_of, bundle.last_forecast_day - pd.Timedelta(days=1))
    return nowcast(bundle, episodes, as_of).census, as_of


def _key(*parts: str) -> str:
    return ".".join("".join(ch if ch.isalnum() or ch in "_-" else "_" for ch in p) for p in parts)


def _metrics_of(by_day: pd.DataFrame) -> list[Metric]:
    """Per unit and day the backtest's metric names, and a summary over units (`census.mase`, …)."""
    out = []
    for row in by_day.itertuples(index=False):
        stamp = int(pd.Timestamp(row.day).timestamp() * 1000)
        for name in MONITORED:
            value = getattr(row, name)
            if value is not None and pd.notna(value):
                out.append(Metric(_key("census", "unit", str(row.unit), name), float(value), stamp, int(row.step)))
        out.append(
            Metric(_key("census", "unit", str(row.unit), "status"), STATUSES.index(row.status), stamp, int(row.step))
        )
    for (day, step), rows in by_day.groupby(["day", "step"]):
        stamp = int(pd.Timestamp(day).timestamp() * 1000)
        for name in ("mase", "coverage_80", "coverage_95", "bias"):
            values = rows[name].dropna()
            if len(values):
                out.append(Metric(_key("census", name), float(values.mean()), stamp, int(step)))
        out.append(Metric("units_drifted", float((rows["status"] == "drifted").sum()), stamp, int(step)))
    return out


def log_monitoring(client: MlflowClient, served: registry.ServedModel, by_day: pd.DataFrame) -> str:
    """Log the days not logged before to the champion's monitoring run (created nested under its training
    run), and return that run's id."""
    training = client.get_run(served.run_id)
    found = client.search_runs(
        [training.info.experiment_id], filter_string=f"tags.`{OF_RUN_TAG}` = '{served.run_id}'", max_results=1
    )
    if found:
        run_id = found[0].info.run_id
        last = int(found[0].data.tags.get(LAST_STEP_TAG, "0"))
    else:
        run = client.create_run(
            training.info.experiment_id,
            run_name=f"monitoring {served.name} v{served.version}",
            tags={
                "mlflow.parentRunId": served.run_id,  # the UI nests it under the champion's training run
                KIND_TAG: "monitoring",
                OF_RUN_TAG: served.run_id,
                "model_version": served.version,
            },
        )
        run_id, last = run.info.run_id, 0
        client.log_batch(run_id, params=[Param("model_name", served.name), Param("model_version", served.version)])
    new = by_day[by_day["step"] > last] if len(by_day) else by_day
    metrics = _metrics_of(new) if len(new) else []
    for k in range(0, len(metrics), 900):  # MLflow takes at most 1,000 metrics a batch
        client.log_batch(run_id, metrics=metrics[k : k + 900])
    if len(new):
        latest = by_day[by_day["step"] == by_day["step"].max()]
        summary = {str(r.unit): {"status": r.status, "reason": r.reason} for r in latest.itertuples(index=False)}
        client.log_batch(
            run_id,
            tags=[RunTag(LAST_STEP_TAG, str(int(by_day["step"].max()))), RunTag("status", json.dumps(summary)[:5000])],
        )
    client.set_terminated(run_id)
    return run_id


def watch(episodes_url: str, model_name: str = registry.DEFAULT_MODEL_NAME, to_mlflow: bool = True) -> Watched:
    """Monitor the champion on the stored episodes and (with `to_mlflow`) log it.

    Raises:
        registry.ModelNotFound, registry.TrackingUnavailable: no champion, or no tracking store.
    """
    registry.configure_tracking()
    served = registry.load_model(model_name, registry.CHAMPION)
    bundle = served.bundle
    policy = bundle.meta.policy
    store = EpisodeStore(episodes_url)
    try:
        store.create()
        census, as_of = census_since(bundle, store)
    finally:
        store.dispose()
    units = monitor(bundle, census, policy)
    run_id = None
    if to_mlflow:
        run_id = log_monitoring(MlflowClient(), served, monitor_by_day(bundle, census, policy))
    return Watched(served.version, served.run_id, as_of, units, run_id)


def champion_version(model_name: str) -> str | None:
    tags = registry.champion_tags(MlflowClient(), model_name)
    return tags["version"] if tags else None


def retrain(
    train_args: Sequence[str], model_name: str = registry.DEFAULT_MODEL_NAME
) -> tuple[int, str | None, str | None]:
    """Run `bedcast train` with these arguments; the champion's version before and after.

    Returns:
        `(exit code, version before, version after)`.
    """
    registry.configure_tracking()
    before = champion_version(model_name)
    done = subprocess.run([sys.executable, "-m", "training.train", *train_args], check=False)
    return done.returncode, before, champion_version(model_name) if done.returncode == 0 else before


def reload_service(url: str, api_key: str | None, timeout: float = 120.0) -> str:
    """POST /v1/reload to a serving process; what it answered, in a line.

    Raises:
        RuntimeError: the service refused or could not be reached (the message says which).
    """
    request = urllib.request.Request(
        f"{url.rstrip('/')}/v1/reload", method="POST", headers={"X-API-Key": api_key or ""}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            body = json.loads(answer.read())
    except urllib.error.HTTPError as error:
        detail = error.read().decode(errors="replace")[:300]
        raise RuntimeError(f"{url} refused the reload ({error.code}): {detail}") from None
    except (urllib.error.URLError, OSError) as error:
        raise RuntimeError(f"{url} cannot be reached to reload: {error}") from None
    return f"{url} now serves version {body.get('model_version')} (was {body.get('previous_version')})"
