"""The HTTP edge's own request and response bodies: health, readiness, reloads and episodes.

The answers themselves (units, forecasts, plans, …) are typed in `forecast.serving.schemas`.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

__all__ = [
    "EpisodeIn",
    "EpisodeWarning",
    "EpisodesAdded",
    "ErrorMessage",
    "Health",
    "Ready",
    "ReloadAnswer",
    "WorkerServing",
]


class ErrorMessage(BaseModel):
    """An error a person can act on."""

    detail: str


class Health(BaseModel):
    status: str = "ok"


class Ready(BaseModel):
    status: str = "ready"
    model_name: str
    model_version: str
    alias: str
    as_of: dt.date | None = Field(default=None, description="The newest day the served answers know.")
    nowcast_error: str | None = Field(
        default=None, description="Why the last nowcast update failed (the answers as of `as_of` still serve)."
    )
    worker: int = Field(description="Process id of the serving worker that answered (`bedcast serve --workers`).")


class WorkerServing(BaseModel):
    """One serving worker and the version it serves."""

    worker: int
    model_version: str | None


class ReloadAnswer(BaseModel):
    model_name: str
    model_version: str
    previous_version: str | None
    loaded_at: dt.datetime
    workers: list[WorkerServing] = Field(
        default_factory=list, description="With several workers: each one and the version it serves after the reload."
    )


# What the episodes' date fields accept, stated in the schema as a pattern: an ISO date (a real one: days per month,
# 29 February in leap years) in 1900–2199, optionally with a time and a UTC offset. JSON Schema's `format: date` /
# `date-time` cannot bound the year, and schema-driven clients cannot generate a format and a pattern together.
_YEAR = "(?:19|20|21)[0-9]{2}"
_LEAP_YEAR = "(?:(?:19|20|21)(?:0[48]|[2468][048]|[13579][26])|2000)"
_MONTH_DAY = (
    "(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)"
    "|02-(?:0[1-9]|1[0-9]|2[0-8]))"
)
_TIME = (
    "(?:[T ](?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:[.][0-9]{1,9})?)?"
    "(?:Z|[+-](?:[01][0-9]|2[0-3]):?[0-5][0-9])?)?"
)
ISO_DAY_OR_TIME = f"^(?:{_YEAR}-{_MONTH_DAY}|{_LEAP_YEAR}-02-29){_TIME}$"
IsoDayOrTime = Annotated[str, StringConstraints(max_length=40, pattern=ISO_DAY_OR_TIME)]
# Text with something in it besides white space, as the validation strips it (Python's white space, and the regular
# expression engines' \s, which differ: so the characters are listed, not written \s).
_WHITE = "\t-\r \x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
NOT_BLANK = f"[^{_WHITE}]"


class EpisodeIn(BaseModel):
    """One stay, as an admission/discharge system exports it.

    Beyond the schema, a batch is refused (422) when a discharge comes before its admission or one episode_id
    comes twice with different content; a stored episode_id with other content is a conflict (409).
    """

    model_config = ConfigDict(extra="forbid")

    episode_id: str = Field(min_length=1, max_length=200, pattern=NOT_BLANK)
    unit: str = Field(min_length=1, max_length=200, pattern=NOT_BLANK)
    admitted_at: IsoDayOrTime = Field(
        description="ISO date (YYYY-MM-DD, 1900–2199) or timestamp (YYYY-MM-DDTHH:MM[:SS[.f]][Z|±HH:MM]; an "
        "offset is converted to local time)."
    )
    discharged_at: IsoDayOrTime | None = Field(
        default=None, description="Like admitted_at, not before the admission; null while in bed."
    )
    admission_type: Literal["acute", "elective"]
    hospital: str | None = Field(default=None, max_length=200)
    region: str | None = Field(default=None, max_length=200)


class EpisodeWarning(BaseModel):
    """A value stored as sent but unlikely to be true (a stay over a year, an admission after today)."""

    row: int = Field(description="1 = the first episode of the batch.")
    field: str
    episode_id: str | None
    message: str


class EpisodesAdded(BaseModel):
    added: int = Field(description="New episodes stored.")
    unchanged: int = Field(description="Episodes already stored with the same content (and repeats in the batch).")
    discharged: int = Field(description="Open stays stored before that now have their discharge.")
    stored: int = Field(description="Episodes in the store after this batch.")
    warnings: list[EpisodeWarning] = Field(
        default_factory=list, description="Implausible values, stored as sent: check them at the source."
    )
