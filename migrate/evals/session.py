"""One `migrate run`: prepare the inputs, find or create the run directory, make the calls
that are still missing, then evaluate and write the reports.

The run directory holds everything needed to re-derive the results without the registry
or a model call: `run.json` (the manifest), `cases.jsonl` (the cases with their rendered
messages), `journal.jsonl` (every finished call), then `summary.json` and the reports.
`summary.json` is written last: a run without it is unfinished and can be resumed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import fcntl
import hashlib
import json
import os
import platform
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

from migrate import __version__
from migrate.errors import InputError, MigrateError, Problem, UsageError
from migrate.evals.checks import judge_key, render_value
from migrate.evals.journal import (
    JOURNAL_FILE,
    Entry,
    JournalWriter,
    load_entries,
    read_journal,
    request_hash,
)
from migrate.evals.prompt import PromptTemplate
from migrate.evals.results import Results, evaluate, judge_extra, results_json
from migrate.evals.runner import CallCounts, CallSpec, Progress, execute
from migrate.evals.suite import Case, CheckSpec, load_suite
from migrate.files import relative_to, write_atomic
from migrate.history.runs import RUNBOOKS_DIR, SUMMARY_FILE
from migrate.llm import CallRecord, ModelSeam, Target
from migrate.registry.load import Registry
from migrate.registry.schema import CheckType, Gates
from migrate.schedule.quarters import Quarter, migration_window, next_window
from migrate.secrets import redact, register_secret_env

MANIFEST_FILE = "run.json"
CASES_FILE = "cases.jsonl"
STATE_DIR = ".migrate"
FORMAT_VERSION = 1

JUDGE_SYSTEM = (
    "You grade an AI assistant's answer against a rubric. Read the task, the answer and the "
    "rubric, then reply with one JSON object and nothing else: "
    '{"verdict": "pass" or "fail", "reasoning": "<one or two sentences>"}.'
)


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


@dataclass
class RunOutcome:
    run_dir: Path
    results: Results
    summary: dict[str, Any]
    reused: bool  # an identical finished run was found: no call was made
    resumed: bool
    counts: CallCounts


def run_quarter(today: dt.date, registry: Registry) -> Quarter:
    """The quarter a run is filed under: the window open today, else the next window."""
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
    )


def _target_json(target: Target) -> dict[str, Any]:
    return {**dataclasses.asdict(target), "api_base": redact(target.api_base or "") or None}


def _target_from_json(data: dict[str, Any]) -> Target:
    return Target(**_known_fields(Target, data))


def _known_fields(kind: type, data: Any) -> dict[str, Any]:
    """The dataclass fields of `kind` found in stored JSON (TypeError when it is no object)."""
    if not isinstance(data, dict):
        raise TypeError(f"expected an object, got {type(data).__name__}")
    known = {f.name for f in dataclasses.fields(kind)}
    return {k: v for k, v in data.items() if k in known}


def _spec_json(spec: CheckSpec) -> dict[str, Any]:
    return dataclasses.asdict(spec)


def _spec_from_json(data: dict[str, Any]) -> CheckSpec:
    spec = CheckSpec(**_known_fields(CheckSpec, data))
    return dataclasses.replace(spec, negate=bool(spec.negate))


@dataclass
class Prepared:
    """A run's inputs, either fresh from the registry or read back from a run directory."""

    manifest: dict[str, Any]
    cases: list[Case]
    messages: dict[str, list[dict[str, str]]]  # case id -> rendered messages
    checks_for: dict[str, list[CheckSpec]]

    @property
    def baseline(self) -> Target:
        return _target_from_json(self.manifest["baseline"])

    @property
    def candidates(self) -> list[Target]:
        return [_target_from_json(c) for c in self.manifest["candidates"]]

    @property
    def judge(self) -> Target | None:
        judge = self.manifest.get("judge")
        return _target_from_json(judge) if judge else None

    @property
    def gates(self) -> Gates:
        return Gates.model_validate(self.manifest["gates"])


def prepare(registry: Registry, options: RunOptions, today: dt.date) -> Prepared:
    """Validate everything a run needs before the first call; errors name file and line."""
    dependency = registry.dependencies.get(options.dependency)
    if dependency is None:
        known = ", ".join(sorted(registry.dependencies)) or "none"
        raise UsageError(f"unknown dependency '{options.dependency}' (the registry has: {known})")
    where = f"{registry.display_path()}:{registry.line_of('dependencies', options.dependency)}"
    if dependency.eval is None:
        raise UsageError(
            f"{where}: dependency '{options.dependency}' has no eval suite "
            "('eval: {cases: ...}'); there is nothing to run"
        )
    if not dependency.prompt_files:
        raise UsageError(f"{where}: dependency '{options.dependency}' has no prompt")
    candidates = options.candidates if options.candidates is not None else dependency.candidates
    for name in [dependency.model, *candidates]:
        if name not in registry.models:
            raise UsageError(
                f"unknown model '{name}' (add it under 'models' in {registry.display_path()})"
            )
    for name in candidates:
        if name == dependency.model:
            raise UsageError(f"'{name}' is the current model, not a candidate")
    suite_display = relative_to(registry.root / dependency.eval.cases, Path.cwd())
    suite = load_suite(registry.root / dependency.eval.cases, suite_display)
    prompt_path = registry.root / dependency.prompt_files[0]
    prompt = PromptTemplate.from_file(prompt_path, relative_to(prompt_path, Path.cwd()))
    cases = list(suite.cases[: options.limit] if options.limit else suite.cases)
    base_checks = [CheckSpec.from_check(c) for c in dependency.eval.checks]
    checks_for: dict[str, list[CheckSpec]] = {}
    messages: dict[str, list[dict[str, str]]] = {}
    for case in cases:
        checks = [*base_checks, *case.checks]
        if not checks:
            raise InputError(
                [
                    Problem(
                        suite_display,
                        case.line,
                        "checks",
                        f"case '{case.id}' has no checks: add eval.checks to the "
                        "registry or checks to the case",
                    )
                ]
            )
        for spec in checks:  # a typo in a check value must fail now, not after the calls
            render_value(spec.value, case)
        checks_for[case.id] = checks
        messages[case.id] = prompt.render(
            {**case.vars, "expected": case.expected} if "expected" not in case.vars else case.vars,
            case.id,
            case.line,
            suite_display,
        )
    judge = None
    if any(spec.type == "llm_judge" for specs in checks_for.values() for spec in specs):
        if registry.settings.judge_model is None:
            raise UsageError(
                f"{registry.display_path()}: the suite uses llm_judge checks but "
                "settings.judge_model is not set"
            )
        judge = target_of(registry, registry.settings.judge_model)
    targets = [target_of(registry, m) for m in [dependency.model, *candidates]]
    for target in [*targets, *([judge] if judge else [])]:
        if target.api_key_env:
            register_secret_env(target.api_key_env)
    samples = options.samples or dependency.eval.samples
    run_settings = registry.settings.run
    manifest: dict[str, Any] = {
        "version": FORMAT_VERSION,
        "dependency": options.dependency,
        "quarter": str(run_quarter(today, registry)),
        "baseline": _target_json(targets[0]),
        "candidates": [_target_json(t) for t in targets[1:]],
        "judge": _target_json(judge) if judge else None,
        "params": dependency.params,
        "samples": samples,
        "limit": options.limit,
        "suite": {
            "path": dependency.eval.cases,
            "sha256": suite.sha256,
            "cases": len(cases),
            "cases_in_file": len(suite.cases),
        },
        "prompt": {
            "files": dependency.prompt_files,
            "sha256": hashlib.sha256(prompt.source.encode()).hexdigest(),
        },
        "checks": [_spec_json(s) for s in base_checks],
        "gates": dependency.gates.model_dump(),
        "max_error_rate": run_settings.max_error_rate,
    }
    prepared = Prepared(manifest, cases, messages, checks_for)
    manifest["inputs_sha256"] = inputs_hash(prepared)
    return prepared


def inputs_hash(prepared: Prepared) -> str:
    """Everything that decides the calls and the verdict; equal hashes mean the same run."""
    manifest = {
        k: v
        for k, v in prepared.manifest.items()
        if k not in {"inputs_sha256", "quarter", "run_id", "started_at", "reproducibility"}
    }
    material = {
        "manifest": manifest,
        "cases": [
            [
                c.id,
                prepared.messages[c.id],
                c.expected,
                [_spec_json(s) for s in prepared.checks_for[c.id]],
            ]
            for c in prepared.cases
        ],
    }
    return hashlib.sha256(
        json.dumps(material, sort_keys=True, ensure_ascii=False, default=str).encode()
    ).hexdigest()


def write_inputs(run_dir: Path, prepared: Prepared) -> None:
    lines = []
    for case in prepared.cases:
        lines.append(
            json.dumps(
                {
                    "id": case.id,
                    "vars": case.vars,
                    "expected": case.expected,
                    "line": case.line,
                    "checks": [_spec_json(s) for s in case.checks],
                    "messages": prepared.messages[case.id],
                },
                ensure_ascii=False,
                sort_keys=True,
                default=str,
            )
        )
    write_atomic(run_dir / CASES_FILE, "\n".join(lines) + "\n")
    write_atomic(
        run_dir / MANIFEST_FILE,
        json.dumps(prepared.manifest, indent=2, ensure_ascii=False, default=str) + "\n",
    )


def read_inputs(run_dir: Path) -> Prepared:
    """The inputs as stored in a run directory (for resume and for `migrate report`)."""
    try:
        manifest = json.loads((run_dir / MANIFEST_FILE).read_text(encoding="utf-8"))
        base_checks = [_spec_from_json(s) for s in manifest["checks"]]
        cases, messages, checks_for = [], {}, {}
        for line in (run_dir / CASES_FILE).read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            data = json.loads(line)
            case = Case(
                id=data["id"],
                vars=data["vars"],
                expected=data.get("expected"),
                checks=tuple(_spec_from_json(s) for s in data["checks"]),
                line=data.get("line"),
            )
            cases.append(case)
            messages[case.id] = data["messages"]
            checks_for[case.id] = [*base_checks, *case.checks]
        _check_stored(
            manifest, cases, messages, [*base_checks, *(c for k in cases for c in k.checks)]
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"{run_dir}: not a readable run directory ({exc})") from None
    return Prepared(manifest, cases, messages, checks_for)


# What the rest of a run reads from run.json: the type each value must have, in words.
_MANIFEST_FIELDS: dict[str, tuple[type | tuple[type, ...], str]] = {
    "dependency": (str, "a string"),
    "quarter": (str, "a string"),
    "run_id": (str, "a string"),
    "started_at": (str, "a string"),
    "baseline": (dict, "an object"),
    "candidates": (list, "a list"),
    "params": (dict, "an object"),
    "samples": (int, "an integer"),
    "max_error_rate": ((int, float), "a number"),
    "gates": (dict, "an object"),
    "suite": (dict, "an object"),
}


def _check_stored(
    manifest: Any,
    cases: list[Case],
    messages: dict[str, Any],
    checks: list[CheckSpec],
) -> None:
    """Raise ValueError naming the first stored value that scoring or reporting could not
    use (a run directory edited by hand), instead of failing half way through a report."""
    if not isinstance(manifest, dict):
        raise ValueError(f"{MANIFEST_FILE} does not hold an object")
    for key, (kind, name) in _MANIFEST_FIELDS.items():
        value = manifest.get(key)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ValueError(f"{MANIFEST_FILE}: '{key}' is missing or not {name}")
    judge = manifest.get("judge")
    for target in [manifest["baseline"], *manifest["candidates"], *([judge] if judge else [])]:
        if not isinstance(target, dict) or not isinstance(target.get("model"), str):
            raise ValueError(f"{MANIFEST_FILE}: a model entry without a 'model' name")
    if manifest["samples"] < 1:
        raise ValueError(f"{MANIFEST_FILE}: 'samples' is below 1")
    Gates.model_validate(manifest["gates"])
    for case in cases:
        rendered = messages[case.id]
        if not isinstance(case.id, str) or not isinstance(case.vars, dict):
            raise ValueError(f"{CASES_FILE}: case {case.id!r} has no string id or no vars")
        if not isinstance(rendered, list) or not all(
            isinstance(m, dict)
            and isinstance(m.get("role"), str)
            and isinstance(m.get("content"), str)
            for m in rendered
        ):
            raise ValueError(f"{CASES_FILE}: case {case.id!r} has unreadable messages")
    for spec in checks:
        if spec.type not in get_args(CheckType) or not isinstance(spec.schema, dict | None):
            raise ValueError(f"unknown check {spec.type!r}")


@contextmanager
def dependency_lock(root: Path, dependency: str) -> Iterator[None]:
    """Refuse a second concurrent run of the same dependency (released even on a kill)."""
    lock_dir = root / STATE_DIR / "locks"
    lock_dir.mkdir(parents=True, exist_ok=True)
    path = lock_dir / f"{dependency}.lock"
    handle = path.open("a+")
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise UsageError(
                f"another `migrate run {dependency}` is in progress ({holder}); "
                "wait for it to finish"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        yield
    finally:
        handle.close()


def runs_root(root: Path) -> Path:
    return root / RUNBOOKS_DIR


def dependency_runs(root: Path, dependency: str) -> list[Path]:
    """Run directories of a dependency, oldest first (run ids sort by time)."""
    found = [p.parent for p in runs_root(root).glob(f"*/{dependency}/runs/*/{MANIFEST_FILE}")]
    return sorted(found, key=lambda p: p.name)


def _read_manifest(run_dir: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((run_dir / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _read_summary(run_dir: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((run_dir / SUMMARY_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _new_run_id(now: dt.datetime, parent: Path) -> str:
    base = now.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    run_id, n = base, 1
    while (parent / run_id).exists():
        n += 1
        run_id = f"{base}-{n}"
    return run_id


def _started(manifest: dict[str, Any]) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(str(manifest["started_at"]))
    except (KeyError, ValueError):
        return None


def cache_from_runs(
    run_dirs: list[Path], exclude: Path, now: dt.datetime, max_age_days: float
) -> dict[str, CallRecord]:
    """Successful calls from this dependency's recent runs, by request hash."""
    cache: dict[str, CallRecord] = {}
    horizon = now - dt.timedelta(days=max_age_days)
    for run_dir in run_dirs:
        if run_dir == exclude:
            continue
        manifest = _read_manifest(run_dir)
        started = _started(manifest) if manifest else None
        if started is None or started < horizon:
            continue
        for entry in read_journal(run_dir / JOURNAL_FILE):
            if entry.record.error is None:
                cache.setdefault(entry.request, entry.record)
    return cache


def generation_specs(
    prepared: Prepared, done: set[tuple[str, str, str, int, str]]
) -> list[CallSpec]:
    """Every generation call of the run not yet journaled: case by case, so that a run
    stopped half way has both sides of the cases it reached."""
    params = prepared.manifest["params"]
    samples = int(prepared.manifest["samples"])
    targets = [prepared.baseline, *prepared.candidates]
    specs = []
    for case in prepared.cases:
        messages = prepared.messages[case.id]
        for sample in range(samples):
            for target in targets:
                key = ("generate", target.model, case.id, sample, "")
                if key in done:
                    continue
                specs.append(
                    CallSpec(
                        "generate",
                        target,
                        case.id,
                        sample,
                        "",
                        messages,
                        params,
                        request_hash(target.model, target.api_base, messages, params, sample),
                    )
                )
    return specs


def judge_specs(prepared: Prepared, entries: dict[Any, Entry]) -> list[CallSpec]:
    judge = prepared.judge
    if judge is None:
        return []
    samples = int(prepared.manifest["samples"])
    specs = []
    for case in prepared.cases:
        for index, check in enumerate(prepared.checks_for[case.id]):
            if check.type != "llm_judge":
                continue
            for target in [prepared.baseline, *prepared.candidates]:
                for sample in range(samples):
                    extra = judge_extra(target.model, index)
                    if ("judge", judge.model, case.id, sample, extra) in entries:
                        continue
                    generated = entries.get(("generate", target.model, case.id, sample, ""))
                    if generated is None or generated.record.error is not None:
                        continue
                    messages = judge_messages(
                        prepared.messages[case.id],
                        generated.record.text or "",
                        check.rubric or str(check.value),
                        case.expected,
                    )
                    params = {"temperature": 0, "max_tokens": 400}
                    specs.append(
                        CallSpec(
                            "judge",
                            judge,
                            case.id,
                            sample,
                            extra,
                            messages,
                            params,
                            request_hash(judge.model, judge.api_base, messages, params, sample),
                        )
                    )
    return specs


def judge_messages(
    task: list[dict[str, str]], answer: str, rubric: str, expected: Any
) -> list[dict[str, str]]:
    task_text = "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in task)
    body = f"## Task\n{task_text}\n\n## Answer\n{answer}\n\n## Rubric\n{rubric}"
    if expected is not None:
        body += f"\n\n## Expected\n{expected}"
    return [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": body}]


def previous_baseline(
    run_dirs: list[Path], current: Path, baseline: str
) -> tuple[str, dict[str, float | None]] | None:
    """The latest earlier finished run's per-case outcomes on the same current model."""
    for run_dir in reversed(run_dirs):
        if run_dir == current or run_dir.name >= current.name:
            continue
        summary = _read_summary(run_dir)
        if summary is None or summary.get("models", {}).get("baseline") != baseline:
            continue
        outcomes = summary.get("outcomes", {}).get(baseline)
        if isinstance(outcomes, dict):
            return str(summary.get("run_id", run_dir.name)), outcomes
    return None


def evaluate_run(run_dir: Path, prepared: Prepared, workspace_root: Path) -> Results:
    """Score and compare everything the journal holds (no model call)."""
    entries = load_entries(run_dir / JOURNAL_FILE)
    judge = prepared.judge
    run_dirs = dependency_runs(workspace_root, prepared.manifest["dependency"])
    return evaluate(
        baseline=prepared.baseline.model,
        candidates=[c.model for c in prepared.candidates],
        cases=prepared.cases,
        samples=int(prepared.manifest["samples"]),
        checks_for=prepared.checks_for,
        entries=entries,
        judge_model=judge.model if judge else None,
        gates=prepared.gates,
        max_error_rate=float(prepared.manifest["max_error_rate"]),
        previous_baseline=previous_baseline(run_dirs, run_dir, prepared.baseline.model),
    )


def build_summary(
    run_dir: Path,
    prepared: Prepared,
    results: Results,
    finished: dt.datetime,
    counts: CallCounts | None,
) -> dict[str, Any]:
    manifest = prepared.manifest
    entries = list(read_journal(run_dir / JOURNAL_FILE))
    return {
        "version": FORMAT_VERSION,
        "run_id": manifest["run_id"],
        "dependency": manifest["dependency"],
        "quarter": manifest["quarter"],
        "started_at": manifest["started_at"],
        "finished_at": finished.isoformat(timespec="seconds"),
        "models": {
            "baseline": prepared.baseline.model,
            "candidates": [c.model for c in prepared.candidates],
            "judge": prepared.judge.model if prepared.judge else None,
        },
        "suite": {**manifest["suite"], "samples": manifest["samples"]},
        **results_json(results),
        "calls": {
            "journaled": len(entries),
            "cached": sum(1 for e in entries if e.cached),
            "errors": sum(1 for e in entries if e.record.error is not None),
            "made_this_time": counts.made if counts else 0,
        },
        "reproducibility": manifest.get("reproducibility", {}),
    }


def write_outputs(
    run_dir: Path,
    prepared: Prepared,
    results: Results,
    summary: dict[str, Any],
    workspace_root: Path,
) -> None:
    from migrate.reports import write_reports

    write_reports(run_dir, prepared, results, summary, workspace_root)
    # summary.json last: its presence marks the run finished.
    write_atomic(
        run_dir / SUMMARY_FILE,
        json.dumps(summary, indent=2, ensure_ascii=False, default=str) + "\n",
    )


def _reproducibility(registry: Registry, prepared: Prepared) -> dict[str, Any]:
    from migrate.history.git import read_git_facts
    from migrate.llm import litellm_version

    prompt_paths = [registry.root / p for p in prepared.manifest["prompt"]["files"]]
    suite_path = registry.root / prepared.manifest["suite"]["path"]
    facts = read_git_facts(
        registry.root, [*prompt_paths, suite_path], dt.datetime.now(dt.UTC).date()
    )
    commits = {}
    for path in [*prompt_paths, suite_path]:
        change = facts.last_change_of(path)
        commits[relative_to(path, registry.root)] = (
            {"commit": change.sha, "date": change.day.isoformat(), "author": change.author}
            if change
            else None
        )
    return {
        "migrate_version": __version__,
        "litellm_version": litellm_version(),
        "python": platform.python_version(),
        "last_commits": commits,
    }


def run_dependency(
    registry: Registry,
    options: RunOptions,
    today: dt.date,
    *,
    now: Callable[[], dt.datetime],
    make_seam: Callable[[int, float, int], ModelSeam],
    progress: Progress,
) -> RunOutcome:
    root = registry.root
    settings = registry.settings.run
    with dependency_lock(root, options.dependency):
        existing = dependency_runs(root, options.dependency)
        run_dir: Path | None = None
        prepared: Prepared
        resumed = False
        if options.resume:
            matches = [d for d in existing if d.name == options.resume]
            if not matches:
                raise UsageError(
                    f"no run '{options.resume}' of '{options.dependency}' under {runs_root(root)}"
                )
            run_dir = matches[-1]
            if (run_dir / SUMMARY_FILE).exists():
                raise UsageError(
                    f"run {options.resume} is finished; use `migrate report "
                    f"{options.resume}` to re-render it"
                )
            prepared = read_inputs(run_dir)
            resumed = True
        else:
            prepared = prepare(registry, options, today)
            wanted = prepared.manifest["inputs_sha256"]
            for candidate_dir in reversed(existing):
                manifest = _read_manifest(candidate_dir)
                if manifest is None or manifest.get("inputs_sha256") != wanted:
                    continue
                finished = (candidate_dir / SUMMARY_FILE).exists()
                if not finished and not options.new:
                    run_dir, prepared, resumed = candidate_dir, read_inputs(candidate_dir), True
                    break
                started = _started(manifest)
                fresh = started is not None and now() - started <= dt.timedelta(
                    days=settings.cache_max_age_days
                )
                if finished and fresh and options.use_cache and not options.new:
                    return _reuse(candidate_dir, registry)
                break
        if run_dir is None:
            parent = (
                root / RUNBOOKS_DIR / prepared.manifest["quarter"] / options.dependency / "runs"
            )
            run_id = _new_run_id(now(), parent)
            run_dir = parent / run_id
            run_dir.mkdir(parents=True)
            prepared.manifest["run_id"] = run_id
            prepared.manifest["started_at"] = now().isoformat(timespec="seconds")
            prepared.manifest["reproducibility"] = _reproducibility(registry, prepared)
            write_inputs(run_dir, prepared)

        concurrency = options.concurrency or settings.concurrency
        timeout = options.timeout or settings.timeout_seconds
        seam = make_seam(concurrency, timeout, settings.max_retries)
        cache = (
            cache_from_runs(existing, run_dir, now(), settings.cache_max_age_days)
            if options.use_cache
            else {}
        )
        counts = CallCounts()
        journal = JournalWriter(run_dir / JOURNAL_FILE)
        try:
            asyncio.run(
                _call_everything(prepared, run_dir, journal, seam, cache, progress, now, counts)
            )
        finally:
            journal.close()
            progress.finish()
        results = evaluate_run(run_dir, prepared, root)
        summary = build_summary(run_dir, prepared, results, now(), counts)
        write_outputs(run_dir, prepared, results, summary, root)
        return RunOutcome(run_dir, results, summary, reused=False, resumed=resumed, counts=counts)


async def _call_everything(
    prepared: Prepared,
    run_dir: Path,
    journal: JournalWriter,
    seam: ModelSeam,
    cache: dict[str, CallRecord],
    progress: Progress,
    now: Callable[[], dt.datetime],
    counts: CallCounts,
) -> None:
    entries = load_entries(run_dir / JOURNAL_FILE)
    specs = generation_specs(prepared, set(entries))
    models = [prepared.baseline.model, *[c.model for c in prepared.candidates]]
    total = len(prepared.cases) * int(prepared.manifest["samples"])
    done = {m: sum(1 for k in entries if k[0] == "generate" and k[1] == m) for m in models}
    progress.start("generate", {m: total for m in models}, done)
    await execute(specs, journal, seam, cache, progress, now, counts)
    entries = load_entries(run_dir / JOURNAL_FILE)
    judges = judge_specs(prepared, entries)
    if judges:
        judge_model = judges[0].model
        already = sum(1 for k in entries if k[0] == "judge")
        progress.start("judge", {judge_model: len(judges) + already}, {judge_model: already})
        await execute(judges, journal, seam, cache, progress, now, counts)


def _reuse(run_dir: Path, registry: Registry) -> RunOutcome:
    """An identical run finished recently: re-render its reports, make no call."""
    prepared = read_inputs(run_dir)
    results = evaluate_run(run_dir, prepared, registry.root)
    summary = _read_summary(run_dir) or {}
    from migrate.reports import write_reports

    write_reports(run_dir, prepared, results, summary, registry.root)
    return RunOutcome(run_dir, results, summary, reused=True, resumed=False, counts=CallCounts())


def rerender(run_dir: Path, workspace_root: Path) -> RunOutcome:
    """`migrate report`: re-derive summary and reports from the journal, without a call."""
    if not (run_dir / MANIFEST_FILE).exists():
        raise UsageError(f"{run_dir}: no {MANIFEST_FILE} here; not a run directory")
    prepared = read_inputs(run_dir)
    results = evaluate_run(run_dir, prepared, workspace_root)
    previous = _read_summary(run_dir) or {}
    try:
        finished = dt.datetime.fromisoformat(previous["finished_at"])
    except (KeyError, TypeError, ValueError):  # no summary yet, or one edited by hand
        finished = dt.datetime.now(dt.UTC)
    summary = build_summary(run_dir, prepared, results, finished, None)
    calls = previous.get("calls")
    if isinstance(calls, dict) and isinstance(calls.get("made_this_time"), int):
        summary["calls"]["made_this_time"] = calls["made_this_time"]
    write_outputs(run_dir, prepared, results, summary, workspace_root)
    return RunOutcome(run_dir, results, summary, reused=True, resumed=False, counts=CallCounts())


def find_run(root: Path, run: str) -> Path:
    """A run directory from a path or a run id."""
    path = Path(run)
    if (path / MANIFEST_FILE).exists():
        return path
    matches = sorted(p.parent for p in runs_root(root).glob(f"*/*/runs/{run}/{MANIFEST_FILE}"))
    if not matches:
        raise UsageError(
            f"no run '{run}' found (give a run directory or a run id under {runs_root(root)})"
        )
    if len(matches) > 1:
        raise UsageError(f"run id '{run}' is ambiguous: " + ", ".join(map(str, matches)))
    return matches[0]


__all__ = ["MigrateError", "RunOptions", "judge_key", "run_dependency", "rerender", "find_run"]
