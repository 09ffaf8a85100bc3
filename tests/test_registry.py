"""The registry edge (forecast/registry.py) against a real MLflow store (SQLite and files), no stand-ins:
what went wrong is said as it is (no such model, no champion, registry unreachable, artifacts missing or
damaged), and the version served is the version reported."""

from __future__ import annotations

import shutil
import socket
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlparse

import mlflow
import pytest
from fastapi.testclient import TestClient
from mlflow.tracking import MlflowClient

from forecast import registry
from forecast.api import Settings, create_app
from forecast.registry import CHAMPION
from tests.bundles import make_bundle

NAME = "bed-demand"


def _artifacts(client: MlflowClient, version: str) -> Path:
    source = client.get_model_version(NAME, version).source
    model_id = source.removeprefix("models:/")
    return Path(urlparse(mlflow.get_logged_model(model_id).artifact_location).path)


@pytest.fixture(autouse=True)
def _mlflow_uris_restored():
    """MLflow keeps the URIs set in a process: put back what other tests' modules had."""
    tracking, registry_uri = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    yield
    mlflow.set_tracking_uri(tracking)
    mlflow.set_registry_uri(registry_uri)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A store with versions 1 and 2 sound, 3 with its artifacts deleted, 4 with a damaged forecast table, and
    a registered model `empty` without versions."""
    root = tmp_path_factory.mktemp("registry")
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        uri = registry.configure_tracking(root)
        client = MlflowClient()
        for marker in ("first", "second", "deleted", "damaged"):
            bundle = make_bundle()
            bundle.meta = replace(bundle.meta, extra={"marker": marker})
            with mlflow.start_run():
                registry.log_bundle(bundle, NAME)
        shutil.rmtree(_artifacts(client, "3"))
        (_artifacts(client, "4") / "artifacts" / "bundle" / "forecasts.parquet").write_bytes(b"not parquet")
        client.create_registered_model("empty")
        yield root, uri, client


@pytest.fixture
def registry_at(store, monkeypatch):
    _root, uri, client = store
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return client


def point(client: MlflowClient, alias: str, version: str) -> None:
    client.set_registered_model_alias(NAME, alias, version)


def test_the_champion_is_loaded_with_its_own_version(registry_at):
    point(registry_at, CHAMPION, "1")
    served = registry.load_model(NAME, CHAMPION)
    assert (served.version, served.bundle.meta.extra["marker"]) == ("1", "first")
    assert served.run_id == registry_at.get_model_version(NAME, "1").run_id
    assert registry.champion_tags(registry_at, NAME)["version"] == "1"


def test_the_version_resolved_is_the_version_loaded_when_the_alias_moves(registry_at):
    point(registry_at, CHAMPION, "1")
    resolved = registry.resolve_alias(registry_at, NAME, CHAMPION)
    point(registry_at, CHAMPION, "2")  # moved while the first load is under way
    served = registry.load_version(NAME, resolved, CHAMPION)
    assert (served.version, served.bundle.meta.extra["marker"]) == ("1", "first")
    now = registry.load_model(NAME, CHAMPION)
    assert (now.version, now.bundle.meta.extra["marker"]) == ("2", "second")


def test_no_such_model(registry_at):
    with pytest.raises(registry.NoSuchModel, match=r"no registered model 'nothing'.*bedcast train"):
        registry.load_model("nothing", CHAMPION)
    assert registry.champion_tags(registry_at, "nothing") is None


def test_no_version_holds_the_alias(registry_at):
    with pytest.raises(registry.AliasNotSet, match=r"no version of 'empty' is 'champion' \(aliases set: none\)"):
        registry.load_model("empty", CHAMPION)
    assert registry.champion_tags(registry_at, "empty") is None
    point(registry_at, CHAMPION, "1")
    with pytest.raises(registry.AliasNotSet, match="champion → version 1"):
        registry.load_model(NAME, "canary")


def test_missing_artifacts_are_said_to_be_missing(registry_at):
    point(registry_at, "broken", "3")
    with pytest.raises(registry.ArtifactsUnavailable, match=r"version 3 of 'bed-demand'.*artifacts are missing"):
        registry.load_model(NAME, "broken")


def test_damaged_artifacts_are_said_to_be_damaged(registry_at):
    point(registry_at, "broken", "4")
    with pytest.raises(registry.ArtifactsUnavailable, match=r"version 4 of 'bed-demand'.*artifacts are damaged"):
        registry.load_model(NAME, "broken")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_registry_is_not_no_champion(monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    uri = f"http://127.0.0.1:{_closed_port()}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_registry_uri(uri)
    with pytest.raises(registry.TrackingUnavailable, match="no connection"):
        registry.champion_tags(MlflowClient(uri), NAME)
    with pytest.raises(registry.TrackingUnavailable, match=uri):
        registry.load_model(NAME, CHAMPION)


@pytest.mark.parametrize(
    ("alias", "version", "says"),
    [
        ("gone", None, "no version of 'bed-demand' is 'gone'"),
        ("broken", "3", "version 3 of 'bed-demand'"),
    ],
)
def test_the_service_says_why_it_has_no_model(registry_at, tmp_path, alias, version, says):
    if version:
        point(registry_at, alias, version)
    settings = Settings(model_alias=alias, episodes_url=f"sqlite:///{tmp_path / 'episodes.db'}")
    with TestClient(create_app(settings)) as client:
        ready = client.get("/ready")
    assert ready.status_code == 503
    assert says in ready.json()["detail"]
