"""The pre-commit hooks this repository publishes, and its own pre-commit configuration.

The slow test runs `pre-commit try-repo` for real: pre-commit clones a committed copy of this
repository, installs migrate into its hook environment from the package index, and runs the
hooks in a temporary repository. HOME and PRE_COMMIT_HOME stay inside the test's folder.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO_ROOT, git, init_repo, write
from pre_commit.clientlib import load_config, load_manifest
from test_init import EXAMPLE

from migrate.scaffolding import InstallSource, scaffold_files, scaffold_values


def hooks() -> dict[str, dict[str, object]]:
    return {h["id"]: h for h in load_manifest(str(REPO_ROOT / ".pre-commit-hooks.yaml"))}


def test_the_published_hooks_are_valid_for_pre_commit() -> None:
    published = hooks()
    assert set(published) == {"migrate-check", "migrate-scan"}
    for hook in published.values():
        assert hook["language"] == "python"
        assert hook["pass_filenames"] is False
    assert published["migrate-check"]["entry"] == "migrate check"
    assert published["migrate-scan"]["entry"] == "migrate scan"
    files = re.compile(str(published["migrate-check"]["files"]))
    assert files.search("models.yaml")
    assert not files.search("docs/models.yaml.md")


def test_this_repository_runs_ruff_ruff_format_and_migrate_check() -> None:
    config = load_config(str(REPO_ROOT / ".pre-commit-config.yaml"))
    ids = [hook["id"] for repo in config["repos"] for hook in repo["hooks"]]
    assert {"ruff", "ruff-format", "migrate-check"} <= set(ids)
    entries = {hook["id"]: hook["entry"] for repo in config["repos"] for hook in repo["hooks"]}
    assert entries["ruff"].startswith("ruff check")
    assert entries["ruff-format"].startswith("ruff format")
    assert entries["migrate-check"] == "migrate check"


def test_the_scaffolded_local_hooks_match_the_published_ones(tmp_path: Path) -> None:
    """A workspace's local hooks behave like the published hooks, bar the installation."""
    files = scaffold_files(scaffold_values(EXAMPLE, InstallSource("migrate==0.1.0"),
                                           "a@example.com", EXAMPLE.retires))  # fmt: skip
    config = tmp_path / ".pre-commit-config.yaml"
    config.write_bytes(files[".pre-commit-config.yaml"])
    (repo,) = load_config(str(config))["repos"]
    published = hooks()
    for hook in repo["hooks"]:
        original = published[hook["id"]]
        for key in ("entry", "pass_filenames", "files"):
            assert hook[key] == original[key], (hook["id"], key)


def committed_copy(destination: Path) -> Path:
    """This working tree (tracked and new files, none ignored) as a fresh one-commit repo:
    try-repo uses HEAD of the repository it is given."""
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    init_repo(destination)
    for name in filter(None, listing.split("\0")):
        source = REPO_ROOT / name
        if not source.is_file() or name.startswith(("tests/", ".venv/")):
            continue
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    git(destination, "add", "-A")
    git(destination, "commit", "-q", "-m", "The hooks under test")
    return destination


TARGET_REGISTRY = """\
version: 1
models:
  openai/gpt-4o-2024-08-06: {retires: 2030-01-01}
"""


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_try_repo_runs_the_published_hooks(tmp_path: Path) -> None:
    hook_repo = committed_copy(tmp_path / "migrate")
    target = init_repo(tmp_path / "project")
    write(target / "models.yaml", TARGET_REGISTRY)
    write(target / "app.py", 'MODEL = "openai/gpt-4o-2024-08-06"\n')
    git(target, "add", "-A")
    git(target, "commit", "-q", "-m", "A project with a registry")
    home = tmp_path / "home"
    home.mkdir()
    env = {
        **os.environ,
        "HOME": str(home),
        "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-cache"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "PRE_COMMIT_COLOR": "never",
    }
    env.pop("VIRTUAL_ENV", None)
    bin_dir = str(Path(sys.executable).parent)

    def try_repo(hook: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [os.path.join(bin_dir, "pre-commit"), "try-repo", str(hook_repo), hook,
             "--all-files", "--verbose"],
            cwd=target, env=env, capture_output=True, text=True, timeout=1700,
        )  # fmt: skip

    passed = try_repo("migrate-check")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert re.search(r"migrate check\.+Passed", passed.stdout)
    assert "models.yaml: 0 dependencies, 1 model, 0 errors, 0 warnings" in passed.stdout

    write(target / "models.yaml", TARGET_REGISTRY + "extra: true\n")
    failed = try_repo("migrate-check")
    assert failed.returncode == 1
    assert re.search(r"migrate check\.+Failed", failed.stdout)
    assert "models.yaml:4: extra: unknown key" in failed.stdout

    write(target / "models.yaml", TARGET_REGISTRY)
    write(target / "app.py", 'MODEL = "gpt-4o-mini"\n')
    scanned = try_repo("migrate-scan")
    assert scanned.returncode == 1, scanned.stdout + scanned.stderr
    assert "app.py:1:10: gpt-4o-mini is not in the registry" in scanned.stdout
