"""`migrate check`: validate the registry and flag retirements that need action.

Fit for a pre-commit hook: reads the registry, the files it names and the stored
sign-offs, nothing else (no git history walk, no litellm). A suite or prompt that
`migrate run` would refuse is found here, before the commit, not in the quarterly run.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from pathlib import Path

from migrate.console import print_json, say, warn
from migrate.errors import ExitCode, InputError, Problem
from migrate.history.git import GitFacts
from migrate.history.runs import read_runs
from migrate.registry.load import Registry, load_registry
from migrate.workspace import dependency_facts


@dataclass(frozen=True)
class Finding:
    level: str  # error | warning
    dependency: str | None
    model: str | None
    line: int | None
    message: str


def findings(registry: Registry, approved: dict[str, bool], today: dt.date) -> list[Finding]:
    """Errors (retirement past or inside the safety margin, nothing approved) and warnings."""
    settings = registry.settings
    margin = dt.timedelta(days=settings.safety_margin_days)
    horizon = max(settings.reminders_days, default=60)
    out: list[Finding] = []
    for dep_id, dep in registry.dependencies.items():
        model = registry.model(dep.model)
        line = registry.line_of("dependencies", dep_id, "model")
        if model.retires is not None:
            days_left = (model.retires - today).days
            when = (
                f"retired on {model.retires} ({-days_left} days ago)"
                if days_left <= 0
                else f"retires on {model.retires} ({days_left} days left)"
            )
            if today >= model.retires - margin and not approved.get(dep_id, False):
                out.append(
                    Finding(
                        "error",
                        dep_id,
                        dep.model,
                        line,
                        f"{dep.model} {when}, inside the {settings.safety_margin_days}-day safety "
                        f"margin, and no migration is approved: run `migrate run {dep_id}` and "
                        f"`migrate signoff {dep_id}`",
                    )
                )
            elif days_left <= horizon:
                out.append(Finding("warning", dep_id, dep.model, line, f"{dep.model} {when}"))
            if not dep.candidates:
                out.append(
                    Finding(
                        "warning",
                        dep_id,
                        dep.model,
                        registry.line_of("dependencies", dep_id),
                        f"{dep.model} has a retirement date but no candidates",
                    )
                )
        if dep.eval is None:
            out.append(
                Finding(
                    "warning",
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
                    "warning",
                    None,
                    name,
                    registry.line_of("models", name, "replacement"),
                    f"replacement '{model.replacement}' is not under 'models'",
                )
            )
    return out


def suite_problems(registry: Registry) -> list[Problem]:
    """What `migrate run` would refuse in each dependency's suite and prompts: a suite that
    does not parse, a prompt that does not compile, a case missing a variable its prompt
    uses, a case with no checks, or no `expected` for a check that uses one."""
    from migrate.evals.inputs import suite_inputs
    from migrate.evals.prompt import PromptTemplate

    problems: list[Problem] = []
    for dep in registry.dependencies.values():
        try:
            if dep.eval is None:
                for name in dep.prompt_files:
                    PromptTemplate.from_file(registry.root / name, str(registry.root / name))
            else:
                suite_inputs(registry, dep, limit=None)
        except InputError as exc:
            problems.extend(exc.problems)
    return problems


def run(registry_path: Path, today: dt.date, as_json: bool) -> int:
    registry = load_registry(registry_path)
    problems = suite_problems(registry)
    if problems:
        raise InputError(problems)
    facts = dependency_facts(registry, read_runs(registry.root), GitFacts(False), today)
    found = findings(registry, {d: f.approved for d, f in facts.items()}, today)
    errors = [f for f in found if f.level == "error"]
    if as_json:
        print_json(
            {
                "registry": registry.display_path(),
                "ok": not errors,
                "dependencies": len(registry.dependencies),
                "models": len(registry.models),
                "errors": [asdict(f) for f in errors],
                "warnings": [asdict(f) for f in found if f.level == "warning"],
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
