"""Length of stay: how long patients stay, from episodes where some stays are still open.

Stays still in bed at the extract date are right-censored: we only know they last longer than they have so
far. The Kaplan–Meier estimator uses them honestly instead of dropping them (which would bias stays short).

A curve drawn from a handful of stays gives those stays away (its steps are their lengths), so the curves a
trained model keeps rest on at least `MIN_STAYS` stays: a smaller unit keeps its hospital's pooled curve, or
all units' (`stored_curves`).

A base module: ingestion (warm-up days), the flow model and the serving bundle (the curves a planner sees) all
stand on it, and it imports nothing of the project.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

__all__ = [
    "CURVE_COLUMNS",
    "MIN_STAYS",
    "SOURCES",
    "length_of_stay",
    "length_of_stay_curves",
    "stored_curves",
    "survival_at",
    "survival_curve",
    "warmup_days",
]

# The fewest stays a stored curve may rest on.
MIN_STAYS = 20
# Whose stays a unit's stored curve is drawn from, nearest first.
SOURCES = ("unit", "hospital", "all")
CURVE_COLUMNS = ["unit", "admission_type", "day", "survival", "source"]


def length_of_stay(
    admitted: pd.Series, discharged: pd.Series, extract_end: pd.Timestamp
) -> tuple[np.ndarray, np.ndarray]:
    """Stay lengths in whole days and whether each stay has ended.

    Args:
        admitted: admission dates.
        discharged: discharge dates, NaT for stays still open at the extract date.
        extract_end: the last day of the extract; open stays are known to last beyond it.

    Returns:
        `(days, closed)`: for a closed stay its length (discharge date − admission date); for an open one the
        days it has lasted by `extract_end`, where it is known that the stay is longer than that.
    """
    closed = discharged.notna().to_numpy()
    end = discharged.where(discharged.notna(), extract_end)
    days = (end - admitted).dt.days.to_numpy(dtype=np.int64)
    return days, closed


def survival_curve(days: np.ndarray, closed: np.ndarray) -> np.ndarray:
    """Kaplan–Meier estimate of P(LOS > k) for k = 0, 1, … up to the longest stay seen.

    A closed stay of d days ends on day d; an open stay observed for c days is known to last longer than c
    days, so it is at risk up to day c + 1.

    Args:
        days: stay lengths in whole days (see `length_of_stay`).
        closed: True where the stay has ended.

    Returns:
        `survival[k] = P(LOS > k)`; empty when there are no stays.
    """
    days = np.asarray(days, dtype=np.int64)
    closed = np.asarray(closed, dtype=bool)
    if days.size == 0:
        return np.zeros(0)
    horizon = int(days.max()) + 2
    ended = np.bincount(days[closed], minlength=horizon)
    # An open stay at c days is still at risk of ending on day c + 1 (it is known to last past c).
    last_at_risk = np.where(closed, days, days + 1)
    leaving_risk_set = np.bincount(last_at_risk, minlength=horizon + 1)[:horizon]
    at_risk = leaving_risk_set[::-1].cumsum()[::-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        hazard = np.where(at_risk > 0, ended / at_risk, 1.0)
    survival = np.cumprod(1.0 - hazard)
    last = int(np.nonzero(survival > 0)[0].max()) + 1 if (survival > 0).any() else 1
    return survival[: last + 1]


def warmup_days(survival: np.ndarray, missing_share: float = 0.01) -> int:
    """Days after the extract starts until the census is complete enough to use.

    Stays that began before the extract are missing from it. With steady admissions A a day, the census on day
    t after the start misses A·Σ_{j>t} S(j) of its expected A·Σ_{j≥0} S(j) patients (the M_t/G/∞ census with
    the arrivals before the start left out), so warm-up lasts until that share drops below `missing_share`.

    Args:
        survival: `P(LOS > k)` from `survival_curve`.
        missing_share: the largest share of the census that may be missing once warm-up is over.

    Returns:
        The number of days at the start of the extract whose census is incomplete.
    """
    total = float(survival.sum())
    if total <= 0:
        return 0
    # tail[t] = Σ_{j>t} S(j): the expected missing census on day t, per daily admission.
    tail = total - np.cumsum(survival)
    return int(np.argmax(tail / total < missing_share))


def survival_at(episodes: pd.DataFrame, origin: pd.Timestamp) -> np.ndarray:
    """The length-of-stay survival curve as it could be known at `origin`: later discharges are unknown."""
    known = episodes[episodes["admitted_at"] <= origin]
    discharged = known["discharged_at"].where(known["discharged_at"] <= origin)
    days, closed = length_of_stay(known["admitted_at"], discharged, origin)
    return survival_curve(days, closed)


def _pool(units: pd.Series, unit: str, source: str, hospital_of: Mapping[str, str]) -> pd.Series | None:
    """Which stays (by their unit) the `source` curve of `unit` is drawn from; None: it has no hospital."""
    if source == "unit":
        return units == unit
    if source == "hospital":
        hospital = hospital_of.get(unit)
        return None if hospital is None else units.map(hospital_of).eq(hospital)
    return pd.Series(True, index=units.index)


def stored_curves(
    episodes: pd.DataFrame,
    end: pd.Timestamp,
    hospitals: Mapping[str, str] | pd.Series | None = None,
    days: int = 60,
    min_stays: int = MIN_STAYS,
) -> pd.DataFrame:
    """Per unit and admission type, P(stay > day) at `end`, from no fewer than `min_stays` stays.

    A unit's own curve when its stays of that type (admitted by `end`) number at least `min_stays`; else the
    pooled curve of its hospital's units, when it has a hospital and they have enough; else the pooled curve of
    all units. When even all units together have fewer, no curve of that type is kept.

    Args:
        episodes: validated episodes (`unit, admitted_at, discharged_at, admission_type`, maybe `hospital`).
        end: the last day of the data; discharges after it are unknown.
        hospitals: hospital per unit; default the episodes' own `hospital` column, if any.
        days: the curve's length kept (days 0..days).
        min_stays: the fewest stays a kept curve rests on.

    Returns:
        `CURVE_COLUMNS`: `source` is `unit`, `hospital` or `all` (see `SOURCES`).
    """
    known = episodes[episodes["admitted_at"] <= end]
    if hospitals is None and "hospital" in known.columns:
        hospitals = known.groupby("unit")["hospital"].first()
    given = dict(hospitals) if hospitals is not None else {}
    hospital_of = {str(k): str(v) for k, v in given.items() if not pd.isna(v) and str(v) != ""}
    pieces = []
    for kind, of_kind in known.groupby("admission_type", sort=True):
        units = of_kind["unit"].astype(str)
        for unit in sorted(units.unique()):
            for source in SOURCES:
                mask = _pool(units, unit, source, hospital_of)
                if mask is not None and int(mask.sum()) >= min_stays:
                    curve = survival_at(of_kind[mask.to_numpy()], end)[: days + 1]
                    pieces.append(
                        pd.DataFrame(
                            {
                                "unit": unit,
                                "admission_type": kind,
                                "day": np.arange(len(curve)),
                                "survival": curve,
                                "source": source,
                            }
                        )
                    )
                    break
    if not pieces:
        return pd.DataFrame(columns=CURVE_COLUMNS)
    return pd.concat(pieces, ignore_index=True)[CURVE_COLUMNS]


def length_of_stay_curves(
    episodes: pd.DataFrame | None,
    end: pd.Timestamp,
    days: int = 60,
    hospitals: Mapping[str, str] | pd.Series | None = None,
) -> pd.DataFrame:
    """The curves a model keeps (`stored_curves`); empty (with `CURVE_COLUMNS`) without episodes."""
    if episodes is None:
        return pd.DataFrame(columns=CURVE_COLUMNS)
    return stored_curves(episodes, end, hospitals, days)
