"""Ward stays: one hospital episode, several stays in units, their periods in sequence.

A patient who goes from intensive care to internal medicine is one episode (one `episode_id`) and two rows of the
episode contract, one per unit. The census counts the patient in the unit where they lie at midnight; a unit's
arrivals are its admissions (the episode's first stay) plus its transfers in (every later stay). Stays of one
episode may not overlap, and a stay still open (no discharge) must be the episode's last.

Pure functions on validated episodes (`unit, admitted_at, discharged_at` as local dates, `row` numbers): the
checks name rows and the episode_id, never anything else of a row.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["TRANSFER_COLUMNS", "mark_transfers", "sequence_problems", "stay_gaps"]

# Added by `mark_transfers`: the stay began with a transfer in / ended with a transfer out.
TRANSFER_COLUMNS = ("transfer_in", "transfer_out")


def _in_sequence(episodes: pd.DataFrame) -> pd.DataFrame:
    """The stays ordered within each episode: by start, then end (an open stay last), then row."""
    order = episodes.assign(
        _open=episodes["discharged_at"].isna(),
        _end=episodes["discharged_at"].fillna(pd.Timestamp.max),
    )
    keys = ["episode_id", "admitted_at", "_open", "_end"] + (["row"] if "row" in episodes.columns else [])
    return order.sort_values(keys, kind="stable")


def sequence_problems(episodes: pd.DataFrame) -> list[tuple[int, int, str, str]]:
    """Pairs of stays of one episode that cannot both be true: `(row, other_row, episode_id, message)`.

    A stay that begins before the previous one ended overlaps it; a stay that begins after one still open (no
    discharge) is out of order: the open stay would have to be the episode's last. Both rows of a pair are named.
    """
    if episodes.empty or not episodes["episode_id"].duplicated().any():
        return []
    ordered = _in_sequence(episodes[episodes["episode_id"].duplicated(keep=False)])
    same = ordered["episode_id"].eq(ordered["episode_id"].shift())
    previous_end = ordered["discharged_at"].shift()
    previous_open = ordered["_open"].shift(fill_value=False).astype(bool)
    previous_row = ordered["row"].shift()
    open_before = same & previous_open
    overlap = same & ~previous_open & (ordered["admitted_at"] < previous_end)
    found = []
    for mask, message in (
        (open_before, "out of order: it begins after a stay of the same episode that has no discharge (row {other})"),
        (overlap, "overlaps another stay of the same episode (row {other}): stays of one episode follow each other"),
    ):
        for i in np.flatnonzero(mask.to_numpy()):
            row, other = int(ordered["row"].iloc[i]), int(previous_row.iloc[i])
            episode = str(ordered["episode_id"].iloc[i])
            found.append((row, other, episode, message.format(other=other)))
            found.append((other, row, episode, message.format(other=row)))
    return found


def mark_transfers(episodes: pd.DataFrame) -> pd.DataFrame:
    """The episodes with `transfer_in` (not the episode's first stay) and `transfer_out` (a later stay follows)."""
    if episodes.empty:
        return episodes.assign(transfer_in=pd.Series(dtype=bool), transfer_out=pd.Series(dtype=bool))
    ordered = _in_sequence(episodes)
    same_before = ordered["episode_id"].eq(ordered["episode_id"].shift())
    same_after = ordered["episode_id"].eq(ordered["episode_id"].shift(-1))
    return episodes.assign(
        transfer_in=same_before.reindex(episodes.index).to_numpy(),
        transfer_out=same_after.reindex(episodes.index).to_numpy(),
    )


def stay_gaps(episodes: pd.DataFrame) -> pd.Series:
    """Days between a stay and the previous stay of its episode (0 for a transfer the same day, NaN for the
    first stay); a gap of days is a leave, or a stay missing from the extract."""
    ordered = _in_sequence(episodes)
    same = ordered["episode_id"].eq(ordered["episode_id"].shift())
    gap = (ordered["admitted_at"] - ordered["discharged_at"].shift()).dt.days.where(same)
    return gap.reindex(episodes.index)
