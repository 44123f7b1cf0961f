"""`migrate plan`: what is due in a quarter and why, and one runbook per due dependency.

What is due is `schedule.due.plan_quarter`; rendering and writing the runbooks (all or
nothing) is `runbooks.writer`.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from migrate.console import print_json, say, table
from migrate.errors import ExitCode, InputError
from migrate.evals.rundir import runbook_path
from migrate.evals.suite import count_cases
from migrate.files import relative_to
from migrate.runbooks.facts import SuiteSize
from migrate.runbooks.writer import Runbook, RunbookStatus, build_runbooks, write_runbooks
from migrate.schedule.due import Due, Plan, default_quarter, plan_quarter
from migrate.schedule.quarters import Quarter
from migrate.workspace import Workspace, open_workspace


def _suite_sizes(ws: Workspace, plan: Plan) -> dict[str, SuiteSize]:
    """The size of each due dependency's suite, by its path in the registry."""
    sizes: dict[str, SuiteSize] = {}
    for due in plan.due:
        dep = ws.registry.dependencies[due.dependency]
        if dep.eval is not None and dep.eval.cases not in sizes:
            sizes[dep.eval.cases] = _suite_size(ws.root / dep.eval.cases)
    return sizes


def _suite_size(path: Path) -> SuiteSize:
    try:
        return SuiteSize(count_cases(path))
    except InputError as exc:
        return SuiteSize(None, exc.problems[0].message)
    except (OSError, UnicodeDecodeError) as exc:
        return SuiteSize(None, f"cannot read it: {exc}")


def _row(due: Due, runbook: str, status: RunbookStatus) -> dict[str, Any]:
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
    runbooks = build_runbooks(ws, plan, _suite_sizes(ws, plan)) if write else []
    if write:
        write_runbooks(runbooks)
    status = {r.dependency: r.status for r in runbooks}
    rows = [
        _row(
            due,
            runbook_path(plan.quarter, due.dependency),
            status.get(due.dependency, RunbookStatus.NOT_WRITTEN),
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
    counts = {s: sum(1 for r in runbooks if r.status is s) for s in RunbookStatus}
    where = relative_to(ws.root / folder, Path.cwd())
    say(
        f"Runbooks under {where}/: {counts[RunbookStatus.CREATED]} created, "
        f"{counts[RunbookStatus.UPDATED]} updated, {counts[RunbookStatus.UNCHANGED]} unchanged."
    )
