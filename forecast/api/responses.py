"""Rendered bodies as HTTP responses, and the error answers each route documents in OpenAPI."""

from __future__ import annotations

from typing import Any

from fastapi import Response
from starlette.concurrency import run_in_threadpool

from forecast.api.answers import Pending
from forecast.api.schemas import ErrorMessage
from forecast.api.state import Body, ServingState

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


def send(body: Body) -> Response:
    """The rendered bytes as they are: no second validation or serialisation on the way out."""
    return Response(content=body.content, media_type=body.media_type)


async def respond(state: ServingState, pending: Pending) -> Response:
    """A cached answer straight from the event loop; a new one is rendered in a worker thread, so CPU work never
    blocks the loop (and a cached answer skips the thread hand-off, which costs more than the look-up)."""
    body = state.cache.peek(pending.key)
    if body is None:
        body = await run_in_threadpool(pending.body, state)
    response = send(body)
    response.headers["X-Bedcast-As-Of"] = f"{state.as_of:%Y-%m-%d}"  # CSV answers say it too
    return response
