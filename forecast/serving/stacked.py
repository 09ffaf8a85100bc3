"""A chart of beds by driver per week, drawn on the server as SVG: stacked bars (parts that add beds above zero,
parts that take beds away below it) and the planned beds as a step line, with a legend.

Like `forecast.serving.svg`: no chart library, no script, a `<title>` per bar for its value, and the same
numbers in a table beside it on the page.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from html import escape

from forecast.serving.svg import BOTTOM, HEIGHT, LEFT, RIGHT, TOP, WIDTH, nice_ticks

__all__ = ["drivers_chart"]


def _f(value: float) -> str:
    return f"{value:.1f}"


def drivers_chart(
    title: str,
    weeks: Sequence[str],
    starts: Sequence[dt.date],
    parts: Mapping[str, Sequence[int]],
    planned: Sequence[int],
    labels: Mapping[str, str],
) -> str:
    """An SVG chart of each week's beds stacked by part, the planned beds as steps, and its legend.

    Args:
        title: names the chart for screen readers.
        weeks: the ISO weeks (`2026-W28`), in order; starts: their first days.
        parts: per part (`base`, `tourism`, …, in the order to stack) its whole beds per week.
        planned: the plan's beds per week (the parts added up).
        labels: the parts in the planner's words.

    Returns:
        The `<svg>` element and the legend's list (every label escaped).
    """
    if not weeks:
        return f'<p class="empty">{escape(title)}: nothing to draw.</p>'
    ups = [sum(max(0, values[k]) for values in parts.values()) for k in range(len(weeks))]
    downs = [sum(min(0, values[k]) for values in parts.values()) for k in range(len(weeks))]
    ticks = nice_ticks(max([*ups, *planned, 1]) * 1.05)
    low = min(downs, default=0)
    below = nice_ticks(-low * 1.05) if low < 0 else [0.0]
    top, bottom = ticks[-1], -below[-1]
    plot_width = WIDTH - LEFT - RIGHT
    slot = plot_width / len(weeks)

    def y(value: float) -> float:
        return TOP + (HEIGHT - TOP - BOTTOM) * (top - value) / (top - bottom)

    out = [
        f'<svg class="chart drivers" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
    ]
    # Below zero only its lowest tick: the parts that take beds away are few and small.
    for tick in [-below[-1]] * (len(below) > 1) + ticks:
        out.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{_f(y(tick))}" y2="{_f(y(tick))}"/>')
        out.append(f'<text class="tick" x="{LEFT - 6}" y="{_f(y(tick))}" text-anchor="end" dy="0.35em">{tick:g}</text>')
    out.append(f'<line class="zero" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{_f(y(0))}" y2="{_f(y(0))}"/>')
    # A label about every eighth of the chart: week numbers, and the month where it changes.
    every = max(1, round(len(weeks) / 8))
    for k, (week, start) in enumerate(zip(weeks, starts, strict=True)):
        if k % every == 0:
            x = LEFT + slot * (k + 0.5)
            minor = " minor" if (k // every) % 2 else ""
            out.append(
                f'<text class="tick{minor}" x="{_f(x)}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">'
                f"{week[5:]}</text>"
                f'<text class="tick{minor}" x="{_f(x)}" y="{HEIGHT - BOTTOM + 30}" text-anchor="middle">'
                f"{start:%b}</text>"
            )
    out.append(
        f'<text class="axis-label" x="20" y="{TOP}" transform="rotate(-90 20 {TOP})" text-anchor="end">beds</text>'
    )
    for k, week in enumerate(weeks):
        x = LEFT + slot * k + slot * 0.1
        up = down = 0.0
        for part, values in parts.items():
            value = values[k]
            if not value:
                continue
            base = up if value > 0 else down
            y0, y1 = y(base), y(base + value)
            if value > 0:
                up += value
            else:
                down += value
            out.append(
                f'<rect class="part p-{escape(part)}" data-week="{escape(week)}" data-part="{escape(part)}" '
                f'data-beds="{value}" x="{_f(x)}" y="{_f(min(y0, y1))}" width="{_f(slot * 0.8)}" '
                f'height="{_f(abs(y1 - y0))}"><title>{escape(week)}: {escape(labels.get(part, part))} '
                f"{value:+d} beds</title></rect>"
            )
    steps = []
    for k, beds in enumerate(planned):
        x0, x1 = LEFT + slot * k, LEFT + slot * (k + 1)
        steps.append(f"{'M' if k == 0 else 'L'}{_f(x0)},{_f(y(beds))}H{_f(x1)}")
    out.append(f'<path class="line planned" d="{"".join(steps)}" data-points="{len(planned)}"/>')
    out.append("</svg>")
    items = [
        f'<li><span class="swatch bar p-{escape(part)}"></span>{escape(labels.get(part, part))}</li>'
        for part, values in parts.items()
        if any(values)
    ]
    items.append('<li><span class="swatch line planned"></span>beds the plan asks for</li>')
    out.append(f'<ul class="legend" aria-hidden="true">{"".join(items)}</ul>')
    return "".join(out)
