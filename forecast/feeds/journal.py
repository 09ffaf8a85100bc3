"""The ADT journal: every message taken, kept durably with the stays it leads to, before it is acknowledged.

One table beside the stays (`adt_events`, one row per message taken: MSH-10 and the event's visit fields, never
PID); a message is taken in one transaction that stores its row and replaces its visit's stays, refolded from all
the visit's events (`forecast.feeds.adt`). The ACK (AA) is sent only after that transaction has committed: a
listener killed before the commit has stored nothing of the message, and the sender, without an ACK, sends it
again; one killed after it finds the message's MSH-10 on the resend and answers AA without storing it twice.

Several messages waiting at once (several sender connections) are taken in one transaction, one sync of the
database for all of them (group commit); each is still decided on its own and refused on its own. A batch file's
messages (`take_all`) are taken in one transaction too, but all or none: one refused, none is stored.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from forecast.feeds.adt import ADMITS, AdtEvent, fold, stay_records
from forecast.feeds.hl7v2 import APPLICATION, DUPLICATE_KEY, Incoming, Refusal, acknowledgment, read_adt
from forecast.feeds.locations import LocationMap
from forecast.feeds.pseudonyms import Pseudonyms
from forecast.store import EpisodeStore, matching, metadata, replace_stays

__all__ = ["AdtJournal", "NotTaken", "Taken", "adt_events_table"]

log = logging.getLogger("bedcast.adt")

CHUNK = 500  # messages decided on one read of the journal (the query's parameters stay few)
# PostgreSQL advisory lock held by each ADT transaction: a visit's events are read and its stays replaced by one
# writer at a time, so a file loaded beside a running listener cannot interleave with it.
WRITER_LOCK = 0x62656463_61737431  # "bedcast1"

adt_events_table = sa.Table(
    "adt_events",
    metadata,
    sa.Column("control_id", sa.String(200), primary_key=True),
    sa.Column("episode_id", sa.String(200), nullable=False, index=True),
    sa.Column("event", sa.String(3), nullable=False),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Column("recorded", sa.DateTime, nullable=False),
    sa.Column("unit", sa.String(200), nullable=True),
    sa.Column("prior_unit", sa.String(200), nullable=True),
    sa.Column("inpatient", sa.Boolean, nullable=False),
    sa.Column("admission_type", sa.String(20), nullable=False),
    sa.Column("admitted", sa.DateTime, nullable=True),
    sa.Column("discharged", sa.DateTime, nullable=True),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
)
EVENT_FIELDS = (
    "event",
    "at",
    "recorded",
    "unit",
    "prior_unit",
    "inpatient",
    "admission_type",
    "admitted",
    "discharged",
)


@dataclass(frozen=True)
class Taken:
    """One message's outcome: the ACK to send, its code, and whether it was new (stored now)."""

    ack: bytes
    code: str
    new: bool = False
    where: str = ""
    reason: str = ""
    error: str = ""  # the HL7 error code (table 0357) of a refusal


class NotTaken(Exception):
    """Messages to be taken all together of which some were refused: nothing was stored. `refused` holds each
    refused message's index and answer."""

    def __init__(self, refused: list[tuple[int, Taken]]):
        self.refused = refused
        super().__init__(f"{len(refused)} message(s) refused")


class _Undo(Exception):
    """Raised inside a transaction to roll it back."""


class AdtJournal:
    """Takes ADT messages into the episodes database.

    Args:
        store: the episodes store (its engine and stays table).
        locations: point of care to unit.
        pseudonyms: the visit number's keyed hash.
        inpatient_classes: PV1-2 values of patients in beds.
        timezone: the local zone HL7 times with an offset are converted to.
    """

    def __init__(
        self,
        store: EpisodeStore,
        locations: LocationMap,
        pseudonyms: Pseudonyms,
        inpatient_classes: Collection[str] = ("I",),
        timezone: str = "Europe/Stockholm",
    ):
        self.store, self.locations, self.pseudonyms = store, locations, pseudonyms
        self.inpatient_classes = tuple(c.upper() for c in inpatient_classes)
        self.timezone = timezone

    def create(self) -> None:
        """Create the stays and journal tables if they are not there."""
        self.store.create()

    def take(self, raw: bytes) -> Taken:
        """One message: stored and acknowledged (AA), or refused (AE/AR) with nothing stored."""
        return self.take_many([raw])[0]

    def take_many(self, messages: Sequence[bytes]) -> list[Taken]:
        """Several messages in one transaction; each answered on its own (see `keep`)."""
        return self.keep([self.read(raw) for raw in messages])

    def read(self, raw: bytes) -> Incoming | Taken:
        """A message read (no database work): its event, or its refusal already answered."""
        try:
            return read_adt(raw, self.locations, self.pseudonyms, self.inpatient_classes, self.timezone)
        except Refusal as refusal:
            return _refused(refusal)

    def keep(self, read: Sequence[Incoming | Taken]) -> list[Taken]:
        """Messages read (`read`) stored in one transaction; each answered on its own. On a database error
        nothing of the batch is stored and each is answered AE (the sender sends it again)."""
        incoming = [r for r in read if isinstance(r, Incoming)]
        if not incoming:
            return [r for r in read if isinstance(r, Taken)]
        try:
            decided = iter(self._store(incoming))
        except sa.exc.SQLAlchemyError as error:
            log.error("ADT batch of %d message(s) not stored: %s", len(incoming), type(error).__name__)
            failure = "not stored (database error); send it again"
            decided = iter(_refused(Refusal("AE", "MSH", 10, APPLICATION, failure, i.header)) for i in incoming)
        return [next(decided) if isinstance(r, Incoming) else r for r in read]

    def take_all(self, messages: Sequence[bytes], skip: Collection[str] = ()) -> list[Taken]:
        """Messages taken all together or not at all (a batch file): each answered AA (stored now, or received
        before) and all committed in one transaction; those refused with an HL7 error code in `skip` are passed
        over (answered, not stored), as the listener passes them over.

        Raises:
            NotTaken: some were refused (their index and answer); nothing was stored.
            sqlalchemy.exc.SQLAlchemyError: the database failed; nothing was stored.
        """
        read = [self.read(raw) for raw in messages]
        refused = [(i, r) for i, r in enumerate(read) if isinstance(r, Taken) and r.error not in skip]
        if refused:
            raise NotTaken(refused)
        incoming = [r for r in read if isinstance(r, Incoming)]
        stored = iter(self._store(incoming, atomic=True) if incoming else [])
        taken = [next(stored) if isinstance(r, Incoming) else r for r in read]
        refused = [(i, t) for i, t in enumerate(taken) if t.code != "AA" and t.error not in skip]
        if refused:
            raise NotTaken(refused)
        return taken

    def _store(self, incoming: list[Incoming], atomic: bool = False) -> list[Taken]:
        """Decide and store messages in one transaction, each answered on its own (in their order); `atomic`:
        nothing is stored if any is refused. The journal is read once a chunk of messages, for all their
        control ids and visits (a chunk sees what the ones before it wrote)."""
        now = dt.datetime.now(dt.UTC)
        decided: list[Taken] = []
        # No table lock on PostgreSQL: the ADT writers (a listener, a batch file) take turns by a lock of their
        # own, and their row locks already make a concurrent `POST /v1/episodes` batch (which locks the table)
        # wait, and wait for it. On SQLite the transaction begins with the database's write lock.
        try:
            with self.store.engine.connect().execution_options(writes=True) as connection, connection.begin():
                if connection.dialect.name == "postgresql":
                    connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": WRITER_LOCK})
                for k in range(0, len(incoming), CHUNK):
                    decided += _store_chunk(connection, incoming[k : k + CHUNK], now)
                if atomic and any(t.code != "AA" for t in decided):
                    raise _Undo
        except _Undo:
            pass
        return decided


def _store_chunk(connection: sa.Connection, incoming: list[Incoming], now: dt.datetime) -> list[Taken]:
    seen, visits = _journal_rows(connection, incoming)
    new_rows, changed, decided = [], {}, []
    for item in incoming:
        control_id = item.header.control_id
        if control_id in seen:
            decided.append(_duplicate(item, seen[control_id]))
            continue
        events = visits.setdefault(item.episode_id, [])
        result = fold([*events, item.event])
        if item.event.control_id in result.early or (result.early and item.event.event in ADMITS):
            decided.append(_refused(_too_early(item)))
            continue
        row = _row(item, now)
        new_rows.append(row)
        seen[control_id] = row
        events.append(item.event)
        changed[item.episode_id] = stay_records(result, item.episode_id)
        decided.append(Taken(acknowledgment(item.header), "AA", new=True))
    if new_rows:
        connection.execute(adt_events_table.insert(), new_rows)
    replace_stays(connection, changed, now)
    return decided


def _refused(refusal: Refusal) -> Taken:
    log.warning(
        "ADT message %s refused (%s %s): %s", refusal.header.control_id, refusal.code, refusal.where, refusal.reason
    )
    ack = acknowledgment(refusal.header, refusal)
    return Taken(ack, refusal.code, where=refusal.where, reason=refusal.reason, error=refusal.error)


def _row(item: Incoming, now: dt.datetime) -> dict[str, Any]:
    event = item.event
    return {
        "control_id": item.header.control_id,
        "episode_id": item.episode_id,
        **{name: getattr(event, name) for name in EVENT_FIELDS},
        "received_at": now,
    }


def _duplicate(item: Incoming, stored: dict[str, Any]) -> Taken:
    """A message whose MSH-10 was taken before: the same again is answered AA; another message under a used
    MSH-10 is refused (it would be lost silently otherwise)."""
    mine = _row(item, stored.get("received_at") or dt.datetime.now(dt.UTC))
    same = stored["episode_id"] == item.episode_id and all(_same(stored[name], mine[name]) for name in EVENT_FIELDS)
    if same:
        return Taken(acknowledgment(item.header, note="already received"), "AA")
    refusal = Refusal(
        "AE", "MSH", 10, DUPLICATE_KEY, "this message control id was used by another message already taken", item.header
    )
    return _refused(refusal)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, dt.datetime) and isinstance(b, dt.datetime):
        return a.replace(tzinfo=None) == b.replace(tzinfo=None)
    return bool(a == b)


def _too_early(item: Incoming) -> Refusal:
    """The refusal of a message that puts a transfer or discharge before the visit's admission."""
    event = item.event.event
    if event in ADMITS:
        field, reason = 44, "the admission is after a transfer or discharge already received for this visit"
    elif event == "A03":
        field, reason = 45, "the discharge is before the visit's admission"
    else:
        field, reason = None, "the transfer is before the visit's admission"
    segment = "PV1" if field is not None else "EVN"
    return Refusal("AE", segment, field if field is not None else 6, APPLICATION, reason, item.header)


def _journal_rows(
    connection: sa.Connection, incoming: list[Incoming]
) -> tuple[dict[str, dict[str, Any]], dict[str, list[AdtEvent]]]:
    """In one query: the rows of the batch's control ids already taken, and every event of its visits."""
    table = adt_events_table
    ids, visits = [i.header.control_id for i in incoming], [i.episode_id for i in incoming]
    query = sa.select(table).where(sa.or_(matching(table.c.control_id, ids), matching(table.c.episode_id, visits)))
    seen: dict[str, dict[str, Any]] = {}
    events: dict[str, list[AdtEvent]] = {}
    wanted = set(ids)
    for row in connection.execute(query).mappings():
        if row["control_id"] in wanted:
            seen[row["control_id"]] = dict(row)
        event = AdtEvent(control_id=row["control_id"], **{name: row[name] for name in EVENT_FIELDS})
        events.setdefault(row["episode_id"], []).append(event)
    return seen, events
