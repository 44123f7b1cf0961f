"""`migrate calendar`: write the ICS feed; the previous feed in the output file is the state.

The effects live here: the workspace and its history, the registry's last change (the
DTSTAMP of new and changed events), reading the previous feed and writing the new one
atomically. Events and rendering are pure (migrate.calendar).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from migrate.calendar.events import feed_events
from migrate.calendar.feed import Change, default_feed_path, render_feed
from migrate.calendar.previous import PreviousFeedError
from migrate.console import plural, print_json, say, warn
from migrate.errors import ExitCode, UsageError
from migrate.files import write_atomic
from migrate.history.git import last_commit_time
from migrate.registry.schema import EMAIL
from migrate.workspace import open_workspace
from migrate.yamlcache import cache_folder

REPORTED = (
    Change.ADDED,
    Change.CHANGED,
    Change.UNCHANGED,
    Change.CANCELLED,
    Change.CARRIED_OVER,
    Change.DROPPED,
)


def _mtime(path: Path) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(path.stat().st_mtime), tz=dt.UTC)


def registry_stamp(path: Path) -> dt.datetime:
    """When the registry last changed: the author time of the last commit that touched it
    when it has no uncommitted changes, else its modification time (UTC, whole seconds)."""
    committed = last_commit_time(path)
    return committed if committed is not None else _mtime(path)


def _read_previous(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise UsageError(f"{path} is a directory; --out names the feed file") from None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None


def run(
    registry_path: Path,
    today: dt.date,
    out: Path | None,
    owner: str | None,
    quarters: int,
    as_json: bool,
) -> int:
    if owner is not None and not EMAIL.fullmatch(owner):
        raise UsageError(f"--owner '{owner}' is not an email address")
    ws = open_workspace(registry_path, today)
    plan = feed_events(ws.registry, ws.facts, today, quarters=quarters, owner=owner)
    if owner is not None and plan.owned_dependencies == 0:
        warn(
            f"migrate: warning: no dependency in {ws.registry.display_path()} is owned by "
            f"{owner}; the feed has the windows and reviews only"
        )
    target = out if out is not None else default_feed_path(ws.registry.root, plan.info.owner)
    previous = _read_previous(target)
    try:
        feed = render_feed(
            plan.events,
            previous,
            info=plan.info,
            stamp=registry_stamp(ws.registry.path),
            today=today,
            history_before=plan.history_before,
            zone_cache=cache_folder("vtimezone"),
        )
    except PreviousFeedError as exc:
        raise UsageError(
            f"{target}: {exc}; refusing to overwrite it (move it away or choose another --out)"
        ) from None
    written = feed.data != previous
    if written:
        write_atomic(target, feed.data)
    counts = {str(change): feed.count(change) for change in REPORTED}
    if as_json:
        print_json(
            {
                "path": target,
                "written": written,
                "owner": plan.info.owner,
                "quarters": [str(q) for q in plan.quarters],
                "events": feed.published,
                **counts,
                "changes": [
                    {"uid": uid, "change": str(change)}
                    for uid, change in sorted(feed.changes.items())
                    if change is not Change.UNCHANGED
                ],
            }
        )
        return ExitCode.OK
    span = (
        f"{plan.quarters[0]}"
        if len(plan.quarters) == 1
        else f"{plan.quarters[0]}-{plan.quarters[-1]}"
    )
    detail = ", ".join(f"{counts[str(c)]} {c}" for c in REPORTED[:4])
    extra = [f"{counts[str(c)]} {str(c).replace('_', ' ')}" for c in REPORTED[4:] if counts[str(c)]]
    if extra:
        detail += "; " + ", ".join(extra)
    verb = "Wrote" if written else "Up to date:"
    say(f"{verb} {target}: {plural(feed.published, 'event')} for {span} ({detail})")
    return ExitCode.OK
