"""Owner activity comes from git history: `migrate status --json` through a real repository."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conftest import commit_as, init_repo, invoke, write
from typer.testing import CliRunner

REGISTRY = """\
version: 1
settings:
  owner_inactive_days: 120
models:
  vendor/old: {retires: 2027-09-30}
  vendor/new: {}
dependencies:
  summarizer:
    model: vendor/old
    candidates: [vendor/new]
    owners: [Alice@Example.com]   # capitalised here, lower case in git
    prompt: prompts/summary.md.j2
  classifier:
    model: vendor/old
    candidates: [vendor/new]
    owners: [bob@example.com]
    prompt: prompts/classify.md.j2
"""


def status(cli: CliRunner, root: Path, today: str) -> dict[str, Any]:
    result = invoke(cli, "status", "--json", "--today", today, cwd=root)
    assert result.exit_code == 0, result.stderr
    return {row["dependency"]: row for row in json.loads(result.stdout)}


def workspace(tmp_path: Path) -> Path:
    root = init_repo(tmp_path / "workspace")
    write(root / "prompts" / "summary.md.j2", "[user]\nSummarize {{ text }}\n")
    commit_as(root, "alice@example.com", "2025-11-20", "Add the summary prompt")
    write(root / "prompts" / "classify.md.j2", "[user]\nClassify {{ text }}\n")
    write(root / "models.yaml", REGISTRY)
    commit_as(root, "bob@example.com", "2026-11-01", "Add the registry and the classifier")
    return root


def test_an_owner_whose_last_commit_is_a_year_old_is_not_active(
    tmp_path: Path, cli: CliRunner
) -> None:
    rows = status(cli, workspace(tmp_path), "2026-11-26")
    summarizer = rows["summarizer"]
    assert "no_active_owner" in summarizer["reasons"]
    assert summarizer["owner_activity"] == "inactive"
    assert summarizer["owners"] == [
        {"email": "Alice@Example.com", "last_commit": "2025-11-20", "days_since": 371}
    ]
    classifier = rows["classifier"]  # bob committed last month
    assert "no_active_owner" not in classifier["reasons"]
    assert classifier["owner_activity"] == "active"


def test_the_same_owner_was_active_when_the_commit_was_recent(
    tmp_path: Path, cli: CliRunner
) -> None:
    """As of 2026-03-01 alice's commit is 101 days old: inside owner_inactive_days (120)."""
    rows = status(cli, workspace(tmp_path), "2026-03-01")
    assert "no_active_owner" not in rows["summarizer"]["reasons"]
    assert rows["summarizer"]["owner_activity"] == "active"
    # bob's commit lies after that day: history is read as of --today
    assert rows["classifier"]["owners"][0]["last_commit"] is None
    assert "no_active_owner" in rows["classifier"]["reasons"]
