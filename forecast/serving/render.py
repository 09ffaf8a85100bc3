"""Typed answers as bytes: JSON (the answer's model) or CSV (its table), cached per state, request and format.

Any answer object with `to_json() -> bytes` and `table(which) -> DataFrame` renders here: the pydantic
`TableAnswer`s and the scenario's tables alike.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from forecast.serving.answers import Ask, answer
from forecast.serving.state import Body, ServingState

__all__ = ["CSV_TYPE", "Format", "JSON_TYPE", "body", "cached", "render"]

Format = Literal["json", "csv"]
JSON_TYPE = "application/json"
CSV_TYPE = "text/csv; charset=utf-8"


def render(typed: Any, fmt: Format, table: str | None = None) -> Body:
    """JSON as the answer says, or CSV of its table `table` (dates as YYYY-MM-DD, empty where unknown)."""
    if fmt == "csv":
        text = typed.table(table).to_csv(index=False, date_format="%Y-%m-%d", lineterminator="\n")
        return Body(text.encode(), CSV_TYPE)
    if isinstance(typed, BaseModel):
        return Body(typed.model_dump_json().encode(), JSON_TYPE)
    return Body(typed.to_json(), JSON_TYPE)


def body(state: ServingState, ask: Ask, fmt: Format = "json") -> Body:
    """The request's answer rendered, from the cache or built and rendered here (CPU work on a miss)."""
    key = (*ask.key, fmt, ask.table if fmt == "csv" else None)
    return state.cache.get(key, lambda: render(answer(state, ask), fmt, ask.table))


def cached(state: ServingState, ask: Ask, fmt: Format = "json") -> Body | None:
    """The rendered answer if it is cached, else None (no work: safe on the event loop)."""
    return state.cache.peek((*ask.key, fmt, ask.table if fmt == "csv" else None))
