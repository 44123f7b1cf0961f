"""A suite's health: its size against what its margin needs, the age of its cases, and the
share of cases that have never told two models apart.

- Size: `power.suite_reach`, the one place that says how many cases a margin needs (with
  no disagreement over n cases the 95% interval still reaches z^2 / (n + z^2) below zero,
  so n must exceed z^2 / margin - z^2: 189 at 0.02).
- A case's date is its `provenance.imported`, else the suite file's last commit (the newest
  a case without provenance can be); the newest case is the newest of those dates, and
  `newest_production_case` counts imported cases only. A case with neither (no provenance
  and the file outside git or never committed) is undated: then the newest case is only a
  lower bound and the suite is never called stale.
- A case has told two models apart when, in some stored run of the dependency, its outcome
  (pass fraction) differed between two of the run's models; only runs that scored a case on
  at least two models count.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from migrate.console import plural
from migrate.errors import MigrateError
from migrate.evals.power import cases_to_rule_out, suite_reach
from migrate.evals.suite import Case, load_suite
from migrate.history.runs import RunRecord
from migrate.registry.load import Registry
from migrate.schedule.due import suite_is_stale

if TYPE_CHECKING:
    from migrate.evals.record import Summary

PROVENANCE, GIT = "provenance", "git"


@dataclass(frozen=True)
class SuiteHealth:
    path: str
    cases: int | None
    margin: float
    cases_needed: int | None  # the fewest that rule out the margin (None: a margin of 0)
    production_cases: int
    newest_case: dt.date | None
    newest_case_from: str | None  # provenance | git
    age_days: int | None  # of the newest case
    newest_production_case: dt.date | None
    never_told_apart: float | None  # share of the cases seen in a stored run
    cases_in_runs: int
    problem: str | None = None
    samples: int = 1
    # With perfect agreement on every case (whatever K): below the margin, or it never PASSes.
    smallest_drop_ruled_out: float | None = None
    can_pass: bool | None = None
    shortfall: str | None = None  # why it can never PASS and how many cases it needs
    runs_compared: int = 0  # stored runs `never_told_apart` is based on
    undated_cases: int = 0  # cases with neither provenance nor a commit of the file
    max_age_days: int | None = None  # settings.suite_max_age_days
    stale: bool | None = None  # no case younger than max_age_days; None when unknown


@dataclass(frozen=True)
class CaseDates:
    """When a suite's cases were added, as far as provenance and git can tell."""

    newest: dt.date | None
    source: str | None  # provenance | git: where the newest date comes from
    production: int  # cases with a `provenance.imported` date
    newest_production: dt.date | None
    undated: int  # cases with no date at all

    def age_days(self, on: dt.date) -> int | None:
        return (on - self.newest).days if self.newest else None


def imported_on(case: Case) -> dt.date | None:
    """The day a case was imported from production traffic (`provenance.imported`)."""
    stamp = (case.provenance or {}).get("imported")
    return dt.date.fromisoformat(stamp) if isinstance(stamp, str) else None


def case_dates(cases: Iterable[Case], last_commit: dt.date | None) -> CaseDates:
    """Each case dated by its provenance, else by the suite file's `last_commit`."""
    imported, undated, by_git = [], 0, False
    for case in cases:
        day = imported_on(case)
        if day is not None:
            imported.append(day)
        elif last_commit is not None:
            by_git = True
        else:
            undated += 1
    newest_import = max(imported, default=None)
    newest, source = newest_import, PROVENANCE if newest_import else None
    if by_git and last_commit is not None and (newest is None or last_commit > newest):
        newest, source = last_commit, GIT
    return CaseDates(newest, source, len(imported), newest_import, undated)


def file_dates(last_commit: dt.date | None, cases: int = 1) -> CaseDates:
    """The dates of a suite whose format carries no provenance (a promptfoo YAML suite):
    every case is as new as the file's last commit."""
    if last_commit is None:
        return CaseDates(None, None, 0, None, cases)
    return CaseDates(last_commit, GIT, 0, None, 0)


def is_stale(dates: CaseDates, on: dt.date, max_age_days: int) -> bool | None:
    """`schedule.due.suite_is_stale`; None when a case's date cannot be known (or the suite
    has none)."""
    if dates.undated or dates.newest is None:
        return None
    return suite_is_stale(dates.newest, on, max_age_days)


@dataclass(frozen=True)
class ToldApart:
    seen: frozenset[str]  # cases scored on at least two models of some run
    differed: frozenset[str]  # ... whose outcome differed between two of them
    runs: int  # runs that scored at least one case on two models


def told_apart(summaries: Iterable[Summary]) -> ToldApart:
    """Which cases the stored runs compared, and which of them told two models apart."""
    seen: set[str] = set()
    differed: set[str] = set()
    runs = 0
    for summary in summaries:
        by_case: dict[str, list[float]] = {}
        for outcomes in summary.outcomes.values():
            for case, value in outcomes.items():
                if value is not None:
                    by_case.setdefault(case, []).append(value)
        compared = {case: values for case, values in by_case.items() if len(values) > 1}
        runs += bool(compared)
        seen |= set(compared)
        differed |= {case for case, values in compared.items() if len(set(values)) > 1}
    return ToldApart(frozenset(seen), frozenset(differed), runs)


def stored_summaries(runs: Iterable[RunRecord]) -> list[Summary]:
    """The readable summaries of `runs` (a run known only by its sign-off has none)."""
    runs = list(runs)
    if not runs:  # the run record's models are imported only where there are runs
        return []
    from migrate.evals.record import read_summary, try_read

    found = (try_read(read_summary, run.directory) for run in runs)
    return [summary for summary in found if summary is not None]


def health_of(
    path: str,
    cases: Sequence[Case],
    margin: float,
    samples: int,
    summaries: Iterable[Summary],
    today: dt.date,
    last_commit: dt.date | None,
    max_age_days: int | None = None,
) -> SuiteHealth:
    """The health of a suite of `cases` as of `today`, against the runs' `summaries`."""
    dates = case_dates(cases, last_commit)
    history = told_apart(summaries)
    seen = history.seen & {case.id for case in cases}
    reach = suite_reach(len(cases), margin, samples)
    return SuiteHealth(
        path=path,
        cases=len(cases),
        margin=margin,
        cases_needed=reach.cases_needed,
        production_cases=dates.production,
        newest_case=dates.newest,
        newest_case_from=dates.source,
        age_days=dates.age_days(today),
        newest_production_case=dates.newest_production,
        never_told_apart=len(seen - history.differed) / len(seen) if seen else None,
        cases_in_runs=len(seen),
        samples=samples,
        smallest_drop_ruled_out=reach.smallest_drop_ruled_out,
        can_pass=reach.can_pass,
        shortfall=reach.shortfall(),
        runs_compared=history.runs,
        undated_cases=dates.undated,
        max_age_days=max_age_days,
        stale=None if max_age_days is None else is_stale(dates, today, max_age_days),
    )


def read_cases(path: Path, display: str) -> tuple[Case, ...] | str:
    """A suite's cases, or the first line of why they cannot be read."""
    try:
        return load_suite(path, display).cases
    except MigrateError as exc:
        return exc.message.splitlines()[0]


def suite_health(
    registry: Registry,
    dependency: str,
    runs: list[RunRecord],
    today: dt.date,
    last_commit: dt.date | None,
    *,
    cases: tuple[Case, ...] | str | None = None,
) -> SuiteHealth | None:
    """The health of `dependency`'s suite; None when it has no eval suite. `cases`: its
    `read_cases` when already read (many dependencies may share a suite)."""
    entry = registry.dependencies[dependency]
    if entry.eval is None:
        return None
    margin = entry.gates.pass_rate_drop
    max_age = registry.settings.suite_max_age_days
    if cases is None:
        cases = read_cases(registry.root / entry.eval.cases, entry.eval.cases)
    if isinstance(cases, str):
        needed = cases_to_rule_out(margin) if margin > 0 else None
        return SuiteHealth(
            entry.eval.cases, None, margin, needed, 0, None, None, None, None, None, 0,
            problem=cases, samples=entry.eval.samples, max_age_days=max_age,
        )  # fmt: skip
    return health_of(
        entry.eval.cases,
        cases,
        margin,
        entry.eval.samples,
        stored_summaries(runs),
        today,
        last_commit,
        max_age,
    )


def suite_lines(health: SuiteHealth | None) -> dict[str, str] | None:
    """The suite's health in finished sentences: size against need, newest case, newest
    production case, and the cases that never told two models apart."""
    if health is None or health.cases is None:
        return None
    margin = f"{health.margin * 100:g}-point"
    if health.cases_needed is None:
        size = f"{health.cases} cases; a margin of 0 cannot be ruled out by any suite"
    elif health.can_pass:
        size = f"{health.cases} cases, enough: its {margin} margin needs {health.cases_needed}"
    else:
        size = (
            f"{health.cases} cases, too few: its {margin} margin needs {health.cases_needed}, "
            f"so it can never PASS"
        )
    if health.newest_case is None:
        newest = (
            f"unknown: {plural(health.undated_cases, 'case')} without provenance, and the "
            "suite file has no commit"
        )
    else:
        where = "imported" if health.newest_case_from == PROVENANCE else "the file's last commit"
        newest = f"{health.newest_case} ({where}), {plural(health.age_days or 0, 'day')} old"
        if health.undated_cases:
            newest += f"; {plural(health.undated_cases, 'case')} cannot be dated"
        if health.max_age_days is not None:
            newest += f"; the limit is {plural(health.max_age_days, 'day')}"
    production = (
        f"{health.newest_production_case} ({health.production_cases} of {health.cases} cases "
        "imported)"
        if health.newest_production_case
        else "none: no case was imported from production traffic"
    )
    if health.never_told_apart is None:
        apart = "not known yet: no stored run scored its cases on two models"
    else:
        never = round(health.never_told_apart * health.cases_in_runs)
        apart = (
            f"{never} of the {plural(health.cases_in_runs, 'case')} compared "
            f"({health.never_told_apart:.0%}), over {plural(health.runs_compared, 'stored run')}"
        )
    return {"size": size, "newest": newest, "production": production, "never_told_apart": apart}
