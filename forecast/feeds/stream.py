"""Episodes as the HL7 v2 ADT stream a hospital's admission system would send: an admit (A01) when a stay
begins the episode, a transfer (A02) when it moves on, a discharge (A03) when the last stay ends, optionally
updates (A08) in between, in the order they happen. Each message carries a made-up patient (PID: name, personal
identity number, birth date), as a real feed does, for the listener to leave unread.

For the demo (`bedcast demo-data --adt`), the tests and the benchmark. Pure: messages as text.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["LOCATION_PREFIX", "adt_message", "adt_messages", "frame_mllp", "locations_of"]

LOCATION_PREFIX = "POC-"
FIRST_NAMES = ("Anna", "Erik", "Maria", "Lars", "Karin", "Olof", "Elsa", "Nils", "Ingrid", "Gustav")
LAST_NAMES = ("Andersson", "Johansson", "Karlsson", "Nilsson", "Eriksson", "Larsson", "Olsson", "Persson")


def locations_of(units: list[str]) -> pd.DataFrame:
    """A locations file for the stream: each unit's point of care (`POC-<UNIT>`) to the unit."""
    return pd.DataFrame({"location": [f"{LOCATION_PREFIX}{u.upper()}" for u in units], "unit": units})


def _stamp(time: pd.Timestamp) -> str:
    return time.strftime("%Y%m%d%H%M%S")


def adt_messages(episodes: pd.DataFrame, seed: int = 11, updates: int = 0, leaves: float = 0.0) -> list[str]:
    """The ADT messages of validated episodes (ward stays), in the order their events happen.

    Each episode's events fall on their stays' days at increasing times (an episode's first event between 00:00
    and 12:00, the next ones an hour apart plus some minutes), so the days of the stays come back unchanged.

    Args:
        episodes: `episode_id, unit, admitted_at, discharged_at, admission_type` (ward stays).
        seed: random seed of the times and the made-up patients.
        updates: A08 updates (no change to class, location or times) per episode, after its admission.
        leaves: the share of stays of three days or more with a leave of absence: the patient leaves (A21) on the
            stay's second day and returns (A22) on its third, their bed held (the stays are unchanged).
    """
    rng = np.random.default_rng(seed)
    ordered = episodes.sort_values(["episode_id", "admitted_at"], kind="stable")
    events: list[tuple[pd.Timestamp, int, str]] = []
    for number, (episode_id, stays) in enumerate(ordered.groupby("episode_id", sort=False)):
        patient = _patient(rng, number)
        kind = "E" if stays["admission_type"].iloc[0] == "acute" else "C"
        # The episode's n-th event: on its day, an hour later than the one before, plus some minutes.
        hours = iter(range(int(rng.integers(0, 12)) + 1, 24))

        def at(day: pd.Timestamp, hours=hours) -> pd.Timestamp:
            return day + pd.Timedelta(hours=next(hours), minutes=int(rng.integers(0, 60)))

        admitted = at(stays["admitted_at"].iloc[0])
        previous = None
        for i, stay in enumerate(stays.itertuples(index=False)):
            where = f"{LOCATION_PREFIX}{str(stay.unit).upper()}"
            if i == 0:
                time = admitted
                events.append((time, 0, adt_message("A01", time, patient, where, None, episode_id, kind, admitted)))
                for _ in range(updates):
                    events.append((time, 1, adt_message("A08", time, patient, where, None, episode_id, kind, admitted)))
            else:
                time = at(stay.admitted_at)
                events.append((time, 2, adt_message("A02", time, patient, where, previous, episode_id, kind, admitted)))
            previous = where
            long = pd.notna(stay.discharged_at) and stay.discharged_at - stay.admitted_at >= pd.Timedelta(days=3)
            if leaves and long and rng.random() < leaves:
                for days, code in ((1, "A21"), (2, "A22")):
                    time = stay.admitted_at + pd.Timedelta(days=days, hours=13, minutes=int(rng.integers(0, 60)))
                    events.append((time, 1, adt_message(code, time, patient, where, None, episode_id, kind, admitted)))
        last = stays.iloc[-1]
        if pd.notna(last["discharged_at"]):
            time = at(last["discharged_at"])
            events.append(
                (time, 3, adt_message("A03", time, patient, previous, None, episode_id, kind, admitted, time))
            )
    events.sort(key=lambda e: (e[0], e[1]))
    return [text.replace("{CONTROL_ID}", f"MSG{n:09d}") for n, (_, _, text) in enumerate(events, start=1)]


def _patient(rng: np.random.Generator, number: int) -> dict[str, str]:
    born = pd.Timestamp("1930-01-01") + pd.Timedelta(days=int(rng.integers(0, 90 * 365)))
    return {
        "id": f"{born:%Y%m%d}{int(rng.integers(1000, 9999))}",
        "name": f"{LAST_NAMES[number % len(LAST_NAMES)]}^{FIRST_NAMES[int(rng.integers(len(FIRST_NAMES)))]}",
        "born": f"{born:%Y%m%d}",
        "sex": "F" if rng.random() < 0.5 else "M",
    }


def adt_message(
    event: str,
    time: pd.Timestamp,
    patient: dict[str, str],
    location: str | None,
    prior: str | None,
    visit: str,
    admission_type: str,
    admitted: pd.Timestamp,
    discharged: pd.Timestamp | None = None,
    control_id: str = "{CONTROL_ID}",
) -> str:
    """One ADT message: MSH, EVN (EVN-2 and EVN-6 at `time`), a made-up PID, PV1 (class I, PV1-19 the visit)."""
    pv1 = ["PV1", "1", "I", f"{location}^^^VISBY" if location else "", admission_type, "", prior or ""]
    pv1 += [""] * 12 + [f"{visit}^^^VISBY^VN"]  # PV1-19
    pv1 += [""] * 24 + [_stamp(admitted), _stamp(discharged) if discharged is not None else ""]  # PV1-44, 45
    segments = [
        f"MSH|^~\\&|COSMIC|VISBY|BEDCAST|REGION|{_stamp(time)}||ADT^{event}^ADT_A01|{control_id}|P|2.5"
        "|||AL|NE||UNICODE UTF-8",
        f"EVN|{event}|{_stamp(time)}||||{_stamp(time)}",
        f"PID|1||{patient['id']}^^^SKV^PN||{patient['name']}||{patient['born']}|{patient['sex']}",
        "|".join(pv1),
    ]
    return "\r".join(segments) + "\r"


def frame_mllp(messages: list[str]) -> bytes:
    """The messages in MLLP blocks, one after the other (what `mllp_send --file` reads)."""
    return b"".join(b"\x0b" + m.encode("utf-8") + b"\x1c\r" for m in messages)


def encounters(episodes: pd.DataFrame, seed: int = 11) -> list[dict[str, object]]:
    """The episodes as FHIR R4 Encounters (one per episode, its ward stays as `location[]`), as a Bulk Data export
    would give them: visit number as identifier, class IMP, priority EM or EL, status finished or in-progress, a
    made-up patient as `subject`, times in UTC."""
    rng = np.random.default_rng(seed)
    found: list[dict[str, object]] = []
    for number, (episode_id, stays) in enumerate(
        episodes.sort_values(["episode_id", "admitted_at"]).groupby("episode_id", sort=True)
    ):
        hour = int(rng.integers(0, 12))

        def utc(day: pd.Timestamp, step: int, hour: int = hour) -> str:
            local = (day + pd.Timedelta(hours=hour + step)).tz_localize(
                "Europe/Stockholm", nonexistent="shift_forward", ambiguous=False
            )
            return local.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")

        places = []
        for step, stay in enumerate(stays.itertuples(index=False), start=1):
            period = {"start": utc(stay.admitted_at, step)}
            if pd.notna(stay.discharged_at):
                period["end"] = utc(stay.discharged_at, step + 1)
            code = f"{LOCATION_PREFIX}{str(stay.unit).upper()}"
            places.append({"location": {"reference": f"Location/{code.lower()}", "display": code}, "period": period})
        open_stay = "end" not in places[-1]["period"]
        encounter: dict[str, object] = {
            "resourceType": "Encounter",
            "id": f"enc-{number}",
            "identifier": [
                {
                    "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "VN"}]},
                    "system": "urn:oid:1.2.752.29.4.1",
                    "value": str(episode_id),
                }
            ],
            "status": "in-progress" if open_stay else "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
            "priority": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/v3-ActPriority",
                        "code": "EM" if stays["admission_type"].iloc[0] == "acute" else "EL",
                    }
                ]
            },
            "subject": {"reference": f"Patient/{_patient(rng, number)['id']}"},
            "period": {
                "start": places[0]["period"]["start"],
                **({} if open_stay else {"end": places[-1]["period"]["end"]}),
            },
            "location": places,
        }
        found.append(encounter)
    return found
