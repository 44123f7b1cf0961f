"""The `pairwise` check end to end: traffic imported, both models called over real HTTP, a
scripted judge comparing their answers in both orders, the verdict on the net preference."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from migrate.evals.judge import parse_preference
from tests.conftest import invoke, write
from tests.support.openai_server import Reply, Request, ScriptedServer
from tests.test_cases_import import CARDS, EMAILS, PHONES, chat_log

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
TODAY = "2026-11-26"
NUMBER = re.compile(r"number (\d+)")


@pytest.fixture(autouse=True)
def model_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_LLM_KEY", "sk-test-SENTINEL-5b1e0c9d7a2f")


def right(number: str) -> str:
    return f"Done: request {number} is handled."


def answering(wrong: set[str] = frozenset(), seen: list[Request] | None = None):  # type: ignore[no-untyped-def,assignment]
    """Answers the request number it is asked about; wrongly for the numbers in `wrong`."""

    def behave(request: Request) -> Reply:
        if seen is not None:
            seen.append(request)
        number = NUMBER.search(request.user).group(1)  # type: ignore[union-attr]
        if number in wrong:
            return Reply(text=f"Sorry, I could not find request {number}.")
        return Reply(text=right(number))

    return behave


def section(text: str, name: str, until: str) -> str:
    return text.split(f"## {name}\n", 1)[1].split(f"\n\n## {until}", 1)[0]


def fair_judge(request: Request) -> Reply:
    """Prefers the answer that is right for the task's request; a tie when both are."""
    task = section(request.user, "Task", "Answer A")
    a = section(request.user, "Answer A", "Answer B")
    b = request.user.split("## Answer B\n", 1)[1].split("\n\n## Rubric", 1)[0]
    expected = right(NUMBER.search(task).group(1))  # type: ignore[union-attr]
    winner = "tie" if (a == expected) == (b == expected) else ("A" if a == expected else "B")
    return Reply(text=json.dumps({"winner": winner, "reasoning": f"The right one: {winner}."}))


def first_answer_judge(request: Request) -> Reply:
    return Reply(text=json.dumps({"winner": "A", "reasoning": "The first one reads better."}))


def workspace(root: Path, api_base: str, candidate: str = "cand") -> Path:
    model = f'{{api_base: "{api_base}", api_key_env: TEST_LLM_KEY, input_cost_per_mtok: 1, output_cost_per_mtok: 2}}'  # noqa: E501
    write(
        root / "models.yaml",
        f"""
        version: 1
        settings:
          judge_model: openai/judge
          run: {{concurrency: 8, timeout_seconds: 10, max_retries: 2}}
        models:
          openai/good: {model}
          openai/{candidate}: {model}
          openai/judge: {model}
        dependencies:
          dep:
            model: openai/good
            candidates: [openai/{candidate}]
            owners: [owner@example.com]
            params: {{temperature: 0, max_tokens: 50}}
            eval:
              cases: evals/dep.jsonl
              checks: [{{type: pairwise, rubric: "Handles the customer's request."}}]
            gates: {{pass_rate_drop: 0.05, p95_latency_increase: null, cost_increase: null}}
        """,
    )
    return root


def run(cli, root: Path):  # type: ignore[no-untyped-def]
    return invoke(cli, "run", "dep", "--today", TODAY, "--no-progress", cwd=root)


def only_run(root: Path) -> Path:
    (run_dir,) = [p.parent for p in root.glob("runbooks/*/dep/runs/*/summary.json")]
    return run_dir


def test_imported_traffic_judged_side_by_side_lists_exactly_the_wrong_cases(
    cli, tmp_path: Path, server: ScriptedServer
) -> None:
    root = workspace(tmp_path / "ws", server.api_base)
    log, _ = chat_log(root / "logs" / "chats.jsonl")
    imported = invoke(cli, "cases", "import", "dep", "logs/chats.jsonl", "--today", TODAY, cwd=root)
    assert imported.exit_code == 0, imported.output
    wrong_numbers = {"1002", "1005", "1011", "1017", "1023", "1029"}
    sent: list[Request] = []
    server.behaviours.update(
        good=answering(seen=sent), cand=answering(wrong_numbers), judge=fair_judge
    )
    result = run(cli, root)
    assert result.exit_code == 1, result.output  # 6 of 30 lost: clearly past a 5 pts margin
    cases = {
        json.loads(line)["id"]: json.loads(line)
        for line in (root / "evals" / "dep.jsonl").read_text().splitlines()
    }
    wrong_ids = {
        case_id
        for case_id, case in cases.items()
        if NUMBER.search(case["messages"][-1]["content"]).group(1) in wrong_numbers  # type: ignore[union-attr]
    }
    assert len(wrong_ids) == 6
    run_dir = only_run(root)
    summary = json.loads((run_dir / "summary.json").read_text())
    comparison = summary["candidates"]["openai/cand"]
    assert summary["verdict"] == "FAIL"
    assert set(comparison["regressions"]) == wrong_ids
    pairwise = comparison["pairwise"]
    assert set(pairwise["losses"]) == wrong_ids
    assert pairwise["wins"] == [] and len(pairwise["ties"]) == 24
    assert pairwise["cases"] == 30 and pairwise["pairs"] == 30
    assert pairwise["inconsistent"] == 0 and pairwise["inconsistent_share"] == 0.0
    assert pairwise["net"] == pytest.approx(-6 / 30)
    gate = next(g for g in comparison["gates"] if g["name"] == "pairwise")
    assert gate["status"] == "broken"
    pass_rate = next(g for g in comparison["gates"] if g["name"] == "pass_rate_drop")
    assert pass_rate["status"] == "not measured"
    # both answers and the judge's reasoning, in summary.json and in the report
    loss = next(d for d in pairwise["details"] if d["outcome"] == "loss")
    assert loss["baseline"].startswith("Done: request")
    assert loss["candidate"].startswith("Sorry, I could not find request")
    assert {j["shown_first"] for j in loss["judgements"]} == {"baseline", "candidate"}
    assert all(j["winner"] == "baseline" for j in loss["judgements"])
    report = (run_dir / "report.md").read_text()
    assert report.count("Judge, baseline shown first: prefers **baseline**") == 6
    assert "## Side by side: openai/cand against openai/good" in report
    assert sorted(re.findall(r"^### `([^`]+)`$", report, flags=re.MULTILINE)) == sorted(wrong_ids)
    # how different it feels: the wrong answers are the least similar to the baseline's
    similarity = comparison["similarity"]
    assert similarity["cases"] == 30 and similarity["histogram"][9] == 24
    assert {d["case"] for d in similarity["least_similar"]} < wrong_ids
    assert "### How different openai/cand feels" in report
    # every answer judged twice, once in each order; the requests went out as imported
    assert server.calls == {"good": 30, "cand": 30, "judge": 60}
    system = "You are the support assistant of Example Corp."
    assert sorted(json.dumps(r.messages) for r in sent) == sorted(
        json.dumps(c["messages"]) for c in cases.values()
    )  # each case's own messages, as imported: no prompt template around them
    written = "\n".join(
        p.read_text(encoding="utf-8", errors="replace")
        for p in root.rglob("*")
        if p.is_file() and p != log and ".git" not in p.parts
    )
    assert system in written
    for value in [*EMAILS, *PHONES, *CARDS]:
        assert value not in written
        assert value not in result.output


def test_one_loss_in_thirty_is_inconclusive(cli, tmp_path: Path, server: ScriptedServer) -> None:
    root = workspace(tmp_path / "ws", server.api_base)
    chat_log(root / "chats.jsonl")
    invoke(cli, "cases", "import", "dep", "chats.jsonl", "--today", TODAY, cwd=root)
    server.behaviours.update(good=answering(), cand=answering({"1004"}), judge=fair_judge)
    result = run(cli, root)
    assert result.exit_code == 3, result.output
    summary = json.loads((only_run(root) / "summary.json").read_text())
    comparison = summary["candidates"]["openai/cand"]
    assert len(comparison["pairwise"]["losses"]) == 1
    assert "straddles the -5.0 pts margin" in comparison["explanation"]
    assert comparison["cases_to_settle"] > 30


def numbered_log(path: Path, n: int) -> None:
    write(
        path,
        "".join(
            json.dumps(
                {"messages": [{"role": "user", "content": f"Please close number {5000 + i}."}]}
            )
            + "\n"
            for i in range(n)
        ),
    )


def test_an_identical_candidate_has_no_losses_and_passes(
    cli, tmp_path: Path, server: ScriptedServer
) -> None:
    root = workspace(tmp_path / "ws", server.api_base, candidate="same")
    numbered_log(root / "chats.jsonl", 120)
    invoke(cli, "cases", "import", "dep", "chats.jsonl", "--today", TODAY, cwd=root)
    server.behaviours.update(good=answering(), same=answering(), judge=fair_judge)
    result = run(cli, root)
    assert result.exit_code == 0, result.output
    summary = json.loads((only_run(root) / "summary.json").read_text())
    comparison = summary["candidates"]["openai/same"]
    assert summary["verdict"] == "PASS"
    assert comparison["regressions"] == [] and comparison["pairwise"]["losses"] == []
    assert len(comparison["pairwise"]["ties"]) == 120
    # 120 ties bound a net loss at z^2/(n + z^2) = 3.84/123.84 = 3.1 pts, inside 5 pts
    assert comparison["pairwise"]["low"] == pytest.approx(-0.031, abs=0.001)
    assert "Judged side by side over 120 cases" in comparison["explanation"]
    assert comparison["similarity"]["histogram"] == [0] * 9 + [120]
    assert comparison["similarity"]["least_similar"] == []


def test_a_judge_that_prefers_the_first_answer_is_shown_as_position_bias(
    cli, tmp_path: Path, server: ScriptedServer
) -> None:
    root = workspace(tmp_path / "ws", server.api_base)
    numbered_log(root / "chats.jsonl", 10)
    invoke(cli, "cases", "import", "dep", "chats.jsonl", "--today", TODAY, cwd=root)
    server.behaviours.update(good=answering(), cand=answering({"5003"}), judge=first_answer_judge)
    run(cli, root)
    pairwise = json.loads((only_run(root) / "summary.json").read_text())["candidates"][
        "openai/cand"
    ]["pairwise"]
    assert pairwise["losses"] == [] and pairwise["wins"] == []  # never agreed with itself
    assert pairwise["inconsistent"] == 10 and pairwise["inconsistent_share"] == 1.0
    assert pairwise["first_shown_share"] == 1.0


@pytest.mark.parametrize(
    ("reply", "parsed"),
    [
        ('{"winner": "A", "reasoning": "clearer"}', ("A", "clearer")),
        ('```json\n{"winner": "b", "reasoning": "r"}\n```', ("B", "r")),
        ('Verdict: {"winner": "Tie", "reasoning": ""}', ("tie", "")),
        ('{"winner": "Answer A"}', ("A", "")),
        ('{"winner": "C"}', None),
        ("A is better", None),
        ("", None),
    ],
)
def test_parse_preference(reply: str, parsed: tuple[str, str] | None) -> None:
    assert parse_preference(reply) == parsed
