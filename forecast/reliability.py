"""The overflow promise as measured in the backtest, per unit: a record, and its sentence for the planner.

"Beds at a 5 % overflow risk" is a promise; the census backtest measures how often it held (`beds.reliability`,
`metrics.promise_kept`). A plan carries the measure as a `Reliability` record (status, promised risk, overflow
share, days, widening); code decides on `status`, and the sentence a planner reads is made from the record when
an answer is rendered (`statement`), so rewording it changes no decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pandas as pd

__all__ = ["Reliability", "Status", "records", "statement"]

Status = Literal["kept", "broken", "unmeasured"]


@dataclass(frozen=True)
class Reliability:
    """One unit's measured overflow promise.

    Attributes:
        unit: the unit.
        status: `kept`, `broken` (the census exceeded the beds on more than half again the promised share of
            days) or `unmeasured` (too few backtest days to tell).
        promised_risk: the overflow risk the beds were planned at.
        overflow_share: the share of backtest days the census exceeded them.
        days: backtest days measured.
        widened_by: the factor on the upper forecast that plans the unit conservatively (1: not widened).
    """

    unit: str
    status: Status
    promised_risk: float
    overflow_share: float
    days: int
    widened_by: float = 1.0

    @property
    def conservative(self) -> bool:
        """Planned conservatively: the promise broke or could not be measured."""
        return self.status != "kept"


def records(promise: pd.DataFrame) -> dict[str, Reliability]:
    """Per unit, its record from a table indexed by unit with `status, promised_risk, overflow_share, days,
    upper_widened_by` (as `metrics.promise_kept` gives them)."""
    return {
        str(unit): Reliability(
            unit=str(unit),
            status=str(row["status"]),  # type: ignore[arg-type]
            promised_risk=float(row["promised_risk"]),
            overflow_share=float(row["overflow_share"]),
            days=int(float(row["days"])),
            widened_by=float(row["upper_widened_by"]),
        )
        for unit, row in promise.iterrows()
    }


def statement(record: Reliability, with_unit: bool = True) -> str:
    """The plan's sentence on a unit's measured reliability, in the planner's words."""
    promised = f"{record.promised_risk:.0%}" if record.promised_risk >= 0.01 else "<1%"
    head = f"{record.unit}: " if with_unit else ""
    if record.status == "unmeasured":
        return (
            f"{head}only {record.days} backtest days, too few to measure the {promised} overflow promise; "
            f"planned conservatively (upper forecast widened ×{record.widened_by:.2f})"
        )
    text = (
        f"{head}in backtest the census exceeded these beds on {record.overflow_share:.1%} of {record.days} days; "
        f"promised {promised}"
    )
    if record.status == "broken":
        text += f". Promise broken: planned conservatively (upper forecast widened ×{record.widened_by:.2f})"
    return text
