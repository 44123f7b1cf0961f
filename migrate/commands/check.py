"""`migrate check`: validate the registry and flag retirements that need action.

Fit for a pre-commit hook: reads the registry, the files it names and the stored
sign-offs, nothing else (no git history walk, no litellm). A suite or prompt that
`migrate run` would refuse is found here, before the commit, not in the quarterly run.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import asdict
from pathlib import Path

from migrate.console import print_json, say, warn
from migrate.errors import ExitCode, InputError, Problem
from migrate.history.git import GitFacts
from migrate.history.runs import read_runs
from migrate.registry.load import Registry, load_registry
from migrate.schedule.findings import Level, retirement_findings
from migrate.workspace import dependency_facts

_USES_EXPECTED = re.compile(r"\{\{-?\s*expected\b")


def suite_problems(registry: Registry) -> list[Problem]:
    """What `migrate run` would refuse in each dependency's suite and prompts: a suite that
    does not parse, a prompt that does not compile, a case missing a variable its prompt
    uses, a case with no checks, or no `expected` for a check that uses one."""
    from migrate.evals.prompt import PromptTemplate
    from migrate.evals.suite import load_suite

    problems: list[Problem] = []
    for dep in registry.dependencies.values():
        try:
            prompts = [
                PromptTemplate.from_file(registry.root / name, str(registry.root / name))
                for name in dep.prompt_files
            ]
            if dep.eval is None:
                continue
            display = str(registry.root / dep.eval.cases)
            suite = load_suite(registry.root / dep.eval.cases, display)
            uses_expected = [
                str(c.value) for c in dep.eval.checks if _USES_EXPECTED.search(str(c.value))
            ]
            for case in suite.cases:
                if not dep.eval.checks and not case.checks:
                    message = (
                        f"case '{case.id}' has no checks: add eval.checks to the registry "
                        "or checks to the case"
                    )
                    problems.append(Problem(display, case.line, "checks", message))
                if uses_expected and case.expected is None:
                    message = f"case '{case.id}' has no 'expected' for {uses_expected[0]!r}"
                    problems.append(Problem(display, case.line, "expected", message))
                variables = case.vars
                if "expected" not in variables:
                    variables = {**variables, "expected": case.expected}
                for prompt in prompts:
                    prompt.render(variables, case.id, case.line, display)
        except InputError as exc:
            problems.extend(exc.problems)
    return problems


def run(registry_path: Path, today: dt.date, as_json: bool) -> int:
    registry = load_registry(registry_path)
    problems = suite_problems(registry)
    if problems:
        raise InputError(problems)
    facts = dependency_facts(registry, read_runs(registry.root), GitFacts(False), today)
    found = retirement_findings(registry, facts, today)
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
            f"{registry.display_path()}: {len(registry.dependencies)} dependencies, "
            f"{len(registry.models)} models, {len(errors)} errors, "
            f"{len(found) - len(errors)} warnings"
        )
    return ExitCode.FAIL if errors else ExitCode.OK
