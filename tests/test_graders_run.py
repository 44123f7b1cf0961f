"""promptfoo's model-graded assertions in `migrate run`: the registry's judge and embedding
models grade when an assertion names no provider, each grader step is journaled once and
resumed where a run stopped, a grader's failure is an error and not a failure, their cost
counts in the run's and not in a model's, and a suite whose graders have no model is
refused before any call. litellm over real HTTP to the scripted server throughout."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from migrate.embeddings import embed
from migrate.llm import ModelSeam, Target
from tests.conftest import invoke
from tests.promptfoo.harness import echo, judge, shout
from tests.support.openai_server import Reply, ScriptedServer, keyed_replies
from tests.support.scenarios import candidate, correct, run_dirs, summary_of, write_workspace

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
TODAY = ("--today", "2026-11-26", "--no-progress")
CASES = ["c000", "c001", "c002", "c003", "c004", "c005"]
WRONG = "I believe the answer is something else entirely."
# Each case asks for its answer; the rubric and the similarity both grade it.
SUITE = f"""\
description: graded by the registry's models
prompts: [prompt.md.j2]
providers: [openai:chat:whatever]
tests:
  - description: case
    vars:
      case: [{", ".join(CASES)}]
    assert:
      - type: llm-rubric
        value: "names answer-{{{{case}}}}"
      - type: similar
        value: "answer-{{{{case}}}}"
        threshold: 0.9
"""
PRICED = "input_cost_per_mtok: 1, output_cost_per_mtok: 2"


@pytest.fixture(autouse=True)
def model_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_LLM_KEY", "sk-test-SENTINEL-7f3a9c21e4b8")


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    vectors = {f"answer-{c}": [1.0, 0.0, 0.0] for c in CASES}
    vectors[WRONG] = [0.0, 1.0, 0.0]
    with ScriptedServer({}, vectors=vectors) as running:
        yield running


def graded_workspace(
    root: Path,
    server: ScriptedServer,
    suite: str = SUITE,
    settings: str = "judge_model: openai/judge\n  embedding_model: openai/emb",
    run_settings: str | None = None,
) -> Path:
    extra = (
        f'  openai/judge: {{api_base: "{server.api_base}", api_key_env: TEST_LLM_KEY, {PRICED}}}\n'
        f'  openai/emb: {{api_base: "{server.api_base}", api_key_env: TEST_LLM_KEY, '
        "input_cost_per_mtok: 0.5, output_cost_per_mtok: 0}"
    )
    kwargs = {"run_settings": run_settings} if run_settings else {}
    root = write_workspace(root, server.api_base, checks="[]", extra_models=extra, **kwargs)
    (root / "evals" / "suite.yaml").write_text(suite, encoding="utf-8")
    registry = root / "models.yaml"
    text = registry.read_text(encoding="utf-8").replace("evals/suite.jsonl", "evals/suite.yaml")
    if settings:
        text = text.replace("settings:\n", f"settings:\n  {settings}\n")
    registry.write_text(text, encoding="utf-8")
    return root


def journal(run_dir: Path) -> list[dict]:
    lines = (run_dir / "journal.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def rubric_judge() -> object:
    return keyed_replies(
        {
            WRONG: '{"reason": "another answer", "pass": false, "score": 0}',
            "<Output>": '{"reason": "it names the answer", "pass": true, "score": 1}',
        }
    )


@pytest.mark.parametrize("workers", ["1", "2"])
def test_the_registrys_judge_and_embedding_model_grade_and_cost_the_run(
    cli, tmp_path: Path, server: ScriptedServer, workers: str
) -> None:
    server.behaviours.update(
        good=correct(), cand=candidate(wrong={"c003"}, chatty=False), judge=rubric_judge()
    )
    root = graded_workspace(tmp_path / "ws", server)
    result = invoke(cli, "run", "dep", *TODAY, "--workers", workers, cwd=root)
    assert result.exit_code in (1, 3), result.output  # a regression: FAIL or INCONCLUSIVE
    (run_dir,) = run_dirs(root)
    summary = summary_of(run_dir)
    # list expansion numbers the cases from 1: c003 is case-4, the candidate's one wrong answer
    assert summary["candidates"]["openai/cand"]["regressions"] == ["case-4"]
    assert summary["outcomes"]["openai/good"] == {f"case-{i}": 1.0 for i in range(1, 7)}
    assert summary["outcomes"]["openai/cand"]["case-4"] == 0.0

    entries = journal(run_dir)
    grades = [e for e in entries if e["kind"] == "grade"]
    # per answer (6 cases x 2 models): one rubric call to the judge, one embedding request
    assert sorted({e["model"] for e in grades}) == ["openai/emb", "openai/judge"]
    assert sum(e["model"] == "openai/judge" for e in grades) == 12
    assert sum(e["model"] == "openai/emb" for e in grades) == 12
    # and one more embedding request: the answer similarity of the one pair that differs
    similar = [e for e in entries if e["kind"] == "similar"]
    assert [(e["model"], e["case"]) for e in similar] == [("openai/emb", "case-4")]
    assert server.calls["judge"] == 12 and server.calls["emb"] == 13
    # c003: the good answer and the expected text, then the expected text beside the wrong
    # one; then both answers for their similarity
    assert server.embedded["answer-c003"] == 4 and server.embedded[WRONG] == 2

    # The run's cost is every call's at the registry's prices; a model's is its own answers'.
    prices = {
        "openai/good": (1, 2),
        "openai/cand": (1, 2),
        "openai/judge": (1, 2),
        "openai/emb": (0.5, 0),
    }

    def cost(e: dict) -> float:
        tokens_in, tokens_out = e["record"]["prompt_tokens"], e["record"]["completion_tokens"]
        price_in, price_out = prices[e["model"]]
        return (tokens_in * price_in + tokens_out * price_out) / 1e6

    assert summary["calls"]["cost"] == pytest.approx(sum(cost(e) for e in entries))
    own = sum(cost(e) for e in entries if e["kind"] == "generate" and e["model"] == "openai/good")
    assert summary["metrics"]["openai/good"]["cost_total"] == pytest.approx(own)
    assert summary["calls"]["cost"] > own + summary["metrics"]["openai/cand"]["cost_total"]

    # an identical run again: every grader call is served from the first run's journal
    calls = server.total_calls()
    again = invoke(cli, "run", "dep", *TODAY, "--new", cwd=root)
    assert again.exit_code == result.exit_code, again.output
    assert server.total_calls() == calls


RAG = """\
description: two-step graders
prompts: [prompt.md.j2]
providers: [openai:chat:whatever]
defaultTest:
  vars:
    query: When does the museum open?
    context: "The museum opens at 9 am. Tickets cost 12 euros. The cafe closes at 5 pm."
tests:
  - description: faithful
    vars: {question: "The museum opens at 9 am. Tickets cost 12 euros."}
    assert:
      - {type: context-faithfulness, threshold: 0.9}
  - description: invented
    vars: {question: "The museum opens at 9 am. Entry is free on Sundays."}
    assert:
      - {type: context-faithfulness, threshold: 0.9}
"""


def test_a_run_stopped_mid_conversation_asks_only_the_steps_it_lacks(
    cli, tmp_path: Path, server: ScriptedServer
) -> None:
    server.behaviours.update(good=echo, cand=shout, judge=judge)
    root = graded_workspace(tmp_path / "ws", server, RAG, settings="judge_model: openai/judge")
    (root / "prompt.md.j2").write_text("Reply: {{ question }}", encoding="utf-8")
    first = invoke(cli, "run", "dep", *TODAY, cwd=root)
    (run_dir,) = run_dirs(root)
    outcomes = summary_of(run_dir)["outcomes"]
    # the scripted judge supports a statement the context holds word for word
    assert outcomes == {
        "openai/good": {"faithful": 1.0, "invented": 0.0},
        "openai/cand": {"faithful": 1.0, "invented": 0.0},
    }
    entries = journal(run_dir)
    steps = sorted(e["extra"].rsplit("|", 1)[1] for e in entries if e["kind"] == "grade")
    assert steps == ["step-0"] * 4 + ["step-1"] * 4  # statements, then the verdicts

    # as if killed after every conversation's first step: the second steps are not on disk
    kept = [e for e in entries if not e["extra"].endswith("step-1")]
    (run_dir / "journal.jsonl").write_text(
        "".join(json.dumps(e) + "\n" for e in kept), encoding="utf-8"
    )
    (run_dir / "summary.json").unlink()
    judged = server.calls["judge"]
    generated = server.calls["good"] + server.calls["cand"]
    resumed = invoke(cli, "run", "dep", "--resume", run_dir.name, *TODAY, cwd=root)
    assert resumed.exit_code == first.exit_code, resumed.output
    assert server.calls["judge"] == judged + 4
    assert server.calls["good"] + server.calls["cand"] == generated
    assert summary_of(run_dir)["outcomes"] == outcomes
    again = [e for e in journal(run_dir) if e["kind"] == "grade"]
    assert len({(e["model"], e["case"], e["sample"], e["extra"]) for e in again}) == 8


def test_a_graders_failure_is_an_error_not_a_failure(
    cli, tmp_path: Path, server: ScriptedServer
) -> None:
    failing = keyed_replies(
        {
            "answer-c002": Reply(status=500),
            WRONG: '{"pass": false, "score": 0}',
            "<Output>": '{"pass": true, "score": 1}',
        }
    )
    server.behaviours.update(good=correct(), cand=candidate(chatty=False), judge=failing)
    root = graded_workspace(
        tmp_path / "ws",
        server,
        run_settings="{concurrency: 4, timeout_seconds: 10, max_retries: 0, max_error_rate: 0.5}",
    )
    invoke(cli, "run", "dep", *TODAY, cwd=root)
    (run_dir,) = run_dirs(root)
    summary = summary_of(run_dir)
    for model in ("openai/good", "openai/cand"):
        metrics = summary["metrics"][model]
        assert metrics["errors_by_class"] == {"GraderServerError": 1}
        assert metrics["scored"] == 5 and metrics["pass_rate"] == 1.0
        assert summary["outcomes"][model]["case-3"] is None  # c002: unscored, not failed
    assert summary["candidates"]["openai/cand"]["regressions"] == []


@pytest.mark.parametrize(
    ("assertion", "key"),
    [
        ("{type: llm-rubric, value: polite}", "judge_model"),
        ("{type: similar, value: hi}", "embedding_model"),
    ],
)
def test_a_graded_suite_without_its_grader_model_is_refused(
    cli, tmp_path: Path, server: ScriptedServer, assertion: str, key: str
) -> None:
    suite = (
        "prompts: [prompt.md.j2]\ntests:\n  - vars: {case: c000}\n"
        f"    assert:\n      - {assertion}\n"
    )
    root = graded_workspace(tmp_path / "ws", server, suite, settings="")
    for command in (("check", "--today", "2026-11-26"), ("run", "dep", *TODAY)):
        result = invoke(cli, *command, cwd=root)
        assert result.exit_code == 2, result.output
        assert "suite.yaml:3: assert: case 'test-1':" in result.output
        assert f"settings.{key}" in result.output
    assert server.total_calls() == 0


async def _embed_both(server: ScriptedServer) -> tuple[object, object]:
    seam = ModelSeam(2, 10, 0)
    target = Target("openai/emb", server.api_base, "TEST_LLM_KEY", 0.5, 0)
    return (
        await embed(seam, target, ["answer-c001", "answer-c000", WRONG]),
        await embed(seam, target, ["never scripted"]),
    )


def test_embeddings_go_through_the_seam(server: ScriptedServer) -> None:
    import asyncio

    good, refused = asyncio.run(_embed_both(server))
    assert json.loads(good.text) == [[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    # the server counts the words of the texts: 10 tokens at the registry's 0.5 USD a million
    assert good.prompt_tokens == 1 + 1 + 8 and good.cost == pytest.approx(10 * 0.5 / 1e6)
    assert refused.error == "BadRequest" and refused.attempts == 1


def test_a_named_grader_without_its_key_is_found_before_any_call(
    cli, tmp_path: Path, server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    suite = (
        "prompts: [prompt.md.j2]\ntests:\n  - vars: {case: c000}\n    assert:\n"
        "      - {type: llm-rubric, value: polite, provider: openai:chat:grader}\n"
    )  # a model the registry does not list: litellm's own key variable reaches it
    server.behaviours.update(good=correct(), cand=correct(), judge=rubric_judge())
    root = graded_workspace(tmp_path / "ws", server, suite, settings="")
    deep = invoke(cli, "check", "--deep", "--today", "2026-11-26", cwd=root)
    assert deep.exit_code == 1, deep.output
    assert "openai/grader (grader): set the environment variable OPENAI_API_KEY" in deep.output
    run = invoke(cli, "run", "dep", *TODAY, cwd=root)
    assert run.exit_code == 2, run.output
    assert "no call made" in run.output and "openai/grader (grader)" in run.output
    assert server.total_calls() == 0


def test_an_answer_its_graders_transform_cannot_read_is_an_error_and_asks_no_grader(
    cli, tmp_path: Path, server: ScriptedServer
) -> None:
    suite = (
        "prompts: [prompt.md.j2]\ntests:\n  - vars: {case: [c000, c001]}\n    assert:\n"
        "      - {type: llm-rubric, value: polite, transform: 'JSON.parse(output).reply'}\n"
    )
    server.behaviours.update(good=correct(), cand=correct(), judge=rubric_judge())
    root = graded_workspace(tmp_path / "ws", server, suite)
    invoke(cli, "run", "dep", *TODAY, cwd=root)
    (run_dir,) = run_dirs(root)
    summary = summary_of(run_dir)
    # "answer-c000" is not JSON: promptfoo errors the test; migrate keeps it apart as an error
    assert summary["metrics"]["openai/good"]["errors_by_class"] == {"CheckError": 2}
    assert server.calls["judge"] == 0
