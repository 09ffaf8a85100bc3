"""The flow model: census from admissions × length of stay plus the patients already in bed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast.census import InBed, flow_census, in_bed_at
from forecast.los import survival_at, survival_curve


def test_steady_state_census_is_arrivals_times_mean_stay():
    # Little's law: with constant arrivals λ and no one in bed, the census settles at λ·E[LOS] = λ·Σ S(k).
    rng = np.random.default_rng(0)
    stays = rng.geometric(1 / 5, size=20000) - 1
    survival = survival_curve(stays, np.ones(stays.size, dtype=bool))
    mean, variance = flow_census(np.full(200, 10.0), survival, InBed(np.zeros(0, int), np.zeros(0)))
    assert mean[-1] == pytest.approx(10 * survival.sum(), rel=1e-6)
    assert mean[-1] == pytest.approx(10 * stays.mean(), rel=0.02)
    # New arrivals only: the census is Poisson, its variance equals its mean.
    np.testing.assert_allclose(variance, mean)
    assert mean[0] == pytest.approx(10 * survival[0])


def test_patients_in_bed_leave_by_the_conditional_survival():
    survival = np.array([1.0, 0.5, 0.25, 0.0])
    in_bed = InBed(np.array([0, 1]), np.array([4.0, 2.0]))
    mean, variance = flow_census(np.zeros(3), survival, in_bed)
    # Admitted today (a=0): still there tomorrow with S(1)/S(0) = 0.5; a=1: S(2)/S(1) = 0.5.
    assert mean.tolist() == pytest.approx([4 * 0.5 + 2 * 0.5, 4 * 0.25 + 0.0, 0.0])
    assert variance[0] == pytest.approx(4 * 0.25 + 2 * 0.25)


def test_in_bed_and_survival_know_only_the_past():
    episodes = pd.DataFrame(
        {
            "admitted_at": pd.to_datetime(["2024-01-01", "2024-01-03", "2024-01-05", "2024-01-06"]),
            "discharged_at": pd.to_datetime(["2024-01-02", "2024-01-10", None, "2024-01-07"]),
        }
    )
    origin = pd.Timestamp("2024-01-05")
    in_bed = in_bed_at(episodes, origin)
    assert dict(zip(in_bed.days_since_admission.tolist(), in_bed.patients.tolist(), strict=True)) == {0: 1, 2: 1}
    survival = survival_at(episodes, origin)
    # Known at the origin: one stay of 1 day, one open for 2 days, one open for 0 days (at risk on day 1);
    # the stay admitted after the origin and the discharge on 10 January are not known yet.
    assert survival[0] == pytest.approx(1.0)
    assert survival[1] == pytest.approx(2 / 3)
