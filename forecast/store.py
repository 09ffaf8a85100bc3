"""The episodes store: validated episodes kept durably in a SQL database (SQLAlchemy Core).

Any SQLAlchemy URL works; the service's default is an SQLite file in the user's data folder
(`forecast.api.settings.default_episodes_url`). Adding is idempotent on
`episode_id` and all-or-nothing: a batch is written in one transaction or not at all. An episode seen before
with the same content is left as it is; an open stay that now has its discharge is completed; any other
difference is a conflict, because two versions of one stay cannot both be right.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

__all__ = [
    "AddResult",
    "EpisodeConflict",
    "EpisodeStore",
    "ScenarioNameTaken",
    "ScenarioStore",
    "episodes_table",
    "metadata",
    "scenarios_table",
]

metadata = sa.MetaData()

episodes_table = sa.Table(
    "episodes",
    metadata,
    sa.Column("episode_id", sa.String(200), primary_key=True),
    sa.Column("unit", sa.String(200), nullable=False, index=True),
    sa.Column("admitted_at", sa.Date, nullable=False),
    sa.Column("discharged_at", sa.Date, nullable=True),
    sa.Column("admission_type", sa.String(20), nullable=False),
    sa.Column("hospital", sa.String(200), nullable=True),
    sa.Column("region", sa.String(200), nullable=True),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
)

CONTENT = ("unit", "admitted_at", "discharged_at", "admission_type", "hospital", "region")
# Bound parameters per IN (...) query: well under SQLite's limit on variables.
CHUNK = 500


@dataclass(frozen=True)
class AddResult:
    """What a batch did: new episodes, exact repeats left alone, open stays given their discharge."""

    added: int
    unchanged: int
    discharged: int


class EpisodeConflict(ValueError):
    """Episodes already stored with different content; `episode_ids` names them (nothing else of the rows)."""

    def __init__(self, episode_ids: list[str]):
        self.episode_ids = episode_ids
        shown = ", ".join(episode_ids[:20]) + (f" and {len(episode_ids) - 20} more" if len(episode_ids) > 20 else "")
        super().__init__(
            f"{len(episode_ids)} episode_id(s) already stored with different content: {shown}; "
            "an episode_id names one stay: send a new id for a new stay"
        )


class EpisodeStore:
    """The `episodes` table behind a SQLAlchemy engine."""

    def __init__(self, url: str, **engine_options: Any):
        self.url = url
        self.engine = sa.create_engine(url, **engine_options)

    def create(self) -> None:
        """Create the table if it is not there (safe to call on every start), and an SQLite file's folder."""
        url = self.engine.url
        if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        metadata.create_all(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()

    def count(self) -> int:
        with self.engine.connect() as connection:
            return int(connection.execute(sa.select(sa.func.count()).select_from(episodes_table)).scalar_one())

    def read(self) -> pd.DataFrame:
        """All episodes, in the episode contract's columns (for training)."""
        with self.engine.connect() as connection:
            rows = connection.execute(sa.select(episodes_table).order_by(episodes_table.c.episode_id)).mappings()
            frame = pd.DataFrame(list(rows), columns=[c.name for c in episodes_table.columns])
        for column in ("admitted_at", "discharged_at"):
            frame[column] = pd.to_datetime(frame[column])
        return frame.drop(columns="received_at")

    def add(self, episodes: pd.DataFrame) -> AddResult:
        """Store validated episodes (`forecast.data.validate_episodes` output) in one transaction.

        Raises:
            EpisodeConflict: some episode_id is stored with different content; nothing is written.
        """
        records = [_record(row) for row in episodes.to_dict("records")]
        now = pd.Timestamp.now(tz="UTC").to_pydatetime()
        try:
            with self.engine.begin() as connection:
                stored = _stored(connection, [r["episode_id"] for r in records])
                new, completed, unchanged, conflicts = [], [], 0, []
                for record in records:
                    old = stored.get(record["episode_id"])
                    if old is None:
                        new.append({**record, "received_at": now})
                    elif all(old[c] == record[c] for c in CONTENT):
                        unchanged += 1
                    elif _completes(old, record):
                        completed.append(record)
                    else:
                        conflicts.append(record["episode_id"])
                if conflicts:
                    raise EpisodeConflict(conflicts)
                if new:
                    connection.execute(episodes_table.insert(), new)
                for record in completed:
                    connection.execute(
                        episodes_table.update()
                        .where(episodes_table.c.episode_id == record["episode_id"])
                        .values(discharged_at=record["discharged_at"], received_at=now)
                    )
        except IntegrityError:
            # Another request stored one of these ids between our read and our insert: nothing of ours is kept.
            raise EpisodeConflict(sorted({r["episode_id"] for r in records})) from None
        return AddResult(added=len(new), unchanged=unchanged, discharged=len(completed))


def _record(row: dict[str, Any]) -> dict[str, Any]:
    def day(value: Any) -> Any:
        return None if pd.isna(value) else pd.Timestamp(value).date()

    def text(value: Any) -> str | None:
        return None if value is None or (isinstance(value, float) and pd.isna(value)) or value == "" else str(value)

    return {
        "episode_id": str(row["episode_id"]),
        "unit": str(row["unit"]),
        "admitted_at": day(row["admitted_at"]),
        "discharged_at": day(row["discharged_at"]),
        "admission_type": str(row["admission_type"]),
        "hospital": text(row.get("hospital")),
        "region": text(row.get("region")),
    }


def _stored(connection: sa.Connection, ids: list[str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    columns = [episodes_table.c.episode_id, *(episodes_table.c[c] for c in CONTENT)]
    for k in range(0, len(ids), CHUNK):
        chunk = ids[k : k + CHUNK]
        for row in connection.execute(sa.select(*columns).where(episodes_table.c.episode_id.in_(chunk))).mappings():
            found[row["episode_id"]] = dict(row)
    return found


def _completes(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """An open stay now sent with its discharge, everything else the same."""
    same = all(old[c] == new[c] for c in CONTENT if c != "discharged_at")
    return same and old["discharged_at"] is None and new["discharged_at"] is not None


# --- saved what-if scenarios ---------------------------------------------------------------------------------

scenarios_table = sa.Table(
    "scenarios",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("scenario", sa.Text, nullable=False),  # the scenario as JSON: planning levers, no patient data
    sa.Column("saved_at", sa.DateTime(timezone=True), nullable=False),
)


class ScenarioNameTaken(ValueError):
    """A scenario of that name is already saved."""


class ScenarioStore:
    """Named what-if scenarios beside the episodes (same database; `EpisodeStore.create` makes the table)."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine

    def save(self, name: str, scenario: dict[str, Any]) -> dict[str, Any]:
        """Store a scenario under a new name; returns its row (`id, name, saved_at, scenario`).

        Raises:
            ScenarioNameTaken: the name is in use; nothing is written.
        """
        row = {"name": name, "scenario": json.dumps(scenario, sort_keys=True), "saved_at": pd.Timestamp.now(tz="UTC")}
        try:
            with self.engine.begin() as connection:
                inserted = connection.execute(scenarios_table.insert().values(**row)).inserted_primary_key
        except IntegrityError:
            raise ScenarioNameTaken(f"a scenario named {name!r} is already saved: choose another name") from None
        assert inserted is not None
        return self.get(int(inserted[0])) or {}

    def list(self) -> list[dict[str, Any]]:
        with self.engine.connect() as connection:
            rows = connection.execute(sa.select(scenarios_table).order_by(scenarios_table.c.id)).mappings()
            return [_scenario_row(row) for row in rows]

    def get(self, scenario_id: int) -> dict[str, Any] | None:
        with self.engine.connect() as connection:
            query = sa.select(scenarios_table).where(scenarios_table.c.id == scenario_id)
            row = connection.execute(query).mappings().first()
        return None if row is None else _scenario_row(row)


def _scenario_row(row: Any) -> dict[str, Any]:
    # SQLite gives the time back without its zone; it was stored in UTC.
    saved = pd.Timestamp(row["saved_at"])
    saved = saved.tz_localize("UTC") if saved.tzinfo is None else saved.tz_convert("UTC")
    return {**dict(row), "saved_at": saved.to_pydatetime(), "scenario": json.loads(row["scenario"])}
