"""The facts a runbook shows for one due dependency, as a plain template context. Pure.

Everything here is computed from values already gathered (the workspace's registry, runs
and git facts, the plan, the suite's size): no file, git or clock access. Dates are ISO
strings and every sentence is finished here, so that a template only places values.
The keys are documented for template authors in the workspace's `templates/README.md`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from migrate.evals.rundir import runbook_path, runs_folder
from migrate.history.git import Commit
from migrate.history.runs import RunRecord
from migrate.registry.load import DEFAULT_REGISTRY
from migrate.registry.schema import Dependency, Gates
from migrate.runbooks.merge import FACTS_BEGIN, FACTS_END, SIGNOFFS_MARKER
from migrate.schedule.due import DependencyFacts, Due, Plan, Reason
from migrate.schedule.quarters import review_meeting
from migrate.workspace import Workspace

RUNBOOK_TEMPLATE = "runbook.md.j2"


@dataclass(frozen=True)
class SuiteSize:
    """How many cases an eval suite holds, or why it could not be counted."""

    cases: int | None
    problem: str | None = None


def days_phrase(days: int) -> str:
    """`in 3 days`, `tomorrow`, `today`, `yesterday`, `3 days ago`."""
    if days == 0:
        return "today"
    if days == 1:
        return "tomorrow"
    if days == -1:
        return "yesterday"
    return f"in {days} days" if days > 0 else f"{-days} days ago"


def _commit(commit: Commit | None, as_of: dt.date) -> dict[str, Any] | None:
    if commit is None:
        return None
    return {
        "date": commit.day.isoformat(),
        "sha": commit.sha,
        "short_sha": commit.short,
        "subject": commit.subject,
        "author": commit.author,
        "email": commit.email,
        "days_ago": (as_of - commit.day).days,
        "ago": days_phrase((commit.day - as_of).days),
    }


def _signoff_command(dep_id: str, owners: list[dict[str, Any]], registry_option: str) -> str:
    # The first active owner in the registry's order: stable from one plan to the next.
    by = next((o["email"] for o in owners if o["active"]), owners[0]["email"])
    return f"migrate signoff {dep_id}{registry_option} --decision approve --by {by}"


def _points(share: float) -> str:
    points = f"{share * 100:g}"
    return f"{points} percentage point{'' if points == '1' else 's'}"


def _gates(gates: Gates) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [
        {
            "name": "pass_rate_drop",
            "value": gates.pass_rate_drop,
            "text": f"the candidate's pass rate may be at most {_points(gates.pass_rate_drop)} "
            "below the current model's (the lower bound of the paired 95% interval decides)",
        }
    ]
    optional: list[tuple[str, float | None, Callable[[float], str]]] = [
        (
            "refusal_rate_increase",
            gates.refusal_rate_increase,
            lambda v: f"the refusal rate may rise by at most {_points(v)}",
        ),
        (
            "p95_latency_increase",
            gates.p95_latency_increase,
            lambda v: f"p95 latency may rise by at most {v:.0%}",
        ),
        (
            "cost_increase",
            gates.cost_increase,
            lambda v: f"cost per case may rise by at most {v:.0%}",
        ),
    ]
    for name, value, text in optional:
        rows.append(
            {
                "name": name,
                "value": value,
                "text": text(value) if value is not None else "not gated",
            }
        )
    return rows


def explain(
    reason: Reason,
    *,
    due: Due,
    dep: Dependency,
    facts: DependencyFacts,
    ws: Workspace,
    as_of: dt.date,
    window_opens: dt.date,
) -> str:
    """One sentence saying why `reason` makes the dependency due."""
    settings = ws.registry.settings
    model = ws.registry.model(dep.model)
    margin = settings.safety_margin_days
    if reason is Reason.OVERDUE and model.retires is not None:
        return (
            f"{dep.model} retired on {model.retires} ({days_phrase((model.retires - as_of).days)})"
            " and no migration off it has an approved sign-off: calls may already be failing."
        )
    if reason in (Reason.RETIRING, Reason.OVERDUE) and model.retires is not None:
        left = (model.retires - as_of).days
        if not due.urgent:
            return (
                f"{dep.model} retires on {model.retires} ({left} days left); finishing in the "
                f"{due.window.start} to {due.window.end} window keeps the {margin}-day safety "
                f"margin (latest safe date {due.deadline})."
            )
        if due.deadline is not None and due.deadline < as_of:
            return (
                f"{dep.model} retires on {model.retires} ({left} days left) and the latest safe "
                f"date ({due.deadline}, {margin} days before) has passed: migrate now."
            )
        return (
            f"{dep.model} retires on {model.retires} ({left} days left) and no migration window "
            f"ends {margin} days before that: migrate now, by {due.deadline}."
        )
    if reason is Reason.STALE_BASELINE:
        if facts.last_baseline is None:
            return f"No eval run has baselined {dep.model} for this dependency yet."
        age = (window_opens - facts.last_baseline).days
        return (
            f"The last baseline of {dep.model} is from {facts.last_baseline}, {age} days old "
            f"when the window opens on {window_opens} (the limit is "
            f"{settings.baseline_max_age_days} days)."
        )
    if reason is Reason.NO_ACTIVE_OWNER:
        parts = []
        if facts.owner_last_commit is not None and all(
            last is None or (as_of - last).days > settings.owner_inactive_days
            for last in facts.owner_last_commit.values()
        ):
            parts.append(
                f"No owner has committed to this repository in the last "
                f"{settings.owner_inactive_days} days."
            )
        if facts.inactive_prompt_authors:
            who = ", ".join(facts.inactive_prompt_authors)
            parts.append(
                f"The prompt was last changed by {who}, who is not an owner and has not "
                f"committed in {settings.owner_inactive_days} days."
            )
        return " ".join(parts) or "Nobody active owns this dependency."
    if reason is Reason.REPLACEMENT_AVAILABLE and model.replacement:
        sentence = (
            f"The provider names {model.replacement} as the replacement of {dep.model} and no "
            f"run has evaluated it against {dep.model} yet"
        )
        if model.replacement not in dep.candidates:
            sentence += " (it is not among the candidates: add it)"
        return sentence + "."
    return f"Due: {reason}."


def urgency(due: Due, retires: dt.date | None, as_of: dt.date, margin: int) -> str | None:
    """One sentence for the top of an urgent runbook; None when the window is in time."""
    if not due.urgent:
        return None
    if retires is not None and as_of >= retires:
        return f"Overdue: the model retired on {retires} and no migration is approved."
    if due.deadline is not None and due.deadline < as_of:
        return f"Urgent: the latest safe date ({due.deadline}) has passed. Migrate now."
    return (
        f"Urgent: no migration window ends {margin} days before the retirement date. "
        f"Migrate now, by {due.deadline}."
    )


def _run(run: RunRecord, root_relative: str) -> dict[str, Any]:
    return {
        "id": run.run_id,
        "finished": run.finished.isoformat(),
        "verdict": run.verdict,
        "baseline": run.baseline,
        "candidates": list(run.candidates),
        "directory": root_relative,
        "signoff": (
            None
            if run.signoff is None
            else {
                "decision": run.signoff.decision,
                "by": run.signoff.by,
                "at": run.signoff.at.isoformat(),
                "override": run.signoff.override,
            }
        ),
    }


def runbook_context(ws: Workspace, plan: Plan, due: Due, suite: SuiteSize | None) -> dict[str, Any]:
    """The template context of `due`'s runbook (documented in templates/README.md)."""
    registry = ws.registry
    settings = registry.settings
    dep = registry.dependencies[due.dependency]
    model = registry.model(dep.model)
    facts = ws.facts.get(due.dependency, DependencyFacts())
    as_of = plan.as_of
    dep_id = due.dependency

    registry_file = registry.path.name
    registry_option = "" if registry_file == DEFAULT_REGISTRY else f" --registry {registry_file}"

    owners = []
    for email in dep.owners:
        commit = ws.git.last_commit_of(email) if ws.git.available else None
        owners.append(
            {
                "email": email,
                "last_commit": _commit(commit, as_of),
                "active": (
                    None
                    if not ws.git.available
                    else commit is not None
                    and (as_of - commit.day).days <= settings.owner_inactive_days
                ),
            }
        )
    owner_emails = {e.lower() for e in dep.owners}
    prompts = []
    for prompt in dep.prompt_files:
        change = ws.git.last_change_of(registry.root / prompt) if ws.git.available else None
        prompts.append(
            {
                "path": prompt,
                "last_change": _commit(change, as_of),
                "author_is_owner": change is not None and change.email in owner_emails,
            }
        )

    runs = ws.runs_of(dep_id)
    last_run = runs[-1] if runs else None
    # Before the first run there is no id to name: the template says where it comes from.
    report_command = f"migrate report {last_run.run_id}{registry_option}" if last_run else None
    meeting = review_meeting(plan.quarter, settings.review, settings.tz)
    days_to_retirement = (model.retires - as_of).days if model.retires else None
    days_to_deadline = (due.deadline - as_of).days if due.deadline else None

    return {
        "quarter": str(plan.quarter),
        "as_of": as_of.isoformat(),
        "runbook": runbook_path(plan.quarter, dep_id),
        "runs_dir": runs_folder(plan.quarter, dep_id),
        "registry": registry_file,
        "dependency": {
            "id": dep_id,
            "description": dep.description,
            "owners": list(dep.owners),
            "params": dict(dep.params),
        },
        "model": {
            "name": dep.model,
            "deprecated": model.deprecated.isoformat() if model.deprecated else None,
            "retires": model.retires.isoformat() if model.retires else None,
            "replacement": model.replacement,
            "source": model.source,
            "days_to_retirement": days_to_retirement,
            "retirement_in": (
                days_phrase(days_to_retirement) if days_to_retirement is not None else None
            ),
        },
        "deadline": due.deadline.isoformat() if due.deadline else None,
        "days_to_deadline": days_to_deadline,
        "deadline_in": days_phrase(days_to_deadline) if days_to_deadline is not None else None,
        "candidates": list(dep.candidates),
        "replacement_in_candidates": bool(
            model.replacement and model.replacement in dep.candidates
        ),
        "urgent": due.urgent,
        "urgency": urgency(due, model.retires, as_of, settings.safety_margin_days),
        "reasons": [
            {
                "name": str(reason),
                "text": explain(
                    reason,
                    due=due,
                    dep=dep,
                    facts=facts,
                    ws=ws,
                    as_of=as_of,
                    window_opens=due.window.start,
                ),
            }
            for reason in due.reasons
        ],
        "window": {
            "quarter": str(due.window.quarter),
            "start": due.window.start.isoformat(),
            "end": due.window.end.isoformat(),
            "opens_in": days_phrase((due.window.start - as_of).days),
        },
        "review": {
            "date": meeting.start.date().isoformat(),
            "start": meeting.start.strftime("%H:%M"),
            "end": meeting.end.strftime("%H:%M"),
            "timezone": settings.timezone,
        },
        "git_available": ws.git.available,
        "owners": owners,
        "prompts": prompts,
        "eval": (
            None
            if dep.eval is None
            else {
                "path": dep.eval.cases,
                "cases": suite.cases if suite else None,
                "problem": suite.problem if suite else None,
                "samples": dep.eval.samples,
                "checks": [check.type for check in dep.eval.checks],
            }
        ),
        "baseline": {
            "date": facts.last_baseline.isoformat() if facts.last_baseline else None,
            "age_days": (as_of - facts.last_baseline).days if facts.last_baseline else None,
            "max_age_days": settings.baseline_max_age_days,
        },
        "last_run": (None if last_run is None else _run(last_run, _relative(last_run, ws))),
        "gates": _gates(dep.gates),
        "commands": {
            "run": f"migrate run {dep_id}{registry_option}",
            "report": report_command,
            "signoff": _signoff_command(dep_id, owners, registry_option),
            "report_usage": f"migrate report RUN_ID{registry_option}",
            "plan": f"migrate plan --quarter {plan.quarter}{registry_option}",
        },
        "settings": {
            "safety_margin_days": settings.safety_margin_days,
            "baseline_max_age_days": settings.baseline_max_age_days,
            "owner_inactive_days": settings.owner_inactive_days,
        },
        "markers": {
            "facts_begin": FACTS_BEGIN,
            "facts_end": FACTS_END,
            "signoffs": SIGNOFFS_MARKER,
        },
    }


def _relative(run: RunRecord, ws: Workspace) -> str:
    try:
        return run.directory.relative_to(ws.root).as_posix()
    except ValueError:
        return run.directory.as_posix()
