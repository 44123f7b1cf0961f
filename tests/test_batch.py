"""`migrate run --batch`: litellm's files and batches functions over real HTTP to the
scripted server's `/v1/files` and `/v1/batches`; submitted, polled, collected, resubmitted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import invoke
from tests.support.openai_server import Reply, Request, ScriptedServer
from tests.support.scenarios import (
    candidate,
    case_of,
    correct,
    outcome_fields,
    run_dirs,
    summary_of,
    write_workspace,
)

pytestmark = pytest.mark.timeout(300)
TODAY = "2026-11-26"
# OpenAI's published prices for gpt-4o-mini, USD per million tokens (openai.com/api/pricing):
# $0.15 in / $0.60 out synchronously, and half that through the Batch API.
MINI_BATCH = (0.075, 0.30)


@pytest.fixture(autouse=True)
def model_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_LLM_KEY", "sk-test-SENTINEL-7f3a9c21e4b8")


def run(cli, root: Path, *args: str):  # type: ignore[no-untyped-def]
    return invoke(cli, "run", "dep", "--today", TODAY, "--no-progress", *args, cwd=root)


def journal(run_dir: Path) -> list[dict[str, Any]]:
    lines = (run_dir / "journal.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def calls(run_dir: Path) -> list[dict[str, Any]]:
    return [e for e in journal(run_dir) if not e["kind"].startswith("batch_")]


def keys(run_dir: Path) -> list[tuple[str, str, str, int, str]]:
    return [(e["kind"], e["model"], e["case"], e["sample"], e["extra"]) for e in calls(run_dir)]


def until_done(cli, root: Path, *args: str, most: int = 8) -> tuple[Any, int]:  # type: ignore[no-untyped-def]
    """Run the same command until it no longer says "submitted, not finished" (exit 5)."""
    for attempt in range(1, most + 1):
        result = run(cli, root, *args)
        if result.exit_code != 5:
            return result, attempt
    raise AssertionError("still not finished")


def test_submit_then_collect_gives_the_synchronous_verdict(
    cli, tmp_path: Path, server: ScriptedServer
) -> None:  # type: ignore[no-untyped-def]
    server.behaviours.update(
        {"good": correct(), "cand": candidate(wrong={"c002", "c005", "c011"}, chatty=False)}
    )
    sync_root = write_workspace(tmp_path / "sync", server.api_base, cases=12)
    synchronous = run(cli, sync_root)
    assert synchronous.exit_code == 1, synchronous.stdout
    answered_synchronously = server.total_calls()

    root = write_workspace(tmp_path / "batch", server.api_base, cases=12)
    first = run(cli, root, "--batch")
    assert first.exit_code == 5, first.stdout + first.stderr
    out = first.stdout.splitlines()
    assert out[0].startswith("Batches out for run ")
    assert sorted(line.split(" (")[1] for line in out[1:]) == [
        "openai/cand, 12 requests)",
        "openai/good, 12 requests)",
    ]
    assert server.total_calls() == answered_synchronously  # nothing answered yet
    run_dir = run_dirs(root)[0]
    assert not (run_dir / "summary.json").exists()
    kinds = [e["kind"] for e in journal(run_dir)]
    assert kinds == ["batch_intent", "batch_submitted"] * 2  # intent journaled before upload

    second = run(cli, root, "--batch")  # polled once: the server says in_progress
    assert second.exit_code == 5
    assert "in_progress: batch_" in second.stdout

    third = run(cli, root, "--batch")
    assert third.exit_code == 1, third.stdout + third.stderr
    assert "FAIL: dep (12 cases, 1 sample; 24 calls made" in third.stdout
    assert outcome_fields(summary_of(run_dir)) == outcome_fields(summary_of(run_dirs(sync_root)[0]))
    assert len(keys(run_dir)) == len(set(keys(run_dir))) == 24
    assert set(server.batch_lines.values()) == {1}  # each request ran exactly once
    assert len(server.batch_lines) == 24
    assert all(e["record"]["latency"] is None for e in calls(run_dir))
    report = (run_dir / "report.md").read_text(encoding="utf-8")
    assert "not measured: 12 answers from a batch API" in report


def test_cost_is_the_published_batch_price(cli, tmp_path: Path, server: ScriptedServer) -> None:  # type: ignore[no-untyped-def]
    server.behaviours.update({"gpt-4o-mini": correct(), "cand": correct()})
    root = write_workspace(tmp_path / "w", server.api_base, cases=4, baseline="gpt-4o-mini")
    registry = (root / "models.yaml").read_text(encoding="utf-8")
    priced = ", input_cost_per_mtok: 1, output_cost_per_mtok: 2}"
    first_model = registry.index("openai/gpt-4o-mini:")
    end = registry.index(priced, first_model)
    registry = registry[:end] + "}" + registry[end + len(priced) :]  # litellm knows its price
    (root / "models.yaml").write_text(registry, encoding="utf-8")
    result, _ = until_done(cli, root, "--batch")
    # The candidate is priced at the registry's $1/$2: far dearer, so the cost gate fails.
    assert result.exit_code == 1, result.stdout + result.stderr
    assert "cost_increase: per case" in result.stdout
    for entry in calls(run_dirs(root)[0]):
        record = entry["record"]
        # The server counts whitespace-separated words as tokens.
        prompt_tokens = len("Answer with the case's answer.".split()) + len(
            f"Question about case {entry['case']}.".split()
        )
        assert record["prompt_tokens"] == prompt_tokens
        assert record["completion_tokens"] == 1
        if entry["model"] == "openai/gpt-4o-mini":
            expected = (prompt_tokens * MINI_BATCH[0] + 1 * MINI_BATCH[1]) / 1e6
        else:  # unknown to litellm: the registry's prices, $1 and $2 per million
            expected = (prompt_tokens * 1 + 1 * 2) / 1e6
        assert record["cost"] == pytest.approx(expected, rel=1e-12)


def test_an_expired_batch_is_resubmitted_for_the_missing_requests_only(
    cli, tmp_path: Path, server: ScriptedServer
) -> None:  # type: ignore[no-untyped-def]
    server.behaviours.update({"good": correct(), "cand": correct()})
    server.batch_script.expire_after = 3
    server.batch_script.expire_batches = 1  # the first batch to end expires after 3 lines
    root = write_workspace(tmp_path / "w", server.api_base, cases=10)
    assert run(cli, root, "--batch").exit_code == 5
    polled = run(cli, root, "--batch")
    assert polled.exit_code == 5, polled.stdout
    collecting = run(cli, root, "--batch")
    assert collecting.exit_code == 5
    assert "sent again: 7 requests (expired or failed)" in collecting.stdout
    result, _ = until_done(cli, root, "--batch")
    assert result.exit_code == 3, result.stdout  # the same answers: 10 cases cannot settle it
    run_dir = run_dirs(root)[0]
    assert len(keys(run_dir)) == len(set(keys(run_dir))) == 20
    assert all(e["record"]["error"] is None for e in calls(run_dir))
    assert len(server.batches) == 3  # two, and one more for the seven that expired
    assert set(server.batch_answered.values()) == {1} and len(server.batch_answered) == 20
    resubmitted = [e for e in journal(run_dir) if e["kind"] == "batch_intent"][-1]
    assert len(resubmitted["requests"]) == 7


def test_failed_lines_are_retried_or_filed_like_a_synchronous_call(
    cli, tmp_path: Path, server: ScriptedServer
) -> None:  # type: ignore[no-untyped-def]
    def flaky(request: Request) -> Reply:
        case = case_of(request)
        if case in {"c001", "c004"} and request.attempt == 1:
            return Reply(status=503)  # transient: sent again in the next batch
        if case == "c007":
            return Reply(status=400)  # the request itself is wrong: that is its result
        return Reply(text=f"answer-{case}")

    server.behaviours.update({"good": correct(), "cand": flaky})
    root = write_workspace(
        tmp_path / "w",
        server.api_base,
        cases=10,
        run_settings="{timeout_seconds: 10, max_retries: 2, max_error_rate: 0.5}",
    )
    result, _ = until_done(cli, root, "--batch")
    run_dir = run_dirs(root)[0]
    assert len(keys(run_dir)) == len(set(keys(run_dir))) == 20
    errors = {e["case"]: e["record"]["error"] for e in calls(run_dir) if e["record"]["error"]}
    assert errors == {"c007": "BadRequest"}
    assert server.batch_lines[("cand", '["generate","c001",0,""]')] == 2
    assert server.batch_lines[("cand", '["generate","c007",0,""]')] == 1
    assert result.exit_code in {1, 3}, result.stdout


def test_a_rejected_batch_ends_as_errors_after_its_retries(
    cli, tmp_path: Path, server: ScriptedServer
) -> None:  # type: ignore[no-untyped-def]
    server.behaviours.update({"good": correct(), "cand": correct()})
    server.batch_script.reject = "line 1: unknown parameter"
    server.batch_script.polls = 0  # ends at its first poll
    root = write_workspace(
        tmp_path / "w", server.api_base, cases=3, run_settings="{max_retries: 1}"
    )
    assert run(cli, root, "--batch").exit_code == 5
    again = run(cli, root, "--batch")
    assert again.exit_code == 5
    assert "rejected: openai/good: batch batch_000001: line 1: unknown parameter" in again.stdout
    assert "line 1: unknown parameter" in again.stdout
    result, _ = until_done(cli, root, "--batch")
    assert result.exit_code == 4, result.stdout  # every call failed: infrastructure
    run_dir = run_dirs(root)[0]
    assert {e["record"]["error"] for e in calls(run_dir)} == {"BatchError"}
    assert len(server.batches) == 4  # two models, two batches each (max_retries + 1)


def test_settings_run_batch_and_the_json_account(
    cli, tmp_path: Path, server: ScriptedServer
) -> None:  # type: ignore[no-untyped-def]
    server.behaviours.update({"good": correct(), "cand": correct()})
    root = write_workspace(tmp_path / "w", server.api_base, cases=2, run_settings="{batch: true}")
    result = run(cli, root, "--json")
    assert result.exit_code == 5
    account = json.loads(result.stdout)
    assert account["status"] == "submitted" and account["exit_code"] == 5
    assert sorted(b["model"] for b in account["batches"]) == ["openai/cand", "openai/good"]
    # Batches out: `migrate report` would mark the run finished, so it refuses.
    run_id = account["run_id"]
    refused = invoke(cli, "report", run_id, cwd=root)
    assert refused.exit_code == 2
    assert f"run {run_id} has batches out; `migrate run` collects them" in refused.stderr
    assert not (run_dirs(root)[0] / "summary.json").exists()
    # Batches out: a run without --batch collects them rather than calling again.
    settings = (root / "models.yaml").read_text().replace("{batch: true}", "{batch: false}")
    (root / "models.yaml").write_text(settings)
    result, _ = until_done(cli, root)
    assert result.exit_code == 3, result.stdout  # the same answers: 2 cases settle nothing
    assert server.total_calls() == 4  # all through the batches, none synchronous


def test_a_provider_without_a_batch_api_here_is_refused_before_any_call(
    cli, tmp_path: Path, server: ScriptedServer
) -> None:  # type: ignore[no-untyped-def]
    root = write_workspace(
        tmp_path / "w",
        server.api_base,
        cases=2,
        extra_models="  anthropic/claude-x: {api_key_env: TEST_LLM_KEY}",
    )
    registry = (root / "models.yaml").read_text()
    (root / "models.yaml").write_text(
        registry.replace("candidates: [openai/cand]", "candidates: [anthropic/claude-x]")
    )
    result = run(cli, root, "--batch")
    assert result.exit_code == 2
    assert "anthropic/claude-x: batch mode needs a provider" in result.stderr
    assert run_dirs(root) == [] and not server.batches
    (root / "models.yaml").write_text(
        registry.replace(
            "api_key_env: TEST_LLM_KEY,", "api_key_env: TEST_LLM_KEY, drop_params: true,", 1
        )
    )
    result = run(cli, root, "--batch")
    assert result.exit_code == 2
    assert "openai/good: drop_params is set" in result.stderr
    assert run_dirs(root) == [] and not server.batches


def test_a_collection_cut_short_journals_the_rest_exactly_once(
    cli, tmp_path: Path, server: ScriptedServer
) -> None:  # type: ignore[no-untyped-def]
    import asyncio
    import datetime as dt

    from migrate.evals.batch import BatchPhase
    from migrate.evals.inputs import read_inputs
    from migrate.evals.journal import JournalWriter
    from migrate.evals.record import Entry
    from migrate.evals.runner import CallCounts
    from migrate.llm_batch import BatchSeam

    class Killed(Exception):
        pass

    class DyingJournal(JournalWriter):
        """Writes `survive` results, then dies as a killed process would: mid-collection."""

        def __init__(self, path: Path, survive: int) -> None:
            super().__init__(path)
            self.left = survive

        def append(self, entry: Any) -> None:
            if isinstance(entry, Entry):
                if self.left == 0:
                    raise Killed
                self.left -= 1
            super().append(entry)

    server.behaviours.update({"good": correct(), "cand": correct()})
    server.batch_script.polls = 0
    root = write_workspace(tmp_path / "w", server.api_base, cases=10)
    assert run(cli, root, "--batch").exit_code == 5
    run_dir = run_dirs(root)[0]
    inputs = read_inputs(run_dir)
    manifest = inputs.manifest
    targets = {t.model: t for t in [manifest.baseline, *manifest.candidates]}
    journal = DyingJournal(run_dir / "journal.jsonl", survive=13)
    phase = BatchPhase(
        journal,
        BatchSeam(timeout=10, max_retries=0),
        targets,
        {},
        lambda: dt.datetime.now(dt.UTC),
        CallCounts(),
        max_batches=5,
    )
    with pytest.raises(Killed):
        asyncio.run(phase.run(inputs))
    journal.close()
    assert len(keys(run_dir)) == 13  # one batch collected whole, the other cut at 3
    result, invocations = until_done(cli, root, "--batch")
    assert invocations == 1 and result.exit_code == 3, result.stdout
    assert "7 calls made" in result.stdout  # the rest of the cut batch, and no more
    assert len(keys(run_dir)) == len(set(keys(run_dir))) == 20
    assert len(server.batches) == 2 and set(server.batch_lines.values()) == {1}


def test_judge_calls_go_out_as_a_second_batch_once_the_answers_are_in(
    cli, tmp_path: Path, server: ScriptedServer
) -> None:  # type: ignore[no-untyped-def]
    def judge(request: Request) -> Reply:
        answer = request.user.split("## Answer\n", 1)[1].split("\n\n## Rubric", 1)[0]
        ok = answer.startswith("answer-")
        return Reply(text=json.dumps({"verdict": "pass" if ok else "fail", "reasoning": "-"}))

    server.behaviours.update(
        good=correct(), cand=candidate(wrong={"c002"}, chatty=False), judge=judge
    )
    server.batch_script.polls = 0
    root = write_workspace(
        tmp_path / "ws",
        server.api_base,
        cases=10,
        checks='[{type: llm_judge, rubric: "The answer names the case answer."}]',
        extra_models=f'  openai/judge: {{api_base: "{server.api_base}", '
        "api_key_env: TEST_LLM_KEY}",
        settings={"judge_model": "openai/judge"},
    )
    assert run(cli, root, "--batch").exit_code == 5  # the answers' batches
    judging = run(cli, root, "--batch")  # answers collected, the judge's batch submitted
    assert judging.exit_code == 5
    assert "collected 20 results" in judging.stdout
    assert "(openai/judge, 20 requests)" in judging.stdout
    result = run(cli, root, "--batch")
    assert result.exit_code in {1, 3}, result.stdout
    run_dir = run_dirs(root)[0]
    summary = summary_of(run_dir)
    assert summary["candidates"]["openai/cand"]["regressions"] == ["c002"]
    phases = [e["phase"] for e in journal(run_dir) if e["kind"] == "batch_intent"]
    assert sorted(phases) == ["generate", "generate", "judge"]
    assert server.calls["judge"] == 20 and set(server.batch_lines.values()) == {1}


def test_promptfoo_graded_assertions_are_refused_in_batch_mode(
    cli, tmp_path: Path, server: ScriptedServer
) -> None:  # type: ignore[no-untyped-def]
    from tests.test_graders_run import graded_workspace

    root = graded_workspace(tmp_path / "w", server)
    result = run(cli, root, "--batch")
    assert result.exit_code == 2, result.stdout
    assert "dep: promptfoo's model-graded assertions are graded one conversation step" in (
        result.stderr
    )
    assert run_dirs(root) == [] and not server.batches and server.total_calls() == 0


def test_an_upload_that_fails_is_an_infrastructure_error_and_the_rerun_submits_afresh(
    cli, tmp_path: Path, server: ScriptedServer
) -> None:  # type: ignore[no-untyped-def]
    server.behaviours.update({"good": correct(), "cand": correct()})
    server.batch_script.uploads_refused = 1
    server.batch_script.polls = 0
    root = write_workspace(
        tmp_path / "w", server.api_base, cases=4, run_settings="{max_retries: 0}"
    )
    failed = run(cli, root, "--batch")
    assert failed.exit_code == 4
    assert "openai/good: uploading the batch's requests failed: ServerError" in failed.stderr
    run_dir = run_dirs(root)[0]
    assert [e["kind"] for e in journal(run_dir)] == ["batch_intent"]  # journaled first
    assert run(cli, root, "--batch").exit_code == 5  # no such batch: closed, sent afresh
    closed = [e for e in journal(run_dir) if e["kind"] == "batch_closed"]
    assert [c["status"] for c in closed] == ["never_created"]
    result, _ = until_done(cli, root, "--batch")
    assert result.exit_code == 3, result.stdout
    assert len(keys(run_dir)) == len(set(keys(run_dir))) == 8
    assert len(server.batches) == 2 and set(server.batch_lines.values()) == {1}
