"""The ADT listener end to end: the demo hospital with transfers, sent as an ADT stream by python-hl7's own MLLP
client, gives exactly the census of the same episodes ingested as CSV, per unit and day; killed in the middle of
the stream and restarted while the sender resends what was not acknowledged, it stores every message once and loses
none (SQLite and PostgreSQL); a broken frame is answered AR."""

from __future__ import annotations

import socket

import pandas as pd
import pytest
import sqlalchemy as sa

from forecast.data import ingest
from forecast.demo import DEFAULT_UNITS, generate_demo_hospital
from forecast.feeds.journal import AdtJournal, adt_events_table
from forecast.feeds.listener import AdtListener
from forecast.feeds.locations import LocationMap, read_locations
from forecast.feeds.pseudonyms import Pseudonyms
from forecast.feeds.stream import adt_messages, locations_of
from forecast.store import EpisodeStore
from tests.feeds.mllp import Listener, send_all

# Intensive care, internal medicine and surgery: the units the transfers go between.
UNITS = [u for u in DEFAULT_UNITS if u.unit in ("intensive_care", "internal_medicine", "surgery")]


@pytest.fixture(scope="module")
def hospital():
    """A month of three units with transfers: the episodes as a CSV would give them, and their ADT stream."""
    demo = generate_demo_hospital(start="2024-01-01", end="2024-01-31", units=UNITS, transfers=True)
    ingested = ingest(demo.episodes.astype(str).replace({"NaT": ""}))
    assert ingested.daily["transfers_in"].sum() > 10
    return ingested, adt_messages(ingested.episodes)


@pytest.fixture
def locations(tmp_path, hospital):
    path = tmp_path / "locations.csv"
    locations_of(sorted(hospital[0].daily["unit"].unique())).to_csv(path, index=False)
    return path


def census(episodes: pd.DataFrame) -> pd.Series:
    return ingest(episodes).daily.set_index(["unit", "date"])["census"]


def journal_count(url: str) -> int:
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        total = connection.execute(sa.select(sa.func.count()).select_from(adt_events_table)).scalar_one()
    engine.dispose()
    return int(total)


@pytest.mark.slow
def test_the_adt_stream_gives_the_census_of_the_csv(tmp_path, hospital, locations):
    ingested, messages = hospital
    url = f"sqlite:///{tmp_path / 'episodes.db'}"
    listener = Listener(url, tmp_path, locations).start()
    try:
        counts = send_all(messages, listener.port)
    finally:
        listener.stop()
    assert counts["AA"] == len(messages) and counts["resent"] == 0
    stored = EpisodeStore(url).read()
    pd.testing.assert_series_equal(census(stored), census(ingested.episodes))
    # Transfers came as transfers: the same arrivals per unit and day, admissions and transfers in apart.
    columns = ["admissions", "transfers_in", "discharges", "transfers_out"]
    ours = ingest(stored).daily.set_index(["unit", "date"])[columns]
    pd.testing.assert_frame_equal(ours, ingested.daily.set_index(["unit", "date"])[columns])


@pytest.mark.slow
@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_killed_mid_stream_every_stay_is_stored_once_and_none_lost(tmp_path, hospital, locations, database, request):
    ingested, messages = hospital
    url = f"sqlite:///{tmp_path / 'episodes.db'}" if database == "sqlite" else request.getfixturevalue("postgres_url")
    listener = Listener(url, tmp_path, locations).start()
    kills = {len(messages) // 3, 2 * len(messages) // 3}

    def crash_and_restart(acknowledged: int) -> None:
        if acknowledged in kills:
            listener.kill()  # SIGKILL: no chance to finish anything
            listener.start()

    try:
        counts = send_all(messages, listener.port, after_ack=crash_and_restart)
    finally:
        listener.stop()
    assert counts["AA"] == len(messages) and counts["resent"] >= len(kills)
    assert journal_count(url) == len(messages)  # each message stored once (MSH-10 is the journal's key)
    stored = EpisodeStore(url).read()
    assert not stored.duplicated(["episode_id", "unit", "admitted_at"]).any()
    pd.testing.assert_series_equal(census(stored), census(ingested.episodes))


def test_a_broken_frame_is_answered_ar_and_stores_nothing(tmp_path):
    store = EpisodeStore(f"sqlite:///{tmp_path / 'episodes.db'}")
    journal = AdtJournal(store, LocationMap(), Pseudonyms(b"s" * 32))
    journal.create()
    listener = AdtListener(journal, port=0)
    listener.start()
    try:
        message = b"MSH|^~\\&|A|B|C|D|20260302100000||ADT^A01^ADT_A01|F1|P|2.5\rEVN|A01|20260302100000\r"
        answers = []
        for frame in (
            b"junk\x0b" + message + b"\x1c\r",  # bytes before the start block
            b"\x0b" + message + b"\x0b" + message + b"\x1c\r",  # a start block inside the message
        ):
            with socket.create_connection(("127.0.0.1", listener.port), timeout=10) as connection:
                connection.sendall(frame)
                answers.append(connection.recv(4096))
        for answer in answers:
            assert answer.startswith(b"\x0bMSH") and answer.endswith(b"\x1c\r")
            assert b"MSA|AR|" in answer and b"broken MLLP frame" in answer
        assert b"MSA|AR|F1|" in answers[1]  # the message inside is named when its header can be read
        # A connection closed in the middle of a frame: nothing stored, the listener goes on.
        with socket.create_connection(("127.0.0.1", listener.port), timeout=10) as connection:
            connection.sendall(b"\x0b" + message[:30])
        assert store.count() == 0
    finally:
        listener.stop()
        store.dispose()


@pytest.mark.slow
def test_serve_takes_the_adt_feed_beside_the_http_api(tmp_path, hospital, locations):
    """`bedcast serve --adt-port`: the HTTP service (no model yet) and the ADT listener in one process."""
    import os
    import subprocess
    import sys
    import time
    import urllib.request

    from tests.feeds.mllp import free_port

    _, messages = hospital
    url = f"sqlite:///{tmp_path / 'episodes.db'}"
    http, adt = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "BEDCAST_"))}
    env |= {"BEDCAST_EPISODES_URL": url, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    command = [sys.executable, "-m", "forecast.cli", "serve", "--port", str(http), "--adt-port", str(adt)]
    command += ["--locations", str(locations), "--secret-file", str(tmp_path / "secret")]
    with open(tmp_path / "serve.log", "wb") as log:
        server = subprocess.Popen(command, env=env, stdout=log, stderr=log, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{http}/health", timeout=2):
                    break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
                time.sleep(0.2)
        counts = send_all(messages[:100], adt)
        assert counts["AA"] == 100
        assert EpisodeStore(url).count() > 0
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_leaves_of_absence_leave_the_census_of_the_csv(tmp_path, hospital, locations):
    """The month's stream with a leave of absence (A21, then A22 the next day) in half the stays of three days or
    more: every message AA, every leave journaled, and the census per unit and day still the CSV's."""
    ingested, plain = hospital
    messages = adt_messages(ingested.episodes, leaves=0.5)
    leaves = sum("|ADT^A21^" in m or "|ADT^A22^" in m for m in messages)
    assert leaves == len(messages) - len(plain) and leaves > 50
    url = f"sqlite:///{tmp_path / 'episodes.db'}"
    store = EpisodeStore(url)
    journal = AdtJournal(store, read_locations(locations), Pseudonyms(b"s" * 32))
    journal.create()
    taken = journal.take_many([m.encode() for m in messages])
    assert {t.code for t in taken} == {"AA"} and all(t.new for t in taken)
    assert journal_count(url) == len(messages)
    pd.testing.assert_series_equal(census(store.read()), census(ingested.episodes))
    store.dispose()
