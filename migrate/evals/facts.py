"""What only litellm knows about a run's models, asked once before the first call.

Whether each model can be called as configured (migrate/evals/preflight.py), its entry in
litellm's price map, and how many tokens each prompt counts by the model's tokenizer. A
run asks the process that makes its calls: this one (`InProcess`), or a worker when
workers make them (migrate/evals/workers.py answers with `litellm_facts` run there), so
that the run's own process never imports litellm.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from migrate.evals.cost import approximate_tokens
from migrate.evals.preflight import ModelUse, preflight
from migrate.llm import ModelSeam, litellm_module

COUNTED_BY_LITELLM = "litellm.token_counter"
Prompt = tuple[str, list[dict[str, str]]]  # a model and the messages it is sent


@dataclass
class ModelFacts:
    problems: list[str]  # what stops a model from being called, each with what to change
    model_cost: dict[str, dict[str, Any]]  # litellm's map entries under the models' names
    tokens: list[int]  # each prompt asked for, counted in order
    counted_by: str


def litellm_facts(
    uses: list[ModelUse], prompts: list[Prompt], environ: Mapping[str, str]
) -> ModelFacts:
    """The facts, from litellm in this process."""
    litellm = litellm_module()
    names = set()
    for use in uses:
        names |= {use.target.model, use.target.model.partition("/")[2]}
    cost_map = litellm.model_cost
    entries = {
        n: dict(cost_map[n]) for n in sorted(names) if n and isinstance(cost_map.get(n), dict)
    }
    counted: dict[tuple[str, str], int] = {}
    tokens = []
    for model, messages in prompts:
        key = (model, repr(messages))
        if key not in counted:
            try:
                counted[key] = int(litellm.token_counter(model=model, messages=messages))
            except Exception:  # a tokenizer litellm cannot load offline
                counted[key] = approximate_tokens(model, messages)
        tokens.append(counted[key])
    return ModelFacts(preflight(uses, environ), entries, tokens, COUNTED_BY_LITELLM)


class Models(Protocol):
    """Where a run's calls go: the seam, and who answers for litellm's facts."""

    seam: ModelSeam

    def facts(
        self, uses: list[ModelUse], prompts: list[Prompt], environ: Mapping[str, str]
    ) -> ModelFacts: ...

    def close(self) -> None: ...


@dataclass
class InProcess:
    """Calls made by this process's own event loop, facts from litellm imported here."""

    seam: ModelSeam

    def facts(
        self, uses: list[ModelUse], prompts: list[Prompt], environ: Mapping[str, str]
    ) -> ModelFacts:
        return litellm_facts(uses, prompts, environ)

    def close(self) -> None:
        """Nothing outlives the run's event loop here."""
