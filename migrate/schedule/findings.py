"""What `migrate check` says about the registry on a given day. Pure: registry, facts, today.

Errors: a retirement that has passed or is inside the safety margin with no approved
migration. Warnings: a retirement within the warning horizon (the earliest reminder), a
retiring model with no candidates, a dependency with no eval suite, a replacement that is
not under `models`, and a suite too small for its margin ever to PASS.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from migrate.console import plural
from migrate.evals.power import suite_reach
from migrate.registry.load import Registry
from migrate.schedule.due import DependencyFacts

DEFAULT_HORIZON_DAYS = 60  # the warning horizon when no reminders are set


class Level(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Finding:
    level: Level
    dependency: str | None
    model: str | None
    line: int | None  # of the registry
    message: str


def retirement_findings(
    registry: Registry, facts: Mapping[str, DependencyFacts], today: dt.date
) -> list[Finding]:
    """Errors and warnings by dependency in registry order, then by model."""
    settings = registry.settings
    margin = dt.timedelta(days=settings.safety_margin_days)
    horizon = max(settings.reminders_days, default=DEFAULT_HORIZON_DAYS)
    out: list[Finding] = []
    for dep_id, dep in registry.dependencies.items():
        model = registry.model(dep.model)
        line = registry.line_of("dependencies", dep_id, "model")
        approved = facts.get(dep_id, DependencyFacts()).approved
        if model.retires is not None:
            days_left = (model.retires - today).days
            if days_left < 0:
                when = f"retired on {model.retires} ({plural(-days_left, 'day')} ago)"
            elif days_left == 0:
                when = f"retires today ({model.retires})"
            else:
                when = f"retires on {model.retires} ({plural(days_left, 'day')} left)"
            if today >= model.retires - margin and not approved:
                out.append(
                    Finding(
                        Level.ERROR,
                        dep_id,
                        dep.model,
                        line,
                        f"{dep.model} {when}, inside the {settings.safety_margin_days}-day safety "
                        f"margin, and no migration is approved: run `migrate run {dep_id}` and "
                        f"`migrate signoff {dep_id}`",
                    )
                )
            elif days_left <= horizon:
                out.append(Finding(Level.WARNING, dep_id, dep.model, line, f"{dep.model} {when}"))
            if not dep.candidates:
                out.append(
                    Finding(
                        Level.WARNING,
                        dep_id,
                        dep.model,
                        registry.line_of("dependencies", dep_id),
                        f"{dep.model} has a retirement date but no candidates",
                    )
                )
        if dep.eval is None:
            out.append(
                Finding(
                    Level.WARNING,
                    dep_id,
                    dep.model,
                    registry.line_of("dependencies", dep_id),
                    "no eval suite: a migration cannot be measured",
                )
            )
    for name, model in registry.models.items():
        if model.replacement and model.replacement not in registry.models:
            out.append(
                Finding(
                    Level.WARNING,
                    None,
                    name,
                    registry.line_of("models", name, "replacement"),
                    f"replacement '{model.replacement}' is not under 'models'",
                )
            )
    return out


def suite_reach_findings(registry: Registry, sizes: Mapping[str, int]) -> list[Finding]:
    """A warning for each dependency whose suite (`sizes`: cases by dependency) is too
    small for its pass_rate_drop: even if the models agreed on every case, its interval
    could not rule out a drop that large, so it can only ever be INCONCLUSIVE."""
    out: list[Finding] = []
    for dep_id, dep in registry.dependencies.items():
        if dep.eval is None or dep_id not in sizes:
            continue
        reach = suite_reach(sizes[dep_id], dep.gates.pass_rate_drop, dep.eval.samples)
        message = reach.shortfall()
        if message is None:
            continue
        if dep.eval.cases.endswith(".jsonl"):
            message += f" (`migrate cases import {dep_id} FILE` adds logged requests)"
        line = registry.line_of("dependencies", dep_id, "gates", "pass_rate_drop")
        line = line or registry.line_of("dependencies", dep_id, "eval", "cases")
        out.append(Finding(Level.WARNING, dep_id, dep.model, line, message))
    return out
