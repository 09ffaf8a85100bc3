"""Length of stay (forecast/los.py): Kaplan–Meier curves with open stays, warm-up, and the curves a model
keeps (never one resting on fewer than 20 stays)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast.los import MIN_STAYS, stored_curves, survival_at, survival_curve, warmup_days


def test_survival_curve_without_censoring_is_the_empirical_tail():
    days = np.array([0, 1, 1, 2, 4])
    survival = survival_curve(days, np.ones(5, dtype=bool))
    # P(LOS > k) for k = 0..4: 4/5, 2/5, 1/5, 1/5, 0
    np.testing.assert_allclose(survival[:5], [0.8, 0.4, 0.2, 0.2, 0.0])


def test_open_stays_are_censored_not_dropped():
    # Two closed stays of 1 day and two stays still open after 3 days: dropping the open ones would say
    # nobody stays past day 1; Kaplan-Meier keeps half the patients beyond day 3.
    survival = survival_curve(np.array([1, 1, 3, 3]), np.array([True, True, False, False]))
    assert survival[0] == 1.0
    assert survival[1] == pytest.approx(0.5)
    assert survival[3] == pytest.approx(0.5)


def test_warmup_days_from_the_survival_curve():
    # S(k) = 0.5^(k+1): the missing share on day t is Σ_{j>t} S(j) / Σ S(j) ≈ 0.5^(t+1), below 1 % from t = 6.
    survival = 0.5 ** np.arange(1, 40)
    assert warmup_days(survival, 0.01) == 6
    assert warmup_days(np.zeros(0)) == 0


END = pd.Timestamp("2024-06-30")


def stays(unit: str, n: int, days: int, kind: str = "acute", hospital: str | None = None) -> pd.DataFrame:
    """`n` closed stays of `days` days each in `unit`, admitted on consecutive days from 1 March."""
    admitted = pd.date_range("2024-03-01", periods=n, freq="D")
    frame = pd.DataFrame(
        {
            "unit": unit,
            "admitted_at": admitted,
            "discharged_at": admitted + pd.Timedelta(days=days),
            "admission_type": kind,
        }
    )
    return frame if hospital is None else frame.assign(hospital=hospital)


def curve_of(curves: pd.DataFrame, unit: str, kind: str = "acute") -> tuple[str, np.ndarray]:
    rows = curves[(curves["unit"] == unit) & (curves["admission_type"] == kind)]
    assert rows["source"].nunique() == 1
    return str(rows["source"].iloc[0]), rows.sort_values("day")["survival"].to_numpy()


def test_a_unit_with_enough_stays_keeps_its_own_curve():
    episodes = pd.concat([stays("big", MIN_STAYS, 3), stays("other", 40, 9)], ignore_index=True)
    source, curve = curve_of(stored_curves(episodes, END), "big")
    assert source == "unit"
    np.testing.assert_allclose(curve, survival_at(episodes[episodes["unit"] == "big"], END))


def test_a_small_unit_keeps_its_hospitals_pooled_curve():
    episodes = pd.concat(
        [
            stays("tiny", MIN_STAYS - 1, 2, hospital="visby"),
            stays("ward", 30, 6, hospital="visby"),
            stays("far", 50, 12, hospital="elsewhere"),
        ],
        ignore_index=True,
    )
    curves = stored_curves(episodes, END)
    source, curve = curve_of(curves, "tiny")
    assert source == "hospital"
    np.testing.assert_allclose(curve, survival_at(episodes[episodes["hospital"] == "visby"], END))
    own = survival_at(episodes[episodes["unit"] == "tiny"], END)
    assert not np.allclose(curve[: len(own)], own)  # nothing of the tiny unit's own steps is stored
    assert curve_of(curves, "ward")[0] == "unit" and curve_of(curves, "far")[0] == "unit"


def test_without_a_hospital_or_with_a_small_one_all_units_are_pooled():
    episodes = pd.concat([stays("tiny", 5, 2), stays("ward", 30, 6)], ignore_index=True)
    source, curve = curve_of(stored_curves(episodes, END), "tiny")
    assert source == "all"
    np.testing.assert_allclose(curve, survival_at(episodes, END))
    # A hospital of its own with too few stays: still all units.
    hospitals = {"tiny": "cottage", "ward": "central"}
    assert curve_of(stored_curves(episodes, END, hospitals), "tiny")[0] == "all"


def test_the_hospitals_given_are_used_over_the_episodes_column():
    episodes = pd.concat(
        [stays("tiny", 3, 2, hospital="a"), stays("ward", 30, 6, hospital="b"), stays("more", 30, 1, hospital="b")],
        ignore_index=True,
    )
    assert curve_of(stored_curves(episodes, END), "tiny")[0] == "all"
    source, curve = curve_of(stored_curves(episodes, END, {"tiny": "b", "ward": "b", "more": "x"}), "tiny")
    assert source == "hospital"
    np.testing.assert_allclose(curve, survival_at(episodes[episodes["unit"] != "more"], END))


def test_each_admission_type_is_pooled_on_its_own():
    episodes = pd.concat(
        [stays("ward", 25, 4), stays("ward", 3, 1, kind="elective"), stays("other", 30, 2, kind="elective")],
        ignore_index=True,
    )
    curves = stored_curves(episodes, END)
    assert curve_of(curves, "ward", "acute")[0] == "unit"
    assert curve_of(curves, "ward", "elective")[0] == "all"
    assert curve_of(curves, "other", "elective")[0] == "unit"
    assert set(curves.loc[curves["unit"] == "other", "admission_type"]) == {"elective"}


def test_fewer_stays_than_the_least_in_all_units_keep_no_curve():
    curves = stored_curves(stays("tiny", MIN_STAYS - 1, 2), END)
    assert curves.empty and list(curves.columns) == ["unit", "admission_type", "day", "survival", "source"]


def test_only_stays_admitted_by_the_end_count():
    late = stays("ward", 5, 1).assign(admitted_at=END + pd.Timedelta(days=1))
    episodes = pd.concat([stays("ward", MIN_STAYS - 1, 3), late, stays("other", 30, 5)], ignore_index=True)
    assert curve_of(stored_curves(episodes, END), "ward")[0] == "all"


def test_no_stored_curve_rests_on_fewer_stays_than_the_least():
    rng = np.random.default_rng(3)
    frames = [
        stays(f"u{i}", int(n), int(d), hospital=f"h{i % 3}")
        for i, (n, d) in enumerate(zip(rng.integers(1, 45, 12), rng.integers(1, 15, 12), strict=True))
    ]
    episodes = pd.concat(frames, ignore_index=True)
    curves = stored_curves(episodes, END)
    counts = episodes.groupby("unit").size()
    hospital_counts = episodes.groupby("hospital").size()
    for unit, rows in curves.groupby("unit"):
        source = rows["source"].iloc[0]
        resting_on = {
            "unit": counts[unit],
            "hospital": hospital_counts[episodes.loc[episodes["unit"] == unit, "hospital"].iloc[0]],
            "all": len(episodes),
        }[source]
        assert resting_on >= MIN_STAYS
        assert (source == "unit") == (counts[unit] >= MIN_STAYS)
