"""promptfoo's model-graded assertions through `migrate run`, against promptfoo itself.

promptfoo 0.121.20 runs each grader suite under tests/promptfoo/suites against the
scripted server (its graders are `openai:chat:judge` and `openai:embedding:emb`, reached
through OPENAI_BASE_URL); `migrate run` runs the same file as a dependency's suite, the
current model `echo` and the candidate `shout` on the same server, its graders the same
providers at the same server. Every (test, model) outcome must be identical, and every
grader step must be journaled once.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import invoke
from tests.promptfoo.harness import Server, behaviours, promptfoo_available, run_promptfoo
from tests.support.openai_server import ScriptedServer
from tests.support.scenarios import run_dirs

SUITES = Path(__file__).parent / "promptfoo" / "suites"
GRADED = ["graders", "embeddings", "rag", "negations"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(600),
    pytest.mark.skipif(
        not promptfoo_available(), reason="promptfoo is not installed (scripts/test installs it)"
    ),
]


@pytest.fixture(scope="module")
def server() -> Iterator[ScriptedServer]:
    with Server(behaviours()) as running:
        yield running


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch, server: ScriptedServer) -> None:
    # the graders the suites name (openai:chat:judge) are found where promptfoo finds them
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("OPENAI_BASE_URL", server.api_base)
    monkeypatch.setenv("TEST_LLM_KEY", "test-key")


def workspace(root: Path, suite: Path, api_base: str) -> Path:
    """A registry whose dependency runs `suite` with the prompt promptfoo's config names."""
    root.mkdir(parents=True)
    config = suite.read_text(encoding="utf-8")
    (root / "suite.yaml").write_text(config, encoding="utf-8")
    (root / "prompt.md.j2").write_text("Reply: {{ question }}", encoding="utf-8")
    models = "".join(
        f'  openai/{name}: {{api_base: "{api_base}", api_key_env: TEST_LLM_KEY}}\n'
        for name in ("echo", "shout")
    )
    (root / "models.yaml").write_text(
        "version: 1\nsettings:\n  run: {concurrency: 4, timeout_seconds: 20, max_retries: 1}\n"
        f"models:\n{models}"
        "dependencies:\n  dep:\n    model: openai/echo\n    candidates: [openai/shout]\n"
        "    owners: [owner@example.com]\n    prompt: prompt.md.j2\n"
        "    eval: {cases: suite.yaml, samples: 1}\n",
        encoding="utf-8",
    )
    return root


def journal(run_dir: Path) -> list[dict]:
    lines = (run_dir / "journal.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


@pytest.mark.parametrize("suite", GRADED)
def test_migrate_run_grades_as_promptfoo_does(
    suite: str, server: ScriptedServer, cli, tmp_path: Path
) -> None:
    config = SUITES / suite / "promptfooconfig.yaml"
    theirs = run_promptfoo(config, server, tmp_path)
    root = workspace(tmp_path / "ws", config, server.api_base)
    result = invoke(cli, "run", "dep", "--today", "2026-11-26", "--no-progress", cwd=root)
    assert result.exit_code in (0, 1, 3), result.output
    (run_dir,) = run_dirs(root)
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    stored = [json.loads(line) for line in (run_dir / "cases.jsonl").read_text().splitlines()]
    ids = [case["id"] for case in stored]
    transformed = {c["id"] for c in stored if any(k["output_transform"] for k in c["checks"])}
    answers = {
        (e["case"], e["model"].removeprefix("openai/")): e["record"]["text"]
        for e in journal(run_dir)
        if e["kind"] == "generate"
    }
    ours = []
    for verdict in theirs:
        case = ids[verdict.test]
        outcome = summary["outcomes"][f"openai/{verdict.model}"][case]
        assert outcome in (0.0, 1.0), (case, verdict.model, "an error, not a grade")
        ours.append((verdict.test, verdict.model, outcome == 1.0))
        if verdict.output is not None and case not in transformed:  # the same prompt was sent
            assert answers[(case, verdict.model)] == verdict.output
    expected = [(v.test, v.model, v.passed) for v in theirs]
    assert ours == expected
    assert {v.passed for v in theirs} == {True, False}

    entries = journal(run_dir)
    grades = [e for e in entries if e["kind"] == "grade"]
    assert grades, "no grader call was journaled"
    keys = Counter((e["model"], e["case"], e["sample"], e["extra"]) for e in grades)
    assert max(keys.values()) == 1  # each step journaled once
    assert all(e["record"]["error"] is None for e in grades)
    assert summary["calls"]["errors"] == 0

    before = server.total_calls()
    (run_dir / "summary.json").unlink()  # unfinished again: a resume re-asks nothing
    again = invoke(cli, "run", "dep", "--today", "2026-11-26", "--no-progress", cwd=root)
    assert again.exit_code == result.exit_code, again.output
    assert server.total_calls() == before
    assert len(journal(run_dir)) == len(entries)
