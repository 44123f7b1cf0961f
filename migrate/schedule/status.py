"""Each dependency's status on a given day: what `migrate status` shows. Pure.

Everything that decides a dependency's urgency in one record: its retirement and days
left, its latest safe date, its window (none when urgent: it is due now), why it is due,
its last run and sign-off, its baseline's age and whether its owners are active.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from migrate.history.runs import RunRecord
from migrate.registry.load import Registry
from migrate.schedule.due import DependencyFacts, Reason, assess, owners_inactive


class OwnerActivity(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"  # no owner committed within owner_inactive_days
    UNKNOWN = "unknown"  # no git history to tell


@dataclass(frozen=True)
class OwnerStatus:
    email: str
    last_commit: dt.date | None
    days_since: int | None


@dataclass(frozen=True)
class SignoffStatus:
    decision: str
    by: str
    at: dt.date
    run: str


@dataclass(frozen=True)
class DependencyStatus:
    """One dependency; `asdict` of it is an object of `migrate status --json`."""

    dependency: str
    model: str
    retires: dt.date | None
    days_left: int | None
    deadline: dt.date | None  # the latest safe date: retires - safety_margin_days
    days_to_deadline: int | None  # negative once it has passed
    window_start: dt.date | None  # None when not due, or urgent (due now, no window)
    window_end: dt.date | None
    urgent: bool
    reasons: tuple[Reason, ...]
    last_run: str | None
    last_verdict: str | None
    signoff: SignoffStatus | None  # the latest run that has one
    baseline_age_days: int | None
    owners: tuple[OwnerStatus, ...]
    owner_activity: OwnerActivity


def dependency_status(
    registry: Registry,
    facts: Mapping[str, DependencyFacts],
    runs: Sequence[RunRecord],
    today: dt.date,
) -> list[DependencyStatus]:
    """Every dependency in registry order; `runs` oldest first, as history reads them."""
    settings = registry.settings
    by_dependency: dict[str, list[RunRecord]] = {}
    for record in runs:
        by_dependency.setdefault(record.dependency, []).append(record)
    statuses = []
    for dep_id, dep in registry.dependencies.items():
        model = registry.model(dep.model)
        known = facts.get(dep_id, DependencyFacts())
        due = assess(dep_id, dep, registry, known, today)
        window = due.window if due else None
        deadline = (
            model.retires - dt.timedelta(days=settings.safety_margin_days)
            if model.retires
            else None
        )
        dep_runs = by_dependency.get(dep_id, [])
        last_run = dep_runs[-1] if dep_runs else None
        signed = next((r for r in reversed(dep_runs) if r.signoff is not None), None)
        commits = known.owner_last_commit
        owners = []
        for owner in dep.owners:
            day = commits.get(owner) if commits is not None else None
            owners.append(OwnerStatus(owner, day, (today - day).days if day else None))
        if commits is None:
            activity = OwnerActivity.UNKNOWN
        elif owners_inactive(commits, today, settings.owner_inactive_days):
            activity = OwnerActivity.INACTIVE
        else:
            activity = OwnerActivity.ACTIVE
        statuses.append(
            DependencyStatus(
                dependency=dep_id,
                model=dep.model,
                retires=model.retires,
                days_left=(model.retires - today).days if model.retires else None,
                deadline=deadline,
                days_to_deadline=(deadline - today).days if deadline else None,
                window_start=window.start if window else None,
                window_end=window.end if window else None,
                urgent=bool(due and due.urgent),
                reasons=due.reasons if due else (),
                last_run=last_run.run_id if last_run else None,
                last_verdict=last_run.verdict if last_run else None,
                signoff=(
                    SignoffStatus(
                        signed.signoff.decision, signed.signoff.by, signed.signoff.at, signed.run_id
                    )
                    if signed and signed.signoff
                    else None
                ),
                baseline_age_days=(
                    (today - known.last_baseline).days if known.last_baseline else None
                ),
                owners=tuple(owners),
                owner_activity=activity,
            )
        )
    return statuses
