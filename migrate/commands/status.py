"""`migrate status`: one line per dependency with everything that decides its urgency."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from migrate.console import print_json, say, table
from migrate.errors import ExitCode
from migrate.schedule.due import assess, owners_inactive
from migrate.workspace import Workspace, open_workspace


def status_rows(ws: Workspace) -> list[dict[str, Any]]:
    settings = ws.registry.settings
    rows = []
    for dep_id, dep in ws.registry.dependencies.items():
        model = ws.registry.model(dep.model)
        facts = ws.facts[dep_id]
        due = assess(dep_id, dep, ws.registry, facts, ws.today)
        runs = ws.runs_of(dep_id)
        last_run = runs[-1] if runs else None
        signed = next((r for r in reversed(runs) if r.signoff is not None), None)
        owners = []
        for owner in dep.owners:
            commit = ws.git.last_commit_of(owner) if ws.git.available else None
            owners.append(
                {
                    "email": owner,
                    "last_commit": commit.day if commit else None,
                    "days_since": (ws.today - commit.day).days if commit else None,
                }
            )
        rows.append(
            {
                "dependency": dep_id,
                "model": dep.model,
                "retires": model.retires,
                "days_left": (model.retires - ws.today).days if model.retires else None,
                "window_start": due.window.start if due else None,
                "window_end": due.window.end if due else None,
                "urgent": bool(due and due.urgent),
                "reasons": [str(r) for r in due.reasons] if due else [],
                "last_run": last_run.run_id if last_run else None,
                "last_verdict": last_run.verdict if last_run else None,
                "signoff": (
                    {
                        "decision": signed.signoff.decision,
                        "by": signed.signoff.by,
                        "at": signed.signoff.at,
                        "run": signed.run_id,
                    }
                    if signed and signed.signoff
                    else None
                ),
                "baseline_age_days": (
                    (ws.today - facts.last_baseline).days if facts.last_baseline else None
                ),
                "owners": owners,
                "owner_activity": (
                    "unknown"
                    if facts.owner_last_commit is None
                    else "inactive"
                    if owners_inactive(
                        facts.owner_last_commit, ws.today, settings.owner_inactive_days
                    )
                    else "active"
                ),
            }
        )
    return rows


def _window_cell(row: dict[str, Any]) -> str:
    if row["urgent"]:
        return "URGENT (now)"
    if row["window_start"] is None:
        return "-"
    return f"{row['window_start']:%b %d}-{row['window_end']:%b %d %Y}"


def run(registry_path: Path, today: dt.date, as_json: bool) -> int:
    ws = open_workspace(registry_path, today)
    rows = status_rows(ws)
    if as_json:
        print_json(rows)
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
                    r["dependency"],
                    r["model"],
                    r["retires"],
                    r["days_left"],
                    _window_cell(r),
                    r["last_verdict"],
                    f"{r['signoff']['decision']} by {r['signoff']['by']}" if r["signoff"] else None,
                    f"{r['baseline_age_days']}d" if r["baseline_age_days"] is not None else "none",
                    r["owner_activity"],
                ]
                for r in rows
            ],
        )
    )
    return ExitCode.OK
