"""The episodes store: validated ward stays kept durably in a SQL database (SQLAlchemy Core).

Any SQLAlchemy URL works; the service's default is an SQLite file in the user's data folder
(`forecast.api.settings.default_episodes_url`), and PostgreSQL (`postgresql://user:password@host/db`, driver
psycopg) is tested against a real server. A row is one stay of an episode in one unit (an episode may have
several, see `forecast.stays`), keyed by `episode_id, unit, admitted_at`. Adding is idempotent on that key and
all-or-nothing: a batch is written in one transaction or not at all. A stay seen before with the same content is
left as it is; an open stay that now has its discharge is completed; any other difference is a conflict, because
two versions of one stay cannot both be right, and so is a new stay that overlaps the episode's stored ones.
A feed that owns its episodes (the HL7 ADT listener) replaces an episode's stays whole (`replace_stays`).

Concurrent batches (several clients, several serving workers) are serialized while they write, so each batch
decides new / unchanged / completed / conflict on the rows as the batches before it left them: on SQLite the
batch's transaction starts with `BEGIN IMMEDIATE` (the database's write lock, taken before the first read; the
others wait up to `SQLITE_WAIT` seconds), on PostgreSQL with `LOCK TABLE stays IN SHARE ROW EXCLUSIVE MODE`
(a lock only one writer holds at a time; reads go on). Under PostgreSQL's READ COMMITTED each statement after
the lock sees every batch committed before it, so an episode_id is stored once, a repeat is `unchanged` rather
than a conflict, and a completion is never lost to a concurrent one.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError

from forecast.stays import sequence_problems

__all__ = [
    "AddResult",
    "EpisodeConflict",
    "EpisodeStore",
    "ScenarioNameTaken",
    "ScenarioStore",
    "data_folder",
    "episodes_table",
    "matching",
    "metadata",
    "replace_stays",
    "scenarios_table",
]

metadata = sa.MetaData()

episodes_table = sa.Table(
    "stays",
    metadata,
    sa.Column("episode_id", sa.String(200), primary_key=True),
    sa.Column("unit", sa.String(200), primary_key=True),
    sa.Column("admitted_at", sa.Date, primary_key=True),
    sa.Column("discharged_at", sa.Date, nullable=True),
    sa.Column("admission_type", sa.String(20), nullable=False),
    sa.Column("hospital", sa.String(200), nullable=True),
    sa.Column("region", sa.String(200), nullable=True),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
)

CONTENT = ("unit", "admitted_at", "discharged_at", "admission_type", "hospital", "region")
KEY = ("episode_id", "unit", "admitted_at")
# The table of one stay per episode (before ward stays), copied into `stays` on the first start.
OLD_TABLE = "episodes"
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
    """Stays already stored with different content, or overlapping the stored stays of their episode;
    `episode_ids` names the episodes (nothing else of the rows)."""

    def __init__(self, episode_ids: list[str], overlap: bool = False):
        self.episode_ids = episode_ids
        shown = ", ".join(episode_ids[:20]) + (f" and {len(episode_ids) - 20} more" if len(episode_ids) > 20 else "")
        if overlap:
            super().__init__(
                f"{len(episode_ids)} episode_id(s) would have overlapping stays with those stored: {shown}; "
                "stays of one episode follow each other"
            )
            return
        super().__init__(
            f"{len(episode_ids)} episode_id(s) already stored with different content: {shown}; "
            "an episode_id, unit and admission day name one stay: send a new id for a new episode"
        )


class EpisodeStore:
    """The `episodes` table behind a SQLAlchemy engine."""

    def __init__(self, url: str, **engine_options: Any):
        self.url = url
        self.engine = sa.create_engine(url, **engine_options)
        if self.engine.dialect.name == "sqlite":
            _sqlite_transactions(self.engine)

    def create(self) -> None:
        """Create the tables if they are not there (safe to call on every start), and an SQLite file's folder.

        A database of the version before ward stays (table `episodes`, one stay per episode) has its rows
        copied into `stays` and the old table dropped, in one transaction.
        """
        url = self.engine.url
        if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        with self.engine.connect().execution_options(writes=True) as connection, connection.begin():
            old = sa.inspect(connection).has_table(OLD_TABLE)
            metadata.create_all(connection)
            if old:
                columns = ", ".join(c.name for c in episodes_table.columns)
                connection.execute(sa.text(f"INSERT INTO stays ({columns}) SELECT {columns} FROM {OLD_TABLE}"))
                connection.execute(sa.text(f"DROP TABLE {OLD_TABLE}"))

    def dispose(self) -> None:
        self.engine.dispose()

    def count(self) -> int:
        with self.engine.connect() as connection:
            return int(connection.execute(sa.select(sa.func.count()).select_from(episodes_table)).scalar_one())

    def read(self) -> pd.DataFrame:
        """All episodes, in the episode contract's columns (for training)."""
        with self.engine.connect() as connection:
            order = [episodes_table.c[c] for c in KEY]
            rows = connection.execute(sa.select(episodes_table).order_by(*order)).mappings()
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
        """Store validated episodes (`forecast.data.validate_episodes` output: ward stays) in one transaction.

        Raises:
            EpisodeConflict: some stay is stored with different content, or a new stay overlaps the stored stays
                of its episode; nothing is written.
        """
        records = _records(episodes)
        now = pd.Timestamp.now(tz="UTC").to_pydatetime()
        try:
            with self.engine.connect().execution_options(writes=True) as connection, connection.begin():
                lock_stays(connection)
                stored = _stored(connection, sorted({r["episode_id"] for r in records}))
                new, completed, unchanged, conflicts = [], [], 0, []
                for record in records:
                    old = stored.get(_key(record))
                    if old is None:
                        new.append({**record, "received_at": now})
                    elif all(old[c] == record[c] for c in CONTENT):
                        unchanged += 1
                    elif _completes(old, record):
                        completed.append(record)
                    else:
                        conflicts.append(record["episode_id"])
                if conflicts:
                    raise EpisodeConflict(sorted(set(conflicts)))
                overlapping = _overlapping(stored, new, completed)
                if overlapping:
                    raise EpisodeConflict(overlapping, overlap=True)
                if new:
                    _insert(connection, new)
                for record in completed:
                    connection.execute(
                        episodes_table.update()
                        .where(*(episodes_table.c[c] == record[c] for c in KEY))
                        .values(discharged_at=record["discharged_at"], received_at=now)
                    )
        except IntegrityError:
            # Only on a database without the write lock above: another request stored one of these ids between
            # our read and our insert. Nothing of ours is kept.
            raise EpisodeConflict(sorted({r["episode_id"] for r in records})) from None
        return AddResult(added=len(new), unchanged=unchanged, discharged=len(completed))


def lock_stays(connection: sa.Connection) -> None:
    """On PostgreSQL, the lock one writer of stays holds at a time (SQLite's writer takes its lock at BEGIN)."""
    if connection.dialect.name == "postgresql":
        connection.execute(sa.text("LOCK TABLE stays IN SHARE ROW EXCLUSIVE MODE"))


def matching(column: sa.Column, values: list[str]) -> sa.ColumnElement[bool]:
    """`column = value` for one value (the usual batch of one: a statement compiled once), else `IN (...)`."""
    unique = sorted(set(values))
    return column == unique[0] if len(unique) == 1 else column.in_(unique)


def data_folder() -> Path:
    """The user's data folder for the service (`$XDG_DATA_HOME/bedcast`, else `~/.local/share/bedcast`): where the
    default episodes database and the feeds' secret live. Not the working folder: episodes are patient data, and
    a store beside the source tree ends up in commits."""
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "bedcast"


def replace_stays(connection: sa.Connection, stays: dict[str, list[dict[str, Any]]], now: Any) -> None:
    """Replace the stored stays of some episodes by the given rows (`episode_id, unit, admitted_at, discharged_at,
    admission_type, hospital, region`, dates as `datetime.date`; none: the episode has no stay), in the caller's
    transaction. For a feed that derives whole episodes from its own messages (the ADT listener)."""
    if not stays:
        return
    table = episodes_table
    ids = list(stays)
    for k in range(0, len(ids), CHUNK):
        connection.execute(table.delete().where(matching(table.c.episode_id, ids[k : k + CHUNK])))
    records = [{**r, "received_at": now} for rows in stays.values() for r in rows]
    if records:
        connection.execute(table.insert(), records)


def _key(record: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(record[c] for c in KEY)


def _overlapping(
    stored: dict[tuple[Any, ...], dict[str, Any]], new: list[dict[str, Any]], completed: list[dict[str, Any]]
) -> list[str]:
    """Episodes whose stays, stored and new together, would overlap or be out of order."""
    if not new:
        return []
    touched = {r["episode_id"] for r in new}
    stays = {k: v for k, v in stored.items() if k[0] in touched}
    stays.update({_key(r): r for r in completed if r["episode_id"] in touched})
    stays.update({_key(r): r for r in new})
    frame = pd.DataFrame([{**v, "episode_id": k[0]} for k, v in stays.items()])
    frame["row"] = range(1, len(frame) + 1)
    for column in ("admitted_at", "discharged_at"):
        frame[column] = pd.to_datetime(frame[column])
    return sorted({episode for _, _, episode, _ in sequence_problems(frame)})


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
    statement = sa.text(f"INSERT INTO stays ({names}) SELECT * FROM unnest({unnest})").bindparams(
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


def _stored(connection: sa.Connection, ids: list[str]) -> dict[tuple[Any, ...], dict[str, Any]]:
    """Every stored stay of the episodes `ids`, by key."""
    found: dict[tuple[Any, ...], dict[str, Any]] = {}
    columns = [episodes_table.c.episode_id, *(episodes_table.c[c] for c in CONTENT)]
    for k in range(0, len(ids), CHUNK):
        chunk = ids[k : k + CHUNK]
        for row in connection.execute(sa.select(*columns).where(episodes_table.c.episode_id.in_(chunk))).mappings():
            stay = dict(row)
            found[_key(stay)] = stay
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
