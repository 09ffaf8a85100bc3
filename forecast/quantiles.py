"""The quantile grid of a forecast distribution: which levels every forecast carries and their column names.

Overflow risks of 0.5 % to 10 % and central intervals of 50, 80 and 95 % all fall on the grid; `forecast.beds`
interpolates between its levels.
"""

from __future__ import annotations

__all__ = ["LEVELS", "column", "columns"]

LEVELS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.25, 0.5, 0.75, 0.8, 0.9, 0.95, 0.975, 0.99, 0.995)


def column(level: float) -> str:
    """The column of a quantile level: 0.975 → `q0.975`."""
    return f"q{level:g}"


def columns(levels: tuple[float, ...] = LEVELS) -> list[str]:
    """The columns of the grid, lowest level first."""
    return [column(q) for q in levels]
