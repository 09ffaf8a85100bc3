"""From ADT events to ward stays: one visit's admit, transfer and discharge events (and their cancels) folded
into the stays of its episode.

The stays are a function of the *set* of events a visit has had, never of the order they arrived in, so a late or
out-of-order message ends in the same stays as the same messages in order:
1. cancels are paired with what they cancel in the order the source system recorded them (EVN-2): a cancel
   admission (A11) takes the admission, a cancel transfer (A12) the latest transfer before it (to the location it
   names, if any), a cancel discharge (A13) the latest discharge before it; both leave the set. A cancel whose
   event has not arrived yet waits for it.
2. the events left are applied in the order they happened (EVN-6, PV1-44, PV1-45): an admission (A01, or A06 to
   an inpatient class) opens a stay, a transfer (A02) to another unit closes it and opens the next, a discharge
   (A03, or A07 to an outpatient class) closes it; an update (A08) corrects class, location, admission or
   discharge time; a leave of absence (A21) and the return from it (A22) change nothing, not even the admission
   type, the bed being held (their cancels, A52 and A53, are paired as the others are). An event that does not
   apply yet (a transfer of a visit not admitted, or already discharged) is kept and waits: a later message (the
   admission, a cancelled discharge) may make it apply.

A visit whose transfer or discharge happened before its admission cannot be made right by any later message in
the normal course: `Fold.early` names those events, and the listener refuses the message that brought them.

Times are local wall-clock (naive) timestamps; stays come out as local calendar dates, as the episode contract.
Pure: no I/O, nothing of the patient beyond the visit's events.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

import pandas as pd

__all__ = ["ADMITS", "CANCELS", "EVENTS", "LEAVES", "AdtEvent", "Fold", "fold", "stay_records", "stays_frame"]

# What each trigger event does, and its place among events at the same time.
EVENTS = {
    "A01": "admit",
    "A06": "to inpatient",
    "A02": "transfer",
    "A08": "update",
    "A21": "leave",
    "A22": "return",
    "A07": "to outpatient",
    "A03": "discharge",
    "A11": "cancel admit",
    "A12": "cancel transfer",
    "A13": "cancel discharge",
    "A52": "cancel leave",
    "A53": "cancel return",
}
RANK = {code: rank for rank, code in enumerate(EVENTS)}
ADMITS = ("A01", "A06")
# A cancel and the events it takes back.
CANCELS = {"A11": ("A01", "A06"), "A12": ("A02",), "A13": ("A03",), "A52": ("A21",), "A53": ("A22",)}
# A leave of absence (A21) and the return from it (A22) move no one: the patient's bed is held for them, so the
# stay goes on and they count in its census at every midnight of the leave.
LEAVES = ("A21", "A22")


@dataclass(frozen=True)
class AdtEvent:
    """One ADT message about one visit, as much of it as the stays need (nothing of PID).

    Attributes:
        control_id: MSH-10, the message's identity (ties between events break on it).
        event: the trigger event, `A01` … `A13`, `A21`, `A22`, `A52`, `A53`.
        at: when it happened (local time): the admission, transfer or discharge time; a cancel's or update's
            own time.
        recorded: when the source system recorded it (EVN-2, else MSH-7): the order cancels are paired in.
        unit: the unit of PV1-3 (the location the patient is in after the event), if any.
        prior_unit: the unit of PV1-6 (prior location): for a cancel transfer, the transfer taken back.
        inpatient: whether PV1-2 (patient class) is an inpatient class: only inpatients lie in beds.
        admission_type: `acute` or `elective` (PV1-4).
        admitted: PV1-44 (admit date/time), if given: an update (A08) corrects the admission time with it.
        discharged: PV1-45 (discharge date/time), if given.
    """

    control_id: str
    event: str
    at: datetime
    recorded: datetime
    unit: str | None
    prior_unit: str | None = None
    inpatient: bool = True
    admission_type: str = "acute"
    admitted: datetime | None = None
    discharged: datetime | None = None


@dataclass
class _Stay:
    unit: str
    start: datetime
    end: datetime | None = None


@dataclass
class Fold:
    """The stays of one visit (timestamps), the events waiting to apply, and the events that came before the
    admission (see the module's docstring)."""

    stays: list[_Stay] = field(default_factory=list)
    admission_type: str = "acute"
    waiting: list[str] = field(default_factory=list)
    early: list[str] = field(default_factory=list)


def _recorded_order(event: AdtEvent) -> tuple[datetime, int, str]:
    return (event.recorded, RANK[event.event], event.control_id)


def _uncancelled(events: Iterable[AdtEvent]) -> tuple[list[AdtEvent], list[str]]:
    """The events no cancel takes back, and the cancels still waiting for their event."""
    kept: list[AdtEvent] = []
    waiting = []
    for event in sorted(events, key=_recorded_order):
        if event.event not in CANCELS:
            kept.append(event)
            continue
        targets = CANCELS[event.event]
        matches = [
            i
            for i, e in enumerate(kept)
            if e.event in targets and (event.event != "A12" or not event.prior_unit or e.unit == event.prior_unit)
        ]
        if matches:
            del kept[matches[-1]]
        else:
            waiting.append(event.control_id)
    return kept, waiting


def fold(events: Sequence[AdtEvent]) -> Fold:
    """The stays of one visit from all its events (see the module's docstring)."""
    kept, waiting = _uncancelled(events)
    result = Fold(waiting=waiting)
    admitted = False  # an admission seen, whatever the class
    discharged = False
    inpatient = False
    for event in sorted(kept, key=lambda e: (e.at, RANK[e.event], e.recorded, e.control_id)):
        if event.event in LEAVES:
            continue
        stays = result.stays
        open_stay = stays[-1] if stays and stays[-1].end is None else None
        result.admission_type = event.admission_type
        kind = EVENTS[event.event]
        if kind in ("admit", "to inpatient"):
            if kind == "admit" and admitted and not discharged:
                _readmit(result, event)
            elif not admitted or (kind == "to inpatient" and not discharged and open_stay is None):
                admitted, inpatient = True, event.inpatient or kind == "to inpatient"
                if inpatient and event.unit:
                    stays.append(_Stay(event.unit, event.at))
            else:
                result.waiting.append(event.control_id)
        elif not admitted:
            if kind in ("transfer", "discharge", "to outpatient"):
                result.waiting.append(event.control_id)
        elif kind == "transfer":
            if discharged or (inpatient and open_stay is None):
                result.waiting.append(event.control_id)
            elif open_stay is not None and event.unit and event.unit != open_stay.unit:
                open_stay.end = event.at
                stays.append(_Stay(event.unit, event.at))
        elif kind in ("discharge", "to outpatient"):
            if discharged:
                result.waiting.append(event.control_id)
                continue
            if open_stay is not None:
                open_stay.end = event.discharged if kind == "discharge" and event.discharged else event.at
            discharged, inpatient = kind == "discharge", False
        elif kind == "update":
            inpatient = _update(result, event, inpatient, discharged)
    result.early = _early(result, events)
    return result


def _readmit(result: Fold, event: AdtEvent) -> None:
    """An admission repeated for a visit already admitted: it corrects the admission (time, unit) while no
    transfer has followed."""
    if len(result.stays) == 1 and event.unit:
        stay = result.stays[0]
        result.stays[0] = replace(stay, unit=event.unit, start=min(event.at, stay.end or event.at))


def _update(result: Fold, event: AdtEvent, inpatient: bool, discharged: bool) -> bool:
    """An update (A08): class, location, admission and discharge times as it gives them; the class after it."""
    stays = result.stays
    open_stay = stays[-1] if stays and stays[-1].end is None else None
    if event.admitted is not None and stays:
        first = stays[0]
        latest = first.end if first.end is not None else event.admitted
        first.start = min(event.admitted, latest)
    if event.discharged is not None and discharged and stays and stays[-1].end is not None:
        stays[-1].end = max(event.discharged, stays[-1].start)
    if discharged:
        return inpatient
    if open_stay is not None and not event.inpatient:
        open_stay.end = event.at
        return False
    if open_stay is None and event.inpatient and not inpatient and event.unit:
        stays.append(_Stay(event.unit, event.at))
        return True
    if open_stay is not None and event.unit and event.unit != open_stay.unit:
        open_stay.unit = event.unit  # a corrected location, not a move
    return inpatient or event.inpatient


def _early(result: Fold, events: Sequence[AdtEvent]) -> list[str]:
    """Transfers and discharges that happened before the visit's admission."""
    if not result.stays:
        return []
    start = result.stays[0].start
    return [
        e.control_id
        for e in events
        if e.control_id in result.waiting and EVENTS[e.event] in ("transfer", "discharge") and e.at < start
    ]


def stay_records(result: Fold, episode_id: str) -> list[dict[str, object]]:
    """The visit's stays as the stays store's rows: local calendar dates.

    A patient back in a unit the same day they left it keeps one stay there: the day's stays in between hold no
    midnight (they are left out).
    """
    dated: list[list[object]] = []
    for stay in result.stays:
        start, end = stay.start.date(), stay.end.date() if stay.end is not None else None
        same = [i for i, (unit, begun, _) in enumerate(dated) if unit == stay.unit and begun == start]
        if same:
            dated = dated[: same[0] + 1]
            dated[-1][2] = end
        else:
            dated.append([stay.unit, start, end])
    return [
        {
            "episode_id": episode_id,
            "unit": unit,
            "admitted_at": start,
            "discharged_at": end,
            "admission_type": result.admission_type,
            "hospital": None,
            "region": None,
        }
        for unit, start, end in dated
    ]


def stays_frame(result: Fold, episode_id: str) -> pd.DataFrame:
    """`stay_records` in the episode contract's columns."""
    columns = ["episode_id", "unit", "admitted_at", "discharged_at", "admission_type"]
    frame = pd.DataFrame(stay_records(result, episode_id), columns=[*columns, "hospital", "region"])[columns]
    for column in ("admitted_at", "discharged_at"):
        frame[column] = pd.to_datetime(frame[column])
    return frame
