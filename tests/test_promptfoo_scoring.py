"""promptfoo assertions scored without a model: the aggregate verdict, graders read from
hand-written replies, embeddings, call facts, tool calls and the JavaScript sandbox.

Expected values are worked out by hand from promptfoo's documented rules (weighted mean,
threshold, cosine similarity); the verdicts of real runs are compared with promptfoo itself
in test_promptfoo_conformance.py."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from migrate.evals.checks import JudgeVerdict, judge_key, score
from migrate.evals.promptfoo.assertions import CallFacts, Grade, case_grade, grade
from migrate.evals.promptfoo.graders import GradingStep, next_step, parse_grade
from migrate.evals.promptfoo.jsvalues import js_string
from migrate.evals.promptfoo.specs import grader_model
from migrate.evals.promptfoo.textmetrics import levenshtein, rouge_n
from migrate.evals.suite import Case, CheckSpec, load_suite


def spec(kind: str, value: object = None, **fields: object) -> CheckSpec:
    return CheckSpec(type=f"promptfoo:{kind}", value=value, **fields)  # type: ignore[arg-type]


CASE = Case(id="c", vars={"query": "When?", "context": "It opens at 9. It costs 5 euros."})


def test_the_weighted_mean_and_the_test_threshold() -> None:
    passed, failed = Grade(True, 1.0), Grade(False, 0.0)
    assert case_grade([passed, failed], [3, 1], None).score == 0.75  # (3*1 + 1*0) / 4
    assert not case_grade([passed, failed], [3, 1], None).passed  # any failure fails
    assert case_grade([passed, failed], [3, 1], 0.7).passed  # 0.75 >= 0.7
    assert not case_grade([passed, failed], [1, 1], 0.7).passed  # 0.5 < 0.7
    assert case_grade([failed], [0], 0).passed  # no weight: score 0, and 0 >= 0
    assert case_grade([], [], None).passed  # a test without assertions passes


def test_weight_zero_never_fails_and_scores_still_count() -> None:
    zero = grade(spec("contains", "x", weight=0.0), "abc", CASE)
    assert zero.passed and zero.score == 0.0


def test_llm_rubric_replies_read_by_promptfoos_rules() -> None:
    rubric = spec("llm-rubric", "polite", threshold=0.5)
    assert parse_grade(rubric, '{"pass": "yes", "score": "0.4"}') == JudgeVerdict(
        False, "Score 0.4", 0.4
    )
    flipped = spec("llm-rubric", "polite", threshold=0.5, negate=True)
    verdict = parse_grade(flipped, 'Sure: {"pass": true, "score": 0.25, "reason": "r"}')
    assert (verdict.passed, verdict.score) == (True, 0.75)  # 0.25 < 0.5 fails, then flipped
    assert parse_grade(spec("llm-rubric", "x"), '{"reason": "no pass key"}').passed
    assert not parse_grade(spec("llm-rubric", "x"), "no json at all").passed


def test_factuality_and_closed_qa_replies() -> None:
    fact = spec("factuality", "Paris")
    assert parse_grade(fact, '{"category": "b", "reason": "more"}').passed
    assert not parse_grade(fact, '{"category": "D"}').passed
    assert not parse_grade(fact, '{"category": "X"}').passed  # not A-E: promptfoo fails it
    assert parse_grade(fact, "(E) differs in style only").passed  # the legacy format
    closed = spec("model-graded-closedqa", "is short")
    assert parse_grade(closed, "It is short.\nY\nY").passed
    assert not parse_grade(closed, "It is long.\nN\nN").passed


def test_g_eval_asks_for_steps_then_a_score_per_criterion() -> None:
    geval = spec("g-eval", ["clear", "short"])
    replies: list[object] = []
    answers = iter(['{"steps":["a"]}', '{"score": 9, "reason": "ok"}'] * 2)
    asked = []
    while (step := next_step(geval, "text", CASE, "prompt", replies)) is not None:
        assert step.messages is not None
        asked.append(step.messages[-1]["content"])
        replies.append(next(answers))
    assert len(asked) == 4 and "**EVALUATION CRITERIA**\nshort" in asked[2]
    verdict = parse_grade(geval, replies, CASE)
    assert verdict.passed and verdict.score == pytest.approx(0.9)
    low = parse_grade(geval, ['{"steps":["a"]}', '{"score": 6, "reason": "ok"}'] * 2, CASE)
    assert not low.passed  # 0.6 < 0.7, the default threshold
    assert not parse_grade(geval, ["no steps"], CASE).passed


def test_context_graders_count_sentences() -> None:
    recall = spec("context-recall", "It opens at 9. It is free.")
    reply = "1. It opens at 9. [Attributed]\n2. It is free. [Not Attributed]\nnoise"
    assert parse_grade(recall, reply, CASE).score == 0.5
    relevance = spec("context-relevance", threshold=0.5)
    assert parse_grade(relevance, "It opens at 9.", CASE).score == 0.5  # 1 of 2 sentences
    assert parse_grade(relevance, "Insufficient Information", CASE).score == 0.0
    faithful = spec("context-faithfulness", threshold=0.6)
    verdicts = "...\nFinal verdict for each statement in order: Yes. No. Yes."
    result = parse_grade(faithful, ["a\nb\nc", verdicts], CASE)
    assert result.score == pytest.approx(2 / 3) and result.passed


def test_answer_relevance_and_similar_from_embeddings() -> None:
    relevance = spec("answer-relevance", threshold=0.5)
    replies: list[object] = []
    while (step := next_step(relevance, "9 am", CASE, "prompt", replies)) is not None:
        if step.embed:
            assert step.embed[0] == "When?"  # the query var, else the prompt
            replies.append([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
        else:
            replies.append("When does it open?")
    # cosines 1, 0 and 1/sqrt(2): their mean
    expected = (1 + 0 + 1 / math.sqrt(2)) / 3
    verdict = parse_grade(relevance, replies, CASE)
    assert verdict.score == pytest.approx(expected) and verdict.passed
    similar = spec("similar", ["a", "b"])
    step = next_step(similar, "out", CASE, "p", [])
    assert step == GradingStep(embed=("out", "a", "b"))
    # output (1, 0); expected (0.6, 0.8) has cosine 0.6, (1, 0) has cosine 1
    assert not parse_grade(similar, [[[1.0, 0.0], [0.6, 0.8]]]).passed
    assert parse_grade(similar, [[[1.0, 0.0], [0.6, 0.8], [1.0, 0.0]]]).passed
    euclid = spec("similar:euclidean", "a", threshold=1.0)
    assert parse_grade(euclid, [[[0.0, 0.0], [0.6, 0.8]]]).passed  # distance 1.0


def test_latency_and_cost_read_the_call() -> None:
    latency = spec("latency", threshold=100.0)
    assert grade(latency, "x", CASE, CallFacts(latency_ms=80)).passed
    assert not grade(latency, "x", CASE, CallFacts(latency_ms=120)).passed
    assert grade(
        spec("latency", threshold=100.0, negate=True), "x", CASE, CallFacts(latency_ms=120)
    ).passed
    assert not grade(spec("cost", threshold=0.01), "x", CASE, CallFacts(cost=None)).passed


def test_tools_calls_are_checked_against_the_declared_schema() -> None:
    parameters = {
        "type": "object",
        "required": ["city"],
        "properties": {"city": {"type": "string"}},
    }
    tools = [{"type": "function", "function": {"name": "weather", "parameters": parameters}}]
    check = spec("is-valid-openai-tools-call", config={"tools": tools})
    good = '[{"function": {"name": "weather", "arguments": "{\\"city\\": \\"Oslo\\"}"}}]'
    bad = '[{"function": {"name": "weather", "arguments": "{\\"city\\": 3}"}}]'
    unknown = '[{"function": {"name": "time", "arguments": "{}"}}]'
    assert grade(check, good, CASE).passed
    assert not grade(check, bad, CASE).passed
    assert "no function with that name" in grade(check, unknown, CASE).reason


def test_text_measures() -> None:
    assert levenshtein("kitten", "sitting") == 3
    assert levenshtein("😀", "") == 2  # JavaScript counts UTF-16 code units
    # 5 of 6 unigrams shared with a 6-word reference: precision = recall = 5/6
    assert rouge_n("the cat sat on the mat", "the cat sat on a mat") == pytest.approx(5 / 6)
    assert js_string([1.0, True, None, "x"]) == "1,true,,x"


def test_promptfoo_and_native_checks_combine() -> None:
    checks = [CheckSpec(type="contains", value="ok"), spec("contains", "fine")]
    assert score("ok fine", CASE, checks).passed
    assert not score("fine", CASE, checks).passed  # the native check fails
    judged = [spec("llm-rubric", "polite")]
    missing = score("x", CASE, judged)
    assert missing.judge_missing and missing.passed  # an error, not a failure
    verdict = {judge_key(0): JudgeVerdict(False, "rude", 0.0)}
    assert not score("x", CASE, judged, verdict).passed


def test_a_transform_that_throws_is_an_error_not_a_failure() -> None:
    broken = [spec("contains", "x", output_transform="JSON.parse(output).a")]
    result = score("not json", CASE, broken)
    assert result.error is not None and "Transform failed" in result.error


@pytest.mark.slow
def test_the_javascript_sandbox_stops_runaway_code() -> None:
    looping = grade(spec("javascript", "while (true) {}\nreturn true"), "x", CASE)
    assert not looping.passed and "time limit" in looping.reason
    body = "const a = [];\nwhile (true) a.push('x'.repeat(1e6) + a.length);\nreturn true"
    hungry = grade(spec("javascript", body), "x", CASE)
    assert not hungry.passed and ("memory limit" in hungry.reason or "time limit" in hungry.reason)
    assert grade(spec("javascript", "output === 'x'"), "x", CASE).passed  # still usable
    no_node = grade(spec("javascript", "typeof require === 'undefined'"), "x", CASE)
    assert no_node.passed


def test_tools_may_come_from_the_request() -> None:
    parameters = {"type": "object", "properties": {"city": {"type": "string"}}}
    tools = [{"type": "function", "function": {"name": "weather", "parameters": parameters}}]
    call = '[{"function": {"name": "weather", "arguments": "{\\"city\\": \\"Oslo\\"}"}}]'
    check = spec("is-valid-openai-tools-call")
    assert grade(check, call, CASE, CallFacts(tools=tools)).passed
    assert "No tools configured" in grade(check, call, CASE).reason


def test_a_javascript_file_assertion_runs_its_export(tmp_path: Path) -> None:
    (tmp_path / "check.cjs").write_text(
        "const helper = (o) => o.length;\n"
        "module.exports = { short: (output, context) => helper(output) < context.vars.max };\n",
        encoding="utf-8",
    )
    (tmp_path / "s.yaml").write_text(
        "tests:\n  - vars: {max: 5}\n    assert:\n"
        "      - {type: javascript, value: 'file://check.cjs:short'}\n",
        encoding="utf-8",
    )
    (case,) = load_suite(tmp_path / "s.yaml").cases
    assert score("abc", case, list(case.checks)).passed
    assert not score("abcdef", case, list(case.checks)).passed


@pytest.mark.parametrize(
    ("provider", "model"),
    [
        ("openai:chat:gpt-4o-mini", "openai/gpt-4o-mini"),
        ("openai:gpt-4.1", "openai/gpt-4.1"),
        ("anthropic:messages:claude-3-5-haiku", "anthropic/claude-3-5-haiku"),
        ("azure:embeddings:ada", "azure/ada"),
        ("mistral:embedding:mistral-embed", "mistral/mistral-embed"),
        ("vertex:gemini-pro", "vertex_ai/gemini-pro"),
        ("replicate:meta/llama", None),
    ],
)
def test_grader_ids_map_to_litellm_models(provider: str, model: str | None) -> None:
    assert grader_model(provider) == model


def test_every_promptfoo_assertion_is_a_check_type_a_run_may_store() -> None:
    from typing import get_args

    from migrate.evals.promptfoo.assertions import PREFIX, SUPPORTED
    from migrate.registry.schema import CheckType, CoreCheckType, PromptfooCheckType

    assert set(get_args(PromptfooCheckType)) == {PREFIX + kind for kind in SUPPORTED}
    assert set(get_args(CheckType)) == set(get_args(CoreCheckType)) | set(
        get_args(PromptfooCheckType)
    )
