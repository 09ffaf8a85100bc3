"""The demo hospital: deterministic, Swedish calendar, and its tourism effect is there to be found."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast.data import ingest
from forecast.demo import DEFAULT_UNITS, generate_demo_hospital
from forecast.features import holiday_dates


@pytest.fixture(scope="module")
def hospital():
    return generate_demo_hospital()


def test_same_seed_same_hospital_other_seed_other_hospital():
    a = generate_demo_hospital(seed=3, start="2024-01-01", end="2024-06-30")
    b = generate_demo_hospital(seed=3, start="2024-01-01", end="2024-06-30")
    c = generate_demo_hospital(seed=4, start="2024-01-01", end="2024-06-30")
    pd.testing.assert_frame_equal(a.episodes, b.episodes)
    pd.testing.assert_frame_equal(a.guest_nights, b.guest_nights)
    assert not a.episodes.equals(c.episodes)


def test_units_and_span(hospital):
    names = set(hospital.units["unit"])
    assert {"internal_medicine", "surgery", "orthopaedics", "intensive_care", "psychiatry", "discharge_ward"} <= names
    span = hospital.episodes["admitted_at"].max() - hospital.episodes["admitted_at"].min()
    assert span.days >= 5 * 365 - 1
    assert (hospital.units["beds"] > 0).all()


def test_episode_contract(hospital):
    e = hospital.episodes
    assert list(e.columns) == [
        "episode_id",
        "unit",
        "admitted_at",
        "discharged_at",
        "admission_type",
        "hospital",
        "region",
    ]
    assert e["episode_id"].is_unique
    assert set(e["admission_type"]) == {"acute", "elective"}
    closed = e["discharged_at"].notna()
    assert (e.loc[closed, "discharged_at"] >= e.loc[closed, "admitted_at"]).all()
    assert (e.loc[closed, "discharged_at"] <= pd.Timestamp("2025-12-31")).all()
    assert 0 < (~closed).sum() < 500  # patients still in bed at the extract date
    # It ingests without a single problem.
    assert ingest(e).rows_read == len(e)


def test_electives_on_weekdays_only_and_shut_in_summer(hospital):
    elective = hospital.episodes[hospital.episodes["admission_type"] == "elective"]["admitted_at"]
    assert (elective.dt.dayofweek < 5).all()
    holidays = pd.DatetimeIndex(list(holiday_dates(range(2021, 2026), "SE")))
    assert not elective.isin(holidays).any()
    week = elective.dt.isocalendar().week
    assert (week.between(28, 32)).sum() * 4 < week.between(20, 24).sum()


def test_tourism_lift_is_recovered_from_acute_admissions(hospital):
    acute = hospital.episodes[hospital.episodes["admission_type"] == "acute"]
    per_day = acute.groupby("admitted_at").size().reindex(hospital.guest_nights["date"], fill_value=0)
    days = pd.DatetimeIndex(per_day.index)
    # Least squares of daily acute admissions on guest nights, weekday dummies and the winter months.
    x = np.column_stack(
        [
            hospital.guest_nights["guest_nights"].to_numpy(float) / 1000,
            *[(days.dayofweek == k).astype(float) for k in range(7)],
            np.isin(days.month, [12, 1, 2, 3]).astype(float),
        ]
    )
    coef, *_ = np.linalg.lstsq(x, per_day.to_numpy(float), rcond=None)
    true_lift = hospital.truth["acute_per_1000_guest_nights"].sum()
    assert coef[0] == pytest.approx(true_lift, rel=0.25)
    by_month = per_day.groupby(days.month).mean()
    assert by_month[7] > 1.08 * max(by_month[5], by_month[10])


def test_length_of_stay_and_winter_peak(hospital):
    truth = hospital.truth.set_index("unit")
    assert truth.loc["internal_medicine", "los_mean"] == pytest.approx(5, abs=0.5)
    assert truth.loc["orthopaedics", "los_mean"] == pytest.approx(2, abs=0.5)
    medicine = hospital.episodes[
        (hospital.episodes["unit"] == "internal_medicine") & (hospital.episodes["admission_type"] == "acute")
    ]
    per_month = medicine.groupby(medicine["admitted_at"].dt.month).size()
    assert per_month[1] > 1.15 * max(per_month[5], per_month[9])


def test_profiles_document_beds_for_every_unit():
    assert all(u.beds > 0 and u.los_mean > 0 for u in DEFAULT_UNITS)


def test_transfers_add_ward_stays_and_leave_the_rest_as_it_was():
    plain = generate_demo_hospital(start="2024-01-01", end="2024-12-31")
    moved = generate_demo_hospital(start="2024-01-01", end="2024-12-31", transfers=True)
    # Every episode of the hospital without transfers is there, its first stay as it was.
    first = moved.episodes.drop_duplicates("episode_id").set_index("episode_id").sort_index()
    pd.testing.assert_frame_equal(first, plain.episodes.set_index("episode_id").sort_index())
    onward = moved.episodes[moved.episodes["episode_id"].duplicated()]
    assert set(onward["unit"]) == {"internal_medicine", "surgery"}
    icu = plain.episodes[(plain.episodes["unit"] == "intensive_care") & plain.episodes["discharged_at"].notna()]
    assert 0.5 < len(onward) / len(icu) < 0.7
    # The ward stay begins the day the intensive-care stay ends.
    came_from = plain.episodes.set_index("episode_id").loc[onward["episode_id"]]
    assert (came_from["unit"] == "intensive_care").all()
    assert (onward["admitted_at"].to_numpy() == came_from["discharged_at"].to_numpy()).all()
