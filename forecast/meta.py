"""How a served forecast was made: the bundle's metadata, typed, read the same way by every part that needs it.

Training writes it (`training.pipeline`), the registry stores it as JSON (`to_dict`) and reads it back
(`BundleMeta.of`); serving, the nowcast, monitoring and the watcher read its fields. Keys a newer version wrote
and this one does not know are kept in `extra`, so a round trip loses nothing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from forecast.beds import BedPolicy
from forecast.staffing import StaffingRatios

__all__ = ["BundleMeta"]


def _known(cls: type, values: Any) -> dict[str, float]:
    names = {f.name for f in fields(cls)}
    return {k: float(v) for k, v in (values or {}).items() if k in names}


@dataclass(frozen=True)
class BundleMeta:
    """What training recorded about a bundle.

    Attributes:
        trained_at: when (ISO 8601, UTC).
        data: the data's name; data_fingerprint: a hash of it; data_first_date, data_last_date: its range.
        window: the data and backtest protocol a score was measured on; method: candidates, holidays,
            regressors (JSON).
        score: mean honest MASE over the targets (lower is better).
        settings: the engine settings.
        policy: the bed policy; staffing: the staffing ratios; staffing_per_unit: units whose ratios differ.
        backtest: per target, the backtest summary; backtest_units: per target and unit, its honest scores.
        chosen: per target and unit, the model chosen.
        year_ahead: the census backtest a year ahead, where there is one: `horizon, folds, step`, its summary
            (`backtest`) and the model chosen per unit (`chosen`); empty without a year ahead.
        extra: keys this version does not know.
    """

    trained_at: str | None = None
    data: str | None = None
    data_fingerprint: str | None = None
    window: str | None = None
    method: str | None = None
    data_first_date: str | None = None
    data_last_date: str | None = None
    score: float | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    policy: BedPolicy = field(default_factory=BedPolicy)
    staffing: StaffingRatios = field(default_factory=StaffingRatios)
    staffing_per_unit: dict[str, StaffingRatios] = field(default_factory=dict)
    backtest: dict[str, dict[str, Any]] = field(default_factory=dict)
    backtest_units: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    chosen: dict[str, dict[str, str]] = field(default_factory=dict)
    year_ahead: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, values: BundleMeta | dict[str, Any] | None) -> BundleMeta:
        """The metadata of a stored dict (missing keys get their defaults, unknown ones go to `extra`)."""
        if isinstance(values, BundleMeta):
            return values
        given = dict(values or {})
        plain = {f.name for f in fields(cls)} - {"policy", "staffing", "staffing_per_unit", "extra"}
        known = {k: v for k, v in given.items() if k in plain and v is not None}
        return cls(
            **known,
            policy=BedPolicy(**_known(BedPolicy, given.get("policy"))),
            staffing=StaffingRatios(**_known(StaffingRatios, given.get("staffing"))),
            staffing_per_unit={
                str(unit): StaffingRatios(**_known(StaffingRatios, ratios))
                for unit, ratios in (given.get("staffing_per_unit") or {}).items()
            },
            extra={k: v for k, v in given.items() if k not in plain | {"policy", "staffing", "staffing_per_unit"}},
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready dict the registry stores (`of` reads it back)."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        out["policy"] = asdict(self.policy)
        out["staffing"] = asdict(self.staffing)
        out["staffing_per_unit"] = {unit: asdict(r) for unit, r in self.staffing_per_unit.items()}
        return {**self.extra, **{k: v for k, v in out.items() if v is not None}}

    def ratios_for(self, unit: str) -> StaffingRatios:
        """A unit's staffing ratios: its own from training, else the model's."""
        return self.staffing_per_unit.get(unit, self.staffing)

    def backtest_mase(self, unit: str, target: str = "census") -> float | None:
        """The unit's MASE in the backtest at training, else the target's summary MASE, else None."""
        units = self.backtest_units.get(target, {})
        if unit in units and "mase" in units[unit]:
            return float(units[unit]["mase"])
        summary = self.backtest.get(target, {})
        return float(summary["mase"]) if "mase" in summary else None
