"""A run's cost: estimated before the first call, measured from the journal after, and
projected to the dependency's monthly volume.

The estimate counts every call still missing from the journal: each model's generations
(cases x samples), and the judge's calls the suite's checks will need (one per judged answer
for llm_judge, two per candidate answer for pairwise, both orders). Input tokens are the
rendered prompts' tokens: litellm's `token_counter` when the caller has litellm loaded, else
the approximation below. Output tokens are bounded by `max_tokens`; where a previous run of
the same dependency measured the model's answers, their mean is the expected value.

Prices are the registry's where it gives them, else litellm's map (llm.price_for).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from migrate.evals.case import Case, CheckSpec
from migrate.evals.inputs import RunInputs
from migrate.evals.judge import (
    ORDERS,
    judge_extra,
    judge_messages,
    judge_params,
    pairwise_extra,
    pairwise_messages,
)
from migrate.evals.record_cost import (
    CostEstimate,
    MeasuredTokens,
    ModelEstimate,
    Projection,
    RunCost,
)

if TYPE_CHECKING:  # journal entries are read by a run; planning estimates need no record
    from migrate.evals.record import Entry, EntryKey

TokenCounter = Callable[[str, list[dict[str, str]]], int]  # (model, messages) -> tokens
APPROXIMATION = "approximation: ceil(characters / 4) + 4 per message + 3"
TAIL_SHARE_OF_CASES = 0.05  # the cost tail: the most expensive 5% of cases


def approximate_tokens(_model: str, messages: list[dict[str, str]]) -> int:
    """Tokens of a chat request without a tokenizer: a quarter of each message's characters
    (rounded up), 4 tokens of framing per message and 3 that prime the reply, as OpenAI's
    chat format counts its framing."""
    return sum(4 + math.ceil(len(str(m.get("content", ""))) / 4) for m in messages) + 3


@dataclass(frozen=True)
class Price:
    input: float  # USD per token
    output: float
    source: str  # litellm | registry | run <id>


@dataclass
class _Tally:
    calls: int = 0
    input_tokens: int = 0


def max_tokens_of(params: Mapping[str, Any]) -> int | None:
    for key in ("max_tokens", "max_completion_tokens"):
        value = params.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


@dataclass(frozen=True)
class Planned:
    """What decides a run's calls: its cases with their messages and checks, its models (the
    current one first), each model's params, the samples and the judge."""

    cases: list[Case]
    messages: Mapping[str, list[dict[str, str]]]
    checks_for: Mapping[str, list[CheckSpec]]
    models: list[str]
    params: Mapping[str, Mapping[str, Any]]  # by model, as its calls send them
    samples: int
    judge_model: str | None
    judge_params: Mapping[str, Any]


def planned_from(inputs: RunInputs) -> Planned:
    manifest = inputs.manifest
    judge_model = manifest.judge.model if manifest.judge else None
    return Planned(
        inputs.cases,
        inputs.messages,
        inputs.checks_for,
        manifest.models,
        {m: manifest.params_for(m) for m in manifest.models},
        manifest.samples,
        judge_model,
        judge_params(manifest.model_params, judge_model or ""),
    )


def estimate_run(
    inputs: RunInputs,
    done: set[EntryKey],
    prices: Mapping[str, Price | None],
    expected_output: Mapping[tuple[str, str], float],
    count: TokenCounter | None = None,
    counted_by: str = APPROXIMATION,
    already_spent: float = 0.0,
) -> CostEstimate:
    """The calls, tokens and cost of what `inputs` still needs (journal keys in `done` are
    made). `expected_output` maps (role, model) to a measured mean of output tokens per call."""
    return estimate_calls(
        planned_from(inputs), done, prices, expected_output, count, counted_by, already_spent
    )


def estimate_calls(
    planned: Planned,
    done: set[EntryKey],
    prices: Mapping[str, Price | None],
    expected_output: Mapping[tuple[str, str], float],
    count: TokenCounter | None = None,
    counted_by: str = APPROXIMATION,
    already_spent: float = 0.0,
) -> CostEstimate:
    """`estimate_run` of a run described by its parts (`migrate plan` has no manifest)."""
    count = count or approximate_tokens
    models = planned.models
    bounds = {m: max_tokens_of(planned.params.get(m, {})) for m in models}
    generate: dict[str, _Tally] = defaultdict(_Tally)
    judge: dict[str, _Tally] = defaultdict(_Tally)
    judge_model = planned.judge_model
    judge_bound = max_tokens_of(planned.judge_params)
    samples = planned.samples
    tokens: dict[tuple[str, str], int] = {}
    for case in planned.cases:
        messages = planned.messages[case.id]
        for model in models:
            missing = sum(("generate", model, case.id, s, "") not in done for s in range(samples))
            if missing:
                key = (model, case.id)
                tokens[key] = tokens.get(key) or count(model, messages)
                generate[model].calls += missing
                generate[model].input_tokens += missing * tokens[key]
        if judge_model is None:
            continue
        for index, check in enumerate(planned.checks_for[case.id]):
            judged: list[tuple[str, tuple[str, ...]]]  # (journal extra, the answers judged)
            if check.type == "llm_judge":
                rubric = check.rubric or str(check.value)
                frame = count(judge_model, judge_messages(messages, "", rubric, case.expected))
                judged = [(judge_extra(m, index), (m,)) for m in models]
            elif check.type == "pairwise":
                frame = count(judge_model, pairwise_messages(messages, "", "", check.rubric))
                judged = [
                    (pairwise_extra(c, index, order), (models[0], c))
                    for c in models[1:]
                    for order in ORDERS
                ]
            else:
                continue
            for extra, answered in judged:
                answer = sum(_answer_tokens(m, bounds, expected_output) for m in answered)
                for sample in range(samples):
                    if ("judge", judge_model, case.id, sample, extra) not in done:
                        judge[judge_model].calls += 1
                        judge[judge_model].input_tokens += frame + answer
    rows = [
        _row(model, "generate", generate[model], bounds[model], prices, expected_output)
        for model in models
        if model in generate
    ] + [
        _row(model, "judge", t, judge_bound, prices, expected_output) for model, t in judge.items()
    ]
    unknown = [_why_unknown(r) for r in rows if r.cost is None]
    return CostEstimate(
        tokens_counted_by=counted_by,
        models=rows,
        calls=sum(r.calls for r in rows),
        input_tokens=sum(r.input_tokens for r in rows),
        cost=None if unknown else sum(r.cost or 0.0 for r in rows),
        cost_max=None
        if any(r.cost_max is None for r in rows)
        else sum(r.cost_max or 0.0 for r in rows),
        already_spent=already_spent,
        unknown=unknown,
    )


def _answer_tokens(
    model: str, bounds: Mapping[str, int | None], expected: Mapping[tuple[str, str], float]
) -> int:
    """An answer's tokens inside a judge's prompt: measured mean, else its bound, else 0."""
    measured = expected.get(("generate", model))
    return math.ceil(measured) if measured is not None else (bounds.get(model) or 0)


def _row(
    model: str,
    role: str,
    tally: _Tally,
    bound: int | None,
    prices: Mapping[str, Price | None],
    expected: Mapping[tuple[str, str], float],
) -> ModelEstimate:
    price = prices.get(model)
    out_max = tally.calls * bound if bound is not None else None
    mean = expected.get((role, model))
    if mean is not None and bound is not None:
        mean = min(mean, bound)
    out_expected = tally.calls * mean if mean is not None else None
    out = out_expected if out_expected is not None else out_max

    def priced(output: float | None) -> float | None:
        if price is None or output is None:
            return None
        return tally.input_tokens * price.input + output * price.output

    return ModelEstimate(
        model=model,
        role=role,
        calls=tally.calls,
        input_tokens=tally.input_tokens,
        output_tokens_max=out_max,
        output_tokens_expected=out_expected,
        input_cost_per_mtok=price.input * 1e6 if price else None,
        output_cost_per_mtok=price.output * 1e6 if price else None,
        price_source=price.source if price else None,
        cost_max=priced(out_max),
        cost=priced(out),
    )


def _why_unknown(row: ModelEstimate) -> str:
    if row.price_source is None:
        return (
            f"{row.model}: no known price (set input_cost_per_mtok and "
            "output_cost_per_mtok on the model in the registry)"
        )
    return f"{row.model}: its answers have no max_tokens and no earlier run measured them"


def measured(entries: Iterable[Entry], prices: Mapping[str, Price | None]) -> RunCost:
    """Tokens and spend per model and kind, from the journal. Spend counts the calls made
    by this run (an entry served from the cache cost nothing)."""
    kinds: dict[str, dict[str, MeasuredTokens]] = {"generate": {}, "judge": {}}
    spent: float | None = 0.0
    for entry in entries:
        record = entry.record
        tally = kinds.setdefault(entry.kind, {}).setdefault(entry.model, MeasuredTokens())
        if record.prompt_tokens is None and record.completion_tokens is None:
            continue  # refused before an answer: nothing sent was billed
        tally.calls += 1
        tally.input_tokens += record.prompt_tokens or 0
        tally.output_tokens += record.completion_tokens or 0
        if entry.cached:
            continue
        if record.cost is None:
            tally.spent = None
            spent = None
        else:
            if tally.spent is not None:
                tally.spent += record.cost
            if spent is not None:
                spent += record.cost
    for by_model in kinds.values():
        for model, tally in by_model.items():
            price = prices.get(model)
            if price is not None:
                tally.input_cost_per_mtok = price.input * 1e6
                tally.output_cost_per_mtok = price.output * 1e6
    return RunCost(spent=spent, generate=kinds["generate"], judge=kinds["judge"])


def spent_so_far(entries: Iterable[Entry]) -> float:
    """USD the calls in a journal cost (calls served from the cache and unpriced ones: 0)."""
    return sum(e.record.cost or 0.0 for e in entries if not e.cached)


def projection(
    model: str, case_costs: Mapping[str, list[float | None]], volume: int | None
) -> Projection:
    """A model's cost per production request (the mean over cases of each case's mean call
    cost, as a request is one case), its monthly cost at `volume`, and the cost tail: the
    share of cost from the most expensive 5% of cases (at least one)."""
    per_case = [
        sum(c for c in costs if c is not None) / len(costs)
        for costs in case_costs.values()
        if costs and all(c is not None for c in costs)
    ]
    if not per_case:
        return Projection(model=model, cases=0, cost_per_request=None, monthly_cost=None)
    mean = sum(per_case) / len(per_case)
    tail = max(1, math.ceil(TAIL_SHARE_OF_CASES * len(per_case)))
    total = sum(per_case)
    top = sum(sorted(per_case, reverse=True)[:tail])
    return Projection(
        model=model,
        cases=len(per_case),
        cost_per_request=mean,
        monthly_cost=mean * volume if volume is not None else None,
        tail_cases=tail,
        tail_share=top / total if total > 0 else None,
    )


def case_costs(entries: Iterable[Entry], model: str) -> dict[str, list[float | None]]:
    """A model's answered generations' costs, by case (cached calls priced as if made)."""
    costs: dict[str, list[float | None]] = defaultdict(list)
    for entry in entries:
        if entry.kind == "generate" and entry.model == model and entry.record.error is None:
            costs[entry.case].append(entry.record.cost)
    return dict(costs)


def expected_outputs(previous: RunCost | None) -> dict[tuple[str, str], float]:
    """(role, model) -> mean output tokens per call that an earlier run measured."""
    if previous is None:
        return {}
    found = {}
    for role, by_model in (("generate", previous.generate), ("judge", previous.judge)):
        for model, tally in by_model.items():
            if tally.output_per_call is not None:
                found[(role, model)] = tally.output_per_call
    return found


def recorded_prices(previous: RunCost | None) -> dict[str, Price]:
    """The prices an earlier run used, by model: litellm's map or the registry's as it was."""
    if previous is None:
        return {}
    found = {}
    for by_model in (previous.generate, previous.judge):
        for model, tally in by_model.items():
            if tally.input_cost_per_mtok is not None and tally.output_cost_per_mtok is not None:
                found[model] = Price(
                    tally.input_cost_per_mtok / 1e6, tally.output_cost_per_mtok / 1e6, "a run"
                )
    return found
