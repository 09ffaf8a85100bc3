"""Charts a planner looks at: a unit's fan chart, next quarter's beds against today's and the beds by driver, as
matplotlib figures.

Figures are built without pyplot (no global state, no display needed); the caller saves or logs them.
"""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from forecast.quantiles import column

__all__ = ["beds_chart", "drivers_chart", "fan_chart"]

BANDS = ((0.025, 0.975, "95 %", 0.15), (0.1, 0.9, "80 %", 0.3), (0.25, 0.75, "50 %", 0.45))


def fan_chart(
    history: pd.Series, forecast: pd.DataFrame, unit: str, beds: float | None = None, what: str = "census"
) -> Figure:
    """History, the forecast's median and 50/80/95 % bands, and today's beds as a line.

    Args:
        history: daily values indexed by date (the recent past).
        forecast: `ds`, `mean` and the quantile columns of one unit.
        unit: the unit's name, for the title.
        beds: today's beds, if known.
        what: the forecast quantity, for the axis label.
    """
    figure = Figure(figsize=(10, 4), layout="constrained")
    ax = figure.subplots()
    ax.plot(history.index, history.to_numpy(), color="0.3", linewidth=0.8, label="history")
    for low, high, label, alpha in BANDS:
        ax.fill_between(
            forecast["ds"], forecast[column(low)], forecast[column(high)], color="tab:blue", alpha=alpha, label=label
        )
    ax.plot(forecast["ds"], forecast["mean"], color="tab:blue", linewidth=1.2, label="expected")
    if beds is not None:
        ax.axhline(beds, color="tab:red", linestyle="--", linewidth=1, label=f"beds today ({beds:.0f})")
    ax.set_title(f"{unit}: {what} forecast")
    ax.set_ylabel(what)
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper left", fontsize="small", ncols=3)
    return figure


def beds_chart(plan: pd.DataFrame, title: str) -> Figure:
    """Per unit, the most beds any week of the period needs (by both rules) next to today's beds.

    Args:
        plan: the weekly plan (`unique_id, beds_target, beds_risk, current_beds`).
        title: the chart's title (e.g. the quarter).
    """
    needed = plan.groupby("unique_id", sort=True).agg(
        beds_target=("beds_target", "max"), beds_risk=("beds_risk", "max"), current_beds=("current_beds", "first")
    )
    figure = Figure(figsize=(max(6.0, 1.3 * len(needed)), 4), layout="constrained")
    ax = figure.subplots()
    x = range(len(needed))
    width = 0.27
    ax.bar([i - width for i in x], needed["beds_target"], width, label="at target occupancy")
    ax.bar(list(x), needed["beds_risk"], width, label="at overflow risk")
    current = pd.to_numeric(needed["current_beds"], errors="coerce")
    ax.bar([i + width for i in x], current.fillna(0), width, color="0.6", label="today (blank: unknown)")
    ax.set_xticks(list(x), needed.index, rotation=20, ha="right")
    ax.set_ylabel("beds")
    ax.set_title(title)
    ax.legend(fontsize="small")
    return figure


# One colour per part of a week's beds (`forecast.explain.PARTS`), the same on every chart.
PART_COLOURS = {
    "base": "0.75",
    "day_of_week": "tab:purple",
    "season": "tab:blue",
    "holidays": "tab:pink",
    "planned_care": "tab:olive",
    "tourism": "tab:orange",
    "regressors": "tab:brown",
    "level": "tab:cyan",
    "in_bed": "tab:green",
    "margin": "tab:red",
}


def drivers_chart(panels: list[tuple[str, pd.DataFrame]], unit: str) -> Figure:
    """Each week's planned beds stacked by driver (parts that add beds above zero, parts that take beds away
    below), with the plan's beds as a line; one panel per plan (the quarter, the year ahead).

    Args:
        panels: per panel its title and the unit's parts (`period_start, part, beds`, `forecast.explain`).
        unit: the unit's name, for the title.
    """
    figure = Figure(figsize=(11, 3.6 * max(1, len(panels))), layout="constrained")
    axes = figure.subplots(max(1, len(panels)), 1, squeeze=False)[:, 0]
    for ax, (title, parts) in zip(axes, panels, strict=False):
        wide = parts.pivot_table(index="period_start", columns="part", values="beds", aggfunc="sum").fillna(0)
        order = [p for p in PART_COLOURS if p in wide.columns]
        up = pd.Series(0.0, index=wide.index)
        down = pd.Series(0.0, index=wide.index)
        for part in order:
            values = wide[part].astype(float)
            gains, losses = values.clip(lower=0), values.clip(upper=0)
            label = part.replace("_", " ")
            ax.bar(wide.index, gains, bottom=up, width=6, align="edge", color=PART_COLOURS[part], label=label)
            ax.bar(wide.index, losses, bottom=down, width=6, align="edge", color=PART_COLOURS[part])
            up, down = up + gains, down + losses
        # The planned beds (the parts added up, those below zero taken away) held over each week.
        total = wide.sum(axis=1)
        edges = [*wide.index, wide.index[-1] + pd.Timedelta(days=7)] if len(wide) else []
        ax.step(edges, [*total, *total[-1:]], where="post", color="black", linewidth=1.2, label="planned beds")
        ax.axhline(0, color="0.4", linewidth=0.6)
        ax.set_title(f"{unit}: {title}")
        ax.set_ylabel("beds")
        ax.legend(loc="upper left", fontsize="x-small", ncols=6)
    return figure
