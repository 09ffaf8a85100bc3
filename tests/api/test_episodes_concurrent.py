"""Eight clients posting overlapping batches of episodes at once, over HTTP, on SQLite and on PostgreSQL.

Every accepted episode is stored once with the content it was accepted with (or completed by a later batch),
every refused batch was refused for a real conflict and answered 409, and nothing of a refused batch is stored.
"""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import uvicorn

from forecast.api import Settings, create_app
from forecast.store import EpisodeStore
from tests.bundles import make_served

KEY = "concurrency-key"
CLIENTS = 8
BATCHES = 4
SHARED = 60  # ids that several clients send


@dataclass(frozen=True)
class Sent:
    client: int
    batch: int
    episodes: list[dict]
    status: int
    answer: dict


def episode(episode_id: str, day: int, discharged: bool = False, unit: str = "medicine") -> dict:
    admitted = dt.date(2026, 1, 1) + dt.timedelta(days=day % 20)
    return {
        "episode_id": episode_id,
        "unit": unit,
        "admitted_at": admitted.isoformat(),
        "discharged_at": (admitted + dt.timedelta(days=3)).isoformat() if discharged else None,
        "admission_type": "acute",
    }


def batch_of(client: int, batch: int) -> list[dict]:
    """20 shared ids (overlapping other clients'), some closed, two clients with another unit for a few, and
    5 ids of this batch alone (to see that a refused batch leaves nothing behind)."""
    start = (client * 7 + batch * 11) % SHARED
    rows = []
    for k in range(20):
        s = (start + k) % SHARED
        other_unit = client in (3, 6) and batch == 1 and k < 3
        rows.append(
            episode(
                f"shared-{s}", s, discharged=(client + batch + k) % 3 == 0, unit="surgery" if other_unit else "medicine"
            )
        )
    rows += [episode(f"own-{client}-{batch}-{k}", k) for k in range(5)]
    return rows


def same_or_completed(stored: dict, sent: dict) -> bool:
    """The stored row is what was sent, or what was sent was an open stay that a later batch completed."""
    keys = ("unit", "admitted_at", "admission_type")
    if any(stored[k] != sent[k] for k in keys):
        return False
    return stored["discharged_at"] == sent["discharged_at"] or sent["discharged_at"] is None


def conflicts(stored: dict, sent: dict) -> bool:
    """What the store must refuse: anything but a repeat or the completion of an open stay."""
    keys = ("unit", "admitted_at", "admission_type")
    if any(stored[k] != sent[k] for k in keys):
        return True
    return stored["discharged_at"] is not None and stored["discharged_at"] != sent["discharged_at"]


@pytest.fixture(params=["sqlite", "postgresql"])
def episodes_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'episodes.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def service(episodes_url) -> Iterator[str]:
    """The app under uvicorn on a free loopback port, in this process; yields its base URL."""
    settings = Settings(api_key=KEY, episodes_url=episodes_url, nowcast_interval=0)  # the store is what is tested
    app = create_app(settings, loader=lambda: make_served("1"))
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the service did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    server.should_exit = True
    thread.join(timeout=10)
    listener.close()


def test_overlapping_batches_from_eight_clients(service, episodes_url):
    start = threading.Barrier(CLIENTS)
    sent: list[Sent] = []

    def client(number: int) -> None:
        with httpx.Client(base_url=service, headers={"X-API-Key": KEY}, timeout=60) as http:
            start.wait()
            for b in range(BATCHES):
                rows = batch_of(number, b)
                response = http.post("/v1/episodes", json=rows)
                sent.append(Sent(number, b, rows, response.status_code, response.json()))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(sent) == CLIENTS * BATCHES

    assert {s.status for s in sent} <= {200, 409}, [(s.status, s.answer) for s in sent if s.status not in (200, 409)]
    accepted = [s for s in sent if s.status == 200]
    refused = [s for s in sent if s.status == 409]
    assert accepted and refused  # the batches really did overlap and conflict

    store = EpisodeStore(episodes_url)
    frame = store.read()
    store.dispose()
    assert frame["episode_id"].is_unique
    stored = {
        row["episode_id"]: {
            "unit": row["unit"],
            "admitted_at": row["admitted_at"].date().isoformat(),
            "discharged_at": None
            if row["discharged_at"] != row["discharged_at"]
            else row["discharged_at"].date().isoformat(),
            "admission_type": row["admission_type"],
        }
        for row in frame.to_dict("records")
    }
    # Each stored episode was added by exactly one accepted batch.
    assert sum(s.answer["added"] for s in accepted) == len(stored)
    for s in accepted:
        answer = s.answer
        assert answer["added"] + answer["unchanged"] + answer["discharged"] == len(s.episodes)
        for row in s.episodes:
            assert row["episode_id"] in stored, (s.client, s.batch, row["episode_id"])
            assert same_or_completed(stored[row["episode_id"]], row), (s.client, s.batch, row["episode_id"])
    for s in refused:
        own = [row["episode_id"] for row in s.episodes if row["episode_id"].startswith("own-")]
        assert not set(own) & set(stored), "a refused batch left episodes behind"
        # The ids the 409 names (up to 20) conflict with what is stored: refused for a real conflict, not a race.
        # (Stored rows only ever gain a discharge, so a conflict then is still one now.)
        named = s.answer["detail"].split("different content: ")[1].split("; ")[0].split(" and ")[0].split(", ")
        assert named, s.answer
        rows = {row["episode_id"]: row for row in s.episodes}
        for episode_id in named:
            assert episode_id in stored, f"{episode_id} named as a conflict but not stored"
            assert conflicts(stored[episode_id], rows[episode_id]), (s.client, s.batch, episode_id)
