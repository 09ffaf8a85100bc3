"""The built-in demo hospital: a Swedish regional hospital modelled on Visby lasarett, Gotland.

Gotland has about 61,000 residents and a summer tourist season that multiplies the people on the island; the
hospital opens extra beds at short notice then. The generator is deterministic given a seed and its true
effects are known (`DemoHospital.truth`), so tests can check that models recover them.

How a day's admissions arise, per unit:
- acute: Poisson with mean resident_rate × weekday × winter × holiday + tourism_lift × guest nights / 1000;
- elective: Poisson on weekdays that are not holidays, at the weekday rate, cut to 15 % in the summer
  shutdown (ISO weeks 28–32) and to 20 % from 23 December to 6 January;
- each stay's length is drawn from the unit's log-normal distribution (long right tail), rounded to whole
  days; some elective stays are day cases (0 nights).
Stays that end after the extract date have no discharge (patients still in bed); nobody admitted before the
start is in the extract, as in a real one.

With `transfers`, a share of the intensive-care patients move on to internal medicine or surgery on the day
their intensive-care stay ends: one episode, two ward stays (the contract's rows share the `episode_id`). The
draws above are the same with or without transfers (the transfers take their own random stream), so the hospital
without them, and its figures, stay as they were.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecast.features import holiday_dates

__all__ = [
    "DEFAULT_UNITS",
    "DemoHospital",
    "UnitProfile",
    "generate_demo_hospital",
    "guest_nights",
    "winter_factor",
    "admission_calendar",
]

HOSPITAL = "visby"
REGION = "gotland"

# Relative acute arrivals by weekday (Mon..Sun): more on Mondays (the weekend's backlog), fewer on weekends.
ACUTE_WEEKDAY = np.array([1.12, 1.04, 1.0, 0.99, 1.0, 0.91, 0.94])
# Relative elective admissions by weekday (Mon..Fri): lists start early in the week.
ELECTIVE_WEEKDAY = np.array([1.2, 1.1, 1.0, 0.95, 0.75, 0.0, 0.0])
HOLIDAY_FACTOR = 0.9  # acute arrivals on a public holiday ...
AFTER_HOLIDAY_FACTOR = 1.08  # ... and the rebound the day after
SUMMER_SHUTDOWN = (28, 32)  # ISO weeks of the planned-care summer shutdown
SUMMER_ELECTIVE_SHARE = 0.15
SUMMER_SPREAD = 0.2  # the tourist season's size from year to year (log-normal sd)
SUMMER_SHIFT_DAYS = 7  # and its timing
CHRISTMAS_ELECTIVE_SHARE = 0.2
# With transfers: the share of intensive-care stays that end in a move to a ward, and where to.
TRANSFER_FROM = "intensive_care"
TRANSFER_SHARE = 0.6
TRANSFER_TO = {"internal_medicine": 0.7, "surgery": 0.3}


@dataclass(frozen=True)
class UnitProfile:
    """The true parameters of one unit.

    Attributes:
        unit: the unit's name.
        beds: staffed beds today.
        acute_per_day: acute admissions a day from residents (before weekday, winter, holiday factors).
        acute_per_1000_guest_nights: extra acute admissions a day per 1,000 tourist guest nights (the tourism lift).
        elective_per_weekday: planned admissions on an ordinary weekday (before the weekday pattern).
        los_mean: mean length of stay in days.
        los_sigma: shape of the log-normal length of stay (larger: longer right tail).
        winter_amplitude: relative rise of acute arrivals at the peak of the respiratory season (late January).
        day_case_share: share of elective admissions that go home the same day.
    """

    unit: str
    beds: int
    acute_per_day: float
    acute_per_1000_guest_nights: float
    elective_per_weekday: float
    los_mean: float
    los_sigma: float
    winter_amplitude: float = 0.0
    day_case_share: float = 0.0


DEFAULT_UNITS: tuple[UnitProfile, ...] = (
    UnitProfile("internal_medicine", 48, 7.0, 0.12, 0.3, 5.0, 0.9, winter_amplitude=0.3),
    UnitProfile("surgery", 30, 3.5, 0.08, 2.5, 4.0, 0.9, winter_amplitude=0.03, day_case_share=0.15),
    UnitProfile("orthopaedics", 14, 3.0, 0.10, 3.0, 2.0, 0.8, winter_amplitude=0.05, day_case_share=0.2),
    UnitProfile("intensive_care", 6, 1.8, 0.02, 0.0, 2.5, 0.8, winter_amplitude=0.1),
    UnitProfile("psychiatry", 22, 1.1, 0.01, 0.0, 16.0, 1.0),
    UnitProfile("discharge_ward", 12, 1.8, 0.0, 0.0, 5.5, 0.7, winter_amplitude=0.1),
)


@dataclass(frozen=True)
class DemoHospital:
    """The demo hospital's data: episodes, units with beds, guest nights, and the true effects.

    `truth` has a row per unit (written to `demo/truth.csv`): the tourism lift (`acute_per_1000_guest_nights`:
    extra acute admissions a day per 1,000 guest nights), resident acute and planned admissions, the stays drawn
    (`los_mean_acute`, `los_mean_elective`: mean nights per admission), the winter amplitude, the holiday factors,
    and the planned-care cuts: in ISO weeks `summer_weeks` planned admissions run at `summer_elective_share` of
    their usual rate, from 23 December to 6 January at `christmas_elective_share`.
    """

    episodes: pd.DataFrame
    units: pd.DataFrame
    guest_nights: pd.DataFrame
    truth: pd.DataFrame


def _easter(years: Sequence[int]) -> pd.DatetimeIndex:
    days = [pd.Timestamp(d) for d, name in holiday_dates(years, "SE").items() if "Easter Sunday" in name]
    return pd.DatetimeIndex(days)


def guest_nights(start: str, end: str, seed: int = 7) -> pd.DataFrame:
    """Daily tourist guest nights on Gotland: a low winter, a steep peak in late July, shoulders in May–September.

    No two summers are alike: each year's season is larger or smaller (`SUMMER_SPREAD`, the economy, a pandemic
    summer) and earlier or later by up to a week (school holidays, events), and the weather moves bookings for
    days at a time. Identical summers would make tourists indistinguishable from the calendar year itself.

    Args:
        start: first day.
        end: last day.
        seed: random seed of the day-to-day noise.
    """
    rng = np.random.default_rng(seed)
    days = pd.date_range(start, end, freq="D")
    doy = days.dayofyear.to_numpy(float)
    noise = rng.lognormal(0, 0.08, len(days))
    years = days.year.to_numpy()
    first = int(years.min())
    height = rng.lognormal(0, SUMMER_SPREAD, int(years.max()) - first + 1)[years - first]
    shift = rng.integers(-SUMMER_SHIFT_DAYS, SUMMER_SHIFT_DAYS + 1, int(years.max()) - first + 1)[years - first]
    summer_peak = 22000 * height * np.exp(-0.5 * ((doy - 200 - shift) / 17) ** 2)  # late July: holidays, Almedalen
    shoulder = 3500 * height * np.exp(-0.5 * ((doy - 195 - shift) / 45) ** 2)
    easter = np.zeros(len(days))
    for sunday in _easter(range(days.min().year, days.max().year + 1)):
        easter[np.abs((days - sunday).days) <= 3] = 1500
    weekend = np.where(days.dayofweek >= 4, 1.08, 1.0)
    growth = 1.02 ** ((days - days[0]).days / 365.25)
    values = (1200 + summer_peak + shoulder + easter) * weekend * growth * noise * _weather(len(days), rng)
    return pd.DataFrame({"date": days, "guest_nights": np.round(values).astype(np.int64)})


def _weather(n: int, rng: np.random.Generator, spread: float = 0.12, days: float = 7.0) -> np.ndarray:
    """A multiplicative spell of good or bad weather: log-AR(1) noise that lasts about `days` days."""
    persistence = np.exp(-1 / days)
    shocks = rng.normal(0, spread * np.sqrt(1 - persistence**2), n)
    spells = np.zeros(n)
    for i in range(1, n):
        spells[i] = persistence * spells[i - 1] + shocks[i]
    return np.exp(spells)


def winter_factor(days: pd.DatetimeIndex, amplitude: float, rng: np.random.Generator) -> np.ndarray:
    """1 + a raised-cosine bump around late January, its height and timing varying from season to season."""
    factor = np.ones(len(days))
    if amplitude == 0:
        return factor
    for year in range(days.min().year - 1, days.max().year + 2):
        peak = pd.Timestamp(f"{year}-01-25") + pd.Timedelta(days=int(rng.integers(-14, 15)))
        height = amplitude * float(np.clip(rng.normal(1, 0.3), 0.3, 1.8))
        distance = (days - peak).days.to_numpy(float)
        inside = np.abs(distance) < 60
        factor[inside] += height * 0.5 * (1 + np.cos(np.pi * distance[inside] / 60))
    return factor


def _length_of_stay(profile: UnitProfile, n: int, rng: np.random.Generator) -> np.ndarray:
    mu = np.log(profile.los_mean) - profile.los_sigma**2 / 2
    return np.round(rng.lognormal(mu, profile.los_sigma, n)).astype(np.int64)


def admission_calendar(days: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray]:
    """Relative acute and elective admissions by day: weekday, holidays, the summer shutdown and Christmas."""
    holidays = pd.DatetimeIndex(list(holiday_dates(range(days.min().year, days.max().year + 1), "SE")))
    is_holiday = days.isin(holidays)
    after_holiday = days.isin(holidays + pd.Timedelta(days=1)) & ~is_holiday
    week = days.isocalendar().week.to_numpy()
    summer = (week >= SUMMER_SHUTDOWN[0]) & (week <= SUMMER_SHUTDOWN[1])
    christmas = ((days.month == 12) & (days.day >= 23)) | ((days.month == 1) & (days.day <= 6))
    weekday = days.dayofweek.to_numpy()
    acute = ACUTE_WEEKDAY[weekday] * np.where(is_holiday, HOLIDAY_FACTOR, 1.0)
    acute = acute * np.where(after_holiday, AFTER_HOLIDAY_FACTOR, 1.0)
    elective = ELECTIVE_WEEKDAY[weekday] * ~is_holiday
    elective = elective * np.where(summer, SUMMER_ELECTIVE_SHARE, 1.0)
    elective = elective * np.where(christmas, CHRISTMAS_ELECTIVE_SHARE, 1.0)
    return acute, elective


def _truth_of(profile: UnitProfile, stays: pd.DataFrame) -> dict[str, object]:
    """A unit's true effects: what the generator used, and the stays it drew (mean nights by admission type,
    day cases counted as 0 nights: what a census holds per admission)."""
    by_type = stays.groupby("admission_type")["los"].mean()
    return {
        "unit": profile.unit,
        "beds": profile.beds,
        "acute_per_day": profile.acute_per_day,
        "acute_per_1000_guest_nights": profile.acute_per_1000_guest_nights,
        "elective_per_weekday": profile.elective_per_weekday,
        # Planned admissions on an average day of the week (weekends have none), before any cut.
        "elective_per_day": profile.elective_per_weekday * float(ELECTIVE_WEEKDAY.mean()),
        "los_mean": float(stays["los"].mean()),
        "los_mean_acute": float(by_type.get("acute", np.nan)),
        "los_mean_elective": float(by_type.get("elective", np.nan)),
        "los_mean_profile": profile.los_mean,
        "los_sigma": profile.los_sigma,
        "day_case_share": profile.day_case_share,
        "winter_amplitude": profile.winter_amplitude,
        "holiday_factor": HOLIDAY_FACTOR,
        "after_holiday_factor": AFTER_HOLIDAY_FACTOR,
        "summer_weeks": f"{SUMMER_SHUTDOWN[0]}-{SUMMER_SHUTDOWN[1]}",
        "summer_elective_share": SUMMER_ELECTIVE_SHARE,
        "christmas_elective_share": CHRISTMAS_ELECTIVE_SHARE,
    }


def generate_demo_hospital(
    seed: int = 7,
    start: str = "2021-01-01",
    end: str = "2025-12-31",
    units: Sequence[UnitProfile] = DEFAULT_UNITS,
    transfers: bool = False,
) -> DemoHospital:
    """Generate the demo hospital's episodes from `start` to `end` (the extract date).

    Args:
        seed: random seed; the same seed gives the same hospital.
        start: first admission day.
        end: the extract date: stays ending later have no discharge.
        units: the units and their true parameters.
        transfers: also move a share of the intensive-care patients on to a ward (ward stays); the episodes
            without transfers are unchanged.
    """
    rng = np.random.default_rng(seed)
    days = pd.date_range(start, end, freq="D")
    tourists = guest_nights(start, end, seed)["guest_nights"].to_numpy(float)
    acute_calendar, elective_calendar = admission_calendar(days)

    frames, truth = [], []
    for profile in units:
        winter = winter_factor(days, profile.winter_amplitude, rng)
        acute_mean = profile.acute_per_day * acute_calendar * winter
        acute_mean += profile.acute_per_1000_guest_nights * tourists / 1000
        counts = {
            "acute": rng.poisson(acute_mean),
            "elective": rng.poisson(profile.elective_per_weekday * elective_calendar),
        }
        stays = []
        for kind, per_day in counts.items():
            admitted = np.repeat(days.to_numpy(), per_day)
            los = _length_of_stay(profile, len(admitted), rng)
            if kind == "elective" and profile.day_case_share:
                los[rng.random(len(admitted)) < profile.day_case_share] = 0
            stays.append(pd.DataFrame({"admitted_at": admitted, "los": los, "admission_type": kind}))
        unit_stays = pd.concat(stays, ignore_index=True)
        unit_stays["unit"] = profile.unit
        frames.append(unit_stays)
        truth.append(_truth_of(profile, unit_stays))

    episodes = pd.concat(frames, ignore_index=True).sort_values(["admitted_at", "unit"], kind="stable")
    discharged = episodes["admitted_at"] + pd.to_timedelta(episodes["los"], unit="D")
    episodes["discharged_at"] = discharged.where(discharged <= pd.Timestamp(end))
    episodes["episode_id"] = [f"G{i:07d}" for i in range(1, len(episodes) + 1)]
    episodes["hospital"] = HOSPITAL
    episodes["region"] = REGION
    columns = ["episode_id", "unit", "admitted_at", "discharged_at", "admission_type", "hospital", "region"]
    episodes = episodes[columns].reset_index(drop=True)
    if transfers:
        episodes = _with_transfers(episodes, {u.unit: u for u in units}, pd.Timestamp(end), seed)
    units_frame = pd.DataFrame(
        {"unit": [u.unit for u in units], "beds": [u.beds for u in units], "hospital": HOSPITAL, "region": REGION}
    )
    return DemoHospital(
        episodes=episodes,
        units=units_frame,
        guest_nights=guest_nights(start, end, seed),
        truth=pd.DataFrame(truth),
    )


def _with_transfers(
    episodes: pd.DataFrame, profiles: dict[str, UnitProfile], end: pd.Timestamp, seed: int
) -> pd.DataFrame:
    """The episodes plus a ward stay after a share of the intensive-care stays that ended by `end`."""
    wards = [u for u in TRANSFER_TO if u in profiles]
    if TRANSFER_FROM not in profiles or not wards:
        return episodes
    rng = np.random.default_rng([seed, 23])
    ended = episodes[(episodes["unit"] == TRANSFER_FROM) & episodes["discharged_at"].notna()]
    moving = ended[rng.random(len(ended)) < TRANSFER_SHARE]
    shares = np.array([TRANSFER_TO[u] for u in wards])
    to = np.array(wards)[rng.choice(len(wards), size=len(moving), p=shares / shares.sum())]
    los = np.zeros(len(moving), dtype=np.int64)
    for ward in wards:
        going = to == ward
        los[going] = _length_of_stay(profiles[ward], int(going.sum()), rng)
    onward = moving.assign(unit=to, admitted_at=moving["discharged_at"])
    discharged = onward["admitted_at"] + pd.to_timedelta(los, unit="D")
    onward["discharged_at"] = discharged.where(discharged <= end)
    both = pd.concat([episodes, onward], ignore_index=True)
    return both.sort_values(["admitted_at", "episode_id"], kind="stable").reset_index(drop=True)
