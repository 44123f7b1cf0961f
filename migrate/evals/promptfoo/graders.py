"""Model-graded promptfoo assertions: what to ask the judge, and how to read its reply.

Pure functions: the run sends `grading_messages(...)` to the judge model through the model
seam and hands the reply text to `parse_grade(...)`; the resulting verdict goes into
`checks.score` like an `llm_judge` verdict. The prompts are written here; each asks for
the reply format promptfoo's own grader reads, and each reply is read by promptfoo's rules:

- llm-rubric: a JSON object {reason, pass, score}; `pass` defaults to true, `score` to
  `pass`; with a threshold, pass also needs score >= threshold; `not-` flips pass and
  turns the score into 1 - score.
- factuality: a JSON object {category: A-E, reason} (or a legacy "(A)" answer); D fails
  with score 0, the others pass with score 1; `not-` has no effect, as in promptfoo.
- model-graded-closedqa: reasoning that ends with "Y" (pass) or "N" on its own line.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from migrate.evals.checks import JudgeVerdict
from migrate.evals.promptfoo.assertions import base_type, render_value
from migrate.evals.promptfoo.jsvalues import coerce_string, js_string, json_parse
from migrate.evals.promptfoo.textmetrics import json_objects

if TYPE_CHECKING:
    from migrate.evals.suite import Case, CheckSpec

Messages = list[dict[str, str]]

RUBRIC_SYSTEM = (
    "You grade a model's output against a rubric written by the user. The output passes "
    "when what the rubric states is true of it. Reply with one JSON object and nothing "
    'else: {"reason": "<why, in a sentence or two>", "pass": true or false, '
    '"score": <a number from 0.0 to 1.0>}.'
)
FACTUALITY_SYSTEM = (
    "You compare a submitted answer with an expert answer for factual agreement only: "
    "ignore style, grammar and punctuation. Choose one category:\n"
    "(A) the submission is a subset of the expert answer and fully consistent with it;\n"
    "(B) the submission is a superset of the expert answer and fully consistent with it;\n"
    "(C) the submission contains all the same details as the expert answer;\n"
    "(D) the submission and the expert answer disagree;\n"
    "(E) they differ, but not in any way that matters for factuality.\n"
    'Reply with JSON only: {"category": "<A, B, C, D or E>", "reason": "<why>"}.'
)
CLOSEDQA_SYSTEM = (
    "You decide whether a submission meets a criterion for a task. Reason step by step "
    "about the criterion first, without stating the conclusion up front. Then write the "
    "single letter Y (it meets the criterion) or N (it does not) on a line of its own, and "
    "repeat that letter alone on the last line."
)


def grading_messages(spec: CheckSpec, output: Any, case: Case, prompt: str) -> Messages:
    """The judge request for one model-graded assertion of one output."""
    kind = base_type(spec)
    value = render_value(spec, case.vars)
    text = coerce_string(output)
    if kind == "llm-rubric":
        rubric = value if isinstance(value, str) else coerce_string(value)
        user = f"<Output>\n{text}\n</Output>\n<Rubric>\n{rubric}\n</Rubric>"
        return [{"role": "system", "content": RUBRIC_SYSTEM}, {"role": "user", "content": user}]
    if kind in {"factuality", "model-graded-factuality"}:
        user = (
            f"<question>\n{prompt}\n</question>\n\n<expert_answer>\n{js_string(value)}\n"
            f"</expert_answer>\n\n<submitted_answer>\n{text}\n</submitted_answer>"
        )
        return [{"role": "system", "content": FACTUALITY_SYSTEM}, {"role": "user", "content": user}]
    if kind == "model-graded-closedqa":
        user = f"[Task]: {prompt}\n***\n[Submission]: {text}\n***\n[Criterion]: {js_string(value)}"
        return [{"role": "system", "content": CLOSEDQA_SYSTEM}, {"role": "user", "content": user}]
    raise ValueError(f"no grading prompt for '{kind}'")


def parse_grade(spec: CheckSpec, reply: str | None) -> JudgeVerdict:
    """The judge's reply as a verdict (a reply promptfoo could not read fails the check)."""
    kind = base_type(spec)
    if not reply:
        return JudgeVerdict(False, "the grader gave no output", 0.0)
    if kind == "llm-rubric":
        return _rubric(spec, reply)
    if kind in {"factuality", "model-graded-factuality"}:
        return _factuality(reply)
    if kind == "model-graded-closedqa":
        trimmed = reply.rstrip()
        passed = trimmed.endswith("Y")
        return JudgeVerdict(passed, trimmed, 1.0 if passed else 0.0)
    raise ValueError(f"no grading rule for '{kind}'")


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip()) if value.strip() else 0.0
        except ValueError:
            return None
    if value is None:
        return 0.0  # Number(null) is 0
    return None


def _rubric(spec: CheckSpec, reply: str) -> JudgeVerdict:
    objects = json_objects(reply)
    if not objects or not isinstance(objects[0], dict):
        return JudgeVerdict(False, "Could not extract JSON from llm-rubric response", 0.0)
    parsed = objects[0]
    raw_pass = parsed.get("pass", True)
    if raw_pass is None:
        raw_pass = True
    passed = (
        raw_pass
        if isinstance(raw_pass, bool)
        else bool(re.fullmatch(r"true|yes|pass|y", js_string(raw_pass), re.IGNORECASE))
    )
    score = _number(parsed["score"]) if "score" in parsed else None
    if score is None:
        score = float(passed)
    if spec.threshold is not None:
        passed = passed and score >= spec.threshold
    reason = str(parsed.get("reason") or ("Grading passed" if passed else f"Score {score}"))
    if spec.negate:
        return JudgeVerdict(not passed, reason, min(1.0, max(0.0, 1 - score)))
    return JudgeVerdict(passed, reason, score)


def _factuality(reply: str) -> JudgeVerdict:
    option = None
    for candidate in json_objects(reply)[:1]:
        category = candidate.get("category") if isinstance(candidate, dict) else None
        if isinstance(category, str) and category:
            option = category.strip().upper()
            if not re.fullmatch(r"[A-E]", option):
                return JudgeVerdict(False, f"Invalid category value: {option}", 0.0)
    if option is None:
        legacy = re.search(r"\s*\(?([a-eA-E])\)", reply)
        if legacy is None:
            return JudgeVerdict(False, f"Factuality checker output did not match: {reply}", 0.0)
        option = legacy.group(1).upper()
    passed = option != "D"
    return JudgeVerdict(passed, f"category {option}", 1.0 if passed else 0.0)


def parse_json_reply(reply: str) -> Any:
    """The first JSON value of a reply (for callers that need the raw object)."""
    return json_parse(reply)
