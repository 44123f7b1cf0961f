"""`./scripts/demo` on the example workspace: it shows the quarterly commands and leaves the
repository's `git status` clean, writing what it regenerates to the git-ignored build/demo/."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO_ROOT, git

MIGRATE = Path(sys.executable).parent / "migrate"


def clean_status(root: Path) -> str:
    return git(root, "status", "--porcelain", "--untracked-files=all", "--ignored=no")


@pytest.mark.slow
def test_the_demo_leaves_git_status_clean(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    subprocess.run(["git", "clone", "--quiet", str(REPO_ROOT), str(repo)], check=True)
    # the script as it is in this checkout, committed or not
    shutil.copy2(REPO_ROOT / "scripts" / "demo", repo / "scripts" / "demo")
    git(repo, "commit", "-q", "--allow-empty", "-am", "The demo as checked out")
    # an uncommitted edit the demo must see, and leave alone
    registry = repo / "models.yaml"
    registry.write_text(
        registry.read_text(encoding="utf-8").replace("Europe/Berlin", "Europe/Paris"),
        encoding="utf-8",
    )
    before = clean_status(repo)
    assert before == " M models.yaml\n"

    env = {**os.environ, "MIGRATE": str(MIGRATE)}
    env.pop("MIGRATE_REGISTRY", None)
    result = subprocess.run(
        ["sh", "scripts/demo"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for command in ("check", "status", "calendar", "plan"):
        assert f"$ migrate {command}\x1b[0m\n" in result.stdout, command
    assert "$ migrate run faq-answerer" in result.stdout  # run, or why it was skipped

    assert clean_status(repo) == before  # nothing written, nothing changed
    demo = repo / "build" / "demo"
    assert "X-WR-TIMEZONE:Europe/Paris" in (demo / "calendar.ics").read_text(encoding="utf-8")
    assert sorted((demo / "runbooks").glob("*/*.md"))
    # a copy with the history: the example's committed owners are seen
    assert git(demo, "log", "-1", "--format=%H").strip()
    assert "the repository itself is unchanged (git status is clean)" in result.stdout

    again = subprocess.run(["sh", "scripts/demo"], cwd=repo, env=env, capture_output=True,
                           text=True, stdin=subprocess.DEVNULL, check=False)  # fmt: skip
    assert again.returncode == 0, again.stdout + again.stderr
    assert clean_status(repo) == before
