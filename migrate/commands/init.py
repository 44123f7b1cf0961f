"""`migrate init`: scaffold a workspace that passes `check`, `calendar` and `plan` at once.

What the workspace holds is `migrate.scaffolding`; this writes it. Nothing that exists is
overwritten without `--force`.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from migrate.console import say
from migrate.errors import ExitCode, UsageError
from migrate.files import write_atomic
from migrate.history.git import configured_email
from migrate.lifecycle.sources import read_litellm_map
from migrate.registry.load import DEFAULT_REGISTRY as REGISTRY
from migrate.registry.load import load_registry
from migrate.registry.schema import EMAIL
from migrate.scaffolding import install_source, workspace_files
from migrate.schedule.findings import suite_reach_findings
from migrate.workspace import suite_sizes

DEFAULT_OWNER = "owner@example.com"


def git_user_email(directory: Path) -> str | None:
    email = configured_email(directory)
    return email if email and EMAIL.fullmatch(email) else None


def run(directory: Path, force: bool, today: dt.date) -> int:
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"{directory}: exists and is not a directory")
    directory.mkdir(parents=True, exist_ok=True)
    owner = git_user_email(directory) or DEFAULT_OWNER
    files = workspace_files(read_litellm_map().records, today, owner, install_source())
    created: list[str] = []
    replaced: list[str] = []
    skipped: list[str] = []
    for name, data in files.items():
        target = directory / name
        if target.exists() or target.is_symlink():
            if not force:
                skipped.append(name)
                continue
            if target.is_dir():
                raise UsageError(f"{target}: is a directory; --force replaces files only")
            replaced.append(name)
        else:
            created.append(name)
        write_atomic(target, data)
    _report(directory, created, replaced, skipped)
    if REGISTRY in created or REGISTRY in replaced:
        _suite_notes(directory)
    return ExitCode.OK


def _suite_notes(directory: Path) -> None:
    """What `migrate check` will warn about the example suite: too few cases ever to PASS
    at its margin, and how many it needs. An example is a start, not a finished suite."""
    registry = load_registry(directory / REGISTRY)
    sizes = suite_sizes(registry)
    findings = suite_reach_findings(registry, sizes)
    if findings:
        say("")
        say("Before the example's first run (`migrate check` says it too):")
    for finding in findings:
        say(f"  {finding.dependency}: {finding.message}")


def _report(directory: Path, created: list[str], replaced: list[str], skipped: list[str]) -> None:
    where = "." if directory.resolve() == Path.cwd().resolve() else str(directory)
    for name in created:
        say(f"created  {name}")
    for name in replaced:
        say(f"replaced {name}")
    for name in skipped:
        say(f"skipped  {name} (exists; --force overwrites it)")
    if not created and not replaced:
        say(f"Nothing written: every file of the workspace already exists in {where}.")
        return
    step = "" if where == "." else f"cd {where} && "
    say("")
    say("Next:")
    say(f"  {step}git init (if this is no repository yet), then commit the files")
    say("  edit models.yaml: your features, their models, owners, prompts and eval suites")
    say("  migrate check && migrate sync && migrate calendar && migrate plan")
    say("  pre-commit install   (runs migrate check and migrate scan before each commit)")
    say("  templates/ holds copies of the packaged templates: edit one to customise it,")
    say("  delete it to use the packaged version again")
