"""The year-ahead backtest's protocol: a horizon of a year, where the data hold two years.

Gotland plans its summer beds in winter, when a quarter's forecast does not reach the summer. A year ahead is
backtested on its own (its own choice of model and calibration: errors a year ahead are not a quarter's), with one
unscored window a year before the first scored one, and scored windows a quarter apart as the history allows.
Training (`training.year_ahead`) and `bedcast beds --quarter year` both use it.
"""

from __future__ import annotations

from dataclasses import replace

from forecast.engine import EngineConfig, Prepared

__all__ = ["YEAR_HORIZON", "history_days", "too_short", "year_config", "year_protocol"]

YEAR_HORIZON = 364
YEAR_STEP = 91
MOST_YEAR_FOLDS = 3
# A window's history must leave a fortnight before the first origin (`backtest.backtest_windows`).
SLACK_DAYS = 15


def history_days(prepared: Prepared) -> int:
    """Days of history of the unit with the least (the census's warm-up days left out)."""
    span = prepared.series.groupby("unique_id")["ds"].agg(["min", "max"])
    return int(((span["max"] - span["min"]).dt.days + 1).min())


def year_protocol(days: int) -> tuple[int, int] | None:
    """Scored folds and the step between them for a year-ahead backtest on `days` of history, or None when the
    history is shorter than two years (a lead window a year before one scored window)."""
    first = 2 * YEAR_HORIZON + SLACK_DAYS
    if days < first:
        return None
    return min(MOST_YEAR_FOLDS, 1 + (days - first) // YEAR_STEP), YEAR_STEP


def year_config(config: EngineConfig, prepared: Prepared) -> EngineConfig | None:
    """`config` as a year-ahead backtest on `prepared`'s history, or None when it is shorter than two years."""
    protocol = year_protocol(history_days(prepared))
    if protocol is None:
        return None
    folds, step = protocol
    return replace(config, horizon=YEAR_HORIZON, folds=folds, step=step, lead_windows=1)


def too_short(prepared: Prepared) -> str:
    """Why there is no year ahead, in words."""
    return f"a unit has {history_days(prepared)} days of census history; the year ahead needs two years"
