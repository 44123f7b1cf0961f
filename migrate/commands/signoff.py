"""`migrate signoff DEP`: record an owner's decision on the latest run and commit it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from migrate.console import plural, print_json, say
from migrate.errors import ExitCode, UsageError
from migrate.evals.record import Decision
from migrate.registry.load import load_registry
from migrate.signoff import Request, record_signoff


def run(
    registry_path: Path,
    today: dt.date,
    dependency: str,
    decision: str,
    by: str,
    *,
    note: str | None,
    override: str | None,
    run_id: str | None,
    candidate: str | None,
    as_json: bool,
) -> int:
    registry = load_registry(registry_path)
    if dependency not in registry.dependencies:
        raise UsageError(registry.unknown_dependency(dependency))
    record = record_signoff(
        registry,
        Request(
            dependency=dependency,
            decision=Decision(decision),
            by=by,
            note=note,
            override=override,
            candidate=candidate,
        ),
        today,
        run_id,
    )
    evidence = f" and the run's evidence ({plural(len(record['files']) - 2, 'file')})"
    if len(record["files"]) == 2:
        evidence = ""
    if as_json:
        print_json(record)
    else:
        say(
            f"Recorded: {decision} by {by} on run {record['run_id']} "
            f"(verdict {record['verdict']}); committed {record['commit'][:10]} with "
            f"{', '.join(record['files'][:2])}{evidence}. Nothing was pushed."
        )
    return ExitCode.OK
