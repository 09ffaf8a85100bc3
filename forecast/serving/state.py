"""What the service serves from: one loaded model, its tables cut per unit, and answers computed before.

A `ServingState` is built whole, off the request path (`forecast.serving.slot`), and then handed over as one
reference: requests take the reference once and read from it, so a reload swaps the model between requests,
never during one.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from forecast import explain
from forecast.beds import BedPolicy, daily_bed_plan
from forecast.bundle import ForecastBundle, per_unit
from forecast.explain import Explanation
from forecast.monitoring import UnitMonitor
from forecast.nowcast import Nowcast
from forecast.periods import quarter_window, year_window
from forecast.registry import ServedModel
from forecast.staffing import StaffingRatios, shift_staffing

__all__ = ["Body", "Cache", "ServingState", "build_state"]


@dataclass(frozen=True)
class Body:
    """A rendered answer: the bytes and their media type."""

    content: bytes
    media_type: str


class Cache:
    """Answers by request, least recently used out first, bounded in entries and bytes (a rendered `Body`
    counts its bytes, a typed answer none: the entries bound those).

    Answers depend only on the model and the request, so a state's cache never goes stale: a reload brings a
    new state with an empty cache.
    """

    def __init__(self, max_entries: int = 512, max_bytes: int = 64 * 2**20):
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self._bodies: OrderedDict[Hashable, Any] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def peek(self, key: Hashable) -> Any:
        """The cached answer, or None (no rendering: safe on the event loop)."""
        with self._lock:
            body = self._bodies.get(key)
            if body is not None:
                self._bodies.move_to_end(key)
            return body

    def get(self, key: Hashable, render: Callable[[], Any]) -> Any:
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
                self._bytes += _size(body)
            while self._bodies and (len(self._bodies) > self.max_entries or self._bytes > self.max_bytes):
                _, old = self._bodies.popitem(last=False)
                self._bytes -= _size(old)
        return body

    def __len__(self) -> int:
        return len(self._bodies)

    def __getstate__(self) -> dict[str, Any]:
        # A state made in another process (the nowcast's worker) travels pickled; its lock is made anew here.
        return {k: v for k, v in self.__dict__.items() if k != "_lock"}

    def __setstate__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)
        self._lock = threading.Lock()


def _size(value: Any) -> int:
    return len(value.content) if isinstance(value, Body) else 0


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
        loaded_at: when this state was built.
        cache: rendered answers (bytes) by request and format.
        answers: typed answers by request (`forecast.serving.answers`), what the renderings are made from.
        nowcast: the forecast re-anchored on the newest episodes (None: as trained).
        monitoring: per unit, production accuracy since training (None: not measured yet).
        derived: tables worked out from the model on first use (scenario inputs, the served plan of a quarter).
        year: per unit, its census forecast of the year ahead (empty: the model has none).
        explained: the plans of the next quarter and the year ahead (`quarter`, `year`) at the model's overflow
            risk, split by driver (`forecast.explain`); a horizon the model holds no explanation for is missing.
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
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    cache: Cache = field(default_factory=Cache)
    answers: Cache = field(default_factory=lambda: Cache(max_entries=128))
    nowcast: Nowcast | None = None
    monitoring: list[UnitMonitor] | None = None
    derived: dict[Hashable, Any] = field(default_factory=dict)
    year: dict[str, pd.DataFrame] = field(default_factory=dict)
    explained: dict[str, Explanation] = field(default_factory=dict)

    def quarter(self, spec: str) -> tuple[pd.Timestamp, pd.Timestamp]:
        """The first and last day of a quarter the forecast covers (`next` or like `2026Q1`).

        Raises:
            QuarterError: not a quarter's name, or not inside the forecast (the message lists those that are).
        """
        key = ("quarter", spec.strip().upper())
        found = self.derived.get(key)
        if found is None:  # worked out once per name: a planner asks for the same quarter again and again
            found = self.derived[key] = quarter_window(spec, self.data_last_day, self.first_day, self.last_day)
        return found

    @property
    def data_last_day(self) -> pd.Timestamp:
        """The training data's last day (what `next` quarter follows)."""
        return pd.Timestamp(self.bundle.units["last_date"].max())

    def year_window(self) -> tuple[pd.Timestamp, pd.Timestamp] | None:
        """The first and last day of the year ahead the model forecasts, or None (less than two years of history,
        or trained without it)."""
        if not self.year:
            return None
        return year_window(self.data_last_day)

    def ratios_for(self, unit: str) -> StaffingRatios:
        """A unit's staffing ratios: its own from training, else the model's."""
        return self.unit_ratios.get(unit, self.ratios)

    @property
    def bundle(self) -> ForecastBundle:
        """What the answers come from: the nowcast's re-anchored bundle, or the model's own."""
        return self.nowcast.bundle if self.nowcast is not None else self.served.bundle

    @property
    def trained(self) -> ForecastBundle:
        """The model's bundle as made at training (what monitoring judges)."""
        return self.served.bundle

    @property
    def as_of(self) -> pd.Timestamp:
        """The newest day the answers know: the nowcast's, else the training data's last day."""
        if self.nowcast is not None:
            return self.nowcast.as_of
        return self.served.bundle.first_forecast_day - pd.Timedelta(days=1)

    @property
    def units(self) -> list[str]:
        return self.bundle.unit_names

    @property
    def first_day(self) -> pd.Timestamp:
        return self.bundle.first_forecast_day

    @property
    def last_day(self) -> pd.Timestamp:
        return self.bundle.last_forecast_day


def build_state(
    served: ServedModel, nowcast: Nowcast | None = None, monitoring: list[UnitMonitor] | None = None
) -> ServingState:
    """Cut a loaded model's forecasts (or their `nowcast`) per unit, read its policy and ratios, and work out
    the daily bed plans and staffing under them (the answers most requests slice)."""
    bundle = nowcast.bundle if nowcast is not None else served.bundle
    if bundle.forecasts.empty or bundle.units.empty:
        raise ValueError(f"{served.name} version {served.version} has no forecasts or no units")
    policy, ratios, unit_ratios = bundle.meta.policy, bundle.meta.staffing, bundle.meta.staffing_per_unit
    census = per_unit(bundle.forecasts, "census")
    current_beds = bundle.current_beds()
    return ServingState(
        served=served,
        policy=policy,
        ratios=ratios,
        unit_ratios=unit_ratios,
        census=census,
        admissions=per_unit(bundle.forecasts, "admissions"),
        current_beds=current_beds,
        bed_plans={unit: daily_bed_plan(rows, current_beds, policy) for unit, rows in census.items()},
        staffing={
            unit: shift_staffing(rows, unit_ratios.get(unit, ratios)).reset_index(drop=True)
            for unit, rows in census.items()
        },
        nowcast=nowcast,
        monitoring=monitoring,
        year=per_unit(bundle.year_ahead, "census") if len(bundle.year_ahead) else {},
        explained=explain.explained_plans(bundle, policy),
    )
