"""Which dependencies are due in a migration window, and why. Pure: facts and today in."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from migrate.registry.load import Registry
from migrate.registry.schema import Dependency, Settings
from migrate.schedule.quarters import (
    Quarter,
    Window,
    migration_window,
    next_window,
    window_for_retirement,
)


class Reason(StrEnum):
    RETIRING = "retiring"  # the model has an announced retirement date
    OVERDUE = "overdue"  # the retirement date has passed and nothing was approved
    STALE_BASELINE = "stale_baseline"  # no baseline, or older than baseline_max_age_days
    NO_ACTIVE_OWNER = "no_active_owner"  # nobody who owns it has committed lately
    REPLACEMENT_AVAILABLE = "replacement_available"  # the named replacement is unevaluated
    STALE_SUITE = "stale_suite"  # no case of the suite is younger than suite_max_age_days


@dataclass(frozen=True)
class DependencyFacts:
    """What history says about one dependency; None where it cannot be known."""

    last_baseline: dt.date | None = None  # latest run whose baseline is the current model
    evaluated_models: frozenset[str] = frozenset()  # candidates run against the current model
    approved: bool = False  # an approved sign-off exists for a run on the current model
    owner_last_commit: Mapping[str, dt.date | None] | None = None  # None: no git history
    inactive_prompt_authors: tuple[str, ...] = ()  # non-owners who last changed a prompt
    # The suite's newest case (provenance, else the file's last commit); None when there is
    # no readable suite or a case's date cannot be known.
    newest_case: dt.date | None = None
    newest_case_from: str | None = None  # provenance | git


@dataclass(frozen=True)
class Due:
    dependency: str
    model: str
    reasons: tuple[Reason, ...]
    urgent: bool  # no window fits before the latest safe date: due now
    window: Window | None  # the window it is due in; None when urgent (it is due now)
    retires: dt.date | None
    deadline: dt.date | None  # the latest safe date: retires - safety_margin_days
    owners: tuple[str, ...] = field(default=())


def baseline_is_stale(last_baseline: dt.date | None, on: dt.date, max_age_days: int) -> bool:
    return last_baseline is None or (on - last_baseline).days > max_age_days


def suite_is_stale(newest_case: dt.date | None, on: dt.date, max_age_days: int) -> bool:
    """True when the suite's newest case is known and none is younger than `max_age_days`."""
    return newest_case is not None and (on - newest_case).days >= max_age_days


def owners_inactive(
    owner_last_commit: Mapping[str, dt.date | None] | None, today: dt.date, inactive_days: int
) -> bool:
    """True when git history exists and no owner committed within `inactive_days`."""
    if owner_last_commit is None:
        return False
    return all(
        last is None or (today - last).days > inactive_days for last in owner_last_commit.values()
    )


def is_urgent(registry: Registry, model_id: str, as_of: dt.date) -> bool:
    """Whether a dependency on `model_id` is due now: its model retires and no migration
    window ends by the latest safe date (or the model has already retired)."""
    settings = registry.settings
    retires = registry.model(model_id).retires
    if retires is None:
        return False
    if as_of >= retires:
        return True
    fits = window_for_retirement(as_of, retires, settings.window, settings.safety_margin_days)
    return fits is None


def assess(
    dep_id: str,
    dep: Dependency,
    registry: Registry,
    facts: DependencyFacts,
    as_of: dt.date,
) -> Due | None:
    """The dependency's due entry for the first window starting on or after `as_of`, or,
    when that window ends after its latest safe date, due now (urgent, no window)."""
    settings: Settings = registry.settings
    model = registry.model(dep.model)
    window = next_window(as_of, settings.window)
    reasons: list[Reason] = []
    urgent = False
    deadline = None
    if model.retires is not None:
        deadline = model.retires - dt.timedelta(days=settings.safety_margin_days)
        urgent = is_urgent(registry, dep.model, as_of)
        if as_of >= model.retires and not facts.approved:
            reasons.append(Reason.OVERDUE)
        else:
            reasons.append(Reason.RETIRING)
    # An urgent migration happens now, so its baseline's age counts as of now.
    baselined_by = as_of if urgent else window.start
    if baseline_is_stale(facts.last_baseline, baselined_by, settings.baseline_max_age_days):
        reasons.append(Reason.STALE_BASELINE)
    # The contract's reason is "no owner is active"; a departed non-owner who last touched
    # the prompt is a fact for the runbook, not a reason to migrate while an owner is here.
    if owners_inactive(facts.owner_last_commit, as_of, settings.owner_inactive_days):
        reasons.append(Reason.NO_ACTIVE_OWNER)
    if model.replacement and model.replacement not in facts.evaluated_models:
        reasons.append(Reason.REPLACEMENT_AVAILABLE)
    # Like the baseline, the suite is judged as of the migration it will be run for.
    if suite_is_stale(facts.newest_case, baselined_by, settings.suite_max_age_days):
        reasons.append(Reason.STALE_SUITE)
    if not reasons:
        return None
    return Due(
        dependency=dep_id,
        model=dep.model,
        reasons=tuple(reasons),
        urgent=urgent,
        window=None if urgent else window,
        retires=model.retires,
        deadline=deadline,
        owners=tuple(dep.owners),
    )


@dataclass(frozen=True)
class Plan:
    quarter: Quarter
    window: Window
    as_of: dt.date  # the day the plan is evaluated at: today, or the window's start if later
    due: list[Due]
    today: dt.date

    @property
    def plannable(self) -> bool:
        """False when the window has already opened: nothing is left to plan in it."""
        return self.window.start >= self.today

    @property
    def current_quarter(self) -> Quarter:
        """The quarter of the plan's day: where an urgent dependency's runbook is filed."""
        return Quarter.containing(self.as_of)

    def filed_under(self, due: Due) -> Quarter:
        """The quarter whose folder holds `due`'s runbook: the plan's, or the current
        quarter for an urgent dependency (it is due now, not in the plan's window)."""
        return self.current_quarter if due.urgent else self.quarter


def default_quarter(today: dt.date, registry: Registry) -> Quarter:
    """The quarter of the next migration window."""
    return next_window(today, registry.settings.window).quarter


def plan_quarter(
    registry: Registry,
    facts: Mapping[str, DependencyFacts],
    today: dt.date,
    quarter: Quarter,
) -> Plan:
    """What is due in `quarter`'s window if nothing changes before it.

    For the next window this is today's view; a later quarter is projected to its window's
    start. A window that has already opened has nothing left to plan.
    """
    window = migration_window(quarter, registry.settings.window)
    as_of = today if window == next_window(today, registry.settings.window) else window.start
    due: list[Due] = []
    if window.start >= today:
        for dep_id, dep in registry.dependencies.items():
            entry = assess(dep_id, dep, registry, facts.get(dep_id, DependencyFacts()), as_of)
            if entry is not None:
                due.append(entry)
    due.sort(key=lambda d: (not d.urgent, d.deadline or dt.date.max, d.dependency))
    return Plan(quarter=quarter, window=window, as_of=as_of, due=due, today=today)


def first_due_windows(
    registry: Registry,
    facts: Mapping[str, DependencyFacts],
    today: dt.date,
    quarters: list[Quarter],
) -> dict[Quarter, list[Due]]:
    """Each due dependency in the earliest of `quarters` whose window it is due in."""
    placed: set[str] = set()
    result: dict[Quarter, list[Due]] = {}
    for quarter in sorted(quarters):
        entries = []
        for entry in plan_quarter(registry, facts, today, quarter).due:
            if entry.dependency not in placed:
                placed.add(entry.dependency)
                entries.append(entry)
        result[quarter] = entries
    return result
