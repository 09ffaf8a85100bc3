"""Following the champion (forecast.api.follow): a worker loads the alias's new version by itself, keeps serving
when the registry is away, and a reload asked of several workers says which one did not reload."""

from __future__ import annotations

import logging
import subprocess
import time

from fastapi.testclient import TestClient

from forecast.api import Settings, create_app
from forecast.api.follow import WorkerBoard, WorkerStatus
from tests.bundles import make_served

KEY = "follow-key"


def settings_for(tmp_path, **options) -> Settings:
    return Settings(api_key=KEY, episodes_url=f"sqlite:///{tmp_path / 'episodes.db'}", **options)


class Registry:
    """The alias and the versions it can name; `up` False makes every call fail as an unreachable server would."""

    def __init__(self) -> None:
        self.champion, self.up = "1", True

    def resolve(self) -> str:
        if not self.up:
            raise ConnectionError("no connection after 3 tries")
        return self.champion

    def load(self):
        return make_served(self.resolve())


def served(client) -> str:
    return client.get("/ready").json()["model_version"]


def wait_until(condition, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_a_worker_follows_the_alias_and_keeps_serving_when_the_registry_is_away(tmp_path, caplog):
    registry = Registry()
    app = create_app(settings_for(tmp_path, follow_seconds=0.2), loader=registry.load, resolver=registry.resolve)
    with TestClient(app) as client, caplog.at_level(logging.WARNING, logger="bedcast.api"):
        assert served(client) == "1"
        registry.champion = "2"
        assert wait_until(lambda: served(client) == "2")
        registry.up = False
        time.sleep(1)  # several follow periods without a registry
        assert served(client) == "2" and client.get("/v1/plan").status_code == 200
        warnings = [r.getMessage() for r in caplog.records if "cannot ask the registry" in r.getMessage()]
        assert len(warnings) == 1 and "no connection after 3 tries" in warnings[0]  # said once, not every period
        registry.up, registry.champion = True, "3"
        assert wait_until(lambda: served(client) == "3")


def test_reload_says_which_worker_did_not_reload(tmp_path):
    board_dir = tmp_path / "board"
    board_dir.mkdir()
    # Another worker that never reloads: a live process whose status says it serves version 1.
    silent = subprocess.Popen(["sleep", "60"])
    try:
        WorkerBoard(board_dir, 2).report(WorkerStatus(silent.pid, "1", 0))
        registry = Registry()
        settings = settings_for(tmp_path, workers=2, workers_dir=str(board_dir), reload_wait_seconds=0.5)
        with TestClient(create_app(settings, loader=registry.load, resolver=registry.resolve)) as client:
            registry.champion = "2"
            answer = client.post("/v1/reload", headers={"X-API-Key": KEY})
            assert answer.status_code == 503
            detail = answer.json()["detail"]
            assert "did not reach every worker (this one serves version 2)" in detail
            assert f"worker {silent.pid} did not answer within 0.5 s (serving version 1)" in detail
            assert served(client) == "2"  # this worker did reload

            # Once the other worker has reloaded (as its follower writes), the reload is complete.
            board = WorkerBoard(board_dir, 2)
            board.report(WorkerStatus(silent.pid, "3", board.reload_number() + 1))  # the next reload's number
            registry.champion = "3"
            answer = client.post("/v1/reload", headers={"X-API-Key": KEY})
            assert answer.status_code == 200, answer.text
            assert sorted(w["model_version"] for w in answer.json()["workers"]) == ["3", "3"]
    finally:
        silent.kill()
        silent.wait()
    # A worker that has ended is not waited for, and its status goes.
    assert silent.pid not in [s.pid for s in WorkerBoard(board_dir, 2).statuses()]
    assert not (board_dir / f"{silent.pid}.json").exists()


def test_a_reload_during_the_followers_load_waits_for_it(tmp_path):
    registry = Registry()

    def load():
        served = registry.load()
        if served.version == "2":
            time.sleep(1.5)  # the follower is busy loading the new champion
        return served

    app = create_app(settings_for(tmp_path, follow_seconds=0.1), loader=load, resolver=registry.resolve)
    with TestClient(app) as client:
        registry.champion = "2"
        assert wait_until(lambda: app.state.slot.loading)
        answer = client.post("/v1/reload", headers={"X-API-Key": KEY})
        assert answer.status_code == 200, answer.text
        assert answer.json()["model_version"] == "2" and served(client) == "2"
