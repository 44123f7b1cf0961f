"""Shared fixtures: hermetic homes, real git repositories, a CLI runner, a scripted model
server (each test scripts its behaviours)."""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from migrate.cli import app
from tests.support.openai_server import ScriptedServer

REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_FILES = ["models.yaml", "prompts", "evals"]


@pytest.fixture(autouse=True)
def dont_write_to_home_directory(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Point HOME and the caches at a throwaway folder: a test never touches the real home."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Test Author")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "test@example.com")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Test Author")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "test@example.com")
    monkeypatch.delenv("MIGRATE_REGISTRY", raising=False)
    return home


def git(repo: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """Run git in `repo` and return its stdout (a real repository, no mocks)."""
    full_env = {**os.environ, **(env or {})}
    result = subprocess.run(
        ["git", *args], cwd=repo, env=full_env, check=True, capture_output=True, text=True
    )
    return result.stdout


def commit_as(repo: Path, email: str, when: str, message: str, *paths: str) -> None:
    """Commit `paths` (or everything) as `email` on date `when` (YYYY-MM-DD)."""
    name = email.split("@")[0].title()
    stamp = f"{when}T12:00:00+00:00"
    env = {
        "GIT_AUTHOR_NAME": name,
        "GIT_AUTHOR_EMAIL": email,
        "GIT_AUTHOR_DATE": stamp,
        "GIT_COMMITTER_NAME": name,
        "GIT_COMMITTER_EMAIL": email,
        "GIT_COMMITTER_DATE": stamp,
    }
    git(repo, "add", *(paths or ["-A"]))
    git(repo, "commit", "-q", "--allow-empty", "-m", message, env=env)


def init_repo(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.name", "Test Author")
    git(path, "config", "user.email", "test@example.com")
    git(path, "config", "commit.gpgsign", "false")
    return path


@pytest.fixture
def example_workspace(tmp_path: Path) -> Path:
    """A copy of the bundled example workspace in a fresh git repository."""
    root = init_repo(tmp_path / "workspace")
    for name in EXAMPLE_FILES:
        source = REPO_ROOT / name
        if source.is_dir():
            shutil.copytree(source, root / name)
        else:
            shutil.copy2(source, root / name)
    commit_as(root, "alice@example.com", "2026-10-01", "Add the model registry")
    return root


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


@pytest.fixture
def cli() -> Iterator[CliRunner]:
    yield CliRunner()


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    """An OpenAI-compatible server on 127.0.0.1 with no behaviour yet: a test scripts
    `server.behaviours[...]` (a file may override this fixture with its own scripts)."""
    with ScriptedServer({}) as running:
        yield running


def invoke(runner: CliRunner, *args: str, cwd: Path | None = None):  # type: ignore[no-untyped-def]
    """Invoke the CLI in `cwd`, returning the click Result (stdout and stderr apart)."""
    old = Path.cwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        return runner.invoke(app, list(args), catch_exceptions=False)
    finally:
        os.chdir(old)
