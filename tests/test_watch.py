"""Monitoring logged to MLflow beside the champion's run, and retraining that tells a serving process to reload."""

from __future__ import annotations

import socket
import threading
import time

import mlflow
import pandas as pd
import pytest
import uvicorn
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from forecast import registry, watch
from forecast.api import Settings, create_app
from forecast.cli import app as cli
from forecast.store import EpisodeStore
from tests.living import TRAINED_TO, replay

STORED = ["episode_id", "unit", "admitted_at", "discharged_at", "admission_type", "hospital", "region"]


def store_days(url: str, days: int, first: int = 1) -> None:
    """The training extract (with `first` 1) and the episodes of days `first`..`days` after it, as an admission
    system sends them."""
    r = replay()
    store = EpisodeStore(url)
    store.create()
    if first == 1:
        store.add(r.training[STORED])
    for lag in range(first, days + 1):
        day = TRAINED_TO + pd.Timedelta(days=lag)
        admitted = r.episodes[(r.episodes["admitted_at"] == day) & (r.episodes["discharged_at"] != day)]
        discharged = r.episodes[r.episodes["discharged_at"] == day]
        store.add(pd.concat([admitted.assign(discharged_at=pd.NaT), discharged])[STORED])
    store.dispose()


@pytest.fixture
def champion(tmp_path, monkeypatch):
    """The replay's bundle registered as champion in an embedded MLflow store of `tmp_path`."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    registry.configure_tracking(tmp_path)
    with mlflow.start_run() as run:
        info = registry.log_bundle(replay().bundle, registry.DEFAULT_MODEL_NAME)
    MlflowClient().set_registered_model_alias(
        registry.DEFAULT_MODEL_NAME, registry.CHAMPION, info.registered_model_version
    )
    return run.info.run_id


def test_monitoring_is_logged_by_day_nested_under_the_champions_run(tmp_path, champion):
    url = f"sqlite:///{tmp_path / 'episodes.db'}"
    store_days(url, 5)
    first = watch.watch(url)
    assert first.as_of == TRAINED_TO + pd.Timedelta(days=5) and first.run_id == champion
    client = MlflowClient()
    run = client.get_run(first.monitoring_run_id)
    assert run.data.tags["mlflow.parentRunId"] == champion
    history = client.get_metric_history(run.info.run_id, "census.unit.surgery.mase")
    assert [m.step for m in history] == [1, 2, 3, 4, 5]
    assert {"census.unit.surgery.coverage_95", "census.unit.surgery.over_beds_at_risk", "census.mase"} <= set(
        run.data.metrics
    )
    # Two more days: the same run, only the new days appended.
    store_days(url, 7, first=6)
    again = watch.watch(url)
    assert again.monitoring_run_id == first.monitoring_run_id
    history = client.get_metric_history(run.info.run_id, "census.unit.surgery.mase")
    assert [m.step for m in history] == [1, 2, 3, 4, 5, 6, 7]
    # Aggregates only: no episode id anywhere in the run.
    logged = client.get_run(run.info.run_id).data
    text = " ".join([*logged.tags.values(), *logged.params.values(), *logged.metrics])
    assert not any(episode_id in text for episode_id in replay().episodes["episode_id"].head(500))


def test_monitor_command_prints_status_and_reason(tmp_path, champion):
    url = f"sqlite:///{tmp_path / 'episodes.db'}"
    store_days(url, 3)
    result = CliRunner().invoke(cli, ["monitor", "--episodes-db", url, "--no-mlflow"])
    assert result.exit_code == 0, result.output
    assert "census known as of 2024-10-03" in result.output
    assert "surgery: ok: 3 day(s) since training" in result.output


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.slow
def test_retrain_promotes_on_the_stored_episodes_and_reloads_the_serving_process(tmp_path, champion, monkeypatch):
    url = f"sqlite:///{tmp_path / 'episodes.db'}"
    store_days(url, 14)
    monkeypatch.setenv("BEDCAST_API_KEY", "test-key")
    settings = Settings(api_key="test-key", episodes_url=url, nowcast_interval=0)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.05)
        # The champion was registered by hand (no training method): the retrained model wins on its own score.
        result = CliRunner().invoke(
            cli,
            [
                "retrain",
                "--episodes-db",
                url,
                "--serve-url",
                f"http://127.0.0.1:{port}",
                "--models",
                "seasonal_naive,flow",
                "--folds",
                "1",
                "--horizon",
                "28",
                "--step",
                "28",
            ],
        )
        assert result.exit_code == 0, result.output
        assert (
            "is the new champion" in result.output and f"http://127.0.0.1:{port} now serves version 2" in result.output
        )
        trained = MlflowClient().get_model_version_by_alias(registry.DEFAULT_MODEL_NAME, registry.CHAMPION)
        bundle = registry.load_model().bundle
        # Trained on the stored episodes: the data now ends on the last day stored.
        assert str(trained.version) == "2" and bundle.first_forecast_day == TRAINED_TO + pd.Timedelta(days=15)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_ingest_into_stores_the_episodes_once_and_a_conflict_stores_nothing(tmp_path):
    episodes = replay().training.head(300)[STORED]
    file = tmp_path / "episodes.csv"
    episodes.to_csv(file, index=False, date_format="%Y-%m-%d")
    url = f"sqlite:///{tmp_path / 'episodes.db'}"
    first = CliRunner().invoke(cli, ["ingest", str(file), "--into", url])
    assert first.exit_code == 0, first.output
    assert "stored 300 new episode(s)" in first.output
    again = CliRunner().invoke(cli, ["ingest", str(file), "--into", url])
    assert "stored 0 new episode(s), completed 0 open stay(s), 300 already stored" in again.output
    changed = episodes.assign(unit=episodes["unit"].where(episodes.index != episodes.index[0], "somewhere_else"))
    changed.iloc[1:].assign(episode_id=changed["episode_id"].iloc[1:] + "-new").pipe(
        lambda extra: pd.concat([changed.head(1), extra])
    ).to_csv(file, index=False, date_format="%Y-%m-%d")
    refused = CliRunner().invoke(cli, ["ingest", str(file), "--into", url])
    assert refused.exit_code == 1 and "nothing stored" in refused.output
    store = EpisodeStore(url)
    assert store.count() == 300  # the 299 new ones were not kept either
    store.dispose()
