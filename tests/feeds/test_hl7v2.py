"""ADT messages taken or refused: each bad message gets AE/AR naming its segment and field, and nothing of it is
stored; real sample messages written by others are taken; a resend is stored once."""

from __future__ import annotations

from pathlib import Path

import hl7
import pandas as pd
import pytest
import sqlalchemy as sa

from forecast.feeds.journal import AdtJournal, adt_events_table
from forecast.feeds.locations import LocationMap
from forecast.feeds.pseudonyms import Pseudonyms
from forecast.feeds.stream import adt_message
from forecast.store import EpisodeStore
from tests.feeds.conftest import LOCATIONS

FIXTURES = Path(__file__).parent / "fixtures" / "hl7"
PATIENT = {"id": "193502141234", "name": "Lindqvist^Astrid", "born": "19350214", "sex": "F"}
T0 = pd.Timestamp("2026-03-02 10:00")


def message(event: str, hours: float = 0, location: str = "POC-ICU", control_id: str = "M1", **kw) -> str:
    time = T0 + pd.Timedelta(hours=hours)
    admitted = kw.pop("admitted", T0)
    return adt_message(event, time, PATIENT, location, None, "V100", "E", admitted, control_id=control_id, **kw)


def answer(ack: bytes) -> dict[str, str]:
    """MSA-1, MSA-2 and, for a refusal, ERR-2 (segment^1^field) and ERR-3's code, read with python-hl7."""
    parsed = hl7.parse(ack.decode("utf-8"))
    found = {"code": str(parsed.segment("MSA")(1)), "control_id": str(parsed.segment("MSA")(2))}
    errors = parsed.segments("ERR") if any(str(s[0]) == "ERR" for s in parsed) else []
    if errors:
        found["where"] = str(errors[0](2))
        found["error"] = str(errors[0](3)(1)(1))
        found["text"] = str(parsed.segment("MSA")(3))
    return found


def stored(journal: AdtJournal) -> tuple[int, int]:
    with journal.store.engine.connect() as connection:
        events = connection.execute(sa.select(sa.func.count()).select_from(adt_events_table)).scalar_one()
    return int(events), journal.store.count()


def test_a_message_is_taken_and_acknowledged(journal):
    taken = journal.take(message("A01").encode())
    assert answer(taken.ack) == {"code": "AA", "control_id": "M1"}
    assert stored(journal) == (1, 1)
    stay = journal.store.read().iloc[0]
    assert (stay["unit"], stay["admitted_at"]) == ("intensive_care", pd.Timestamp("2026-03-02"))
    assert stay["episode_id"].startswith("v:") and "V100" not in stay["episode_id"]


def test_a_resend_is_answered_aa_and_stored_once(journal):
    raw = message("A01").encode()
    journal.take(raw)
    again = journal.take(raw)
    assert answer(again.ack)["code"] == "AA" and not again.new
    assert stored(journal) == (1, 1)


def test_another_message_under_a_used_control_id_is_refused(journal):
    journal.take(message("A01").encode())
    refused = answer(journal.take(message("A03", 30).encode()).ack)
    assert (refused["code"], refused["where"], refused["error"]) == ("AE", "MSH^1^10", "205")
    assert stored(journal) == (1, 1)


BAD = {
    "wrong segment order": (
        lambda: _swap(message("A01"), "PID", "PV1"),
        ("AE", "PV1", "100"),
    ),
    "no EVN segment": (lambda: _drop(message("A01"), "EVN"), ("AE", "EVN", "100")),
    "unknown event": (lambda: message("A01").replace("ADT^A01^", "ADT^A99^"), ("AR", "MSH^1^9", "201")),
    "not ADT": (lambda: message("A01").replace("ADT^A01^ADT_A01", "ORU^R01^ORU_R01"), ("AR", "MSH^1^9", "200")),
    "unknown location": (lambda: message("A01", location="POC-XRAY"), ("AE", "PV1^1^3", "103")),
    "no visit number": (lambda: message("A01").replace("V100^^^VISBY^VN", ""), ("AE", "PV1^1^19", "101")),
    "unknown admission type": (lambda: _pv1(message("A01"), 4, "Q"), ("AE", "PV1^1^4", "103")),
    "discharge before admission in the message": (
        lambda: message("A03", -30, discharged=T0 - pd.Timedelta(hours=30)),
        ("AE", "PV1^1^45", "102"),
    ),
    "not a date": (lambda: _pv1(message("A01"), 44, "yesterday"), ("AE", "PV1^1^44", "102")),
}


def _segments(text: str) -> list[str]:
    return [s for s in text.split("\r") if s]


def _swap(text: str, a: str, b: str) -> str:
    segments = _segments(text)
    i, j = (next(k for k, s in enumerate(segments) if s.startswith(name)) for name in (a, b))
    segments[i], segments[j] = segments[j], segments[i]
    return "\r".join(segments) + "\r"


def _drop(text: str, name: str) -> str:
    return "\r".join(s for s in _segments(text) if not s.startswith(name)) + "\r"


def _pv1(text: str, field: int, value: str) -> str:
    segments = _segments(text)
    k = next(k for k, s in enumerate(segments) if s.startswith("PV1"))
    fields = segments[k].split("|")
    fields[field] = value
    segments[k] = "|".join(fields)
    return "\r".join(segments) + "\r"


@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_message_is_refused_naming_segment_and_field(journal, case):
    journal.take(message("A01", control_id="M0").encode())
    before = stored(journal)
    build, (code, where, error) = BAD[case]
    refused = answer(journal.take(build().replace("|M1|", "|M2|").encode()).ack)
    assert (refused["code"], refused["where"], refused["error"]) == (code, where, error)
    assert refused["control_id"] in ("M2", "")
    assert stored(journal) == before  # nothing half-stored


def test_a_discharge_before_the_stored_admission_is_refused(journal):
    journal.take(message("A01", control_id="M1").encode())
    early = message("A03", -5, control_id="M2", admitted=T0 - pd.Timedelta(hours=10))
    refused = answer(journal.take(early.encode()).ack)
    assert (refused["code"], refused["where"]) == ("AE", "PV1^1^45")
    assert "before the visit's admission" in refused["text"]
    assert stored(journal) == (1, 1)
    assert pd.isna(journal.store.read().iloc[0]["discharged_at"])


def test_bytes_that_are_not_utf8_are_refused_naming_msh18(journal):
    latin = message("A01", location="AVD-ÅSA").replace("|UNICODE UTF-8", "|").encode("latin-1")
    refused = answer(journal.take(latin).ack)
    assert (refused["code"], refused["where"], refused["error"]) == ("AR", "MSH^1^18", "102")
    declared_ascii = message("A01", location="AVD-ÅSA").replace("UNICODE UTF-8", "ASCII").encode("utf-8")
    assert answer(journal.take(declared_ascii).ack)["where"] == "MSH^1^18"
    assert stored(journal) == (0, 0)


def test_the_declared_character_set_is_read(journal):
    latin = message("A01", location="AVD-ÅSA").replace("UNICODE UTF-8", "8859/1").encode("latin-1")
    assert answer(journal.take(latin).ack)["code"] == "AA"
    assert journal.store.read()["unit"].tolist() == ["surgery"]


def test_an_unknown_character_set_is_refused(journal):
    refused = answer(journal.take(message("A01").replace("UNICODE UTF-8", "EBCDIC").encode()).ack)
    assert (refused["code"], refused["where"], refused["error"]) == ("AR", "MSH^1^18", "103")


def test_real_sample_messages_are_taken(tmp_path):
    """Microsoft's FHIR Converter samples (tests/feeds/fixtures/hl7/SOURCE.md): HL7 2.8 messages with every PID,
    NK1, GT1 and IN1 field filled. Their visit is preadmitted (PV1-2 P), so P counts as a bed class here; they
    all share MSH-10 MSG00001, so each is sent under its own."""
    store = EpisodeStore(f"sqlite:///{tmp_path / 'episodes.db'}")
    journal = AdtJournal(store, LocationMap(), Pseudonyms(b"s" * 32), inpatient_classes=("I", "P"))
    journal.create()

    def send(name: str, control_id: str) -> str:
        raw = (FIXTURES / f"ADT-{name}-02.hl7").read_bytes().replace(b"|MSG00001|", f"|{control_id}|".encode())
        return answer(journal.take(raw).ack)["code"]

    assert send("A01", "S1") == "AA"
    assert store.read()[["unit", "admitted_at"]].astype(str).values.tolist() == [["HUH AE OMU", "2015-02-08"]]
    assert send("A03", "S2") == "AA"
    assert store.read()["discharged_at"].astype(str).tolist() == ["2015-02-09"]
    assert send("A13", "S3") == "AA"  # the discharge cancelled: in bed again
    assert store.read()["discharged_at"].isna().all()
    assert send("A08", "S4") == "AA" and send("A02", "S5") == "AA"
    assert send("A11", "S6") == "AA"  # the admission cancelled: no stay left
    assert store.count() == 0
    # Another visit: an outpatient made inpatient (A06), then outpatient again (A07).
    assert send("A06", "S7") == "AA" and send("A07", "S8") == "AA"
    assert store.read()[["unit", "admitted_at", "discharged_at"]].astype(str).values.tolist() == [
        ["SPROOM", "2021-01-15", "2021-01-15"]
    ]
    store.dispose()


def leave_message(event: str, hours: float, control_id: str, back: float | None = None) -> str:
    """An ADT A21/A22/A52/A53 laid out as HL7 v2.5 gives it (MSH, EVN, PID, PD1, PV1, PV2; message structure
    ADT_A21 for all four): EVN-5 the nurse who recorded it, PD1-4 the family doctor, PV1-3 the bed held, PV2-47
    when the patient is expected back."""
    text = message(event, hours, control_id=control_id).replace("^ADT_A01|", "^ADT_A21|")
    segments = _segments(text)
    evn = segments[1].split("|")
    evn[5] = "NURSE7^Berg^Karin^^^^^^SKV"
    segments[1] = "|".join(evn)
    segments[3] = segments[3].replace("POC-ICU^^^VISBY", "POC-ICU^12^1^VISBY")  # PV1-3: ward, room, bed
    segments.insert(3, "PD1||||GP4411^Holm^Per")
    pv2 = ["PV2"] + [""] * 47
    if back is not None:
        pv2[47] = (T0 + pd.Timedelta(hours=back)).strftime("%Y%m%d%H%M")
    segments.append("|".join(pv2))
    return "\r".join(segments) + "\r"


def test_a_leave_of_absence_is_taken_and_the_bed_held(tmp_path, journal):
    """Admitted on 2 March, on leave the 3rd to the 5th (two midnights away), a second leave cancelled (A52), a
    return cancelled and sent again (A53), discharged on the 7th: every message AA and journaled, and the stays
    and census are those of the admission and discharge alone, in whatever order the messages are replayed."""
    visit = [
        message("A01", 0, control_id="M1"),
        leave_message("A21", 28, "M2", back=78),
        leave_message("A22", 76, "M3"),
        leave_message("A21", 100, "M4", back=104),
        leave_message("A52", 101, "M5"),
        leave_message("A22", 110, "M6"),
        leave_message("A53", 111, "M7"),
        leave_message("A22", 112, "M8"),
        message("A03", 120, control_id="M9", discharged=T0 + pd.Timedelta(hours=120)),
    ]
    assert [answer(journal.take(m.encode()).ack)["code"] for m in visit] == ["AA"] * len(visit)
    assert stored(journal) == (len(visit), 1)
    plain = EpisodeStore(f"sqlite:///{tmp_path / 'plain.db'}")
    without = AdtJournal(plain, LOCATIONS, Pseudonyms(b"s" * 32))
    without.create()
    for m in (visit[0], visit[-1]):
        without.take(m.encode())
    expected = plain.read()
    assert expected[["unit", "admitted_at", "discharged_at"]].astype(str).values.tolist() == [
        ["intensive_care", "2026-03-02", "2026-03-07"]
    ]
    columns = ["episode_id", "unit", "admitted_at", "discharged_at", "admission_type"]
    pd.testing.assert_frame_equal(journal.store.read()[columns], expected[columns])
    # A replay from the journal's messages in another order (the leave events first) gives the same stays.
    replayed = EpisodeStore(f"sqlite:///{tmp_path / 'replayed.db'}")
    again = AdtJournal(replayed, LOCATIONS, Pseudonyms(b"s" * 32))
    again.create()
    assert {t.code for t in again.take_many([m.encode() for m in reversed(visit)])} == {"AA"}
    pd.testing.assert_frame_equal(replayed.read()[columns], expected[columns])
    plain.dispose()
    replayed.dispose()


def test_a_leave_names_its_unknown_bed(journal):
    journal.take(message("A01", 0, control_id="M1").encode())
    away = leave_message("A21", 28, "M2").replace("POC-ICU^12^1", "POC-XRAY^12^1")
    refused = answer(journal.take(away.encode()).ack)
    assert (refused["code"], refused["where"], refused["error"]) == ("AE", "PV1^1^3", "103")
    assert stored(journal) == (1, 1)
