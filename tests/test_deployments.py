"""A model with several deployments: two scripted servers stand for two regions (or keys),
litellm's Router spreads the calls over them and fails over from one that errors."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from migrate.llm import CallRecord, Deployment, Target
from migrate.pacing import Allowance, Pace, RateHeaders
from migrate.routing import RoutingSeam, wait_for_room
from tests.conftest import invoke
from tests.support.openai_server import Reply, Request, ScriptedServer
from tests.support.ratelimits import WindowLimit
from tests.support.scenarios import candidate, correct, run_dirs, summary_of, write_workspace

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]
TODAY = "2026-11-26"
KEYS = {
    "TEST_LLM_KEY": "sk-test-SENTINEL-7f3a9c21e4b8",
    "KEY_EAST": "sk-east-SENTINEL-1b2c3d4e5f60",
    "KEY_WEST": "sk-west-SENTINEL-a9b8c7d6e5f4",
}
WRONG = {f"c{i:03d}" for i in range(2, 100, 9)}  # 11 cases the candidate answers wrongly


@pytest.fixture(autouse=True)
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def east() -> Iterator[ScriptedServer]:
    with ScriptedServer({}) as running:
        yield running


@pytest.fixture
def west() -> Iterator[ScriptedServer]:
    with ScriptedServer({}) as running:
        yield running


def workspace(
    root: Path, east: ScriptedServer, west: ScriptedServer, cases: int = 100, **settings: str
) -> Path:
    """`dep` on openai/good (east only), candidate openai/cand deployed on east and west."""
    write_workspace(root, east.api_base, cases=cases, gates={"cost_increase": "null"}, **settings)
    registry = root / "models.yaml"
    lines = registry.read_text(encoding="utf-8").splitlines()
    (index,) = [i for i, line in enumerate(lines) if line.startswith("  openai/cand:")]
    lines[index : index + 1] = [
        "  openai/cand:",
        "    input_cost_per_mtok: 1",
        "    output_cost_per_mtok: 2",
        "    deployments:",
        f'      - {{name: east, api_base: "{east.api_base}", api_key_env: KEY_EAST}}',
        f'      - {{name: west, api_base: "{west.api_base}", api_key_env: KEY_WEST}}',
    ]
    registry.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def run(cli, root: Path, workers: str = "1"):  # type: ignore[no-untyped-def]
    return invoke(
        cli, "run", "dep", "--today", TODAY, "--no-progress", "--workers", workers, cwd=root
    )


def journal(run_dir: Path) -> list[dict[str, Any]]:
    lines = (run_dir / "journal.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def keyed(behave: Callable[[Request], Reply], key: str) -> Callable[[Request], Reply]:
    """`behave`, for requests that bring `key`; a 401 for any other (as a provider does)."""

    def answer(request: Request) -> Reply:
        if request.authorization != f"Bearer {key}":
            return Reply(status=401)
        return behave(request)

    return answer


def assert_the_verdict_stands(result, root: Path) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """FAIL with exactly the cases the candidate answers wrongly, and no error left."""
    assert result.exit_code == 1, result.output
    summary = summary_of(run_dirs(root)[0])
    assert summary["verdict"] == "FAIL"
    assert set(summary["candidates"]["openai/cand"]["regressions"]) == WRONG
    assert summary["calls"]["errors"] == 0
    assert summary["metrics"]["openai/cand"]["pass_rate"] == pytest.approx(0.89)
    return summary


def assert_no_key_anywhere(result, root: Path) -> None:  # type: ignore[no-untyped-def]
    outputs = result.output + result.stderr
    for path in root.rglob("*"):
        if path.is_file():
            outputs += path.read_text(encoding="utf-8", errors="replace")
    assert "SENTINEL" not in outputs
    for value in KEYS.values():
        assert value not in outputs


@pytest.mark.parametrize("workers", ["1", "2"])  # 2: the model's Router lives in one worker
def test_calls_spread_over_both_deployments_and_pool_as_one_model(
    cli, tmp_path: Path, east: ScriptedServer, west: ScriptedServer, workers: str
) -> None:
    east.behaviours.update(
        good=correct(), cand=keyed(candidate(wrong=WRONG, chatty=False), KEYS["KEY_EAST"])
    )
    west.behaviours.update(cand=keyed(candidate(wrong=WRONG, chatty=False), KEYS["KEY_WEST"]))
    root = workspace(tmp_path / "ws", east, west)
    result = run(cli, root, workers)
    summary = assert_the_verdict_stands(result, root)
    # Each deployment took its share: under a fair shuffle, fewer than 25 of 100 on either
    # side has a chance below 1e-6.
    assert east.calls["cand"] >= 25 and west.calls["cand"] >= 25
    assert east.calls["cand"] + west.calls["cand"] == 100  # each case once: nothing retried
    assert east.calls["good"] == 100 and "good" not in west.calls
    entries = journal(run_dirs(root)[0])
    answered = Counter(
        e["record"].get("deployment") for e in entries if e["model"] == "openai/cand"
    )
    assert answered == {"east": east.calls["cand"], "west": west.calls["cand"]}
    # The baseline has no deployments: its lines are written as before, without the field.
    assert all("deployment" not in e["record"] for e in entries if e["model"] == "openai/good")
    assert summary["calls"]["deployments"] == {
        "openai/cand": {
            "east": {"calls": east.calls["cand"], "errors": 0, "rate_limited": 0},
            "west": {"calls": west.calls["cand"], "errors": 0, "rate_limited": 0},
        }
    }
    assert (
        f"  openai/cand deployments: east {east.calls['cand']} calls (0 failed, 0 refused with "
        f"429), west {west.calls['cand']} calls (0 failed, 0 refused with 429)"
    ) in result.stdout.splitlines()
    report = (run_dirs(root)[0] / "report.md").read_text(encoding="utf-8")
    assert f"| openai/cand | east | {east.calls['cand']} | 0 | 0 |" in report
    assert "| candidate | `openai/cand` on its deployments east, west |" in report
    page = (run_dirs(root)[0] / "report.html").read_text(encoding="utf-8")
    assert f"<td>openai/cand</td><td>west</td><td>{west.calls['cand']}</td>" in page
    assert_no_key_anywhere(result, root)


@pytest.mark.parametrize(
    ("failure", "refusals"),
    [
        pytest.param(Reply(status=500), False, id="server-errors"),
        pytest.param(Reply(status=429, headers={"Retry-After": "1"}), True, id="rate-limited"),
        pytest.param(Reply(status=401), False, id="key-revoked"),
    ],
)
@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_failing_deployment_fails_over_and_the_run_completes_with_its_verdict(
    cli,
    tmp_path: Path,
    east: ScriptedServer,
    west: ScriptedServer,
    failure: Reply,
    refusals: bool,
    workers: str,
) -> None:
    east.behaviours.update(good=correct(), cand=candidate(wrong=WRONG, chatty=False))
    west.behaviours.update(cand=lambda request: failure)
    root = workspace(tmp_path / "ws", east, west)
    result = run(cli, root, workers)
    summary = assert_the_verdict_stands(result, root)
    assert east.calls["cand"] == 100  # every case answered, by the deployment that works
    assert west.calls["cand"] >= 1  # ... after the other had its chance and failed
    entries = [e for e in journal(run_dirs(root)[0]) if e["model"] == "openai/cand"]
    assert Counter(e["record"]["deployment"] for e in entries) == {"east": 100}
    refused_by_west = sum(e["record"].get("refused_by", {}).get("west", 0) for e in entries)
    assert refused_by_west == (west.calls["cand"] if refusals else 0)
    shares = summary["calls"]["deployments"]["openai/cand"]
    assert shares["east"] == {"calls": 100, "errors": 0, "rate_limited": 0}
    assert shares.get("west", {"calls": 0, "rate_limited": 0})["calls"] == 0
    if refusals:
        assert shares["west"]["rate_limited"] == west.calls["cand"]
        assert summary["calls"]["rate_limited"] == {"openai/cand": west.calls["cand"]}
    assert_no_key_anywhere(result, root)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_deployment_that_times_out_is_rested_and_the_calls_go_to_the_other(
    cli, tmp_path: Path, east: ScriptedServer, west: ScriptedServer, workers: str
) -> None:
    """A deployment that answers after the run's timeout (a hung region) is no error status:
    the timeout itself must send the call to the other deployment and rest the slow one."""
    east.behaviours.update(good=correct(), cand=candidate(wrong=WRONG, chatty=False))
    west.behaviours.update(cand=candidate(wrong=WRONG, chatty=False, delay=3.0))
    root = workspace(
        tmp_path / "ws",
        east,
        west,
        run_settings="{concurrency: 8, timeout_seconds: 1, max_retries: 4, workers: 1}",
    )
    result = run(cli, root, workers)
    assert_the_verdict_stands(result, root)
    entries = [e for e in journal(run_dirs(root)[0]) if e["model"] == "openai/cand"]
    assert Counter(e["record"]["deployment"] for e in entries) == {"east": 100}
    # Rested after its first timeouts (5 s each time): without the rest, half of the 100
    # calls would wait out a timeout there first, 50 / 8 x 1 s or more.
    assert 1 <= west.calls["cand"] <= 16, west.calls
    # each timed-out request was one more attempt of its call, then answered by east
    assert sum(e["record"]["attempts"] - 1 for e in entries) == west.calls["cand"]


def judge_of(request: Request) -> Reply:
    """An LLM judge: pass when the answer under review starts with the expected answer."""
    answer = request.user.split("## Answer\n", 1)[1].split("\n\n## Rubric", 1)[0]
    ok = answer.startswith("answer-")
    return Reply(text=json.dumps({"verdict": "pass" if ok else "fail", "reasoning": "read"}))


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_judge_with_deployments_fails_over_and_grades_every_answer_once(
    cli, tmp_path: Path, east: ScriptedServer, west: ScriptedServer, workers: str
) -> None:
    """Judge calls go through the judge model's Router like any call: its failing deployment
    is passed over and every answer is graded, each by the deployment that worked."""
    east.behaviours.update(
        good=correct(), cand=candidate(wrong={"c002"}, chatty=False), judge=judge_of
    )
    west.behaviours.update(judge=lambda request: Reply(status=500))
    root = write_workspace(
        tmp_path / "ws",
        east.api_base,
        cases=10,
        checks='[{type: llm_judge, rubric: "The answer names the case answer."}]',
        extra_models="  openai/judge:\n"
        "    deployments:\n"
        f'      - {{name: east, api_base: "{east.api_base}", api_key_env: KEY_EAST}}\n'
        f'      - {{name: west, api_base: "{west.api_base}", api_key_env: KEY_WEST}}',
        settings={"judge_model": "openai/judge"},
    )
    result = run(cli, root, workers)
    assert result.exit_code == 3, result.output  # 10 cases: too few to rule out a drop
    summary = summary_of(run_dirs(root)[0])
    assert summary["candidates"]["openai/cand"]["regressions"] == ["c002"]
    assert summary["calls"]["errors"] == 0
    assert east.calls["judge"] == 20  # each of the 20 answers graded once, by east
    assert west.calls["judge"] >= 1
    judged = [e for e in journal(run_dirs(root)[0]) if e["model"] == "openai/judge"]
    assert len(judged) == 20
    assert Counter(e["record"]["deployment"] for e in judged) == {"east": 20}
    shares = summary["calls"]["deployments"]["openai/judge"]
    assert shares["east"] == {"calls": 20, "errors": 0, "rate_limited": 0}
    assert_no_key_anywhere(result, root)


def test_a_deployments_missing_key_stops_the_run_before_any_call_naming_it(
    cli, tmp_path: Path, east: ScriptedServer, west: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KEY_WEST")
    east.behaviours.update(good=correct(), cand=correct())
    west.behaviours.update(cand=correct())
    root = workspace(tmp_path / "ws", east, west, cases=3)
    deep = invoke(cli, "check", "--deep", "--today", TODAY, cwd=root)
    assert deep.exit_code == 1, deep.output
    assert (
        "dep: openai/cand (candidate): deployment 'west': set the environment variable "
        "KEY_WEST (its api_key_env) to its key"
    ) in deep.stderr
    assert "openai/good" not in deep.stderr
    result = run(cli, root)
    assert result.exit_code == 2, result.output
    assert "deployment 'west': set the environment variable KEY_WEST" in result.stderr
    assert east.total_calls() == west.total_calls() == 0


def test_a_rerun_of_an_unchanged_run_with_deployments_makes_no_call(
    cli, tmp_path: Path, east: ScriptedServer, west: ScriptedServer
) -> None:
    east.behaviours.update(good=correct(), cand=correct())
    west.behaviours.update(cand=correct())
    root = workspace(tmp_path / "ws", east, west, cases=10)
    assert run(cli, root).exit_code in (0, 3)
    before = east.total_calls() + west.total_calls()
    assert before == 20
    again = run(cli, root)
    assert again.exit_code in (0, 3), again.output
    assert again.stdout.startswith("Unchanged since run "), again.stdout
    assert east.total_calls() + west.total_calls() == before
    assert len(run_dirs(root)) == 1


def test_a_request_waits_only_while_no_deployment_has_room() -> None:
    """Each deployment's headers speak for it alone: one spent deployment holds nothing
    while the other has room; both spent hold the request until the first reset."""

    async def scenario() -> tuple[float, float]:
        east, west = Pace(), Pace()
        spent = RateHeaders(requests=Allowance(remaining=0, reset=0.3, limit=10))
        await east.settle(await east.admit(1), spent, None)
        started = time.monotonic()
        await wait_for_room([east, west], 1)
        one_spent = time.monotonic() - started
        await west.settle(await west.admit(1), spent, None)
        started = time.monotonic()
        await wait_for_room([east, west], 1)
        return one_spent, time.monotonic() - started

    one_spent, both_spent = asyncio.run(scenario())
    assert one_spent < 0.05
    assert 0.25 <= both_spent < 2.0  # the reset each stated: 0.3 s


def test_a_deployments_rpm_is_honoured_and_the_rest_goes_elsewhere(
    east: ScriptedServer, west: ScriptedServer
) -> None:
    """With an rpm stated, the Router routes by usage and sends a deployment no more than
    its rpm in a minute; the other deployment takes the rest at once."""
    east.behaviours.update(cand=correct())
    west.behaviours.update(cand=correct())
    target = Target(
        "openai/cand",
        deployments=(
            Deployment("east", east.api_base, "KEY_EAST", rpm=3),
            Deployment("west", west.api_base, "KEY_WEST", rpm=1000),
        ),
    )

    async def scenario() -> list[CallRecord]:
        seam = RoutingSeam(concurrency=4, timeout=10, max_retries=2)
        return [
            await seam.complete(target, [{"role": "user", "content": f"case c{i:03d}"}], {})
            for i in range(20)
        ]

    started = time.monotonic()
    records = asyncio.run(scenario())
    assert time.monotonic() - started < 50  # nothing waited for east's minute to turn
    assert all(r.error is None for r in records)
    assert 1 <= east.calls["cand"] <= 3
    assert east.calls["cand"] + west.calls["cand"] == 20
    answered = Counter(r.deployment for r in records)
    assert answered == {"east": east.calls["cand"], "west": west.calls["cand"]}


def test_each_deployment_is_paced_by_its_own_allowance_and_its_429s_counted(
    cli, tmp_path: Path, east: ScriptedServer, west: ScriptedServer
) -> None:
    """Each server allows 10 requests a second (OpenAI's headers on every answer, 429 past
    it); east's allowance also covers the baseline. The run keeps to both, sending the
    candidate where there is room, and the 429s the summary gives each deployment are the
    ones that server counted."""
    east_limit, west_limit = WindowLimit(10, 1.0), WindowLimit(10, 1.0)
    answer = candidate(wrong=WRONG, chatty=False)
    east.behaviours.update(good=east_limit.wrap(correct()), cand=east_limit.wrap(answer))
    west.behaviours.update(cand=west_limit.wrap(answer))
    root = workspace(tmp_path / "ws", east, west)
    result = run(cli, root)
    summary = assert_the_verdict_stands(result, root)
    sent = sum(east_limit.admitted.values()) + sum(west_limit.admitted.values())
    refused = sum(east_limit.refused.values()) + sum(west_limit.refused.values())
    assert refused <= 0.1 * (sent + refused), (east_limit.refused, west_limit.refused)
    # Both served the candidate; west, whose allowance is the candidate's alone, most of it.
    assert 1 <= east_limit.admitted["cand"] < west_limit.admitted["cand"]
    shares = summary["calls"]["deployments"]["openai/cand"]
    assert shares["east"]["rate_limited"] == east_limit.refused["cand"]
    assert shares["west"]["rate_limited"] == west_limit.refused["cand"]
    assert shares["east"]["calls"] + shares["west"]["calls"] == 100
