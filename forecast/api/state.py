"""What the service serves from: one loaded model, its tables cut per unit, and answers computed before.

A `ServingState` is built whole, off the request path, and then handed over as one reference: requests take
the reference once and read from it, so a reload swaps the model between requests, never during one.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from forecast.beds import BedPolicy, daily_bed_plan, quarter_bounds
from forecast.bundle import ForecastBundle
from forecast.registry import ServedModel
from forecast.staffing import StaffingRatios, shift_staffing

__all__ = ["Body", "BodyCache", "ServingState", "build_state"]


@dataclass(frozen=True)
class Body:
    """A rendered answer: the bytes and their media type."""

    content: bytes
    media_type: str


class BodyCache:
    """Rendered answers by request, least recently used out first, bounded in entries and bytes.

    Answers depend only on the model and the request, so a state's cache never goes stale: a reload brings a
    new state with an empty cache.
    """

    def __init__(self, max_entries: int = 512, max_bytes: int = 64 * 2**20):
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self._bodies: OrderedDict[Hashable, Body] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def peek(self, key: Hashable) -> Body | None:
        """The cached answer, or None (no rendering: safe on the event loop)."""
        with self._lock:
            body = self._bodies.get(key)
            if body is not None:
                self._bodies.move_to_end(key)
            return body

    def get(self, key: Hashable, render: Callable[[], Body]) -> Body:
        with self._lock:
            body = self._bodies.get(key)
            if body is not None:
                self._bodies.move_to_end(key)
                return body
        # Render outside the lock: two threads may render the same answer once each, which is harmless.
        body = render()
        with self._lock:
            if key not in self._bodies:
                self._bodies[key] = body
                self._bytes += len(body.content)
            while self._bodies and (len(self._bodies) > self.max_entries or self._bytes > self.max_bytes):
                _, old = self._bodies.popitem(last=False)
                self._bytes -= len(old.content)
        return body

    def __len__(self) -> int:
        return len(self._bodies)


@dataclass
class ServingState:
    """A loaded model ready to answer.

    Attributes:
        served: the model version and its bundle.
        policy: the bed policy it was trained with (defaults where the bundle does not say).
        ratios: the staffing ratios it was trained with (defaults where the bundle does not say).
        unit_ratios: the units whose ratios differ from `ratios` (from the units file at training).
        census: per unit, its census forecast rows by day.
        admissions: per unit, its admissions forecast rows by day (units without one are missing).
        current_beds: beds per unit where known.
        bed_plans: per unit, the daily bed plan of the whole forecast under the model's policy (rows are
            independent days, so a request for some days is a slice).
        staffing: per unit, nurses per day and shift over the whole forecast (a request is a slice).
        quarters: the whole quarters inside the forecast by name (`2026Q1`, and `NEXT` for the first after the
            data), first and last day.
        loaded_at: when this state was built.
        cache: rendered answers.
        derived: tables worked out from the model on first use (scenario inputs, the served plan of a quarter).
    """

    served: ServedModel
    policy: BedPolicy
    ratios: StaffingRatios
    unit_ratios: dict[str, StaffingRatios]
    census: dict[str, pd.DataFrame]
    admissions: dict[str, pd.DataFrame]
    current_beds: pd.Series
    bed_plans: dict[str, pd.DataFrame]
    staffing: dict[str, pd.DataFrame]
    quarters: dict[str, tuple[pd.Timestamp, pd.Timestamp]]
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    cache: BodyCache = field(default_factory=BodyCache)
    derived: dict[Hashable, Any] = field(default_factory=dict)

    def ratios_for(self, unit: str) -> StaffingRatios:
        """A unit's staffing ratios: its own from training, else the model's."""
        return self.unit_ratios.get(unit, self.ratios)

    @property
    def bundle(self) -> ForecastBundle:
        return self.served.bundle

    @property
    def units(self) -> list[str]:
        return self.bundle.unit_names

    @property
    def first_day(self) -> pd.Timestamp:
        return self.bundle.first_forecast_day

    @property
    def last_day(self) -> pd.Timestamp:
        return self.bundle.last_forecast_day


def _known_fields(cls: type, values: Any) -> dict[str, Any]:
    """The entries of `values` that are fields of the dataclass `cls` (a newer bundle may carry more)."""
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in (values or {}).items() if k in names}


def _per_unit(bundle: ForecastBundle, target: str) -> dict[str, pd.DataFrame]:
    rows = bundle.forecasts[bundle.forecasts["target"] == target]
    return {
        str(unit): group.assign(ds=pd.to_datetime(group["ds"])).sort_values("ds").reset_index(drop=True)
        for unit, group in rows.groupby("unique_id", sort=True)
    }


def build_state(served: ServedModel) -> ServingState:
    """Cut a loaded model's forecasts per unit, read its policy and ratios, and work out the daily bed plans
    and staffing under them (the answers most requests slice)."""
    bundle = served.bundle
    if bundle.forecasts.empty or bundle.units.empty:
        raise ValueError(f"{served.name} version {served.version} has no forecasts or no units")
    policy = BedPolicy(**_known_fields(BedPolicy, bundle.meta.get("policy")))
    ratios = StaffingRatios(**_known_fields(StaffingRatios, bundle.meta.get("staffing")))
    unit_ratios = {
        str(unit): StaffingRatios(**_known_fields(StaffingRatios, given))
        for unit, given in bundle.meta.get("staffing_per_unit", {}).items()
    }
    census = _per_unit(bundle, "census")
    current_beds = bundle.current_beds()
    return ServingState(
        served=served,
        policy=policy,
        ratios=ratios,
        unit_ratios=unit_ratios,
        census=census,
        admissions=_per_unit(bundle, "admissions"),
        current_beds=current_beds,
        bed_plans={unit: daily_bed_plan(rows, current_beds, policy) for unit, rows in census.items()},
        staffing={
            unit: shift_staffing(rows, unit_ratios.get(unit, ratios)).reset_index(drop=True)
            for unit, rows in census.items()
        },
        quarters=_quarters(bundle),
    )


def _quarters(bundle: ForecastBundle) -> dict[str, tuple[pd.Timestamp, pd.Timestamp]]:
    first, last = bundle.first_forecast_day, bundle.last_forecast_day
    inside = {}
    for period in pd.period_range(first, last, freq="Q"):
        start, end = period.start_time.normalize(), period.end_time.normalize()
        if first <= start and end <= last:
            inside[f"{period.year}Q{period.quarter}"] = (start, end)
    start, end = quarter_bounds("next", pd.Timestamp(bundle.units["last_date"].max()))
    if first <= start and end <= last:
        inside["NEXT"] = (start, end)
    return inside
