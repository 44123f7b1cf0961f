"""`migrate plan`: what is due in a quarter and why, and one runbook per due dependency.

What is due is `schedule.due.plan_quarter`; rendering and writing the runbooks (all or
nothing) is `runbooks.writer`. An urgent dependency is due now: it has no window, and its
runbook is filed under the current quarter.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from migrate.console import print_json, say, table
from migrate.errors import ExitCode
from migrate.evals.rundir import runbook_path
from migrate.files import relative_to
from migrate.runbooks.estimate import PlanCache, dependency_cost
from migrate.runbooks.writer import Runbook, RunbookStatus, build_runbooks, write_runbooks
from migrate.schedule.due import Due, Plan, default_quarter, plan_quarter
from migrate.schedule.quarters import Quarter
from migrate.workspace import Workspace, open_workspace


def _row(due: Due, runbook: str, status: RunbookStatus, cost: dict[str, Any]) -> dict[str, Any]:
    # An urgent dependency is due now: no window (null), only its latest safe date.
    return {
        "dependency": due.dependency,
        "model": due.model,
        "reasons": [str(r) for r in due.reasons],
        "urgent": due.urgent,
        "window_start": due.window.start if due.window else None,
        "window_end": due.window.end if due.window else None,
        "deadline": due.deadline,
        "runbook": runbook,
        "retires": due.retires,
        "owners": list(due.owners),
        "runbook_status": status,
        "estimated_cost": cost,
    }


def run(
    registry_path: Path, today: dt.date, quarter: str | None, write: bool, as_json: bool
) -> int:
    ws = open_workspace(registry_path, today)
    target = Quarter.parse(quarter) if quarter else default_quarter(today, ws.registry)
    plan = plan_quarter(ws.registry, ws.facts, today, target)
    cache = PlanCache()
    costs = {d.dependency: dependency_cost(ws.registry, d.dependency, cache).to_json()
             for d in plan.due}  # fmt: skip
    runbooks = (
        build_runbooks(ws, plan, quarter_given=quarter is not None, costs=costs) if write else []
    )
    if write:
        write_runbooks(runbooks)
    status = {r.dependency: r.status for r in runbooks if r.due}
    rows = [
        _row(
            due,
            runbook_path(plan.filed_under(due), due.dependency),
            status.get(due.dependency, RunbookStatus.NOT_WRITTEN),
            costs[due.dependency],
        )
        for due in plan.due
    ]
    refreshed = [
        {
            "dependency": r.dependency,
            "runbook": relative_to(r.path, ws.root),
            "runbook_status": r.status,
        }
        for r in runbooks
        if not r.due
    ]
    if as_json:
        print_json(
            {
                "quarter": str(plan.quarter),
                "as_of": plan.as_of,
                "window": {"start": plan.window.start, "end": plan.window.end},
                "due": rows,
                "no_longer_due": refreshed,
            }
        )
        return ExitCode.OK
    _print_plan(plan, rows, write, runbooks, refreshed, ws)
    return ExitCode.OK


def _window_cell(row: dict[str, Any]) -> str:
    if row["urgent"]:
        return "none: due now"
    return f"{row['window_start']}..{row['window_end']}"


def _cost_cell(cost: dict[str, Any]) -> str:
    usd = cost["usd"]
    if usd is None:
        return "unknown"
    return f"${usd:.4f}" if usd == 0 or usd >= 0.01 else f"${usd:.6f}"


def _print_plan(
    plan: Plan,
    rows: list[dict[str, Any]],
    write: bool,
    runbooks: list[Runbook],
    refreshed: list[dict[str, Any]],
    ws: Workspace,
) -> None:
    window = f"{plan.window.start} to {plan.window.end}"
    if not plan.plannable:
        say(
            f"{plan.quarter}: the migration window ({window}) has already opened; nothing is "
            f"left to plan in it (plan {plan.quarter.shift(1)} with "
            f"`migrate plan --quarter {plan.quarter.shift(1)}`)."
        )
        return
    urgent = sum(1 for r in rows if r["urgent"])
    say(
        f"{plan.quarter}: migration window {window}, as of {plan.as_of}: {len(rows)} due"
        + (f" ({urgent} urgent: due now, not in this window)" if urgent else "")
    )
    if rows:
        say()
        say(
            table(
                [
                    "dependency",
                    "model",
                    "reasons",
                    "urgent",
                    "window",
                    "deadline",
                    "owners",
                    "cost",
                    "runbook",
                ],  # fmt: skip
                [
                    [
                        r["dependency"],
                        r["model"],
                        ", ".join(r["reasons"]),
                        "URGENT" if r["urgent"] else "no",
                        _window_cell(r),
                        r["deadline"],
                        ", ".join(r["owners"]),
                        _cost_cell(r["estimated_cost"]),
                        r["runbook"],
                    ]
                    for r in rows
                ],
            )
        )
    for entry in refreshed:
        say(f"No longer due: {entry['dependency']} ({entry['runbook']} refreshed to say so)")
    if not rows and not refreshed:
        return
    say()
    folders = sorted({runbook_path(plan.filed_under(d), "x").rsplit("/", 1)[0] for d in plan.due})
    if not write:
        where = " and ".join(f"{f}/" for f in folders) or f"runbooks/{plan.quarter}/"
        say(f"Runbooks not written (--no-write); they go under {where}.")
        return
    counts = {s: sum(1 for r in runbooks if r.due and r.status is s) for s in RunbookStatus}
    where = " and ".join(f"{relative_to(ws.root / f, Path.cwd())}/" for f in folders)
    say(
        f"Runbooks{f' under {where}' if where else ''}: {counts[RunbookStatus.CREATED]} created, "
        f"{counts[RunbookStatus.UPDATED]} updated, {counts[RunbookStatus.UNCHANGED]} unchanged."
    )
