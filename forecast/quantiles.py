"""Quantile grid of a forecast distribution (stand-in until the full module lands)."""

from __future__ import annotations

__all__ = ["LEVELS", "column", "columns"]

LEVELS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.25, 0.5, 0.75, 0.8, 0.9, 0.95, 0.975, 0.99, 0.995)


def column(level: float) -> str:
    return f"q{level:g}"


def columns(levels: tuple[float, ...] = LEVELS) -> list[str]:
    return [column(q) for q in levels]
