"""Model-graded promptfoo assertions: what to ask the judge, and how to read its replies.

Pure functions. A grader is a short conversation of steps: `next_step(spec, output, case,
prompt, replies)` says what the run must do next, either ask the judge model (`messages`)
or embed some texts (`embed`), or None when the replies so far suffice; the run appends
each reply (the judge's text, or the list of vectors) to `replies` and asks again. Then
`parse_grade(spec, replies, case, prompt)` gives the verdict that `checks.score` takes.

The prompts are written here. Each asks for the reply format promptfoo's own grader reads,
and replies are read by promptfoo 0.121's rules:

- llm-rubric: JSON {reason, pass, score}; `pass` defaults to true, `score` to `pass`; with
  a threshold, pass also needs score >= threshold; `not-` flips pass and scores 1 - score.
- factuality: JSON {category: A-E, reason} (or a legacy "(A)"); D fails, the others pass.
- model-graded-closedqa: reasoning ending with "Y" (pass) or "N".
- g-eval: per criterion, JSON {"steps": [...]} then {score: 0-10, reason}; the mean of
  score/10 passes at the threshold (0.7 by default).
- context-recall: one line per sentence of the expected answer, "[Attributed]" or
  "[Not Attributed]"; the attributed share passes at the threshold (0 by default).
- context-relevance: the context's sentences the query needs (or "Insufficient
  Information"); their share of the context's sentences against the threshold.
- context-faithfulness: statements made from the answer, then a verdict per statement
  ("Final verdict for each statement in order: Yes. No."); the supported share.
- answer-relevance: three questions the answer would answer, embedded with the query; the
  mean cosine similarity against the threshold (0 by default).
- similar: the output and the expected text(s) embedded; cosine (or dot, euclidean) against
  the threshold (0.75 by default); with a list, any expected text may match.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from migrate.evals.checks import JudgeVerdict
from migrate.evals.promptfoo.assertions import base_type, render_value
from migrate.evals.promptfoo.grading_text import (
    CLOSEDQA_SYSTEM,
    CONTEXT_MISSING,
    FACTUALITY_SYSTEM,
    GEVAL_EVALUATE,
    GEVAL_STEPS,
    NLI,
    QUESTION,
    RECALL,
    RELEVANCE,
    RUBRIC_SYSTEM,
    STATEMENTS,
)
from migrate.evals.promptfoo.jsvalues import coerce_string, js_string
from migrate.evals.promptfoo.textmetrics import json_objects

if TYPE_CHECKING:
    from migrate.evals.case import Case, CheckSpec

Messages = list[dict[str, str]]


@dataclass(frozen=True)
class GradingStep:
    messages: Messages | None = None  # ask the judge model this
    embed: tuple[str, ...] = ()  # or embed these texts (the reply: one vector per text)


def _user(text: str) -> Messages:
    return [{"role": "user", "content": text}]


def _criteria(spec: CheckSpec, case: Case) -> list[str]:
    value = render_value(spec, case.vars)
    return [js_string(v) for v in value] if isinstance(value, list) else [js_string(value)]


def context_of(case: Case, fallback: str | None = None) -> str | list[str] | None:
    """The `context` var (text or list of texts), else `fallback`."""
    value = case.vars.get("context")
    if isinstance(value, str) and value:
        return value
    if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
        return value
    return fallback or None


def _joined(context: str | list[str]) -> str:
    return "\n\n".join(context) if isinstance(context, list) else context


def _lines(text: str) -> list[str]:
    return [line for line in text.split("\n") if line.strip()]


def next_step(
    spec: CheckSpec, output: Any, case: Case, prompt: str, replies: Sequence[Any]
) -> GradingStep | None:
    """The next call a model-graded assertion needs, or None when it has its replies."""
    kind = base_type(spec)
    text = coerce_string(output)
    done = len(replies)
    if kind in {"llm-rubric", "factuality", "model-graded-factuality", "model-graded-closedqa"}:
        return GradingStep(grading_messages(spec, output, case, prompt)) if done == 0 else None
    if kind == "g-eval":
        criteria = _criteria(spec, case)
        if done == 2 * len(criteria) or (done % 2 == 1 and _steps(replies[-1]) is None):
            return None
        criterion = criteria[done // 2]
        if done % 2 == 0:
            return GradingStep(_user(GEVAL_STEPS.format(criteria=criterion)))
        steps = "\n- ".join(_steps(replies[-1]) or [])
        body = GEVAL_EVALUATE.format(criteria=criterion, steps=steps, input=prompt, output=text)
        return GradingStep(_user(body))
    if kind == "context-recall" and done == 0:
        context = context_of(case, prompt)
        answer = js_string(render_value(spec, case.vars))
        return GradingStep(_user(RECALL.format(context=_joined(context or ""), answer=answer)))
    if kind == "context-relevance" and done == 0:
        query, context = case.vars.get("query"), context_of(case)
        return GradingStep(_user(RELEVANCE.format(query=query, context=_joined(context or ""))))
    if kind == "context-faithfulness":
        if done == 0:
            query = case.vars.get("query")
            return GradingStep(_user(STATEMENTS.format(question=query, answer=text)))
        if done == 1:
            statements = "\n".join(_lines(str(replies[0])))
            context = _joined(context_of(case) or "")
            return GradingStep(_user(NLI.format(context=context, statements=statements)))
        return None
    if kind == "answer-relevance":
        if done < 3:
            return GradingStep(_user(QUESTION.format(answer=text)))
        if done == 3:
            query = case.vars.get("query")
            asked = query if isinstance(query, str) else prompt
            return GradingStep(embed=(asked, *(str(r) for r in replies[:3])))
        return None
    if kind.startswith("similar") and done == 0:
        value = render_value(spec, case.vars)
        expected = [js_string(v) for v in value] if isinstance(value, list) else [js_string(value)]
        return GradingStep(embed=(text, *expected))
    return None


def grading_messages(spec: CheckSpec, output: Any, case: Case, prompt: str) -> Messages:
    """The judge request of a single-call grader (llm-rubric, factuality, closed QA)."""
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
    step = next_step(spec, output, case, prompt, [])
    if step is None or step.messages is None:
        raise ValueError(f"'{kind}' does not start with a judge call")
    return step.messages


def _fail(reason: str) -> JudgeVerdict:
    return JudgeVerdict(False, reason, 0.0)


def parse_grade(
    spec: CheckSpec, replies: Sequence[Any] | str | None, case: Case | None = None, prompt: str = ""
) -> JudgeVerdict:
    """The verdict from all replies of a grader (a reply promptfoo cannot read fails it)."""
    if replies is None or isinstance(replies, str):
        replies = [replies] if replies else []
    kind = base_type(spec)
    if not replies:
        return _fail("the grader gave no output")
    first = replies[0]
    if kind == "llm-rubric":
        return _rubric(spec, str(first))
    if kind in {"factuality", "model-graded-factuality"}:
        return _factuality(str(first))
    if kind == "model-graded-closedqa":
        trimmed = str(first).rstrip()
        return JudgeVerdict(trimmed.endswith("Y"), trimmed, 1.0 if trimmed.endswith("Y") else 0.0)
    threshold = spec.threshold
    if kind == "g-eval":
        return _g_eval(spec, replies, case)
    if kind == "context-recall":
        lines = [
            line
            for line in _lines(str(first))
            if "[attributed]" in line.lower() or "[not attributed]" in line.lower()
        ]
        hits = sum("[not attributed]" not in line.lower() for line in lines)
        return _share(hits / len(lines) if lines else 0.0, threshold or 0.0, "Recall")
    if kind == "context-relevance":
        return _relevance(str(first), case, threshold or 0.0)
    if kind == "context-faithfulness":
        if len(replies) < 2:
            return _fail("the grader gave no verdicts")
        return _faithfulness(str(first), str(replies[1]), threshold or 0.0)
    if kind == "answer-relevance":
        vectors = replies[3] if len(replies) > 3 else None
        if not isinstance(vectors, list) or len(vectors) != 4:
            return _fail("no embeddings for the generated questions")
        mean = sum(cosine(vectors[0], v) for v in vectors[1:]) / 3
        return _share(mean, threshold or 0.0, "Relevance")
    if kind.startswith("similar"):
        return _similar(spec, first)
    raise ValueError(f"no grading rule for '{kind}'")


def _share(score: float, threshold: float, label: str) -> JudgeVerdict:
    passed = score >= threshold - 2.220446049250313e-16  # promptfoo's Number.EPSILON slack
    return JudgeVerdict(passed, f"{label} {score:.2f} against {threshold}", score)


def _number(value: Any) -> float | None:
    if isinstance(value, bool | int | float):
        return float(value)
    if value is None:
        return 0.0  # Number(null) is 0
    if isinstance(value, str):
        try:
            return float(value.strip()) if value.strip() else 0.0
        except ValueError:
            return None
    return None


def _rubric(spec: CheckSpec, reply: str) -> JudgeVerdict:
    objects = json_objects(reply)
    if not objects or not isinstance(objects[0], dict):
        return _fail("Could not extract JSON from llm-rubric response")
    parsed = objects[0]
    raw = parsed.get("pass", True)
    raw = True if raw is None else raw
    passed = (
        raw
        if isinstance(raw, bool)
        else bool(re.fullmatch(r"true|yes|pass|y", js_string(raw), re.IGNORECASE))
    )
    score = _number(parsed["score"]) if "score" in parsed else None
    score = float(passed) if score is None else score
    if spec.threshold is not None:
        passed = passed and score >= spec.threshold
    reason = str(parsed.get("reason") or ("Grading passed" if passed else f"Score {score}"))
    if spec.negate:
        return JudgeVerdict(not passed, reason, min(1.0, max(0.0, 1 - score)))
    return JudgeVerdict(passed, reason, score)


def _factuality(reply: str) -> JudgeVerdict:
    option = None
    objects = json_objects(reply)
    category = objects[0].get("category") if objects and isinstance(objects[0], dict) else None
    if isinstance(category, str) and category:
        option = category.strip().upper()
        if not re.fullmatch(r"[A-E]", option):
            return _fail(f"Invalid category value: {option}")
    if option is None:
        legacy = re.search(r"\s*\(?([a-eA-E])\)", reply)
        if legacy is None:
            return _fail(f"Factuality checker output did not match: {reply}")
        option = legacy.group(1).upper()
    return JudgeVerdict(option != "D", f"category {option}", 0.0 if option == "D" else 1.0)


def _steps(reply: Any) -> list[str] | None:
    match = re.search(r'\{"steps".+\}', str(reply))
    if not match:
        return None
    try:
        import json

        steps = json.loads(match.group(0)).get("steps")
    except (ValueError, AttributeError):
        return None
    if not isinstance(steps, list) or not steps:
        return None
    if not all(isinstance(s, str) and s.strip() for s in steps):
        return None
    return steps


def _g_eval(spec: CheckSpec, replies: Sequence[Any], case: Case | None) -> JudgeVerdict:
    import json

    threshold = 0.7 if spec.threshold is None else spec.threshold
    count = len(_criteria(spec, case)) if case is not None else max(len(replies) // 2, 1)
    scores, reasons = [], []
    for index in range(count):
        if len(replies) < 2 * index + 2 or _steps(replies[2 * index]) is None:
            return _fail(f"G-Eval criterion {index + 1}: no evaluation steps")
        match = re.search(r"\{.+\}", str(replies[2 * index + 1]))
        try:
            result = json.loads(match.group(0)) if match else None
        except ValueError:
            result = None
        raw = result.get("score") if isinstance(result, dict) else None
        value = raw if isinstance(raw, int | float) and not isinstance(raw, bool) else None
        if isinstance(raw, str) and raw.strip():
            value = _number(raw)
        reason = result.get("reason") if isinstance(result, dict) else None
        if value is None or not math.isfinite(value) or not 0 <= value <= 10:
            return _fail(f"G-Eval criterion {index + 1}: no score from 0 to 10")
        if not isinstance(reason, str) or not reason.strip():
            return _fail(f"G-Eval criterion {index + 1}: no reason")
        scores.append(value / 10)
        reasons.append(reason)
    mean = sum(scores) / len(scores)
    passed = (mean >= threshold) != spec.negate
    return JudgeVerdict(passed, "\n\n".join(reasons), 1 - mean if spec.negate else mean)


def _sentences(text: str) -> list[str]:
    lines = _lines(text)
    parts = lines if len(lines) > 1 else re.split(r"(?<=[.!?])\s+", text)
    return [p.strip() for p in parts if p.strip() and not re.fullmatch(r"\d+[.)]", p.strip())]


def _relevance(reply: str, case: Case | None, threshold: float) -> JudgeVerdict:
    context = context_of(case) if case is not None else None
    if context is None:
        return _fail(CONTEXT_MISSING)
    segmented = isinstance(context, list) or len(_lines(context)) > 1
    units = [c for c in context if c.strip()] if isinstance(context, list) else _sentences(context)
    if "Insufficient Information" in reply:
        relevant: list[str] = []
    else:
        relevant = list(dict.fromkeys(_lines(reply) if segmented else _sentences(reply)))
    score = min(len(relevant), len(units)) / len(units) if units else 0.0
    return _share(score, threshold, "Context relevance")


def _faithfulness(statements_reply: str, verdict_reply: str, threshold: float) -> JudgeVerdict:
    statements = _lines(statements_reply)
    verdicts = verdict_reply.lower().strip()
    marker = "final verdict for each statement in order:"
    score = 0.0
    if statements:
        if marker in verdicts:
            tail = verdicts[verdicts.index(marker) + len(marker) :]
            parsed = [v for v in tail.split(".") if v.strip()]
            if parsed:
                misses = sum("yes" not in v for v in parsed)
                score = 1 - (misses + max(0, len(statements) - len(parsed))) / len(statements)
        else:
            no, yes = verdicts.count("verdict: no"), verdicts.count("verdict: yes")
            if no + yes > 0:
                score = 1 - (no + max(0, len(statements) - no - yes)) / len(statements)
    return _share(min(1.0, max(0.0, score)), threshold, "Faithfulness")


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    if len(a) != len(b):
        raise ValueError("vectors of different lengths")
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm_a, norm_b = math.sqrt(sum(x * x for x in a)), math.sqrt(sum(y * y for y in b))
    return 0.0 if norm_a == 0 or norm_b == 0 else dot / (norm_a * norm_b)


def _similar(spec: CheckSpec, vectors: Any) -> JudgeVerdict:
    if not isinstance(vectors, list) or len(vectors) < 2:
        return _fail("no embeddings for the output and the expected text")
    metric = base_type(spec).partition(":")[2] or "cosine"
    threshold = 0.75 if spec.threshold is None else spec.threshold
    epsilon = 2.220446049250313e-16
    results = []
    for expected in vectors[1:]:
        output = vectors[0]
        if metric == "euclidean":
            distance = math.dist(expected, output)
            passed = (
                distance >= threshold - epsilon if spec.negate else distance <= threshold + epsilon
            )
            normalised = 1 / (1 + distance)
            score = 1 - normalised if spec.negate else normalised
        else:
            value = (
                cosine(expected, output)
                if metric == "cosine"
                else sum(x * y for x, y in zip(expected, output, strict=True))
            )
            passed = value <= threshold + epsilon if spec.negate else value >= threshold - epsilon
            score = 1 - value if spec.negate else value
        results.append(JudgeVerdict(passed, f"similarity {score:.2f}", score))
    if len(results) == 1:
        return results[0]
    if spec.negate:  # every expected text must be dissimilar; report the closest
        failed = next((r for r in results if not r.passed), None)
        return failed or min(results, key=lambda r: r.score or 0.0)
    passing = next((r for r in results if r.passed), None)
    best = max(r.score or 0.0 for r in results)
    return passing or JudgeVerdict(False, "None of the values met the similarity threshold", best)
