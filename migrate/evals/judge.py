"""The judge: how an `llm_judge` check asks the judge model, reads its reply, and files it.

A judge call is journaled like a generation call; its `extra` names the judged model and
the check's index, so each (case, sample, model, check) is judged exactly once.
"""

from __future__ import annotations

from typing import Any

from migrate.evals.checks import JudgeVerdict, find_json, parse_json

JUDGE_SYSTEM = (
    "You grade an AI assistant's answer against a rubric. Read the task, the answer and the "
    "rubric, then reply with one JSON object and nothing else: "
    '{"verdict": "pass" or "fail", "reasoning": "<one or two sentences>"}.'
)
JUDGE_PARAMS: dict[str, Any] = {"temperature": 0, "max_tokens": 400}


def judge_params(model_params: dict[str, dict[str, Any]], judge_model: str) -> dict[str, Any]:
    """What a judge call sends: the defaults above, under the judge model's own params."""
    return {**JUDGE_PARAMS, **model_params.get(judge_model, {})}


def judge_extra(model: str, check_index: int) -> str:
    """The journal's `extra` of a judge call: which model's answer, which check."""
    return f"{model}|{check_index}"


def judge_messages(
    task: list[dict[str, str]], answer: str, rubric: str, expected: Any
) -> list[dict[str, str]]:
    task_text = "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in task)
    body = f"## Task\n{task_text}\n\n## Answer\n{answer}\n\n## Rubric\n{rubric}"
    if expected is not None:
        body += f"\n\n## Expected\n{expected}"
    return [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": body}]


def parse_judge(text: str | None) -> JudgeVerdict | None:
    """Read a judge's reply: JSON with a pass/fail verdict, or a leading PASS/FAIL word."""
    if not text:
        return None
    ok, data = parse_json(text)
    if ok and isinstance(data, dict):
        verdict = data.get("verdict", data.get("pass"))
        reasoning = str(data.get("reasoning", data.get("reason", "")))
        if isinstance(verdict, bool):
            return JudgeVerdict(verdict, reasoning)
        if isinstance(verdict, str) and verdict.strip().lower() in {"pass", "fail"}:
            return JudgeVerdict(verdict.strip().lower() == "pass", reasoning)
    head = text.strip().split(None, 1)
    if head and head[0].strip(".:*").upper() in {"PASS", "FAIL"}:
        return JudgeVerdict(
            head[0].strip(".:*").upper() == "PASS", head[1] if len(head) > 1 else ""
        )
    return None


# --- pairwise: which of two answers is better ----------------------------------------------

PAIRWISE_SYSTEM = (
    "You compare two AI assistants' answers to the same task. Read the task, answer A, "
    "answer B and the rubric if there is one, then decide which answer serves the user "
    'better, or "tie" when neither does. The order of the answers and their length must '
    "not decide. Reply with one JSON object and nothing else: "
    '{"winner": "A" or "B" or "tie", "reasoning": "<one or two sentences>"}.'
)
# Each pair is judged in both orders: "AB" shows the baseline's answer as A, "BA" the
# candidate's; a judge that prefers a position rather than an answer contradicts itself.
ORDERS = ("AB", "BA")


def pairwise_extra(candidate: str, check_index: int, order: str) -> str:
    """The journal's `extra` of a pairwise judge call: the candidate, the check, the order."""
    return f"{candidate}|{check_index}|pairwise-{order}"


def pairwise_messages(
    task: list[dict[str, str]], answer_a: str, answer_b: str, rubric: str | None
) -> list[dict[str, str]]:
    task_text = "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in task)
    body = f"## Task\n{task_text}\n\n## Answer A\n{answer_a}\n\n## Answer B\n{answer_b}"
    if rubric:
        body += f"\n\n## Rubric\n{rubric}"
    return [{"role": "system", "content": PAIRWISE_SYSTEM}, {"role": "user", "content": body}]


def parse_preference(text: str | None) -> tuple[str, str] | None:
    """A pairwise judge's reply as ("A" | "B" | "tie", reasoning); None when unreadable."""
    if not text:
        return None
    ok, data = parse_json(text)
    if not ok:
        ok, data = find_json(text)
    if not ok or not isinstance(data, dict) or not isinstance(data.get("winner"), str):
        return None
    winner = data["winner"].strip().strip(".").lower().removeprefix("answer ").strip()
    reasoning = str(data.get("reasoning", data.get("reason", "")))
    if winner in {"a", "b"}:
        return winner.upper(), reasoning
    if winner in {"tie", "draw", "neither", "both"}:
        return "tie", reasoning
    return None
