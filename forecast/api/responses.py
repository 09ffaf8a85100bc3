"""Typed answers as HTTP responses (their cached renderings), and the error answers each route documents."""

from __future__ import annotations

from typing import Any

from fastapi import Response
from starlette.concurrency import run_in_threadpool

from forecast.api.schemas import ErrorMessage
from forecast.serving.answers import Ask
from forecast.serving.render import Format, body, cached
from forecast.serving.state import Body, ServingState

__all__ = ["CSV", "NEEDS_KEY", "NEEDS_MODEL", "UNKNOWN_UNIT", "respond", "send"]

CSV: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "JSON, or CSV with ?format=csv"}
}
NEEDS_MODEL: dict[int | str, dict[str, Any]] = {
    503: {"model": ErrorMessage, "description": "No model loaded (the detail says how to train one)."}
}
UNKNOWN_UNIT: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorMessage, "description": "Unknown unit (the detail lists the known units)."}
}
NEEDS_KEY: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorMessage, "description": "Missing or wrong X-API-Key, or no key configured."}
}


def send(rendered: Body) -> Response:
    """The rendered bytes as they are: no second validation or serialisation on the way out."""
    return Response(content=rendered.content, media_type=rendered.media_type)


async def respond(state: ServingState, ask: Ask, fmt: Format = "json") -> Response:
    """A cached rendering straight from the event loop; a new one is built and rendered in a worker thread, so
    CPU work never blocks the loop (and a cached answer skips the thread hand-off, which costs more than the
    look-up)."""
    rendered = cached(state, ask, fmt)
    if rendered is None:
        rendered = await run_in_threadpool(body, state, ask, fmt)
    response = send(rendered)
    response.headers["X-Bedcast-As-Of"] = f"{state.as_of:%Y-%m-%d}"  # CSV answers say it too
    return response
