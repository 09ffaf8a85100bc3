"""New episodes from an admission/discharge system: validated, idempotent, stored all-or-nothing."""

from __future__ import annotations

from typing import Annotated

import pandas as pd
from fastapi import APIRouter, Body, Request

from forecast.api.deps import ApiKey, SettingsDep, StoreDep
from forecast.api.responses import NEEDS_KEY
from forecast.api.schemas import EpisodeIn, EpisodesAdded, EpisodeWarning, ErrorMessage
from forecast.data import implausible_episodes, validate_episodes
from forecast.serving.errors import Conflict, Invalid, Problem
from forecast.store import EpisodeConflict

router = APIRouter(prefix="/v1/episodes", tags=["episodes"])

MAX_BATCH = 10_000
Episodes = Annotated[list[EpisodeIn], Body(max_length=MAX_BATCH, description=f"Up to {MAX_BATCH} episodes.")]


@router.post(
    "",
    response_model=EpisodesAdded,
    dependencies=[ApiKey],
    responses={
        **NEEDS_KEY,
        400: {"model": ErrorMessage, "description": "The body cannot be read as text (not UTF-8)."},
        409: {"model": ErrorMessage, "description": "An episode_id is stored with different content."},
    },
    summary="Add episodes",
)
def add_episodes(request: Request, episodes: Episodes, store: StoreDep, settings: SettingsDep) -> EpisodesAdded:
    """Validate and store a batch of episodes in one transaction: all or nothing.

    Sending an episode again with the same content changes nothing; sending an open stay again with its
    discharge completes it; any other change to a stored episode_id is refused (409). Errors name the row
    (1 = the first episode of the batch), the field and the episode_id, never the rest of the row; so do the
    warnings about implausible values (stays over a year, admissions after today), which are stored as sent.
    """
    frame = pd.DataFrame([e.model_dump() for e in episodes], columns=list(EpisodeIn.model_fields))
    if frame.empty:
        return EpisodesAdded(added=0, unchanged=0, discharged=0, stored=store.count())
    valid, problems, repeats = validate_episodes(frame, settings.timezone)
    if problems:
        raise Invalid(
            f"{len(problems)} episode(s) cannot be stored",
            [
                Problem(
                    ("body", (p.row or 1) - 1, p.field),
                    f"row {p.row}: {p.message}",
                    "invalid_episode",
                    {"episode_id": p.episode_id},
                )
                for p in problems
            ],
        )
    today = pd.Timestamp.now(tz=settings.timezone).normalize().tz_localize(None)
    warnings = [
        EpisodeWarning(row=w.row or 1, field=w.field, episode_id=w.episode_id, message=w.message)
        for w in implausible_episodes(valid, extract_end=today, end_name="today")
    ]
    try:
        result = store.add(valid)
    except EpisodeConflict as error:
        raise Conflict(str(error)) from None
    if result.added or result.discharged:
        nowcaster = request.app.state.nowcaster
        if nowcaster is not None:
            nowcaster.poke()  # the forecast follows the new episodes, in the background
    return EpisodesAdded(
        added=result.added,
        unchanged=result.unchanged + repeats,
        discharged=result.discharged,
        stored=store.count(),
        warnings=warnings,
    )
