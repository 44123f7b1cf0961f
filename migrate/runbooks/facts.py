"""The facts a runbook shows for one dependency, as a plain template context. Pure.

Everything here is computed from values already gathered (the workspace's registry, runs
and git facts, the plan, the suite's size): no file, git or clock access. Dates are ISO
strings and every sentence is finished here, so that a template only places values.
The keys are documented for template authors in the workspace's `templates/README.md`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields
from typing import Any

from migrate.cases.health import SuiteHealth, suite_lines
from migrate.evals.inputs import run_quarter
from migrate.evals.power import SuiteReach, suite_reach
from migrate.evals.rundir import runbook_path, runs_folder
from migrate.history.git import Commit
from migrate.history.runs import RunRecord
from migrate.registry.load import DEFAULT_REGISTRY
from migrate.registry.schema import Dependency, Settings
from migrate.runbooks.merge import FACTS_BEGIN, FACTS_END, SIGNOFFS_MARKER
from migrate.runbooks.reasons import (
    days_phrase,
    explain,
    gates_in_words,
    no_longer_due,
    urgency,
)
from migrate.schedule.due import DependencyFacts, Due, Plan
from migrate.schedule.quarters import Quarter, review_meeting
from migrate.workspace import Workspace

RUNBOOK_TEMPLATE = "runbook.md.j2"


@dataclass(frozen=True)
class SuiteSize:
    """How many cases an eval suite holds, or why it could not be counted."""

    cases: int | None
    problem: str | None = None


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


def _review(plan: Plan, due: Due, settings: Settings) -> dict[str, Any] | None:
    """The review meeting a runbook names: its window's quarter's; for an urgent dependency
    the next one, and only when it comes by the latest safe date (it is not waited for)."""
    if due.window is not None:
        meeting = review_meeting(due.window.quarter, settings.review, settings.tz)
    elif due.urgent and due.deadline is not None:
        meeting = review_meeting(plan.current_quarter, settings.review, settings.tz)
        if meeting.start.date() < plan.as_of:
            meeting = review_meeting(plan.current_quarter.shift(1), settings.review, settings.tz)
        if meeting.start.date() > due.deadline:
            return None
    else:
        return None
    return {
        "date": meeting.start.date().isoformat(),
        "start": meeting.start.strftime("%H:%M"),
        "end": meeting.end.strftime("%H:%M"),
        "timezone": settings.timezone,
    }


def _reach(suite: SuiteSize | None, dep: Dependency) -> dict[str, Any] | None:
    """What the suite can show against its margin whatever the models do (`SuiteReach`),
    with `shortfall`: why it can never PASS and how many cases it needs, or None."""
    if suite is None or suite.cases is None or dep.eval is None:
        return None
    reach = suite_reach(suite.cases, dep.gates.pass_rate_drop, dep.eval.samples)
    return {**_fields(reach), "shortfall": reach.shortfall()}


def runbook_context(
    ws: Workspace,
    plan: Plan,
    due: Due,
    suite: SuiteSize | None,
    *,
    health: SuiteHealth | None = None,
    quarter_given: bool = False,
    filed_under: Quarter | None = None,
    elsewhere: str | None = None,
    cost: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The template context of `due`'s runbook (documented in templates/README.md).

    `quarter_given`: whether `--quarter` was given (the runbook names the command as run).
    A runbook of a dependency that is no longer due gets a `due` with no reasons, the
    quarter it is `filed_under`, and where its runbook now is if it is due `elsewhere`.
    """
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
    quarter = filed_under or plan.filed_under(due)
    still_due = bool(due.reasons)
    plan_command = "migrate plan" + (f" --quarter {plan.quarter}" if quarter_given else "")
    days_to_retirement = (model.retires - as_of).days if model.retires else None
    days_to_deadline = (due.deadline - as_of).days if due.deadline else None

    return {
        "quarter": str(quarter),
        "as_of": as_of.isoformat(),
        "runbook": runbook_path(quarter, dep_id),
        "runs_dir": runs_folder(run_quarter(as_of, registry, dep_id), dep_id),
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
        "due": still_due,
        "no_longer_due": None if still_due else no_longer_due(as_of, quarter, elsewhere),
        "elsewhere": elsewhere,
        "urgent": due.urgent,
        "urgency": urgency(due, as_of, settings.safety_margin_days),
        "reasons": [
            {
                "name": str(reason),
                "text": explain(
                    reason, due=due, dep=dep, facts=facts, registry=registry, as_of=as_of
                ),
            }
            for reason in due.reasons
        ],
        "window": (
            None
            if due.window is None
            else {
                "quarter": str(due.window.quarter),
                "start": due.window.start.isoformat(),
                "end": due.window.end.isoformat(),
                "opens_in": days_phrase((due.window.start - as_of).days),
            }
        ),
        "review": _review(plan, due, settings),
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
                "reach": _reach(suite, dep),
                "health": None if health is None else _health_json(health),
                "health_lines": suite_lines(health),
            }
        ),
        "baseline": {
            "date": facts.last_baseline.isoformat() if facts.last_baseline else None,
            "age_days": (as_of - facts.last_baseline).days if facts.last_baseline else None,
            "max_age_days": settings.baseline_max_age_days,
        },
        "last_run": (None if last_run is None else _run(last_run, _relative(last_run, ws))),
        "gates": gates_in_words(dep.gates),
        "cost": cost,  # DependencyCost.to_json(): the estimated cost, the projected monthly
        "commands": {
            "run": f"migrate run {dep_id}{registry_option}",
            "report": report_command,
            "signoff": _signoff_command(dep_id, owners, registry_option),
            "report_usage": f"migrate report RUN_ID{registry_option}",
            "plan": f"{plan_command}{registry_option}",
        },
        "settings": {
            "safety_margin_days": settings.safety_margin_days,
            "baseline_max_age_days": settings.baseline_max_age_days,
            "owner_inactive_days": settings.owner_inactive_days,
            "suite_max_age_days": settings.suite_max_age_days,
        },
        "markers": {
            "facts_begin": FACTS_BEGIN,
            "facts_end": FACTS_END,
            "signoffs": SIGNOFFS_MARKER,
        },
    }


def _health_json(health: SuiteHealth) -> dict[str, Any]:
    found = _fields(health)
    for key in ("newest_case", "newest_production_case"):
        found[key] = found[key].isoformat() if found[key] else None
    return found


def _fields(facts: SuiteHealth | SuiteReach) -> dict[str, Any]:
    """A flat dataclass of plain values as a dict: `asdict` without its deep copy, which
    cost more than the rest of a runbook's facts."""
    return {f.name: getattr(facts, f.name) for f in fields(facts)}


def _relative(run: RunRecord, ws: Workspace) -> str:
    try:
        return run.directory.relative_to(ws.root).as_posix()
    except ValueError:
        return run.directory.as_posix()
