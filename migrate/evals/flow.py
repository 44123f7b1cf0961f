"""One `migrate run`, start to finish: take the dependency's lock, prepare or reuse the
inputs, make the calls that are still missing, then score, decide and write the record and
the reports. `migrate report` re-derives the same outputs from a stored run.

The run directory's files are described in record.py; `summary.json` is written last: a
run without it is unfinished and can be resumed.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from migrate.errors import UsageError
from migrate.evals import rundir
from migrate.evals.batch import BatchPending, BatchPhase, has_open_batches
from migrate.evals.calls import (
    cache_from_runs,
    generation_specs,
    grade_specs,
    judge_specs,
    similarity_specs,
    started_at,
)
from migrate.evals.facts import Models
from migrate.evals.grading import EMBEDDING, MAX_STEPS, Graders
from migrate.evals.inputs import RunInputs, RunOptions, prepare, read_inputs, write_inputs
from migrate.evals.journal import JournalWriter, load_entries, read_journal
from migrate.evals.preflight import model_uses
from migrate.evals.promptfoo.assertions import needs_judge
from migrate.evals.provenance import previous_baseline, provenance
from migrate.evals.record import (
    Entry,
    Summary,
    Verdict,
    read_manifest,
    read_summary,
    try_read,
    write_summary,
)
from migrate.evals.record_cost import CostEstimate
from migrate.evals.record_stages import Stopping
from migrate.evals.results import Results, evaluate, summarize
from migrate.evals.rundir import JOURNAL_FILE, MANIFEST_FILE, SUMMARY_FILE
from migrate.evals.runner import Breaker, CallCounts, Caller, Progress
from migrate.evals.sequential import CallStage, run_stages, stopping
from migrate.evals.spend import (
    calls_and_prompts,
    estimate_before_calls,
    pending_cases,
    recorded,
    refuse_over_budget,
    run_cost,
    run_prices,
    stop_at_budget,
)
from migrate.evals.stages import ALPHA
from migrate.llm import Target
from migrate.llm_batch import BatchSeam, provider_of
from migrate.registry.load import Registry
from migrate.reports import write_reports

Clock = Callable[[], dt.datetime]


@dataclass
class RunOutcome:
    run_dir: Path
    results: Results
    summary: Summary
    reused: bool  # an identical finished run was found: no call was made
    resumed: bool
    counts: CallCounts
    stopped: str | None = None  # why the run stopped before its last call (--budget)


def run_dependency(
    registry: Registry,
    options: RunOptions,
    today: dt.date,
    *,
    now: Clock,
    connect: Callable[[int, float, int, int], Models],  # concurrency, timeout, retries, calls
    progress: Progress,
    environ: Mapping[str, str],
    on_estimate: Callable[[CostEstimate], None] | None = None,
) -> RunOutcome:
    root = registry.root
    settings = registry.settings.run
    with rundir.dependency_lock(root, options.dependency), contextlib.ExitStack() as stack:
        existing = rundir.dependency_runs(root, options.dependency)
        run_dir: Path | None = None
        resumed = False
        if options.resume:
            run_dir = _resumable(root, existing, options)
            inputs = read_inputs(run_dir)
            resumed = True
        else:
            inputs = prepare(registry, options, today)
            for candidate_dir in reversed(existing):
                manifest = try_read(read_manifest, candidate_dir)
                if manifest is None or manifest.inputs_sha256 != inputs.manifest.inputs_sha256:
                    continue
                summary = try_read(read_summary, candidate_dir)
                if summary is not None and summary.verdict is Verdict.ERROR:
                    break  # it measured nothing: run afresh (a key or a server may be fixed)
                finished = summary is not None
                if not finished and not options.new:
                    run_dir, inputs, resumed = candidate_dir, read_inputs(candidate_dir), True
                    break
                started = started_at(manifest.started_at)
                fresh = started is not None and now() - started <= dt.timedelta(
                    days=settings.cache_max_age_days
                )
                if finished and fresh and options.use_cache and not options.new:
                    return _reuse(candidate_dir, root)
                break
        done = load_entries(run_dir / JOURNAL_FILE) if run_dir else {}
        batch = options.batch or settings.batch
        calls, prompts = calls_and_prompts(inputs, done)
        models = connect(
            options.concurrency or settings.concurrency,
            options.timeout or settings.timeout_seconds,
            settings.max_retries,
            0 if batch else calls,  # a batch's calls are the batch API's: no worker
        )
        stack.callback(models.close)
        facts = models.facts(model_uses(inputs.manifest), prompts, environ)
        if problems := facts.problems:
            raise UsageError(
                "no call made: " + ("\n  " if len(problems) > 1 else "") + "\n  ".join(problems)
            )
        estimate = estimate_before_calls(inputs, done, existing, run_dir, facts, prompts)
        if on_estimate is not None:
            on_estimate(estimate)
        refuse_over_budget(estimate, options.budget)
        if batch:
            _batch_preflight(inputs, options)
        if run_dir is None:
            run_dir = _start(registry, inputs, now())
        # Batches out: they are collected, never called again synchronously.
        batch = batch or has_open_batches(run_dir / JOURNAL_FILE)

        cache = (
            cache_from_runs(existing, run_dir, now(), settings.cache_max_age_days)
            if options.use_cache
            else {}
        )
        counts = CallCounts()
        journal = JournalWriter(run_dir / JOURNAL_FILE)
        breaker = Breaker(budget=options.budget, spent=estimate.already_spent)

        caller = Caller(journal, models.seam, cache, progress, now, counts, breaker)

        async def call_stage(part: RunInputs) -> bool:
            await _call_everything(part, run_dir, caller)
            return not breaker.stopped and not breaker.over_budget

        try:
            if batch:  # a batch run is never staged (inputs.stage_plan)
                report = asyncio.run(
                    BatchPhase(
                        journal,
                        BatchSeam(
                            options.timeout or settings.timeout_seconds, settings.max_retries
                        ),
                        {t.model: t for t in _targets(inputs)},
                        cache,
                        now,
                        counts,
                        max_batches=settings.max_retries + 1,
                    ).run(inputs)
                )
                if not report.finished:
                    raise BatchPending(run_dir, report)
            results, stopped = _looks(
                run_dir, inputs, root, None if batch else call_stage, models.close
            )
        finally:
            journal.close()
            progress.finish()
        entries = list(read_journal(run_dir / JOURNAL_FILE))
        volume = registry.dependencies[options.dependency].volume
        cost = run_cost(
            inputs, entries, estimate, options.budget, volume, run_prices(inputs, facts.model_cost)
        )
        pending: set[str] = set()  # cases with a call not made: the budget stopped the run
        if breaker.over_budget:
            pending = pending_cases(inputs, load_entries(run_dir / JOURNAL_FILE))
        if pending:
            reached = _restricted(inputs, pending)
            # The suite was not exhausted: a sequential run's cases so far are an interim look.
            plan = inputs.manifest.sequential
            alpha = plan.alphas[0] if plan is not None else ALPHA
            results = stop_at_budget(evaluate_run(run_dir, reached, root, alpha), cost, pending)
            summary = summarize(reached.manifest, results, entries, now(), counts.made)
            summary.cost = cost
            why = f"the spend ${cost.spent or 0:.6f} reached the budget ${options.budget:.6f}"
            return RunOutcome(run_dir, results, summary, False, resumed, counts, stopped=why)
        summary = summarize(inputs.manifest, results, entries, now(), counts.made)
        summary.cost = cost
        summary.stopping = stopped(entries)
        write_outputs(run_dir, inputs, results, summary, root)
        return RunOutcome(run_dir, results, summary, reused=False, resumed=resumed, counts=counts)


def _targets(inputs: RunInputs) -> list[Target]:
    manifest = inputs.manifest
    judge = [manifest.judge] if manifest.judge else []
    return [manifest.baseline, *manifest.candidates, *judge]


def _batch_preflight(inputs: RunInputs, options: RunOptions) -> None:
    """Every model of a batch run has a batch API here (UsageError otherwise), no call made."""
    for target in _targets(inputs):
        provider_of(target)
    if options.budget is not None:  # the estimate is checked; a batch cannot stop half way
        raise UsageError(
            "--budget stops a run as its spend reaches the budget, and a batch cannot be "
            "stopped half way; run with --batch or with --budget, not both"
        )
    if _graded(inputs):
        raise UsageError(
            f"{inputs.manifest.dependency}: promptfoo's model-graded assertions are graded one "
            "conversation step at a time, which batch mode does not do; run it without --batch"
        )


def _restricted(inputs: RunInputs, pending: set[str]) -> RunInputs:
    """The inputs of the cases every call of which is made."""
    cases = [c for c in inputs.cases if c.id not in pending]
    return RunInputs(inputs.manifest, cases, inputs.messages, inputs.checks_for)


def _resumable(root: Path, existing: list[Path], options: RunOptions) -> Path:
    matches = [d for d in existing if d.name == options.resume]
    if not matches:
        raise UsageError(
            f"no run '{options.resume}' of '{options.dependency}' under {rundir.runs_root(root)}"
        )
    if (matches[-1] / SUMMARY_FILE).exists():
        raise UsageError(
            f"run {options.resume} is finished; use `migrate report {options.resume}` "
            "to re-render it"
        )
    return matches[-1]


def _start(registry: Registry, inputs: RunInputs, started: dt.datetime) -> Path:
    """Create a new run directory, whole, with the run's inputs recorded in it."""
    manifest = inputs.manifest
    parent = rundir.quarter_runs(registry.root, manifest.quarter, manifest.dependency)
    manifest.run_id = rundir.new_run_id(started, parent)
    manifest.started_at = started.isoformat(timespec="seconds")
    manifest.reproducibility = provenance(registry, inputs, started.date())
    return rundir.create_run_dir(parent, manifest.run_id, lambda into: write_inputs(into, inputs))


async def _call_everything(inputs: RunInputs, run_dir: Path, caller: Caller) -> None:
    progress, breaker = caller.progress, caller.breaker
    entries = load_entries(run_dir / JOURNAL_FILE)
    specs = generation_specs(inputs, set(entries))
    models = inputs.manifest.models
    total = len(inputs.cases) * inputs.manifest.samples
    done = {m: sum(1 for k in entries if k[0] == "generate" and k[1] == m) for m in models}
    progress.start("generate", {m: total for m in models}, done)
    await caller.canary_first(specs)
    if breaker.stopped or breaker.over_budget:
        # A model was stopped: the run cannot be judged, so judging it costs for nothing; or
        # the budget is spent: no call is made, judges included.
        return
    manifest = inputs.manifest
    if not (manifest.judge or EMBEDDING in manifest.graders or _graded(inputs)):
        return  # nothing asks about the answers: the journal need not be read again
    entries = load_entries(run_dir / JOURNAL_FILE)
    judges = judge_specs(inputs, entries)
    if judges:
        judge_model = judges[0].model
        already = sum(1 for k in entries if k[0] == "judge")
        progress.start("judge", {judge_model: len(judges) + already}, {judge_model: already})
        await caller.canary_first(judges)
    # promptfoo's graders: each round asks every conversation's next step
    for _ in range(MAX_STEPS):
        if breaker.over_budget:
            return  # no call would be made: planning the same steps again is all a round did
        entries = load_entries(run_dir / JOURNAL_FILE)
        # off the event loop: a grader may first run the assertion's JavaScript transform
        planned = await asyncio.to_thread(grade_specs, inputs, entries)
        grades = [g for g in planned if g.model not in breaker.stopped]
        if not grades:
            break
        totals: dict[str, int] = {}
        for spec in grades:
            totals[spec.model] = totals.get(spec.model, 0) + 1
        progress.start("grade", totals, {m: 0 for m in totals})
        await caller.canary_first(grades)
    similar = similarity_specs(inputs, load_entries(run_dir / JOURNAL_FILE))
    if similar:  # the answers' embeddings, when the registry names an embedding model
        progress.start("similarity", {similar[0].model: len(similar)}, {similar[0].model: 0})
        await caller.canary_first(similar)


def _graded(inputs: RunInputs) -> bool:
    return any(needs_judge(check) for checks in inputs.checks_for.values() for check in checks)


def _looks(
    run_dir: Path,
    inputs: RunInputs,
    root: Path,
    call_stage: CallStage | None,
    calls_over: Callable[[], None] = lambda: None,
) -> tuple[Results, Callable[[list[Entry]], Stopping | None]]:
    """The calls and the verdict, stage by stage for a sequential run (`call_stage` None:
    replayed from the journal alone); and how to state where it stopped. `calls_over` is
    told as soon as no call is left to make (workers end before the scoring)."""
    plan = inputs.manifest.sequential
    if plan is None:
        if call_stage is not None:
            asyncio.run(call_stage(inputs))
        calls_over()
        return evaluate_run(run_dir, inputs, root), lambda _: None

    def look(part: RunInputs, alpha: float) -> Results:
        return evaluate_run(run_dir, part, root, alpha)

    async def journaled(part: RunInputs) -> bool:
        # A replay: the stage was finished when the journal holds its every generation (a
        # run whose model was stopped has a stage it never finished).
        done = set(load_entries(run_dir / JOURNAL_FILE))
        return not generation_specs(part, done)

    outcome = asyncio.run(run_stages(inputs, plan, look, call_stage or journaled))
    calls_over()
    return outcome.results, lambda entries: stopping(plan, outcome, entries, len(inputs.cases))


def evaluate_run(
    run_dir: Path, inputs: RunInputs, workspace_root: Path, alpha: float = ALPHA
) -> Results:
    """Score and compare everything the journal holds for `inputs`' cases (no model call),
    the margin tests at two-sided error `alpha`."""
    manifest = inputs.manifest
    run_dirs = rundir.dependency_runs(workspace_root, manifest.dependency)
    return evaluate(
        baseline=manifest.baseline.model,
        candidates=[c.model for c in manifest.candidates],
        cases=inputs.cases,
        samples=manifest.samples,
        checks_for=inputs.checks_for,
        entries=load_entries(run_dir / JOURNAL_FILE),
        judge_model=manifest.judge.model if manifest.judge else None,
        graders=Graders(manifest.judge, manifest.graders),
        gates=manifest.gates,
        max_error_rate=manifest.max_error_rate,
        previous_baseline=previous_baseline(run_dirs, run_dir, manifest.baseline.model),
        messages=inputs.messages,
        params={m: manifest.params_for(m) for m in manifest.models},
        alpha=alpha,
    )


def write_outputs(
    run_dir: Path, inputs: RunInputs, results: Results, summary: Summary, workspace_root: Path
) -> None:
    write_reports(run_dir, inputs, results, summary, workspace_root)
    write_summary(run_dir, summary)  # last: its presence marks the run finished


def _reuse(run_dir: Path, workspace_root: Path) -> RunOutcome:
    """An identical run finished recently: re-render its reports, make no call."""
    inputs = read_inputs(run_dir)
    results, _ = _looks(run_dir, inputs, workspace_root, None)
    summary = read_summary(run_dir)
    write_reports(run_dir, inputs, results, summary, workspace_root)
    return RunOutcome(run_dir, results, summary, reused=True, resumed=False, counts=CallCounts())


def rerender(run_dir: Path, workspace_root: Path, now: Clock) -> RunOutcome:
    """`migrate report`: re-derive summary and reports from the journal, without a call."""
    if not (run_dir / MANIFEST_FILE).exists():
        raise UsageError(f"{run_dir}: no {MANIFEST_FILE} here; not a run directory")
    if has_open_batches(run_dir / JOURNAL_FILE):  # a summary would mark it finished
        raise UsageError(
            f"run {run_dir.name} has batches out; `migrate run` collects them and then "
            "writes its reports"
        )
    inputs = read_inputs(run_dir)
    results, stopped = _looks(run_dir, inputs, workspace_root, None)
    previous = try_read(read_summary, run_dir)
    finished = _finished_at(previous.finished_at) if previous else None
    entries = list(read_journal(run_dir / JOURNAL_FILE))
    summary = summarize(
        inputs.manifest,
        results,
        entries,
        finished or now(),
        previous.calls.made_this_time if previous else 0,
    )
    summary.cost = recorded(inputs, entries, previous.cost if previous else None)
    summary.stopping = stopped(entries)
    write_outputs(run_dir, inputs, results, summary, workspace_root)
    return RunOutcome(run_dir, results, summary, reused=True, resumed=False, counts=CallCounts())


def _finished_at(stamp: str) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(stamp)
    except ValueError:  # a summary edited by hand
        return None
