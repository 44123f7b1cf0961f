"""promptfoo's assertions, scored exactly as promptfoo 0.121 scores them.

Each assertion yields a `Grade` (pass, score in [0, 1] or the script's number, reason);
`case_grade` combines them as promptfoo does: the weighted mean of the scores, and the
case passes when every assertion passes or, with a test-level `threshold`, when the
weighted mean reaches it. Model-graded assertions (llm-rubric, factuality, ...) and
`similar` take the judge's or the embedding's result as input: the calls are made by the
run, the verdicts are decided here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from migrate.evals.promptfoo import jsengine
from migrate.evals.promptfoo.grades import CallFacts, Grade, binary, flip, script_result
from migrate.evals.promptfoo.jsvalues import (
    coerce_string,
    deep_equal,
    js_string,
    json_parse,
    json_stringify,
    render,
)
from migrate.evals.promptfoo.textmetrics import json_objects, levenshtein, rouge_n

if TYPE_CHECKING:
    from migrate.evals.case import Case, CheckSpec

PREFIX = "promptfoo:"
# Types whose verdict comes from a judge model's reply (through `grading_messages`).
GRADED = {
    "llm-rubric",
    "factuality",
    "model-graded-factuality",
    "model-graded-closedqa",
    "g-eval",
    "answer-relevance",
    "context-faithfulness",
    "context-recall",
    "context-relevance",
}
# Types that need more than the output: the call's latency or cost, or embeddings.
FROM_CALL = {"latency", "cost"}
EMBEDDED = {"similar", "similar:cosine", "similar:dot", "similar:euclidean"}
DETERMINISTIC = {
    "equals",
    "contains",
    "icontains",
    "contains-any",
    "icontains-any",
    "contains-all",
    "icontains-all",
    "starts-with",
    "regex",
    "is-json",
    "contains-json",
    "javascript",
    "python",
    "levenshtein",
    "rouge-n",
    "is-valid-openai-tools-call",
    "is-valid-openai-function-call",
}
SUPPORTED = DETERMINISTIC | GRADED | FROM_CALL | EMBEDDED


def base_type(spec: CheckSpec) -> str:
    return spec.type.removeprefix(PREFIX)


def is_promptfoo(spec: CheckSpec) -> bool:
    return spec.type.startswith(PREFIX)


def needs_judge(spec: CheckSpec) -> bool:
    """True for assertions graded by a model (the judge, or embeddings for `similar`)."""
    return is_promptfoo(spec) and base_type(spec) in GRADED | EMBEDDED


def render_value(spec: CheckSpec, variables: dict[str, Any]) -> Any:
    """The assertion's value with `{{ vars }}` rendered (strings and strings in lists)."""
    value = spec.value
    if isinstance(value, str):
        return render(value, variables)
    if isinstance(value, list):
        return [render(v, variables) if isinstance(v, str) else v for v in value]
    return value


def transform_output(code: str, output: Any, variables: dict[str, Any], prompt: str) -> Any:
    """A `transform` snippet applied to the output (JavaScript, as promptfoo runs it)."""
    body = code if "\n" in code else f"return {code}"
    context = {"vars": variables, "prompt": {"raw": prompt, "label": prompt}}
    try:
        result = jsengine.call_function(
            ["output", "context", "process"], body, [output, context, {}]
        )
    except jsengine.JsError as exc:
        raise TransformError(f"Transform failed: {exc}") from None
    if result.value is None:
        raise TransformError("Transform failed: the transform returned null or undefined")
    return result.value


def graded_output(spec: CheckSpec, text: str, case: Case, prompt: str = "") -> Any:
    """The output a model-graded assertion judges: after the test's and its own transform."""
    output: Any = text
    if spec.output_transform:
        output = transform_output(spec.output_transform, output, case.vars, prompt)
    if spec.transform:
        output = transform_output(spec.transform, output, case.vars, prompt)
    return output


class TransformError(Exception):
    """A transform threw: promptfoo reports the test as an error, so is it here."""


def grade(
    spec: CheckSpec,
    output: Any,
    case: Case,
    facts: CallFacts | None = None,
    judged: Grade | None = None,
) -> Grade:
    """One assertion's grade for `output` (already through the test's own transform)."""
    facts = facts or CallFacts()
    if spec.transform:
        try:
            output = transform_output(spec.transform, output, case.vars, facts.prompt)
        except TransformError as exc:
            return Grade(False, 0.0, str(exc))
    kind = base_type(spec)
    value = render_value(spec, case.vars)
    text = coerce_string(output)
    result = _grade(kind, spec, value, output, text, case, facts, judged)
    if spec.weight == 0:
        return Grade(True, result.score, result.reason)
    return result


def _grade(
    kind: str,
    spec: CheckSpec,
    value: Any,
    output: Any,
    text: str,
    case: Case,
    facts: CallFacts,
    judged: Grade | None,
) -> Grade:
    if kind == "equals":
        return _equals(spec, value, text)
    if kind in {"contains", "icontains"}:
        fold = str.lower if kind == "icontains" else str
        return binary(
            fold(js_string(value)) in fold(text), spec, f"Expected output to contain {value!r}"
        )
    if kind in {"contains-any", "icontains-any", "contains-all", "icontains-all"}:
        fold = str.lower if kind.startswith("i") else str
        items = value if isinstance(value, list) else []
        found = [fold(js_string(v)) in fold(text) for v in items]
        hit = any(found) if kind.endswith("any") else all(found)
        return binary(hit, spec, f"Expected output to contain {kind[-3:]} of {items!r}")
    if kind == "starts-with":
        return binary(
            text.startswith(js_string(value)), spec, f"Expected output to start with {value!r}"
        )
    if kind == "regex":
        try:
            matched = jsengine.regex_test(js_string(value), text)
        except jsengine.JsError as exc:
            return Grade(False, 0.0, str(exc))
        return binary(matched, spec, f"Expected output to match regex {value!r}")
    if kind == "is-json":
        return _is_json(spec, value, text)
    if kind == "contains-json":
        return _contains_json(spec, value, text)
    if kind == "javascript":
        return _javascript(spec, value, output, case, facts)
    if kind == "python":
        from migrate.evals.promptfoo.pyassert import run_python_assertion

        return run_python_assertion(spec, value, output, case, facts.prompt)
    if kind == "levenshtein":
        distance = levenshtein(text, js_string(value))
        threshold = 5.0 if spec.threshold is None else spec.threshold
        return binary(distance <= threshold, spec, f"Levenshtein distance {distance} > {threshold}")
    if kind == "rouge-n":
        score = rouge_n(text, js_string(value))
        threshold = 0.75 if spec.threshold is None else spec.threshold
        passed = flip(score >= threshold, spec)
        return Grade(passed, 1 - score if spec.negate else score, f"ROUGE-N score {score:.2f}")
    if kind in {"latency", "cost"}:
        measured = facts.latency_ms if kind == "latency" else facts.cost
        if measured is None or spec.threshold is None:
            return Grade(False, 0.0, f"no {kind} recorded for this call")
        return binary(measured <= spec.threshold, spec, f"{kind} {measured} > {spec.threshold}")
    if kind in {"is-valid-openai-tools-call", "is-valid-openai-function-call"}:
        from migrate.evals.promptfoo.toolcalls import tools_call_grade

        return tools_call_grade(kind, output, spec, facts)
    if judged is None:
        return Grade(False, 0.0, f"no {kind} result")
    return judged


def _equals(spec: CheckSpec, value: Any, text: str) -> Grade:
    if isinstance(value, dict | list) or value is None:
        try:
            same = deep_equal(value, json_parse(text))
        except ValueError:
            return Grade(spec.negate, 1.0 if spec.negate else 0.0, "Output is not JSON")
        return binary(same, spec, f"Expected output to equal {json_stringify(value)}")
    return binary(js_string(value) == text, spec, f"Expected output to equal {value!r}")


def _schema_validator(schema: Any) -> Any:
    import jsonschema

    if isinstance(schema, str):
        from migrate.evals.promptfoo.yaml12 import parse_yaml12

        schema = parse_yaml12(schema, "schema").data
    # promptfoo validates with ajv's defaults: draft-07, formats checked (ajv-formats).
    return jsonschema.Draft7Validator(
        schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
    )


def _is_json(spec: CheckSpec, value: Any, text: str) -> Grade:
    try:
        parsed = json_parse(text)
    except ValueError:
        return binary(False, spec, "Expected output to be valid JSON")
    if value:
        valid = _schema_validator(value).is_valid(parsed)
        passed = flip(valid, spec)
        return Grade(passed, 1.0 if passed else 0.0, "" if passed else "JSON does not conform")
    return binary(True, spec, "")


def _contains_json(spec: CheckSpec, value: Any, text: str) -> Grade:
    objects = json_objects(text)
    passed = not objects if spec.negate else bool(objects)
    if value:
        validator = _schema_validator(value)
        for candidate in objects:
            valid = validator.is_valid(candidate)
            passed = flip(valid, spec)
            if valid:
                break
    return Grade(
        passed, 1.0 if passed else 0.0, "" if passed else "Expected output to contain valid JSON"
    )


def _javascript(spec: CheckSpec, value: Any, output: Any, case: Case, facts: CallFacts) -> Grade:
    if isinstance(value, dict) and "source" in value:  # file://x.js[:fn], read at load time
        body = jsengine.module_body(str(value["source"]), str(value.get("function") or ""))
    else:
        code = js_string(value).rstrip()
        body = code if "\n" in code else jsengine.function_body(code)
    context = {
        "prompt": facts.prompt,
        "vars": case.vars,
        "test": {"vars": case.vars, "description": case.description, "metadata": case.metadata},
        **({"config": spec.config} if spec.config is not None else {}),
    }
    try:
        result = jsengine.call_function(
            ["output", "context", "process"], body, [output, context, {}]
        )
    except jsengine.JsError as exc:
        return Grade(False, 0.0, f"Custom function threw error: {exc}")
    return script_result(spec, result.kind, result.value, "Custom function")


def case_grade(grades: Sequence[Grade], weights: Sequence[float], threshold: float | None) -> Grade:
    """promptfoo's verdict for a test from its assertions' grades.

    The score is the weighted mean of the grades' scores (0 when the weights sum to 0).
    Without a threshold the test passes when every grade passes; with one, when the score
    reaches it, whatever the single grades say. No assertions at all is a pass.
    """
    if not grades:
        return Grade(True, 1.0, "No assertions")
    total_weight = sum(weights)
    score = (
        sum(g.score * w for g, w in zip(grades, weights, strict=True)) / total_weight
        if total_weight > 0
        else 0.0
    )
    failed = [g.reason for g in grades if not g.passed]
    if threshold is not None and not math.isnan(threshold):
        passed = score >= threshold
        reason = f"Aggregate score {score:.2f} {'≥' if passed else '<'} {threshold} threshold"
        return Grade(passed, score, reason)
    return Grade(not failed, score, failed[-1] if failed else "All assertions passed")
