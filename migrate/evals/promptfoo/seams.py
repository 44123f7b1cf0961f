"""What a run needs from a promptfoo suite beyond `checks.score`: pure helpers it calls.

- `prompt_messages(messages, case)`: the test's `prefix`/`suffix` around the rendered prompt.
- `graders_needed(case)`: the checks whose verdicts come from a judge or from embeddings.
- `grader_model(spec, kind)`: the model a grader names (its `provider`), or None for the
  registry's judge model.
- `call_facts(...)`: what `score` needs to know about the call (prompt, latency, cost, tools).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from migrate.evals.promptfoo.assertions import base_type, needs_judge
from migrate.evals.promptfoo.grades import CallFacts
from migrate.evals.promptfoo.specs import grader_model as _litellm_model

if TYPE_CHECKING:
    from migrate.evals.case import Case, CheckSpec

Messages = list[dict[str, str]]


def prompt_messages(messages: Messages, case: Case) -> Messages:
    """The messages with the test's prefix before the first user message's text and its
    suffix after the last one's (promptfoo puts them around the whole rendered prompt,
    which for a text prompt is the user message)."""
    if not case.prefix and not case.suffix:
        return messages
    users = [i for i, m in enumerate(messages) if m.get("role") == "user"]
    if not users:
        raise ValueError("a prefix or suffix needs a user message to go around")
    result = [dict(m) for m in messages]
    result[users[0]]["content"] = case.prefix + result[users[0]]["content"]
    result[users[-1]]["content"] = result[users[-1]]["content"] + case.suffix
    return result


def graders_needed(case: Case) -> list[tuple[int, CheckSpec]]:
    """(check index, check) of every model-graded promptfoo assertion of `case`."""
    return [(i, spec) for i, spec in enumerate(case.checks) if needs_judge(spec)]


@dataclass(frozen=True)
class GraderModel:
    model: str  # litellm's name
    api_base: str | None = None


def grader_model(spec: CheckSpec, kind: Literal["text", "embedding"]) -> GraderModel | None:
    """The model the assertion's (or its test's) `provider` names for `kind` of call, or None
    when the registry's judge model (or embedding model) should grade."""
    provider: Any = spec.provider
    if isinstance(provider, dict) and "id" not in provider:
        provider = provider.get(kind)
    elif kind == "embedding" and base_type(spec) not in {"similar", "answer-relevance"}:
        return None
    if provider is None:
        return None
    provider_id = provider.get("id") if isinstance(provider, dict) else provider
    model = _litellm_model(str(provider_id))
    if model is None:  # the loader refuses these; a stored run edited by hand may not
        raise ValueError(f"grader provider {provider_id!r} has no litellm model")
    config = provider.get("config") or {} if isinstance(provider, dict) else {}
    api_base = config.get("apiBaseUrl") or (
        f"https://{config['apiHost']}" if config.get("apiHost") else None
    )
    return GraderModel(model, api_base)


def call_facts(
    messages: Messages,
    latency_seconds: float | None,
    cost: float | None,
    params: dict[str, Any] | None = None,
) -> CallFacts:
    """The facts of one generation call, in promptfoo's units (latency in milliseconds)."""
    params = params or {}
    prompt = "\n\n".join(m.get("content", "") for m in messages if m.get("role") == "user")
    return CallFacts(
        prompt=prompt,
        latency_ms=None if latency_seconds is None else round(latency_seconds * 1000),
        cost=cost,
        tools=params.get("tools"),
        functions=params.get("functions"),
    )
