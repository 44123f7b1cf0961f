"""`migrate status`: one line per dependency with everything that decides its urgency."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from pathlib import Path
from typing import Any

from migrate.cases.health import SuiteHealth, suite_health
from migrate.console import plural, print_json, say, table
from migrate.errors import ExitCode
from migrate.schedule.findings import suite_reach_findings
from migrate.schedule.status import DependencyStatus, dependency_status
from migrate.workspace import Workspace, open_workspace, suite_sizes


def _window_cell(status: DependencyStatus) -> str:
    """The window it is due in; an urgent one has none: it is due now, by its latest safe
    date (or that date has passed)."""
    if status.urgent:
        left = status.days_to_deadline
        if status.deadline is None or left is None:
            return "URGENT: now"
        if left < 0:
            return f"URGENT: now (safe date {status.deadline} passed {plural(-left, 'day')} ago)"
        when = "today" if left == 0 else f"in {plural(left, 'day')}"
        return f"URGENT: now, by {status.deadline} ({when})"
    if status.window_start is None or status.window_end is None:
        return "-"
    return f"{status.window_start:%b %d}-{status.window_end:%b %d %Y}"


def _health(ws: Workspace, dependency: str, today: dt.date) -> SuiteHealth | None:
    """The suite's size against its margin's need, its age and what it tells apart."""
    entry = ws.registry.dependencies[dependency]
    change = ws.git.last_change_of(ws.root / entry.eval.cases) if entry.eval else None
    cases = ws.suite_cases(entry.eval.cases) if entry.eval else None
    last_commit = change.day if change else None
    return suite_health(
        ws.registry, dependency, ws.runs_of(dependency), today, last_commit, cases=cases
    )


def _suite(ws: Workspace, dependency: str, today: dt.date) -> dict[str, Any] | None:
    health = _health(ws, dependency, today)
    return asdict(health) if health else None


def _stale_line(dependency: str, health: SuiteHealth | None) -> str | None:
    if health is None or not health.stale or health.newest_case is None:
        return None
    return (
        f"{dependency}: no case of {health.path} is younger than "
        f"{plural(health.max_age_days or 0, 'day')}: the newest is from {health.newest_case}, "
        f"{plural(health.age_days or 0, 'day')} old (stale_suite)"
    )


def run(registry_path: Path, today: dt.date, as_json: bool) -> int:
    ws = open_workspace(registry_path, today)
    statuses = dependency_status(ws.registry, ws.facts, ws.runs, today)
    if as_json:
        print_json([{**asdict(s), "suite": _suite(ws, s.dependency, today)} for s in statuses])
        return ExitCode.OK
    headers = [
        "dependency",
        "model",
        "retires",
        "days left",
        "window",
        "last verdict",
        "sign-off",
        "baseline age",
        "owner activity",  # active, inactive or unknown (outside git)
    ]
    say(
        table(
            headers,
            [
                [
                    s.dependency,
                    s.model,
                    s.retires,
                    s.days_left,
                    _window_cell(s),
                    s.last_verdict,
                    f"{s.signoff.decision} by {s.signoff.by}" if s.signoff else None,
                    f"{s.baseline_age_days}d" if s.baseline_age_days is not None else "none",
                    s.owner_activity,
                ]
                for s in statuses
            ],
        )
    )
    # A suite too small for its margin can only ever be INCONCLUSIVE: say so before a run.
    for finding in suite_reach_findings(ws.registry, suite_sizes(ws.registry)):
        say(f"{finding.dependency}: {finding.message}")
    for s in statuses:
        line = _stale_line(s.dependency, _health(ws, s.dependency, today))
        if line:
            say(line)
    return ExitCode.OK
