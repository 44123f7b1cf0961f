"""Secrets: keys come only from the environment and appear nowhere migrate writes or prints.

Every command runs with sentinel keys in the environment (the registry's api_key_env and the
providers' usual variables), including runs that fail on their checks and on
authentication with a provider that echoes the key back; then every file of the workspace
(.migrate/, runbooks/, the run directories and the git history included) and every line of
output is searched for them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.conftest import commit_as, git, init_repo, invoke
from tests.support.openai_server import Reply, Request, ScriptedServer
from tests.support.scenarios import candidate, correct, run_dirs, write_workspace

pytestmark = pytest.mark.timeout(180)
slow = pytest.mark.slow  # a scripted server, or a real `python -m migrate` process

TODAY = "2026-11-26"
MARK = "SENTINEL"
SENTINELS = {
    "TEST_LLM_KEY": f"sk-test-{MARK}-registry-7f3a9c21e4b8",  # the registry's api_key_env
    "OPENAI_API_KEY": f"sk-proj-{MARK}-openai-0d9e8f7a6b5c",
    "ANTHROPIC_API_KEY": f"sk-ant-api03-{MARK}-anthropic-55aa",
    "AWS_SECRET_ACCESS_KEY": f"wJalrXUtnFEMI/K7MDENG/{MARK}xRfiCYEXAMPLEKEY",
}


@pytest.fixture(autouse=True)
def sentinel_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SENTINELS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("MIGRATE_DEBUG", raising=False)


def leaks(text: str) -> list[str]:
    """The sentinel values (or any part marked SENTINEL) found in `text`."""
    found = [name for name, value in SENTINELS.items() if value in text]
    return found + ([MARK] if MARK in text and not found else [])


def workspace_text(root: Path) -> str:
    """Every file under `root`, and the whole git history with its patches."""
    parts = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and ".git" not in path.relative_to(root).parts:
            parts.append(f"==> {path}\n" + path.read_text(encoding="utf-8", errors="replace"))
    if (root / ".git").exists():
        parts.append(git(root, "log", "--all", "-p", "--format=%H%n%an <%ae>%n%B"))
    return "\n".join(parts)


class Outputs:
    """Collects what every command printed."""

    def __init__(self, cli: CliRunner) -> None:
        self.cli = cli
        self.text: list[str] = []
        self.codes: dict[str, int] = {}

    def __call__(self, label: str, *args: str, cwd: Path) -> Any:
        result = invoke(self.cli, *args, cwd=cwd)
        self.text.append(f"==> {label}\n{result.stdout}{result.stderr}")
        self.codes[label] = result.exit_code
        assert "internal error" not in result.stderr, (label, result.stderr)
        return result


def echoing_auth_error(request: Request) -> Reply:
    key = SENTINELS["TEST_LLM_KEY"]
    return Reply(
        status=401,
        body=json.dumps(
            {
                "error": {
                    "message": f"Incorrect API key provided: {key}. Other keys in this "
                    f"environment: {SENTINELS['OPENAI_API_KEY']} {SENTINELS['ANTHROPIC_API_KEY']} "
                    f"{SENTINELS['AWS_SECRET_ACCESS_KEY']}",
                    "type": "invalid_request_error",
                    "code": "invalid_api_key",
                }
            }
        ).encode(),
    )


@slow
def test_no_command_writes_or_prints_a_key(
    cli: CliRunner, tmp_path: Path, server: ScriptedServer
) -> None:
    out = Outputs(cli)

    scaffold = tmp_path / "scaffold"
    out("init", "init", str(scaffold), cwd=tmp_path)
    assert out.codes["init"] == 0

    root = init_repo(tmp_path / "ws")
    server.behaviours.update(good=correct(), cand=correct())
    write_workspace(root, server.api_base, cases=20)
    registry = root / "models.yaml"
    registry.write_text(
        registry.read_text(encoding="utf-8").replace(
            "  openai/good: {", "  openai/good: {retires: 2027-02-15, replacement: openai/cand, "
        ),
        encoding="utf-8",
    )
    (root / "feed.json").write_text(
        json.dumps([{"provider": "openai", "model_id": "good", "shutdown_date": "2027-02-15"}]),
        encoding="utf-8",
    )
    commit_as(root, "owner@example.com", "2026-11-01", "Add the registry")

    for label, args in [
        ("check", ("check", "--today", TODAY)),
        ("status", ("status", "--today", TODAY)),
        ("status --json", ("status", "--today", TODAY, "--json")),
        ("calendar", ("calendar", "--today", TODAY)),
        ("plan", ("plan", "--today", TODAY)),
        ("sync", ("sync", "--today", TODAY, "--feed", "feed.json")),
        ("scan", ("scan",)),
    ]:
        out(label, *args, cwd=root)
    assert out.codes["calendar"] == 0 and out.codes["plan"] == 0
    commit_as(root, "owner@example.com", "2026-11-02", "Plan the quarter")

    run = ("run", "dep", "--today", TODAY, "--no-progress")
    out("run passing", *run, cwd=root)
    assert out.codes["run passing"] in (0, 3)
    server.behaviours["cand"] = candidate(wrong={"c001", "c002", "c003", "c004", "c005"})
    out("run failing its checks", *run, "--new", "--no-cache", cwd=root)
    assert out.codes["run failing its checks"] == 1
    server.behaviours["cand"] = echoing_auth_error
    out("run failing on auth", *run, "--new", "--no-cache", "--json", cwd=root)
    assert out.codes["run failing on auth"] == 4
    assert len(run_dirs(root)) == 3
    for run_dir in run_dirs(root):
        out(f"report {run_dir.name}", "report", run_dir.name, cwd=root)
        out(f"report --json {run_dir.name}", "report", run_dir.name, "--json", cwd=root)
    journal = (run_dirs(root)[-1] / "journal.jsonl").read_text(encoding="utf-8")
    assert "AuthenticationError" in journal and "Incorrect API key provided" in journal

    out("signoff", "signoff", "dep", "--decision", "reject", "--by", "owner@example.com",
        "--today", TODAY, "--note", "the candidate's key was refused", cwd=root)  # fmt: skip
    assert out.codes["signoff"] == 0, out.text[-1]
    out("status after signoff", "status", "--today", TODAY, cwd=root)

    printed = "\n".join(out.text)
    assert not leaks(printed), [chunk[:200] for chunk in out.text if leaks(chunk)]
    for where in (scaffold, root):
        written = workspace_text(where)
        assert not leaks(written), [line for line in written.splitlines() if leaks(line)][:5]
    assert (root / ".migrate" / "locks").is_dir() and (root / "runbooks").is_dir()


def test_a_key_written_into_the_registry_is_refused_without_echoing_it(
    cli: CliRunner, tmp_path: Path
) -> None:
    value = "sk-proj-PASTED0123456789abcdef"
    pasted = "hf_Zq8LmW2xR4tY6uI0oP3aS5dF7gH9jK1lQ"  # a key that passes for a variable name
    for entry in (f"api_key: {value}", f"api_key_env: {value}", f"api_key_env: {pasted}"):
        root = tmp_path / str(abs(hash(entry)))
        root.mkdir()
        (root / "models.yaml").write_text(
            f"version: 1\nmodels:\n  openai/m: {{{entry}}}\ndependencies: {{}}\n", encoding="utf-8"
        )
        result = invoke(cli, "check", "--today", TODAY, cwd=root)
        assert result.exit_code == 2, (entry, result.output)
        assert result.stderr.startswith("migrate: error: models.yaml:3: "), result.stderr
        assert value not in result.output and pasted not in result.output


def crafted_run(tmp_path: Path, cli: CliRunner) -> Path:
    """A finished run whose run.json holds a key among its params: `migrate report` on it,
    with scoring made to fail (see migrate_subprocess), fails deep inside with the key in a
    local variable."""
    with ScriptedServer({"good": correct(), "cand": correct()}) as server:
        root = write_workspace(tmp_path / "ws", server.api_base, cases=3)
        result = invoke(cli, "run", "dep", "--today", TODAY, "--no-progress", cwd=root)
        assert result.exit_code in (0, 3), result.output
        verdict = {0: "PASS", 3: "INCONCLUSIVE"}[result.exit_code]
        assert result.stdout.startswith(f"{verdict}: dep (3 cases, 1 sample; "), result.stdout
    run_dir = run_dirs(root)[0]
    manifest = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    manifest["params"]["note"] = SENTINELS["TEST_LLM_KEY"]
    (run_dir / "run.json").write_text(json.dumps(manifest), encoding="utf-8")
    return run_dir


# Every input a user can edit is validated before scoring, so an internal error needs a bug:
# this one is planted in the subprocess, in scoring, with the key in a local variable.
INTERNAL_ERROR = """
import sys
import migrate.evals.flow as flow
def evaluate_run(run_dir, inputs, workspace_root):
    key = inputs.manifest.params["note"]
    return sorted([key, 1])  # TypeError: str < int
flow.evaluate_run = evaluate_run
from migrate.cli import main
sys.argv = ["migrate", "report", sys.argv[1]]
main()
"""


def migrate_subprocess(run_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`migrate report` in a real process, with typer's own exception printing."""
    return subprocess.run(
        [sys.executable, "-c", INTERNAL_ERROR, str(run_dir)],
        env={**os.environ, **env},  # the sentinels are set; MIGRATE_DEBUG only when asked
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@slow
def test_an_internal_error_shows_no_traceback_and_no_key(cli: CliRunner, tmp_path: Path) -> None:
    run_dir = crafted_run(tmp_path, cli)
    result = migrate_subprocess(run_dir)
    assert result.returncode == 4, result.stderr
    assert result.stderr.startswith("migrate: internal error: TypeError: "), result.stderr
    assert "(set MIGRATE_DEBUG=1 to see the traceback)" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not leaks(result.stderr + result.stdout)


@slow
def test_the_debug_traceback_shows_no_local_variable(cli: CliRunner, tmp_path: Path) -> None:
    run_dir = crafted_run(tmp_path, cli)
    for style in ({}, {"_TYPER_STANDARD_TRACEBACK": "1"}):  # rich's traceback, then Python's
        result = migrate_subprocess(run_dir, MIGRATE_DEBUG="1", **style)
        assert result.returncode != 0
        assert "Traceback" in result.stderr and "TypeError" in result.stderr, result.stderr
        assert "evaluate_run" in result.stderr  # the frames are there ...
        assert not leaks(result.stderr + result.stdout)  # ... their locals are not
