"""FHIR R4 Encounters (Bulk Data NDJSON, or Bundles) as ward stays.

Each Encounter is validated with `fhir.resources` (its R4B models: R4's Encounter unchanged) and read for what a
bed census needs: `status` (cancelled, entered-in-error and planned left out; in-progress still in bed), `class`
(inpatient classes only), `priority` (emergency or elective), `period`, and `location[]` with their `period`s as
the ward stays; a Location maps to a unit by the locations file (its reference or display name), or without one
by its display name. The episode key is the Encounter's visit number (the identifier typed VN, else the first
identifier; an Encounter that is `partOf` another belongs to that one's episode), hashed with the installation's
secret. Nothing of `subject` (the patient) is read.

Problems name the line of an NDJSON file (or the entry of a Bundle) and the element, never a value of the patient.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from fhir.resources.R4B.encounter import Encounter
from pydantic import ValidationError

from forecast.data import Ingested, InputError, Problem, ingest
from forecast.feeds.locations import LocationMap
from forecast.feeds.pseudonyms import Pseudonyms

__all__ = [
    "ELECTIVE_PRIORITIES",
    "INPATIENT_CLASSES",
    "FhirStays",
    "ingest_encounters",
    "is_fhir_file",
    "read_encounters",
]

# v3 ActCode classes of encounters that lie in beds.
INPATIENT_CLASSES = ("IMP", "ACUTE", "NONAC")
# v3 ActPriority codes of planned care; any other priority, or none, is acute.
ELECTIVE_PRIORITIES = ("EL", "R", "P", "PRN", "T", "UD")
LEFT_OUT = ("cancelled", "entered-in-error", "planned")
# R4's Encounter.status value set (the models check the type, not the code).
STATUSES = (
    "planned",
    "arrived",
    "triaged",
    "in-progress",
    "onleave",
    "finished",
    "cancelled",
    "entered-in-error",
    "unknown",
)
OPEN = ("arrived", "triaged", "in-progress", "onleave")


@dataclass
class FhirStays:
    """Stays read from Encounters (the episode contract's columns, as text) and what was left out, by reason."""

    stays: pd.DataFrame
    source: list[int]  # the line (entry) each stay came from
    encounters: int = 0
    left_out: dict[str, int] = field(default_factory=dict)

    def report(self) -> list[str]:
        lines = [f"read {self.encounters} Encounter(s): {len(self.stays)} ward stay(s)"]
        lines += [f"left out {n} Encounter(s): {why}" for why, n in sorted(self.left_out.items())]
        return lines


def is_fhir_file(path: str | Path) -> bool:
    """NDJSON or JSON (a Bundle or an Encounter), by the file's name."""
    return Path(path).suffix.lower() in (".ndjson", ".json")


def _resources(path: Path) -> Iterator[tuple[int, Any]]:
    """(line or entry number, resource as JSON) of an NDJSON file, a Bundle or a single resource."""
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".ndjson":
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    yield number, json.loads(line)
                except json.JSONDecodeError as error:
                    raise InputError([Problem(number, "line", f"not JSON ({error.msg})")], source=path) from None
        return
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError([Problem(None, "file", f"not JSON ({error.msg}, line {error.lineno})")], source=path) from None
    if isinstance(document, dict) and document.get("resourceType") == "Bundle":
        for number, entry in enumerate(document.get("entry") or [], start=1):
            yield number, (entry or {}).get("resource")
    else:
        yield 1, document


def read_encounters(
    path: str | Path,
    locations: LocationMap,
    pseudonyms: Pseudonyms,
    inpatient_classes: Collection[str] = INPATIENT_CLASSES,
) -> FhirStays:
    """The ward stays of the Encounters in a file (other resource types are passed over).

    Raises:
        InputError: Encounters that do not validate, or lack what a stay needs (naming line and element).
    """
    path = Path(path)
    rows: list[dict[str, str]] = []
    source: list[int] = []
    problems: list[Problem] = []
    left_out: dict[str, int] = {}
    count = 0
    for number, resource in _resources(path):
        if not isinstance(resource, dict) or resource.get("resourceType") != "Encounter":
            continue
        count += 1
        try:
            encounter = Encounter.model_validate(resource)
        except ValidationError as error:
            problems.extend(_validation_problems(number, error))
            continue
        if encounter.status not in STATUSES:
            known = ", ".join(STATUSES)
            problems.append(Problem(number, "Encounter.status", f"{encounter.status!r} is not an R4 status ({known})"))
            continue
        why = _left_out(encounter, inpatient_classes)
        if why:
            left_out[why] = left_out.get(why, 0) + 1
            continue
        try:
            stays = _stays(encounter, locations, pseudonyms)
        except _Missing as missing:
            problems.append(Problem(number, missing.element, missing.message))
            continue
        rows.extend(stays)
        source.extend([number] * len(stays))
    if problems:
        raise InputError(problems, source=path)
    columns = ["episode_id", "unit", "admitted_at", "discharged_at", "admission_type"]
    return FhirStays(pd.DataFrame(rows, columns=columns), source, count, left_out)


class _Missing(Exception):
    def __init__(self, element: str, message: str):
        self.element, self.message = element, message


def _validation_problems(number: int, error: ValidationError) -> list[Problem]:
    found = []
    for detail in error.errors()[:5]:
        where = "Encounter." + ".".join(str(part) for part in detail["loc"]) if detail["loc"] else "Encounter"
        # pydantic's message names the expected type; the input value is left out (it may be the patient's).
        found.append(Problem(number, where, f"not a valid R4 Encounter: {detail['msg']}"))
    return found


def _left_out(encounter: Encounter, inpatient_classes: Collection[str]) -> str | None:
    if encounter.status in LEFT_OUT:
        return f"status {encounter.status}"
    code = encounter.class_fhir.code if encounter.class_fhir is not None else None
    if code not in inpatient_classes:
        return f"class {code or '(none)'}, not an inpatient class"
    return None


def _key(encounter: Encounter, pseudonyms: Pseudonyms) -> str:
    if encounter.partOf is not None and encounter.partOf.reference:
        return pseudonyms.key(f"Encounter|{encounter.partOf.reference}")
    identifiers = encounter.identifier or []
    visit = next(
        (i for i in identifiers if i.type is not None and any(c.code == "VN" for c in (i.type.coding or []))),
        identifiers[0] if identifiers else None,
    )
    if visit is not None and visit.value:
        return pseudonyms.key(f"{visit.system or ''}|{visit.value}")
    if encounter.id:
        return pseudonyms.key(f"Encounter|Encounter/{encounter.id}")
    raise _Missing("Encounter.identifier", "no identifier and no id: nothing ties its stays together")


def _admission_type(encounter: Encounter) -> str:
    codes = [c.code for c in (encounter.priority.coding or [])] if encounter.priority is not None else []
    return "elective" if any(code in ELECTIVE_PRIORITIES for code in codes) else "acute"


def _text(value: Any) -> str:
    return value.isoformat() if value is not None else ""


def _stays(encounter: Encounter, locations: LocationMap, pseudonyms: Pseudonyms) -> list[dict[str, str]]:
    """The Encounter's stays: one per location[] (consecutive ones in the same unit made one)."""
    key, kind = _key(encounter, pseudonyms), _admission_type(encounter)
    period = encounter.period
    start = period.start if period is not None else None
    end = period.end if period is not None and encounter.status not in OPEN else None
    places = [
        (i, place) for i, place in enumerate(encounter.location or []) if place.status not in ("planned", "reserved")
    ]
    if not places:
        raise _Missing("Encounter.location", "no location: in which unit does the patient lie?")
    stays: list[dict[str, Any]] = []
    for n, (i, place) in enumerate(places):
        reference = place.location.reference or "" if place.location is not None else ""
        display = place.location.display or "" if place.location is not None else ""
        unit = locations.unit_of(reference) or locations.unit_of(display) if locations.units else display or reference
        if not unit:
            shown = display or reference or "(none)"
            raise _Missing(f"Encounter.location[{i}].location", f"location {shown!r} is not in the locations file")
        begins = place.period.start if place.period is not None and place.period.start else (start if n == 0 else None)
        if begins is None:
            raise _Missing(f"Encounter.location[{i}].period.start", "a ward stay needs its start")
        ends = place.period.end if place.period is not None else None
        if ends is None and n == len(places) - 1:
            ends = end
        if stays and stays[-1]["unit"] == unit:
            stays[-1]["discharged_at"] = ends
            continue
        if stays and stays[-1]["discharged_at"] is None:
            stays[-1]["discharged_at"] = begins
        stays.append({"unit": unit, "admitted_at": begins, "discharged_at": ends})
    return [
        {
            "episode_id": key,
            "unit": stay["unit"],
            "admitted_at": _text(stay["admitted_at"]),
            "discharged_at": _text(stay["discharged_at"]),
            "admission_type": kind,
        }
        for stay in stays
    ]


def ingest_encounters(
    path: str | Path,
    locations: LocationMap,
    pseudonyms: Pseudonyms,
    inpatient_classes: Collection[str] = INPATIENT_CLASSES,
    lenient: bool = False,
    timezone: str = "Europe/Stockholm",
) -> tuple[Ingested, FhirStays]:
    """`read_encounters`, then the stays validated and counted as episodes are (`forecast.data.ingest`); a
    problem with a stay names the line (entry) of its Encounter.

    Raises:
        InputError: see `read_encounters` and `forecast.data.ingest`.
    """
    read = read_encounters(path, locations, pseudonyms, inpatient_classes)
    if read.stays.empty:
        raise InputError([Problem(None, "Encounter", "no inpatient Encounter with a stay to count")], source=path)
    try:
        ingested = ingest(read.stays, lenient=lenient, timezone=timezone)
    except InputError as error:
        lines = [
            Problem(read.source[p.row - 1] if p.row else None, p.field, p.message, p.episode_id) for p in error.problems
        ]
        raise InputError(lines, source=path) from None
    return ingested, read
