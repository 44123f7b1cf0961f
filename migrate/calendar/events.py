"""What the feed says: the registry and the schedule as plain calendar event records.

Pure: registry, facts and today in, records out. The text of an event never mentions the
day it was generated ("N days left from today" would change daily and make every
subscriber's calendar flicker); days are counted from the event itself instead.

An urgent dependency (no window ends by its latest safe date) is due now: no window or
review lists it, and its deadline event says to migrate now.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from migrate.errors import UsageError
from migrate.evals.rundir import runbook_path  # the path `migrate plan` writes
from migrate.registry.load import Registry
from migrate.registry.schema import Dependency
from migrate.schedule.due import (
    DependencyFacts,
    Due,
    Reason,
    default_quarter,
    first_due_windows,
)
from migrate.schedule.quarters import (
    Meeting,
    Quarter,
    Window,
    migration_window,
    review_meeting,
)


class Kind(StrEnum):
    WINDOW = "window"
    REVIEW = "review"
    RETIREMENT = "retirement"


@dataclass(frozen=True)
class Alarm:
    """A DISPLAY reminder, `days_before` days before an all-day event (at ALARM_HOUR)."""

    days_before: int
    description: str


@dataclass(frozen=True)
class Event:
    """One calendar event. A `date` start means all-day with an exclusive `end`; an aware
    `datetime` start means a timed event in time zone `tzid`."""

    uid: str
    kind: Kind
    summary: str
    description: str
    start: dt.date | dt.datetime
    end: dt.date | dt.datetime
    tzid: str | None = None
    alarms: tuple[Alarm, ...] = ()

    @property
    def all_day(self) -> bool:
        return not isinstance(self.start, dt.datetime)

    @property
    def first_day(self) -> dt.date:
        return self.start.date() if isinstance(self.start, dt.datetime) else self.start


@dataclass(frozen=True)
class FeedInfo:
    """The calendar as a whole: its name, the UID domain of its events, its time zone."""

    name: str
    slug: str  # the part of every UID after '@': one per feed (all owners, or one owner)
    timezone: str
    owner: str | None = None

    @property
    def feed_id(self) -> str:
        """Which feed a file holds, recorded in it so a feed never overwrites another."""
        return f"owner:{self.owner}" if self.owner else "all"


@dataclass(frozen=True)
class FeedPlan:
    info: FeedInfo
    quarters: list[Quarter]
    events: list[Event]
    # Events of the previous feed that start before this day and are no longer generated
    # belong to the past (their quarter scrolled out of the horizon): kept, not cancelled.
    history_before: dt.date
    owned_dependencies: int  # dependencies in the feed (all, or the owner's)


def slugify(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug or "migrate"


def _uid_part(text: str) -> str:
    """A model or dependency id as a UID component: readable, no '@' or spaces."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")


def owner_slug(owner: str) -> str:
    local, _, domain = owner.lower().partition("@")
    return f"{_uid_part(local)}-at-{_uid_part(domain)}"


def feed_info(registry: Registry, owner: str | None) -> FeedInfo:
    settings = registry.settings
    slug = slugify(settings.calendar_name)
    name = settings.calendar_name
    if owner is not None:
        slug = f"{slug}.{owner_slug(owner)}"
        name = f"{name} ({owner})"
    return FeedInfo(name=name, slug=slug, timezone=settings.timezone, owner=owner)


def _days(count: int) -> str:
    return f"{count} day" if count == 1 else f"{count} days"


def _relative(day: dt.date, anchor: dt.date, anchor_phrase: str) -> str:
    """`day` relative to an event's own date: '38 days after this window opens'."""
    delta = (day - anchor).days
    if delta == 0:
        return f"the day {anchor_phrase}"
    if delta > 0:
        return f"{_days(delta)} after {anchor_phrase}"
    return f"{_days(-delta)} before {anchor_phrase}"


def _span(window: Window) -> str:
    return f"{window.start} to {window.end} ({_days((window.end - window.start).days + 1)})"


def _status(due: Due) -> str | None:
    if Reason.OVERDUE in due.reasons:
        return "OVERDUE"
    return "URGENT" if due.urgent else None


def _commands(dep_id: str, quarter: Quarter | None, owners: Sequence[str]) -> list[str]:
    """What to run; `quarter` None for an urgent dependency (`migrate plan` files its runbook
    under the current quarter)."""
    by = owners[0] if owners else "EMAIL"
    return [
        f"migrate plan --quarter {quarter}" if quarter else "migrate plan",
        f"migrate run {dep_id}",
        f"migrate signoff {dep_id} --by {by} --decision approve|reject|keep",
    ]


def _window_entry(due: Due, registry: Registry, quarter: Quarter, window: Window) -> list[str]:
    lines = [due.dependency]
    lines.append(f"  Model: {due.model}")
    lines.append(f"  Why: {', '.join(str(r) for r in due.reasons)}")
    opens = "this window opens"
    if due.retires is not None:
        verb = "Retired" if Reason.OVERDUE in due.reasons else "Retires"
        lines.append(f"  {verb}: {due.retires}, {_relative(due.retires, window.start, opens)}")
    if due.deadline is not None:
        lines.append(
            f"  Latest safe date: {due.deadline}, {_relative(due.deadline, window.start, opens)}"
        )
    replacement = registry.model(due.model).replacement
    if replacement:
        lines.append(f"  Replacement: {replacement}")
    lines.append(f"  Owners: {', '.join(due.owners)}")
    lines.append(f"  Runbook: {runbook_path(quarter, due.dependency)}")
    lines.append(f"  Run: migrate run {due.dependency}")
    return lines


def _window_event(
    info: FeedInfo, registry: Registry, quarter: Quarter, due: list[Due], meeting: Meeting
) -> Event:
    window = migration_window(quarter, registry.settings.window)
    counted = f"{len(due)} due" if due else "nothing due yet"
    lines = [
        f"Migration window {quarter}: {_span(window)}.",
        "Re-baseline each dependency below against its current model, evaluate the "
        "candidates, then migrate or consciously keep it, with a recorded sign-off.",
        "",
    ]
    whose = f" for {info.owner}" if info.owner else ""
    if due:
        lines.append(f"Due in this window{whose}: {len(due)}.")
        for entry in due:
            lines.append("")
            lines.extend(_window_entry(entry, registry, quarter, window))
    else:
        lines.append(f"Nothing is due in this window{whose} yet.")
    lines += [
        "",
        f"Plan and write the runbooks: migrate plan --quarter {quarter}",
        f"Review meeting: {meeting.start:%Y-%m-%d %H:%M} ({info.timezone})",
    ]
    return Event(
        uid=f"{Kind.WINDOW}-{quarter}@{info.slug}",
        kind=Kind.WINDOW,
        summary=f"Migration window {quarter} ({counted})",
        description="\n".join(lines),
        start=window.start,
        end=window.end_exclusive,
    )


def _review_event(
    info: FeedInfo, registry: Registry, quarter: Quarter, due: list[Due], meeting: Meeting
) -> Event:
    window = migration_window(quarter, registry.settings.window)
    whose = f" for {info.owner}" if info.owner else ""
    lines = [f"Quarterly review of the {quarter} migration window, {window.start} to {window.end}."]
    if due:
        lines.append(f"Due in the window{whose}: {', '.join(d.dependency for d in due)}.")
    else:
        lines.append(f"Nothing is due in the window{whose} yet.")
    lines += [
        "",
        f"Before the meeting: migrate status, and migrate plan --quarter {quarter}",
        "Decide per dependency: migrate, keep the current model, or escalate; record it "
        "with migrate signoff.",
    ]
    return Event(
        uid=f"{Kind.REVIEW}-{quarter}@{info.slug}",
        kind=Kind.REVIEW,
        summary=f"Model migration review {quarter}",
        description="\n".join(lines),
        start=meeting.start,
        end=meeting.end,
        tzid=info.timezone,
    )


def _alarm_text(
    dep_id: str, model: str, retires: dt.date, days_before: int, margin: int, deadline: dt.date
) -> str:
    if days_before == 0:
        when = "retires today"
    elif days_before == 1:
        when = "retires tomorrow"
    else:
        when = f"retires in {days_before} days"
    to_deadline = days_before - margin
    if to_deadline > 0:
        safe = f"The latest safe date, {deadline}, is in {_days(to_deadline)}."
    elif to_deadline == 0:
        safe = "Today is the latest safe date to finish migrating."
    else:
        safe = f"The latest safe date, {deadline}, passed {_days(-to_deadline)} ago."
    return f"{model} {when} ({retires}); {dep_id} calls it. {safe} Run: migrate run {dep_id}"


def _retirement_event(
    info: FeedInfo,
    registry: Registry,
    dep_id: str,
    dep: Dependency,
    retires: dt.date,
    quarter: Quarter,
    due: Due | None,
) -> Event:
    """The deadline event; `quarter` is the one its runbook is filed under."""
    settings = registry.settings
    model = registry.model(dep.model)
    margin = settings.safety_margin_days
    deadline = retires - dt.timedelta(days=margin)
    this = "this deadline"
    lines = [
        f"{dep.model} retires on {retires}: from that day the provider stops answering it.",
        f"{dep_id} calls it" + (f": {dep.description}" if dep.description else "."),
        "",
        f"Latest safe date: {deadline}, {_relative(deadline, retires, this)} "
        f"(finish migrating by then; safety margin {_days(margin)}).",
    ]
    if model.replacement:
        lines.append(f"Replacement: {model.replacement}")
    if dep.candidates:
        lines.append(f"Candidates: {', '.join(dep.candidates)}")
    urgent = due is not None and due.urgent
    if due is not None and due.window is not None:
        window = due.window
        lines.append(
            f"Due in migration window {window.quarter} ({window.start} to {window.end}), which "
            f"opens {_relative(window.start, retires, this)}."
        )
    elif urgent:
        lines.append(
            "Urgent: no migration window ends by the latest safe date: migrate now, do not "
            "wait for a window or a review."
        )
    if due is not None:
        lines.append(f"Why: {', '.join(str(r) for r in due.reasons)}")
    lines += [
        f"Owners: {', '.join(dep.owners)}",
        f"Runbook: {runbook_path(quarter, dep_id)}",
        "Commands:",
        *(f"  {c}" for c in _commands(dep_id, None if urgent else quarter, dep.owners)),
    ]
    if model.source:
        lines.append(f"Notice: {model.source}")
    alarms = tuple(
        Alarm(days, _alarm_text(dep_id, dep.model, retires, days, margin, deadline))
        for days in settings.reminders_days
    )
    return Event(
        uid=f"{Kind.RETIREMENT}-{_uid_part(dep_id)}-{_uid_part(dep.model)}@{info.slug}",
        kind=Kind.RETIREMENT,
        summary=f"{dep_id}: {dep.model} retires"
        + (f" ({_status(due)}: migrate now)" if due is not None and due.urgent else ""),
        description="\n".join(lines),
        start=retires,
        end=retires + dt.timedelta(days=1),
        alarms=alarms,
    )


def owns(dep: Dependency, owner: str) -> bool:
    return owner.lower() in (o.lower() for o in dep.owners)


def feed_events(
    registry: Registry,
    facts: Mapping[str, DependencyFacts],
    today: dt.date,
    *,
    quarters: int = 4,
    owner: str | None = None,
) -> FeedPlan:
    """Every event of the feed: a window and a review per quarter of the horizon (which
    starts with the quarter of the next migration window), and a deadline per dependency
    whose model has a retirement date. With `owner`, only that owner's dependencies."""
    owner = owner.lower() if owner else None
    info = feed_info(registry, owner)
    settings = registry.settings
    first = default_quarter(today, registry)
    horizon = [first.shift(i) for i in range(quarters)]
    dependencies = {
        dep_id: dep
        for dep_id, dep in registry.dependencies.items()
        if owner is None or owns(dep, owner)
    }
    placed = first_due_windows(registry, facts, today, horizon)
    events: list[Event] = []
    due_in: dict[str, tuple[Quarter, Due]] = {}
    now = Quarter.containing(today)  # an urgent dependency's runbook is filed under it
    for quarter in horizon:
        due = []
        for entry in placed.get(quarter, []):
            if entry.dependency in dependencies:
                due_in[entry.dependency] = (now if entry.urgent else quarter, entry)
                if not entry.urgent:  # due now: in no window
                    due.append(entry)
        meeting = review_meeting(quarter, settings.review, settings.tz)
        events.append(_window_event(info, registry, quarter, due, meeting))
        events.append(_review_event(info, registry, quarter, due, meeting))
    deadline_of: dict[str, str] = {}
    for dep_id, dep in dependencies.items():
        retires = registry.model(dep.model).retires
        if retires is None:
            continue
        placement = due_in.get(dep_id)
        quarter = placement[0] if placement else first
        planned = placement[1] if placement else None
        event = _retirement_event(info, registry, dep_id, dep, retires, quarter, planned)
        other = deadline_of.setdefault(event.uid, dep_id)
        if other != dep_id:  # 'a-b' on 'c/d' and 'a' on 'b-c/d': contrived, but possible
            raise UsageError(
                f"dependencies '{other}' and '{dep_id}' would share the calendar UID "
                f"{event.uid}; rename one of them"
            )
        events.append(event)
    return FeedPlan(
        info=info,
        quarters=horizon,
        events=events,
        history_before=min(today, first.first_day),
        owned_dependencies=len(dependencies),
    )
