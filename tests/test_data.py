"""Ingestion: validation errors name the row and field; the census from episodes is a hand count."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from forecast.data import InputError, ingest, ingest_file, read_table, unit_summary
from tests.conftest import SHARED_DATA as SHARED

HDHI = SHARED / "hdhi" / "episodes.csv"
UIHC = SHARED / "uihc_ed" / "daily.csv"

EPISODES = """episode_id,unit,admitted_at,discharged_at,admission_type
E1,ward_a,2024-01-01,2024-01-03,acute
E2,ward_a,2024-01-01,2024-01-01,elective
E3,ward_a,2024-01-02,,acute
E4,ward_a,2024-01-04,2024-01-05,elective
E5,ward_b,2024-01-02,2024-01-04,acute
"""


def table(text: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)


def problems_of(text: str, **kwargs) -> list[str]:
    with pytest.raises(InputError) as caught:
        ingest(table(text), **kwargs)
    return [str(p) for p in caught.value.problems]


def test_census_equals_a_hand_count():
    daily = ingest(table(EPISODES)).daily.set_index(["unit", "date"])
    a = daily.loc["ward_a"]
    # E1 in bed the nights of 1 and 2 Jan; E2 is a same-day stay (no night); E3 stays from 2 Jan to the end;
    # E4 one night (4 Jan). The extract ends on the last admission day, 4 Jan.
    assert a["census"].tolist() == [1, 2, 1, 2]
    assert a["admissions"].tolist() == [2, 1, 0, 1]
    assert a["admissions_acute"].tolist() == [1, 1, 0, 0]
    assert a["admissions_elective"].tolist() == [1, 0, 0, 1]
    assert a["discharges"].tolist() == [1, 0, 1, 0]
    b = daily.loc["ward_b"]
    # ward_b starts on its first admission and is zero-filled to the end of the extract.
    assert b.index.strftime("%Y-%m-%d").tolist() == ["2024-01-02", "2024-01-03", "2024-01-04"]
    assert b["census"].tolist() == [1, 1, 0]
    assert b["admissions"].tolist() == [1, 0, 0]


def test_every_day_present_and_open_stays_counted():
    result = ingest(table(EPISODES))
    assert result.open_stays == 1
    for _, group in result.daily.groupby("unit"):
        assert (group["date"].diff().dropna() == pd.Timedelta(days=1)).all()


def test_census_invariant_to_row_order():
    raw = table(EPISODES)
    shuffled = raw.sample(frac=1, random_state=3).reset_index(drop=True)
    pd.testing.assert_frame_equal(ingest(raw).daily, ingest(shuffled).daily)


def test_missing_columns_named():
    messages = problems_of("episode_id,unit,admitted_at\nE1,a,2024-01-01\n")
    assert any("discharged_at" in m and "missing column" in m for m in messages)
    assert any("admission_type" in m for m in messages)


def test_unparseable_date_names_row_and_field():
    text = EPISODES.replace("E3,ward_a,2024-01-02", "E3,ward_a,2024-13-45")
    assert problems_of(text) == [
        "row 3, field admitted_at (episode_id E3): not an ISO date or timestamp (YYYY-MM-DD[ HH:MM[:SS][+HH:MM]])"
    ]


def test_discharge_before_admission_names_row_without_the_rest_of_the_row():
    text = EPISODES.replace("E4,ward_a,2024-01-04,2024-01-05", "E4,ward_a,2024-01-04,2024-01-02")
    (message,) = problems_of(text)
    assert message == "row 4, field discharged_at (episode_id E4): discharge is before admission"
    assert "2024-01-02" not in message and "ward_a" not in message


def test_unknown_admission_type():
    text = EPISODES.replace("2024-01-05,elective", "2024-01-05,urgent")
    (message,) = problems_of(text)
    assert message.startswith("row 4, field admission_type (episode_id E4): admission_type must be one of")


def test_admission_type_case_and_spaces_are_forgiven():
    text = EPISODES.replace("2024-01-05,elective", "2024-01-05, Elective ")
    assert ingest(table(text)).daily["admissions_elective"].sum() == 2


def test_repeated_stay_with_different_content_is_an_error():
    text = EPISODES + "E1,ward_a,2024-01-01,2024-01-04,acute\n"
    messages = problems_of(text)
    repeated = "the same stay (episode_id, unit, admission day) repeated with different content (rows 1, 6)"
    assert messages == [
        f"row 1, field episode_id (episode_id E1): {repeated}",
        f"row 6, field episode_id (episode_id E1): {repeated}",
    ]


# An intensive-care patient moves on to ward_a on 3 Jan, then to ward_b on 5 Jan; another goes home from ICU.
WARD_STAYS = """episode_id,unit,admitted_at,discharged_at,admission_type
T1,icu,2024-01-01,2024-01-03,acute
T1,ward_a,2024-01-03,2024-01-05,acute
T1,ward_b,2024-01-05,,acute
T2,icu,2024-01-02,2024-01-04,elective
"""


def test_ward_stays_count_the_patient_where_they_lie_at_midnight():
    result = ingest(table(WARD_STAYS))
    daily = result.daily.set_index(["unit", "date"])
    days = ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"]
    icu = daily.loc["icu"].reindex(pd.DatetimeIndex(days)).fillna(0)
    # T1 in icu the nights of 1 and 2 Jan, T2 the nights of 2 and 3 Jan.
    assert icu["census"].tolist() == [1, 2, 1, 0, 0]
    assert icu["admissions"].tolist() == [1, 1, 0, 0, 0]
    assert icu["transfers_out"].tolist() == [0, 0, 1, 0, 0]
    assert icu["discharges"].tolist() == [0, 0, 0, 1, 0]
    ward_a = daily.loc["ward_a"]
    assert ward_a.index.strftime("%Y-%m-%d").tolist() == days[2:]
    assert ward_a["census"].tolist() == [1, 1, 0]
    assert ward_a["admissions"].tolist() == [0, 0, 0]  # transfers in are arrivals, not admissions
    assert ward_a["transfers_in"].tolist() == [1, 0, 0]
    assert daily.loc["ward_b"]["census"].tolist() == [1]
    # One patient in bed each night counts once, whatever unit they lie in.
    assert result.daily.groupby("date")["census"].sum().tolist() == [1, 2, 2, 1, 1]
    assert "2 transfer(s) between units: counted where the patient lies each midnight" in result.report()


def test_ward_stays_invariant_to_row_order():
    raw = table(WARD_STAYS)
    shuffled = raw.sample(frac=1, random_state=5).reset_index(drop=True)
    pd.testing.assert_frame_equal(ingest(raw).daily, ingest(shuffled).daily)


def test_overlapping_stays_are_refused_naming_both_rows():
    text = WARD_STAYS.replace("T1,ward_a,2024-01-03", "T1,ward_a,2024-01-02")
    assert problems_of(text) == [
        "row 1, field admitted_at (episode_id T1): overlaps another stay of the same episode (row 2): "
        "stays of one episode follow each other",
        "row 2, field admitted_at (episode_id T1): overlaps another stay of the same episode (row 1): "
        "stays of one episode follow each other",
    ]


def test_a_stay_after_an_open_stay_is_out_of_order():
    text = WARD_STAYS.replace("T1,ward_a,2024-01-03,2024-01-05", "T1,ward_a,2024-01-03,")
    messages = problems_of(text)
    assert messages == [
        "row 2, field admitted_at (episode_id T1): out of order: it begins after a stay of the same episode that "
        "has no discharge (row 3)",
        "row 3, field admitted_at (episode_id T1): out of order: it begins after a stay of the same episode that "
        "has no discharge (row 2)",
    ]
    assert not any("2024" in m or "ward" in m for m in messages)


def test_lenient_sets_aside_the_stays_out_of_sequence():
    text = WARD_STAYS.replace("T1,ward_a,2024-01-03", "T1,ward_a,2024-01-02")
    result = ingest(table(text), lenient=True)
    assert result.rejects["row"].tolist() == [1, 2]
    assert set(result.daily["unit"]) == {"icu", "ward_b"}


def test_a_gap_between_stays_is_kept_and_warned_about():
    text = WARD_STAYS.replace("T1,ward_a,2024-01-03,2024-01-05", "T1,ward_a,2024-01-03,2024-01-04")
    text = text.replace("T2,icu,2024-01-02,2024-01-04", "T2,icu,2024-01-02,2024-01-06")
    result = ingest(table(text))
    (warning,) = result.warnings
    assert (warning.row, warning.field, warning.episode_id) == (3, "admitted_at", "T1")
    assert "a leave, or a stay missing?" in warning.message


def test_exact_repeats_are_dropped_and_counted():
    text = EPISODES + "E1,ward_a,2024-01-01,2024-01-03,acute\nE5,ward_b,2024-01-02,2024-01-04,acute\n"
    result = ingest(table(text))
    assert result.exact_duplicates == 2
    assert "dropped 2 exact duplicate row(s)" in result.report()
    pd.testing.assert_frame_equal(result.daily, ingest(table(EPISODES)).daily)


def test_timestamps_with_time_zones_become_stockholm_dates():
    text = """episode_id,unit,admitted_at,discharged_at,admission_type
W1,a,2024-03-01T23:30:00Z,2024-03-03T10:00:00+01:00,acute
S1,a,2024-07-01T22:30:00Z,2024-07-05 08:00,acute
S2,a,2024-07-01T21:30:00+00:00,2024-07-02T09:00:00,acute
"""
    daily = ingest(table(text)).daily.set_index("date")
    # 23:30 UTC on 1 March is 00:30 on 2 March in Stockholm (UTC+1); in July 22:30 UTC is 00:30 (UTC+2).
    assert daily.index.min() == pd.Timestamp("2024-03-02")
    assert daily.loc["2024-03-02", "admissions"] == 1
    assert daily.loc["2024-07-02", "admissions"] == 1
    assert daily.loc["2024-07-01", "admissions"] == 1


def test_time_zone_is_configurable():
    text = "episode_id,unit,admitted_at,discharged_at,admission_type\nX,a,2024-03-01T23:30:00Z,,acute\n"
    assert ingest(table(text), timezone="America/Chicago").daily["date"].min() == pd.Timestamp("2024-03-01")


def test_lenient_sets_bad_rows_aside():
    text = EPISODES.replace("E4,ward_a,2024-01-04,2024-01-05", "E4,ward_a,2024-01-04,2024-01-02")
    result = ingest(table(text), lenient=True)
    assert result.rejects["row"].tolist() == [4]
    assert result.rejects["episode_id"].tolist() == ["E4"]
    assert "discharge is before admission" in result.rejects["problem"].iloc[0]
    assert result.daily["admissions"].sum() == 4
    assert "rejected 1 row(s) (see the rejects file)" in result.report()


def test_warmup_marks_the_start_of_the_extract():
    rng = np.random.default_rng(1)
    days = pd.date_range("2024-01-01", periods=200, freq="D")
    admitted = rng.choice(days, size=3000)
    stay = rng.geometric(1 / 6, size=3000)
    frame = pd.DataFrame(
        {
            "episode_id": [f"P{i}" for i in range(3000)],
            "unit": "ward",
            "admitted_at": pd.to_datetime(admitted).strftime("%Y-%m-%d"),
            "discharged_at": (pd.to_datetime(admitted) + pd.to_timedelta(stay, unit="D")).strftime("%Y-%m-%d"),
            "admission_type": "acute",
        }
    )
    daily = ingest(frame).daily
    warm = int(daily["warmup"].sum())
    # Geometric stays with mean 6: Σ_{j>t} S(j)/Σ S(j) = (5/6)^(t+1) < 1 % from t = 25.
    assert 20 <= warm <= 30
    assert daily["warmup"].iloc[:warm].all() and not daily["warmup"].iloc[warm:].any()


def test_daily_counts_bad_values_named():
    text = """unit,date,admissions,census
a,2024-01-01,3,10
a,2024-01-02,-1,11
a,2024-01-03,2.5,12
a,2024-01-04,x,12
a,2024-01-04,1,12
a,2024-01-05,1,
"""
    messages = problems_of(text)
    assert "row 2, field admissions: must be a whole number ≥ 0" in messages
    assert "row 3, field admissions: must be a whole number ≥ 0" in messages
    assert "row 4, field admissions: must be a whole number ≥ 0" in messages
    assert "row 6, field census: must be a whole number ≥ 0" in messages
    assert "row 5, field date: (a, 2024-01-04) appears more than once (rows 4, 5)" in messages


def test_daily_counts_gaps_fail_or_are_filled_when_lenient():
    text = "unit,date,admissions\na,2024-01-01,2\na,2024-01-04,8\n"
    (message,) = problems_of(text)
    assert message == "input, field date: unit a has no row for 2 day(s): 2024-01-02, 2024-01-03"
    result = ingest(table(text), lenient=True)
    assert result.daily["admissions"].tolist() == [2, 4, 6, 8]
    assert result.filled_days == 2


def test_parquet_with_aware_timestamps(tmp_path):
    frame = pd.DataFrame(
        {
            "episode_id": ["A", "B"],
            "unit": ["icu", "icu"],
            "admitted_at": pd.to_datetime(["2024-02-01 23:30", "2024-02-02 08:00"]).tz_localize("UTC"),
            "discharged_at": pd.to_datetime(["2024-02-04 10:00", None]).tz_localize("UTC"),
            "admission_type": ["acute", "elective"],
        }
    )
    path = tmp_path / "episodes.parquet"
    frame.to_parquet(path)
    daily = ingest_file(path).daily
    assert daily["date"].tolist() == [pd.Timestamp("2024-02-02")]
    assert daily["admissions"].tolist() == [2]
    assert daily["census"].tolist() == [2]


def test_hdhi_mean_census_after_warmup_is_about_108():
    result = ingest_file(HDHI)
    daily = result.daily
    settled = daily[~daily["warmup"]]
    assert settled["date"].min() == pd.Timestamp("2017-04-01") + pd.Timedelta(days=result.warmup["cardiology"])
    # The source says census is complete from about 2017-05-01.
    assert abs((settled["date"].min() - pd.Timestamp("2017-05-01")).days) <= 10
    assert settled["census"].mean() == pytest.approx(108, abs=2)
    assert daily.loc[daily["date"] >= "2017-05-01", "census"].mean() == pytest.approx(108, abs=2)
    assert daily["admissions"].mean() == pytest.approx(19.7, abs=1.5)


def test_uihc_daily_counts_keep_the_event_column():
    daily = ingest_file(UIHC).daily
    assert len(daily) == 1735
    assert daily["football_home_game"].sum() > 0
    assert daily["arrivals"].dtype == np.int64


def test_unit_summary_against_beds():
    daily = ingest(table(EPISODES)).daily
    summary = unit_summary(daily, pd.Series({"ward_a": 4})).set_index("unit")
    settled = daily[(daily["unit"] == "ward_a") & ~daily["warmup"]]
    assert summary.loc["ward_a", "days"] == len(settled) > 0
    assert summary.loc["ward_a", "mean_census"] == pytest.approx(settled["census"].mean(), abs=0.05)
    assert summary.loc["ward_a", "mean_occupancy"] == pytest.approx(settled["census"].mean() / 4, abs=0.01)
    assert pd.isna(summary.loc["ward_b", "beds"])


def test_read_table_keeps_csv_values_as_text(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("unit,date,admissions\na,2024-01-01,007\n")
    assert read_table(path)["admissions"].tolist() == ["007"]
