"""Run promptfoo itself and migrate on the same suite and scripted server; compare verdicts.

The scripted server answers deterministically from the request alone: `echo` repeats the
user message, `shout` repeats it upper-cased, and `judge` grades a grading prompt by rules
written in its rubric (see `judge_reply`). promptfoo runs the suite with `openai:chat:*`
providers pointed at the server (OPENAI_BASE_URL); migrate loads the same file, sends the
same prompt to the same server over HTTP through litellm, asks the same judge, and scores
the answer. Both verdicts, per test and per model, must be identical.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.openai_server import Reply, Request, ScriptedServer

HERE = Path(__file__).resolve().parent
PROMPTFOO = HERE / "node_modules" / ".bin" / "promptfoo"
MODELS = ("echo", "shout")


def promptfoo_available() -> bool:
    return PROMPTFOO.exists() and shutil.which("node") is not None


def _answer(request: Request) -> str:
    """The text after "Reply: ": prompts start with it so that no prompt is ever JSON (which
    promptfoo would send as a list of chat messages)."""
    user = str(request.user)
    return user.split("Reply: ", 1)[1] if "Reply: " in user else user


def _delay(request: Request) -> float:
    """A prompt that says [slow] is answered after a quarter of a second (latency tests)."""
    return 0.25 if "[slow]" in str(request.user) else 0.0


def echo(request: Request) -> Reply:
    return Reply(text=_answer(request), delay=_delay(request))


def shout(request: Request) -> Reply:
    return Reply(text=_answer(request).upper(), delay=_delay(request))


_SCORE_RULE = re.compile(r"score (\d(?:\.\d+)?) if the output contains '([^']*)'")
_MENTION_RULE = re.compile(r"mentions? '([^']*)'")


def judge_reply(output: str, criterion: str) -> dict[str, Any]:
    """A deterministic grader: rubric rules name text the output must contain.

    "score 0.6 if the output contains 'x'" gives 0.6 (else 0); "mentions 'x'" passes with
    score 1 when the output contains x (case-insensitive), else fails with 0.
    """
    scored = _SCORE_RULE.search(criterion)
    if scored:
        value = float(scored.group(1)) if scored.group(2).lower() in output.lower() else 0.0
        return {"reason": "scored by rule", "pass": value > 0, "score": value}
    mention = _MENTION_RULE.search(criterion)
    passed = bool(mention) and mention.group(1).lower() in output.lower() if mention else False
    return {"reason": "mention rule", "pass": passed, "score": 1.0 if passed else 0.0}


def _between(text: str, tag: str) -> str | None:
    """The last <tag>...</tag> (grading prompts may show examples before the real one)."""
    matches = re.findall(rf"<{tag}>\s*(.*?)\s*</{tag}>", text, re.DOTALL)
    return matches[-1] if matches else None


def _last(pattern: str, text: str) -> re.Match[str] | None:
    """The match that starts last: grading prompts show worked examples before the real
    request, and a lazy match from an example's start could run on into the request."""
    for start in range(len(text) - 1, -1, -1):
        match = re.compile(pattern, re.DOTALL).match(text, start)
        if match:
            return match
    return None


def _sentences(text: str) -> list[str]:
    return [p.strip() for p in re.split(r"(?<=[.!?])\s+|\n", text) if p.strip()]


def _supported(statement: str, context: str) -> bool:
    return statement.lower().rstrip(".") in context.lower()


def judge(request: Request) -> Reply:
    """Grades each grader's prompt (promptfoo's or migrate's) by the rules of `judge_reply`."""
    text = "\n".join(str(m.get("content", "")) for m in request.messages)
    submitted, expert = _between(text, "submitted_answer"), _between(text, "expert_answer")
    if submitted is not None and expert is not None:  # factuality: agree (C) or not (D)
        category = "C" if expert.lower() in submitted.lower() else "D"
        return Reply(text=json.dumps({"category": category, "reason": "compared"}))
    closed = _last(r"\[Submission\]: (.*?)\n\*\*\*\n\[Criterion\]: (.*?)(?:\n\*\*\*|$)", text)
    if closed:  # model-graded-closedqa: reasoning, then the letter on its own line, twice
        letter = "Y" if judge_reply(closed.group(1), closed.group(2))["pass"] else "N"
        return Reply(text=f"The criterion was checked.\n{letter}\n{letter}")
    evaluate = _last(r"\*\*Evaluation Criteria\*\*\s*(.*?)\s*\*\*Evaluation Steps.*"
                     r"\*\*Reply\*\*\s*(.*?)\s*\*\*OUTPUT FORMAT", text)  # fmt: skip
    if evaluate:  # g-eval, second call: a score out of 10
        graded = judge_reply(evaluate.group(2), evaluate.group(1))
        return Reply(text=json.dumps({"score": round(10 * graded["score"]), "reason": "rule"}))
    if "EVALUATION CRITERIA" in text:  # g-eval, first call: the steps
        return Reply(text='{"steps":["Read the reply","Apply the criteria"]}')
    recall = _last(r"context:\s*(.*?)\s*answer:\s*(.*?)\s*classification:", text)
    if recall:  # context-recall: one verdict per sentence of the expected answer
        lines = [
            f"{n}. {s} [{'Attributed' if _supported(s, recall.group(1)) else 'Not Attributed'}]"
            for n, s in enumerate(_sentences(recall.group(2)), start=1)
        ]
        return Reply(text="\n".join(lines))
    relevance = _last(r"query: (.*?)\ncontext: (.*?)\ncandidate sentences:", text)
    if relevance:  # context-relevance: the context's sentences that share a word with the query
        words = {w for w in re.findall(r"\w{4,}", relevance.group(1).lower())}
        needed = [
            s
            for s in _sentences(relevance.group(2))
            if words & set(re.findall(r"\w{4,}", s.lower()))
        ]
        return Reply(text="\n".join(needed) or "Insufficient Information")
    nli = _last(r"context:\s*(.*?)\s*statements:\s*(.*?)\s*Answer:", text)
    if nli:  # context-faithfulness, second call: a verdict per statement
        verdicts = [
            "Yes." if _supported(s, nli.group(1)) else "No." for s in _sentences(nli.group(2))
        ]
        return Reply(
            text="Checked.\nFinal verdict for each statement in order: " + " ".join(verdicts)
        )
    statements = _last(r"question:\s*(.*?)\s*answer:\s*(.*?)\s*statements:", text)
    if statements:  # context-faithfulness, first call: one statement per sentence
        return Reply(text="\n".join(_sentences(statements.group(2))))
    question = _last(r"Answer:\s*(.*?)\s*Question:\s*$", text)
    if question:  # answer-relevance: the question the answer answers
        return Reply(text=f"What about {question.group(1)}?")
    output, rubric = _between(text, "Output"), _between(text, "Rubric")
    if output is None or rubric is None:
        return Reply(text='{"pass": false, "score": 0, "reason": "no output or rubric found"}')
    return Reply(text=json.dumps(judge_reply(output, rubric)))


def embed(text: str) -> list[float]:
    """A deterministic embedding: how often each letter a-z occurs (case-insensitive)."""
    lowered = text.lower()
    return [float(lowered.count(chr(c))) for c in range(ord("a"), ord("z") + 1)]


class Server(ScriptedServer):
    """The scripted server with `embed` as every text's embedding."""

    def __init__(self, behaviours: dict[str, Any]) -> None:
        super().__init__(behaviours, embed_default=embed)


def behaviours() -> dict[str, Any]:
    return {"echo": echo, "shout": shout, "judge": judge}


@dataclass(frozen=True)
class Verdict:
    test: int  # promptfoo's testIdx: the position after list vars are expanded
    model: str
    passed: bool
    output: str | None
    error: str | None


def run_promptfoo(
    config: Path, server: ScriptedServer, workdir: Path, extra: tuple[str, ...] = ()
) -> list[Verdict]:
    """`promptfoo eval` on `config` (and `extra` arguments); every (test, model) verdict."""
    config = config.resolve()
    out = workdir / "promptfoo-results.json"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("OPENAI", "PROMPTFOO"))},
        "OPENAI_API_KEY": "test-key",
        "OPENAI_BASE_URL": server.api_base,
        "PROMPTFOO_DISABLE_TELEMETRY": "1",
        "PROMPTFOO_DISABLE_UPDATE": "1",
        "PROMPTFOO_CONFIG_DIR": str(workdir / "promptfoo-home"),
        "PROMPTFOO_DISABLE_REDTEAM_REMOTE_GENERATION": "1",
        "PROMPTFOO_DISABLE_SHARING": "1",
        "PROMPTFOO_SELF_HOSTED": "1",
        "NO_COLOR": "1",
    }
    done = subprocess.run(
        [
            str(PROMPTFOO),
            "eval",
            "-c",
            str(config),
            "-o",
            str(out),
            "--no-cache",
            "--no-table",
            "--no-progress-bar",
            "-j",
            "4",
            *extra,
        ],
        cwd=config.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if not out.exists():
        raise RuntimeError(
            f"promptfoo wrote no results (exit {done.returncode}):\n"
            f"{done.stderr[-3000:]}\n{done.stdout[-3000:]}"
        )
    data = json.loads(out.read_text(encoding="utf-8"))
    verdicts = []
    for row in data["results"]["results"]:
        model = str(row["provider"]["id"]).split(":")[-1]
        response = row.get("response") or {}
        verdicts.append(
            Verdict(
                test=int(row["testIdx"]),
                model=model,
                passed=bool(row["success"]),
                output=response.get("output") if isinstance(response.get("output"), str) else None,
                error=row.get("error"),
            )
        )
    return sorted(verdicts, key=lambda v: (v.test, v.model))


def _complete(server: ScriptedServer, model: str, messages: list[dict[str, str]]) -> str:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    response = litellm.completion(
        model=f"openai/{model}",
        api_base=server.api_base,
        api_key="test-key",
        messages=messages,
        num_retries=0,
    )
    return str(response.choices[0].message.content or "")


def _embed(server: ScriptedServer, texts: list[str]) -> list[list[float]]:
    import litellm

    response = litellm.embedding(
        model="openai/emb", api_base=server.api_base, api_key="test-key", input=texts
    )
    return [list(item["embedding"]) for item in response.data]


def run_migrate(config: Path, server: ScriptedServer, template: str | None = None) -> list[Verdict]:
    """migrate's verdicts on the same suite: same prompts, same server, same judge."""
    from migrate.evals.checks import judge_key, score
    from migrate.evals.promptfoo.assertions import (
        CallFacts,
        TransformError,
        graded_output,
        needs_judge,
        transform_output,
    )
    from migrate.evals.promptfoo.graders import next_step, parse_grade
    from migrate.evals.promptfoo.jsvalues import render
    from migrate.evals.promptfoo.yaml12 import parse_yaml12
    from migrate.evals.suite import load_suite

    if template is None:
        template = parse_yaml12(config.read_text(encoding="utf-8"), str(config)).data["prompts"][0]
    verdicts = []
    for index, case in enumerate(load_suite(config).cases):
        prompt = case.prefix + render(template, case.vars) + case.suffix
        for model in MODELS:
            started = time.perf_counter()
            text = _complete(server, model, [{"role": "user", "content": prompt}])
            latency_ms = round((time.perf_counter() - started) * 1000)
            judges = {}
            error = None
            for check_index, spec in enumerate(case.checks):
                if not needs_judge(spec):
                    continue
                try:
                    judged = graded_output(spec, text, case, prompt)
                except TransformError as exc:
                    error = str(exc)
                    break
                replies: list[Any] = []
                while (step := next_step(spec, judged, case, prompt, replies)) is not None:
                    if step.messages is not None:
                        replies.append(_complete(server, "judge", step.messages))
                    else:
                        replies.append(_embed(server, list(step.embed)))
                judges[judge_key(check_index)] = parse_grade(spec, replies, case, prompt)
            facts = CallFacts(prompt=prompt, latency_ms=latency_ms)  # no cost: no price known
            result = score(text, case, list(case.checks), judges, facts)
            error = error or result.error
            shown = text  # promptfoo records the output after the test's transform
            test_transform = next(
                (s.output_transform for s in case.checks if s.output_transform), None
            )
            if test_transform and error is None:
                transformed = transform_output(test_transform, text, case.vars, prompt)
                shown = transformed if isinstance(transformed, str) else None
            verdicts.append(Verdict(index, model, result.passed and error is None, shown, error))
    return verdicts
