"""A run's inputs from the registry: the suite's cases with their prompts rendered and their
checks resolved, validated before the first call. `migrate run` uses them to start a run;
`migrate check` uses the same validation to report what a run would refuse.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from migrate.errors import InputError, Problem, UsageError
from migrate.evals.case import Case, CheckSpec, check_from_json, check_identity, check_json
from migrate.evals.checks import render_value
from migrate.evals.prompt import PromptTemplate
from migrate.evals.promptfoo.assertions import needs_judge
from migrate.evals.promptfoo.seams import grader_model, graders_needed, prompt_messages
from migrate.evals.suite import load_suite
from migrate.files import relative_to
from migrate.llm import Deployment, Target
from migrate.registry.load import Registry
from migrate.registry.schema import Dependency, Gates
from migrate.schedule.due import is_urgent
from migrate.schedule.quarters import Quarter, migration_window, next_window
from migrate.secrets import redact, register_secret_env

if TYPE_CHECKING:
    from migrate.evals.record import Manifest
    from migrate.evals.record_stages import StagePlan

# The run record and the graders are imported by the functions that start or read a run:
# `migrate check` and `migrate plan` read suites through `suite_inputs` without them.

_USES_EXPECTED = re.compile(r"\{\{-?\s*expected\b")
JUDGED_CHECKS = {"llm_judge", "pairwise"}  # checks the judge model grades


@dataclass(frozen=True)
class RunOptions:
    dependency: str
    candidates: list[str] | None = None
    samples: int | None = None
    concurrency: int | None = None
    timeout: float | None = None
    limit: int | None = None
    resume: str | None = None
    new: bool = False
    use_cache: bool = True
    budget: float | None = None  # USD: refuse a run estimated above it, stop one that reaches it
    batch: bool = False  # through the providers' batch APIs (or settings.run.batch)
    full: bool = False  # every case, even where a sequential run would stop early


@dataclass
class SuiteInputs:
    """A dependency's cases, each with its rendered messages and its checks."""

    cases: list[Case]
    messages: dict[str, list[dict[str, str]]]
    checks_for: dict[str, list[CheckSpec]]
    suite_sha256: str
    cases_in_file: int
    prompt_sha256: str
    base_checks: list[CheckSpec]


@dataclass
class RunInputs:
    """A run's inputs, fresh from the registry or read back from a run directory."""

    manifest: Manifest
    cases: list[Case]
    messages: dict[str, list[dict[str, str]]]  # case id -> rendered messages
    checks_for: dict[str, list[CheckSpec]]  # case id -> the dependency's checks + its own

    def identity(self) -> str:
        """Everything that decides the calls and the verdict; equal means the same run."""
        material = {
            "manifest": self.manifest.identity(),
            "cases": [
                [
                    c.id,
                    self.messages[c.id],
                    c.expected,
                    [check_identity(check_json(s)) for s in self.checks_for[c.id]],
                ]
                for c in self.cases
            ],
        }
        encoded = json.dumps(material, sort_keys=True, ensure_ascii=False, default=str)
        return hashlib.sha256(encoded.encode()).hexdigest()


def run_quarter(today: dt.date, registry: Registry, dependency: str) -> Quarter:
    """The quarter a run is filed under, beside its runbook: today's quarter for an urgent
    dependency (due now), else the window open today, else the next window."""
    if is_urgent(registry, registry.dependencies[dependency].model, today):
        return Quarter.containing(today)
    current = migration_window(Quarter.containing(today), registry.settings.window)
    if current.start <= today <= current.end:
        return current.quarter
    return next_window(today, registry.settings.window).quarter


def target_of(registry: Registry, model: str) -> Target:
    entry = registry.model(model)
    return Target(
        model=model,
        api_base=entry.api_base,
        api_key_env=entry.api_key_env,
        input_cost_per_mtok=entry.input_cost_per_mtok,
        output_cost_per_mtok=entry.output_cost_per_mtok,
        max_concurrency=entry.max_concurrency,
        drop_params=entry.drop_params,
        deployments=tuple(
            Deployment(
                name=redact(d.label),
                api_base=d.api_base or entry.api_base,
                api_key_env=d.api_key_env or entry.api_key_env,
                rpm=d.rpm,
                tpm=d.tpm,
            )
            for d in entry.deployments
        ),
    )


def _stored(target: Target) -> Target:
    """A target as a run records it: a key that slipped into a URL never reaches a file."""
    deployments = tuple(
        dataclasses.replace(d, api_base=redact(d.api_base or "") or None)
        for d in target.deployments
    )
    return dataclasses.replace(
        target, api_base=redact(target.api_base or "") or None, deployments=deployments
    )


def _missing_graders(registry: Registry, graded: list[tuple[int, CheckSpec]]) -> str | None:
    """What a case's graded assertions need that neither their `provider` nor the registry
    names: a judge model for text, an embedding model for `similar` and answer-relevance."""
    if not graded:
        return None
    from migrate.evals.grading import kinds_needed

    settings = registry.settings
    for _, spec in graded:
        for kind in kinds_needed(spec):
            try:
                named = grader_model(spec, kind)
            except ValueError as exc:
                return str(exc)
            key = "judge_model" if kind == "text" else "embedding_model"
            if named is None and getattr(settings, key) is None:
                return (
                    f"{spec.type.removeprefix('promptfoo:')} needs a{'n' * (kind != 'text')} "
                    f"{kind} grader: give the assertion a `provider`, or set settings.{key} "
                    f"in {registry.display_path()}"
                )
    return None


def grader_targets(registry: Registry, checks_for: dict[str, list[CheckSpec]]) -> dict[str, Target]:
    """Every grader the suite's graded assertions name, and the embedding model when one
    relies on it; a named grader the registry knows keeps its key variable and prices."""
    from migrate.evals.grading import EMBEDDING, grader_key, kinds_needed

    targets: dict[str, Target] = {}
    for specs in checks_for.values():
        for spec in specs:
            if not needs_judge(spec):
                continue
            for kind in kinds_needed(spec):
                named = grader_model(spec, kind)
                if named is None:
                    if kind == "embedding" and registry.settings.embedding_model:
                        targets[EMBEDDING] = target_of(registry, registry.settings.embedding_model)
                    continue
                known = named.model in registry.models
                base = target_of(registry, named.model) if known else Target(named.model)
                targets[grader_key(named, kind)] = dataclasses.replace(
                    base, api_base=named.api_base or base.api_base
                )
    return targets


def suite_inputs(registry: Registry, dependency: Dependency, limit: int | None) -> SuiteInputs:
    """Load and render a dependency's suite; InputError lists every case a run would refuse."""
    assert dependency.eval is not None
    suite_display = relative_to(registry.root / dependency.eval.cases, Path.cwd())
    suite = load_suite(registry.root / dependency.eval.cases, suite_display)
    prompts = [
        PromptTemplate.from_file(
            registry.root / name, relative_to(registry.root / name, Path.cwd())
        )
        for name in dependency.prompt_files
    ]
    cases = list(suite.cases[:limit] if limit else suite.cases)
    base_checks = [CheckSpec.from_check(c) for c in dependency.eval.checks]
    uses_expected = [str(c.value) for c in base_checks if _USES_EXPECTED.search(str(c.value))]
    problems: list[Problem] = []
    checks_for: dict[str, list[CheckSpec]] = {}
    messages: dict[str, list[dict[str, str]]] = {}
    for case in cases:
        checks = [*base_checks, *case.checks]
        if sum(c.type == "pairwise" for c in checks) > 1:
            message = f"case '{case.id}' has more than one pairwise check; one compares the answers"
            problems.append(Problem(suite_display, case.line, "checks", message))
            continue
        if not checks:
            message = (
                f"case '{case.id}' has no checks: add eval.checks to the registry "
                "or checks to the case"
            )
            problems.append(Problem(suite_display, case.line, "checks", message))
            continue
        if uses_expected and case.expected is None and "expected" not in case.vars:
            message = f"case '{case.id}' has no 'expected' for {uses_expected[0]!r}"
            problems.append(Problem(suite_display, case.line, "expected", message))
            continue
        variables = case.vars
        if "expected" not in variables:
            variables = {**variables, "expected": case.expected}
        missing = _missing_graders(registry, graders_needed(case))
        if missing:
            problems.append(
                Problem(suite_display, case.line, "assert", f"case '{case.id}': {missing}")
            )
            continue
        if case.messages is None and not prompts:
            message = f"case '{case.id}' has no messages and the dependency has no prompt"
            problems.append(Problem(suite_display, case.line, "messages", message))
            continue
        try:
            for spec in checks:  # a typo in a check value must fail now, not after the calls
                if not spec.type.startswith("promptfoo:"):  # promptfoo renders unknowns empty
                    render_value(spec.value, case)
            rendered = (
                [[dict(m) for m in case.messages]]  # a logged request: sent as it was
                if case.messages is not None
                else [p.render(variables, case.id, case.line, suite_display) for p in prompts]
            )
            # promptfoo's test prefix and suffix go around the rendered prompt
            messages[case.id] = prompt_messages(rendered[0], case)
        except InputError as exc:
            problems.extend(exc.problems)
            continue
        except UsageError as exc:
            problems.append(Problem(suite_display, case.line, "checks", exc.message))
            continue
        except ValueError as exc:
            problems.append(Problem(suite_display, case.line, "options", str(exc)))
            continue
        checks_for[case.id] = checks
    if problems:
        raise InputError(problems)
    return SuiteInputs(
        cases=cases,
        messages=messages,
        checks_for=checks_for,
        suite_sha256=suite.sha256,
        cases_in_file=len(suite.cases),
        prompt_sha256=hashlib.sha256((prompts[0].source if prompts else "").encode()).hexdigest(),
        base_checks=base_checks,
    )


def judge_grades(checks_for: dict[str, list[CheckSpec]]) -> bool:
    """True when a graded assertion's text grader is the registry's judge model."""
    from migrate.evals.grading import kinds_needed

    return any(
        needs_judge(spec) and "text" in kinds_needed(spec) and grader_model(spec, "text") is None
        for specs in checks_for.values()
        for spec in specs
    )


def prepare(registry: Registry, options: RunOptions, today: dt.date) -> RunInputs:
    """Validate everything a run needs before the first call; errors name file and line."""
    from migrate.evals.grading import EMBEDDING
    from migrate.evals.record import Manifest, PromptRef, SuiteRef

    dependency = registry.dependencies.get(options.dependency)
    if dependency is None:
        raise UsageError(registry.unknown_dependency(options.dependency))
    where = f"{registry.display_path()}:{registry.line_of('dependencies', options.dependency)}"
    if dependency.eval is None:
        raise UsageError(
            f"{where}: dependency '{options.dependency}' has no eval suite "
            "('eval: {cases: ...}'); there is nothing to run"
        )
    candidates = options.candidates if options.candidates is not None else dependency.candidates
    for name in [dependency.model, *candidates]:
        if name not in registry.models:
            raise UsageError(
                f"unknown model '{name}' (add it under 'models' in {registry.display_path()})"
            )
    for name in candidates:
        if name == dependency.model:
            raise UsageError(f"'{name}' is the current model, not a candidate")
    inputs = suite_inputs(registry, dependency, options.limit)
    judge = None
    judged = {s.type for specs in inputs.checks_for.values() for s in specs} & JUDGED_CHECKS
    if judged:
        if registry.settings.judge_model is None:
            raise UsageError(
                f"{registry.display_path()}: the suite uses {' and '.join(sorted(judged))} "
                "checks but settings.judge_model is not set"
            )
        judge = target_of(registry, registry.settings.judge_model)
    graders = grader_targets(registry, inputs.checks_for)
    if registry.settings.embedding_model and candidates:  # answer similarity by meaning
        graders[EMBEDDING] = target_of(registry, registry.settings.embedding_model)
    for name, target in graders.items():
        if target.deployments and (name == EMBEDDING or name.startswith("embedding:")):
            raise UsageError(
                f"{registry.display_path()}:{registry.line_of('models', target.model)}: "
                f"models.{target.model}.deployments: deployments route completions only; "
                "an embedding model needs one endpoint (api_base and api_key_env)"
            )
    if registry.settings.judge_model and judge_grades(inputs.checks_for):
        judge = target_of(registry, registry.settings.judge_model)
    targets = [target_of(registry, m) for m in [dependency.model, *candidates]]
    for target in [*targets, *([judge] if judge else []), *graders.values()]:
        for variable in {target.api_key_env, *(d.api_key_env for d in target.deployments)}:
            if variable:
                register_secret_env(variable)
    manifest = Manifest(
        dependency=options.dependency,
        quarter=str(run_quarter(today, registry, options.dependency)),
        baseline=_stored(targets[0]),
        candidates=[_stored(t) for t in targets[1:]],
        judge=_stored(judge) if judge else None,
        graders={name: _stored(t) for name, t in graders.items()},
        params=dependency.params,
        model_params={
            t.model: registry.model(t.model).params
            for t in [*targets, *([judge] if judge else []), *graders.values()]
            if t.model in registry.models
            if registry.model(t.model).params
        },
        samples=options.samples or dependency.eval.samples,
        limit=options.limit,
        suite=SuiteRef(
            path=dependency.eval.cases,
            sha256=inputs.suite_sha256,
            cases=len(inputs.cases),
            cases_in_file=inputs.cases_in_file,
        ),
        prompt=PromptRef(files=dependency.prompt_files, sha256=inputs.prompt_sha256),
        checks=[check_json(s) for s in inputs.base_checks],
        gates=dependency.gates,
        max_error_rate=registry.settings.run.max_error_rate,
    )
    prepared = RunInputs(manifest, inputs.cases, inputs.messages, inputs.checks_for)
    batch = options.batch or registry.settings.run.batch  # a batch takes every case at once
    if registry.settings.run.sequential and not options.full and not batch and manifest.candidates:
        manifest.sequential = stage_plan([c.id for c in inputs.cases], manifest.gates)
    manifest.inputs_sha256 = prepared.identity()
    return prepared


def stage_plan(case_ids: list[str], gates: Gates) -> StagePlan | None:
    """The stages of a sequential run; None where one stage is all a suite can use."""
    from migrate.evals.record_stages import StagePlan
    from migrate.evals.stages import look_alphas, plan_stages, seed_of

    stages = plan_stages(len(case_ids), gates.pass_rate_drop)
    if len(stages) < 2:
        return None
    return StagePlan(seed=seed_of(case_ids), stages=stages, alphas=look_alphas(len(stages)))


def write_inputs(run_dir: Path, inputs: RunInputs) -> None:
    from migrate.evals.record import StoredCase, write_cases, write_manifest

    stored = [
        StoredCase(
            id=case.id,
            vars=case.vars,
            expected=case.expected,
            line=case.line,
            checks=[check_json(s) for s in case.checks],
            messages=inputs.messages[case.id],
            provenance=case.provenance,
        )
        for case in inputs.cases
    ]
    write_cases(run_dir, stored)
    write_manifest(run_dir, inputs.manifest)


def read_inputs(run_dir: Path) -> RunInputs:
    """The inputs as stored in a run directory (for resume and for `migrate report`)."""
    from migrate.evals.record import case_from_record, read_cases, read_manifest

    manifest = read_manifest(run_dir)
    base_checks = [check_from_json(c) for c in manifest.checks]
    cases, messages, checks_for = [], {}, {}
    for stored in read_cases(run_dir):
        case = case_from_record(stored)
        cases.append(case)
        messages[case.id] = stored.messages
        checks_for[case.id] = [*base_checks, *case.checks]
    return RunInputs(manifest, cases, messages, checks_for)
