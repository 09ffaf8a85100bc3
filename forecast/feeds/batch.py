"""HL7 v2 batch files: many ADT messages in one file (a nightly export), taken all or nothing.

A batch file is HL7's (v2.5 chapter 2.10.3): an optional file header (FHS), batches each between an optional
header (BHS) and trailer (BTS, whose BTS-1 counts the batch's messages), an optional file trailer (FTS, FTS-1
counts the batches), and in the batches the messages, each beginning at its MSH. Files of bare messages one after
the other, and MLLP-framed files (what `mllp_send --file` reads), are read too. Segments may end in CR, LF or
CRLF.

The envelope is checked before anything is stored: a segment outside a message, a trailer whose count is not
the messages' (or batches') count, a header without its trailer (a file cut short) is an error naming the line.
The messages are then taken in one transaction (`AdtJournal.take_all`): if any is refused, none is stored, and
the error names each refused message by its position in the file, its line and its control id (MSH-10).
Messages that are not ADT, or of an event not handled (A04, A31, …), are skipped and counted, not refused: the
listener answers them AR and stores nothing of them either. Loading a file again, or one whose messages came over
MLLP already, stores nothing twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from forecast.feeds.hl7v2 import UNSUPPORTED_EVENT, UNSUPPORTED_TYPE, read_header
from forecast.feeds.journal import AdtJournal, NotTaken, Taken

__all__ = ["BatchError", "BatchMessage", "Loaded", "batch_file", "load_batch", "split_batch"]

SEGMENT_END = re.compile(rb"\r\n|\r|\n")
MAX_LISTED = 20  # refused messages named in one error
# Messages skipped, not refusing the file: not ADT, or an ADT event that says nothing of stays (a registration
# A04, a patient update A31, …). Over MLLP they are answered AR and not stored either, so a file's stays are still
# those of its messages sent one by one.
SKIPPED = (UNSUPPORTED_TYPE, UNSUPPORTED_EVENT)


class BatchError(ValueError):
    """A batch file not taken (nothing of it stored); the message names the line or the messages."""


@dataclass(frozen=True)
class BatchMessage:
    """One message of a batch file: its position among the file's messages (from 1), its first line, its bytes."""

    position: int
    line: int
    raw: bytes

    @property
    def control_id(self) -> str:
        return read_header(self.raw.decode("latin-1")).control_id

    @property
    def name(self) -> str:
        return f"message {self.position} (line {self.line}, MSH-10 {self.control_id or '(none)'})"


@dataclass(frozen=True)
class Loaded:
    """A batch file taken: its messages and batches, how many were new (the others were received before or
    skipped), and the messages skipped by type (MSH-9: not ADT, or an event not handled)."""

    messages: int
    batches: int
    new: int
    skipped: dict[str, int]


def _count(segment: bytes, line: int, name: str) -> int | None:
    """BTS-1 or FTS-1 (the count of the batch's messages, of the file's batches), if given."""
    fields = segment.decode("latin-1").split(chr(segment[3]) if len(segment) > 3 else "|")
    text = fields[1].strip() if len(fields) > 1 else ""
    if not text:
        return None
    if not text.isdigit():
        raise BatchError(f"line {line}: {name}-1 is {text!r}, not a count")
    return int(text)


def split_batch(data: bytes) -> tuple[list[BatchMessage], int]:
    """The messages of a batch file and its number of batches.

    Raises:
        BatchError: the envelope is wrong (see the module's docstring), naming the line.
    """
    # MLLP-framed: the blocks are the messages (lines counted as an editor shows them, <FS><CR> one line).
    data = data.replace(b"\x1c\r", b"\r").replace(b"\x1c", b"\r").replace(b"\x0b", b"")
    messages: list[BatchMessage] = []
    segments: list[bytes] = []  # the message being read
    first = 0  # its first line
    file_header = file_trailer = 0  # lines of FHS and FTS
    batch_header = 0  # line of the open batch's BHS
    batch_start = 0  # messages before the open batch
    batches = 0

    def close() -> None:
        nonlocal segments
        if segments:
            messages.append(BatchMessage(len(messages) + 1, first, b"\r".join(segments) + b"\r"))
            segments = []

    for number, segment in enumerate(SEGMENT_END.split(data), start=1):
        if not segment.strip():
            continue
        name = segment[:3].decode("latin-1")
        if file_trailer:
            raise BatchError(f"line {number}: {name} after the file trailer (FTS, line {file_trailer})")
        if name == "FHS":
            if file_header or messages or segments or batches or batch_header:
                raise BatchError(f"line {number}: FHS not at the beginning of the file")
            file_header = number
        elif name == "BHS":
            close()
            if batch_header:
                raise BatchError(f"line {number}: BHS, but the batch begun at line {batch_header} has no BTS")
            batch_header, batch_start = number, len(messages)
        elif name == "MSH":
            close()
            segments, first = [segment], number
        elif name == "BTS":
            close()
            expected = _count(segment, number, "BTS")
            held = len(messages) - batch_start
            if expected is not None and expected != held:
                where = f"the batch begun at line {batch_header}" if batch_header else "the batch"
                raise BatchError(f"line {number}: BTS-1 counts {expected} messages, {where} holds {held}")
            batches, batch_header, batch_start = batches + 1, 0, len(messages)
        elif name == "FTS":
            close()
            if batch_header:
                raise BatchError(f"line {number}: FTS, but the batch begun at line {batch_header} has no BTS")
            expected = _count(segment, number, "FTS")
            batches += len(messages) > batch_start  # messages after the last BTS: a batch without its envelope
            batch_start = len(messages)
            if expected is not None and expected != batches:
                raise BatchError(f"line {number}: FTS-1 counts {expected} batches, the file holds {batches}")
            file_trailer = number
        elif segments:
            segments.append(segment)
        else:
            raise BatchError(f"line {number}: segment {name!r} outside a message (each begins with MSH)")
    close()
    if batch_header:
        raise BatchError(f"the batch begun at line {batch_header} has no BTS: is the file cut short?")
    if file_header and not file_trailer:
        raise BatchError(f"the file begun by FHS at line {file_header} has no FTS: is the file cut short?")
    if not messages:
        raise BatchError("no message in the file (each begins with MSH)")
    return messages, batches or 1


def load_batch(journal: AdtJournal, data: bytes) -> Loaded:
    """A batch file's messages stored in one transaction, or none of them.

    Raises:
        BatchError: the envelope is wrong, or messages were refused (each named with its HL7 error); nothing of
            the file was stored.
        sqlalchemy.exc.SQLAlchemyError: the database failed; nothing of the file was stored.
    """
    messages, batches = split_batch(data)
    try:
        taken = journal.take_all([m.raw for m in messages], skip=SKIPPED)
    except NotTaken as error:
        raise BatchError(_refusals(messages, error.refused)) from None
    skipped: dict[str, int] = {}
    for message, outcome in zip(messages, taken, strict=True):
        if outcome.error in SKIPPED:
            kind = read_header(message.raw.decode("latin-1")).trigger.split("^")
            name = "^".join(kind[:2])
            skipped[name] = skipped.get(name, 0) + 1
    return Loaded(len(messages), batches, sum(t.new for t in taken), dict(sorted(skipped.items())))


def _refusals(messages: list[BatchMessage], refused: list[tuple[int, Taken]]) -> str:
    lines = [f"{messages[i].name}: {t.code} {t.where}: {t.reason}" for i, t in refused[:MAX_LISTED]]
    if len(refused) > MAX_LISTED:
        lines.append(f"and {len(refused) - MAX_LISTED} more")
    head = f"{len(refused)} of {len(messages)} messages refused; nothing of the file was stored"
    return "\n".join([head, *lines])


def batch_file(messages: list[str], batch_size: int = 0, stamp: str = "") -> bytes:
    """Messages as an HL7 batch file (FHS, BHS … BTS per batch of `batch_size`, FTS), segments ending in CR:
    what a nightly export gives. For the demo and the tests."""
    size = batch_size or max(len(messages), 1)
    groups = [messages[k : k + size] for k in range(0, len(messages), size)]
    lines = [f"FHS|^~\\&|COSMIC|VISBY|BEDCAST|REGION|{stamp}||||F1"]
    for n, group in enumerate(groups, start=1):
        lines.append(f"BHS|^~\\&|COSMIC|VISBY|BEDCAST|REGION|{stamp}||||B{n}")
        lines += [segment for message in group for segment in message.split("\r") if segment]
        lines.append(f"BTS|{len(group)}")
    lines.append(f"FTS|{len(groups)}")
    return ("\r".join(lines) + "\r").encode("utf-8")
