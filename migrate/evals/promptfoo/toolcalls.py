"""`is-valid-openai-tools-call` and `-function-call`: the model's call matches a declared tool.

The tools are the ones the request declared (the assertion's `config.tools`, else the
model's params that the run passes in `CallFacts`, as promptfoo reads its provider's
config); each call must name one of them and carry arguments, as a JSON string, that its
parameter schema accepts (draft-07, as ajv checks it in promptfoo). The output is the
calls as JSON (a list of tool calls, or {tool_calls: [...]}, or one function call).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from migrate.evals.promptfoo.grades import CallFacts, Grade
from migrate.evals.promptfoo.jsvalues import json_parse, json_stringify

if TYPE_CHECKING:
    from migrate.evals.case import CheckSpec


def _calls(output: Any) -> Any:
    if isinstance(output, str) and output.lstrip()[:1] in {"[", "{"}:
        try:
            return json_parse(output)
        except ValueError:
            return output
    return output


def check_function_call(call: Any, functions: list[dict[str, Any]]) -> str | None:
    """Why `call` ({name, arguments}) does not fit `functions`, or None when it does."""
    import jsonschema

    if isinstance(call, dict) and "function_call" in call:
        call = call["function_call"]
    if not (
        isinstance(call, dict)
        and isinstance(call.get("name"), str)
        and isinstance(call.get("arguments"), str)
    ):
        return f"OpenAI did not return a valid-looking function call: {json_stringify(call)}"
    try:
        arguments = json_parse(call["arguments"])
    except ValueError as exc:
        return f"arguments are not JSON: {exc}"
    schema = next((f.get("parameters") for f in functions if f.get("name") == call["name"]), None)
    if schema is None:
        return f'Called "{call["name"]}", but there is no function with that name'
    errors = list(jsonschema.Draft7Validator(schema).iter_errors(arguments))
    if errors:
        return f'Call to "{call["name"]}" does not match schema: {errors[0].message}'
    return None


def tools_call_grade(kind: str, output: Any, spec: CheckSpec, facts: CallFacts) -> Grade:
    config = spec.config or {}
    calls = _calls(output)
    if kind == "is-valid-openai-function-call":
        functions = config.get("functions") or facts.functions or []
        problem = check_function_call(calls, functions)
        return Grade(
            problem is None, 1.0 if problem is None else 0.0, problem or "Assertion passed"
        )
    if isinstance(calls, dict) and "tool_calls" in calls:
        calls = calls["tool_calls"]
    if (
        not isinstance(calls, list)
        or not calls
        or any(
            not isinstance(c, dict)
            or not isinstance(c.get("function"), dict)
            or not isinstance(c["function"].get("name"), str)
            or not isinstance(c["function"].get("arguments"), str)
            for c in calls
        )
    ):
        shown = json.dumps(calls, ensure_ascii=False) if not isinstance(calls, str) else calls
        return Grade(False, 0.0, f"OpenAI did not return a valid-looking tools response: {shown}")
    tools = config.get("tools") or facts.tools
    if not tools:
        return Grade(False, 0.0, "No tools configured in provider, but output contains tool calls")
    functions = [t["function"] for t in tools if t.get("type") == "function" and "function" in t]
    for call in calls:
        problem = check_function_call(call["function"], functions)
        if problem:
            return Grade(False, 0.0, problem)
    return Grade(True, 1.0, "Assertion passed")
