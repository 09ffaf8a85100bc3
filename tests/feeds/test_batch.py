"""HL7 batch files (`bedcast adt --file`): a nightly export of many messages gives the same stays as the same
messages sent one by one over MLLP; a refused message is named by its position, line and MSH-10, and nothing of
the file is stored; an envelope that does not add up (a file cut short) is refused naming the line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from forecast.data import ingest
from forecast.demo import generate_demo_hospital
from forecast.feeds.batch import BatchError, batch_file, load_batch, split_batch
from forecast.feeds.journal import AdtJournal, adt_events_table
from forecast.feeds.locations import LocationMap
from forecast.feeds.pseudonyms import Pseudonyms
from forecast.feeds.stream import adt_message, adt_messages, frame_mllp, locations_of
from forecast.store import EpisodeStore
from tests.feeds.mllp import Listener, send_all
from tests.feeds.test_listener import UNITS

FIXTURES = Path(__file__).parent / "fixtures" / "hl7"
PATIENT = {"id": "194811022222", "name": "Berg^Nils", "born": "19481102", "sex": "M"}
T0 = pd.Timestamp("2026-03-02 10:00")
LOCATIONS = LocationMap({"POC-ICU": "intensive_care", "POC-MED": "internal_medicine"})


def visit(number: int, days: int = 3, location: str = "POC-ICU") -> list[str]:
    """One visit's admission and discharge (control ids V<number>A and V<number>D)."""
    admitted = T0 + pd.Timedelta(hours=number)
    out = admitted + pd.Timedelta(days=days)
    return [
        adt_message("A01", admitted, PATIENT, location, None, f"V{number}", "E", admitted, control_id=f"V{number}A"),
        adt_message("A03", out, PATIENT, location, None, f"V{number}", "E", admitted, out, control_id=f"V{number}D"),
    ]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "forecast.cli", "adt", *args], capture_output=True, text=True)


def contents(url: str) -> tuple[int, pd.DataFrame]:
    """The journal's count and the stays, sorted (what a replay must give again)."""
    store = EpisodeStore(url)
    with store.engine.connect() as connection:
        events = connection.execute(sa.select(sa.func.count()).select_from(adt_events_table)).scalar_one()
    columns = ["episode_id", "unit", "admitted_at", "discharged_at", "admission_type"]
    stays = store.read()[columns].sort_values(columns[:3]).reset_index(drop=True)
    store.dispose()
    return int(events), stays


@pytest.mark.slow
def test_a_batch_file_gives_the_stays_of_the_same_messages_sent_over_mllp(tmp_path):
    """A month of three units with transfers and leaves of absence: the nightly export as a batch file of three
    batches, loaded with `bedcast adt --file`, against the same messages sent one by one by python-hl7's MLLP
    client to `bedcast adt`; the same secret, so the same episode keys."""
    demo = generate_demo_hospital(start="2024-01-01", end="2024-01-31", units=UNITS, transfers=True)
    ingested = ingest(demo.episodes.astype(str).replace({"NaT": ""}))
    messages = adt_messages(ingested.episodes, leaves=0.5)
    locations = tmp_path / "locations.csv"
    locations_of(sorted(ingested.daily["unit"].unique())).to_csv(locations, index=False)
    (tmp_path / "mllp").mkdir()
    mllp_url = f"sqlite:///{tmp_path / 'mllp' / 'episodes.db'}"
    listener = Listener(mllp_url, tmp_path / "mllp", locations).start()
    try:
        counts = send_all(messages, listener.port)
    finally:
        listener.stop()
    assert counts["AA"] == len(messages)

    batch = tmp_path / "nightly.hl7"
    batch.write_bytes(batch_file(messages, batch_size=len(messages) // 3 + 1, stamp="20240201020000"))
    url = f"sqlite:///{tmp_path / 'batch.db'}"
    options = ["--into", url, "--locations", str(locations), "--secret-file", str(tmp_path / "mllp" / "secret")]
    loaded = cli("--file", str(batch), *options)
    assert loaded.returncode == 0, loaded.stderr
    assert f"{len(messages)} messages in 3 batch(es): {len(messages)} stored" in loaded.stdout
    events, stays = contents(url)
    assert events == len(messages)
    pd.testing.assert_frame_equal(stays, contents(mllp_url)[1])
    census = ingest(stays).daily.set_index(["unit", "date"])["census"]
    pd.testing.assert_series_equal(census, ingested.daily.set_index(["unit", "date"])["census"])

    again = cli("--file", str(batch), *options)  # the same night loaded twice: nothing stored twice
    assert again.returncode == 0 and f"0 stored, {len(messages)} received before" in again.stdout
    assert contents(url)[0] == len(messages)
    pd.testing.assert_frame_equal(contents(url)[1], stays)


def test_a_refused_message_is_named_and_nothing_of_the_file_is_stored(tmp_path):
    """`bedcast adt --file` on a database holding last night's file: tonight's has an unknown location in its
    5th message and a date that is not one in its 8th; both are named, the exit code is 1, and the database is
    as it was (the messages before them, fine on their own, are not stored either)."""
    url = f"sqlite:///{tmp_path / 'episodes.db'}"
    locations = tmp_path / "locations.csv"
    pd.DataFrame({"location": ["POC-ICU", "POC-MED"], "unit": ["intensive_care", "internal_medicine"]}).to_csv(
        locations, index=False
    )
    options = ["--into", url, "--locations", str(locations), "--secret-file", str(tmp_path / "secret")]
    last_night = tmp_path / "last.hl7"
    last_night.write_bytes(batch_file([m for n in range(1, 4) for m in visit(n)]))
    assert cli("--file", str(last_night), *options).returncode == 0
    before = contents(url)
    assert before[0] == 6 and len(before[1]) == 3

    tonight = [m for n in range(4, 9) for m in visit(n)]
    tonight[4] = tonight[4].replace("POC-ICU", "POC-XRAY")  # V6A
    tonight[7] = tonight[7][: tonight[7].rindex("|")] + "|yesterday\r"  # V7D's PV1-45
    path = tmp_path / "tonight.hl7"
    path.write_bytes(batch_file(tonight))
    refused = cli("--file", str(path), *options)
    assert refused.returncode == 1
    assert "2 of 10 messages refused; nothing of the file was stored" in refused.stderr
    # FHS and BHS are lines 1 and 2, each message 4 lines: the 5th begins on line 19, the 8th on line 31.
    assert "message 5 (line 19, MSH-10 V6A): AE PV1-3: location 'POC-XRAY' is not in the locations file" in (
        refused.stderr
    )
    assert "message 8 (line 31, MSH-10 V7D): AE PV1-45: not an HL7 date/time" in refused.stderr
    after = contents(url)
    assert after[0] == before[0]
    pd.testing.assert_frame_equal(after[1], before[1])


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_a_message_refused_against_the_stored_ones_undoes_the_file(tmp_path, monkeypatch, database, request):
    """A discharge before its visit's stored admission is found only while storing: the file's messages before
    it, already written in the transaction (a chunk of two messages at a time here), are rolled back with it."""
    monkeypatch.setattr("forecast.feeds.journal.CHUNK", 2)
    url = f"sqlite:///{tmp_path / 'episodes.db'}" if database == "sqlite" else request.getfixturevalue("postgres_url")
    store = EpisodeStore(url)
    journal = AdtJournal(store, LOCATIONS, Pseudonyms(b"s" * 32))
    journal.create()
    journal.take_many([m.encode() for m in visit(1)])
    before = contents(url)
    early = T0 - pd.Timedelta(days=1)
    late = adt_message("A03", early, PATIENT, "POC-ICU", None, "V1", "E", early, early, control_id="V1X")
    with pytest.raises(BatchError, match=r"message 3 \(line 11, MSH-10 V1X\): AE PV1-45: the discharge is before"):
        load_batch(journal, batch_file([*visit(2), late, *visit(3)]))
    after = contents(url)
    assert after[0] == before[0] == 2
    pd.testing.assert_frame_equal(after[1], before[1])
    assert load_batch(journal, batch_file([*visit(2), *visit(3)])).new == 4  # the file fixed: all of it taken
    assert contents(url)[0] == 6
    store.dispose()


def test_the_same_control_id_twice_with_other_content_is_refused(journal):
    first, second = visit(1)
    with pytest.raises(BatchError, match=r"message 2 .*MSH-10 V1A\): AE MSH-10: this message control id was used"):
        load_batch(journal, batch_file([first, second.replace("|V1D|", "|V1A|")]))
    assert contents(str(journal.store.engine.url))[0] == 0


def test_real_sample_messages_in_a_batch_file(tmp_path):
    """Microsoft's sample messages (LF line ends, every PID field filled) between FHS/BHS and BTS/FTS written
    with CRLF line ends, as a Windows export would: taken as they are one by one."""
    store = EpisodeStore(f"sqlite:///{tmp_path / 'episodes.db'}")
    journal = AdtJournal(store, LocationMap(), Pseudonyms(b"s" * 32), inpatient_classes=("I", "P"))
    journal.create()
    parts = [b"FHS|^~\\&|ADTApp|GHHSFacility|||20150209||||F01", b"BHS|^~\\&|ADTApp|GHHSFacility|||20150209||||B01"]
    for n, name in enumerate(("A01", "A03"), start=1):
        raw = (FIXTURES / f"ADT-{name}-02.hl7").read_bytes().replace(b"|MSG00001|", f"|S{n}|".encode())
        parts.append(raw.rstrip(b"\r\n"))
    parts += [b"BTS|2", b"FTS|1"]
    loaded = load_batch(journal, b"\r\n".join(parts) + b"\r\n")
    assert (loaded.messages, loaded.batches, loaded.new) == (2, 1, 2)
    assert store.read()[["unit", "admitted_at", "discharged_at"]].astype(str).values.tolist() == [
        ["HUH AE OMU", "2015-02-08", "2015-02-09"]
    ]
    store.dispose()


def test_line_ends_and_mllp_framing_give_the_same_messages():
    messages = [m for n in range(1, 4) for m in visit(n)]
    cr = batch_file(messages)
    found, batches = split_batch(cr)
    assert [m.raw.decode() for m in found] == messages and batches == 1
    assert [m.line for m in found] == [3, 7, 11, 15, 19, 23]
    for other in (cr.replace(b"\r", b"\n"), cr.replace(b"\r", b"\r\n")):
        assert [m.raw for m in split_batch(other)[0]] == [m.raw for m in found]
    framed = split_batch(frame_mllp(messages))[0]
    assert [m.raw for m in framed] == [m.raw for m in found]
    assert [m.line for m in framed] == [1, 6, 11, 16, 21, 26]  # as an editor shows it: <FS><CR> a line
    assert [m.raw for m in split_batch("".join(messages).encode())[0]] == [m.raw for m in found]  # no envelope
    assert split_batch(batch_file(messages, batch_size=4))[1] == 2


ENVELOPES = {
    "a file cut short": (lambda b: b[: b.rindex(b"BTS|")], r"the batch begun at line 2 has no BTS: is the file cut"),
    "no file trailer": (lambda b: b[: b.rindex(b"FTS|")], r"FHS at line 1 has no FTS: is the file cut short"),
    "a message fewer than BTS-1 says": (
        lambda b: b.replace(b"BTS|6", b"BTS|7"),
        r"line 27: BTS-1 counts 7 messages, the batch begun at line 2 holds 6",
    ),
    "FTS-1 wrong": (lambda b: b.replace(b"FTS|1", b"FTS|2"), r"line 28: FTS-1 counts 2 batches, the file holds 1"),
    "a count that is not one": (lambda b: b.replace(b"BTS|6", b"BTS|six"), r"line 27: BTS-1 is 'six', not a count"),
    "a segment outside a message": (lambda b: b"PID|1\r" + b, r"line 1: segment 'PID' outside a message"),
    "something after FTS": (lambda b: b + b"MSH|^~\\&|X\r", r"line 29: MSH after the file trailer \(FTS, line 28\)"),
    "nothing": (lambda b: b"\r\n", r"no message in the file"),
}


@pytest.mark.parametrize("case", list(ENVELOPES))
def test_an_envelope_that_does_not_add_up_is_refused_naming_the_line(journal, case):
    change, reason = ENVELOPES[case]
    with pytest.raises(BatchError, match=reason):
        load_batch(journal, change(batch_file([m for n in range(1, 4) for m in visit(n)])))
    assert contents(str(journal.store.engine.url))[0] == 0


def test_a_batch_sent_over_mllp_is_refused_whole(journal):
    """One MLLP block holding a batch is not a message: AR, nothing stored (batches come as files)."""
    taken = journal.take(batch_file([m for n in range(1, 3) for m in visit(n)]))
    assert taken.code == "AR" and b"MSA|AR|" in taken.ack
    assert contents(str(journal.store.engine.url))[0] == 0


def test_on_postgresql_a_file_and_the_listener_take_turns(postgres_url):
    """While another transaction holds the ADT writers' lock (as a file being loaded does), a listener's message
    waits for it rather than read the visit's events before the file's are committed; then it is taken."""
    import threading

    from forecast.feeds.journal import WRITER_LOCK

    store = EpisodeStore(postgres_url)
    journal = AdtJournal(store, LOCATIONS, Pseudonyms(b"s" * 32))
    journal.create()
    admit, discharge = visit(1)
    outcome: list[str] = []
    engine = sa.create_engine(postgres_url)
    with engine.connect() as other, other.begin():
        other.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": WRITER_LOCK})
        waiting = threading.Thread(target=lambda: outcome.append(journal.take(discharge.encode()).code))
        waiting.start()
        waiting.join(1.0)
        assert waiting.is_alive() and not outcome  # the listener's message waits for the other transaction
    waiting.join(30)
    assert outcome == ["AA"]
    assert journal.take(admit.encode()).code == "AA"
    assert store.read()[["unit", "admitted_at", "discharged_at"]].astype(str).values.tolist() == [
        ["intensive_care", "2026-03-02", "2026-03-05"]
    ]
    engine.dispose()
    store.dispose()


def test_messages_of_events_not_handled_are_skipped_and_counted(tmp_path, journal):
    """A nightly export holds registrations (A04), patient updates (A31) and a lab result (ORU): they say nothing
    of stays, and over MLLP they are answered AR and not stored; in a file they are skipped and counted, and the
    stays are those of the ADT messages alone."""
    at = T0 + pd.Timedelta(hours=5)
    others = [
        adt_message("A04", at, PATIENT, "POC-MED", None, "V9", "E", at, control_id="R1"),
        adt_message("A31", at, PATIENT, None, None, "V9", "E", at, control_id="R2"),
        adt_message("A01", at, PATIENT, "POC-MED", None, "V9", "E", at, control_id="R3").replace(
            "ADT^A01^ADT_A01", "ORU^R01^ORU_R01"
        ),
    ]
    loaded = load_batch(journal, batch_file([*visit(1), *others, *visit(2)]))
    assert (loaded.messages, loaded.new) == (7, 4)
    assert loaded.skipped == {"ADT^A04": 1, "ADT^A31": 1, "ORU^R01": 1}
    alone = AdtJournal(EpisodeStore(f"sqlite:///{tmp_path / 'alone.db'}"), LOCATIONS, Pseudonyms(b"s" * 32))
    alone.create()
    load_batch(alone, batch_file([*visit(1), *visit(2)]))
    mine, theirs = contents(str(journal.store.engine.url)), contents(str(alone.store.engine.url))
    assert mine[0] == theirs[0] == 4 and len(mine[1]) == 2
    pd.testing.assert_frame_equal(mine[1], theirs[1])
    alone.store.dispose()
