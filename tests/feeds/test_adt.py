"""A visit's ADT events fold into its ward stays whatever order the messages arrive in; cancels take back what
they cancel; a transfer or discharge before the admission is named."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

import pandas as pd
import pytest

from forecast.feeds.adt import AdtEvent, fold, stay_records, stays_frame

DAY = datetime(2026, 3, 2, 8, 0)


def event(control_id: str, code: str, hours: float, unit: str | None = None, **fields) -> AdtEvent:
    at = DAY + timedelta(hours=hours)
    return AdtEvent(control_id, code, at, fields.pop("recorded", at), unit, **fields)


def stays(events) -> list[tuple[str, str, str | None]]:
    return [
        (s["unit"], f"{s['admitted_at']:%m-%d}", f"{s['discharged_at']:%m-%d}" if s["discharged_at"] else None)
        for s in stay_records(fold(events), "v:1")
    ]


ICU_THEN_MEDICINE = [
    event("1", "A01", 0, "icu"),
    event("2", "A02", 30, "medicine", prior_unit="icu"),
    event("3", "A03", 100, "medicine"),
]


def test_admit_transfer_discharge_make_two_stays():
    assert stays(ICU_THEN_MEDICINE) == [("icu", "03-02", "03-03"), ("medicine", "03-03", "03-06")]


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_any_arrival_order_ends_in_the_same_stays(order):
    assert stays([ICU_THEN_MEDICINE[i] for i in order]) == stays(ICU_THEN_MEDICINE)


def test_a_discharge_cancelled_after_the_next_transfer_arrived():
    # Discharged by mistake on day 2, the discharge cancelled on day 3 (A13), moved to surgery on day 4: the
    # cancel reaches us last of all.
    events = [
        event("1", "A01", 0, "icu"),
        event("2", "A03", 30, "icu"),
        event("4", "A02", 75, "surgery"),
        event("3", "A13", 50, "icu"),
    ]
    in_order = stays(sorted(events, key=lambda e: e.control_id))
    assert in_order == [("icu", "03-02", "03-05"), ("surgery", "03-05", None)]
    for order in itertools.permutations(events):
        assert stays(list(order)) == in_order


def test_a_cancelled_transfer_leaves_the_patient_where_they_were():
    events = [
        event("1", "A01", 0, "icu"),
        event("2", "A02", 30, "medicine"),
        event("3", "A12", 31, "icu", prior_unit="medicine"),
    ]
    assert stays(events) == [("icu", "03-02", None)]
    assert stays(events[:2]) == [("icu", "03-02", "03-03"), ("medicine", "03-03", None)]


def test_a_cancel_waits_for_the_event_it_cancels():
    cancel = event("3", "A11", 40, "icu")
    assert fold([cancel]).waiting == ["3"]
    assert stays([cancel, event("1", "A01", 0, "icu")]) == []


def test_a_cancelled_admission_has_no_stays_and_a_new_one_begins_again():
    events = [event("1", "A01", 0, "icu"), event("2", "A11", 2), event("3", "A01", 5, "medicine")]
    assert stays(events) == [("medicine", "03-02", None)]


def test_outpatient_to_inpatient_and_back():
    events = [
        event("1", "A01", 0, "emergency", inpatient=False),
        event("2", "A06", 20, "medicine"),
        event("3", "A07", 60, "clinic", inpatient=False),
    ]
    assert stays(events) == [("medicine", "03-03", "03-04")]
    assert stays(events[:1]) == []


def test_an_update_corrects_location_and_times():
    events = [
        event("1", "A01", 0, "icu"),
        event("2", "A08", 5, "medicine", admitted=DAY - timedelta(days=1)),
    ]
    assert stays(events) == [("medicine", "03-01", None)]
    discharged = [*events, event("3", "A03", 50, "medicine"), event("4", "A08", 60, discharged=DAY + timedelta(days=4))]
    assert stays(discharged) == [("medicine", "03-01", "03-06")]


def test_a_transfer_to_the_same_unit_is_no_move():
    assert stays([event("1", "A01", 0, "icu"), event("2", "A02", 3, "icu")]) == [("icu", "03-02", None)]


def test_back_in_a_unit_the_same_day_keeps_one_stay():
    events = [event("1", "A01", 0, "icu"), event("2", "A02", 2, "medicine"), event("3", "A02", 4, "icu")]
    assert stays(events) == [("icu", "03-02", None)]


def test_a_discharge_before_the_admission_is_named_early():
    events = [event("1", "A01", 10, "icu"), event("2", "A03", 2, "icu")]
    result = fold(events)
    assert result.early == ["2"]
    # A discharge that waits for its admission is not early (the admission may arrive later).
    assert fold(events[1:]).early == []


def test_a_transfer_after_the_discharge_waits():
    events = [event("1", "A01", 0, "icu"), event("2", "A03", 10, "icu"), event("3", "A02", 20, "medicine")]
    result = fold(events)
    assert result.waiting == ["3"] and result.early == []
    assert stays(events) == [("icu", "03-02", "03-02")]


def test_the_frame_has_the_episode_contract():
    frame = stays_frame(fold(ICU_THEN_MEDICINE), "v:1")
    assert list(frame.columns) == ["episode_id", "unit", "admitted_at", "discharged_at", "admission_type"]
    assert frame["admitted_at"].tolist() == [pd.Timestamp("2026-03-02"), pd.Timestamp("2026-03-03")]


def test_a_leave_of_absence_keeps_the_bed_whatever_the_order():
    # On leave over two midnights (A21 day 1, A22 day 3), a second leave cancelled (A52), a return cancelled and
    # sent again (A53): the bed is held throughout, so the stays are those without the leave events; an elective
    # admission stays elective though the leave messages carry no admission type.
    plain = [
        event("1", "A01", 0, "icu", admission_type="elective"),
        event("9", "A03", 150, "icu", admission_type="elective"),
    ]
    leaves = [
        event("2", "A21", 20, "icu"),
        event("3", "A22", 70, "icu"),
        event("4", "A21", 80, "icu"),
        event("5", "A52", 81, "icu"),
        event("6", "A22", 90, "icu"),
        event("7", "A53", 91, "icu"),
    ]
    expected = stays(plain)
    assert expected == [("icu", "03-02", "03-08")]
    for order in itertools.permutations(leaves[:4] + plain):
        result = fold(list(order))
        assert stays(list(order)) == expected and result.admission_type == "elective"
    assert stays(plain + leaves) == expected
    assert fold(plain + leaves).waiting == []  # each cancel found its leave or return
    assert fold([*plain, event("8", "A53", 100, "icu")]).waiting == ["8"]  # a cancelled return not yet received
    assert fold([plain[0], *leaves[:2]]).admission_type == "elective"  # on leave from an elective admission
