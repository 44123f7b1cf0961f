"""`migrate sync`: compare registry lifecycle dates with litellm's model map and a feed.

Differences are a report, not a failure: the exit code is 0 whatever is found, 2 when the
registry or the feed cannot be read. `--write` adds the values exact matches supply.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from pathlib import Path

from migrate.console import plural, print_json, say
from migrate.errors import ExitCode
from migrate.lifecycle.compare import SyncReport, compare
from migrate.lifecycle.sources import Source, read_feed, read_litellm_map
from migrate.lifecycle.write import edits_for, update_registry_file
from migrate.registry.load import Registry, load_registry


def run(registry_path: Path, today: dt.date, feed: str | None, write: bool, as_json: bool) -> int:
    registry = load_registry(registry_path, check_files=False)
    sources = [read_litellm_map()]
    if feed is not None:
        sources.append(read_feed(feed))
    report = compare(registry, sources)
    written = False
    if write and report.changes:
        update_registry_file(registry.path, edits_for(report, today))
        written = True
    if as_json:
        print_json(_as_json(registry, sources, report, today, written))
    else:
        _print_human(registry, sources, report, written, write)
    return ExitCode.OK


def _as_json(
    registry: Registry, sources: list[Source], report: SyncReport, today: dt.date, written: bool
) -> dict[str, object]:
    return {
        "registry": registry.display_path(),
        "today": today,
        "sources": [
            {
                "kind": s.kind,
                "label": s.label,
                "location": s.location,
                "entries": len({r.key for r in s.records}),
                "skipped": s.skipped,
            }
            for s in sources
        ],
        "models_checked": report.models_checked,
        "local_models": report.local_models,
        "unmatched": report.unmatched,
        "changes": [asdict(c) for c in report.changes],
        "disagreements": [asdict(d) for d in report.disagreements],
        "suggestions": [asdict(s) for s in report.suggestions],
        "written": written,
    }


def _where(registry: Registry, line: int | None) -> str:
    return f"{registry.display_path()}:{line}" if line else registry.display_path()


def _value(value: object) -> str:
    return value.isoformat() if isinstance(value, dt.date) else str(value)


def _print_human(
    registry: Registry, sources: list[Source], report: SyncReport, written: bool, write: bool
) -> None:
    described = []
    for source in sources:
        entries = len({r.key for r in source.records})
        skipped = f", {source.skipped} skipped" if source.skipped else ""
        counted = f"{entries:,} {'entry' if entries == 1 else 'entries'}"
        described.append(f"{source.label} ({counted}{skipped})")
    say(
        f"Compared {plural(report.models_checked, 'model')} in {registry.display_path()} with "
        f"{' and '.join(described)}."
    )
    if report.changes:
        say("")
        say("Missing from the registry (exact matches):")
        for c in report.changes:
            say(
                f"  {_where(registry, c.line)}: {c.model}: {c.field} {_value(c.value)} "
                f"(from {c.source}: {c.source_id})"
            )
    if report.disagreements:
        say("")
        say("Disagreements (the registry keeps its value until you change it):")
        for d in report.disagreements:
            say(
                f"  {_where(registry, d.line)}: {d.model}: {d.field} is {_value(d.registry)} "
                f"in the registry, {_value(d.source_value)} in {d.source} ({d.source_id})"
            )
    if report.suggestions:
        say("")
        say("Suggestions (never written):")
        for s in report.suggestions:
            say(f"  {_where(registry, s.line)}: {s.model}: {s.message}")
    if report.unmatched:
        say("")
        say(
            f"Not in any source (a typo, or a model too new or too private to be listed): "
            f"{', '.join(report.unmatched)}"
        )
    if report.local_models:
        say("")
        say(f"Skipped (served by an api_base of your own): {', '.join(report.local_models)}")
    say("")
    if not (report.changes or report.disagreements or report.suggestions):
        say("No differences: every model a source knows agrees with it.")
    elif written:
        say(
            f"Wrote {plural(len(report.changes), 'value')} to "
            f"{registry.display_path()}; every comment is kept."
        )
    elif report.changes and not write:
        say(
            f"Run `migrate sync --write` to add the {plural(len(report.changes), 'missing value')} "
            "(comments are kept)."
        )
