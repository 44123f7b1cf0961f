"""A batch run killed with SIGKILL while submitting or while collecting resumes without
losing a request or sending one twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.openai_server import ScriptedServer
from tests.support.scenarios import candidate, correct, run_dirs, write_workspace

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
MIGRATE = [sys.executable, "-m", "migrate"]


def migrate_run(root: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "TEST_LLM_KEY": "sk-test-key-123456"}
    return subprocess.Popen(
        [*MIGRATE, "run", "dep", "--today", "2026-11-26", "--no-progress", "--batch"],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def kill_when(process: subprocess.Popen[str], ready: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 60
    while not ready() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert ready(), "the moment to kill never came"
    process.send_signal(signal.SIGKILL)
    process.communicate()


def finish(root: Path) -> subprocess.CompletedProcess[str]:
    for _ in range(8):
        process = migrate_run(root)
        out, err = process.communicate(timeout=120)
        if process.returncode != 5:
            return subprocess.CompletedProcess(process.args, process.returncode, out, err)
    raise AssertionError("still not finished")


def call_keys(run_dir: Path) -> list[tuple[str, str, int]]:
    rows = [json.loads(x) for x in (run_dir / "journal.jsonl").read_text().splitlines()]
    return [(r["model"], r["case"], r["sample"]) for r in rows if "case" in r]


def behaviours() -> dict[str, Callable]:  # type: ignore[type-arg]
    return {"good": correct(), "cand": candidate(wrong={"c003", "c011"})}


def test_killed_between_creating_a_batch_and_journaling_its_id(tmp_path: Path) -> None:
    with ScriptedServer(behaviours()) as server:
        server.batch_script.create_delay = 60  # the batch is made; its id never comes back
        root = write_workspace(tmp_path / "w", server.api_base, cases=15)
        kill_when(migrate_run(root), lambda: len(server.batches) == 1)
        run_dir = run_dirs(root)[0]
        kinds = [json.loads(x)["kind"] for x in (run_dir / "journal.jsonl").read_text().split()]
        assert kinds == ["batch_intent"]  # the intent, and no id: the kill came first
        server.batch_script.create_delay = 0
        result = finish(root)
        assert result.returncode == 1, result.stdout + result.stderr
        assert len(server.batches) == 2  # found by its token, not made again
        keys = call_keys(run_dir)
        assert len(keys) == len(set(keys)) == 30
        assert set(server.batch_lines.values()) == {1} and len(server.batch_lines) == 30


def test_killed_while_collecting_results(tmp_path: Path) -> None:
    with ScriptedServer(behaviours()) as server:
        server.batch_script.polls = 0
        root = write_workspace(tmp_path / "w", server.api_base, cases=15)
        submitting = migrate_run(root)
        assert submitting.wait(60) == 5
        server.batch_script.results_delay = 60
        kill_when(migrate_run(root), lambda: server.results_asked >= 1)
        run_dir = run_dirs(root)[0]
        assert call_keys(run_dir) == []
        server.batch_script.results_delay = 0
        result = finish(root)
        assert result.returncode == 1, result.stdout + result.stderr
        assert "30 calls made" in result.stdout
        keys = call_keys(run_dir)
        assert len(keys) == len(set(keys)) == 30
        assert len(server.batches) == 2
        assert set(server.batch_lines.values()) == {1} and len(server.batch_lines) == 30
