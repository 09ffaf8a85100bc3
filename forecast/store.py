"""The episodes store: validated episodes kept durably in a SQL database (SQLAlchemy Core).

Any SQLAlchemy URL works; the service's default is an SQLite file in the user's data folder
(`forecast.api.settings.default_episodes_url`), and PostgreSQL (`postgresql://user:password@host/db`, driver
psycopg) is tested against a real server. Adding is idempotent on
`episode_id` and all-or-nothing: a batch is written in one transaction or not at all. An episode seen before
with the same content is left as it is; an open stay that now has its discharge is completed; any other
difference is a conflict, because two versions of one stay cannot both be right.

Concurrent batches (several clients, several serving workers) are serialized while they write, so each batch
decides new / unchanged / completed / conflict on the rows as the batches before it left them: on SQLite the
batch's transaction starts with `BEGIN IMMEDIATE` (the database's write lock, taken before the first read; the
others wait up to `SQLITE_WAIT` seconds), on PostgreSQL with `LOCK TABLE episodes IN SHARE ROW EXCLUSIVE MODE`
(a lock only one writer holds at a time; reads go on). Under PostgreSQL's READ COMMITTED each statement after
the lock sees every batch committed before it, so an episode_id is stored once, a repeat is `unchanged` rather
than a conflict, and a completion is never lost to a concurrent one.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy import event
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
# Seconds a SQLite writer waits for another's batch to commit before it fails.
SQLITE_WAIT = 60


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
        if self.engine.dialect.name == "sqlite":
            _sqlite_transactions(self.engine)

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

    def version(self) -> tuple[int, str]:
        """What changes whenever an episode is added or completed: the count and the newest receipt time."""
        query = sa.select(sa.func.count(), sa.func.max(episodes_table.c.received_at))
        with self.engine.connect() as connection:
            count, newest = connection.execute(query).one()
        return int(str(count)), str(newest)

    def read_in_bed_after(self, day: dt.date) -> pd.DataFrame:
        """The stays in bed at some midnight after `day` (open, or discharged after it), for the nowcast: the
        contract's columns without the id (the nowcast counts stays, it never needs to tell them apart).

        Also the newest day any stored episode speaks of, as the frame's `attrs["as_of"]` (None when empty).
        """
        table = episodes_table.c
        columns = [table.unit, table.admitted_at, table.discharged_at, table.admission_type]
        newest = sa.select(sa.func.max(table.admitted_at), sa.func.max(table.discharged_at))
        with self.engine.connect() as connection:
            rows = connection.execute(
                sa.select(*columns).where(sa.or_(table.discharged_at.is_(None), table.discharged_at > day))
            ).all()
            admitted, discharged = connection.execute(newest).one()
        frame = pd.DataFrame(rows, columns=[c.name for c in columns])
        for column in ("admitted_at", "discharged_at"):
            frame[column] = pd.to_datetime(frame[column])
        days = [pd.Timestamp(d) for d in (admitted, discharged) if d is not None]
        frame.attrs["as_of"] = max(days) if days else None
        return frame

    def add(self, episodes: pd.DataFrame) -> AddResult:
        """Store validated episodes (`forecast.data.validate_episodes` output) in one transaction.

        Raises:
            EpisodeConflict: some episode_id is stored with different content; nothing is written.
        """
        records = _records(episodes)
        now = pd.Timestamp.now(tz="UTC").to_pydatetime()
        try:
            with self.engine.connect().execution_options(writes=True) as connection, connection.begin():
                if connection.dialect.name == "postgresql":
                    connection.execute(sa.text("LOCK TABLE episodes IN SHARE ROW EXCLUSIVE MODE"))
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
                    _insert(connection, new)
                for record in completed:
                    connection.execute(
                        episodes_table.update()
                        .where(episodes_table.c.episode_id == record["episode_id"])
                        .values(discharged_at=record["discharged_at"], received_at=now)
                    )
        except IntegrityError:
            # Only on a database without the write lock above: another request stored one of these ids between
            # our read and our insert. Nothing of ours is kept.
            raise EpisodeConflict(sorted({r["episode_id"] for r in records})) from None
        return AddResult(added=len(new), unchanged=unchanged, discharged=len(completed))


def _sqlite_transactions(engine: sa.Engine) -> None:
    """Let SQLAlchemy, not the sqlite3 module, begin transactions, so that a write starts with the write lock.

    The sqlite3 module would begin only at the first INSERT, after the batch's reads: two batches could then
    both read an id as new. (SQLAlchemy's documented recipe for SQLite transactions.)
    """

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.isolation_level = None  # the sqlite3 module issues no BEGIN of its own
        dbapi_connection.execute(f"PRAGMA busy_timeout = {SQLITE_WAIT * 1000}")
        # Write-ahead log: readers do not wait for a writer, and a commit is one sync of the log (still durable:
        # synchronous stays FULL).
        dbapi_connection.execute("PRAGMA journal_mode = WAL")

    @event.listens_for(engine, "begin")
    def _begin(connection: sa.Connection) -> None:
        writes = connection.get_execution_options().get("writes", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")


def _insert(connection: sa.Connection, rows: list[dict[str, Any]]) -> None:
    """Insert new rows: on PostgreSQL as one statement over arrays (one round trip, where executemany sends a
    statement per row), elsewhere with executemany."""
    if connection.dialect.name != "postgresql":
        connection.execute(episodes_table.insert(), rows)
        return
    columns = [c.name for c in episodes_table.columns]
    arrays = {c: [row[c] for row in rows] for c in columns}
    types = {c: sa.ARRAY(episodes_table.c[c].type) for c in columns}
    unnest = ", ".join(f":{c}" for c in columns)
    names = ", ".join(columns)
    statement = sa.text(f"INSERT INTO episodes ({names}) SELECT * FROM unnest({unnest})").bindparams(
        *(sa.bindparam(c, type_=types[c]) for c in columns)
    )
    connection.execute(statement, arrays)


def _records(episodes: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows to store, column by column (a batch of thousands is built without a Python call per cell)."""

    def days(column: str) -> list[Any]:
        stamps = pd.to_datetime(episodes[column])
        dates = stamps.dt.date.to_numpy(dtype=object)
        dates[stamps.isna().to_numpy()] = None
        return list(dates)

    def texts(column: str) -> list[str | None]:
        if column not in episodes.columns:
            return [None] * len(episodes)
        values = episodes[column].astype(object)
        values = values.where(values.notna(), None)
        return [None if v is None or v == "" else str(v) for v in values.to_numpy()]

    columns = {
        "episode_id": episodes["episode_id"].astype(str).tolist(),
        "unit": episodes["unit"].astype(str).tolist(),
        "admitted_at": days("admitted_at"),
        "discharged_at": days("discharged_at"),
        "admission_type": episodes["admission_type"].astype(str).tolist(),
        "hospital": texts("hospital"),
        "region": texts("region"),
    }
    names = list(columns)
    return [dict(zip(names, values, strict=True)) for values in zip(*columns.values(), strict=True)]


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

    def delete(self, scenario_id: int) -> bool:
        """Remove a saved scenario; False when there was none of that id."""
        with self.engine.begin() as connection:
            done = connection.execute(scenarios_table.delete().where(scenarios_table.c.id == scenario_id))
        return bool(done.rowcount)

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
