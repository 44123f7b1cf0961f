"""`migrate run DEP`: re-baseline, run the candidates, diff, report. Exit code = verdict."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from migrate.console import plural, print_json, say
from migrate.evals.flow import Clock, RunOutcome, run_dependency
from migrate.evals.inputs import RunOptions
from migrate.evals.progress import progress_for
from migrate.evals.results import error_breakdown
from migrate.evals.sequential import stopping_text
from migrate.files import relative_to
from migrate.llm import ModelSeam
from migrate.registry.load import load_registry


def describe(outcome: RunOutcome, workspace: Path) -> list[str]:
    """The human summary of a finished (or reused) run."""
    results = outcome.results
    lines = []
    if outcome.reused:
        lines.append(
            f"Unchanged since run {outcome.run_dir.name}: no call made, its reports "
            "re-rendered (use --no-cache for fresh calls)."
        )
    elif outcome.resumed:
        lines.append(f"Resumed run {outcome.run_dir.name}.")
    calls = outcome.summary.calls
    lines.append(
        f"{results.verdict}: {outcome.summary.dependency} "
        f"({plural(len(results.by_model[results.baseline]), 'case')}, "
        f"{plural(results.samples, 'sample')}; "
        f"{plural(outcome.counts.made, 'call')} made, {outcome.counts.cached} from the cache, "
        f"{plural(calls.errors, 'error')} in the journal)"
    )
    if outcome.summary.stopping:
        stop = stopping_text(outcome.summary.stopping)
        lines.append("  " + stop[0].lower() + stop[1:])
    if results.infrastructure_failure:
        lines.append(f"  infrastructure: {results.infrastructure_failure}")
    else:
        for model, metrics in results.metrics.items():
            if metrics.errors:
                lines.append(f"  errors on {model}: {error_breakdown(metrics)}")
    if calls.rate_limited and not outcome.reused:
        refused = ", ".join(f"{model} x{n}" for model, n in calls.rate_limited.items())
        lines.append(f"  rate limited (429, retried): {refused}")
    for model, comparison in results.comparisons.items():
        lines.append(
            f"  {model}: {comparison.verdict}: "
            f"{plural(len(comparison.regressions), 'regression')}, "
            f"{plural(len(comparison.improvements), 'improvement')}, "
            f"{len(comparison.flaky)} flaky. {comparison.explanation}"
        )
        pairwise = comparison.preference
        if pairwise is not None and pairwise.pairs:
            lines.append(
                f"  {model} side by side: {len(pairwise.wins)} wins, {len(pairwise.losses)} "
                f"losses, {len(pairwise.ties)} ties; the order of the answers changed "
                f"{pairwise.inconsistent} of {pairwise.pairs} verdicts"
            )
    drift = results.drift
    if drift.previous_run and drift.changed:
        lines.append(
            f"  drift: {plural(len(drift.changed), 'case')} changed outcome on "
            f"{results.baseline} since run {drift.previous_run}"
        )
    lines.append(f"Report: {relative_to(outcome.run_dir / 'report.md', workspace)}")
    return lines


def run(
    registry_path: Path,
    today: dt.date,
    dependency: str,
    *,
    candidates: list[str] | None,
    samples: int | None,
    concurrency: int | None,
    timeout: float | None,
    limit: int | None,
    resume: str | None,
    new: bool,
    use_cache: bool,
    full: bool,
    progress: bool,
    as_json: bool,
    now: Clock,
) -> int:
    registry = load_registry(registry_path)
    options = RunOptions(
        dependency=dependency,
        candidates=candidates,
        samples=samples,
        concurrency=concurrency,
        timeout=timeout,
        limit=limit,
        resume=resume,
        new=new,
        use_cache=use_cache,
        full=full,
    )
    outcome = run_dependency(
        registry,
        options,
        today,
        now=now,
        make_seam=lambda c, t, r: ModelSeam(concurrency=c, timeout=t, max_retries=r),
        progress=progress_for(progress and not as_json),
        environ=os.environ,
    )
    if as_json:
        print_json(
            {
                **outcome.summary.model_dump(),
                "run_dir": relative_to(outcome.run_dir, Path.cwd()),
                "reused": outcome.reused,
                "resumed": outcome.resumed,
            }
        )
    else:
        for line in describe(outcome, Path.cwd()):
            say(line)
    return outcome.results.exit_code
