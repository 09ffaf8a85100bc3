"""A synthetic country: 21 regions, their hospitals and units, as daily counts per unit — data to test scale on.

Built on the demo hospital (`forecast.demo`): the same weekday, holiday, winter, summer-shutdown and tourism
effects and the same unit types, with each hospital's units resized and reshaped (size, winter peak, length of
stay, tourism) so that no two series are alike. Episodes would be millions of rows for a country; the output is
the daily-count contract instead (`unit, date, admissions, admissions_acute, admissions_elective, discharges,
census`, plus `hospital` and `region`), made from simulated stays without keeping them.

Every unit draws from its own random stream (seeded by the seed and the unit's number), so the same seed gives
the same country, and a smaller country is the first hospitals of a larger one's regions.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from forecast.demo import (
    DEFAULT_UNITS,
    UnitProfile,
    admission_calendar,
    guest_nights,
    winter_factor,
)

__all__ = ["REGIONS", "National", "national_profiles", "generate_national"]

# Sweden's 21 regions (ASCII names: they become ids).
REGIONS: tuple[str, ...] = (
    "stockholm",
    "uppsala",
    "sormland",
    "ostergotland",
    "jonkoping",
    "kronoberg",
    "kalmar",
    "gotland",
    "blekinge",
    "skane",
    "halland",
    "vastra_gotaland",
    "varmland",
    "orebro",
    "vastmanland",
    "dalarna",
    "gavleborg",
    "vasternorrland",
    "jamtland_harjedalen",
    "vasterbotten",
    "norrbotten",
)
BURN_IN_DAYS = 180  # simulated before `start` so that the first census already holds earlier patients


@dataclass(frozen=True)
class National:
    """A synthetic country.

    Attributes:
        daily: per unit and day, the daily-count contract plus `hospital` and `region`.
        units: `unit, hospital, region, beds` (beds today, sized for the unit's census).
        hierarchy: `unit, hospital, region` (what `forecast.hierarchy` takes).
        guest_nights: the tourism series the tourism lift follows (`date, guest_nights`).
    """

    daily: pd.DataFrame
    units: pd.DataFrame
    hierarchy: pd.DataFrame
    guest_nights: pd.DataFrame


def national_profiles(
    regions: int = 21, hospitals_per_region: int = 3, units_per_hospital: int = 16, seed: int = 7
) -> pd.DataFrame:
    """The true parameters of every unit: the demo's unit types, resized and reshaped per hospital and unit.

    Args:
        regions: how many of `REGIONS` (at most 21).
        hospitals_per_region: hospitals in each region.
        units_per_hospital: units in each hospital, cycling through the demo's unit types.
        seed: the same seed gives the same country.

    Returns:
        One row per unit: `unit, hospital, region`, a `profile` (`forecast.demo.UnitProfile`) and the
        `stream` (region, hospital, unit numbers) that seeds the unit's random draws.
    """
    if not 1 <= regions <= len(REGIONS):
        raise ValueError(f"regions must be between 1 and {len(REGIONS)}, got {regions}")
    if hospitals_per_region < 1 or units_per_hospital < 1:
        raise ValueError("a country needs at least one hospital per region and one unit per hospital")
    rows = []
    for r, region in enumerate(REGIONS[:regions]):
        # Tourism matters in a few regions (Gotland, the mountains, the west coast), little elsewhere.
        tourism = 1.0 if region == "gotland" else float(np.random.default_rng([seed, r]).uniform(0.0, 0.4))
        for h in range(hospitals_per_region):
            hospital = f"{region}_h{h + 1}"
            rng = np.random.default_rng([seed, r, h])
            size = float(rng.lognormal(0.3, 0.5))  # university hospitals several times a county hospital
            for u in range(units_per_hospital):
                base = DEFAULT_UNITS[u % len(DEFAULT_UNITS)]
                scale = size * float(rng.lognormal(0.0, 0.25))
                profile = replace(
                    base,
                    unit=f"{hospital}_{base.unit}_{u // len(DEFAULT_UNITS) + 1}",
                    beds=max(2, round(base.beds * scale)),
                    acute_per_day=base.acute_per_day * scale,
                    acute_per_1000_guest_nights=base.acute_per_1000_guest_nights * scale * tourism,
                    elective_per_weekday=base.elective_per_weekday * scale,
                    los_mean=base.los_mean * float(rng.lognormal(0.0, 0.15)),
                    winter_amplitude=base.winter_amplitude * float(rng.uniform(0.5, 1.5)),
                )
                rows.append(
                    {
                        "unit": profile.unit,
                        "hospital": hospital,
                        "region": region,
                        "profile": profile,
                        "stream": (r, h, u),
                    }
                )
    return pd.DataFrame(rows)


def _unit_counts(
    profile: UnitProfile,
    days: pd.DatetimeIndex,
    calendar: tuple[np.ndarray, np.ndarray],
    tourists: np.ndarray,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Admissions by type, discharges and midnight census of one unit on each day (stays simulated, not kept)."""
    acute_calendar, elective_calendar = calendar
    acute_mean = profile.acute_per_day * acute_calendar * winter_factor(days, profile.winter_amplitude, rng)
    acute_mean = acute_mean + profile.acute_per_1000_guest_nights * tourists / 1000
    elective_mean = profile.elective_per_weekday * elective_calendar
    counts = {"acute": rng.poisson(acute_mean), "elective": rng.poisson(elective_mean)}
    n = len(days)
    mu = np.log(profile.los_mean) - profile.los_sigma**2 / 2
    discharges = np.zeros(n + 1, dtype=np.int64)
    for kind, per_day in counts.items():
        admitted = np.repeat(np.arange(n), per_day)
        los = np.round(rng.lognormal(mu, profile.los_sigma, len(admitted))).astype(np.int64)
        if kind == "elective" and profile.day_case_share:
            los[rng.random(len(admitted)) < profile.day_case_share] = 0
        # Discharges after the last day fall into the overflow slot n: those patients are still in bed.
        discharges += np.bincount(np.minimum(admitted + los, n), minlength=n + 1)
    admissions = counts["acute"] + counts["elective"]
    # Midnight census of day d: admitted ≤ d < discharged, so a same-day stay adds and leaves on the same day.
    census = np.cumsum(admissions - discharges[:n])
    return {
        "admissions": admissions,
        "admissions_acute": counts["acute"],
        "admissions_elective": counts["elective"],
        "discharges": discharges[:n],
        "census": census,
    }


def generate_national(
    regions: int = 21,
    hospitals_per_region: int = 3,
    units_per_hospital: int = 16,
    start: str = "2022-01-01",
    end: str = "2025-12-31",
    seed: int = 7,
) -> National:
    """Daily counts of every unit of a synthetic country (21 × 3 × 16 = 1,008 units by default).

    Args:
        regions: how many of Sweden's 21 regions.
        hospitals_per_region: hospitals in each region.
        units_per_hospital: units in each hospital.
        start: first day of the data (patients admitted up to `BURN_IN_DAYS` earlier are in bed already).
        end: last day.
        seed: the same seed gives the same country.
    """
    profiles = national_profiles(regions, hospitals_per_region, units_per_hospital, seed)
    first = pd.Timestamp(start) - pd.Timedelta(days=BURN_IN_DAYS)
    days = pd.date_range(first, end, freq="D")
    tourism = guest_nights(f"{first:%Y-%m-%d}", end, seed)
    tourists = tourism["guest_nights"].to_numpy(float)
    calendar = admission_calendar(days)
    keep = days >= pd.Timestamp(start)
    frames = []
    for row in profiles.itertuples(index=False):
        rng = np.random.default_rng([seed, 1_000_003, *row.stream])
        counts = _unit_counts(row.profile, days, calendar, tourists, rng)
        frame = pd.DataFrame({"unit": row.unit, "date": days[keep], **{k: v[keep] for k, v in counts.items()}})
        frame["hospital"] = row.hospital
        frame["region"] = row.region
        frames.append(frame)
    daily = pd.concat(frames, ignore_index=True)
    hierarchy = profiles[["unit", "hospital", "region"]].reset_index(drop=True)
    units = hierarchy.assign(beds=[p.beds for p in profiles["profile"]])
    return National(daily, units, hierarchy, tourism[tourism["date"] >= pd.Timestamp(start)].reset_index(drop=True))
