"""What a training run hands to serving: forecast distributions per unit, the units, and how they were made.

Training fits each unit's chosen model on all history and forecasts the census and admissions distributions
(quantile grid) far enough ahead to cover the next quarter. Serving answers every question (forecast, beds,
plan, staffing) from this bundle, so a request costs a table look-up and some arithmetic, never a model fit.
The bundle holds aggregates only (counts per unit and day); no episode row ever enters it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from forecast.quantiles import LEVELS, columns

__all__ = ["ForecastBundle", "TARGETS", "FORECAST_COLUMNS", "REQUEST_COLUMNS", "answer_requests"]

TARGETS = ("census", "admissions")
# The forecast table's columns; `mean_acute`/`mean_elective` are empty unless the flow model split the census.
FORECAST_COLUMNS = ["unique_id", "target", "ds", "model", "mean", *columns(LEVELS), "mean_acute", "mean_elective"]


@dataclass
class ForecastBundle:
    """A trained forecast, ready to serve.

    Attributes:
        forecasts: `FORECAST_COLUMNS`: per unit, target and day after the data, the point forecast and the
            quantile grid.
        units: `unit, beds, first_date, last_date`: current beds (`<NA>` where unknown) and the data's range.
        history: `unique_id, ds, census, admissions`: the recent daily history (for charts and context).
        meta: how the forecast was made: data fingerprint and range, engine settings, bed policy, staffing
            ratios, backtest summary, training time.
        pools: `level, unique_id, ds, mean` and the quantile grid: the summed census of each hospital's and
            region's units (`unique_id` is the pool), for plans of pooled beds; empty when units have no
            hospital or region.
        length_of_stay: `unit, admission_type, day, survival`: each unit's length-of-stay curve at the end of
            the data (P(stay > day), Kaplan–Meier), the flow model's view of how long patients stay; empty when
            trained on daily counts.
        admissions_by_type: `unit, admission_type, ds, expected`: the flow model's expected admissions per day
            of the forecast, by type, for every unit whatever model its census chose (what-if scenarios change
            these); empty when trained on daily counts.
        in_bed: `unit, admission_type, days_since_admission, patients`: the patients in bed at the end of the
            data, counted by days since admission (aggregates only); empty when trained on daily counts.
    """

    forecasts: pd.DataFrame
    units: pd.DataFrame
    history: pd.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)
    length_of_stay: pd.DataFrame = field(default_factory=pd.DataFrame)
    pools: pd.DataFrame = field(default_factory=pd.DataFrame)
    admissions_by_type: pd.DataFrame = field(default_factory=pd.DataFrame)
    in_bed: pd.DataFrame = field(default_factory=pd.DataFrame)

    def hierarchy(self) -> pd.DataFrame | None:
        """`unit, hospital, region` when every unit has both, else None."""
        if not {"hospital", "region"} <= set(self.units.columns):
            return None
        tree = self.units[["unit", "hospital", "region"]]
        return None if tree.isna().any().any() else tree.astype(str)

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
