"""A hand-made bundle with the flow structure scenarios need (admissions by type, stays, patients in bed)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecast.bundle import ForecastBundle
from forecast.census import InBed, flow_census
from forecast.quantiles import LEVELS, column
from tests.bundles import make_bundle

__all__ = ["ARRIVALS", "flow_bundle", "geometric_stays"]

# Expected admissions a day by unit and type (weekdays; planned admissions none at weekends).
ARRIVALS = {
    ("medicine", "acute"): 3.2,
    ("medicine", "elective"): 1.0,
    ("surgery", "acute"): 1.2,
    ("surgery", "elective"): 1.5,
}


def geometric_stays(mean: float, days: int = 60) -> np.ndarray:
    """P(stay > k) for k = 0..days of a geometric stay with about `mean` nights."""
    return (mean / (1 + mean)) ** np.arange(1, days + 2)


def flow_bundle(days: int = 200) -> ForecastBundle:
    """`tests.bundles.make_bundle` (medicine's census chosen by the flow model, surgery's by ETS) with the flow
    structure of both units."""
    bundle = make_bundle(days=days)
    forecasts = bundle.forecasts.copy()
    forecasts.loc[(forecasts["unique_id"] == "medicine") & (forecasts["target"] == "census"), "model"] = "flow"
    ds = pd.date_range(bundle.first_forecast_day, periods=days, freq="D")
    weekday = ds.dayofweek.to_numpy() < 5
    arrivals, curves, in_bed = [], [], []
    for (unit, kind), level in ARRIVALS.items():
        expected = (
            level * (weekday if kind == "elective" else np.ones(days)) * 1.4
            if kind == "elective"
            else np.full(days, level)
        )
        arrivals.append(pd.DataFrame({"unit": unit, "admission_type": kind, "ds": ds, "expected": expected}))
        survival = geometric_stays(4.0 if kind == "acute" else 2.5)
        curves.append(
            pd.DataFrame({"unit": unit, "admission_type": kind, "day": range(len(survival)), "survival": survival})
        )
        in_bed.append(
            pd.DataFrame(
                {
                    "unit": unit,
                    "admission_type": kind,
                    "days_since_admission": [0, 1, 3, 8],
                    "patients": [3.0, 2.0, 2.0, 1.0],
                }
            )
        )
    # Medicine's census is the flow model's own: the queue of its admissions, stays and patients in bed, with
    # the served quantile offsets around it.
    census = (forecasts["unique_id"] == "medicine") & (forecasts["target"] == "census")
    by_kind = {}
    for kind in ("acute", "elective"):
        expected = arrivals[list(ARRIVALS).index(("medicine", kind))]["expected"].to_numpy()
        stays = curves[list(ARRIVALS).index(("medicine", kind))]["survival"].to_numpy()
        here = in_bed[list(ARRIVALS).index(("medicine", kind))]
        by_kind[kind] = flow_census(
            expected, stays, InBed(here["days_since_admission"].to_numpy(), here["patients"].to_numpy())
        )[0]
    grid = [column(q) for q in LEVELS]
    offsets = forecasts.loc[census, grid].to_numpy() - forecasts.loc[census, ["mean"]].to_numpy()
    forecasts.loc[census, "mean_acute"] = by_kind["acute"]
    forecasts.loc[census, "mean_elective"] = by_kind["elective"]
    forecasts.loc[census, "mean"] = by_kind["acute"] + by_kind["elective"]
    forecasts.loc[census, grid] = np.clip(forecasts.loc[census, ["mean"]].to_numpy() + offsets, 0, None)
    bundle.forecasts = forecasts
    bundle.admissions_by_type = pd.concat(arrivals, ignore_index=True)
    bundle.length_of_stay = pd.concat(curves, ignore_index=True)
    bundle.in_bed = pd.concat(in_bed, ignore_index=True)
    return bundle
