"""`migrate check`: validate the registry and flag retirements that need action.

Fit for a pre-commit hook: reads the registry, the files it names and the stored
sign-offs, nothing else (no git history walk, no litellm). A suite or prompt that
`migrate run` would refuse is found here, before the commit, not in the quarterly run.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path

from migrate.console import plural, print_json, say, warn
from migrate.errors import ExitCode, InputError, Problem
from migrate.history.git import GitFacts
from migrate.history.runs import read_runs
from migrate.registry.load import Registry, load_registry
from migrate.schedule.findings import (
    Finding,
    Level,
    retirement_findings,
    suite_reach_findings,
)
from migrate.workspace import dependency_facts


def suite_problems(registry: Registry, sizes: dict[str, int] | None = None) -> list[Problem]:
    """What `migrate run` would refuse in each dependency's suite and prompts: a suite that
    does not parse, a prompt that does not compile, a case missing a variable its prompt
    uses, a case with no checks, or no `expected` for a check that uses one. `sizes` gets
    the number of cases of each suite that reads."""
    from migrate.evals.inputs import suite_inputs
    from migrate.evals.prompt import PromptTemplate

    problems: list[Problem] = []
    for dep_id, dep in registry.dependencies.items():
        try:
            if dep.eval is None:
                for name in dep.prompt_files:
                    PromptTemplate.from_file(registry.root / name, str(registry.root / name))
            else:
                cases = suite_inputs(registry, dep, limit=None).cases
                if sizes is not None:
                    sizes[dep_id] = len(cases)
        except InputError as exc:
            problems.extend(exc.problems)
    return problems


def deep_findings(registry: Registry, environ: Mapping[str, str]) -> list[Finding]:
    """`--deep`: every model of every dependency preflighted as `migrate run` would, no call."""
    from migrate.evals.preflight import dependency_uses, preflight

    found = []
    for dep_id in registry.dependencies:
        line = registry.line_of("dependencies", dep_id)
        for problem in preflight(dependency_uses(registry, dep_id), environ):
            found.append(Finding(Level.ERROR, dep_id, problem.partition(" ")[0], line, problem))
    return found


def run(
    registry_path: Path,
    today: dt.date,
    as_json: bool,
    deep: bool = False,
    environ: Mapping[str, str] | None = None,
) -> int:
    registry = load_registry(registry_path)
    sizes: dict[str, int] = {}
    problems = suite_problems(registry, sizes)
    if problems:
        raise InputError(problems)
    facts = dependency_facts(registry, read_runs(registry.root), GitFacts(False), today)
    found = retirement_findings(registry, facts, today) + suite_reach_findings(registry, sizes)
    if deep:
        found += deep_findings(registry, environ if environ is not None else {})
    errors = [f for f in found if f.level is Level.ERROR]
    if as_json:
        print_json(
            {
                "registry": registry.display_path(),
                "ok": not errors,
                "dependencies": len(registry.dependencies),
                "models": len(registry.models),
                "errors": [asdict(f) for f in errors],
                "warnings": [asdict(f) for f in found if f.level is Level.WARNING],
            }
        )
    else:
        for f in found:
            where = f"{registry.display_path()}:{f.line}" if f.line else registry.display_path()
            subject = f"{f.dependency}: " if f.dependency else ""
            warn(f"{where}: {f.level}: {subject}{f.message}")
        say(
            f"{registry.display_path()}: "
            f"{plural(len(registry.dependencies), 'dependency', 'dependencies')}, "
            f"{plural(len(registry.models), 'model')}, {plural(len(errors), 'error')}, "
            f"{plural(len(found) - len(errors), 'warning')}"
        )
    return ExitCode.FAIL if errors else ExitCode.OK
