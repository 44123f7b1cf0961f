"""Render the ICS feed, with the previous feed as the state. Pure: no clock, no file access.

Subscribers' calendars update in place only when each event keeps its UID and its
SEQUENCE goes up exactly when its content changes. The previous feed carries, per event,
a hash of its content (X-MIGRATE-HASH), its SEQUENCE and its DTSTAMP
(`migrate.calendar.previous` reads them back):

- unchanged content: the event is rendered with its previous SEQUENCE and DTSTAMP, so
  an unchanged registry gives a byte-identical file;
- changed content (or an event coming back after a cancellation): SEQUENCE + 1;
- an event no longer generated is published once with STATUS:CANCELLED, then dropped;
- an event of the past (it starts before `history_before`: its quarter scrolled out of
  the horizon) is carried over as it was while it ended less than a year ago.

Escaping, folding and reading content lines is `migrate.calendar.ics`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from migrate.calendar.events import Event, FeedInfo, owner_slug
from migrate.calendar.ics import (
    escape_text,
    format_duration,
    format_utc,
    moment_line,
    parse_line,
    serialize,
    vtimezones,
)
from migrate.calendar.previous import (
    FEED_PROPERTY,
    HASH_PROPERTY,
    PRODID,
    PreviousEvent,
    PreviousFeedError,
    parse_previous,
)

ALARM_HOUR = 9  # reminders fire at 09:00 (the subscriber's local time) on their day
HISTORY_DAYS = 365  # past events stay in the feed this long after they end
# Part of every content hash: bump it when the rendering of an event changes, so that
# subscribers receive the new rendering as an update (SEQUENCE + 1).
RENDERING = 1
DEFAULT_FEED = "calendar.ics"


class Change(StrEnum):
    ADDED = "added"
    CHANGED = "changed"
    UNCHANGED = "unchanged"
    CANCELLED = "cancelled"  # published once as STATUS:CANCELLED
    CARRIED_OVER = "carried_over"  # a past event kept as it was
    DROPPED = "dropped"  # cancelled last time, or too old: left out


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


def default_feed_path(root: Path, owner: str | None) -> Path:
    """calendar.ics beside the registry; one file per owner, so that an owner's feed never
    replaces the team's (each file is the state of its own feed)."""
    if owner is None:
        return root / DEFAULT_FEED
    return root / f"calendar-{owner_slug(owner)}.ics"


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


def _event_lines(event: Event, *, sequence: int, dtstamp: dt.datetime, digest: str) -> list[str]:
    lines = [
        "BEGIN:VEVENT",
        f"UID:{escape_text(event.uid)}",
        f"DTSTAMP:{format_utc(dtstamp)}",
        moment_line("DTSTART", event.start, event.tzid),
        moment_line("DTEND", event.end, event.tzid),
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
            f"TRIGGER:{format_duration(trigger)}",
            f"DESCRIPTION:{escape_text(alarm.description)}",
            "END:VALARM",
        ]
    lines.append("END:VEVENT")
    return lines


def _calendar_head(info: FeedInfo) -> list[str]:
    return [
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


def _later(stamp: dt.datetime, previous: dt.datetime | None) -> dt.datetime:
    """DTSTAMP never goes backwards, even when a change comes from history rather than
    the registry (a new run) and the registry's stamp is older than the event's."""
    return stamp if previous is None else max(stamp, previous)


def _cancelled(previous: PreviousEvent, dtstamp: dt.datetime) -> list[str]:
    """The previous event as published once more, cancelled, without its reminders."""
    replaced = {
        "DTSTAMP": f"DTSTAMP:{format_utc(dtstamp)}",
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
    zone_cache: Path | None = None,
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

    body = vtimezones(zones, zone_cache)
    for _, _, lines in sorted(blocks, key=lambda block: (block[0], block[1])):
        body.extend(lines)
    return Feed(data=serialize([*_calendar_head(info), *body, "END:VCALENDAR"]), changes=changes)
