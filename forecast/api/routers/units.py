"""The units the model knows: current beds and the data's range."""

from __future__ import annotations

from fastapi import APIRouter, Response

from forecast.api.deps import FormatQuery, StateDep
from forecast.api.responses import CSV, NEEDS_MODEL, respond
from forecast.serving import answers
from forecast.serving.schemas import UnitsAnswer

router = APIRouter(prefix="/v1/units", tags=["units"])


@router.get("", response_model=UnitsAnswer, responses={**CSV, **NEEDS_MODEL}, summary="Units and their beds")
async def list_units(state: StateDep, fmt: FormatQuery = "json") -> Response:
    """Every unit with its current beds (null where unknown) and the first and last day of its data."""
    return await respond(state, answers.units_answer(state), fmt)
