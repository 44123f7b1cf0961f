"""`migrate run DEP`: re-baseline, run the candidates, diff, report. Exit code = verdict."""

from __future__ import annotations

import datetime as dt
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from migrate.console import plural, print_json, say
from migrate.errors import ExitCode
from migrate.evals.batch import BatchPending, describe_batches
from migrate.evals.flow import Clock, RunOutcome, run_dependency
from migrate.evals.inputs import RunOptions
from migrate.evals.progress import progress_for
from migrate.evals.record_cost import CostEstimate
from migrate.evals.results import error_breakdown
from migrate.evals.sequential import stopping_text
from migrate.files import relative_to
from migrate.registry.load import load_registry
from migrate.routing import RoutingSeam

if TYPE_CHECKING:
    from migrate.evals.facts import Models


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
    for model, shares in calls.deployments.items() if not outcome.reused else ():
        spread = ", ".join(
            f"{name} {plural(share.calls, 'call')} "
            f"({share.errors} failed, {share.rate_limited} refused with 429)"
            for name, share in shares.items()
        )
        lines.append(f"  {model} deployments: {spread}")
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
    cost = outcome.summary.cost
    if cost is not None and not outcome.reused:
        lines.append(f"  spent: {usd(cost.spent)} (estimated {usd(_estimated(cost.estimate))})")
    if outcome.stopped:
        run_id = outcome.run_dir.name
        lines.append(
            f"Stopped: {outcome.stopped}, before the calls of "
            f"{plural(_unfinished(outcome), 'case')}; nothing more was called. Resume with "
            f"`migrate run {outcome.summary.dependency} "
            f"--resume {run_id} --budget USD` and a larger budget."
        )
        return lines
    lines.append(f"Report: {relative_to(outcome.run_dir / 'report.md', workspace)}")
    return lines


def _estimated(estimate: CostEstimate | None) -> float | None:
    if estimate is None or estimate.cost is None:
        return None
    return estimate.cost + estimate.already_spent


def _unfinished(outcome: RunOutcome) -> int:
    suite = outcome.summary.suite
    finished = len(outcome.results.by_model[outcome.results.baseline])
    return (suite.cases if suite else finished) - finished


def usd(value: float | None) -> str:
    """Dollars to four decimals; a sum under a cent to six, so it never reads as $0.0000."""
    if value is None:
        return "unknown"
    return f"${value:.4f}" if value == 0 or value >= 0.01 else f"${value:.6f}"


def estimate_lines(estimate: CostEstimate, budget: float | None) -> list[str]:
    """The estimate `migrate run` prints before its first call."""
    spent = f", {usd(estimate.already_spent)} already spent" if estimate.already_spent else ""
    limit = f"; budget {usd(budget)}" if budget is not None else ""
    lines = [
        f"Estimate: {plural(estimate.calls, 'call')}, {estimate.input_tokens:,} input tokens, "
        f"{usd(estimate.cost)} expected, at most {usd(estimate.cost_max)}{spent}{limit} "
        f"(tokens by {estimate.tokens_counted_by})"
    ]
    for row in estimate.models:
        output = (
            f"{row.output_tokens_expected:,.0f} output tokens expected"
            if row.output_tokens_expected is not None
            else f"{row.output_tokens_max:,} output tokens at most"
            if row.output_tokens_max is not None
            else "output tokens unbounded (no max_tokens)"
        )
        price = f", price from {row.price_source}" if row.price_source else ", no price"
        lines.append(
            f"  {row.model} ({row.role}): {plural(row.calls, 'call')}, "
            f"{row.input_tokens:,} input tokens, {output}: {usd(row.cost)}{price}"
        )
    return lines


def connector(
    workers: int | None, environ: Mapping[str, str]
) -> Callable[[int, float, int, int], Models]:
    """How a run's calls are made: by this process, or by `workers` processes (by default,
    every core once the run has more than a few hundred calls; 0 calls: a batch), started
    with `environ`."""

    def connect(concurrency: int, timeout: float, retries: int, calls: int) -> Models:
        from migrate.evals.facts import InProcess
        from migrate.evals.workers import Workers, default_workers

        count = (workers or default_workers(calls)) if calls else 1
        if count > 1:
            return Workers(count, concurrency, timeout, retries, environ)
        return InProcess(RoutingSeam(concurrency=concurrency, timeout=timeout, max_retries=retries))

    return connect


def _print_estimate(estimate: CostEstimate, budget: float | None) -> None:
    # On stderr, like the progress: stdout is the run's account, which scripts read.
    sys.stderr.write("\n".join(estimate_lines(estimate, budget)) + "\n")


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
    workers: int | None = None,
    resume: str | None,
    new: bool,
    use_cache: bool,
    budget: float | None,
    batch: bool,
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
        budget=budget,
        batch=batch,
        full=full,
    )
    try:
        outcome = run_dependency(
            registry,
            options,
            today,
            now=now,
            connect=connector(workers or registry.settings.run.workers, os.environ),
            progress=progress_for(progress and not as_json),
            environ=os.environ,
            on_estimate=None if as_json else lambda e: _print_estimate(e, budget),
        )
    except BatchPending as pending:
        if as_json:
            print_json(_pending_json(pending))
        else:
            for line in describe_batches(pending.run_dir.name, pending.report):
                say(line)
        return int(ExitCode.SUBMITTED)
    if as_json:
        print_json(
            {
                **outcome.summary.model_dump(),
                "run_dir": relative_to(outcome.run_dir, Path.cwd()),
                "reused": outcome.reused,
                "resumed": outcome.resumed,
                "stopped": outcome.stopped,
            }
        )
    else:
        for line in describe(outcome, Path.cwd()):
            say(line)
    return outcome.results.exit_code


def _pending_json(pending: BatchPending) -> dict[str, object]:
    report = pending.report
    return {
        "status": "submitted",
        "exit_code": int(ExitCode.SUBMITTED),
        "run_id": pending.run_dir.name,
        "run_dir": relative_to(pending.run_dir, Path.cwd()),
        "collected": report.collected,
        "resubmitted": report.resubmitted,
        "batches": [
            {"model": b.model, "batch_id": b.batch_id, "status": b.status, "requests": b.requests}
            for b in [*report.submitted, *report.pending]
        ],
        "rejected": report.failed,
    }
