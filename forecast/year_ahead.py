"""The year-ahead backtest's protocol: a horizon of a year, where the data hold two years.

Gotland plans its summer beds in winter, when a quarter's forecast does not reach the summer. A year ahead is
backtested on its own (its own choice of model and calibration: errors a year ahead are not a quarter's), with
scored windows a quarter apart as the history allows, and before them unscored lead windows half a year apart that
end by the first scored window's origin (`backtest.lead_cutoffs`): at least one, and up to three where the history
holds them, so that the first scored window's choice sees three matured windows. Scored windows a quarter apart
never mature before the next one's origin, so without those leads every honest choice would be the reference.
Training (`training.year_ahead`) and `bedcast beds --quarter year` both use it.
"""

from __future__ import annotations

from dataclasses import replace

from forecast.backtest import MIN_HISTORY_LEAD, WINDOWS_FOR_ALL, lead_spacing
from forecast.engine import EngineConfig, Prepared

__all__ = ["YEAR_HORIZON", "history_days", "too_short", "year_config", "year_protocol"]

YEAR_HORIZON = 364
YEAR_STEP = 91
MOST_YEAR_FOLDS = 3
# Lead windows enough for the choice to rank every candidate (`backtest.WINDOWS_FOR_ALL`). Measured on this
# protocol against one lead: the demo's honest MASE 0.839 -> 0.807 and its beds 1.66 -> 1.51 times the mean census
# (2.0 % of days over), UIHC's 0.785 -> 0.778 at 1.23 instead of 1.25.
MOST_YEAR_LEADS = WINDOWS_FOR_ALL
# A window's history must leave a fortnight before the first origin (`backtest.backtest_windows`).
SLACK_DAYS = 15


def history_days(prepared: Prepared) -> int:
    """Days of history of the unit with the least (the census's warm-up days left out)."""
    span = prepared.series.groupby("unique_id")["ds"].agg(["min", "max"])
    return int(((span["max"] - span["min"]).dt.days + 1).min())


def year_protocol(days: int) -> tuple[int, int, int] | None:
    """Scored folds, the step between them and the lead windows for a year-ahead backtest on `days` of history, or
    None when the history is shorter than two years (a lead window a year before one scored window). Scored windows
    take the history first, up to `MOST_YEAR_FOLDS`; lead windows what is left, up to `MOST_YEAR_LEADS`."""
    first = 2 * YEAR_HORIZON + SLACK_DAYS
    if days < first:
        return None
    folds = min(MOST_YEAR_FOLDS, 1 + (days - first) // YEAR_STEP)
    # Days before the first lead's origin beyond the history a lead window needs: room for more leads.
    spare = days - YEAR_HORIZON - (folds - 1) * YEAR_STEP - YEAR_HORIZON - MIN_HISTORY_LEAD
    return folds, YEAR_STEP, min(MOST_YEAR_LEADS, 1 + max(spare, 0) // lead_spacing(YEAR_HORIZON))


def year_config(config: EngineConfig, prepared: Prepared) -> EngineConfig | None:
    """`config` as a year-ahead backtest on `prepared`'s history, or None when it is shorter than two years."""
    protocol = year_protocol(history_days(prepared))
    if protocol is None:
        return None
    folds, step, leads = protocol
    return replace(config, horizon=YEAR_HORIZON, folds=folds, step=step, lead_windows=leads)


def too_short(prepared: Prepared) -> str:
    """Why there is no year ahead, in words."""
    return f"a unit has {history_days(prepared)} days of census history; the year ahead needs two years"
