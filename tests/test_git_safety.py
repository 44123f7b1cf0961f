"""Git safety of `migrate signoff`, beyond tests/test_signoff.py: conflicted runbooks without
a merge in progress, cherry-picks and reverts, staged edits, a commit git refuses, hooks
that would stage more, and remotes that are never contacted."""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from migrate.signoff import SIGNOFF_MARKER
from tests.conftest import commit_as, git, init_repo, invoke, write
from tests.support.stored_run import store_run

TODAY = "2027-01-20"
RUN_ID = "20270112T101500Z"
RUN_DIR = f"runbooks/2027Q1/summarizer/runs/{RUN_ID}"
RUNBOOK = "runbooks/2027Q1/summarizer.md"
REGISTRY = """
    version: 1
    models:
      vendor/old: {retires: 2027-02-15, replacement: vendor/new}
      vendor/new: {}
    dependencies:
      summarizer:
        model: vendor/old
        candidates: [vendor/new]
        owners: [alice@example.com]
"""
RUNBOOK_TEXT = f"""
    # summarizer: migrate off vendor/old

    - [x] Run the suite
    - [ ] Decide

    ## Sign-off

    {SIGNOFF_MARKER}
"""


def workspace(tmp_path: Path) -> Path:
    root = init_repo(tmp_path / "ws")
    write(root / "models.yaml", REGISTRY)
    write(root / RUNBOOK, RUNBOOK_TEXT)
    run = store_run(root, finished=dt.datetime(2027, 1, 12, 10, 20, tzinfo=dt.UTC))  # PASS
    assert run.directory == root / RUN_DIR
    commit_as(root, "alice@example.com", "2027-01-12", "The summarizer's run")
    return root


def signoff(cli: CliRunner, root: Path, decision: str = "approve") -> Any:
    return invoke(cli, "signoff", "summarizer", "--decision", decision, "--by",
                  "alice@example.com", "--today", TODAY, cwd=root)  # fmt: skip


def head(root: Path) -> str:
    return git(root, "rev-parse", "HEAD").strip()


def state(root: Path) -> tuple[str, str, str, str]:
    """HEAD, the index, the working tree's status and the runbook, to compare before/after."""
    return (
        head(root),
        git(root, "ls-files", "--stage"),
        git(root, "status", "--porcelain=v1", "--untracked-files=all"),
        (root / RUNBOOK).read_text(encoding="utf-8"),
    )


def recorded(result: Any, root: Path, decision: str = "approve") -> None:
    """Exit 0 and the confirmation that names the decision and the commit just made."""
    assert result.exit_code == 0, result.stderr
    evidence = len([p for p in (root / RUN_DIR).iterdir() if p.name != "signoff.json"])
    assert result.stdout == (
        f"Recorded: {decision} by alice@example.com on run {RUN_ID} (verdict PASS); committed "
        f"{head(root)[:10]} with {RUN_DIR}/signoff.json, {RUNBOOK} and the run's evidence "
        f"({evidence} files). Nothing was pushed.\n"
    )


def refused(result: Any, message: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.stderr == f"migrate: error: {message}\n"


def test_refused_while_the_runbook_holds_unresolved_conflicts(
    tmp_path: Path, cli: CliRunner
) -> None:
    """A conflicted runbook with no merge in progress: `git checkout -m` onto a branch that
    changed the runbook too leaves its conflict in the index, and no MERGE_HEAD."""
    root = workspace(tmp_path)
    git(root, "checkout", "-q", "-b", "other")
    (root / RUNBOOK).write_text((root / RUNBOOK).read_text().replace("[ ] Decide", "[x] Decide"))
    commit_as(root, "bob@example.com", "2027-01-13", "Decided on other")
    git(root, "checkout", "-q", "main")
    (root / RUNBOOK).write_text((root / RUNBOOK).read_text().replace("[ ] Decide", "[-] Decide"))
    git(root, "checkout", "-q", "-m", "other")
    assert not (root / ".git" / "MERGE_HEAD").exists()
    assert git(root, "status", "--porcelain", "--", RUNBOOK).startswith("UU ")
    before = state(root)
    refused(signoff(cli, root), f"unresolved conflicts in {RUNBOOK}")
    assert state(root) == before  # the conflict, markers and all, is left as it was
    assert "<<<<<<<" in (root / RUNBOOK).read_text()
    assert not (root / RUN_DIR / "signoff.json").exists()


@pytest.mark.parametrize("operation", ["cherry-pick", "revert"])
def test_refused_in_the_middle_of_a_cherry_pick_or_revert(
    tmp_path: Path, cli: CliRunner, operation: str
) -> None:
    root = workspace(tmp_path)
    models = write(root / "notes.md", "# Notes\n")
    commit_as(root, "alice@example.com", "2027-01-12", "Notes")
    git(root, "checkout", "-q", "-b", "other")
    models.write_text(models.read_text() + "# other\n")
    commit_as(root, "bob@example.com", "2027-01-13", "Other edit")
    picked = head(root)
    git(root, "checkout", "-q", "main")
    models.write_text(models.read_text() + "# main\n")
    commit_as(root, "alice@example.com", "2027-01-14", "Main edit")
    if operation == "revert":  # revert main's own edit after changing the same line again
        picked = head(root)
        models.write_text(models.read_text().replace("# main\n", "# main, again\n"))
        commit_as(root, "alice@example.com", "2027-01-15", "Main edit again")
    with pytest.raises(subprocess.CalledProcessError):
        git(root, operation, picked)
    before = state(root)
    refused(
        signoff(cli, root),
        f"the repository is in the middle of a {operation}: finish or abort it before signing off",
    )
    assert state(root) == before


def test_refused_when_the_runbook_has_staged_edits(tmp_path: Path, cli: CliRunner) -> None:
    root = workspace(tmp_path)
    (root / RUNBOOK).write_text((root / RUNBOOK).read_text() + "\nA note in progress.\n")
    git(root, "add", RUNBOOK)
    before = state(root)
    refused(
        signoff(cli, root),
        f"uncommitted edits in {RUNBOOK}: commit or stash them first, so that the sign-off "
        "commit holds the sign-off alone",
    )
    assert state(root) == before


def test_refused_when_an_earlier_signoff_has_uncommitted_edits(
    tmp_path: Path, cli: CliRunner
) -> None:
    root = workspace(tmp_path)
    recorded(signoff(cli, root), root)
    record = root / RUN_DIR / "signoff.json"
    record.write_text(record.read_text().replace('"approve"', '"reject"'))
    before = state(root)
    result = signoff(cli, root, "keep")
    assert result.exit_code == 2 and f"uncommitted edits in {RUN_DIR}/signoff.json" in result.stderr
    assert state(root) == before


def test_a_commit_git_refuses_leaves_files_index_and_history_as_they_were(
    tmp_path: Path, cli: CliRunner
) -> None:
    root = workspace(tmp_path)
    write(root / "notes.txt", "staged by someone\n")
    git(root, "add", "notes.txt")
    git(root, "config", "commit.gpgsign", "true")
    git(root, "config", "gpg.program", "false")  # signing fails, so git refuses the commit
    before = state(root)
    result = signoff(cli, root)
    assert result.exit_code == 2
    assert result.stderr.startswith("migrate: error: git refused the sign-off commit: ")
    assert state(root) == before
    assert not (root / RUN_DIR / "signoff.json").exists()
    assert git(root, "diff", "--cached", "--name-only").split() == ["notes.txt"]


def test_hooks_cannot_widen_the_commit(tmp_path: Path, cli: CliRunner) -> None:
    """A pre-commit hook that stages everything does not run: the commit holds two files."""
    root = workspace(tmp_path)
    hook = root / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\ntouch hook-ran\ngit add -A\n")
    hook.chmod(0o755)
    write(root / "draft.txt", "not for this commit\n")
    recorded(signoff(cli, root), root)
    files = git(root, "show", "--name-only", "--format=", "HEAD").split()
    assert sorted(files) == sorted([f"{RUN_DIR}/signoff.json", RUNBOOK])
    assert not (root / "hook-ran").exists()
    assert git(root, "status", "--porcelain").split() == ["??", "draft.txt"]


def test_signoff_never_contacts_a_remote(tmp_path: Path, cli: CliRunner) -> None:
    """Pushing would fail loudly here: a receive hook records any push to the first remote,
    the second cannot be reached, and both are configured to be pushed to by default."""
    root = workspace(tmp_path)
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    receive = remote / "hooks" / "pre-receive"
    receive.write_text(f"#!/bin/sh\ntouch {tmp_path / 'pushed'}\nexit 1\n")
    receive.chmod(0o755)
    git(root, "remote", "add", "origin", str(remote))
    git(root, "remote", "add", "elsewhere", "ssh://git@unreachable.invalid/repo.git")
    git(root, "config", "push.autoSetupRemote", "true")
    git(root, "config", "remote.pushDefault", "origin")
    git(root, "config", "branch.main.remote", "elsewhere")
    git(root, "config", "branch.main.merge", "refs/heads/main")
    result = signoff(cli, root)
    assert result.exit_code == 0, result.stderr
    assert "Nothing was pushed." in result.stdout
    assert not (tmp_path / "pushed").exists()
    assert git(remote, "for-each-ref") == ""
    assert git(root, "for-each-ref", "refs/remotes") == ""  # nothing fetched either


def test_a_runbook_linked_outside_the_repository_is_refused(tmp_path: Path, cli: CliRunner) -> None:
    root = workspace(tmp_path)
    outside = tmp_path / "elsewhere.md"
    outside.write_text((root / RUNBOOK).read_text())
    (root / RUNBOOK).unlink()
    (root / RUNBOOK).symlink_to(outside)
    commit_as(root, "alice@example.com", "2027-01-13", "Link the runbook", RUNBOOK)
    before = state(root)
    refused(
        signoff(cli, root),
        f"{RUNBOOK} is a symbolic link: a sign-off writes and commits regular files only",
    )
    assert state(root) == before and (root / RUNBOOK).is_symlink()
    assert not (root / RUN_DIR / "signoff.json").exists()


def test_a_run_folder_outside_the_repository_is_refused(tmp_path: Path, cli: CliRunner) -> None:
    root = workspace(tmp_path)
    runs = root / "runbooks" / "2027Q1" / "summarizer" / "runs"
    outside = tmp_path / "runs-elsewhere"
    runs.rename(outside)
    runs.symlink_to(outside)
    before = state(root)
    result = signoff(cli, root)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"migrate: error: {outside / RUN_ID / 'signoff.json'} leads ")
    assert state(root) == before
    assert not (outside / RUN_ID / "signoff.json").exists()
