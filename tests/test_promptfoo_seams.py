"""The helpers a run calls for promptfoo suites: prefix/suffix, graders, call facts."""

from __future__ import annotations

import pytest

from migrate.evals.promptfoo.seams import (
    GraderModel,
    call_facts,
    grader_model,
    graders_needed,
    prompt_messages,
)
from migrate.evals.suite import Case, CheckSpec


def test_prefix_and_suffix_go_around_the_user_text() -> None:
    case = Case(id="c", vars={}, prefix="<<", suffix=">>")
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
    ]
    assert prompt_messages(messages, case) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "<<Hi>>"},
    ]
    assert messages[1]["content"] == "Hi"  # the input is left as it was
    assert prompt_messages(messages, Case(id="c", vars={})) is messages
    with pytest.raises(ValueError):
        prompt_messages([{"role": "system", "content": "x"}], case)


def test_graders_and_their_models() -> None:
    rubric = CheckSpec(type="promptfoo:llm-rubric", value="x", provider="openai:chat:judge")
    similar = CheckSpec(
        type="promptfoo:similar",
        value="y",
        provider={
            "text": "openai:gpt-4o-mini",
            "embedding": {"id": "azure:embeddings:ada", "config": {"apiHost": "h.example"}},
        },
    )
    plain = CheckSpec(type="promptfoo:contains", value="z")
    case = Case(id="c", vars={}, checks=(plain, rubric, similar))
    assert graders_needed(case) == [(1, rubric), (2, similar)]
    assert grader_model(rubric, "text") == GraderModel("openai/judge")
    assert grader_model(rubric, "embedding") is None
    assert grader_model(similar, "embedding") == GraderModel("azure/ada", "https://h.example")
    assert grader_model(plain, "text") is None  # the registry's judge model


def test_call_facts_in_promptfoos_units() -> None:
    messages = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]
    facts = call_facts(messages, 1.2345, 0.002, {"tools": [{"type": "function"}]})
    assert (facts.prompt, facts.latency_ms, facts.cost) == ("u", 1234, 0.002)
    assert facts.tools == [{"type": "function"}] and facts.functions is None
