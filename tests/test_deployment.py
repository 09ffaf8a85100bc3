"""The service as a hospital region runs it: PostgreSQL behind MLflow and the episodes, an MLflow tracking
server, `bedcast serve --workers 2` following the champion; secrets never shown. All real, started here."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from mlflow.tracking import MlflowClient

from forecast.api import Settings, create_app
from forecast.registry import DEFAULT_MODEL_NAME, TrackingUnavailable
from forecast.store import EpisodeStore
from tests.demo_training import train_demo
from tests.postgres import PostgresServer

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
KEY = "deployment-api-key-5f2c9a"
FOLLOW_SECONDS = 1.0
# What "within the interval" means in these tests: one follow period plus one load of the small model, with
# room for a machine shared with other jobs.
FOLLOW_BOUND = FOLLOW_SECONDS + 30
# These tests check where a model is kept and how it is served, not what it forecasts: the census alone makes a
# champion that serves the plan, and the admissions backtest would double the training.
SMALL = {"targets": ("census",)}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(url: str, process: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"{process.args[:3]} exited: {log.read_text()[-3000:]}"
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer within {timeout} s: {log.read_text()[-3000:]}")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class Deployment:
    postgres: PostgresServer
    tracking_uri: str  # the MLflow server
    episodes_url: str  # PostgreSQL, with its password
    version: str  # the champion trained into the server
    run_id: str
    said: list[str]  # what training printed
    logs: list[Path]  # every log file of the processes started here


@pytest.fixture(scope="module")
def deployment(postgres: PostgresServer, tmp_path_factory) -> Iterator[Deployment]:
    """An `mlflow server` on a loopback port (PostgreSQL backend, local artifact folder) with a champion trained
    into it over HTTP, and a PostgreSQL episodes database."""
    folder = tmp_path_factory.mktemp("deployment")
    backend = postgres.create_database("mlflow_server")
    episodes_url = postgres.create_database("episodes_deployment")
    store = EpisodeStore(episodes_url)
    store.create()
    store.dispose()
    port = free_port()
    log = folder / "mlflow-server.log"
    command = [
        *(str(Path(sys.executable).parent / "mlflow"), "server"),
        *("--backend-store-uri", backend, "--artifacts-destination", str(folder / "artifacts")),
        *("--host", "127.0.0.1", "--port", str(port), "--workers", "1"),
    ]
    with open(log, "w") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=folder, start_new_session=True)
    uri = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{uri}/health", server, log, timeout=180)
        said: list[str] = []
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("MLFLOW_TRACKING_URI", uri)
            patch.chdir(folder)
            trained = train_demo(folder / "train", said.append, episodes_db=episodes_url, **SMALL)
        yield Deployment(postgres, uri, episodes_url, trained.version, trained.run_id, said, [log])
    finally:
        stop(server)


@pytest.fixture(scope="module")
def workers(deployment: Deployment, tmp_path_factory) -> Iterator[str]:
    """`bedcast serve --workers 2` from the MLflow server, episodes in PostgreSQL; yields its base URL."""
    folder = tmp_path_factory.mktemp("serve")
    port = free_port()
    log = folder / "serve.log"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "MLFLOW_TRACKING_URI": deployment.tracking_uri,
        "BEDCAST_EPISODES_URL": deployment.episodes_url,
        "BEDCAST_API_KEY": KEY,
        "BEDCAST_FOLLOW_SECONDS": str(FOLLOW_SECONDS),
        "BEDCAST_RELOAD_WAIT_SECONDS": "20",
    }
    command = [sys.executable, "-m", "forecast.cli", "serve", "--workers", "2", "--port", str(port)]
    with open(log, "w") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=folder, env=env)
    base = f"http://127.0.0.1:{port}"
    deployment.logs.append(log)
    try:
        wait_for(f"{base}/health", server, log)
        yield base
    finally:
        stop(server)


def served_versions(base: str, until: float, want: str | None = None) -> dict[int, str]:
    """Which version each worker serves: /ready on new connections (each may reach either worker) until both
    workers have answered (and, with `want`, both serve it) or the time is up."""
    seen: dict[int, str] = {}
    while time.monotonic() < until:
        answer = httpx.get(f"{base}/ready", timeout=10)
        if answer.status_code == 200:
            seen[answer.json()["worker"]] = answer.json()["model_version"]
        if len(seen) == 2 and (want is None or set(seen.values()) == {want}):
            break
        time.sleep(0.05)
    return seen


def new_version(deployment: Deployment) -> str:
    """A new version of the champion's model (the trained model registered again) made champion."""
    client = MlflowClient(deployment.tracking_uri)
    trained = client.get_model_version(DEFAULT_MODEL_NAME, deployment.version)
    model_id = trained.source.removeprefix("models:/")  # the logged model the version was registered from
    version = client.create_model_version(
        DEFAULT_MODEL_NAME, trained.source, run_id=deployment.run_id, model_id=model_id
    ).version
    client.set_registered_model_alias(DEFAULT_MODEL_NAME, "champion", str(version))
    return str(version)


def test_trained_into_an_mlflow_server_on_postgresql(deployment):
    client = MlflowClient(deployment.tracking_uri)
    champion = client.get_model_version_by_alias(DEFAULT_MODEL_NAME, "champion")
    assert str(champion.version) == deployment.version
    run = client.get_run(deployment.run_id)
    assert run.data.metrics["score"] > 0
    # The artifacts went through the server into its local folder.
    assert client.list_artifacts(deployment.run_id, "model")


def test_two_workers_serve_and_follow_the_champion(deployment, workers):
    both = served_versions(workers, time.monotonic() + 60)
    assert len(both) == 2 and set(both.values()) == {deployment.version}, both

    promoted_at = time.monotonic()
    version = new_version(deployment)
    seen = served_versions(workers, promoted_at + FOLLOW_BOUND, want=version)
    assert set(seen.values()) == {version}, f"after {FOLLOW_BOUND} s the workers serve {seen}"
    took = time.monotonic() - promoted_at
    # After the interval no worker answers with an older version.
    for _ in range(30):
        assert httpx.get(f"{workers}/v1/model", timeout=10).json()["version"] == version
    print(f"both workers served version {version} {took:.1f} s after it became champion")


def test_reload_reaches_every_worker(deployment, workers):
    client = MlflowClient(deployment.tracking_uri)
    version = new_version(deployment)
    answer = httpx.post(f"{workers}/v1/reload", headers={"X-API-Key": KEY}, timeout=60)
    assert answer.status_code == 200, answer.text
    reloaded = answer.json()
    assert reloaded["model_version"] == version
    assert len(reloaded["workers"]) == 2 and {w["model_version"] for w in reloaded["workers"]} == {version}
    assert str(client.get_model_version_by_alias(DEFAULT_MODEL_NAME, "champion").version) == version


def test_episodes_on_postgresql_through_the_workers(deployment, workers):
    rows = [
        {"episode_id": f"w-{k}", "unit": "medicine", "admitted_at": "2026-01-02", "admission_type": "acute"}
        for k in range(50)
    ]
    with httpx.Client(base_url=workers, headers={"X-API-Key": KEY}, timeout=60) as http:
        assert http.post("/v1/episodes", json=rows).json()["added"] == 50
        assert http.post("/v1/episodes", json=rows).json()["unchanged"] == 50
        conflict = http.post("/v1/episodes", json=[{**rows[0], "unit": "surgery"}])
        assert conflict.status_code == 409 and "w-0" in conflict.json()["detail"]


def test_tracking_and_registry_directly_on_postgresql(postgres, tmp_path, monkeypatch):
    """`MLFLOW_TRACKING_URI=postgresql://...`: training and serving with no MLflow server in between."""
    uri = postgres.create_database("mlflow_direct")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    said: list[str] = []
    trained = train_demo(tmp_path, said.append, **SMALL)
    assert postgres.password not in "\n".join(said)
    assert any("tracking: postgresql" in line and ":***@" in line for line in said)
    settings = Settings(api_key=KEY, episodes_url=f"sqlite:///{tmp_path / 'episodes.db'}")
    with TestClient(create_app(settings)) as client:  # the real loader, from the PostgreSQL registry
        assert client.get("/ready").json()["model_version"] == trained.version
        assert client.get("/v1/plan").status_code == 200


def test_unreachable_tracking_server_is_bounded_and_clear(tmp_path, monkeypatch):
    nobody = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    monkeypatch.setenv("MLFLOW_TRACKING_URI", nobody)
    monkeypatch.chdir(tmp_path)
    started = time.monotonic()
    with pytest.raises(TrackingUnavailable, match="no connection after 3 tries"):
        train_demo(tmp_path)
    assert time.monotonic() - started < 30
    started = time.monotonic()
    with TestClient(create_app(Settings(api_key=KEY, episodes_url=f"sqlite:///{tmp_path / 'e.db'}"))) as client:
        ready = client.get("/ready")
        assert ready.status_code == 503
        assert f"the MLflow tracking store at {nobody} cannot be used: no connection" in ready.json()["detail"]
        reload = client.post("/v1/reload", headers={"X-API-Key": KEY})
        assert reload.status_code == 503 and "no connection after 3 tries" in reload.json()["detail"]
    assert time.monotonic() - started < 60


def test_secrets_are_never_shown(deployment, workers, tmp_path):
    password = deployment.postgres.password
    # A wrong key and a database that refuses the password: the errors name neither secret.
    with httpx.Client(base_url=workers, timeout=60) as http:
        wrong = http.post("/v1/episodes", headers={"X-API-Key": KEY[:-1]}, json=[])
        assert wrong.status_code == 401 and KEY not in wrong.text
    refused = deployment.episodes_url.replace(password, password + "x")
    with pytest.raises(Exception) as caught:  # whatever the driver raises, its message is checked
        EpisodeStore(refused).count()
    assert password not in str(caught.value)
    assert "password authentication failed" in str(caught.value)
    # The MLflow run's parameters and tags, what training printed, and every log of the services started here.
    run = MlflowClient(deployment.tracking_uri).get_run(deployment.run_id)
    recorded = [*run.data.params.values(), *run.data.tags.values(), *deployment.said]
    assert any("***" in value for value in run.data.params.values())  # the episodes URL, password hidden
    for log in deployment.logs:
        recorded.append(log.read_text(errors="replace"))
    for text in recorded:
        assert password not in text
        assert KEY not in text
