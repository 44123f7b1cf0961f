"""RFC 5545 text: content lines written (escaped, folded at 75 octets) and read back.

Content lines are written and read here rather than through icalendar's component
model, which costs about a millisecond per event each way (seconds for a registry of a
thousand dependencies); icalendar still builds the VTIMEZONEs from the tz database.
Nothing here knows what the feed holds: that is `migrate.calendar.feed`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

from migrate.files import write_atomic

LINE_OCTETS = 75  # RFC 5545 3.1: content lines are folded at 75 octets

_CONTENT_LINE = re.compile(
    r'([A-Za-z0-9-]+)((?:;[A-Za-z0-9-]+=(?:"[^"]*"|[^";:,]*)(?:,(?:"[^"]*"|[^";:,]*))*)*):(.*)',
    re.DOTALL,
)
_PARAMETER = re.compile(r';([A-Za-z0-9-]+)=("[^"]*"|[^";:]*)')
_DATE = re.compile(r"(\d{4})(\d{2})(\d{2})")
_STAMP = re.compile(r"(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z")
_UNFOLD = re.compile(r"\r?\n[ \t]")


# -- writing ---------------------------------------------------------------------------


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


def serialize(lines: Iterable[str]) -> bytes:
    """Unfolded content lines as the bytes of an ICS file: folded, CRLF-terminated, UTF-8."""
    return "".join(fold(line) + "\r\n" for line in lines).encode("utf-8")


def format_utc(when: dt.datetime) -> str:
    """A DATE-TIME in UTC (RFC 5545 3.3.5, form #2)."""
    return f"{when.astimezone(dt.UTC):%Y%m%dT%H%M%S}Z"


def format_duration(delta: dt.timedelta) -> str:
    """A DURATION value (RFC 5545 3.3.6), such as -P59DT15H."""
    seconds = int(delta.total_seconds())
    sign = "-" if seconds < 0 else ""
    days, rest = divmod(abs(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    time = "".join(f"{n}{unit}" for n, unit in ((hours, "H"), (minutes, "M"), (seconds, "S")) if n)
    text = (f"{days}D" if days else "") + (f"T{time}" if time else "")
    return f"{sign}P{text or 'T0S'}"


def moment_line(name: str, value: dt.date | dt.datetime, tzid: str | None) -> str:
    """A DTSTART/DTEND line: a DATE, a DATE-TIME in `tzid`, or one in UTC without it."""
    if isinstance(value, dt.datetime):
        if tzid is None:
            return f"{name}:{format_utc(value)}"
        return f"{name};TZID={_parameter(tzid)}:{value:%Y%m%dT%H%M%S}"
    return f"{name};VALUE=DATE:{value:%Y%m%d}"


def vtimezones(zones: dict[str, list[dt.date]], cache_dir: Path | None = None) -> list[str]:
    """A VTIMEZONE for every TZID, covering whole years, so that it changes only when the
    events move into another year, not with every regeneration. icalendar builds it from
    the tz database (90 ms with its import, a fifth of `migrate calendar`), so the lines are
    kept in `cache_dir` as JSON, keyed by the zone's rules and icalendar's version."""
    lines: list[str] = []
    for tzid, days in sorted(zones.items()):
        first = dt.date(min(days).year, 1, 1)
        last = dt.date(max(days).year + 1, 1, 1)
        lines.extend(_vtimezone(tzid, first, last, cache_dir))
    return lines


def _vtimezone(tzid: str, first: dt.date, last: dt.date, cache_dir: Path | None) -> list[str]:
    key = _zone_key(tzid, first, last) if cache_dir is not None else None
    entry = cache_dir / f"{key}.json" if cache_dir is not None and key is not None else None
    if entry is not None:
        try:
            kept = json.loads(entry.read_text(encoding="utf-8"))
            if kept["key"] == key and all(isinstance(line, str) for line in kept["lines"]):
                return list(kept["lines"])
        except (OSError, ValueError, KeyError, TypeError):
            pass  # missing or unreadable: built again and replaced
    import icalendar

    component = icalendar.Timezone.from_tzid(tzid, first_date=first, last_date=last)
    lines = unfold(component.to_ical().decode("utf-8"))
    if entry is not None:
        try:
            write_atomic(entry, json.dumps({"key": key, "lines": lines}))
        except OSError:
            pass  # a cache that cannot be written only costs the next command the time
    return lines


def _zone_key(tzid: str, first: dt.date, last: dt.date) -> str | None:
    """What a VTIMEZONE depends on: the zone's compiled rules (the TZif file icalendar reads
    through zoneinfo) and icalendar's version; None when the rules are not found as a file."""
    import zoneinfo
    from importlib.metadata import version

    if not re.fullmatch(r"[A-Za-z0-9_+\-]+(/[A-Za-z0-9_+\-]+)*", tzid):
        return None
    rules = next(
        (Path(root) / tzid for root in zoneinfo.TZPATH if (Path(root) / tzid).is_file()), None
    )
    if rules is None:
        return None
    digest = hashlib.sha256(rules.read_bytes())
    digest.update(f"|{tzid}|{first}|{last}|icalendar {version('icalendar')}".encode())
    return digest.hexdigest()[:40]


# -- reading ---------------------------------------------------------------------------


class Property(NamedTuple):
    name: str  # upper case
    parameters: dict[str, str]
    value: str  # as written (escaped)


def unfold(text: str) -> list[str]:
    """The content lines of an ICS text, continuation lines joined; blank lines dropped."""
    return [line for line in _UNFOLD.sub("", text).splitlines() if line]


def parse_line(line: str) -> Property | None:
    """One unfolded content line; None when it is not one."""
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


def parse_day(value: str) -> dt.date | None:
    """The day of a DATE or DATE-TIME value; None when it has none."""
    match = _DATE.match(value)
    if match is None:
        return None
    try:
        return dt.date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return None


def parse_utc(value: str) -> dt.datetime | None:
    """A DATE-TIME in UTC (such as a DTSTAMP); None when it is not one."""
    match = _STAMP.fullmatch(value)
    if match is None:
        return None
    try:
        year, month, day, hour, minute, second = (int(g) for g in match.groups())
        return dt.datetime(year, month, day, hour, minute, second, tzinfo=dt.UTC)
    except ValueError:
        return None
