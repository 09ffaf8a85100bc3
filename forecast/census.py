"""The flow model of census: forecast admissions × length of stay, plus the patients already in bed.

Census is not a series with a life of its own: it is yesterday's patients who have not gone home plus today's
admissions. Forecasting it through the flow (the M_t/G/∞ queue of DESIGN.md) gets the first days almost
exactly right (the patients are already there) and carries the calendar of admissions into the census.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["InBed", "flow_census", "in_bed_at", "transfers_in", "ADMISSION_TYPES"]

ADMISSION_TYPES = ("acute", "elective")


@dataclass(frozen=True)
class InBed:
    """Patients in bed at the forecast origin, counted by how many days ago they were admitted."""

    days_since_admission: np.ndarray
    patients: np.ndarray


def in_bed_at(episodes: pd.DataFrame, origin: pd.Timestamp) -> InBed:
    """Patients in bed at midnight of `origin` (admitted ≤ origin < discharged), by days since admission.

    Only aggregates leave this function: counts per day of admission, no episode rows.
    """
    admitted = episodes["admitted_at"]
    discharged = episodes["discharged_at"]
    present = (admitted <= origin) & (discharged.isna() | (discharged > origin))
    days = (origin - admitted[present]).dt.days.to_numpy(dtype=np.int64)
    counts = np.bincount(days) if days.size else np.zeros(0, dtype=np.int64)
    nonzero = np.flatnonzero(counts)
    return InBed(nonzero, counts[nonzero].astype(float))


def transfers_in(stays: pd.DataFrame, days: pd.Series) -> np.ndarray:
    """Stays that began with a transfer from another unit, on each of `days`: with the admissions, a unit's
    arrivals (ward stays, `forecast.stays`). Zero for stays without the `transfer_in` mark."""
    if "transfer_in" not in stays.columns or stays.empty:
        return np.zeros(len(days))
    moved = stays.loc[stays["transfer_in"].astype(bool), "admitted_at"].value_counts()
    return moved.reindex(pd.DatetimeIndex(days)).fillna(0).to_numpy(float)


def flow_census(arrivals: np.ndarray, survival: np.ndarray, in_bed: InBed) -> tuple[np.ndarray, np.ndarray]:
    """Census mean and variance on days 1..h after the origin.

    A patient admitted on day t is in bed at midnight of day t + m while the stay is longer than m days, with
    probability S(m). New arrivals (Poisson, `arrivals[j]` expected on day j+1) give a Poisson census with mean
    Σ_j arrivals[j]·S(k−1−j) on day k (Eick, Massey & Whitt 1993). A patient in bed for a days at the origin is
    still there k days later with probability S(a+k)/S(a).

    Args:
        arrivals: expected admissions on days 1..h after the origin.
        survival: P(LOS > m) for m = 0, 1, …
        in_bed: the patients in bed at the origin by days since admission.
    """
    h = len(arrivals)
    longest = int(in_bed.days_since_admission.max(initial=0))
    s = np.zeros(len(survival) + h + longest + 1)
    s[: len(survival)] = survival
    new = np.convolve(arrivals, s[:h])[:h]
    steps = np.arange(1, h + 1)
    a = in_bed.days_since_admission
    s_a = s[a][:, None]
    # A patient in bed has outlived the curve's tail when S(a) is 0: keep them in bed (long-stay outliers).
    still_there = np.where(s_a > 0, s[a[:, None] + steps[None, :]] / np.where(s_a > 0, s_a, 1.0), 1.0)
    stay_mean = in_bed.patients @ still_there
    stay_var = in_bed.patients @ (still_there * (1 - still_there))
    return new + stay_mean, new + stay_var
