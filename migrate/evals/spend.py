"""What `migrate run` spends: the estimate before its first call (and the --budget refusal),
the spend and tokens it measured, the projected monthly cost, and what a run stopped by its
budget can still show.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from migrate.errors import UsageError
from migrate.evals.calls import generation_specs, judge_specs
from migrate.evals.cost import (
    Price,
    approximate_tokens,
    case_costs,
    estimate_run,
    expected_outputs,
    measured,
    projection,
    recorded_prices,
    spent_so_far,
)
from migrate.evals.facts import ModelFacts, Prompt
from migrate.evals.inputs import RunInputs
from migrate.evals.record import Entry, EntryKey, Verdict, read_summary, try_read
from migrate.evals.record_cost import CostEstimate, RunCost
from migrate.evals.results import Results
from migrate.llm import price_for


def _usd(value: float) -> str:
    return f"${value:.4f}" if value == 0 or value >= 0.01 else f"${value:.6f}"


def run_prices(
    inputs: RunInputs, model_cost: Mapping[str, Any] | None = None
) -> dict[str, Price | None]:
    """Each model's price: the registry's (as the run's manifest recorded it), else the
    entry of litellm's map in `model_cost`, else in litellm's own when this process has
    loaded it."""
    manifest = inputs.manifest
    if model_cost is None:
        litellm = sys.modules.get("litellm")
        model_cost = getattr(litellm, "model_cost", None) if litellm else None
    prices: dict[str, Price | None] = {}
    for target in [manifest.baseline, *manifest.candidates, *filter(None, [manifest.judge])]:
        found = price_for(target, dict(model_cost) if model_cost else None)
        prices[target.model] = Price(*found) if found else None
    return prices


def calls_and_prompts(
    inputs: RunInputs, entries: Mapping[EntryKey, Entry]
) -> tuple[int, list[Prompt]]:
    """The calls the run still needs, and the prompts its estimate counts the tokens of, in
    the order it counts them: known before litellm is asked anything."""
    asked: list[Prompt] = []

    def ask(model: str, messages: list[dict[str, str]]) -> int:
        asked.append((model, messages))
        return 1

    return estimate_run(inputs, set(entries), {}, {}, ask).calls, asked


def previous_expected(run_dirs: list[Path], current: Path | None) -> dict[tuple[str, str], float]:
    """Mean output tokens per call by (role, model), from the latest earlier run that
    measured each: the expected length of the answers a run is about to ask for."""
    found: dict[tuple[str, str], float] = {}
    for run_dir in reversed(run_dirs):
        if run_dir == current:
            continue
        summary = try_read(read_summary, run_dir)
        if summary is not None and summary.cost is not None:
            for key, value in expected_outputs(summary.cost).items():
                found.setdefault(key, value)
    return found


def estimate_before_calls(
    inputs: RunInputs,
    entries: Mapping[EntryKey, Entry],
    run_dirs: list[Path],
    current: Path | None,
    facts: ModelFacts,
    prompts: list[Prompt],
) -> CostEstimate:
    """The estimate with litellm's prices and token counts (`facts`, asked for `prompts`)."""
    counted = {
        (model, repr(messages)): n
        for (model, messages), n in zip(prompts, facts.tokens, strict=True)
    }

    def count(model: str, messages: list[dict[str, str]]) -> int:
        found = counted.get((model, repr(messages)))
        return approximate_tokens(model, messages) if found is None else found

    return estimate_run(
        inputs,
        set(entries),
        run_prices(inputs, facts.model_cost),
        previous_expected(run_dirs, current),
        count,
        facts.counted_by,
        already_spent=spent_so_far(entries.values()),
    )


def refuse_over_budget(estimate: CostEstimate, budget: float | None) -> None:
    """--budget: a run whose estimate exceeds it does not start (a usage refusal, exit 2)."""
    if budget is None:
        return
    if estimate.cost is None:
        raise UsageError(
            f"no call made: --budget {_usd(budget)} needs an estimate, and the cost of this run "
            "cannot be estimated: " + "; ".join(estimate.unknown)
        )
    total = estimate.cost + estimate.already_spent
    if total > budget:
        spent = f" ({_usd(estimate.already_spent)} already spent)" if estimate.already_spent else ""
        raise UsageError(
            f"no call made: the estimated cost {_usd(total)}{spent} exceeds the budget "
            f"{_usd(budget)} ({estimate.calls} calls; at most {_usd(estimate.cost_max or 0)} "
            "with every answer at max_tokens); raise --budget, or run fewer cases with --limit"
            if estimate.cost_max is not None
            else f"no call made: the estimated cost {_usd(total)}{spent} exceeds the budget "
            f"{_usd(budget)} ({estimate.calls} calls); raise --budget, or run fewer cases "
            "with --limit"
        )


def pending_cases(inputs: RunInputs, entries: Mapping[EntryKey, Entry]) -> set[str]:
    """Cases with a generation or a judge call still missing from the journal."""
    specs = generation_specs(inputs, set(entries)) + judge_specs(inputs, dict(entries))
    return {s.case for s in specs}


def run_cost(
    inputs: RunInputs,
    entries: list[Entry],
    estimate: CostEstimate | None,
    budget: float | None,
    volume: int | None,
    prices: Mapping[str, Price | None] | None = None,
) -> RunCost:
    """The run's cost section: spend and tokens by model, the estimate beside them, and each
    model's projected monthly cost at `volume` with its cost tail."""
    cost = measured(entries, {**run_prices(inputs), **(prices or {})})
    cost.estimate = estimate
    cost.budget = budget
    cost.volume = volume
    cost.projections = [
        projection(model, case_costs(entries, model), volume) for model in inputs.manifest.models
    ]
    return cost


def recorded(inputs: RunInputs, entries: list[Entry], previous: RunCost | None) -> RunCost:
    """The cost section re-derived from the journal (`migrate report`): the estimate, budget,
    volume and prices are the ones the run recorded."""
    if previous is None:
        return run_cost(inputs, entries, None, None, None)
    prices: dict[str, Price | None] = dict(recorded_prices(previous))
    return run_cost(inputs, entries, previous.estimate, previous.budget, previous.volume, prices)


def stop_at_budget(results: Results, cost: RunCost, pending: set[str]) -> Results:
    """A run stopped by its budget shows what the cases it finished show: a gate they break
    is broken (FAIL), but they cannot vouch for the cases not run, so a PASS (or a baseline)
    becomes INCONCLUSIVE until the run is resumed with a larger budget."""
    note = (
        f" The run stopped at its budget ({_usd(cost.budget or 0)}) with {len(pending)} "
        "cases not finished; this covers only the cases it finished."
    )
    for comparison in results.comparisons.values():
        if comparison.verdict is Verdict.PASS:
            comparison.verdict = Verdict.INCONCLUSIVE
        comparison.explanation += note
    if results.verdict in (Verdict.PASS, Verdict.BASELINE):
        results.verdict = Verdict.INCONCLUSIVE
    return results
