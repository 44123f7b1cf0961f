"""summary.json's cost section: the estimate made before the first call, what the run spent,
the tokens it measured per model, and the projected monthly cost of the switch.

Part of the run record (evals/record.py owns the files; this module holds the cost types).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)


class ModelEstimate(_Record):
    """The calls still to make to one model in one role, and what they should cost."""

    model: str
    role: str  # generate | judge
    calls: int
    input_tokens: int
    # Output tokens at most: calls x max_tokens; None when the calls set no max_tokens.
    output_tokens_max: int | None
    # Output tokens expected from the previous run's measured mean; None without one.
    output_tokens_expected: float | None = None
    input_cost_per_mtok: float | None = None  # USD per million tokens
    output_cost_per_mtok: float | None = None
    price_source: str | None = None  # litellm | registry | a run's record; None: unknown
    cost_max: float | None = None  # USD, with every answer at max_tokens
    cost: float | None = None  # USD, expected outputs where measured, else max_tokens


class CostEstimate(_Record):
    """What a run will cost, before its first call: the calls still missing from the
    journal, their tokens and their price."""

    tokens_counted_by: str  # litellm.token_counter, or the documented approximation
    models: list[ModelEstimate] = Field(default_factory=list)
    calls: int = 0
    input_tokens: int = 0
    cost: float | None = None  # USD; None when some call has no price or no output bound
    cost_max: float | None = None
    already_spent: float = 0.0  # USD this run's journal shows spent before (a resumed run)
    unknown: list[str] = Field(default_factory=list)  # why `cost` is unknown, per model


class MeasuredTokens(_Record):
    """One model's journaled calls of one kind: tokens, and the cost of the calls made
    (calls served from the cache cost nothing)."""

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    spent: float | None = 0.0  # USD; None when a call made had no known price
    input_cost_per_mtok: float | None = None  # the price the run used
    output_cost_per_mtok: float | None = None

    @property
    def output_per_call(self) -> float | None:
        return self.output_tokens / self.calls if self.calls else None


class Projection(_Record):
    """One model's cost at the dependency's production volume, from the run's per-case cost."""

    model: str
    cases: int  # cases with a priced answer
    cost_per_request: float | None  # USD, the mean over cases of a case's mean call cost
    monthly_cost: float | None  # USD, volume x cost_per_request
    tail_cases: int = 0  # the most expensive 5% of cases, at least one
    tail_share: float | None = None  # their share of the model's cost


class RunCost(_Record):
    estimate: CostEstimate | None = None
    budget: float | None = None  # USD, --budget
    spent: float | None = 0.0  # USD, every call this run made (cached calls cost nothing)
    generate: dict[str, MeasuredTokens] = Field(default_factory=dict)  # by model
    judge: dict[str, MeasuredTokens] = Field(default_factory=dict)  # by judge model
    volume: int | None = None  # requests per month (dependencies.<id>.volume)
    projections: list[Projection] = Field(default_factory=list)
