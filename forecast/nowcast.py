"""The nowcast: a trained census forecast re-anchored on the patients in bed on the newest day, without refitting.

At training the census forecast starts from the patients in bed on the data's last day T. Days later (as of D)
the episodes since then say who is in bed now. From D on, each unit's census is the flow of DESIGN.md again: the
patients in bed at D, each still there k days later with probability S(a+k)/S(a) by the days a they have stayed
(the unit's length-of-stay curve from training), plus the admissions the model forecast after D (M_t/G/∞).

- Units whose census model is the flow model get exactly that.
- Units whose census model is another (ETS, ARIMA, …) keep it, corrected by what the patients in bed change:
  the chosen forecast + (flow from the patients in bed at D − flow from those at T). The correction is the news
  in today's beds; it fades as those patients go home, leaving the chosen model's forecast further out.
- Units without a length-of-stay curve or expected admissions (trained on daily counts) keep the forecast made at
  training: without stays there is no one to re-anchor on.

Intervals keep their calibration by horizon: a day k days after D gets the forecast's error quantiles at step k
(the training forecast's spread around its mean on its k-th day). Misses seen in service move them as they moved
in the backtest (`forecast.calibration`'s online adaptation): each day since training whose census was above the
trained 95th percentile (or below the 5th) scales that tail's distance from the mean by exp(rate × (miss − 5 %)).

The year ahead (where the model has one) moves with the quarter: its days up to D are the census counted, and
each later day the quarter's forecast covers moves by what the re-anchoring moved the quarter's mean that day
(the news in beds, and the flow model's level); beyond the quarter its mean stays as trained. Its spread is its
own at each date, scaled by the same misses seen in service.

Patients in bed at T whom the episodes given here do not hold (the training file's open stays, never sent to
the service) are carried as expected patients from the bundle's counts: they are matched by count per unit,
type and day of admission, never by id, so a stay sent later with its discharge replaces its expected self and
is never counted twice. Only aggregates leave this module.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from forecast.bundle import ForecastBundle
from forecast.calibration import Settings
from forecast.census import ADMISSION_TYPES, InBed, flow_census, in_bed_at
from forecast.models import LEVEL_DAYS
from forecast.quantiles import column, columns

__all__ = ["Nowcast", "as_of_day", "nowcast", "service_adaptation"]

QUANTILES = columns()


@dataclass(frozen=True)
class Nowcast:
    """A bundle re-anchored on the patients in bed on its `as_of` day.

    Attributes:
        as_of: the newest day the episodes cover; the forecast starts the day after.
        bundle: the trained bundle with its census re-anchored from `as_of + 1` on and, up to `as_of`, the
            census counted on those days (every quantile the count); admissions, units and pools as trained.
        methods: per unit, in words, how its census from `as_of` on was made.
        census: `unit, ds, census, expected`: the midnight census of each day after training up to `as_of`
            (patients counted from the episodes, plus `expected` patients in bed at training the episodes do not
            hold); what monitoring compares the training forecast with.
    """

    as_of: pd.Timestamp
    bundle: ForecastBundle
    methods: dict[str, str]
    census: pd.DataFrame


def as_of_day(episodes: pd.DataFrame) -> pd.Timestamp | None:
    """The newest day the episodes speak of (an admission or a discharge), or None when there are none."""
    if episodes.empty:
        return None
    days = pd.concat([episodes["admitted_at"], episodes["discharged_at"]]).dropna()
    return pd.Timestamp(days.max()) if len(days) else None


def _census_by_day(stays: pd.DataFrame, days: pd.DatetimeIndex) -> np.ndarray:
    """Stays in bed at midnight of each of `days` (admitted ≤ day < discharged), by +1/−1 steps."""
    first, n = days[0], len(days)
    steps = np.zeros(n + 1)
    start = np.clip((stays["admitted_at"] - first).dt.days.to_numpy(), 0, None)
    leave = (stays["discharged_at"] - first).dt.days.to_numpy(dtype=float)
    leave = np.where(np.isnan(leave), n, np.clip(leave, 0, n)).astype(int)
    keep = (start < n) & (leave > start)
    np.add.at(steps, start[keep], 1)
    np.add.at(steps, leave[keep], -1)
    return np.cumsum(steps)[:n]


def _shifted(missing: InBed, survival: np.ndarray, k: int) -> InBed:
    """Expected patients, of those in bed at T, still there k days later (by their days since admission then)."""
    s = np.zeros(len(survival) + int(missing.days_since_admission.max(initial=0)) + k + 2)
    s[: len(survival)] = survival
    a = missing.days_since_admission
    # Beyond the curve's tail S is 0: such a stayer is kept in bed, as the flow model does.
    still = np.where(s[a] > 0, s[a + k] / np.where(s[a] > 0, s[a], 1.0), 1.0)
    return InBed(a + k, missing.patients * still)


def _combined(*groups: InBed) -> InBed:
    days = np.concatenate([g.days_since_admission for g in groups]).astype(np.int64)
    patients = np.concatenate([g.patients for g in groups]).astype(float)
    if not days.size:
        return InBed(days, patients)
    counts = np.bincount(days, weights=patients)
    nonzero = np.flatnonzero(counts)
    return InBed(nonzero, counts[nonzero])


def _missing_at_end(trained: pd.DataFrame, stored: InBed) -> InBed:
    """Patients in bed at T by the bundle's count whom the episodes do not hold (never negative)."""
    if trained.empty:
        return InBed(np.zeros(0, dtype=np.int64), np.zeros(0))
    size = int(max(trained["days_since_admission"].max(), stored.days_since_admission.max(initial=0))) + 1
    known = np.bincount(
        trained["days_since_admission"].to_numpy(np.int64), weights=trained["patients"].to_numpy(float), minlength=size
    )
    held = np.bincount(stored.days_since_admission, weights=stored.patients, minlength=size)
    gap = np.clip(known - held, 0, None)
    nonzero = np.flatnonzero(gap)
    return InBed(nonzero, gap[nonzero])


@dataclass(frozen=True)
class _TypeFlow:
    """One unit and admission type: the census since T, and the flow forecasts from T and from D."""

    census: np.ndarray  # days T+1..D, from the episodes
    expected: np.ndarray  # days T+1..D, patients in bed at T the episodes lack
    from_end: np.ndarray  # days T+1..last, the flow forecast made at T
    from_now: np.ndarray  # days D+1..last, re-anchored at D


def _type_flow(
    stays: pd.DataFrame,
    survival: np.ndarray,
    arrivals: np.ndarray,
    trained_in_bed: pd.DataFrame,
    end: pd.Timestamp,
    as_of: pd.Timestamp,
    level: float,
) -> _TypeFlow:
    lag = (as_of - end).days
    missing = _missing_at_end(trained_in_bed, in_bed_at(stays, end))
    since = pd.date_range(end + pd.Timedelta(days=1), as_of, freq="D")
    expected = np.array([_shifted(missing, survival, k).patients.sum() for k in range(1, lag + 1)])
    at_end = InBed(
        trained_in_bed["days_since_admission"].to_numpy(np.int64), trained_in_bed["patients"].to_numpy(float)
    )
    now = _combined(in_bed_at(stays, as_of), _shifted(missing, survival, lag))
    from_end, _ = flow_census(arrivals, survival, at_end)
    from_now, _ = flow_census(arrivals[lag:] * level, survival, now)
    return _TypeFlow(_census_by_day(stays, since), expected, from_end, from_now)


def _as_counted(past: pd.DataFrame, flows: dict[str, _TypeFlow]) -> pd.DataFrame:
    """The forecast's days up to the as-of day with the census counted then (a certain value: every quantile)."""
    counted = past.copy()
    census = np.sum([f.census + f.expected for f in flows.values()], axis=0)[: len(past)]
    for name in ["mean", *QUANTILES]:
        counted[name] = census
    for kind in ADMISSION_TYPES:
        counted[f"mean_{kind}"] = (flows[kind].census + flows[kind].expected)[: len(past)] if kind in flows else 0.0
    return counted


def _requantiled(frozen: pd.DataFrame, mean: np.ndarray, widen: tuple[float, float] = (1.0, 1.0)) -> pd.DataFrame:
    """Rows with a new mean and the frozen forecast's spread at the same horizon step (first rows first), the
    offsets above the mean scaled by `widen[0]` and those below by `widen[1]`."""
    offsets = frozen[QUANTILES].to_numpy(float)[: len(mean)] - frozen["mean"].to_numpy(float)[: len(mean), None]
    offsets = np.where(offsets > 0, offsets * widen[0], offsets * widen[1])
    values = np.sort(np.clip(mean[:, None] + offsets, 0, None), axis=1)
    return pd.DataFrame(values, columns=QUANTILES)


def service_adaptation(
    trained: pd.DataFrame, census: np.ndarray, horizon: int, settings: Settings | None = None
) -> tuple[float, float]:
    """How much the misses seen since training widen (or narrow) each tail: exp of the online step (see
    `forecast.calibration`) summed over those days, for the upper and the lower tail.

    Args:
        trained: the trained forecast's rows for the days since training (the quantile grid), in day order.
        census: the census counted on those days.
        horizon: the days the trained forecast covers (the step shrinks beyond `Settings.adapt_days`, as in
            the backtest).
        settings: the calibration's settings (its rate, target and limits).
    """
    settings = settings or Settings()
    if not len(census):
        return 1.0, 1.0
    rate = settings.adapt_rate * min(1.0, settings.adapt_days / max(horizon, 1))
    upper = np.ceil(trained[column(1 - settings.target)].to_numpy(float)[: len(census)] - 1e-9)
    lower = trained[column(settings.target)].to_numpy(float)[: len(census)]
    steps = [rate * float(np.sum(missed - settings.target)) for missed in (census > upper, census < lower)]
    low, high = settings.adapt_limits
    return float(np.exp(np.clip(steps[0], low, high))), float(np.exp(np.clip(steps[1], low, high)))


def nowcast(bundle: ForecastBundle, episodes: pd.DataFrame, as_of: pd.Timestamp) -> Nowcast:
    """Re-anchor every unit's census forecast on the patients in bed at midnight of `as_of`.

    Args:
        bundle: the trained bundle (its forecast starts the day after the data's last day T).
        episodes: `unit, admitted_at, discharged_at, admission_type` of at least every stay in bed on some day
            after T − 1 (still open, or discharged after T−1); older stays change nothing.
        as_of: the newest day the episodes cover (see `as_of_day`), after T and before the forecast's last day.

    Raises:
        ValueError: `as_of` is not inside the forecast (the message says what to do).
    """
    end = bundle.first_forecast_day - pd.Timedelta(days=1)
    last = bundle.last_forecast_day
    as_of = pd.Timestamp(as_of).normalize()
    if as_of <= end:
        raise ValueError(f"as of {as_of:%Y-%m-%d} nothing is newer than the training data (to {end:%Y-%m-%d})")
    if as_of >= last:
        raise ValueError(
            f"the newest episodes (as of {as_of:%Y-%m-%d}) reach past the forecast's last day {last:%Y-%m-%d}: "
            "retrain (`bedcast retrain`)"
        )
    chosen = bundle.meta.chosen.get("census", {})
    by_unit = dict(tuple(episodes.groupby("unit", sort=False))) if len(episodes) else {}
    since = pd.date_range(end + pd.Timedelta(days=1), as_of, freq="D")
    census_rows, admissions_rows, methods, actual = [], [], {}, []
    moves: dict[str, _Move] = {}
    forecasts = dict(tuple(bundle.forecasts.groupby(["unique_id", "target"], sort=False)))
    structure = _structure(bundle)
    admissions_rows.append(bundle.forecasts[bundle.forecasts["target"] == "admissions"])
    for unit in bundle.unit_names:
        rows = forecasts[(unit, "census")].sort_values("ds").reset_index(drop=True)
        flows = _unit_flows(bundle, structure, unit, by_unit.get(unit), end, as_of, len(rows))
        later = rows[rows["ds"] > as_of].reset_index(drop=True)
        if flows is None:
            census_rows.append(rows)
            methods[unit] = "kept as trained: the unit has no length-of-stay curve (trained on daily counts)"
            continue
        now = np.sum([f.from_now for f in flows.values()], axis=0)
        model = str(chosen.get(unit, rows["model"].iloc[0]))
        if model == "flow":
            mean = now
            # A type the unit never admits has no curve: none of its patients are in bed.
            split = {kind: flows[kind].from_now if kind in flows else np.zeros(len(now)) for kind in ADMISSION_TYPES}
            methods[unit] = "flow model re-anchored on the patients in bed as of the day"
        else:
            then = np.sum([f.from_end for f in flows.values()], axis=0)[len(since) :]
            mean = np.clip(later["mean"].to_numpy(float) + now - then, 0, None)
            split = {}
            methods[unit] = (
                f"{model} forecast corrected by the patients in bed as of the day (their remaining stays against "
                "those expected at training)"
            )
        counted = sum(f.census + f.expected for f in flows.values())
        widen = service_adaptation(rows[rows["ds"] <= as_of], np.asarray(counted, float), len(rows))
        piece = later[["unique_id", "target", "ds", "model"]].copy()
        piece["mean"] = mean
        piece = pd.concat([piece, _requantiled(rows, mean, widen)], axis=1)
        piece["mean_acute"] = split.get("acute", np.nan)
        piece["mean_elective"] = split.get("elective", np.nan)
        counted_rows = _as_counted(rows[rows["ds"] <= as_of].reset_index(drop=True), flows)
        census_rows.append(counted_rows)
        census_rows.append(piece[rows.columns])
        news = pd.Series(mean - later["mean"].to_numpy(float), index=later["ds"])
        moves[unit] = _Move(counted_rows.set_index("ds"), news, widen)
        actual.append(
            pd.DataFrame(
                {
                    "unit": unit,
                    "ds": since,
                    "census": counted,
                    "expected": sum(f.expected for f in flows.values()),
                }
            )
        )
    forecasts = pd.concat([*census_rows, *admissions_rows], ignore_index=True)[bundle.forecasts.columns]
    moved = replace(bundle, forecasts=forecasts, year_ahead=_year_moved(bundle.year_ahead, as_of, moves))
    census = (
        pd.concat(actual, ignore_index=True) if actual else pd.DataFrame(columns=["unit", "ds", "census", "expected"])
    )
    return Nowcast(as_of, moved, methods, census)


@dataclass(frozen=True)
class _Move:
    """How the nowcast moved one unit's quarter: the days counted up to D, the mean's change on each later day,
    and the service widening of its tails."""

    counted: pd.DataFrame  # indexed by ds: mean, quantiles, mean_acute, mean_elective up to D
    news: pd.Series  # by ds after D: the re-anchored mean minus the trained one
    widen: tuple[float, float]


def _year_moved(year: pd.DataFrame, as_of: pd.Timestamp, moves: dict[str, _Move]) -> pd.DataFrame:
    """The year ahead moved as the quarter was (see the module's notes); units the nowcast kept as trained keep
    their year too."""
    if year.empty or not moves:
        return year
    parts = []
    for unit, rows in year.groupby("unique_id", sort=False):
        move = moves.get(str(unit))
        if move is None:
            parts.append(rows)
            continue
        rows = rows.sort_values("ds").reset_index(drop=True)
        past = rows[rows["ds"] <= as_of].copy()
        counted = move.counted.reindex(past["ds"])
        for name in ["mean", *QUANTILES, "mean_acute", "mean_elective"]:
            past[name] = counted[name].to_numpy()
        later = rows[rows["ds"] > as_of].reset_index(drop=True)
        trained = later["mean"].to_numpy(float)
        mean = np.clip(trained + move.news.reindex(later["ds"]).fillna(0.0).to_numpy(), 0, None)
        piece = later.copy()
        piece[QUANTILES] = _requantiled(later, mean, move.widen).to_numpy()
        piece["mean"] = mean
        # The admission types keep their shares of the day's mean.
        share = np.divide(mean, trained, out=np.ones_like(mean), where=trained > 0)
        for kind in ("mean_acute", "mean_elective"):
            piece[kind] = later[kind].to_numpy(float) * share
        parts.append(pd.concat([past, piece], ignore_index=True))
    return pd.concat(parts, ignore_index=True)[year.columns]


_Structure = dict[tuple[str, str], tuple[np.ndarray, np.ndarray, pd.DataFrame]]


def _structure(bundle: ForecastBundle) -> _Structure:
    """Per unit and admission type: the length-of-stay curve, the expected admissions per forecast day and the
    patients in bed at training, looked up once (types without a curve or admissions are left out)."""
    curves, arrivals, trained = bundle.length_of_stay, bundle.admissions_by_type, bundle.in_bed
    if curves.empty or arrivals.empty:
        return {}
    curve_of = {
        key: rows.sort_values("day")["survival"].to_numpy(float)
        for key, rows in curves.groupby(["unit", "admission_type"])
    }
    admitted = {
        key: rows.sort_values("ds")["expected"].to_numpy(float)
        for key, rows in arrivals.groupby(["unit", "admission_type"])
    }
    no_one = pd.DataFrame({"days_since_admission": np.zeros(0, dtype=np.int64), "patients": np.zeros(0)})
    in_bed = dict(tuple(trained.groupby(["unit", "admission_type"]))) if len(trained) else {}
    return {
        (str(unit), str(kind)): (curve_of[(unit, kind)], expected, in_bed.get((unit, kind), no_one))
        for (unit, kind), expected in admitted.items()
        if (unit, kind) in curve_of and len(curve_of[(unit, kind)])
    }


def _unit_flows(
    bundle: ForecastBundle,
    structure: _Structure,
    unit: str,
    stays: pd.DataFrame | None,
    end: pd.Timestamp,
    as_of: pd.Timestamp,
    days: int,
) -> dict[str, _TypeFlow] | None:
    """Per admission type, the unit's flow since T and from D; None when the flow structure does not apply."""
    kinds = [kind for kind in ADMISSION_TYPES if (unit, kind) in structure]
    if not kinds:
        return None
    level = _level_now(bundle, unit, stays, end, as_of)
    empty = pd.DataFrame({"admitted_at": pd.to_datetime([]), "discharged_at": pd.to_datetime([])})
    by_kind = dict(tuple(stays.groupby("admission_type"))) if stays is not None else {}
    flows = {}
    for kind in kinds:
        survival, expected, in_bed = structure[(unit, kind)]
        flows[kind] = _type_flow(by_kind.get(kind, empty), survival, expected[:days], in_bed, end, as_of, level)
    return flows


def _level_now(
    bundle: ForecastBundle, unit: str, stays: pd.DataFrame | None, end: pd.Timestamp, as_of: pd.Timestamp
) -> float:
    """How far admissions since training ran above (> 1) or below the forecast: the flow model's own level rule
    (actual over expected admissions of the last `LEVEL_DAYS` days) rolled on to `as_of`.

    At training the level was set so that the window's expected admissions equal the actual ones, so the days
    of the window before T count as actual = expected; the days since T bring the news.
    """
    lag = (as_of - end).days
    expected = bundle.admissions_by_type
    expected = expected[(expected["unit"] == unit) & (expected["ds"] > end) & (expected["ds"] <= as_of)]
    admitted = 0 if stays is None else int(((stays["admitted_at"] > end) & (stays["admitted_at"] <= as_of)).sum())
    history = bundle.history
    before = 0.0
    if lag < LEVEL_DAYS and "admissions" in history.columns:
        window = history[(history["unique_id"] == unit) & (history["ds"] > end - pd.Timedelta(days=LEVEL_DAYS - lag))]
        before = float(window["admissions"].sum())
    since = float(expected["expected"].sum())
    if lag >= LEVEL_DAYS:
        # Only the latest LEVEL_DAYS days count, as at training.
        recent = expected[expected["ds"] > as_of - pd.Timedelta(days=LEVEL_DAYS)]
        since = float(recent["expected"].sum())
        admitted = (
            int(
                ((stays["admitted_at"] > as_of - pd.Timedelta(days=LEVEL_DAYS)) & (stays["admitted_at"] <= as_of)).sum()
            )
            if stays is not None
            else 0
        )
    return (before + admitted + 1) / (before + since + 1)
