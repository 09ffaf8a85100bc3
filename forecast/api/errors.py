"""Errors the answers raise, and how they become HTTP answers a person can act on."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

__all__ = ["OutOfRange", "UnknownUnit", "install_handlers", "RANGES"]

# Allowed ranges of the query parameters, added to FastAPI's own messages so a 422 says what would be accepted.
RANGES = {
    "days": "1 ≤ days ≤ 366 (and within the forecast)",
    "overflow_risk": "0 < overflow_risk ≤ 0.5",
    "target_occupancy": "0.01 ≤ target_occupancy ≤ 1",
    "format": "json or csv",
    "table": "shifts or fte",
    "quarter": "next, or a quarter like 2026Q1 inside the forecast",
}


class UnknownUnit(LookupError):
    """A unit the model does not know."""

    def __init__(self, unit: str, known: list[str]):
        super().__init__(f"unknown unit {unit!r}; known units: {', '.join(known)}")


class OutOfRange(ValueError):
    """A query parameter outside what the model can answer; names the parameter and the allowed range."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(message)


def _detail(loc: list[Any], message: str, kind: str) -> list[dict[str, Any]]:
    # FastAPI's own shape of a validation error, so clients parse every 422 the same way.
    return [{"loc": loc, "msg": message, "type": kind}]


def install_handlers(app: FastAPI) -> None:
    """Map the answers' errors to 404 and 422, and keep request bodies out of validation errors."""

    @app.exception_handler(UnknownUnit)
    async def unknown_unit(request: Request, error: UnknownUnit) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=404)

    @app.exception_handler(OutOfRange)
    async def out_of_range(request: Request, error: OutOfRange) -> JSONResponse:
        return JSONResponse({"detail": _detail(["query", error.field], str(error), "out_of_range")}, status_code=422)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        details = []
        for item in error.errors():
            loc = list(item.get("loc", ()))
            message = str(item.get("msg", "invalid"))
            if loc[:1] == ["query"] and len(loc) > 1 and loc[1] in RANGES:
                message = f"{message}; allowed: {RANGES[loc[1]]}"
            if item.get("type") == "json_invalid":  # its loc's number is a character position, not a row
                loc, message = ["body"], "the body is not valid JSON: send a JSON list of episodes"
            # Never echo the input: a request body holds episodes, which are patient data.
            detail: dict[str, Any] = {"loc": loc, "msg": message, "type": str(item.get("type", "value_error"))}
            detail.update(_row_of(error.body, loc))
            if "row" in detail:
                detail["msg"] = f"row {detail.pop('row')}: {message}"
            details.append(detail)
        return JSONResponse({"detail": details}, status_code=422)


def _row_of(body: Any, loc: list[Any]) -> dict[str, Any]:
    """The row (1 = the first episode) and episode_id of an error in a batch of episodes: as the data
    validation names them, and nothing else of the row."""
    if loc[:1] != ["body"] or len(loc) < 2 or not isinstance(loc[1], int) or not isinstance(body, list):
        return {}
    index = loc[1]
    found: dict[str, Any] = {"row": index + 1}
    if 0 <= index < len(body) and isinstance(body[index], dict):
        episode_id = body[index].get("episode_id")
        if isinstance(episode_id, str) and 0 < len(episode_id) <= 200:
            found["episode_id"] = episode_id
    return found
