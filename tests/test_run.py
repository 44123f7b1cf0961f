"""`migrate run` end to end: litellm over real HTTP to a scripted local server."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.conftest import invoke
from tests.support.openai_server import Reply, Request, ScriptedServer
from tests.support.scenarios import (
    at_random,
    candidate,
    case_ids,
    case_of,
    correct,
    faulty,
    journal_keys,
    outcome_fields,
    run_dirs,
    summary_of,
    write_workspace,
)
from tests.support.second_stats import optimizer_interval

pytestmark = pytest.mark.timeout(300)
TODAY = "2026-11-26"


@pytest.fixture(autouse=True)
def model_key(monkeypatch: pytest.MonkeyPatch) -> str:
    key = "sk-test-SENTINEL-7f3a9c21e4b8"
    monkeypatch.setenv("TEST_LLM_KEY", key)
    return key


def run(cli, root: Path, *args: str):  # type: ignore[no-untyped-def]
    return invoke(cli, "run", "dep", "--today", TODAY, "--no-progress", *args, cwd=root)


def said(result, root: Path, verdict_line: str, *lines: str) -> None:  # type: ignore[no-untyped-def]
    """`migrate run`'s account of a run: the verdict line (exact, or its start when it ends
    in '; '), a line starting with each of `lines`, and the path of the report last."""
    out = result.stdout.splitlines()
    if verdict_line.endswith("; "):
        assert any(line.startswith(verdict_line) for line in out), result.stdout
    else:
        assert verdict_line in out, result.stdout
    for expected in lines:
        assert any(line.startswith(expected) for line in out), (expected, result.stdout)
    report = run_dirs(root)[-1] / "report.md"
    assert out[-1] == f"Report: {report.relative_to(root)}", result.stdout


VERDICT_OF = {0: "PASS", 1: "FAIL", 3: "INCONCLUSIVE", 4: "ERROR"}


def regression_headings(report: str) -> list[str]:
    return re.findall(r"^### `([^`]+)`$", report, flags=re.MULTILINE)


def test_candidate_wrong_on_15_percent_fails_and_lists_exactly_those_cases(
    cli, tmp_path: Path, server: ScriptedServer
) -> None:
    wrong = {f"c{i:03d}" for i in range(3, 100, 7)} | {"c001"}
    assert len(wrong) == 15
    server.behaviours.update(good=correct(), cand=candidate(wrong=wrong))
    root = write_workspace(
        tmp_path / "ws", server.api_base, cases=100, gates={"cost_increase": "null"}
    )
    result = run(cli, root)
    assert result.exit_code == 1, result.output
    said(result, root, "FAIL: dep (100 cases, 1 sample; 200 calls made, 0 from the cache, "
         "0 errors in the journal)",
         "  openai/cand: FAIL: 15 regressions, 0 improvements, 0 flaky. ")  # fmt: skip
    summary = summary_of(run_dirs(root)[0])
    assert summary["verdict"] == "FAIL"
    comparison = summary["candidates"]["openai/cand"]
    assert set(comparison["regressions"]) == wrong
    assert comparison["improvements"] == [] and comparison["flaky"] == []
    assert summary["metrics"]["openai/good"]["pass_rate"] == 1.0
    assert summary["metrics"]["openai/cand"]["pass_rate"] == pytest.approx(0.85)
    report = (run_dirs(root)[0] / "report.md").read_text(encoding="utf-8")
    assert report.startswith("# FAIL: dep")
    assert sorted(regression_headings(report)) == sorted(wrong)
    assert server.calls == {"good": 100, "cand": 100}


def test_identical_candidate_passes_with_zero_regressions(
    cli, tmp_path: Path, server: ScriptedServer
) -> None:
    server.behaviours.update(good=correct(), same=correct())
    root = write_workspace(
        tmp_path / "ws",
        server.api_base,
        cases=100,
        candidates=("same",),
        gates={"pass_rate_drop": 0.05},
    )
    result = run(cli, root)
    assert result.exit_code == 0, result.output
    said(result, root, "PASS: dep (100 cases, 1 sample; ",
         "  openai/same: PASS: 0 regressions, 0 improvements, 0 flaky. ")  # fmt: skip
    summary = summary_of(run_dirs(root)[0])
    assert summary["verdict"] == "PASS"
    assert summary["candidates"]["openai/same"]["regressions"] == []
    # 100 cases in perfect agreement bound a drop at z^2/(n+z^2) = 3.7 pts < 5 pts.
    assert summary["candidates"]["openai/same"]["pass_rate_diff"]["low"] == pytest.approx(
        -0.037, abs=0.001
    )


def test_one_case_worse_on_twenty_is_inconclusive_and_says_what_would_settle_it(
    cli, tmp_path: Path, server: ScriptedServer
) -> None:
    server.behaviours.update(good=correct(), cand=candidate(wrong={"c007"}, chatty=False))
    root = write_workspace(tmp_path / "ws", server.api_base, cases=20)
    result = run(cli, root)
    assert result.exit_code == 3, result.output
    summary = summary_of(run_dirs(root)[0])
    comparison = summary["candidates"]["openai/cand"]
    assert summary["verdict"] == "INCONCLUSIVE"
    assert comparison["regressions"] == ["c007"]
    stated = comparison["cases_to_settle"]
    assert stated > 20
    assert comparison["settlement"]["for_even_chance"] == stated
    assert comparison["settlement"]["direction"] == "broken"  # -5 pts observed, margin -2
    assert (
        f"A suite of {stated} cases would settle it in at least half of reruns"
        in (comparison["explanation"])
    )
    assert "INCONCLUSIVE" in result.output


def test_refusals_are_measured_and_break_the_refusal_gate(
    cli, tmp_path: Path, server: ScriptedServer
) -> None:
    refused = set(case_ids(100)[::10])
    server.behaviours.update(good=correct(), cand=candidate(refuse=refused, chatty=False))
    root = write_workspace(
        tmp_path / "ws", server.api_base, cases=100, gates={"pass_rate_drop": 0.2}
    )
    result = run(cli, root, "--full")  # sequentially, the first look (40 cases) would settle
    assert result.exit_code == 1, result.output
    said(result, root, "FAIL: dep (100 cases, 1 sample; ",
         "  openai/cand: FAIL: 10 regressions, 0 improvements, 0 flaky. ")  # fmt: skip
    summary = summary_of(run_dirs(root)[0])
    assert summary["metrics"]["openai/good"]["refusal_rate"] == 0.0
    assert summary["metrics"]["openai/cand"]["refusal_rate"] == pytest.approx(0.10)
    gates = {g["name"]: g["status"] for g in summary["candidates"]["openai/cand"]["gates"]}
    assert gates["refusal_rate_increase"] == "broken"
    assert set(summary["candidates"]["openai/cand"]["regressions"]) == refused


def test_slower_candidate_breaks_the_latency_gate(
    cli, tmp_path: Path, server: ScriptedServer
) -> None:
    server.behaviours.update(good=correct(delay=0.01), slow=correct(delay=0.25))
    root = write_workspace(
        tmp_path / "ws",
        server.api_base,
        cases=40,
        candidates=("slow",),
        gates={"pass_rate_drop": 0.2},
    )
    result = run(cli, root, "--full")  # sequentially, the broken gate would stop at 32 cases
    summary = summary_of(run_dirs(root)[0])
    gates = {g["name"]: g for g in summary["candidates"]["openai/slow"]["gates"]}
    assert gates["p95_latency_increase"]["status"] == "broken"
    assert summary["metrics"]["openai/slow"]["latency_p50"] >= 0.25
    assert result.exit_code == 1
    said(result, root, "FAIL: dep (40 cases, 1 sample; ",
         "  openai/slow: FAIL: 0 regressions, 0 improvements, 0 flaky. ")  # fmt: skip


def test_rate_limits_and_server_errors_lose_no_case(
    cli, tmp_path: Path, server: ScriptedServer
) -> None:
    server.behaviours.update(
        good=faulty(correct(), rate_limited=0.10, server_errors=0.05),
        cand=faulty(candidate(wrong={"c005"}, chatty=False), rate_limited=0.10, server_errors=0.05),
    )
    root = write_workspace(tmp_path / "ws", server.api_base, cases=80)
    result = run(cli, root)
    assert result.exit_code in (0, 1, 3), result.output
    verdict = VERDICT_OF[result.exit_code]
    said(result, root, f"{verdict}: dep (80 cases, 1 sample; ",
         f"  openai/cand: {verdict}: 1 regression, ")  # fmt: skip
    assert result.stdout.splitlines()[0].endswith(" 0 errors in the journal)")
    run_dir = run_dirs(root)[0]
    keys = journal_keys(run_dir)
    assert len(keys) == len(set(keys)) == 160  # every (model, case, sample) exactly once
    summary = summary_of(run_dir)
    assert summary["calls"]["errors"] == 0  # every transient fault was retried to success
    assert server.total_calls() > 160  # ... and the server did see the faults
    assert summary["candidates"]["openai/cand"]["regressions"] == ["c005"]


def test_persistent_errors_are_reported_as_errors_not_failures(
    cli, tmp_path: Path, server: ScriptedServer
) -> None:
    broken = {"c010", "c020", "c030"}
    server.behaviours.update(good=correct(), cand=faulty(correct(), persistent=broken))
    root = write_workspace(
        tmp_path / "ws",
        server.api_base,
        cases=100,
        candidates=("cand",),
        gates={"pass_rate_drop": 0.05},
        run_settings="{concurrency: 8, max_retries: 1, max_error_rate: 0.1}",
    )
    result = run(cli, root)
    summary = summary_of(run_dirs(root)[0])
    cand = summary["metrics"]["openai/cand"]
    assert cand["errors"] == 3 and cand["errors_by_class"] == {"ServerError": 3}
    assert cand["pass_rate"] == 1.0  # errors are not failures
    comparison = summary["candidates"]["openai/cand"]
    assert set(comparison["unscored"]) == broken and comparison["regressions"] == []
    assert result.exit_code == 0, result.output
    said(result, root, "PASS: dep (100 cases, 1 sample; ",
         "  openai/cand: PASS: 0 regressions, 0 improvements, 0 flaky. ")  # fmt: skip
    assert result.stdout.splitlines()[0].endswith(" 3 errors in the journal)")


def test_too_many_errors_is_an_infrastructure_failure(
    cli, tmp_path: Path, server: ScriptedServer
) -> None:
    broken = set(case_ids(20)[::4])  # 25% of the candidate's calls fail for good
    server.behaviours.update(good=correct(), cand=faulty(correct(), persistent=broken))
    root = write_workspace(
        tmp_path / "ws",
        server.api_base,
        cases=20,
        run_settings="{concurrency: 4, max_retries: 0, max_error_rate: 0.1}",
    )
    result = run(cli, root)
    assert result.exit_code == 4, result.output
    said(result, root, "ERROR: dep (20 cases, 1 sample; ",
         "  infrastructure: openai/cand: 5 of 20 calls failed",
         "  openai/cand: ERROR: ")  # fmt: skip
    summary = summary_of(run_dirs(root)[0])
    assert summary["verdict"] == "ERROR"
    assert "openai/cand: 5 of 20 calls failed" in summary["infrastructure_failure"]


def test_rerun_of_an_unchanged_run_makes_no_call_and_report_rerenders(
    cli, tmp_path: Path, server: ScriptedServer
) -> None:
    server.behaviours.update(good=correct(), cand=candidate(wrong={"c002"}, chatty=False))
    root = write_workspace(tmp_path / "ws", server.api_base, cases=20)
    first = run(cli, root)
    calls = server.total_calls()
    assert calls == 40
    assert first.exit_code == 3, first.output  # one regression in twenty settles nothing
    said(first, root, "INCONCLUSIVE: dep (20 cases, 1 sample; 40 calls made, 0 from the cache, "
         "0 errors in the journal)")  # fmt: skip
    second = run(cli, root)
    assert second.exit_code == first.exit_code
    assert server.total_calls() == calls
    assert "no call made" in second.output
    run_dir = run_dirs(root)[0]
    assert second.stdout.startswith(
        f"Unchanged since run {run_dir.name}: no call made, its reports re-rendered "
        "(use --no-cache for fresh calls).\n"
    )
    said(second, root, "INCONCLUSIVE: dep (20 cases, 1 sample; 0 calls made, 0 from the cache, "
         "0 errors in the journal)")  # fmt: skip
    before = summary_of(run_dir)
    (run_dir / "report.md").unlink()
    result = invoke(cli, "report", run_dir.name, cwd=root)
    assert result.exit_code == first.exit_code, result.output
    assert result.stdout == (
        f"INCONCLUSIVE: re-rendered {run_dir.relative_to(root)} (summary.json, report.md, "
        "report.html, junit.xml) without a model call\n"
    )
    assert (run_dir / "report.md").exists()
    assert outcome_fields(summary_of(run_dir)) == outcome_fields(before)
    assert server.total_calls() == calls


def test_changed_checks_rescore_cached_calls_without_calling(
    cli, tmp_path: Path, server: ScriptedServer
) -> None:
    server.behaviours.update(good=correct(), cand=candidate(chatty=True))
    root = write_workspace(tmp_path / "ws", server.api_base, cases=10)
    run(cli, root)
    calls = server.total_calls()
    registry = root / "models.yaml"
    registry.write_text(
        registry.read_text().replace("{type: not_refusal}", "{type: max_chars, value: 20}")
    )
    result = run(cli, root)
    assert server.total_calls() == calls  # every request was served from the cache
    assert len(run_dirs(root)) == 2
    summary = summary_of(run_dirs(root)[1])
    assert summary["calls"]["cached"] == 20
    assert summary["metrics"]["openai/cand"]["pass_rate"] == 0.0  # chatty answers are long
    assert result.exit_code == 1
    said(result, root, "FAIL: dep (10 cases, 1 sample; 0 calls made, 20 from the cache, "
         "0 errors in the journal)", "  openai/cand: FAIL: 10 regressions, ")  # fmt: skip


def test_drift_of_the_current_model_is_listed(cli, tmp_path: Path, server: ScriptedServer) -> None:
    server.behaviours.update(good=correct(), cand=correct())
    root = write_workspace(tmp_path / "ws", server.api_base, cases=20)
    run(cli, root)
    drifted = {"c003", "c011"}
    server.behaviours["good"] = candidate(wrong=drifted, chatty=False)
    run(cli, root, "--no-cache")
    summary = summary_of(run_dirs(root)[1])
    changed = {d["case"] for d in summary["drift"]["changed"]}
    assert changed == drifted
    assert summary["drift"]["previous_run"] == run_dirs(root)[0].name
    assert "changed outcome on the same model" in (run_dirs(root)[1] / "report.md").read_text()


def test_samples_disagreeing_are_flaky(cli, tmp_path: Path, server: ScriptedServer) -> None:
    def unstable(request: Request) -> Reply:
        case = case_of(request)
        if case in {"c001", "c004"} and request.attempt == 2:  # the second sample goes astray
            return Reply(text="no idea")
        return Reply(text=f"answer-{case}")

    server.behaviours.update(good=correct(), cand=unstable)
    root = write_workspace(tmp_path / "ws", server.api_base, cases=10, samples=3)
    run(cli, root)
    summary = summary_of(run_dirs(root)[0])
    comparison = summary["candidates"]["openai/cand"]
    assert sorted(comparison["flaky"]) == ["c001", "c004"]
    assert comparison["regressions"] == []
    assert summary["outcomes"]["openai/cand"]["c001"] == pytest.approx(2 / 3)
    assert server.calls == {"good": 30, "cand": 30}
    # One interval decides, with the case as the unit; the bootstrap is gone.
    assert comparison["pass_rate_diff"]["method"] == "clustered score interval (case as the unit)"
    assert comparison["pass_rate_diff"]["bootstrap_low"] is None


@pytest.mark.parametrize("workers", ["1", "2"])
def test_llm_judge_checks_are_graded_by_the_judge_model(
    cli, tmp_path: Path, server: ScriptedServer, workers: str
) -> None:
    def judge(request: Request) -> Reply:
        answer = request.user.split("## Answer\n", 1)[1].split("\n\n## Rubric", 1)[0]
        ok = answer.startswith("answer-")
        return Reply(
            text=json.dumps(
                {
                    "verdict": "pass" if ok else "fail",
                    "reasoning": "starts with the answer" if ok else "no",
                }
            )
        )

    server.behaviours.update(
        good=correct(), cand=candidate(wrong={"c002"}, chatty=False), judge=judge
    )
    root = write_workspace(
        tmp_path / "ws",
        server.api_base,
        cases=10,
        checks='[{type: llm_judge, rubric: "The answer names the case answer."}]',
        extra_models=f'  openai/judge: {{api_base: "{server.api_base}", '
        "api_key_env: TEST_LLM_KEY}",
        settings={"judge_model": "openai/judge"},
    )
    run(cli, root, "--workers", workers)
    summary = summary_of(run_dirs(root)[0])
    assert summary["candidates"]["openai/cand"]["regressions"] == ["c002"]
    assert server.calls["judge"] == 20


def test_a_second_run_of_the_same_dependency_is_refused(
    cli, tmp_path: Path, server: ScriptedServer
) -> None:
    import fcntl

    server.behaviours.update(good=correct(), cand=correct())
    root = write_workspace(tmp_path / "ws", server.api_base, cases=5)
    lock = root / ".migrate" / "locks" / "dep.lock"
    lock.parent.mkdir(parents=True)
    with lock.open("a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        handle.write("pid 12345")
        handle.flush()
        result = run(cli, root)
    assert result.exit_code == 2
    assert "another `migrate run dep` is in progress" in result.stderr
    assert server.total_calls() == 0


def test_a_start_cut_short_is_no_run_and_the_next_start_clears_it(
    cli, tmp_path: Path, server: ScriptedServer
) -> None:
    """A kill while a run's directory is written leaves a hidden folder with part of its files
    (here an unreadable manifest and a torn case). It is never taken for a run: the next run
    starts afresh, removes it, and its own directory holds its journal from the start."""
    server.behaviours.update(good=correct(), cand=correct())
    root = write_workspace(tmp_path / "ws", server.api_base, cases=10)
    runs = root / "runbooks" / "2027Q1" / "dep" / "runs"
    cut_short = runs / ".20261126T080000Z"
    cut_short.mkdir(parents=True)
    (cut_short / "cases.jsonl").write_text('{"id": "c001", "va', encoding="utf-8")
    (cut_short / "run.json").write_text("{", encoding="utf-8")
    (runs / ".notes").write_text("a person's own hidden file", encoding="utf-8")

    assert invoke(cli, "status", "--today", TODAY, cwd=root).exit_code == 0
    result = run(cli, root)
    assert result.exit_code == 3, result.output  # 10 agreeing cases: too few to pass
    assert "Resumed" not in result.stdout
    assert not cut_short.exists()
    assert sorted(p.name for p in runs.iterdir()) == [".notes", run_dirs(root)[0].name]
    assert len(journal_keys(run_dirs(root)[0])) == 20


def test_no_key_in_any_output_even_when_the_provider_echoes_it(
    cli, tmp_path: Path, server: ScriptedServer, model_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-other-SENTINEL-0d9e8f7a6b5c")

    def echoing_auth_error(request: Request) -> Reply:
        return Reply(
            status=401,
            body=json.dumps(
                {"error": {"message": f"Incorrect API key provided: {model_key}", "type": "auth"}}
            ).encode(),
        )

    server.behaviours.update(good=correct(), cand=echoing_auth_error)
    root = write_workspace(tmp_path / "ws", server.api_base, cases=10)
    result = run(cli, root)
    assert result.exit_code == 4
    outputs = result.output + result.stderr
    for path in root.rglob("*"):
        if path.is_file():
            outputs += path.read_text(encoding="utf-8", errors="replace")
    assert "AuthenticationError" in outputs
    assert "SENTINEL" not in outputs


def test_promptfoo_suites_run_too(cli, tmp_path: Path, server: ScriptedServer) -> None:
    server.behaviours.update(good=correct(), cand=candidate(wrong={"c001"}, chatty=False))
    root = write_workspace(tmp_path / "ws", server.api_base, cases=3)
    (root / "evals" / "tests.yaml").write_text(
        "tests:\n"
        + "".join(
            f"  - description: case {c}\n    vars: {{case: {c}}}\n    assert:\n"
            f"      - type: icontains\n        value: answer-{c}\n"
            "      - type: not-icontains\n        value: sorry\n"
            for c in case_ids(3)
        )
    )
    registry = root / "models.yaml"
    registry.write_text(
        registry.read_text()
        .replace("evals/suite.jsonl", "evals/tests.yaml")
        .replace(
            '      checks: [{type: icontains, value: "{{ expected }}"}, {type: not_refusal}]\n', ""
        )
    )
    run(cli, root)
    summary = summary_of(run_dirs(root)[0])
    assert summary["candidates"]["openai/cand"]["regressions"] == ["case-c001"]


def test_unknown_dependency_and_bad_suite_are_usage_errors(
    cli, tmp_path: Path, server: ScriptedServer
) -> None:
    root = write_workspace(tmp_path / "ws", server.api_base, cases=3)
    result = invoke(cli, "run", "nope", "--no-progress", cwd=root)
    assert result.exit_code == 2 and "unknown dependency 'nope'" in result.stderr
    result = invoke(cli, "run", "deps", "--no-progress", cwd=root)
    assert result.exit_code == 2
    assert result.stderr == (
        "migrate: error: unknown dependency 'deps' (did you mean 'dep'?); the dependencies in "
        "models.yaml are: dep\n"
    )
    (root / "evals" / "suite.jsonl").write_text('{"id": "a", "vars": {}}\n{"id": "a"}\n')
    result = run(cli, root)
    assert result.exit_code == 2
    assert "suite.jsonl:2: id: duplicate case id 'a'" in result.stderr
    assert server.total_calls() == 0
    assert not run_dirs(root)


def test_a_missing_key_stops_the_run_before_any_call_naming_the_variable(
    cli, tmp_path: Path, server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TEST_LLM_KEY")
    server.behaviours.update(good=correct(), cand=correct())
    root = write_workspace(tmp_path / "ws", server.api_base, cases=3)
    result = run(cli, root)
    assert result.exit_code == 2
    assert result.stderr.startswith("migrate: error: no call made:")
    assert "set the environment variable TEST_LLM_KEY" in result.stderr
    assert server.total_calls() == 0
    assert not run_dirs(root)  # nothing to resume: nothing was started


def test_a_models_own_concurrency_limit_is_respected(
    cli, tmp_path: Path, server: ScriptedServer
) -> None:
    """A local server with two slots gets at most two calls at once, whatever --concurrency."""
    server.behaviours.update(good=correct(delay=0.05), cand=correct(delay=0.05))
    root = write_workspace(tmp_path / "ws", server.api_base, cases=24)
    registry = root / "models.yaml"
    registry.write_text(
        registry.read_text().replace(
            "output_cost_per_mtok: 2}", "output_cost_per_mtok: 2, max_concurrency: 1}"
        )
    )
    result = run(cli, root, "--concurrency", "16")
    assert result.exit_code in (0, 3), result.output
    said(result, root, f"{VERDICT_OF[result.exit_code]}: dep (24 cases, 1 sample; 48 calls made, "
         "0 from the cache, 0 errors in the journal)")  # fmt: skip
    assert server.max_in_flight == 2  # one per model: each model is held to its own limit
    assert server.calls == {"good": 24, "cand": 24}


@pytest.mark.slow
def test_five_samples_sharpen_the_verdict_of_two_models_right_at_random(
    cli, tmp_path: Path, server: ScriptedServer
) -> None:
    # Two models each right 85% of the time at random, 80 cases: the interval with K = 5
    # must be at most 0.70 times as wide as with K = 1 (the within-case variance allows
    # about 0.45; Tango on averaged counts gave 0.85).
    server.behaviours.update(good=at_random(0.85, "good"), cand=at_random(0.85, "cand"))
    widths = {}
    for k in (1, 5):
        root = write_workspace(tmp_path / f"k{k}", server.api_base, cases=80, samples=k,
                               gates={"pass_rate_drop": 0.05})  # fmt: skip
        run(cli, root)
        summary = summary_of(run_dirs(root)[0])
        diff = summary["candidates"]["openai/cand"]["pass_rate_diff"]
        outcomes = summary["outcomes"]
        differences = [
            outcomes["openai/cand"][c] - outcomes["openai/good"][c] for c in outcomes["openai/good"]
        ]
        assert len(differences) == 80
        # The run's interval is the clustered score interval (Tango's for K = 1), here from a
        # second implementation on the per-case pass fractions the run recorded.
        low, high = optimizer_interval(differences)
        assert (diff["low"], diff["high"]) == pytest.approx((low, high), abs=1e-6)
        expected = (
            "Tango score interval" if k == 1 else "clustered score interval (case as the unit)"
        )
        assert diff["method"] == expected
        report = (run_dirs(root)[0] / "report.md").read_text(encoding="utf-8")
        assert f"pts by the {expected}; " in report  # the report names the method
        if k == 5:  # samples of a case disagree: some pass fractions are neither 0 nor 1
            assert any(0 < v < 1 for v in outcomes["openai/cand"].values())
        widths[k] = high - low
    assert widths[5] / widths[1] <= 0.70, widths


def test_an_urgent_dependency_runs_beside_its_runbook_in_the_current_quarter(
    cli, tmp_path: Path, server: ScriptedServer
) -> None:
    # By hand: openai/good retires 2026-12-20; with the default 30-day safety margin the latest
    # safe date is 2026-11-20, before today (2026-11-26), so no window fits: due now, and its
    # runbook is filed under today's quarter, 2026Q4, not the next window's 2027Q1.
    server.behaviours.update(good=correct(), cand=correct())
    root = write_workspace(tmp_path / "ws", server.api_base, cases=10)
    registry = root / "models.yaml"
    registry.write_text(
        registry.read_text().replace("  openai/good: {", "  openai/good: {retires: 2026-12-20, "),
        encoding="utf-8",
    )
    planned = invoke(cli, "plan", "--json", "--today", TODAY, cwd=root)
    assert json.loads(planned.stdout)["due"][0]["runbook"] == "runbooks/2026Q4/dep.md"
    runbook = (root / "runbooks" / "2026Q4" / "dep.md").read_text(encoding="utf-8")
    assert "writes the report under `runbooks/2026Q4/dep/runs/`" in runbook
    run(cli, root)
    assert [d.relative_to(root).parts[:3] for d in run_dirs(root)] == [
        ("runbooks", "2026Q4", "dep")
    ]
