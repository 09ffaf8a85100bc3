"""Charts drawn on the server as SVG: a time axis, lines, steps and shaded bands, and a legend.

The pages need no chart library: an SVG of a few hundred points is a few kilobytes, draws at once, works with
no internet and no JavaScript, and the browser shows each point's value as a tooltip (`<title>`). Every chart
also has a table beside it (the template's job), so the numbers are there for screen readers too.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Literal

__all__ = ["Band", "Line", "nice_ticks", "time_chart"]

WIDTH, HEIGHT = 720, 300
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 12, 34  # room for the axes' labels


@dataclass(frozen=True)
class Line:
    """A series of values by day, drawn as a line (or steps, holding each value to the next day's).

    Attributes:
        label: its name in the legend and tooltips, in the planner's words.
        days: the days (ascending).
        values: one per day; None leaves a gap.
        css: the class that colours it (see bedcast.css).
        shape: `line`, or `step` for a value that holds until the next one (beds per week).
    """

    label: str
    days: Sequence[dt.date]
    values: Sequence[float | None]
    css: str
    shape: Literal["line", "step"] = "line"
    dashed: bool = False
    tooltips: bool = True  # hover values; off for lines that hold one value (beds open today)


@dataclass(frozen=True)
class Band:
    """A shaded range by day (e.g. the 80 % interval of the census)."""

    label: str
    days: Sequence[dt.date]
    low: Sequence[float]
    high: Sequence[float]
    css: str


@dataclass
class _Scale:
    first: dt.date
    last: dt.date
    top: float
    ticks: list[float] = field(default_factory=list)

    def x(self, day: dt.date) -> float:
        span = max((self.last - self.first).days, 1)
        return LEFT + (WIDTH - LEFT - RIGHT) * (day - self.first).days / span

    def y(self, value: float) -> float:
        return TOP + (HEIGHT - TOP - BOTTOM) * (1 - value / self.top)


def nice_ticks(top: float, count: int = 5) -> list[float]:
    """Round values from 0 past `top`: steps of 1, 2 or 5 times a power of ten, about `count` of them."""
    if top <= 0 or not math.isfinite(top):
        return [0.0, 1.0]
    raw = top / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    step = max(step, 1.0)  # beds and nurses are whole: no ticks at 0.5
    return [k * step for k in range(math.ceil(top / step - 1e-9) + 1)]


def _month_ticks(first: dt.date, last: dt.date) -> list[dt.date]:
    months, day = [], dt.date(first.year, first.month, 1)
    while day <= last:
        if day >= first:
            months.append(day)
        day = dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)
    step = max(1, math.ceil(len(months) / 7))  # at most about seven labels, readable on a phone
    return months[::step]


def _f(value: float) -> str:
    return f"{value:.1f}"


def _line_path(line: Line, scale: _Scale) -> tuple[str, int]:
    """The SVG path of a line, and how many points it has (gaps split it into pieces)."""
    parts, points, pen_down = [], 0, False
    for k, (day, value) in enumerate(zip(line.days, line.values, strict=True)):
        if value is None or not math.isfinite(value):
            pen_down = False
            continue
        x, y = scale.x(day), scale.y(value)
        if pen_down and line.shape == "step":
            parts.append(f"H{_f(x)}")
        parts.append(f"{'L' if pen_down else 'M'}{_f(x)},{_f(y)}")
        points += 1
        pen_down = True
        if line.shape == "step" and (k + 1 == len(line.days)):
            parts.append(f"H{_f(scale.x(day + dt.timedelta(days=1)) if day < scale.last else scale.x(day))}")
    return "".join(parts), points


def _band_path(band: Band, scale: _Scale) -> str:
    upper = [f"{_f(scale.x(d))},{_f(scale.y(v))}" for d, v in zip(band.days, band.high, strict=True)]
    lower = [f"{_f(scale.x(d))},{_f(scale.y(v))}" for d, v in zip(band.days, band.low, strict=True)]
    return "M" + "L".join(upper + lower[::-1]) + "Z"


def _tooltips(line: Line, scale: _Scale) -> str:
    # Invisible points with a <title>: hovering shows the day and the value (and they mark the data points).
    marks = []
    for day, value in zip(line.days, line.values, strict=True):
        if value is None or not math.isfinite(value):
            continue
        marks.append(
            f'<circle class="point" cx="{_f(scale.x(day))}" cy="{_f(scale.y(value))}" r="3">'
            f"<title>{day:%a %d %b %Y}: {escape(line.label)} {value:.1f}</title></circle>"
        )
    return f'<g class="points {line.css}">{"".join(marks)}</g>'


def time_chart(
    title: str, lines: Sequence[Line], bands: Sequence[Band] = (), y_label: str = "beds", top: float | None = None
) -> str:
    """An SVG chart of lines and bands over days, with axes, and its legend; `title` names it for screen readers.

    `top` fixes the top of the scale (charts meant to be compared side by side share it).

    Returns:
        The `<svg>` element and the legend's list as text (safe to insert into a page: every label is escaped).
    """
    days = [d for line in lines for d in line.days] + [d for band in bands for d in band.days]
    if not days:
        return f'<p class="empty">{escape(title)}: nothing to draw.</p>'
    values = [v for line in lines for v in line.values if v is not None and math.isfinite(v)]
    values += [v for band in bands for v in band.high if math.isfinite(v)]
    ticks = nice_ticks(top if top is not None else max(values, default=1.0) * 1.05)
    scale = _Scale(min(days), max(days), ticks[-1], ticks)
    out = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
    ]
    for tick in ticks:
        y = _f(scale.y(tick))
        out.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y}" y2="{y}"/>')
        out.append(f'<text class="tick" x="{LEFT - 6}" y="{y}" text-anchor="end" dy="0.35em">{tick:g}</text>')
    shown_year = None
    for k, month in enumerate(_month_ticks(scale.first, scale.last)):
        x = _f(scale.x(month))
        out.append(f'<line class="grid" x1="{x}" x2="{x}" y1="{TOP}" y2="{HEIGHT - BOTTOM}"/>')
        label = f"{month:%b %Y}" if month.year != shown_year else f"{month:%b}"  # the year where it changes
        shown_year = month.year
        minor = " minor" if k % 2 else ""  # every other month's label gives way on a narrow screen
        out.append(f'<text class="tick{minor}" x="{x}" y="{HEIGHT - BOTTOM + 24}" text-anchor="middle">{label}</text>')
    out.append(
        f'<text class="axis-label" x="20" y="{TOP}" transform="rotate(-90 20 {TOP})" '
        f'text-anchor="end">{escape(y_label)}</text>'
    )
    for band in bands:
        path = _band_path(band, scale)
        out.append(f'<path class="band {band.css}" d="{path}"><title>{escape(band.label)}</title></path>')
    for line in lines:
        path, points = _line_path(line, scale)
        dash = " dashed" if line.dashed else ""
        out.append(f'<path class="line {line.css}{dash}" d="{path}" data-points="{points}"/>')
        if line.tooltips:
            out.append(_tooltips(line, scale))
    out.append("</svg>")
    out.append(_legend(lines, bands))
    return "".join(out)


def _legend(lines: Sequence[Line], bands: Sequence[Band]) -> str:
    # In HTML below the drawing, so it wraps to any screen's width.
    items = [f'<li><span class="swatch band {band.css}"></span>{escape(band.label)}</li>' for band in bands]
    items += [
        f'<li><span class="swatch line {line.css}{" dashed" if line.dashed else ""}"></span>{escape(line.label)}</li>'
        for line in lines
    ]
    return f'<ul class="legend" aria-hidden="true">{"".join(items)}</ul>'
