"""The previous feed, read back as the state of the next one. Pure: bytes in.

The output file of `migrate calendar` is the only state a feed has: per event, its
SEQUENCE, its DTSTAMP and a hash of its content (X-MIGRATE-HASH). A file that is not a
calendar migrate wrote (another PRODID, a feed of another owner) is refused, never
replaced.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from migrate.calendar.ics import Property, parse_day, parse_line, parse_utc, unescape_text, unfold

PRODID = "-//migrate//LLM model migration feed//EN"
HASH_PROPERTY = "X-MIGRATE-HASH"  # on every event: the hash of its content
FEED_PROPERTY = "X-MIGRATE-FEED"  # on the calendar: whose feed it is ("all", "owner:...")


class PreviousFeedError(ValueError):
    """The file that holds the previous feed is not one this feed may replace."""


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
    first_day = parse_day(start.value) if start else None
    if not uid or first_day is None:
        what = f"event '{uid}'" if uid else "an event"
        raise PreviousFeedError(
            f"it is not a valid ICS calendar ({what} has no UID or no valid DTSTART)"
        )
    end = fields.get("DTEND")
    end_day = (parse_day(end.value) if end else None) or first_day + dt.timedelta(days=1)
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
        dtstamp=parse_utc(stamp.value) if stamp else None,
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
    lines = unfold(text.lstrip("\ufeff"))
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
