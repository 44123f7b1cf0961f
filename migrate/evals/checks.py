"""Score one model output against a case's checks. Pure functions, no model calls.

`llm_judge` checks are graded by the judge model elsewhere; here they read the judge's
stored verdict.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import jinja2

from migrate.evals.prompt import environment
from migrate.evals.suite import Case, CheckSpec

# A refusal is a model declining the task, recognised by how replies that decline open.
# The phrases are matched case-insensitively in the first 240 characters only, so that an
# answer which merely quotes such a sentence later on is not a refusal. A provider's
# content filter (finish_reason "content_filter") is recorded as an error, not here.
REFUSAL_PATTERNS = [
    r"\bI(?:'m| am) (?:sorry|afraid)\b.{0,60}\b(?:can(?:'|no)?t|cannot|unable|won'?t|not able)\b",
    r"\bI (?:can(?:'|no)?t|cannot|won'?t|will not|am unable to|'m unable to|am not able to|"
    r"'m not able to) (?:help|assist|provide|comply|do that|fulfil|fulfill|complete|"
    r"answer|create|write|generate|share|support)\b",
    r"\bI must (?:decline|refuse)\b",
    r"\bI (?:have to|need to) decline\b",
    r"\b(?:as an AI|as a language model)\b.{0,80}\b(?:can(?:'|no)?t|cannot|unable|not able|"
    r"don'?t)\b",
    r"\b(?:against|violates?) (?:my|our|the) (?:guidelines|policies|policy|usage policies)\b",
    r"\bI'?m not (?:allowed|permitted) to\b",
    r"\bunable to (?:help|assist|comply) with (?:this|that|your) request\b",
]
_REFUSAL = re.compile("|".join(f"(?:{p})" for p in REFUSAL_PATTERNS), re.IGNORECASE | re.DOTALL)
REFUSAL_WINDOW = 240


def is_refusal(text: str) -> bool:
    """True when `text` opens like a reply that declines the task."""
    return bool(_REFUSAL.search(text[:REFUSAL_WINDOW]))


def parse_json(text: str) -> tuple[bool, Any]:
    """Parse `text` as JSON, tolerating one surrounding Markdown code fence."""
    candidate = text.strip()
    fenced = re.fullmatch(r"```(?:json|JSON)?\s*\n(.*?)\n?```", candidate, re.DOTALL)
    if fenced:
        candidate = fenced.group(1)
    try:
        return True, json.loads(candidate)
    except (ValueError, RecursionError):
        return False, None


def find_json(text: str) -> tuple[bool, Any]:
    """The first JSON object or array found anywhere in `text`."""
    decoder = json.JSONDecoder()
    for match in re.finditer(r"[{\[]", text):
        try:
            value, _ = decoder.raw_decode(text, match.start())
            return True, value
        except (ValueError, RecursionError):
            continue
    return False, None


@lru_cache(maxsize=4096)
def _compiled(source: str) -> jinja2.Template:
    return environment().from_string(source)


def render_value(value: Any, case: Case) -> Any:
    """Check values may be templates over the case: `{{ expected }}`, `{{ vars.x }}`..."""
    if isinstance(value, str) and "{{" in value:
        context = {**case.vars, "expected": case.expected, "vars": case.vars}
        return _compiled(value).render(**context)
    if isinstance(value, list):
        return [render_value(v, case) for v in value]
    return value


@dataclass(frozen=True)
class JudgeVerdict:
    passed: bool
    reasoning: str


@dataclass
class Score:
    passed: bool
    failed: list[str] = field(default_factory=list)  # labels of the checks that failed
    refusal: bool = False
    json_valid: bool = False
    judge: dict[str, JudgeVerdict] = field(default_factory=dict)
    judge_missing: bool = False  # a judge verdict is missing: an error, not a failure


def _schema_ok(instance: Any, schema: dict[str, Any]) -> bool:
    import jsonschema  # only suites with json_schema checks pay for the import

    return bool(jsonschema.Draft202012Validator(schema).is_valid(instance))


def apply_check(spec: CheckSpec, text: str, case: Case, judge: JudgeVerdict | None) -> bool:
    value = render_value(spec.value, case)
    kind = spec.type
    result: bool
    if kind == "equals":
        result = text.strip() == str(value).strip()
    elif kind == "contains":
        result = str(value) in text
    elif kind == "icontains":
        result = str(value).lower() in text.lower()
    elif kind == "not_contains":
        result = str(value) not in text
    elif kind == "starts_with":
        result = text.lstrip().startswith(str(value))
    elif kind == "contains_any":
        result = any(str(v) in text for v in value)
    elif kind == "icontains_any":
        result = any(str(v).lower() in text.lower() for v in value)
    elif kind == "contains_all":
        result = all(str(v) in text for v in value)
    elif kind == "icontains_all":
        result = all(str(v).lower() in text.lower() for v in value)
    elif kind == "regex":
        try:
            result = re.search(str(value), text) is not None
        except re.error:
            result = False
    elif kind == "is_json":
        ok, parsed = parse_json(text)
        result = ok and (spec.schema is None or _schema_ok(parsed, spec.schema))
    elif kind == "contains_json":
        ok, parsed = find_json(text)
        result = ok and (spec.schema is None or _schema_ok(parsed, spec.schema))
    elif kind == "json_schema":
        ok, parsed = parse_json(text)
        result = ok and spec.schema is not None and _schema_ok(parsed, spec.schema)
    elif kind == "max_chars":
        result = len(text) <= int(value)
    elif kind == "not_refusal":
        result = not is_refusal(text)
    elif kind == "llm_judge":
        result = judge is not None and judge.passed
    else:  # pragma: no cover - the loaders only produce the types above
        raise ValueError(f"unknown check type {kind}")
    return result != spec.negate


def judge_key(index: int) -> str:
    return f"judge-{index}"


def score(
    text: str, case: Case, checks: list[CheckSpec], judges: dict[str, JudgeVerdict] | None = None
) -> Score:
    """Apply every check; the output passes when all of them hold."""
    judges = judges or {}
    result = Score(passed=True, refusal=is_refusal(text), json_valid=parse_json(text)[0])
    for index, spec in enumerate(checks):
        verdict = judges.get(judge_key(index)) if spec.type == "llm_judge" else None
        if spec.type == "llm_judge":
            if verdict is None:
                result.judge_missing = True
                continue
            result.judge[judge_key(index)] = verdict
        if not apply_check(spec, text, case, verdict):
            result.passed = False
            result.failed.append(spec.label(render_value(spec.value, case)))
    return result
