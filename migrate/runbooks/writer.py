"""Rendering, merging and writing the runbooks of a plan.

Every runbook is rendered and merged in memory before the first one is written, so a
broken template or an unreadable runbook leaves all files as they were. Unchanged runbooks
are not rewritten (their mtimes stay); changed ones are replaced atomically.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from migrate.errors import UsageError
from migrate.evals.rundir import runbook_path
from migrate.files import write_atomic
from migrate.runbooks.facts import RUNBOOK_TEMPLATE, SuiteSize, runbook_context
from migrate.runbooks.merge import merge_runbook
from migrate.schedule.due import Plan
from migrate.templating import templates_for
from migrate.workspace import Workspace

_WRITERS = 8  # threads that overlap the fsyncs of a large first plan


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


def _read_existing(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError:
        raise UsageError(f"{path}: the runbook is not UTF-8 text; fix or move it") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the runbook: {exc.strerror or exc}") from None


def build_runbooks(ws: Workspace, plan: Plan, suites: Mapping[str, SuiteSize]) -> list[Runbook]:
    """Render and merge every due dependency's runbook, in memory; `suites` sizes each
    suite by its path in the registry (`eval.cases`)."""
    templates = templates_for(ws.root)
    runbooks = []
    for due in plan.due:
        dep = ws.registry.dependencies[due.dependency]
        suite = suites[dep.eval.cases] if dep.eval is not None else None
        fresh = templates.render(RUNBOOK_TEMPLATE, runbook_context(ws, plan, due, suite))
        path = ws.root / runbook_path(plan.quarter, due.dependency)
        old = _read_existing(path)
        text = merge_runbook(old, fresh)
        if old is None:
            status = RunbookStatus.CREATED
        elif text == old:
            status = RunbookStatus.UNCHANGED
        else:
            status = RunbookStatus.UPDATED
        runbooks.append(Runbook(due.dependency, path, text, status))
    return runbooks


def write_runbooks(runbooks: list[Runbook]) -> None:
    """Write the changed runbooks atomically; a few threads overlap the fsyncs (a first plan
    of a large registry writes a thousand files)."""
    changed = [r for r in runbooks if r.status is not RunbookStatus.UNCHANGED]

    def write(runbook: Runbook) -> None:
        try:
            write_atomic(runbook.path, runbook.text)
        except OSError as exc:
            raise UsageError(
                f"{runbook.path}: cannot write the runbook: {exc.strerror or exc}"
            ) from None

    if len(changed) < 8:
        for runbook in changed:
            write(runbook)
        return
    with ThreadPoolExecutor(max_workers=_WRITERS) as pool:
        for _ in pool.map(write, changed):  # re-raises the first failure
            pass
