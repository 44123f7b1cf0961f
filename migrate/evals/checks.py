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

from migrate.errors import UsageError
from migrate.evals.case import Case, CheckSpec
from migrate.evals.prompt import environment
from migrate.evals.promptfoo.grades import CallFacts

# A refusal is the model declining the task, in the first person, at the opening of its reply.
# The rule: after straightening curly apostrophes and removing quoted passages ("...",
# “...”, «...», `code`, and `>` quote lines), the first 240 characters hold one of
#   - "I" + a negation + a verb of doing the task: "I can't help", "I'm unable to provide",
#     "I won't be able to assist", "I cannot and will not write", "I'm not comfortable
#     writing", or the negation closing its sentence ("I can't do that.", "I can't.");
#   - an apology followed in the same sentence by "I" + a negation ("I'm sorry, but I
#     can't ...", "Sorry, I don't ...");
#   - an explicit decline ("I must decline", "I'm not allowed to", "against my guidelines",
#     "As an AI ..., I can't ...");
#   - the same in German, French or Spanish ("Es tut mir leid, aber ich kann ... nicht").
# Sentences about someone else ("we can't ship to PO boxes", "you cannot return opened
# items", "the function cannot be called"), idioms ("I can't help but", "I can't wait"), a
# refusal quoted inside an answer, and one that appears only later in a long answer are not
# refusals. A provider's content filter (finish_reason "content_filter") is recorded as an
# error, not here.
REFUSAL_WINDOW = 240
_I_NEGATION = (
    r"\bI(?:(?:'m| am) (?:unable to|not able to|not going to|not comfortable)"
    r"|(?:'ll| will|'d| would) not be able to"
    r"| (?:can't|cannot|can not|won't|will not|do not|don't|must not|shouldn't)(?: be able to)?)"
    r"(?:,? and (?:won't|will not|can't|cannot|shouldn't))?"
)
_TASK_VERB = (
    r"(?:help(?!\s+(?:but|it|thinking|feeling|wondering|noticing|laughing))|assist|provid"
    r"|compl[yi]|complet|fulfil|answer|creat|writ|generat|shar|support|produc|engag|participat"
    r"|discuss|continu|proceed|summari[sz]|translat|draft|respond|repl[yi]|disclos|reveal"
    r"|feel comfortable|do (?:that|this|it|so)|be of (?:help|assistance)"
    r"|with (?:that|this|your|the|such))\w*"
)
REFUSAL_PATTERNS = [
    rf"{_I_NEGATION}\s+{_TASK_VERB}\b",
    rf"{_I_NEGATION}\s*(?:[.!]|$)",
    rf"\b(?:sorry|apologi[sz]e|apologies)\b[^.!?\n]{{0,80}}?{_I_NEGATION}",
    r"\bI(?:'m| am)? afraid I (?:can't|cannot|won't|must decline)",
    r"\bI (?:must|have to|need to|will have to|'ll have to|'m going to have to|am going to have "
    r"to) (?:respectfully |politely )?(?:decline|refuse)\b",
    r"\bI(?:'m| am) not (?:allowed|permitted) to\b",
    r"\bnot something I(?: can|'m able to| am able to| will)(?: help| assist)",
    r"\b(?:against|violates?|outside(?: of)?) my (?:\w+ )?(?:guidelines|policies|principles"
    r"|programming|scope)\b",
    r"\b(?:as an AI|as a (?:large )?language model)\b[^.!?\n]{0,80}?"
    r"\bI(?:'m| am)? (?:can't|cannot|don't|do not|unable|not able|am unable|am not able)\b",
    r"\b(?:es tut mir leid|leider)\b[^.!?\n]{0,80}?\b(?:ich kann|kann ich)\b[^.!?\n]{0,40}?"
    r"\bnicht\b",
    r"\b(?:ich kann|kann ich) (?:ihnen |dir )?(?:dabei |damit |hierbei )?nicht (?:weiter)?helfen\b",
    r"\b(?:je suis )?désolée?\b[^.!?\n]{0,80}?\bje ne (?:peux|pourrai|suis pas en mesure)\b",
    r"\bje ne (?:peux|pourrai) pas (?:vous |t')?aider\b",
    r"\blo siento\b[^.!?\n]{0,80}?\bno (?:puedo|podré)\b",
    r"\bno (?:puedo|podré) ayudar\b",
]
_REFUSAL = re.compile("|".join(f"(?:{p})" for p in REFUSAL_PATTERNS), re.IGNORECASE)
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u00b4": "'"})
_QUOTED = re.compile(
    r'"[^"\n]*"|\u201c[^\u201d]*\u201d|\u201e[^\u201c\u201d]*[\u201c\u201d]|\u00ab[^\u00bb]*\u00bb'
    r"|`[^`\n]*`|^[ \t]*>.*$",
    re.MULTILINE,
)


def is_refusal(text: str) -> bool:
    """True when `text` opens with the model declining the task (see the rule above)."""
    opening = text[: REFUSAL_WINDOW * 8].translate(_APOSTROPHES)
    opening = _QUOTED.sub(" ", opening).lstrip(" \t\r\n*_#>-")
    window = opening[:REFUSAL_WINDOW]
    if len(opening) > REFUSAL_WINDOW:
        window += " \u2026"  # a sentence cut by the window does not end there
    return bool(_REFUSAL.search(window))


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
    """Check values may be templates over the case: `{{ expected }}`, `{{ vars.x }}`...

    A case's own `vars.expected` (how promptfoo-style suites carry the expected answer) wins
    over the top-level `expected`, as it does when the prompt is rendered.
    """
    if isinstance(value, str) and "{{" in value:
        context = {"expected": case.expected, **case.vars, "vars": case.vars}
        try:
            return _compiled(value).render(**context)
        except Exception as exc:  # a typo in a check value is the suite's fault, not a crash
            where = f" (line {case.line})" if case.line else ""
            detail = getattr(exc, "message", None) or str(exc)
            raise UsageError(
                f"case '{case.id}'{where}: the check value {value!r} cannot be rendered: "
                f"{' '.join(str(detail).split())}"
            ) from None
    if isinstance(value, list):
        return [render_value(v, case) for v in value]
    return value


@dataclass(frozen=True)
class JudgeVerdict:
    passed: bool
    reasoning: str
    score: float | None = None  # promptfoo graders report a score as well (0..1)


@dataclass
class Score:
    passed: bool
    failed: list[str] = field(default_factory=list)  # labels of the checks that failed
    refusal: bool = False
    json_valid: bool = False
    judge: dict[str, JudgeVerdict] = field(default_factory=dict)
    judge_missing: bool = False  # a judge verdict is missing: an error, not a failure
    error: str | None = None  # the checks could not run (a transform threw): not a failure
    weighted_score: float | None = None  # promptfoo's weighted mean of its assertions' scores


def _schema_ok(instance: Any, schema: dict[str, Any]) -> bool:
    import jsonschema  # only suites with json_schema checks pay for the import

    return bool(jsonschema.Draft202012Validator(schema).is_valid(instance))


def apply_check(spec: CheckSpec, text: str, case: Case, judge: JudgeVerdict | None) -> bool:
    if spec.type.startswith("promptfoo:"):
        raise ValueError("promptfoo assertions are scored together by score()")
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
    text: str,
    case: Case,
    checks: list[CheckSpec],
    judges: dict[str, JudgeVerdict] | None = None,
    facts: CallFacts | None = None,
) -> Score:
    """Apply every check; the output passes when all of them hold.

    promptfoo assertions among the checks are scored together as promptfoo scores a test
    (weights, thresholds, the test's own threshold): together they count as one check.
    `facts` carries the call's prompt, latency and cost for the assertions that read them.
    """
    judges = judges or {}
    result = Score(passed=True, refusal=is_refusal(text), json_valid=parse_json(text)[0])
    promptfoo: list[tuple[int, CheckSpec]] = []
    for index, spec in enumerate(checks):
        if spec.type.startswith("promptfoo:"):
            promptfoo.append((index, spec))
            continue
        if spec.type == "pairwise":  # compares two models' answers: see pairwise.py
            continue
        verdict = judges.get(judge_key(index)) if spec.type == "llm_judge" else None
        if spec.type == "llm_judge":
            if verdict is None:
                result.judge_missing = True
                continue
            result.judge[judge_key(index)] = verdict
        if not apply_check(spec, text, case, verdict):
            result.passed = False
            result.failed.append(spec.label(render_value(spec.value, case)))
    if promptfoo:
        _score_promptfoo(text, case, promptfoo, judges, facts or CallFacts(), result)
    return result


def _score_promptfoo(
    text: str,
    case: Case,
    specs: list[tuple[int, CheckSpec]],
    judges: dict[str, JudgeVerdict],
    facts: CallFacts,
    result: Score,
) -> None:
    from migrate.evals.promptfoo.assertions import (
        TransformError,
        case_grade,
        grade,
        needs_judge,
    )
    from migrate.evals.promptfoo.assertions import render_value as pf_render
    from migrate.evals.promptfoo.grades import Grade

    output: Any = text
    transform = specs[0][1].output_transform
    if transform:
        from migrate.evals.promptfoo.assertions import transform_output

        try:
            output = transform_output(transform, text, case.vars, facts.prompt)
        except TransformError as exc:
            result.error = str(exc)
            result.passed = False
            return
    grades: list[Grade] = []
    for index, spec in specs:
        judged = None
        if needs_judge(spec):
            verdict = judges.get(judge_key(index))
            if verdict is None:
                result.judge_missing = True
                return
            result.judge[judge_key(index)] = verdict
            judged = Grade(
                verdict.passed,
                verdict.score if verdict.score is not None else float(verdict.passed),
                verdict.reasoning,
            )
        grades.append(grade(spec, output, case, facts, judged))
    threshold = case.threshold
    if threshold is None:  # a case read back from a stored run keeps it on its checks
        threshold = next((s.case_threshold for _, s in specs if s.case_threshold is not None), None)
    overall = case_grade(grades, [spec.weight for _, spec in specs], threshold)
    result.weighted_score = overall.score
    if not overall.passed:
        result.passed = False
        for (_, spec), one in zip(specs, grades, strict=True):
            if not one.passed:
                result.failed.append(spec.label(pf_render(spec, case.vars)))
        if not any(not g.passed for g in grades):
            result.failed.append(overall.reason)
