"""Rendering, merging and writing the runbooks of a plan.

Every runbook is rendered and merged in memory before the first one is written, so a
broken template or an unreadable runbook leaves all files as they were. Unchanged runbooks
are not rewritten (their mtimes stay); changed ones are replaced atomically.

A due dependency's runbook is filed under the plan's quarter, or under the current quarter
when it is urgent (due now, not in the plan's window). A runbook already in one of those
folders whose dependency is no longer due there is refreshed, not left to contradict its
own sign-off: its facts (last run, sign-off) are rewritten and it says it is no longer due.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from migrate.cases.health import SuiteHealth, suite_health
from migrate.errors import InputError, UsageError
from migrate.evals.rundir import runbook_path
from migrate.evals.suite import count_cases
from migrate.files import write_atomic_many
from migrate.runbooks.facts import RUNBOOK_TEMPLATE, SuiteSize, runbook_context
from migrate.runbooks.merge import merge_runbook
from migrate.schedule.due import Due, Plan
from migrate.schedule.quarters import Quarter
from migrate.templating import templates_for
from migrate.workspace import Workspace


class RunbookStatus(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    NOT_WRITTEN = "not_written"  # `plan --no-write`


@dataclass(frozen=True)
class Runbook:
    dependency: str
    path: Path
    text: str
    status: RunbookStatus  # created | updated | unchanged
    due: bool = True  # False: refreshed, its dependency is no longer due in this quarter


def _read_existing(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError:
        raise UsageError(f"{path}: the runbook is not UTF-8 text; fix or move it") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the runbook: {exc.strerror or exc}") from None


def suite_size(path: Path) -> SuiteSize:
    """How many cases the suite at `path` holds, or why that cannot be told."""
    try:
        return SuiteSize(count_cases(path))
    except InputError as exc:
        return SuiteSize(None, exc.problems[0].message)
    except (OSError, UnicodeDecodeError) as exc:
        return SuiteSize(None, f"cannot read it: {exc}")


def _not_due(ws: Workspace, dep_id: str) -> Due:
    """A dependency that nothing makes due: its facts, with no reason and no window."""
    dep = ws.registry.dependencies[dep_id]
    retires = ws.registry.model(dep.model).retires
    margin = dt.timedelta(days=ws.registry.settings.safety_margin_days)
    return Due(
        dependency=dep_id,
        model=dep.model,
        reasons=(),
        urgent=False,
        window=None,
        retires=retires,
        deadline=retires - margin if retires else None,
        owners=tuple(dep.owners),
    )


def _no_longer_due(ws: Workspace, plan: Plan, due_paths: set[Path]) -> list[tuple[Due, Quarter]]:
    """The registry's dependencies with a runbook in a folder this plan writes to that is
    not the runbook of a due dependency, each with the quarter it is filed under."""
    if not plan.plannable:  # a window that has opened is not planned: its runbooks stay
        return []
    found = []
    for quarter in sorted({plan.quarter, plan.current_quarter}):
        for dep_id in ws.registry.dependencies:
            path = ws.root / runbook_path(quarter, dep_id)
            if path not in due_paths and path.is_file():
                found.append((_not_due(ws, dep_id), quarter))
    return found


def build_runbooks(
    ws: Workspace,
    plan: Plan,
    *,
    quarter_given: bool = False,
    costs: dict[str, dict[str, Any]] | None = None,
) -> list[Runbook]:
    """Render and merge every due dependency's runbook, and refresh those no longer due, in
    memory; `quarter_given` tells whether `--quarter` was given (the runbooks say so);
    `costs`: each due dependency's estimated cost (runbooks.estimate)."""
    templates = templates_for(ws.root)
    sizes: dict[str, SuiteSize] = {}

    def _health(dep_id: str) -> SuiteHealth | None:
        dep = ws.registry.dependencies[dep_id]
        if dep.eval is None:
            return None
        cases = ws.suite_cases(dep.eval.cases)  # read once, however many dependencies share it
        change = ws.git.last_change_of(ws.root / dep.eval.cases)
        last_commit = change.day if change else None
        runs = ws.runs_of(dep_id)
        return suite_health(ws.registry, dep_id, runs, plan.as_of, last_commit, cases=cases)

    def render(due: Due, filed_under: Quarter | None = None, elsewhere: str | None = None) -> str:
        dep = ws.registry.dependencies[due.dependency]
        suite = None
        if dep.eval is not None:
            if dep.eval.cases not in sizes:
                sizes[dep.eval.cases] = suite_size(ws.root / dep.eval.cases)
            suite = sizes[dep.eval.cases]
        context = runbook_context(
            ws,
            plan,
            due,
            suite,
            health=_health(due.dependency),
            quarter_given=quarter_given,
            filed_under=filed_under,
            elsewhere=elsewhere,
            cost=(costs or {}).get(due.dependency) if due.reasons else None,
        )
        return templates.render(RUNBOOK_TEMPLATE, context)

    due_at = {due.dependency: runbook_path(plan.filed_under(due), due.dependency)
              for due in plan.due}  # fmt: skip
    jobs: list[tuple[Path, str, bool]] = [
        (ws.root / due_at[due.dependency], render(due), True) for due in plan.due
    ]
    for stale, quarter in _no_longer_due(ws, plan, {ws.root / p for p in due_at.values()}):
        jobs.append(
            (
                ws.root / runbook_path(quarter, stale.dependency),
                render(stale, quarter, due_at.get(stale.dependency)),
                False,
            )
        )
    runbooks = []
    for path, fresh, due in jobs:
        old = _read_existing(path)
        text = merge_runbook(old, fresh)
        if old is None:
            status = RunbookStatus.CREATED
        elif text == old:
            status = RunbookStatus.UNCHANGED
        else:
            status = RunbookStatus.UPDATED
        runbooks.append(Runbook(path.stem, path, text, status, due))
    return runbooks


def write_runbooks(runbooks: list[Runbook]) -> None:
    """Write the changed runbooks atomically, all in one batch (`files.write_atomic_many`: a
    first plan of a large registry writes a thousand files)."""
    changed = [(r.path, r.text) for r in runbooks if r.status is not RunbookStatus.UNCHANGED]
    try:
        write_atomic_many(changed)
    except OSError as exc:
        raise UsageError(
            f"{exc.filename or 'runbooks'}: cannot write the runbook: {exc.strerror or exc}"
        ) from None
