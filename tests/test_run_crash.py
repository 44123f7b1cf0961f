"""A run killed with SIGKILL half way resumes without losing or repeating a call."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.openai_server import ScriptedServer
from tests.support.scenarios import (
    candidate,
    correct,
    journal_keys,
    journal_lines,
    outcome_fields,
    run_dirs,
    summary_of,
    write_workspace,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
MIGRATE = [sys.executable, "-m", "migrate"]


def migrate_run(root: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "TEST_LLM_KEY": "sk-test-key-123456"}
    return subprocess.Popen(
        [*MIGRATE, "run", "dep", "--today", "2026-11-26", "--no-progress", *args],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize(("kill_after", "workers"), [(15, "1"), (60, "1"), (15, "2"), (60, "2")])
def test_sigkill_then_rerun_records_every_call_once(
    tmp_path: Path, kill_after: int, workers: str
) -> None:
    wrong = {"c004", "c017", "c033"}
    behaviours = {"good": correct(delay=0.05), "cand": candidate(wrong=wrong, delay=0.05)}
    with ScriptedServer(behaviours) as server:
        root = write_workspace(
            tmp_path / "killed",
            server.api_base,
            cases=50,
            run_settings="{concurrency: 4, timeout_seconds: 10}",
        )
        process = migrate_run(root, "--workers", workers)
        deadline = time.monotonic() + 120
        while journal_lines(root) < kill_after and time.monotonic() < deadline:
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        process.communicate()
        run_dir = run_dirs(root)[0]
        assert not (run_dir / "summary.json").exists()
        done_before = set(journal_keys(run_dir))
        assert kill_after <= len(done_before) < 100

        rerun = migrate_run(root, "--workers", workers)
        out, err = rerun.communicate(timeout=120)
        assert rerun.returncode == 1, err
        assert "Resumed run" in out
        assert (  # the calls left after the kill, and no more
            f"\nFAIL: dep (50 cases, 1 sample; {100 - len(done_before)} calls made, "
            "0 from the cache, 0 errors in the journal)\n"
        ) in out
        assert run_dirs(root) == [run_dir]  # continued, not restarted
        keys = journal_keys(run_dir)
        assert len(keys) == len(set(keys)) == 100  # every (model, case, sample) exactly once
        for model, case, _ in done_before:  # finished before the kill: never called again
            asked = server.asked[(model.removeprefix("openai/"), f"Question about case {case}.")]
            assert asked == 1, (model, case)
        repeated = [k for k in server.asked.values() if k > 1]
        assert len(repeated) <= 4  # at most the calls in flight at the kill (concurrency 4)

        reference = write_workspace(
            tmp_path / "uninterrupted",
            server.api_base,
            cases=50,
            run_settings="{concurrency: 4, timeout_seconds: 10}",
        )
        complete = migrate_run(reference)
        complete.communicate(timeout=120)
        assert outcome_fields(summary_of(run_dir)) == outcome_fields(
            summary_of(run_dirs(reference)[0])
        )
        assert set(summary_of(run_dir)["candidates"]["openai/cand"]["regressions"]) == wrong
