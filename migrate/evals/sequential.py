"""A sequential run's looks: the cases of each stage in the run's seeded order, the calls
that stage still needs, the verdict at the look's level, and the stop.

The same loop re-derives a finished run's stopping point from its journal (`migrate
report`, a reused run): a look sees only what the journal holds, so replaying the looks
without calls reaches the look the run stopped at. What the design guarantees is in
stages.py and docs/statistics.md.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from migrate.evals.inputs import RunInputs
from migrate.evals.record import Entry, Verdict
from migrate.evals.record_stages import StagePlan, Stopping
from migrate.evals.results import Results
from migrate.evals.stages import INTERIM_ALPHA, case_order
from migrate.evals.stats import level_text

# Makes the calls a stage's inputs still miss; False when a model was stopped (the breaker).
CallStage = Callable[[RunInputs], Coroutine[Any, Any, bool]]
Look = Callable[[RunInputs, float], Results]  # the verdict on these cases at this alpha


@dataclass
class StagedOutcome:
    inputs: RunInputs  # the cases used, in the suite's order
    results: Results  # at the deciding look's level
    stage: int  # 1-based
    reason: str  # settled (at an interim look) | exhausted (the last look) | stopped


def stage_inputs(inputs: RunInputs, plan: StagePlan, stage: int) -> RunInputs:
    """The run's inputs cut to the cases of stages 1..`stage` (1-based), in suite order."""
    order = case_order([c.id for c in inputs.cases], plan.seed)
    chosen = set(order[: plan.stages[stage - 1]])
    cases = [c for c in inputs.cases if c.id in chosen]
    return RunInputs(
        inputs.manifest,
        cases,
        {c.id: inputs.messages[c.id] for c in cases},
        {c.id: inputs.checks_for[c.id] for c in cases},
    )


def settled(results: Results) -> bool:
    """Every candidate PASS or FAIL, with no infrastructure failure: a later look could
    only spend calls."""
    if results.infrastructure_failure or not results.comparisons:
        return False
    return all(c.verdict in (Verdict.PASS, Verdict.FAIL) for c in results.comparisons.values())


async def run_stages(
    inputs: RunInputs, plan: StagePlan, look: Look, call_stage: CallStage
) -> StagedOutcome:
    """Stage by stage: make the stage's missing calls (a replay of the journal makes none
    and says whether the stage was finished), look, and stop once settled or when the
    suite is exhausted."""
    looks = len(plan.stages)
    for stage in range(1, looks + 1):
        part = stage_inputs(inputs, plan, stage)
        finished = await call_stage(part)
        results = look(part, plan.alphas[stage - 1])
        if not finished:
            return StagedOutcome(part, results, stage, "stopped")
        if settled(results) and stage < looks:
            return StagedOutcome(part, results, stage, "settled")
    return StagedOutcome(part, results, looks, "exhausted")


def error_control(plan: StagePlan) -> str:
    """How the looks hold the error rates, in words for summary.json and the reports."""
    looks = len(plan.stages)
    interim = level_text(1 - plan.alphas[0])
    final = level_text(1 - plan.alphas[-1])
    return (
        f"Group-sequential design with Bonferroni alpha spending over {looks} looks fixed "
        f"before the first call (after {', '.join(str(n) for n in plan.stages)} cases, taken "
        f"in a random order of seed {plan.seed}): each of the {looks - 1} interim looks "
        f"decides at {interim} confidence (together {INTERIM_ALPHA * 100:.1f}% error, both "
        f"sides), the final look on the whole suite at {final}: together they spend no more "
        "than the fixed-size test's 2.5% per side, however the looks fall, and the final "
        "look is never less strict than a full run's 95%."
    )


def stopping(
    plan: StagePlan, outcome: StagedOutcome, entries: list[Entry], cases_in_suite: int
) -> Stopping:
    """Where the run stopped, and the calls and money it saved against running every case:
    calls and cost per case used, measured, times the cases left out."""
    used = {c.id for c in outcome.inputs.cases}
    spent = [e for e in entries if e.case in used]
    calls = len(spent)
    # Cached calls count at their original price: what the cases left out would cost.
    priced = [e.record.cost for e in spent if e.record.cost is not None]
    cost = sum(priced) if priced else None
    cases_used = len(used)
    per_case = calls / cases_used if cases_used else 0.0
    left = cases_in_suite - cases_used
    return Stopping(
        stage=outcome.stage,
        stages=len(plan.stages),
        cases_used=cases_used,
        cases_in_suite=cases_in_suite,
        level=1 - plan.alphas[outcome.stage - 1],
        reason=outcome.reason,
        calls=calls,
        calls_full_run=calls + round(per_case * left),
        cost=cost,
        cost_saved=cost / cases_used * left if cost is not None and cases_used else None,
        error_control=error_control(plan),
    )


def stopping_text(stop: Stopping) -> str:
    """Where a sequential run stopped and what that saved, in one sentence."""
    level = level_text(stop.level)
    where = f"{stop.cases_used} of {stop.cases_in_suite} cases in a seeded random order"
    if stop.reason == "settled":
        text = (
            f"Stopped after stage {stop.stage} of {stop.stages}: {where}, every candidate's "
            f"verdict settled at {level} confidence"
        )
    elif stop.reason == "stopped":
        text = (
            f"Stopped in stage {stop.stage} of {stop.stages} ({where}): a model was stopped "
            f"by its failing calls; that look is at {level} confidence"
        )
    else:
        text = (
            f"Ran all {stop.stages} stages: no earlier look settled every verdict, so "
            f"all {stop.cases_in_suite} cases were used, the last look at {level} confidence"
        )
    text += f"; {stop.calls:,} calls of about {stop.calls_full_run:,} for the whole suite"
    saved = stop.calls_full_run - stop.calls
    if saved > 0:
        text += f", {saved:,} saved"
        if stop.cost_saved is not None:
            text += f" (about ${stop.cost_saved:.4g} at the measured cost per case)"
    return text + "."
