"""Render the ICS feed, with the previous feed as the state. Pure: no clock, no files.

Subscribers' calendars update in place only when each event keeps its UID and its
SEQUENCE goes up exactly when its content changes. The previous feed carries, per event,
a hash of its content (X-MIGRATE-HASH), its SEQUENCE and its DTSTAMP:

- unchanged content: the event is rendered with its previous SEQUENCE and DTSTAMP, so
  an unchanged registry gives a byte-identical file;
- changed content (or an event coming back after a cancellation): SEQUENCE + 1;
- an event no longer generated is published once with STATUS:CANCELLED, then dropped;
- an event of the past (it starts before `history_before`: its quarter scrolled out of
  the horizon) is carried over as it was while it ended less than a year ago.

Content lines are written and read here rather than through icalendar's component
model, which costs about a millisecond per event each way (seconds for a registry of a
thousand dependencies); icalendar still builds the VTIMEZONEs from the tz database.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple

from migrate.calendar.events import Event, FeedInfo

PRODID = "-//migrate//LLM model migration feed//EN"
HASH_PROPERTY = "X-MIGRATE-HASH"
FEED_PROPERTY = "X-MIGRATE-FEED"
ALARM_HOUR = 9  # reminders fire at 09:00 (the subscriber's local time) on their day
HISTORY_DAYS = 365  # past events stay in the feed this long after they end
LINE_OCTETS = 75  # RFC 5545 3.1: content lines are folded at 75 octets
# Part of every content hash: bump it when the rendering of an event changes, so that
# subscribers receive the new rendering as an update (SEQUENCE + 1).
RENDERING = 1

_CONTENT_LINE = re.compile(
    r'([A-Za-z0-9-]+)((?:;[A-Za-z0-9-]+=(?:"[^"]*"|[^";:,]*)(?:,(?:"[^"]*"|[^";:,]*))*)*):(.*)',
    re.DOTALL,
)
_PARAMETER = re.compile(r';([A-Za-z0-9-]+)=("[^"]*"|[^";:]*)')
_DATE = re.compile(r"(\d{4})(\d{2})(\d{2})")
_STAMP = re.compile(r"(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z")
_UNFOLD = re.compile(r"\r?\n[ \t]")


class PreviousFeedError(ValueError):
    """The file that holds the previous feed is not one this feed may replace."""


class Change(StrEnum):
    ADDED = "added"
    CHANGED = "changed"
    UNCHANGED = "unchanged"
    CANCELLED = "cancelled"  # published once as STATUS:CANCELLED
    CARRIED_OVER = "carried_over"  # a past event kept as it was
    DROPPED = "dropped"  # cancelled last time, or too old: left out


# -- writing content lines -------------------------------------------------------------


def escape_text(text: str) -> str:
    """A TEXT value (RFC 5545 3.3.11): backslash, ';' and ',' escaped, newlines as \\n."""
    return (
        text.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
        .replace("\r", "\\n")
    )


def _parameter(value: str) -> str:
    return f'"{value}"' if any(c in value for c in ":;,") else value


def fold(line: str) -> str:
    """Fold a content line into pieces of at most 75 octets (continuations start with a
    space), never inside a UTF-8 sequence nor right after a backslash, which some clients
    mis-read."""
    if line.isascii():
        if len(line) <= LINE_OCTETS:
            return line
        raw = line.encode("ascii")
    else:
        raw = line.encode("utf-8")
        if len(raw) <= LINE_OCTETS:
            return line
    pieces: list[bytes] = []
    start, room = 0, LINE_OCTETS
    while len(raw) - start > room:
        cut = start + room
        while raw[cut] & 0xC0 == 0x80:  # a UTF-8 continuation byte: cut before its lead
            cut -= 1
        back = cut
        while back > start + 1 and raw[back - 1] == 0x5C:  # keep "\x" escapes whole
            back -= 1
        if back > start + 1:
            cut = back
        pieces.append(raw[start:cut])
        start, room = cut, LINE_OCTETS - 1
    pieces.append(raw[start:])
    return "\r\n ".join(piece.decode("utf-8") for piece in pieces)


def _date(day: dt.date) -> str:
    return f"{day:%Y%m%d}"


def _utc(moment: dt.datetime) -> str:
    return f"{moment.astimezone(dt.UTC):%Y%m%dT%H%M%S}Z"


def _duration(delta: dt.timedelta) -> str:
    seconds = int(delta.total_seconds())
    sign = "-" if seconds < 0 else ""
    days, rest = divmod(abs(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    time = "".join(f"{n}{unit}" for n, unit in ((hours, "H"), (minutes, "M"), (seconds, "S")) if n)
    text = (f"{days}D" if days else "") + (f"T{time}" if time else "")
    return f"{sign}P{text or 'T0S'}"


def _moment(name: str, value: dt.date | dt.datetime, tzid: str | None) -> str:
    if isinstance(value, dt.datetime):
        if tzid is None:
            return f"{name}:{_utc(value)}"
        return f"{name};TZID={_parameter(tzid)}:{value:%Y%m%dT%H%M%S}"
    return f"{name};VALUE=DATE:{_date(value)}"


def _event_lines(event: Event, *, sequence: int, dtstamp: dt.datetime, digest: str) -> list[str]:
    lines = [
        "BEGIN:VEVENT",
        f"UID:{escape_text(event.uid)}",
        f"DTSTAMP:{_utc(dtstamp)}",
        _moment("DTSTART", event.start, event.tzid),
        _moment("DTEND", event.end, event.tzid),
        f"SUMMARY:{escape_text(event.summary)}",
        f"DESCRIPTION:{escape_text(event.description)}",
        f"SEQUENCE:{sequence}",
        "STATUS:CONFIRMED",
        f"TRANSP:{'TRANSPARENT' if event.all_day else 'OPAQUE'}",
        f"{HASH_PROPERTY}:{digest}",
    ]
    for alarm in event.alarms:
        trigger = dt.timedelta(days=-alarm.days_before, hours=ALARM_HOUR)
        lines += [
            "BEGIN:VALARM",
            "ACTION:DISPLAY",
            f"TRIGGER:{_duration(trigger)}",
            f"DESCRIPTION:{escape_text(alarm.description)}",
            "END:VALARM",
        ]
    lines.append("END:VEVENT")
    return lines


def content_hash(event: Event) -> str:
    """A digest of everything an event shows; SEQUENCE goes up when it changes."""
    record: dict[str, Any] = {
        "rendering": RENDERING,
        "uid": event.uid,
        "kind": str(event.kind),
        "summary": event.summary,
        "description": event.description,
        "start": event.start.isoformat(),
        "end": event.end.isoformat(),
        "tzid": event.tzid,
        "alarms": [[a.days_before, a.description] for a in event.alarms],
    }
    canonical = json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]


# -- reading the previous feed ---------------------------------------------------------


class Property(NamedTuple):
    name: str  # upper case
    parameters: dict[str, str]
    value: str  # as written (escaped)


def parse_line(line: str) -> Property | None:
    match = _CONTENT_LINE.fullmatch(line)
    if match is None:
        return None
    name, raw_parameters, value = match.groups()
    parameters = (
        {key.upper(): text.strip('"') for key, text in _PARAMETER.findall(raw_parameters)}
        if raw_parameters
        else {}
    )
    return Property(name.upper(), parameters, value)


def unescape_text(value: str) -> str:
    return re.sub(r"\\([\\;,nN])", lambda m: "\n" if m.group(1) in "nN" else m.group(1), value)


@dataclass(frozen=True)
class PreviousEvent:
    uid: str
    lines: list[str]  # unfolded, BEGIN:VEVENT to END:VEVENT, alarms included
    digest: str | None
    sequence: int
    dtstamp: dt.datetime | None
    cancelled: bool
    first_day: dt.date
    end_day: dt.date  # exclusive
    zones: dict[str, list[dt.date]]  # TZID -> days it is used on


@dataclass(frozen=True)
class PreviousFeed:
    feed_id: str | None
    events: dict[str, PreviousEvent]


def _parse_day(value: str) -> dt.date | None:
    match = _DATE.match(value)
    if match is None:
        return None
    try:
        return dt.date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return None


def _parse_stamp(value: str) -> dt.datetime | None:
    match = _STAMP.fullmatch(value)
    if match is None:
        return None
    try:
        year, month, day, hour, minute, second = (int(g) for g in match.groups())
        return dt.datetime(year, month, day, hour, minute, second, tzinfo=dt.UTC)
    except ValueError:
        return None


def _previous_event(lines: list[str], props: list[Property]) -> PreviousEvent:
    fields: dict[str, Property] = {}
    depth = 0
    for prop in props[1:-1]:
        if prop.name == "BEGIN":
            depth += 1
        elif prop.name == "END":
            depth -= 1
        elif depth == 0:
            fields.setdefault(prop.name, prop)
    uid = unescape_text(fields["UID"].value) if "UID" in fields else ""
    start = fields.get("DTSTART")
    first_day = _parse_day(start.value) if start else None
    if not uid or first_day is None:
        what = f"event '{uid}'" if uid else "an event"
        raise PreviousFeedError(
            f"it is not a valid ICS calendar ({what} has no UID or no valid DTSTART)"
        )
    end = fields.get("DTEND")
    end_day = (_parse_day(end.value) if end else None) or first_day + dt.timedelta(days=1)
    zones: dict[str, list[dt.date]] = {}
    moments: list[tuple[Property | None, dt.date]] = [(start, first_day), (end, end_day)]
    for moment, day in moments:
        if moment is not None and "TZID" in moment.parameters:
            zones.setdefault(moment.parameters["TZID"], []).append(day)
    sequence = fields.get("SEQUENCE")
    digest = fields.get(HASH_PROPERTY)
    stamp = fields.get("DTSTAMP")
    status = fields.get("STATUS")
    return PreviousEvent(
        uid=uid,
        lines=lines,
        digest=digest.value if digest else None,
        sequence=int(sequence.value) if sequence and sequence.value.isdigit() else 0,
        dtstamp=_parse_stamp(stamp.value) if stamp else None,
        cancelled=status is not None and status.value.upper() == "CANCELLED",
        first_day=first_day,
        end_day=end_day,
        zones=zones,
    )


def parse_previous(data: bytes) -> PreviousFeed | None:
    """The state kept in the previous feed; None for an empty file.

    Raises PreviousFeedError when the file is not an ICS calendar written by migrate.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise PreviousFeedError("it is not an ICS calendar (not UTF-8 text)") from None
    if not text.strip():
        return None
    lines = [line for line in _UNFOLD.sub("", text.lstrip("\ufeff")).splitlines() if line]
    if not lines or lines[0].upper() != "BEGIN:VCALENDAR":
        raise PreviousFeedError(
            "it is not an ICS calendar (it does not begin with BEGIN:VCALENDAR)"
        )
    stack: list[str] = []
    calendar: dict[str, str] = {}
    events: dict[str, PreviousEvent] = {}
    current: list[str] | None = None
    current_props: list[Property] = []
    for number, line in enumerate(lines, start=1):
        prop = parse_line(line)
        if prop is None:
            raise PreviousFeedError(
                f"it is not a valid ICS calendar (line {number} of the "
                f"unfolded text is not a content line: {line[:40]!r})"
            )
        if prop.name == "BEGIN":
            stack.append(prop.value.upper())
            if stack == ["VCALENDAR", "VEVENT"]:
                current, current_props = [], []
        elif prop.name == "END":
            if not stack or stack[-1] != prop.value.upper():
                raise PreviousFeedError(
                    f"it is not a valid ICS calendar (unbalanced "
                    f"END:{prop.value} on unfolded line {number})"
                )
            if current is not None:
                current.append(line)
                current_props.append(prop)
            if stack == ["VCALENDAR", "VEVENT"] and current is not None:
                event = _previous_event(current, current_props)
                events.setdefault(event.uid, event)
                current = None
            stack.pop()
            if not stack and number != len(lines):
                raise PreviousFeedError("it is not a valid ICS calendar (text after END:VCALENDAR)")
            continue
        elif stack == ["VCALENDAR"]:
            calendar.setdefault(prop.name, prop.value)
        if current is not None:
            current.append(line)
            current_props.append(prop)
    if stack:
        raise PreviousFeedError(
            "it is not a valid ICS calendar (it is cut short: no END:VCALENDAR)"
        )
    prodid = calendar.get("PRODID")
    if prodid != PRODID:
        raise PreviousFeedError(
            f"it is a calendar that migrate did not write (PRODID {prodid or 'missing'})"
        )
    return PreviousFeed(feed_id=calendar.get(FEED_PROPERTY), events=events)


# -- the feed ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Feed:
    data: bytes
    changes: dict[str, Change] = field(default_factory=dict)  # by UID, dropped ones too

    def count(self, change: Change) -> int:
        return sum(1 for c in self.changes.values() if c is change)

    @property
    def published(self) -> int:
        """Events in the file."""
        return sum(1 for c in self.changes.values() if c is not Change.DROPPED)


def _later(stamp: dt.datetime, previous: dt.datetime | None) -> dt.datetime:
    """DTSTAMP never goes backwards, even when a change comes from history rather than
    the registry (a new run) and the registry's stamp is older than the event's."""
    return stamp if previous is None else max(stamp, previous)


def _cancelled(previous: PreviousEvent, dtstamp: dt.datetime) -> list[str]:
    """The previous event as published once more, cancelled, without its reminders."""
    replaced = {
        "DTSTAMP": f"DTSTAMP:{_utc(dtstamp)}",
        "SEQUENCE": f"SEQUENCE:{previous.sequence + 1}",
        "STATUS": "STATUS:CANCELLED",
    }
    lines: list[str] = []
    depth = 0
    for line in previous.lines[:-1]:
        prop = parse_line(line)
        assert prop is not None
        if prop.name == "BEGIN":
            depth += 1
        if depth == 1 and prop.name in replaced:
            lines.append(replaced.pop(prop.name))
        elif depth == 1:
            lines.append(line)
        if prop.name == "END":
            depth -= 1
    lines.extend(replaced.values())
    lines.append("END:VEVENT")
    return lines


def _timezones(zones: dict[str, list[dt.date]]) -> list[str]:
    """A VTIMEZONE for every TZID, covering whole years, so that it changes only when the
    events move into another year, not with every regeneration."""
    import icalendar

    lines: list[str] = []
    for tzid, days in sorted(zones.items()):
        first = dt.date(min(days).year, 1, 1)
        last = dt.date(max(days).year + 1, 1, 1)
        component = icalendar.Timezone.from_tzid(tzid, first_date=first, last_date=last)
        text = _UNFOLD.sub("", component.to_ical().decode("utf-8"))
        lines.extend(line for line in text.splitlines() if line)
    return lines


def _add_zones(zones: dict[str, list[dt.date]], more: dict[str, list[dt.date]]) -> None:
    for tzid, days in more.items():
        zones.setdefault(tzid, []).extend(days)


def render_feed(
    events: Sequence[Event],
    previous: bytes | None,
    *,
    info: FeedInfo,
    stamp: dt.datetime,
    today: dt.date,
    history_before: dt.date,
) -> Feed:
    """The feed's bytes, given the events and the previous feed (None: first feed).

    `stamp` (aware) is the DTSTAMP of new and changed events: when the registry last
    changed. Raises PreviousFeedError when `previous` is not a feed this one may replace.
    """
    stamp = stamp.astimezone(dt.UTC).replace(microsecond=0)
    state = parse_previous(previous) if previous is not None else None
    if state is not None and state.feed_id is not None and state.feed_id != info.feed_id:
        held = "all owners" if state.feed_id == "all" else state.feed_id.removeprefix("owner:")
        wanted = "all owners" if info.owner is None else info.owner
        raise PreviousFeedError(f"it holds the feed of {held}, not of {wanted}")
    old = state.events if state is not None else {}
    changes: dict[str, Change] = {}
    blocks: list[tuple[dt.date, str, list[str]]] = []
    zones: dict[str, list[dt.date]] = {}
    for event in events:
        if event.uid in changes:
            raise ValueError(f"two events share the UID {event.uid}")
        digest = content_hash(event)
        before = old.get(event.uid)
        if before is None:
            change, sequence, dtstamp = Change.ADDED, 0, stamp
        elif before.digest == digest and not before.cancelled and before.dtstamp is not None:
            change, sequence, dtstamp = Change.UNCHANGED, before.sequence, before.dtstamp
        else:
            change, sequence = Change.CHANGED, before.sequence + 1
            dtstamp = _later(stamp, before.dtstamp)
        changes[event.uid] = change
        lines = _event_lines(event, sequence=sequence, dtstamp=dtstamp, digest=digest)
        blocks.append((event.first_day, event.uid, lines))
        if event.tzid is not None:
            last = event.end.date() if isinstance(event.end, dt.datetime) else event.end
            _add_zones(zones, {event.tzid: [event.first_day, last]})
    for uid, before in old.items():
        if uid in changes:
            continue
        if before.cancelled or (
            before.first_day < history_before and (today - before.end_day).days >= HISTORY_DAYS
        ):
            changes[uid] = Change.DROPPED  # published once as cancelled, or long past
            continue
        if before.first_day < history_before:
            changes[uid] = Change.CARRIED_OVER
            lines = before.lines
        else:
            changes[uid] = Change.CANCELLED
            lines = _cancelled(before, _later(stamp, before.dtstamp))
        blocks.append((before.first_day, uid, lines))
        _add_zones(zones, before.zones)

    head = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"NAME:{escape_text(info.name)}",
        f"X-WR-CALNAME:{escape_text(info.name)}",
        f"X-WR-TIMEZONE:{escape_text(info.timezone)}",
        f"X-WR-RELCALID:{escape_text(info.slug)}",
        "REFRESH-INTERVAL;VALUE=DURATION:P1D",
        "X-PUBLISHED-TTL:P1D",
        f"{FEED_PROPERTY}:{escape_text(info.feed_id)}",
    ]
    body = _timezones(zones)
    for _, _, lines in sorted(blocks, key=lambda block: (block[0], block[1])):
        body.extend(lines)
    return Feed(data=_serialize([*head, *body, "END:VCALENDAR"]), changes=changes)


def _serialize(lines: Iterable[str]) -> bytes:
    return "".join(fold(line) + "\r\n" for line in lines).encode("utf-8")
