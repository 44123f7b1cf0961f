"""Sequential runs end to end: planted truths through litellm and the scripted server stop
early where the verdict is settled, and resume across stages without a call made twice."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import invoke
from tests.support.openai_server import ScriptedServer
from tests.support.scenarios import (
    candidate,
    case_ids,
    correct,
    journal_keys,
    run_dirs,
    summary_of,
    write_workspace,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
TODAY = "2026-11-26"


@pytest.fixture(autouse=True)
def model_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_LLM_KEY", "sk-test-SENTINEL-7f3a9c21e4b8")


def run(cli, root: Path, *args: str):  # type: ignore[no-untyped-def]
    return invoke(cli, "run", "dep", "--today", TODAY, "--no-progress", *args, cwd=root)


def first_wrong(share: float, n: int) -> set[str]:
    """Every case whose index puts it in the first `share` of a stride: a planted truth
    spread evenly over the suite, so the seeded order's first stage sees about that share."""
    return {c for i, c in enumerate(case_ids(n)) if (i * 7919) % 100 < share * 100}


# Hand computation of the first stage (independent of migrate/evals/stages.py): with four
# looks each interim look spends 0.005 / 3 of two-sided error, z = 3.144 (NormalDist), and
# with no disagreement Tango's bound is z²/(n + z²); it first clears 5 points at n = 188
# (9.886 / (188 + 9.886) = 0.04996). Stages then grow by 1.5: 282, 423, 500 (ceil).
STAGES_500_AT_5_POINTS = [188, 282, 423, 500]


def test_a_clearly_worse_candidate_fails_at_the_first_look(
    cli, tmp_path: Path, server: ScriptedServer
) -> None:
    # A fifth of the cases wrong: whatever the order, the first 188 hold far more than the
    # 20 regressions a FAIL needs there (37.6 expected; Tango's upper bound at 99.83% with
    # 20 of 188 is below -5 points, with 19 it is not).
    wrong = first_wrong(0.20, 500)
    assert len(wrong) == 100
    server.behaviours.update(good=correct(), cand=candidate(wrong=wrong, chatty=False))
    root = write_workspace(
        tmp_path / "ws", server.api_base, cases=500, gates={"pass_rate_drop": 0.05}
    )
    result = run(cli, root)
    assert result.exit_code == 1, result.output
    run_dir = run_dirs(root)[0]
    manifest = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    assert manifest["sequential"]["stages"] == STAGES_500_AT_5_POINTS
    summary = summary_of(run_dir)
    stop = summary["stopping"]
    assert (stop["stage"], stop["stages"], stop["reason"]) == (1, 4, "settled")
    assert stop["cases_used"] == 188 and stop["cases_in_suite"] == 500
    assert server.calls == {"good": 188, "cand": 188}
    assert stop["calls"] == 376 and stop["calls_full_run"] == 1000
    # Every call is priced ($1 and $2 per million tokens): the saving is the measured cost
    # per case times the 312 cases not run.
    assert stop["cost"] > 0
    assert stop["cost_saved"] == pytest.approx(stop["cost"] / 188 * 312)
    assert summary["verdict"] == "FAIL"
    assert len(summary["outcomes"]["openai/cand"]) == 188
    used = set(summary["outcomes"]["openai/cand"])
    assert set(summary["candidates"]["openai/cand"]["regressions"]) == used & wrong
    assert "stopped after stage 1 of 4" in result.stdout
    report = (run_dir / "report.md").read_text(encoding="utf-8")
    assert "Stopped after stage 1 of 4: 188 of 500 cases" in report
    assert "Bonferroni alpha spending" in report
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    assert "Stopped after stage 1 of 4" in html

    # `migrate report` replays the looks on the journal and reaches the same stop.
    result = invoke(cli, "report", run_dir.name, cwd=root)
    assert result.exit_code == 1, result.output
    assert summary_of(run_dir)["stopping"] == stop
    assert server.calls == {"good": 188, "cand": 188}


def test_several_candidates_stop_when_every_one_is_settled(
    cli, tmp_path: Path, server: ScriptedServer
) -> None:
    """Holm across two candidates at each look: one clearly worse, one identical. By hand:
    the worse one's margin test is rejected first, at half the look's 0.005 / 3; the
    identical one is then tested at the whole 0.005 / 3 (z = 3.1440), and its score
    statistic against -5 points with no disagreement over 188 cases is
    0.05 * sqrt(188 / (0.05 * 0.95)) = 3.1456: both settle at the first look."""
    server.behaviours.update(
        good=correct(),
        worse=candidate(wrong=first_wrong(0.20, 500), chatty=False),
        same=correct(),
    )
    root = write_workspace(
        tmp_path / "ws",
        server.api_base,
        cases=500,
        candidates=("worse", "same"),
        gates={"pass_rate_drop": 0.05},
    )
    result = run(cli, root)
    assert result.exit_code == 0, result.output  # the best candidate's verdict
    summary = summary_of(run_dirs(root)[0])
    assert summary["candidates"]["openai/worse"]["verdict"] == "FAIL"
    assert summary["candidates"]["openai/same"]["verdict"] == "PASS"
    stop = summary["stopping"]
    assert (stop["stage"], stop["cases_used"], stop["reason"]) == (1, 188, "settled")
    assert server.calls == {"good": 188, "worse": 188, "same": 188}
    assert summary["candidates"]["openai/same"]["pass_rate_diff"]["adjusted_across"] == 2


def test_an_identical_candidate_passes_at_the_first_look_and_full_runs_everything(
    cli, tmp_path: Path, server: ScriptedServer
) -> None:
    server.behaviours.update(good=correct(), same=correct())
    root = write_workspace(
        tmp_path / "ws",
        server.api_base,
        cases=500,
        candidates=("same",),
        gates={"pass_rate_drop": 0.05},
    )
    result = run(cli, root)
    assert result.exit_code == 0, result.output
    summary = summary_of(run_dirs(root)[0])
    assert summary["stopping"]["cases_used"] == 188
    assert summary["stopping"]["level"] == pytest.approx(1 - 0.005 / 3)
    low = summary["candidates"]["openai/same"]["pass_rate_diff"]["low"]
    assert low == pytest.approx(-(3.1436**2) / (188 + 3.1436**2), abs=2e-4)
    assert server.calls == {"good": 188, "same": 188}

    # --full: every case, at the fixed-size 95%; the 376 calls made come from the cache.
    result = run(cli, root, "--full")
    assert result.exit_code == 0, result.output
    full = summary_of(run_dirs(root)[-1])
    assert full["stopping"] is None
    assert len(full["outcomes"]["openai/same"]) == 500
    assert server.calls == {"good": 500, "same": 500}
    low = full["candidates"]["openai/same"]["pass_rate_diff"]["low"]
    assert low == pytest.approx(-(1.96**2) / (500 + 1.96**2), abs=2e-4)


def test_a_candidate_at_the_margin_runs_every_stage_and_matches_the_full_verdict(
    cli, tmp_path: Path, server: ScriptedServer
) -> None:
    wrong = first_wrong(0.05, 300)
    server.behaviours.update(good=correct(), cand=candidate(wrong=wrong, chatty=False))
    root = write_workspace(
        tmp_path / "ws", server.api_base, cases=300, gates={"pass_rate_drop": 0.05}
    )
    result = run(cli, root)
    assert result.exit_code == 3, result.output
    summary = summary_of(run_dirs(root)[0])
    stop = summary["stopping"]
    assert stop["reason"] == "exhausted" and stop["cases_used"] == 300
    assert stop["calls"] == stop["calls_full_run"] == 600
    assert "ran all 2 stages: no earlier look settled every verdict" in result.stdout
    result = run(cli, root, "--full")
    assert result.exit_code == 3, result.output


def test_a_run_killed_mid_stage_resumes_without_a_call_made_twice(
    cli, tmp_path: Path, server: ScriptedServer
) -> None:
    """The journal is the truth: a run cut in its second stage resumes there, and its
    first stage's calls are neither repeated nor lost; a rerun of the finished run makes
    no call at all."""
    # On the margin (5% of cases wrong): the first look, 188 cases, would need 20
    # regressions to FAIL where it expects 9.4, so the run goes on.
    wrong = first_wrong(0.05, 500)
    server.behaviours.update(good=correct(), cand=candidate(wrong=wrong, chatty=False))
    root = write_workspace(
        tmp_path / "ws", server.api_base, cases=500, gates={"pass_rate_drop": 0.05}
    )
    result = run(cli, root)
    assert result.exit_code in (0, 1, 3), result.output
    run_dir = run_dirs(root)[0]
    stop = summary_of(run_dir)["stopping"]
    assert stop["stage"] >= 2, stop  # the planted truth needs more than one look
    complete = (run_dir / "journal.jsonl").read_text(encoding="utf-8").splitlines()
    verdict = summary_of(run_dir)["verdict"]

    # The same run as if killed after 150 calls of its second stage: the journal holds the
    # first stage and part of the second, with a torn last line, and no summary.
    first_stage_calls = 2 * STAGES_500_AT_5_POINTS[0]
    kept = first_stage_calls + 150
    (run_dir / "journal.jsonl").write_text(
        "\n".join(complete[:kept]) + "\n" + complete[kept][:40], encoding="utf-8"
    )
    (run_dir / "summary.json").unlink()
    before = Counter(server.calls)
    result = run(cli, root, "--no-cache")
    assert result.exit_code == {"PASS": 0, "FAIL": 1, "INCONCLUSIVE": 3}[verdict], result.output
    assert "Resumed run" in result.stdout
    made = Counter(server.calls) - before
    assert sum(made.values()) == len(complete) - kept
    keys = journal_keys(run_dir)
    assert len(keys) == len(set(keys)) == len(complete)
    assert summary_of(run_dir)["stopping"]["stage"] == stop["stage"]
    assert summary_of(run_dir)["verdict"] == verdict

    before = Counter(server.calls)
    result = run(cli, root)
    assert "no call made" in result.stdout
    assert Counter(server.calls) == before


def test_the_order_is_seeded_recorded_and_reproducible(
    cli, tmp_path: Path, server: ScriptedServer
) -> None:
    server.behaviours.update(good=correct(), same=correct())
    seeds = []
    for name in ("a", "b"):
        root = write_workspace(
            tmp_path / name,
            server.api_base,
            cases=500,
            candidates=("same",),
            gates={"pass_rate_drop": 0.05},
        )
        assert run(cli, root).exit_code == 0
        run_dir = run_dirs(root)[0]
        seeds.append(json.loads((run_dir / "run.json").read_text("utf-8"))["sequential"]["seed"])
        used = sorted(summary_of(run_dir)["outcomes"]["openai/same"])
        assert len(used) == 188
    assert seeds[0] == seeds[1]  # the same inputs, the same order
    assert set(used) != set(case_ids(188))  # a random order, not the file's head


def test_sequential_off_in_settings_runs_every_case(
    cli, tmp_path: Path, server: ScriptedServer
) -> None:
    server.behaviours.update(good=correct(), same=correct())
    root = write_workspace(
        tmp_path / "ws",
        server.api_base,
        cases=500,
        candidates=("same",),
        gates={"pass_rate_drop": 0.05},
        run_settings="{concurrency: 8, timeout_seconds: 10, sequential: false}",
    )
    assert run(cli, root).exit_code == 0
    run_dir = run_dirs(root)[0]
    assert json.loads((run_dir / "run.json").read_text("utf-8"))["sequential"] is None
    assert summary_of(run_dir)["stopping"] is None
    assert server.calls == {"good": 500, "same": 500}


def test_samples_per_case_count_in_every_stage(cli, tmp_path: Path, server: ScriptedServer) -> None:
    """K = 3 on 200 cases at a 10-point margin: an identical candidate PASSes at the first
    look with the clustered score interval, and each stage calls K samples per case and
    model, no more."""
    server.behaviours.update(good=correct(), same=correct())
    root = write_workspace(
        tmp_path / "ws",
        server.api_base,
        cases=200,
        candidates=("same",),
        samples=3,
        gates={"pass_rate_drop": 0.10},
    )
    result = run(cli, root)
    assert result.exit_code == 0, result.output
    run_dir = run_dirs(root)[0]
    plan = json.loads((run_dir / "run.json").read_text("utf-8"))["sequential"]
    first = plan["stages"][0]
    assert plan["stages"] == [first, math.ceil(first * 1.5), 200]
    stop = summary_of(run_dir)["stopping"]
    assert (stop["stage"], stop["cases_used"]) == (1, first)
    assert server.calls == {"good": 3 * first, "same": 3 * first}
    assert stop["calls"] == 6 * first and stop["calls_full_run"] == 6 * 200


def test_the_pairwise_gate_takes_part_in_every_look(
    cli, tmp_path: Path, server: ScriptedServer
) -> None:
    """Every check pairwise (no labels): the judge is called for the stage's cases only, and
    the net preference, held against the margin at the look's level, settles the run."""
    from tests.test_pairwise import answering, fair_judge
    from tests.test_pairwise import workspace as pairwise_workspace

    numbers = [str(1000 + i) for i in range(500)]
    wrong = {n for i, n in enumerate(numbers) if (i * 7919) % 100 < 20}
    root = pairwise_workspace(tmp_path / "ws", server.api_base)
    (root / "evals").mkdir(exist_ok=True)
    (root / "evals" / "dep.jsonl").write_text(
        "".join(
            json.dumps(
                {
                    "id": f"r{n}",
                    "messages": [{"role": "user", "content": f"Please handle request number {n}."}],
                }
            )
            + "\n"
            for n in numbers
        ),  # fmt: skip
        encoding="utf-8",
    )
    server.behaviours.update(good=answering(), cand=answering(wrong), judge=fair_judge)
    result = run(cli, root)
    assert result.exit_code == 1, result.output
    run_dir = run_dirs(root)[0]
    summary = summary_of(run_dir)
    stop = summary["stopping"]
    assert (stop["stage"], stop["cases_used"], stop["reason"]) == (1, 188, "settled")
    gates = {g["name"]: g for g in summary["candidates"]["openai/cand"]["gates"]}
    assert gates["pairwise"]["status"] == "broken"
    assert "99.83% interval" in gates["pairwise"]["detail"]
    # Both orders for each case of the first stage, nothing for the rest.
    assert server.calls == {"good": 188, "cand": 188, "judge": 2 * 188}
    assert stop["calls"] == 4 * 188 and stop["calls_full_run"] == 4 * 500
