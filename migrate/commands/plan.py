"""`migrate plan`: what is due in a quarter and why, and one runbook per due dependency.

Every runbook is rendered and merged before the first one is written, so a broken template
or an unreadable runbook leaves all files as they were. Unchanged runbooks are not
rewritten (their mtimes stay), changed ones are replaced atomically.
"""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from migrate.console import print_json, say, table
from migrate.errors import ExitCode, InputError, UsageError
from migrate.evals.rundir import runbook_path
from migrate.evals.suite import count_cases
from migrate.files import relative_to, write_atomic
from migrate.runbooks.facts import RUNBOOK_TEMPLATE, SuiteSize, runbook_context
from migrate.runbooks.merge import merge_runbook
from migrate.schedule.due import Due, Plan, default_quarter, plan_quarter
from migrate.schedule.quarters import Quarter
from migrate.templating import templates_for
from migrate.workspace import Workspace, open_workspace

CREATED, UPDATED, UNCHANGED, NOT_WRITTEN = "created", "updated", "unchanged", "not_written"
_WRITERS = 8


@dataclass(frozen=True)
class Runbook:
    dependency: str
    path: Path
    text: str
    status: str  # created | updated | unchanged


def _suite_size(path: Path) -> SuiteSize:
    try:
        return SuiteSize(count_cases(path))
    except InputError as exc:
        return SuiteSize(None, exc.problems[0].message)
    except (OSError, UnicodeDecodeError) as exc:
        return SuiteSize(None, f"cannot read it: {exc}")


def _read_existing(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError:
        raise UsageError(f"{path}: the runbook is not UTF-8 text; fix or move it") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the runbook: {exc.strerror or exc}") from None


def build_runbooks(ws: Workspace, plan: Plan) -> list[Runbook]:
    """Render and merge every due dependency's runbook, in memory."""
    templates = templates_for(ws.root)
    sizes: dict[str, SuiteSize] = {}
    runbooks = []
    for due in plan.due:
        dep = ws.registry.dependencies[due.dependency]
        suite = None
        if dep.eval is not None:
            if dep.eval.cases not in sizes:
                sizes[dep.eval.cases] = _suite_size(ws.root / dep.eval.cases)
            suite = sizes[dep.eval.cases]
        fresh = templates.render(RUNBOOK_TEMPLATE, runbook_context(ws, plan, due, suite))
        path = ws.root / runbook_path(plan.quarter, due.dependency)
        old = _read_existing(path)
        text = merge_runbook(old, fresh)
        status = CREATED if old is None else UNCHANGED if text == old else UPDATED
        runbooks.append(Runbook(due.dependency, path, text, status))
    return runbooks


def write_runbooks(runbooks: list[Runbook]) -> None:
    """Write the changed runbooks atomically; a few threads overlap the fsyncs (a first plan
    of a large registry writes a thousand files)."""
    changed = [r for r in runbooks if r.status != UNCHANGED]

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


def _row(due: Due, runbook: str, status: str) -> dict[str, Any]:
    return {
        "dependency": due.dependency,
        "model": due.model,
        "reasons": [str(r) for r in due.reasons],
        "urgent": due.urgent,
        "window_start": due.window.start,
        "window_end": due.window.end,
        "deadline": due.deadline,
        "runbook": runbook,
        "retires": due.retires,
        "owners": list(due.owners),
        "runbook_status": status,
    }


def run(
    registry_path: Path, today: dt.date, quarter: str | None, write: bool, as_json: bool
) -> int:
    ws = open_workspace(registry_path, today)
    target = Quarter.parse(quarter) if quarter else default_quarter(today, ws.registry)
    plan = plan_quarter(ws.registry, ws.facts, today, target)
    runbooks = build_runbooks(ws, plan) if write else []
    if write:
        write_runbooks(runbooks)
    status = {r.dependency: r.status for r in runbooks}
    rows = [
        _row(
            due, runbook_path(plan.quarter, due.dependency), status.get(due.dependency, NOT_WRITTEN)
        )
        for due in plan.due
    ]
    if as_json:
        print_json(
            {
                "quarter": str(plan.quarter),
                "as_of": plan.as_of,
                "window": {"start": plan.window.start, "end": plan.window.end},
                "due": rows,
            }
        )
        return ExitCode.OK
    _print_plan(plan, rows, today, write, runbooks, ws)
    return ExitCode.OK


def _print_plan(
    plan: Plan,
    rows: list[dict[str, Any]],
    today: dt.date,
    write: bool,
    runbooks: list[Runbook],
    ws: Workspace,
) -> None:
    window = f"{plan.window.start} to {plan.window.end}"
    if plan.window.start < today:
        say(
            f"{plan.quarter}: the migration window ({window}) has already opened; nothing is "
            f"left to plan in it (plan {plan.quarter.shift(1)} with "
            f"`migrate plan --quarter {plan.quarter.shift(1)}`)."
        )
        return
    urgent = sum(1 for r in rows if r["urgent"])
    say(
        f"{plan.quarter}: migration window {window}, as of {plan.as_of}: {len(rows)} due"
        + (f" ({urgent} urgent)" if urgent else "")
    )
    if not rows:
        return
    say()
    say(
        table(
            ["dependency", "model", "reasons", "urgent", "window", "deadline", "owners", "runbook"],
            [
                [
                    r["dependency"],
                    r["model"],
                    ", ".join(r["reasons"]),
                    "URGENT" if r["urgent"] else "no",
                    f"{r['window_start']}..{r['window_end']}",
                    r["deadline"],
                    ", ".join(r["owners"]),
                    r["runbook"],
                ]
                for r in rows
            ],
        )
    )
    say()
    folder = runbook_path(plan.quarter, "x").rsplit("/", 1)[0] + "/"
    if not write:
        say(f"Runbooks not written (--no-write); they go under {folder}.")
        return
    counts = {s: sum(1 for r in runbooks if r.status == s) for s in (CREATED, UPDATED, UNCHANGED)}
    where = relative_to(ws.root / folder, Path.cwd())
    say(
        f"Runbooks under {where}/: {counts[CREATED]} created, {counts[UPDATED]} updated, "
        f"{counts[UNCHANGED]} unchanged."
    )
