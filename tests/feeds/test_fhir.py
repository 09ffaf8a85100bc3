"""FHIR R4 Encounters as ward stays: the demo hospital with transfers as Bulk Data NDJSON (or a Bundle) gives
exactly the census of the same episodes as CSV; statuses, classes and priorities read as planners count them;
problems name the line and the element."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from forecast.data import InputError, ingest
from forecast.demo import DEFAULT_UNITS, generate_demo_hospital
from forecast.feeds.fhir import ingest_encounters, read_encounters
from forecast.feeds.locations import LocationMap
from forecast.feeds.pseudonyms import Pseudonyms
from forecast.feeds.stream import encounters, locations_of

FIXTURES = Path(__file__).parent / "fixtures" / "fhir"
UNITS = [u for u in DEFAULT_UNITS if u.unit in ("intensive_care", "internal_medicine", "surgery")]
KEYS = Pseudonyms(b"s" * 32)


@pytest.fixture(scope="module")
def hospital():
    demo = generate_demo_hospital(start="2024-01-01", end="2024-02-29", units=UNITS, transfers=True)
    ingested = ingest(demo.episodes)
    units = locations_of(sorted(ingested.daily["unit"].unique()))
    return (
        ingested,
        encounters(ingested.episodes),
        LocationMap(dict(zip(units["location"], units["unit"], strict=True))),
    )


def ndjson(path: Path, resources: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in resources))
    return path


COLUMNS = ["admissions", "admissions_acute", "transfers_in", "discharges", "transfers_out", "census"]


def test_bulk_ndjson_gives_the_census_of_the_csv(tmp_path, hospital):
    ingested, resources, locations = hospital
    ours, read = ingest_encounters(ndjson(tmp_path / "Encounter.ndjson", resources), locations, KEYS)
    pd.testing.assert_frame_equal(
        ours.daily.set_index(["unit", "date"])[COLUMNS], ingested.daily.set_index(["unit", "date"])[COLUMNS]
    )
    assert read.encounters == len(resources) and not read.left_out
    assert ours.episodes["episode_id"].str.startswith("v:").all()


def test_a_bundle_gives_the_same(tmp_path, hospital):
    ingested, resources, locations = hospital
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    ours, _ = ingest_encounters(path, locations, KEYS)
    assert ours.daily["census"].tolist() == ingested.daily["census"].tolist()


def encounter(**fields) -> dict:
    base = {
        "resourceType": "Encounter",
        "identifier": [{"system": "urn:visit", "value": "V1"}],
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
        "subject": {"reference": "Patient/p1", "display": "Astrid Lindqvist"},
        "period": {"start": "2026-03-02T10:00:00+01:00", "end": "2026-03-06T10:00:00+01:00"},
        "location": [
            {"location": {"display": "icu"}, "period": {"start": "2026-03-02T10:00:00+01:00"}},
            {"location": {"display": "medicine"}, "period": {"start": "2026-03-03T12:00:00+01:00"}},
        ],
    }
    return base | fields


def test_statuses_classes_and_priorities(tmp_path):
    resources = [
        encounter(),
        encounter(identifier=[{"value": "V2"}], status="in-progress", priority={"coding": [{"code": "EL"}]}),
        encounter(identifier=[{"value": "V3"}], status="cancelled"),
        encounter(identifier=[{"value": "V4"}], status="entered-in-error"),
        encounter(identifier=[{"value": "V5"}], **{"class": {"code": "AMB"}}),
    ]
    read = read_encounters(ndjson(tmp_path / "e.ndjson", resources), LocationMap(), KEYS)
    stays = read.stays
    assert stays[["unit", "admitted_at", "discharged_at", "admission_type"]].values.tolist() == [
        ["icu", "2026-03-02T10:00:00+01:00", "2026-03-03T12:00:00+01:00", "acute"],
        ["medicine", "2026-03-03T12:00:00+01:00", "2026-03-06T10:00:00+01:00", "acute"],
        ["icu", "2026-03-02T10:00:00+01:00", "2026-03-03T12:00:00+01:00", "elective"],
        ["medicine", "2026-03-03T12:00:00+01:00", "", "elective"],  # in progress: still in bed
    ]
    assert read.left_out == {
        "status cancelled": 1,
        "status entered-in-error": 1,
        "class AMB, not an inpatient class": 1,
    }
    assert "Astrid" not in stays.to_csv() and "p1" not in stays.to_csv()


def test_real_exported_encounters_validate_and_outpatient_care_is_left_out(tmp_path):
    """Synthea's Bulk Data sample (tests/feeds/fixtures/fhir/SOURCE.md): an emergency visit and two ambulatory."""
    mixed = (FIXTURES / "synthea-Encounter.ndjson").read_text() + json.dumps(encounter()) + "\n"
    path = tmp_path / "mixed.ndjson"
    path.write_text(mixed)
    ingested, read = ingest_encounters(path, LocationMap(), KEYS)
    assert read.left_out == {"class EMER, not an inpatient class": 1, "class AMB, not an inpatient class": 2}
    assert sorted(ingested.daily["unit"].unique()) == ["icu", "medicine"]


def test_an_invalid_encounter_names_its_line_and_element(tmp_path):
    resources = [
        encounter(),
        encounter(identifier=[{"value": "V2"}], status="done"),
        encounter(identifier=[{"value": "V3"}], period={"start": "yesterday"}),
    ]
    with pytest.raises(InputError) as caught:
        read_encounters(ndjson(tmp_path / "e.ndjson", resources), LocationMap(), KEYS)
    status, period = caught.value.problems
    assert (status.row, status.field) == (2, "Encounter.status")
    assert (period.row, period.field) == (3, "Encounter.period.start")
    assert "Astrid" not in str(caught.value) and "yesterday" not in str(caught.value)


def test_an_unknown_location_names_its_line_and_element(tmp_path):
    locations = LocationMap({"icu": "intensive_care"})
    with pytest.raises(InputError) as caught:
        read_encounters(ndjson(tmp_path / "e.ndjson", [encounter()]), locations, KEYS)
    (problem,) = caught.value.problems
    assert (problem.row, problem.field) == (1, "Encounter.location[1].location")
    assert "'medicine' is not in the locations file" in problem.message


def test_overlapping_location_periods_name_the_line(tmp_path):
    overlapping = encounter(
        location=[
            {"location": {"display": "icu"}, "period": {"start": "2026-03-02T10:00:00+01:00", "end": "2026-03-05"}},
            {"location": {"display": "medicine"}, "period": {"start": "2026-03-03T12:00:00+01:00"}},
        ]
    )
    path = ndjson(tmp_path / "e.ndjson", [encounter(identifier=[{"value": "V0"}]), overlapping])
    with pytest.raises(InputError) as caught:
        ingest_encounters(path, LocationMap(), KEYS)
    assert {p.row for p in caught.value.problems} == {2}
    assert all("overlaps" in p.message for p in caught.value.problems)
