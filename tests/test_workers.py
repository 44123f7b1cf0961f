"""`migrate run --workers N`: calls made by worker processes, the journal written by the run's
own process alone, every limit global, and nothing lost or orphaned when a process dies."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import invoke
from tests.support.openai_server import ScriptedServer
from tests.support.scenarios import (
    candidate,
    correct,
    journal_keys,
    journal_lines,
    run_dirs,
    summary_of,
    write_workspace,
)

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]
TODAY = "2026-11-26"
KEY = "sk-test-SENTINEL-7f3a9c21e4b8"


@pytest.fixture(autouse=True)
def model_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_LLM_KEY", KEY)


def test_workers_give_the_verdict_one_process_gives(
    cli, tmp_path: Path, server: ScriptedServer
) -> None:
    wrong = {f"c{i:03d}" for i in range(3, 100, 7)} | {"c001"}
    server.behaviours.update(good=correct(), cand=candidate(wrong=wrong))
    outcomes = {}
    for workers in ("1", "2"):
        root = write_workspace(
            tmp_path / f"ws{workers}", server.api_base, cases=100, gates={"cost_increase": "null"}
        )
        result = invoke(
            cli, "run", "dep", "--today", TODAY, "--no-progress", "--workers", workers, cwd=root
        )
        assert result.exit_code == 1, result.output
        summary = summary_of(run_dirs(root)[0])
        outcomes[workers] = (
            summary["verdict"],
            sorted(summary["candidates"]["openai/cand"]["regressions"]),
            summary["calls"]["made_this_time"],
            sorted(journal_keys(run_dirs(root)[0])),
        )
    assert outcomes["1"] == outcomes["2"]
    assert outcomes["2"][1] == sorted(wrong)
    assert server.calls == {"good": 200, "cand": 200}


def migrate_run(root: Path, *args: str, imports: Path | None = None) -> subprocess.Popen[str]:
    """`migrate run` in a process of its own; `imports`: where it writes, as it exits, which
    litellm modules it imported."""
    wrapper = (
        "import atexit, runpy, sys\n"
        "out = sys.argv.pop(1)\n"
        "def note():\n"
        "    names = sorted(m for m in sys.modules if m.split('.')[0] == 'litellm')\n"
        "    open(out, 'w').write(json.dumps(names))\n"
        "import json\n"
        "atexit.register(note)\n"
        "sys.argv[0] = 'migrate'\n"
        "runpy.run_module('migrate', run_name='__main__', alter_sys=True)\n"
    )
    command = [sys.executable, "-c", wrapper, str(imports or os.devnull)]
    return subprocess.Popen(
        [*command, "run", "dep", "--today", TODAY, "--no-progress", *args],
        cwd=root,
        env={**os.environ, "TEST_LLM_KEY": KEY},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(condition, what: str, seconds: float = 120) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.01)


def process_table() -> dict[int, tuple[int, str, str]]:
    """pid -> (parent pid, state, command line), from /proc."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        table[int(entry.name)] = (int(fields[1]), fields[0], command)
    return table


def workers_of(pid: int) -> list[int]:
    """The worker processes under `pid`: those that make requests, not the one that forked
    them (a worker's parent is itself a worker process)."""
    table = process_table()
    below, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, (parent, _, _) in table.items() if parent in frontier} - below
        below |= frontier
    return sorted(
        p
        for p in below
        if "migrate.evals.worker" in table[p][2] and "migrate.evals.worker" in table[table[p][0]][2]
    )


def running(pid: int) -> bool:
    entry = process_table().get(pid)
    return entry is not None and entry[1] != "Z"


SLOW = 0.05  # seconds per answer: a run of 400 calls at concurrency 8 lasts a few seconds


def test_a_killed_worker_has_its_calls_made_again_and_journaled_once(
    tmp_path: Path,
) -> None:
    wrong = {f"c{i:03d}" for i in range(5, 200, 10)}
    behaviours = {"good": correct(delay=SLOW), "cand": candidate(wrong=wrong, delay=SLOW)}
    with ScriptedServer(behaviours) as server:
        root = write_workspace(
            tmp_path / "ws",
            server.api_base,
            cases=200,
            run_settings="{concurrency: 8, timeout_seconds: 10, sequential: false}",
            gates={"cost_increase": "null"},
        )
        imports = tmp_path / "imports.json"
        process = migrate_run(root, "--workers", "2", imports=imports)
        wait_for(lambda: journal_lines(root) >= 100, "100 journaled calls")
        workers = workers_of(process.pid)
        assert len(workers) == 2, workers
        os.kill(workers[0], signal.SIGKILL)
        out, err = process.communicate(timeout=180)
        assert process.returncode == 1, err
        assert json.loads(imports.read_text()) == []  # the run's own process: no litellm
        run_dir = run_dirs(root)[0]
        keys = journal_keys(run_dir)
        assert len(keys) == len(set(keys)) == 400  # each call once, none lost
        assert set(summary_of(run_dir)["candidates"]["openai/cand"]["regressions"]) == wrong
        made = sum(server.calls.values())
        assert 400 <= made <= 400 + 8, server.calls  # what was in flight, made again
        assert "FAIL: dep (200 cases, 1 sample; 400 calls made" in out


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or len(os.sched_getaffinity(0)) < 2,
    reason="workers by default: on Linux, with more than one core",
)
def test_a_killed_run_leaves_no_worker_behind_and_resumes(tmp_path: Path) -> None:
    # No --workers: a run of 400 calls has one worker per core by default.
    cores = len(os.sched_getaffinity(0))
    behaviours = {"good": correct(delay=SLOW), "cand": correct(delay=SLOW)}
    with ScriptedServer(behaviours) as server:
        root = write_workspace(
            tmp_path / "ws",
            server.api_base,
            cases=200,
            candidates=("cand",),
            run_settings="{concurrency: 8, timeout_seconds: 10, sequential: false}",
        )
        process = migrate_run(root)
        wait_for(lambda: journal_lines(root) >= 100, "100 journaled calls")
        workers = workers_of(process.pid)
        assert len(workers) == cores, workers
        process.kill()
        process.communicate()
        wait_for(lambda: not any(running(p) for p in workers), "the workers to exit", 15)
        done = len(journal_keys(run_dirs(root)[0]))

        rerun = migrate_run(root)
        out, err = rerun.communicate(timeout=180)
        assert rerun.returncode == 0, err
        assert "Resumed run" in out
        assert f"; {400 - done} calls made, 0 from the cache" in out
        keys = journal_keys(run_dirs(root)[0])
        assert len(keys) == len(set(keys)) == 400


def test_workers_that_cannot_start_end_the_run_before_any_call_with_one_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A litellm that fails to import (a broken install) in the workers' process: the run
    stops before its first call, with exit 4 and the import's own error, and starts no run."""
    broken = tmp_path / "broken" / "litellm"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text("raise ImportError('this litellm is broken')\n")
    monkeypatch.setenv("PYTHONPATH", str(broken.parent))
    with ScriptedServer({"good": correct(), "cand": correct()}) as server:
        root = write_workspace(tmp_path / "ws", server.api_base, cases=20)
        process = migrate_run(root, "--workers", "2")
        out, err = process.communicate(timeout=120)
        assert process.returncode == 4, (out, err)
        assert err.strip().splitlines() == [
            "migrate: error: a call worker could not start: importing litellm: ImportError: "
            "this litellm is broken"
        ]
        assert "Traceback" not in out + err
        assert server.total_calls() == 0
        assert run_dirs(root) == []
        assert not list(root.glob("runbooks/*/dep/runs/*"))


@pytest.mark.parametrize("key_set", [True, False], ids=["key-set", "key-missing"])
def test_workers_answer_litellm_facts_as_this_process_does_in_the_environment_given(
    key_set: bool,
) -> None:
    """The workers read the environment the run gives them, not the one they inherit: here
    this process has the key, the environment given may not. Their answer is compared with
    litellm's, asked in this process with the same environment."""
    from migrate.evals.facts import litellm_facts
    from migrate.evals.preflight import ModelUse
    from migrate.evals.workers import Workers
    from migrate.llm import Target

    environ = {name: value for name, value in os.environ.items() if name != "TEST_LLM_KEY"}
    if key_set:
        environ["TEST_LLM_KEY"] = KEY
    uses = [ModelUse(Target("openai/gpt-4o-mini", api_key_env="TEST_LLM_KEY"), {}, "current")]
    prompts = [("openai/gpt-4o-mini", [{"role": "user", "content": "How long is a fortnight?"}])]
    workers = Workers(2, 4, 10.0, 0, environ)
    try:
        answered = workers.facts(uses, prompts, environ)
    finally:
        workers.close()
    assert answered == litellm_facts(uses, prompts, environ)
    assert any("TEST_LLM_KEY" in problem for problem in answered.problems) != key_set
    assert answered.tokens[0] > 5
