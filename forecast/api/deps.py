"""The dependencies routes declare, as `Annotated` aliases in one place.

They only read the app's state and headers, so they are `async def`: a plain `def` would cost each request a
hand-off to a worker thread for no work.
"""

from __future__ import annotations

import datetime as dt
import hmac
from typing import Annotated, Literal

from fastapi import Depends, Query, Request
from fastapi.security import APIKeyHeader

from forecast.api.settings import Settings
from forecast.serving.errors import NoModel, Unauthorized
from forecast.serving.slot import Slot
from forecast.serving.state import ServingState
from forecast.store import EpisodeStore

__all__ = [
    "ApiKey",
    "DaysQuery",
    "FormatQuery",
    "NO_MODEL",
    "SettingsDep",
    "SlotDep",
    "StartQuery",
    "StateDep",
    "StoreDep",
]

NO_MODEL = (
    "no model loaded: train one with `bedcast train` (or `make demo`), then POST /v1/reload or restart the service"
)

_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="The key set in BEDCAST_API_KEY.")


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_slot(request: Request) -> Slot:
    return request.app.state.slot


async def get_state(request: Request) -> ServingState:
    """The model serving now; taken once per request, so a reload never changes it mid-request."""
    slot: Slot = request.app.state.slot
    state = slot.state
    if state is None:
        raise NoModel(slot.load_error or NO_MODEL)
    return state


async def get_store(request: Request) -> EpisodeStore:
    return request.app.state.store


async def check_api_key(
    settings: Annotated[Settings, Depends(get_settings)],
    key: Annotated[str | None, Depends(_api_key_header)],
) -> None:
    """Write endpoints need the configured key in `X-API-Key`, compared in constant time."""
    if settings.api_key is None or not settings.api_key.get_secret_value():
        raise Unauthorized(
            "write endpoints are disabled: set BEDCAST_API_KEY in the service's environment and send it "
            "in the X-API-Key header"
        )
    expected = settings.api_key.get_secret_value().encode()
    if key is None or not hmac.compare_digest(key.encode(), expected):
        raise Unauthorized("missing or wrong API key: send the key set in BEDCAST_API_KEY in the X-API-Key header")


SettingsDep = Annotated[Settings, Depends(get_settings)]
SlotDep = Annotated[Slot, Depends(get_slot)]
StateDep = Annotated[ServingState, Depends(get_state)]
StoreDep = Annotated[EpisodeStore, Depends(get_store)]
ApiKey = Depends(check_api_key)

StartQuery = Annotated[dt.date | None, Query(description="First day (YYYY-MM-DD); default the forecast's first day.")]
DaysQuery = Annotated[
    int | None, Query(ge=1, le=366, description="Days from start; default 28 (or to the forecast's end).")
]
FormatQuery = Annotated[
    Literal["json", "csv"], Query(alias="format", description="json, or csv for the table (text/csv).")
]
