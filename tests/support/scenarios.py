"""Workspaces and scripted models for end-to-end runs against the local server.

Each case asks about one id ("Question about case c007."); the correct answer is
"answer-c007". Scripted models answer correctly, wrongly on a known subset, refuse on
another, vary between samples, or fail in the ways providers fail.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from tests.support.openai_server import Reply, Request

CASE = re.compile(r"case (c\d+)")
REFUSAL = "I'm sorry, but I can't help with that request."


def case_of(request: Request) -> str:
    match = CASE.search(request.user)
    return match.group(1) if match else "unknown"


def case_ids(n: int) -> list[str]:
    return [f"c{i:03d}" for i in range(n)]


def correct(delay: float = 0.0) -> Callable[[Request], Reply]:
    def behave(request: Request) -> Reply:
        return Reply(text=f"answer-{case_of(request)}", delay=delay)

    return behave


def candidate(
    wrong: Iterable[str] = (), refuse: Iterable[str] = (), delay: float = 0.0, chatty: bool = True
) -> Callable[[Request], Reply]:
    """Right except on `wrong` (a wrong answer) and `refuse` (a refusal); wordier."""
    wrong, refuse = set(wrong), set(refuse)

    def behave(request: Request) -> Reply:
        case = case_of(request)
        if case in refuse:
            return Reply(text=REFUSAL, delay=delay)
        if case in wrong:
            return Reply(text="I believe the answer is something else entirely.", delay=delay)
        text = (
            f"Sure! The answer you are looking for is answer-{case}."
            if chatty
            else f"answer-{case}"
        )
        return Reply(text=text, delay=delay)

    return behave


def faulty(
    base: Callable[[Request], Reply],
    *,
    rate_limited: float = 0.0,
    server_errors: float = 0.0,
    retry_after: str | None = "0",
    persistent: Iterable[str] = (),
) -> Callable[[Request], Reply]:
    """Answer 429 (with Retry-After) or 500 to a stable share of first attempts; cases in
    `persistent` fail with 500 on every attempt."""
    persistent = set(persistent)

    def behave(request: Request) -> Reply:
        if case_of(request) in persistent:
            return Reply(status=500)
        if request.attempt == 1:
            draw = request.fraction("faults")
            if draw < rate_limited:
                headers = {"Retry-After": retry_after} if retry_after is not None else {}
                return Reply(status=429, headers=headers)
            if draw < rate_limited + server_errors:
                return Reply(status=500)
        return base(request)

    return behave


def write_workspace(
    root: Path,
    api_base: str,
    *,
    cases: int | list[str] = 20,
    baseline: str = "good",
    candidates: tuple[str, ...] = ("cand",),
    samples: int = 1,
    gates: dict[str, Any] | None = None,
    checks: str = '[{type: icontains, value: "{{ expected }}"}, {type: not_refusal}]',
    # workers: 1: calls in the test's own process, whose litellm is imported once for all
    # tests; tests/test_workers.py and the tests parametrized over --workers cover workers.
    run_settings: str = "{concurrency: 8, timeout_seconds: 10, max_retries: 4, "
    "max_error_rate: 0.1, workers: 1}",
    extra_models: str = "",
    key_env: str = "TEST_LLM_KEY",
    settings: dict[str, str] | None = None,
) -> Path:
    """A registry with one dependency `dep` on `openai/<baseline>` and its candidates;
    `settings` adds keys under `settings:` (e.g. judge_model)."""
    root.mkdir(parents=True, exist_ok=True)
    ids = case_ids(cases) if isinstance(cases, int) else cases
    (root / "evals").mkdir(exist_ok=True)
    (root / "evals" / "suite.jsonl").write_text(
        "".join(
            json.dumps({"id": i, "vars": {"case": i}, "expected": f"answer-{i}"}) + "\n"
            for i in ids
        ),
        encoding="utf-8",
    )
    (root / "prompt.md.j2").write_text(
        "[system]\nAnswer with the case's answer.\n\n[user]\nQuestion about case {{ case }}.\n",
        encoding="utf-8",
    )
    gate_text = ", ".join(f"{k}: {v}" for k, v in (gates or {}).items())
    lines = ["version: 1", "settings:", f"  run: {run_settings}"]
    lines += [f"  {key}: {value}" for key, value in (settings or {}).items()]
    lines.append("models:")
    for name in (baseline, *candidates):
        lines.append(
            f'  openai/{name}: {{api_base: "{api_base}", api_key_env: {key_env}, '
            "input_cost_per_mtok: 1, output_cost_per_mtok: 2}"
        )
    if extra_models:
        lines.append(extra_models)
    lines += [
        "dependencies:",
        "  dep:",
        f"    model: openai/{baseline}",
        f"    candidates: [{', '.join(f'openai/{c}' for c in candidates)}]",
        "    owners: [owner@example.com]",
        "    prompt: prompt.md.j2",
        "    params: {temperature: 0, max_tokens: 50}",
        "    eval:",
        "      cases: evals/suite.jsonl",
        f"      samples: {samples}",
        f"      checks: {checks}",
        f"    gates: {{{gate_text}}}",
    ]
    (root / "models.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def run_dirs(root: Path) -> list[Path]:
    """`dep`'s run directories; a hidden one is a run being created (rundir.create_run_dir),
    which a kill can leave behind, and no run."""
    found = root.glob("runbooks/*/dep/runs/*/run.json")
    return sorted(p.parent for p in found if not p.parent.name.startswith("."))


def journal_lines(root: Path) -> int:
    """Lines in `dep`'s first run's journal so far (0 before it has one): how far a run
    running in another process has got."""
    dirs = run_dirs(root)
    journal = dirs[0] / "journal.jsonl" if dirs else None
    return journal.read_bytes().count(b"\n") if journal and journal.exists() else 0


def summary_of(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))


def journal_keys(run_dir: Path) -> list[tuple[str, str, int]]:
    keys = []
    for line in (run_dir / "journal.jsonl").read_text(encoding="utf-8").splitlines():
        try:
            data = json.loads(line)
        except ValueError:
            continue
        keys.append((data["model"], data["case"], data["sample"]))
    return keys


def outcome_fields(summary: dict[str, Any]) -> dict[str, Any]:
    """What must not depend on timing: verdicts, case lists, pass rates, outcomes."""
    return {
        "verdict": summary["verdict"],
        "candidates": {
            m: {k: c[k] for k in ("verdict", "regressions", "improvements", "flaky", "unscored")}
            for m, c in summary["candidates"].items()
        },
        "pass_rates": {m: v["pass_rate"] for m, v in summary["metrics"].items()},
        "outcomes": summary["outcomes"],
    }


def at_random(rate: float, salt: str) -> Callable[[Request], Reply]:
    """Right with chance `rate` on every call, independently: samples of a case disagree at
    random. The draw is a stable hash of the model's salt, the request and its attempt (the
    server numbers a request's repeats, and a case's K samples repeat one request)."""

    def behave(request: Request) -> Reply:
        case = case_of(request)
        if request.fraction(f"{salt}:{request.attempt}") < rate:
            return Reply(text=f"answer-{case}")
        return Reply(text="I believe the answer is something else entirely.")

    return behave
