"""The sentences of a runbook: why a dependency is due, how urgent it is, what each gate
allows, and days as words. Pure: values in, finished sentences out."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from migrate.console import plural
from migrate.registry.load import Registry
from migrate.registry.schema import Dependency, Gates
from migrate.schedule.due import DependencyFacts, Due, Reason


def days_phrase(days: int) -> str:
    """`in 3 days`, `tomorrow`, `today`, `yesterday`, `3 days ago`."""
    if days == 0:
        return "today"
    if days == 1:
        return "tomorrow"
    if days == -1:
        return "yesterday"
    return f"in {plural(days, 'day')}" if days > 0 else f"{plural(-days, 'day')} ago"


def _points(share: float) -> str:
    points = f"{share * 100:g}"
    return f"{points} percentage point{'' if points == '1' else 's'}"


def gates_in_words(gates: Gates) -> list[dict[str, Any]]:
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
    registry: Registry,
    as_of: dt.date,
) -> str:
    """One sentence saying why `reason` makes the dependency due."""
    settings = registry.settings
    model = registry.model(dep.model)
    margin = plural(settings.safety_margin_days, "day")
    if reason is Reason.OVERDUE and model.retires is not None:
        return (
            f"{dep.model} retired on {model.retires} ({days_phrase((model.retires - as_of).days)})"
            " and no migration off it has an approved sign-off: calls may already be failing."
        )
    if reason in (Reason.RETIRING, Reason.OVERDUE) and model.retires is not None:
        left = plural((model.retires - as_of).days, "day")
        if due.window is not None:
            return (
                f"{dep.model} retires on {model.retires} ({left} left); finishing in the "
                f"{due.window.start} to {due.window.end} window keeps the "
                f"{settings.safety_margin_days}-day safety margin (latest safe date "
                f"{due.deadline})."
            )
        if due.deadline is not None and due.deadline < as_of:
            return (
                f"{dep.model} retires on {model.retires} ({left} left) and the latest safe "
                f"date ({due.deadline}, {margin} before) has passed: migrate now."
            )
        return (
            f"{dep.model} retires on {model.retires} ({left} left) and no migration window "
            f"ends {margin} before that: migrate now, by {due.deadline}."
        )
    if reason is Reason.STALE_BASELINE:
        if facts.last_baseline is None:
            return f"No eval run has baselined {dep.model} for this dependency yet."
        limit = f"the limit is {plural(settings.baseline_max_age_days, 'day')}"
        if due.window is None:  # due now: its age counts as of now
            age = plural((as_of - facts.last_baseline).days, "day")
            return (
                f"The last baseline of {dep.model} is from {facts.last_baseline}, {age} old "
                f"on {as_of} ({limit})."
            )
        age = plural((due.window.start - facts.last_baseline).days, "day")
        return (
            f"The last baseline of {dep.model} is from {facts.last_baseline}, {age} old "
            f"when the window opens on {due.window.start} ({limit})."
        )
    if reason is Reason.NO_ACTIVE_OWNER:
        inactive = plural(settings.owner_inactive_days, "day")
        parts = []
        if facts.owner_last_commit is not None and all(
            last is None or (as_of - last).days > settings.owner_inactive_days
            for last in facts.owner_last_commit.values()
        ):
            parts.append(f"No owner has committed to this repository in the last {inactive}.")
        if facts.inactive_prompt_authors:
            who = ", ".join(facts.inactive_prompt_authors)
            parts.append(
                f"The prompt was last changed by {who}, who is not an owner and has not "
                f"committed in {inactive}."
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
    if reason is Reason.STALE_SUITE and facts.newest_case is not None and dep.eval:
        on = as_of if due.window is None else due.window.start  # as the baseline's age
        age = plural((on - facts.newest_case).days, "day")
        when = "on" if due.window is None else "when the window opens on"
        where = (
            "imported from production traffic"
            if facts.newest_case_from == "provenance"
            else "by the suite file's last commit"
        )
        hint = (
            f" (`migrate cases import {due.dependency} FILE` adds logged requests)"
            if dep.eval.cases.endswith(".jsonl")
            else ""
        )
        return (
            f"The newest case of {dep.eval.cases} is from {facts.newest_case} ({where}), "
            f"{age} old {when} {on}: no case is younger than the limit of "
            f"{plural(settings.suite_max_age_days, 'day')}{hint}."
        )
    return f"Due: {reason}."


def urgency(due: Due, as_of: dt.date, margin: int) -> str | None:
    """One sentence for the top of an urgent runbook; None when a window is in time."""
    if not due.urgent:
        return None
    if due.retires is not None and as_of >= due.retires:
        return f"Overdue: the model retired on {due.retires} and no migration is approved."
    if due.deadline is not None and due.deadline < as_of:
        return (
            f"Urgent: the latest safe date ({due.deadline}) passed "
            f"{days_phrase((due.deadline - as_of).days)}. Migrate now: no migration window comes "
            "in time."
        )
    return (
        f"Urgent: no migration window ends {plural(margin, 'day')} before the retirement date. "
        f"Migrate now, by {due.deadline} ({days_phrase((due.deadline - as_of).days)})."
        if due.deadline is not None
        else "Urgent: migrate now."
    )


def no_longer_due(as_of: dt.date, quarter: object, elsewhere: str | None) -> str:
    """The top of a runbook whose dependency is not due in its quarter any more."""
    if elsewhere is not None:
        return f"Not due in {quarter} any more as of {as_of}: its runbook is now `{elsewhere}`."
    return (
        f"No longer due as of {as_of}: nothing in the registry or the run history makes it "
        f"due in {quarter} any more."
    )
