"""What a training run hands to serving: forecast distributions per unit, the units, and how they were made.

Training fits each unit's chosen model on all history and forecasts the census and admissions distributions
(quantile grid) far enough ahead to cover the next quarter. Serving answers every question (forecast, beds,
plan, staffing) from this bundle, so a request costs a table look-up and some arithmetic, never a model fit.
The bundle holds aggregates only (counts per unit and day); no episode row ever enters it.

`build_bundle` makes one from what training computed (pure: no files, no MLflow); `forecast.registry` stores and
loads it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from forecast.backtest import Backtest
from forecast.counterfactual import Counterfactuals
from forecast.los import length_of_stay_curves
from forecast.meta import BundleMeta
from forecast.plans import pooled_forecasts
from forecast.quantiles import LEVELS, columns
from forecast.reliability import Reliability, records

__all__ = [
    "FORECAST_COLUMNS",
    "HISTORY_DAYS",
    "REQUEST_COLUMNS",
    "TARGETS",
    "ForecastBundle",
    "answer_requests",
    "build_bundle",
    "per_unit",
]

TARGETS = ("census", "admissions")
# The forecast table's columns; `mean_acute`/`mean_elective` are empty unless the flow model split the census.
FORECAST_COLUMNS = ["unique_id", "target", "ds", "model", "mean", *columns(LEVELS), "mean_acute", "mean_elective"]


@dataclass
class ForecastBundle:
    """A trained forecast, ready to serve.

    Attributes:
        forecasts: `FORECAST_COLUMNS`: per unit, target and day after the data, the point forecast and the
            quantile grid.
        units: `unit, beds, first_date, last_date`: current beds (`<NA>` where unknown) and the data's range;
            with `promise, promised_risk, overflow_share, promise_days, upper_widened_by` the overflow promise
            the census backtest measured (`kept`, `broken` or `unmeasured`) and how much wider the upper
            forecast was made where it did not hold.
        history: `unique_id, ds, census, admissions`: the recent daily history (for charts and context).
        meta: how the forecast was made (`forecast.meta.BundleMeta`; a dict given here is read into one): data
            fingerprint and range, engine settings, bed policy, staffing ratios, backtest summary, training time.
        pools: `level, unique_id, ds, mean` and the quantile grid: the summed census of each hospital's and
            region's units (`unique_id` is the pool), for plans of pooled beds; empty when units have no
            hospital or region.
        length_of_stay: `unit, admission_type, day, survival, source`: each unit's length-of-stay curve at the
            end of the data (P(stay > day), Kaplan–Meier), the flow model's view of how long patients stay; from
            the unit's own stays only when there are at least 20, else its hospital's or all units' pooled stays
            (`source`: unit, hospital, all; see `forecast.los.stored_curves`); empty when trained on daily counts.
        admissions_by_type: `unit, admission_type, ds, expected`: the flow model's expected admissions per day
            of the forecast, by type, for every unit whatever model its census chose (what-if scenarios change
            these); empty when trained on daily counts.
        in_bed: `unit, admission_type, days_since_admission, patients`: the patients in bed at the end of the
            data, counted by days since admission (aggregates only); empty when trained on daily counts.
        year_ahead: `FORECAST_COLUMNS` of the census over the year ahead (`forecast.periods.year_window`), from
            its own backtest at a horizon of a year; empty where a unit has less than two years of history.
        year_units: `unit, promise, promised_risk, overflow_share, promise_days, upper_widened_by`: the overflow
            promise that backtest measured a year ahead; empty without a year ahead.
        counterfactuals: `horizon, unique_id, coalition, ds, mean`: the census forecasts of the quarter's and the
            year's (`horizon`: quarter, year) chosen models with each combination of their drivers left on
            (`forecast.counterfactual`), what the plan's explanation by driver is computed from.
        drivers: `horizon, unique_id, driver, status, seen_by, members`: which drivers each unit's model separates.
    """

    forecasts: pd.DataFrame
    units: pd.DataFrame
    history: pd.DataFrame
    meta: BundleMeta = field(default_factory=BundleMeta)
    length_of_stay: pd.DataFrame = field(default_factory=pd.DataFrame)
    pools: pd.DataFrame = field(default_factory=pd.DataFrame)
    admissions_by_type: pd.DataFrame = field(default_factory=pd.DataFrame)
    in_bed: pd.DataFrame = field(default_factory=pd.DataFrame)
    year_ahead: pd.DataFrame = field(default_factory=pd.DataFrame)
    year_units: pd.DataFrame = field(default_factory=pd.DataFrame)
    counterfactuals: pd.DataFrame = field(default_factory=pd.DataFrame)
    drivers: pd.DataFrame = field(default_factory=pd.DataFrame)

    def __post_init__(self) -> None:
        self.meta = BundleMeta.of(self.meta)

    def hierarchy(self) -> pd.DataFrame | None:
        """`unit, hospital, region` when every unit has both, else None."""
        if not {"hospital", "region"} <= set(self.units.columns):
            return None
        tree = self.units[["unit", "hospital", "region"]]
        return None if tree.isna().any().any() else tree.astype(str)

    def reliability(self) -> dict[str, Reliability]:
        """Per unit, its measured overflow promise (empty for bundles from before the measure)."""
        if "promise" not in self.units.columns:
            return {}
        promise = self.units.dropna(subset=["promise"]).set_index("unit")
        return records(promise.rename(columns={"promise": "status", "promise_days": "days"}))

    def year_reliability(self) -> dict[str, Reliability]:
        """Per unit, the overflow promise measured a year ahead (empty without a year ahead)."""
        if self.year_units.empty:
            return {}
        promise = self.year_units.dropna(subset=["promise"]).set_index("unit")
        return records(promise.rename(columns={"promise": "status", "promise_days": "days"}))

    def explained(self, horizon: str) -> Counterfactuals | None:
        """The counterfactual forecasts of the `quarter`'s or the `year`'s models (None when not stored)."""
        if self.counterfactuals.empty or self.drivers.empty:
            return None
        rows = self.counterfactuals[self.counterfactuals["horizon"] == horizon]
        if rows.empty:
            return None
        status = self.drivers[self.drivers["horizon"] == horizon]
        return Counterfactuals(rows.drop(columns="horizon"), status.drop(columns="horizon"))

    @property
    def unit_names(self) -> list[str]:
        return sorted(self.units["unit"].astype(str))

    @property
    def first_forecast_day(self) -> pd.Timestamp:
        return pd.Timestamp(self.forecasts["ds"].min())

    @property
    def last_forecast_day(self) -> pd.Timestamp:
        return pd.Timestamp(self.forecasts["ds"].max())

    def current_beds(self) -> pd.Series:
        """Beds per unit where known (units with unknown beds are left out)."""
        known = self.units.dropna(subset=["beds"])
        return known.set_index("unit")["beds"].astype(int)

    def select(
        self,
        units: list[str] | None = None,
        target: str = "census",
        start: pd.Timestamp | None = None,
        days: int | None = None,
    ) -> pd.DataFrame:
        """Forecast rows of some units and one target from `start` (default: the first forecast day) for `days`.

        Raises:
            KeyError: a unit or target the bundle does not have (the message lists the known ones).
            ValueError: a date range outside the forecast.
        """
        if target not in TARGETS:
            raise KeyError(f"unknown target {target!r}; known: {', '.join(TARGETS)}")
        known = self.unit_names
        unknown = [u for u in units or [] if u not in known]
        if unknown:
            raise KeyError(f"unknown unit(s) {', '.join(unknown)}; known: {', '.join(known)}")
        first, last = self.first_forecast_day, self.last_forecast_day
        start = pd.Timestamp(start) if start is not None else first
        end = start + pd.Timedelta(days=(days or (last - start).days + 1) - 1)
        if start < first or end > last:
            raise ValueError(
                f"the forecast covers {first:%Y-%m-%d} to {last:%Y-%m-%d}; asked for {start:%Y-%m-%d} to {end:%Y-%m-%d}"
            )
        rows = self.forecasts
        mask = (rows["target"] == target) & (rows["ds"] >= start) & (rows["ds"] <= end)
        if units is not None:
            mask &= rows["unique_id"].isin(units)
        return rows[mask].reset_index(drop=True)


def per_unit(forecasts: pd.DataFrame, target: str = "census") -> dict[str, pd.DataFrame]:
    """One target's forecast rows cut per unit, each sorted by day (`ds` as timestamps)."""
    rows = forecasts[forecasts["target"] == target]
    return {
        str(unit): group.assign(ds=pd.to_datetime(group["ds"])).sort_values("ds").reset_index(drop=True)
        for unit, group in rows.groupby("unique_id", sort=True)
    }


HISTORY_DAYS = 365  # recent history kept in the bundle for charts and context


def build_bundle(
    daily: pd.DataFrame,
    forecasts: Sequence[pd.DataFrame],
    census: Backtest,
    meta: BundleMeta | dict[str, Any],
    *,
    last_day: pd.Timestamp,
    episodes: pd.DataFrame | None = None,
    current_beds: pd.Series | None = None,
    tree: pd.DataFrame | None = None,
    promise: pd.DataFrame | None = None,
    flow: tuple[pd.DataFrame, pd.DataFrame] | None = None,
    year_ahead: pd.DataFrame | None = None,
    year_promise: pd.DataFrame | None = None,
    explained: Mapping[str, Counterfactuals] | None = None,
) -> ForecastBundle:
    """What serving needs: the forecasts, units (beds, range, hierarchy), recent history, pools, stays.

    Args:
        daily: the daily frame the models learnt from (`unit, date, census, admissions, …`).
        forecasts: per target, `FORECAST_COLUMNS` rows (`engine.forecast_units` with its `target`).
        census: the census backtest (the pools' distributions come from its errors).
        meta: how the forecast was made (see `ForecastBundle.meta`).
        last_day: the data's last day.
        episodes: the validated episodes, for the length-of-stay curves (none with daily counts); a unit's own
            curve only from 20 stays up, else its hospital's or all units' (`forecast.los.stored_curves`).
        current_beds: today's beds per unit where known.
        tree: `unit, hospital, region` when every unit has both.
        promise: per unit, the census backtest's overflow promise (`metrics.promise_kept`): kept into the units
            table as `promise, promised_risk, overflow_share, promise_days, upper_widened_by`.
        flow: the expected admissions by type and the patients in bed of every unit (`engine.flow_tables`),
            what scenarios change.
        year_ahead: the census forecast of the year ahead (`FORECAST_COLUMNS`), where there is one.
        year_promise: per unit, its backtest's overflow promise (`metrics.promise_kept`).
        explained: the counterfactual forecasts of the quarter's and the year's census models, by horizon.
    """
    table = pd.concat(list(forecasts), ignore_index=True)
    span = daily.groupby("unit")["date"].agg(first_date="min", last_date="max").reset_index()
    beds_known = current_beds if current_beds is not None else pd.Series(dtype=float)
    span["beds"] = pd.array(span["unit"].map(beds_known), dtype="Int64")
    recent = daily[daily["date"] > last_day - pd.Timedelta(days=HISTORY_DAYS)]
    history = recent[["unit", "date", *[c for c in ("census", "admissions") if c in recent.columns]]]
    history = history.rename(columns={"unit": "unique_id", "date": "ds"}).reset_index(drop=True)
    if tree is not None:
        span = span.merge(tree, on="unit", how="left")
    units = span[["unit", "beds", "first_date", "last_date", *(["hospital", "region"] if tree is not None else [])]]
    if promise is not None:
        measured = promise.rename(columns={"status": "promise", "days": "promise_days"})
        columns = ["promise", "promised_risk", "overflow_share", "promise_days", "upper_widened_by"]
        units = units.merge(measured[columns], left_on="unit", right_index=True, how="left")
    census_forecast = table[table["target"] == "census"]
    pools = pooled_forecasts(census, census_forecast, tree)
    hospitals = tree.set_index("unit")["hospital"] if tree is not None else None  # else the episodes' own
    curves = length_of_stay_curves(episodes, last_day, hospitals=hospitals)  # each from 20 stays or more
    by_type, in_bed = flow if flow is not None else (pd.DataFrame(), pd.DataFrame())
    year_units = pd.DataFrame()
    if year_promise is not None:
        measured = year_promise.rename(columns={"status": "promise", "days": "promise_days"})
        columns = ["promise", "promised_risk", "overflow_share", "promise_days", "upper_widened_by"]
        year_units = measured[columns].rename_axis("unit").reset_index()
    counterfactuals, drivers = pd.DataFrame(), pd.DataFrame()
    if explained:
        counterfactuals = pd.concat([c.forecasts.assign(horizon=h) for h, c in explained.items()], ignore_index=True)[
            ["horizon", "unique_id", "coalition", "ds", "mean"]
        ]
        drivers = pd.concat([c.drivers.assign(horizon=h) for h, c in explained.items()], ignore_index=True)
        drivers = drivers[["horizon", *[c for c in drivers.columns if c != "horizon"]]]
    return ForecastBundle(
        table,
        units,
        history,
        BundleMeta.of(meta),
        curves,
        pools,
        admissions_by_type=by_type,
        in_bed=in_bed,
        year_ahead=year_ahead if year_ahead is not None else pd.DataFrame(),
        year_units=year_units,
        counterfactuals=counterfactuals,
        drivers=drivers,
    )


# The pyfunc model's input: one request per row (an empty `start` means the first forecast day, `days` ≤ 0 all).
REQUEST_COLUMNS = ["unit", "target", "start", "days"]


def answer_requests(bundle: ForecastBundle, requests: pd.DataFrame) -> pd.DataFrame:
    """The forecast rows each request asks for, one table (the pyfunc model's `predict`)."""
    missing = [c for c in REQUEST_COLUMNS if c not in requests.columns]
    if missing:
        raise ValueError(f"requests need the columns {', '.join(REQUEST_COLUMNS)}; missing {', '.join(missing)}")
    pieces = []
    for row in requests.itertuples(index=False):
        start = pd.Timestamp(row.start) if isinstance(row.start, str) and row.start else None
        days = int(row.days) if int(row.days) > 0 else None
        pieces.append(bundle.select([str(row.unit)], str(row.target), start, days))
    if not pieces:
        return pd.DataFrame(columns=FORECAST_COLUMNS)
    return pd.concat(pieces, ignore_index=True)
