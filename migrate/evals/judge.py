"""The judge: how an `llm_judge` check asks the judge model, reads its reply, and files it.

A judge call is journaled like a generation call; its `extra` names the judged model and
the check's index, so each (case, sample, model, check) is judged exactly once.
"""

from __future__ import annotations

from typing import Any

from migrate.evals.checks import JudgeVerdict, parse_json

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
