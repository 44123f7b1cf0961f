"""What a due dependency's run should cost this quarter, for `migrate plan` and its runbook,
and what the switch would cost a month, from the dependency's last finished run.

Planning never imports litellm (seconds of startup), so tokens are counted by the
documented approximation (evals/cost.py) and prices are the registry's
`input_cost_per_mtok` / `output_cost_per_mtok`, else the ones the dependency's latest run
recorded, else litellm's published map read as data (migrate/prices.py), the one
`migrate run` prices from.
"""

from __future__ import annotations

import json
from dataclasses import astuple, dataclass, field
from pathlib import Path
from typing import Any

from migrate.errors import InputError, UsageError
from migrate.evals.cost import (
    Planned,
    Price,
    TokenCounter,
    approximate_tokens,
    estimate_calls,
    expected_outputs,
    recorded_prices,
)
from migrate.evals.inputs import JUDGED_CHECKS, SuiteInputs, suite_inputs, target_of
from migrate.evals.judge import judge_params
from migrate.evals.record_cost import CostEstimate, Projection, RunCost
from migrate.evals.rundir import finished_runs_by_dependency
from migrate.llm import price_for
from migrate.prices import Prices, published_prices
from migrate.registry.load import Registry
from migrate.registry.schema import Dependency
from migrate.yamlcache import cache_folder


@dataclass
class DependencyCost:
    estimate: CostEstimate | None = None
    problem: str | None = None  # why there is no estimate
    volume: int | None = None
    projections: list[Projection] = field(default_factory=list)  # from the last run
    last_run: str | None = None

    def to_json(self) -> dict[str, Any]:
        """`plan --json`'s `estimated_cost` of one due dependency."""
        estimate = self.estimate
        return {
            "usd": estimate.cost if estimate else None,
            "usd_max": estimate.cost_max if estimate else None,
            "calls": estimate.calls if estimate else None,
            "input_tokens": estimate.input_tokens if estimate else None,
            "tokens_counted_by": estimate.tokens_counted_by if estimate else None,
            "unknown": (estimate.unknown if estimate else None) or None,
            "problem": self.problem,
            "volume": self.volume,
            "monthly": {p.model: p.monthly_cost for p in self.projections} or None,
            "from_run": self.last_run,
        }


def _latest_cost(runs: list[Path]) -> tuple[str | None, RunCost | None]:
    if not runs:  # the run record is imported only where there is a run to read
        return None, None
    from migrate.evals.record import read_summary, try_read

    for run_dir in reversed(runs):
        summary = try_read(read_summary, run_dir)
        if summary is not None and summary.cost is not None:
            return summary.run_id, summary.cost
    return None, None


SuiteKey = tuple[str, tuple[str, ...], str]


@dataclass
class PlanCache:
    """What one plan works out once for every dependency that shares it: each rendered
    suite (or why it cannot be), each estimate by everything it is computed from, and the
    finished runs (one walk of the runs folder, not one per dependency)."""

    suites: dict[SuiteKey, SuiteInputs | str] = field(default_factory=dict)
    estimates: dict[str, CostEstimate] = field(default_factory=dict)  # shared: read only
    runs: dict[str, list[Path]] | None = None  # finished runs by dependency, walked once
    prices_cache: Path | None = field(default_factory=lambda: cache_folder("prices"))
    published: Prices | None = None  # litellm's map, read once when a model needs it

    def finished_runs(self, root: Path, dep_id: str) -> list[Path]:
        if self.runs is None:
            self.runs = finished_runs_by_dependency(root)
        return self.runs.get(dep_id, [])

    def published_prices(self) -> Prices:
        if self.published is None:
            self.published = published_prices(self.prices_cache)
        return self.published


def _suite(
    registry: Registry, dependency: Dependency, cache: PlanCache
) -> tuple[SuiteKey, SuiteInputs | str]:
    """A dependency's rendered suite, once per plan for every dependency that shares it."""
    assert dependency.eval is not None
    checks = json.dumps([c.model_dump(mode="json") for c in dependency.eval.checks])
    key = (dependency.eval.cases, tuple(dependency.prompt_files), checks)
    suites = cache.suites
    if key not in suites:
        try:
            suites[key] = suite_inputs(registry, dependency, None)
        except InputError as exc:
            suites[key] = f"the suite cannot run: {exc.problems[0].message}"
        except UsageError as exc:
            suites[key] = exc.message
        except ImportError as exc:  # a suite whose JavaScript needs an engine not installed
            suites[key] = f"the suite cannot be rendered here: {exc}"
    return key, suites[key]


def dependency_cost(
    registry: Registry, dep_id: str, cache: PlanCache | None = None
) -> DependencyCost:
    """The estimated cost of `dep_id`'s full run, as `migrate run` would make it; `cache`:
    what the plan has worked out for the dependencies before it."""
    dependency = registry.dependencies[dep_id]
    cache = PlanCache() if cache is None else cache
    run_id, previous = _latest_cost(cache.finished_runs(registry.root, dep_id))
    projections = []
    if previous is not None and dependency.volume is not None:
        projections = [
            p.model_copy(
                update={
                    "monthly_cost": p.cost_per_request * dependency.volume
                    if p.cost_per_request is not None
                    else None
                }
            )
            for p in previous.projections
        ]
    found = DependencyCost(volume=dependency.volume, projections=projections, last_run=run_id)
    if dependency.eval is None:
        found.problem = "no eval suite"
        return found
    suite_key, suite = _suite(registry, dependency, cache)
    if isinstance(suite, str):
        found.problem = suite
        return found
    models = [dependency.model, *dependency.candidates]
    judged = {s.type for specs in suite.checks_for.values() for s in specs} & JUDGED_CHECKS
    judge = registry.settings.judge_model if judged else None
    if judged and judge is None:
        found.problem = "the suite needs settings.judge_model"
        return found
    recorded = recorded_prices(previous)
    prices: dict[str, Price | None] = {}
    for model in [*models, *([judge] if judge else [])]:
        target = target_of(registry, model)
        registered = price_for(target, None)
        if registered is None and recorded.get(model) is None:
            registered = price_for(target, cache.published_prices())
        prices[model] = Price(*registered) if registered else recorded.get(model)
    planned = Planned(
        cases=suite.cases,
        messages=suite.messages,
        checks_for=suite.checks_for,
        models=models,
        params={m: {**dependency.params, **registry.model(m).params} for m in models},
        samples=dependency.eval.samples,
        judge_model=judge,
        judge_params=judge_params({judge: registry.model(judge).params}, judge) if judge else {},
    )
    expected = expected_outputs(previous)
    # Many dependencies share a suite, models and prices: the same inputs, the same estimate.
    key = json.dumps(
        [
            suite_key,
            models,
            planned.params,
            planned.samples,
            judge,
            planned.judge_params,
            sorted((m, astuple(p) if p else None) for m, p in prices.items()),
            sorted(expected.items()),
        ],
        sort_keys=True,
        default=repr,
    )
    if key not in cache.estimates:
        cache.estimates[key] = estimate_calls(planned, set(), prices, expected, _counter(suite))
    found.estimate = cache.estimates[key]
    return found


def _counter(suite: SuiteInputs) -> TokenCounter:
    """The approximation, counted once per message list of a shared suite."""
    counted: dict[int, int] = {}
    by_id = {id(m): m for m in suite.messages.values()}

    def count(model: str, messages: list[dict[str, str]]) -> int:
        if id(messages) not in by_id:  # a judge's prompt: built for this call
            return approximate_tokens(model, messages)
        if id(messages) not in counted:
            counted[id(messages)] = approximate_tokens(model, messages)
        return counted[id(messages)]

    return count
