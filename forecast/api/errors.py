"""How serving's refusals and FastAPI's validation errors become HTTP answers a person can act on, in one place.

Below the routers every refusal is a `forecast.serving.errors.Refusal` naming the field's location; one handler
maps its kind to a status: invalid 422 (FastAPI's own shape of a validation error: `loc`, `msg`, `type`, so
clients parse every 422 the same way), not found 404, conflict 409, no model 503, no or wrong key 401.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from forecast.serving.errors import Refusal

__all__ = ["RANGES", "STATUS", "install_handlers", "problem_detail"]

# Allowed ranges of the query parameters, added to FastAPI's own messages so a 422 says what would be accepted.
RANGES = {
    "days": "1 ≤ days ≤ 366 (and within the forecast)",
    "overflow_risk": "0 < overflow_risk ≤ 0.5",
    "target_occupancy": "0.01 ≤ target_occupancy ≤ 1",
    "format": "json or csv",
    "table": "shifts or fte",
    "quarter": "next, or a quarter like 2026Q1 inside the forecast",
}
STATUS = {"invalid": 422, "not_found": 404, "conflict": 409, "unavailable": 503, "unauthorized": 401}


def problem_detail(error: Refusal) -> Any:
    """The `detail` of a refusal: a list of located problems for a 422, else its message."""
    if error.kind != "invalid":
        return str(error)
    return [{"loc": list(p.loc), "msg": p.message, "type": p.type, **p.extra} for p in error.problems or []] or [
        {"loc": [], "msg": str(error), "type": "value_error"}
    ]


def install_handlers(app: FastAPI) -> None:
    """Map serving's refusals to their status, and keep request bodies out of validation errors."""

    @app.exception_handler(Refusal)
    async def refused(request: Request, error: Refusal) -> JSONResponse:
        return JSONResponse({"detail": problem_detail(error)}, status_code=STATUS[error.kind])

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
