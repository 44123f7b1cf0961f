"""A suite's health: its size against what its margin needs, the age of its cases, and the
share of cases that have never told two models apart.

- `cases_needed`: the smallest suite that can PASS at the dependency's `pass_rate_drop` when
  the models agree on every case: with no disagreement over n cases the 95% interval still
  reaches z^2 / (n + z^2) below zero, so n must exceed z^2 / margin - z^2 (189 at 0.02).
- The newest case's date is the newest `provenance.imported` of the suite's cases, else the
  suite file's last commit; `newest_production_case` counts imported cases only.
- A case has told two models apart when, in some stored run of the dependency, its outcome
  (pass fraction) differed between two of the run's models.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from migrate.errors import MigrateError
from migrate.evals.power import cases_to_rule_out, suite_reach
from migrate.evals.record import read_summary, try_read
from migrate.evals.suite import Case, load_suite
from migrate.history.runs import RunRecord
from migrate.registry.load import Registry


@dataclass(frozen=True)
class SuiteHealth:
    path: str
    cases: int | None
    margin: float
    cases_needed: int
    production_cases: int
    newest_case: dt.date | None
    newest_case_from: str | None  # provenance | git
    age_days: int | None
    newest_production_case: dt.date | None
    never_told_apart: float | None  # share of the cases seen in a stored run
    cases_in_runs: int
    problem: str | None = None
    samples: int = 1
    # With perfect agreement on every case (whatever K): below the margin, or it never PASSes.
    smallest_drop_ruled_out: float | None = None
    can_pass: bool | None = None
    shortfall: str | None = None  # why it can never PASS and how many cases it needs


def cases_needed(margin: float) -> int:
    """The fewest cases whose perfect agreement bounds a drop inside `margin` (95%)."""
    return cases_to_rule_out(margin) if margin > 0 else 0


def _imported(case: Case) -> dt.date | None:
    stamp = (case.provenance or {}).get("imported")
    try:
        return dt.date.fromisoformat(stamp) if isinstance(stamp, str) else None
    except ValueError:
        return None


def told_apart(runs: list[RunRecord]) -> tuple[set[str], set[str]]:
    """(cases seen in a stored run's outcomes, cases whose outcome differed between models)."""
    seen: set[str] = set()
    differed: set[str] = set()
    for run in runs:
        summary = try_read(read_summary, run.directory)
        if summary is None:
            continue
        by_case: dict[str, set[float]] = {}
        for outcomes in summary.outcomes.values():
            for case, value in outcomes.items():
                if value is not None:
                    by_case.setdefault(case, set()).add(value)
        seen |= set(by_case)
        differed |= {case for case, values in by_case.items() if len(values) > 1}
    return seen, differed


def suite_health(
    registry: Registry,
    dependency: str,
    runs: list[RunRecord],
    today: dt.date,
    last_commit: dt.date | None,
) -> SuiteHealth | None:
    """The health of `dependency`'s suite; None when it has no eval suite."""
    entry = registry.dependencies[dependency]
    if entry.eval is None:
        return None
    path = registry.root / entry.eval.cases
    margin = entry.gates.pass_rate_drop
    try:
        cases = list(load_suite(path, entry.eval.cases).cases)
    except MigrateError as exc:
        return SuiteHealth(
            entry.eval.cases, None, margin, cases_needed(margin), 0, None, None, None, None,
            None, 0, problem=exc.message.splitlines()[0],
        )  # fmt: skip
    imported = [day for day in map(_imported, cases) if day is not None]
    newest = max(imported) if imported else None
    source = "provenance" if newest else None
    if newest is None and last_commit is not None:
        newest, source = last_commit, "git"
    ids = {case.id for case in cases}
    seen, differed = told_apart(runs)
    seen &= ids
    reach = suite_reach(len(cases), margin, entry.eval.samples)
    return SuiteHealth(
        path=entry.eval.cases,
        cases=len(cases),
        margin=margin,
        cases_needed=cases_needed(margin),
        production_cases=len(imported),
        newest_case=newest,
        newest_case_from=source,
        age_days=(today - newest).days if newest else None,
        newest_production_case=max(imported) if imported else None,
        never_told_apart=len(seen - differed) / len(seen) if seen else None,
        cases_in_runs=len(seen),
        samples=entry.eval.samples,
        smallest_drop_ruled_out=reach.smallest_drop_ruled_out,
        can_pass=reach.can_pass,
        shortfall=reach.shortfall(),
    )
