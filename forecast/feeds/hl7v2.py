"""HL7 v2 ADT messages: read one into an `AdtEvent` (or refuse it, naming the segment and field), and answer it.

Parsing is python-hl7's (`hl7.parse`, `hl7.parse_datetime`); this module decides what an ADT message means for
ward stays and what is wrong with it. Nothing of PID is read beyond its place in the message: the visit is known
by PV1-19 (visit number), which leaves this module only as a keyed hash (`Pseudonyms`).

Refusals follow HL7's acknowledgment codes: AR (the message cannot be taken at all: not ADT, an event we do not
handle, a character set it does not keep to) and AE (an error in its content: a segment out of order, a missing or
unknown value, a discharge before its admission), each with an ERR segment (ERR-2 the segment and field, ERR-3
the HL7 error code of table 0357) and the reason in MSA-3.
"""

from __future__ import annotations

import codecs
import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import hl7

from forecast.feeds.adt import EVENTS, AdtEvent
from forecast.feeds.locations import LocationMap
from forecast.feeds.pseudonyms import Pseudonyms

__all__ = [
    "ADMISSION_TYPES",
    "CHARSETS",
    "Header",
    "Incoming",
    "Refusal",
    "acknowledgment",
    "read_adt",
    "read_header",
]

# HL7 table 0211 (MSH-18) to Python codecs; no MSH-18 means UTF-8 (a superset of HL7's default, ASCII).
CHARSETS = {
    "": "utf-8",
    "ASCII": "ascii",
    "UNICODE UTF-8": "utf-8",
    "UTF-8": "utf-8",
    **{f"8859/{n}": f"iso8859-{n}" for n in (1, 2, 3, 4, 5, 6, 7, 8, 9, 15)},
}
# HL7 table 0007 (PV1-4, admission type) to the episode contract's admission types; empty means acute.
ADMISSION_TYPES = {
    "": "acute",
    "A": "acute",  # accident
    "E": "acute",  # emergency
    "L": "acute",  # labor and delivery
    "N": "acute",  # newborn
    "U": "acute",  # urgent
    "C": "elective",
    "R": "elective",  # routine
}
# HL7 table 0357 (message error condition codes).
SEGMENT_ORDER, MISSING, BAD_VALUE, UNKNOWN_VALUE = "100", "101", "102", "103"
UNSUPPORTED_TYPE, UNSUPPORTED_EVENT, DUPLICATE_KEY, APPLICATION = "200", "201", "205", "207"
ERROR_NAMES = {
    "100": "Segment sequence error",
    "101": "Required field missing",
    "102": "Data type error",
    "103": "Table value not found",
    "200": "Unsupported message type",
    "201": "Unsupported event code",
    "205": "Duplicate key identifier",
    "207": "Application internal error",
}


@dataclass(frozen=True)
class Header:
    """What an acknowledgment needs of the message it answers (MSH fields; nothing of the patient)."""

    sending_application: str = ""
    sending_facility: str = ""
    receiving_application: str = ""
    receiving_facility: str = ""
    control_id: str = ""
    trigger: str = ""
    message_time: str = ""
    processing_id: str = "P"
    version: str = "2.5"
    charset: str = ""


class Refusal(Exception):
    """A message not taken: AE or AR, the segment and field, the HL7 error code and a reason a person can act on.

    The reason names the field and, for locations, events and character sets, the value; never a value from PID
    or the visit number.
    """

    def __init__(self, code: str, segment: str, field: int | None, error: str, reason: str, header: Header):
        self.code, self.segment, self.field, self.error, self.reason = code, segment, field, error, reason
        self.header = header
        super().__init__(f"{code} {self.where}: {reason}")

    @property
    def where(self) -> str:
        return self.segment if self.field is None else f"{self.segment}-{self.field}"


@dataclass(frozen=True)
class Incoming:
    """A message read: its header (for the answer) and its event (the visit as a keyed hash)."""

    header: Header
    event: AdtEvent
    episode_id: str


def _decode(raw: bytes) -> tuple[str, Header]:
    """The message as text in its declared character set (MSH-18), and the header read from it."""
    head = raw.decode("latin-1")  # byte-transparent: enough to find the header's fields
    if not head.startswith("MSH") or len(head) < 8:
        raise Refusal("AR", "MSH", None, SEGMENT_ORDER, "the message does not begin with an MSH segment", Header())
    header = read_header(head)
    name = header.charset.upper()
    codec = CHARSETS.get(name)
    if codec is None:
        known = ", ".join(n for n in CHARSETS if n)
        raise Refusal("AR", "MSH", 18, UNKNOWN_VALUE, f"character set {name!r} not handled; use one of {known}", header)
    try:
        text = codecs.decode(raw, codec)
    except UnicodeDecodeError as error:
        declared = name or "UTF-8 (no MSH-18)"
        raise Refusal(
            "AR",
            "MSH",
            18,
            BAD_VALUE,
            f"byte {error.start} (0x{raw[error.start]:02x}) is not {declared}: send the message in the character "
            "set MSH-18 declares",
            header,
        ) from None
    return text.replace("\r\n", "\r").replace("\n", "\r"), header


def read_header(text: str) -> Header:
    separator = text[3]
    first = text.split("\r", 1)[0].split("\n", 1)[0]
    fields = first.split(separator)
    # fields[0] is "MSH"; MSH-1 is the separator itself, so MSH-n is fields[n - 1].
    component = fields[1][:1] if len(fields) > 1 and fields[1] else "^"

    def get(n: int, first_component: bool = False) -> str:
        value = fields[n - 1] if len(fields) >= n else ""
        return value.split(component)[0] if first_component else value

    return Header(
        sending_application=get(3),
        sending_facility=get(4),
        receiving_application=get(5),
        receiving_facility=get(6),
        control_id=get(10),
        trigger=get(9),
        message_time=get(7),
        processing_id=get(11) or "P",
        version=get(12) or "2.5",
        charset=get(18, first_component=True).split(fields[1][1:2] or "~")[0].strip(),
    )


def _value(segment: hl7.Segment, field: int, component: int = 1) -> str:
    try:
        return str(segment.extract_field(1, field, 1, component, 1)).strip()
    except IndexError:
        return ""


def _time(
    segment: hl7.Segment, field: int, header: Header, zone: ZoneInfo, required: bool = False
) -> dt.datetime | None:
    """A DTM field as local wall-clock time (an offset is converted to the installation's zone)."""
    name = str(segment[0][0])
    text = _value(segment, field)
    if not text:
        if required:
            raise Refusal("AE", name, field, MISSING, "a date/time is required here", header)
        return None
    try:
        value = hl7.parse_datetime(text)
    except ValueError:
        value = None
    if value is None:
        raise Refusal("AE", name, field, BAD_VALUE, "not an HL7 date/time (YYYYMMDDHHMM[SS][+ZZZZ])", header)
    if value.tzinfo is not None:
        value = value.astimezone(zone).replace(tzinfo=None)
    return value


def _message_time(header: Header, zone: ZoneInfo) -> dt.datetime:
    """MSH-7, when EVN-2 is not given."""
    msh = hl7.parse(f"MSH|^~\\&|||||{header.message_time}")[0]
    time = _time(msh, 7, header, zone, required=True)
    assert time is not None
    return time


def read_adt(
    raw: bytes,
    locations: LocationMap,
    pseudonyms: Pseudonyms,
    inpatient_classes: Collection[str] = ("I",),
    timezone: str = "Europe/Stockholm",
) -> Incoming:
    """Read one ADT message (the bytes inside an MLLP block) into its event.

    Raises:
        Refusal: the message cannot be taken (see the module's docstring); nothing of it should be stored.
    """
    text, header = _decode(raw)
    kind, _, rest = header.trigger.partition("^")
    trigger = rest.split("^")[0]
    if kind != "ADT":
        raise Refusal("AR", "MSH", 9, UNSUPPORTED_TYPE, f"message type {kind!r} is not ADT", header)
    if not header.control_id:
        raise Refusal("AE", "MSH", 10, MISSING, "no message control id: it is what makes a resend harmless", header)
    if trigger not in EVENTS:
        handled = ", ".join(sorted(EVENTS))
        raise Refusal("AR", "MSH", 9, UNSUPPORTED_EVENT, f"event {trigger!r} not handled; handled: {handled}", header)
    lines = [line for line in text.split("\r") if line.strip()]
    names = [line[:3] for line in lines]
    order = _segment_order(names, header)
    # Only MSH, EVN and PV1 are parsed: PID (the patient's identity) is never read.
    try:
        message = hl7.parse("\r".join([lines[0][:8], lines[order["EVN"]], lines[order["PV1"]]]))
    except (hl7.ParseException, ValueError, IndexError) as error:
        raise Refusal("AR", "MSH", None, SEGMENT_ORDER, f"not an HL7 message ({error})", header) from None
    evn, pv1 = message[1], message[2]
    # EVN-1 is kept for backward compatibility only (HL7 2.5): MSH-9's trigger event is the message's event.

    zone = ZoneInfo(timezone)
    recorded = _time(evn, 2, header, zone) or _message_time(header, zone)
    occurred = _time(evn, 6, header, zone)
    admitted, discharged = _time(pv1, 44, header, zone), _time(pv1, 45, header, zone)
    if admitted is not None and discharged is not None and discharged < admitted:
        raise Refusal(
            "AE", "PV1", 45, BAD_VALUE, "the discharge date/time is before the admit date/time (PV1-44)", header
        )
    at = occurred or recorded
    if trigger == "A01":
        at = admitted or at
    elif trigger == "A03":
        at = discharged or at

    visit = _value(pv1, 19)
    if not visit:
        raise Refusal("AE", "PV1", 19, MISSING, "no visit number: it is what ties a visit's messages together", header)
    patient_class = _value(pv1, 2).upper()
    if not patient_class:
        raise Refusal("AE", "PV1", 2, MISSING, "no patient class (I for an inpatient)", header)
    admission_code = _value(pv1, 4).upper()
    if admission_code not in ADMISSION_TYPES:
        known = ", ".join(c for c in ADMISSION_TYPES if c)
        raise Refusal(
            "AE", "PV1", 4, UNKNOWN_VALUE, f"admission type {admission_code!r} unknown; known: {known}", header
        )
    point_of_care = _value(pv1, 3)
    unit = locations.unit_of(point_of_care) if point_of_care else None
    if point_of_care and unit is None:
        raise Refusal("AE", "PV1", 3, UNKNOWN_VALUE, f"location {point_of_care!r} is not in the locations file", header)
    if unit is None and trigger in ("A01", "A02", "A06"):
        raise Refusal("AE", "PV1", 3, MISSING, "no point of care (PV1-3.1): where does the patient lie?", header)
    prior = _value(pv1, 6)
    event = AdtEvent(
        control_id=header.control_id,
        event=trigger,
        at=at,
        recorded=recorded,
        unit=unit,
        prior_unit=locations.unit_of(prior) if prior else None,
        inpatient=patient_class in inpatient_classes,
        admission_type=ADMISSION_TYPES[admission_code],
        admitted=admitted,
        discharged=discharged,
    )
    authority = _value(pv1, 19, 4)
    return Incoming(header, event, pseudonyms.key(f"{authority}|{visit}"))


def _segment_order(names: list[str], header: Header) -> dict[str, int]:
    """Where EVN, PID and PV1 are: each once, in that order (the ADT message structures all begin so)."""
    found: dict[str, int] = {}
    for name in ("EVN", "PID", "PV1"):
        if name not in names:
            raise Refusal("AE", name, None, SEGMENT_ORDER, f"the message has no {name} segment", header)
        found[name] = names.index(name)
    if not found["EVN"] < found["PID"] < found["PV1"]:
        late = "PID" if found["PID"] < found["EVN"] else "PV1"
        raise Refusal(
            "AE",
            late,
            None,
            SEGMENT_ORDER,
            f"segments out of order: {' '.join(names)} (expected MSH, EVN, PID, PV1)",
            header,
        )
    return found


def _escaped(text: str) -> str:
    """Free text made safe inside a field (no delimiters, no segment ends)."""
    for char in "\\|^~&\r\n":
        text = text.replace(char, " ")
    return text[:400]


def acknowledgment(header: Header, refusal: Refusal | None = None, note: str = "") -> bytes:
    """The ACK to a message: AA, or the refusal's AE/AR with MSA-3 and an ERR segment; in the message's
    character set (ASCII text in practice)."""
    now = dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S")
    trigger = header.trigger.split("^")[1] if "^" in header.trigger else ""
    code = refusal.code if refusal is not None else "AA"
    text = _escaped(refusal.reason if refusal is not None else note)
    msh = [
        "MSH",
        "^~\\&",
        _escaped(header.receiving_application) or "BEDCAST",
        _escaped(header.receiving_facility),
        _escaped(header.sending_application),
        _escaped(header.sending_facility),
        now,
        "",
        f"ACK^{trigger}^ACK" if trigger else "ACK",
        f"ACK{now}{_escaped(header.control_id)[:10]}",
        _escaped(header.processing_id) or "P",
        _escaped(header.version) or "2.5",
    ]
    if header.charset:
        msh += ["", "", "", "", "", _escaped(header.charset)]
    segments = ["|".join(msh), f"MSA|{code}|{_escaped(header.control_id)}|{text}"]
    if refusal is not None:
        location = refusal.segment if refusal.field is None else f"{refusal.segment}^1^{refusal.field}"
        error = f"{refusal.error}^{ERROR_NAMES[refusal.error]}^HL70357"
        segments.append(f"ERR||{location}|{error}|E||||{text}")
    codec = CHARSETS.get(header.charset.upper(), "utf-8")
    return ("\r".join(segments) + "\r").encode(codec, errors="replace")
