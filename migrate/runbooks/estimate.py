"""What a due dependency's run should cost this quarter, for `migrate plan` and its runbook,
and what the switch would cost a month, from the dependency's last finished run.

Planning never imports litellm (seconds of startup), so tokens are counted by the
documented approximation (evals/cost.py) and prices are the ones the dependency's latest run
recorded (litellm's map where it had the model, as `migrate run` found it), else the
registry's `input_cost_per_mtok` / `output_cost_per_mtok`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from migrate.errors import InputError, UsageError
from migrate.evals.cost import Price, estimate_run, expected_outputs, recorded_prices
from migrate.evals.inputs import RunOptions, prepare
from migrate.evals.record import read_summary, try_read
from migrate.evals.record_cost import CostEstimate, Projection, RunCost
from migrate.evals.rundir import finished_runs
from migrate.llm import price_for
from migrate.registry.load import Registry


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


def _latest_cost(registry: Registry, dep_id: str) -> tuple[str | None, RunCost | None]:
    for run_dir in reversed(finished_runs(registry.root, dep_id)):
        summary = try_read(read_summary, run_dir)
        if summary is not None and summary.cost is not None:
            return summary.run_id, summary.cost
    return None, None


def dependency_cost(registry: Registry, dep_id: str, today: dt.date) -> DependencyCost:
    """The estimated cost of `dep_id`'s full run, as `migrate run` would make it today."""
    dependency = registry.dependencies[dep_id]
    run_id, previous = _latest_cost(registry, dep_id)
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
    try:
        inputs = prepare(registry, RunOptions(dep_id), today)
    except InputError as exc:
        found.problem = f"the suite cannot run: {exc.problems[0].message}"
        return found
    except UsageError as exc:
        found.problem = exc.message
        return found
    except ImportError as exc:  # a suite whose JavaScript needs an engine not installed
        found.problem = f"the suite cannot be rendered here: {exc}"
        return found
    manifest = inputs.manifest
    recorded = recorded_prices(previous)
    prices: dict[str, Price | None] = {}
    for target in [manifest.baseline, *manifest.candidates, *filter(None, [manifest.judge])]:
        registered = price_for(target, None)
        prices[target.model] = recorded.get(target.model) or (
            Price(*registered) if registered else None
        )
    found.estimate = estimate_run(inputs, set(), prices, expected_outputs(previous))
    return found
