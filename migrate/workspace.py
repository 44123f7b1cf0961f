"""A workspace: the registry plus what history says about it, gathered at the edges."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from migrate.cases.health import CaseDates, case_dates, file_dates, read_cases
from migrate.errors import MigrateError
from migrate.evals.suite import Case, count_cases
from migrate.history.git import GitFacts, read_git_facts
from migrate.history.runs import RunRecord, read_runs, runs_by_dependency
from migrate.registry.load import Registry, load_registry
from migrate.schedule.due import DependencyFacts


@dataclass(frozen=True)
class Workspace:
    registry: Registry
    runs: list[RunRecord]
    git: GitFacts
    facts: dict[str, DependencyFacts]
    today: dt.date
    # Suites read while dating their cases, by path: their cases, or why they cannot be read.
    suites: dict[str, tuple[Case, ...] | str] = field(default_factory=dict)

    def suite_cases(self, path: str) -> tuple[Case, ...] | str:
        """`cases.health.read_cases` of the suite at `path`, read once per workspace."""
        if path not in self.suites:
            self.suites[path] = read_cases(self.root / path, path)
        return self.suites[path]

    @property
    def root(self) -> Path:
        return self.registry.root

    def runs_of(self, dependency: str) -> list[RunRecord]:
        return [r for r in self.runs if r.dependency == dependency]


def open_workspace(registry_path: Path, today: dt.date, *, with_git: bool = True) -> Workspace:
    registry = load_registry(registry_path)
    runs = read_runs(registry.root)
    if with_git:
        prompt_paths = [
            registry.root / p for dep in registry.dependencies.values() for p in dep.prompt_files
        ]
        suite_paths = [
            registry.root / d.eval.cases for d in registry.dependencies.values() if d.eval
        ]
        git = read_git_facts(registry.root, prompt_paths + suite_paths, today)
    else:
        git = GitFacts(available=False)
    suites: dict[str, tuple[Case, ...] | str] = {}
    facts = dependency_facts(registry, runs, git, today, suites)
    return Workspace(registry, runs, git, facts, today, suites)


def dependency_facts(
    registry: Registry,
    runs: list[RunRecord],
    git: GitFacts,
    today: dt.date,
    suites: dict[str, tuple[Case, ...] | str] | None = None,
) -> dict[str, DependencyFacts]:
    """What history says about each dependency; the suites it reads are kept in `suites`."""
    suites = {} if suites is None else suites
    inactive_days = registry.settings.owner_inactive_days
    by_dependency = runs_by_dependency(runs)

    def inactive(email: str) -> bool:
        last = git.last_commit_of(email)
        return last is None or (today - last.day).days > inactive_days

    dates: dict[str, CaseDates | None] = {}  # by suite path: a suite may serve many

    def suite_dates(path: str) -> CaseDates | None:
        if path not in dates:
            change = git.last_change_of(registry.root / path) if git.available else None
            last_commit = change.day if change else None
            if Path(path).suffix in {".yaml", ".yml"}:  # promptfoo tests carry no provenance
                dates[path] = file_dates(last_commit)
                return dates[path]
            if path not in suites:
                suites[path] = read_cases(registry.root / path, path)
            cases = suites[path]
            # An unreadable suite has no date here: `migrate check` names its problem.
            dates[path] = None if isinstance(cases, str) else case_dates(cases, last_commit)
        return dates[path]

    facts = {}
    for dep_id, dep in registry.dependencies.items():
        suite = suite_dates(dep.eval.cases) if dep.eval else None
        dated = suite is not None and not suite.undated
        on_model = _baselines_of(by_dependency.get(dep_id, []), dep.model)
        owner_last_commit = None
        prompt_authors: list[str] = []
        if git.available:
            owner_last_commit = {}
            for owner in dep.owners:
                commit = git.last_commit_of(owner)
                owner_last_commit[owner] = commit.day if commit else None
            owners = {o.lower() for o in dep.owners}
            for prompt in dep.prompt_files:
                change = git.last_change_of(registry.root / prompt)
                if change and change.email not in owners and inactive(change.email):
                    prompt_authors.append(change.email)
        facts[dep_id] = DependencyFacts(
            last_baseline=max((r.finished for r in on_model), default=None),
            evaluated_models=frozenset(c for r in on_model for c in r.candidates),
            approved=_approved(on_model),
            owner_last_commit=owner_last_commit,
            inactive_prompt_authors=tuple(sorted(set(prompt_authors))),
            newest_case=suite.newest if suite and dated else None,
            newest_case_from=suite.source if suite and dated else None,
        )
    return facts


def _baselines_of(runs: list[RunRecord], model: str) -> list[RunRecord]:
    """The runs that measured `model` as the baseline: a run that failed on infrastructure
    (ERROR) measured nothing."""
    if not runs:  # the run record's models are imported only where there are runs
        return []
    from migrate.evals.record import Verdict

    return [r for r in runs if r.baseline == model and r.verdict != Verdict.ERROR]


def _approved(runs: list[RunRecord]) -> bool:
    if not runs:
        return False
    from migrate.evals.record import Decision

    return any(r.signoff is not None and r.signoff.decision is Decision.APPROVE for r in runs)


def suite_sizes(registry: Registry) -> dict[str, int]:
    """Cases in each dependency's suite; a suite that cannot be read is left out (`migrate
    check` names its problem)."""
    sizes = {}
    for dep_id, dep in registry.dependencies.items():
        if dep.eval is not None:
            try:
                sizes[dep_id] = count_cases(registry.root / dep.eval.cases)
            except (MigrateError, OSError, UnicodeDecodeError):
                continue
    return sizes
