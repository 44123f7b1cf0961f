"""What `migrate init` writes: the scaffold's files, filled in for this install and day.

The files are package data under `migrate/scaffold/`, plus copies of the packaged templates
(`migrate/templates/`) under `templates/`. In the scaffold a leading `dot_` stands for the
dot of a hidden file (`dot_github/` is `.github/`), a `.tmpl` suffix marks a file whose
`@@name@@` placeholders are filled in, and `_parts/` holds pieces for those placeholders.

The example dependency is on a real model with a real retirement date: a dated OpenAI
snapshot from the installed litellm's model map, retiring far enough ahead that a fresh
workspace has no deadline inside its safety margin.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import importlib.resources
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib.resources.abc import Traversable

from migrate import __version__
from migrate.lifecycle.names import base_name
from migrate.lifecycle.sources import LifecycleRecord, litellm_version

SCAFFOLD = "scaffold"
TEMPLATES = "templates"
EXAMPLE_MIN_DAYS = 90  # past check's warning horizon (60) and its safety margin (30)
_SNAPSHOT = re.compile(r"^gpt-\d+(?:\.\d+)?(?:-mini|-nano)?-\d{4}-\d{2}-\d{2}$")
_FLAGSHIP = re.compile(r"^gpt-(\d+)(?:\.(\d+))?$")
_PLACEHOLDER = re.compile(r"@@([a-z_]+)@@")


@dataclass(frozen=True)
class ExampleModel:
    model: str
    retires: dt.date
    candidate: str
    source: str
    reasoning: frozenset[str] = frozenset()  # of the two, those that reason by default


# A published retirement, for when the installed map holds no dated snapshot at all.
FALLBACK_EXAMPLE = ExampleModel(
    "openai/gpt-4o-2024-08-06",
    dt.date(2027, 1, 14),
    "openai/gpt-4.1",
    "https://platform.openai.com/docs/deprecations",
)


def choose_example(records: Iterable[LifecycleRecord], today: dt.date) -> ExampleModel:
    """A dated OpenAI chat snapshot retiring at least EXAMPLE_MIN_DAYS after `today` (the
    soonest such), and the newest undated flagship model as its candidate. Pure."""
    chat = [r for r in records if r.family == "openai" and r.mode == "chat" and "/" not in r.key]
    snapshots = sorted(
        (r.retires, r.key, r.url) for r in chat if r.retires is not None and _SNAPSHOT.match(r.key)
    )
    if not snapshots:
        return FALLBACK_EXAMPLE
    horizon = today + dt.timedelta(days=EXAMPLE_MIN_DAYS)
    ahead = [s for s in snapshots if s[0] >= horizon]
    retires, key, url = ahead[0] if ahead else snapshots[-1]
    flagships = []
    for record in chat:
        match = _FLAGSHIP.match(record.key)
        if match and record.retires is None and record.key != base_name(key):
            flagships.append(((int(match.group(1)), int(match.group(2) or 0)), record.key))
    candidate = max(flagships)[1] if flagships else FALLBACK_EXAMPLE.candidate.split("/")[1]
    reasoning = frozenset(
        f"openai/{r.key}" for r in chat if r.key in {key, candidate} and r.reasons_by_default
    )
    return ExampleModel(
        f"openai/{key}", retires, f"openai/{candidate}", url or FALLBACK_EXAMPLE.source, reasoning
    )


# What a reasoning model that reasons by default is sent over the dependency's params:
# litellm refuses any temperature but the default for it, and its reasoning tokens count
# against max_tokens, so 200 would leave no room for the answer.
REASONING_PARAMS = "{temperature: 1, max_tokens: 4000}"


@dataclass(frozen=True)
class InstallSource:
    """Where this migrate was installed from, as the workflow and the hooks should say it."""

    requirement: str  # for pip in CI
    hooks_repo: str | None = None  # a git URL publishing .pre-commit-hooks.yaml
    hooks_rev: str | None = None


def install_source() -> InstallSource:
    """From PEP 610's direct_url.json: a git install names its URL and revision."""
    fallback = InstallSource(f"migrate=={__version__}")
    try:
        raw = importlib.metadata.distribution("migrate").read_text("direct_url.json")
    except importlib.metadata.PackageNotFoundError:
        return fallback
    try:
        direct = json.loads(raw) if raw else {}
    except ValueError:
        return fallback
    vcs = direct.get("vcs_info") if isinstance(direct, dict) else None
    url = direct.get("url") if isinstance(direct, dict) else None
    if not isinstance(vcs, dict) or vcs.get("vcs") != "git" or not isinstance(url, str):
        return fallback
    rev = vcs.get("requested_revision") or vcs.get("commit_id")
    if not isinstance(rev, str) or not re.fullmatch(r"[\w.+/-]+", rev):
        return fallback
    return InstallSource(f"migrate @ git+{url}@{rev}", url, rev)


def _walk(
    folder: Traversable, prefix: str = "", *, dotted: bool = True
) -> Iterator[tuple[str, Traversable]]:
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.startswith(("_", ".")) or entry.name == "__pycache__":
            continue
        name = entry.name
        if dotted and name.startswith("dot_"):
            name = "." + name.removeprefix("dot_")
        if entry.is_dir():
            yield from _walk(entry, f"{prefix}{name}/", dotted=dotted)
        elif entry.is_file():
            yield f"{prefix}{name}", entry


def _fill(text: str, values: dict[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        return values[match.group(1)]

    return _PLACEHOLDER.sub(replace, text)


def scaffold_files(values: dict[str, str]) -> dict[str, bytes]:
    """Every file of a new workspace by relative path: the scaffold and the templates."""
    package = importlib.resources.files("migrate")
    files: dict[str, bytes] = {}
    for name, entry in _walk(package.joinpath(SCAFFOLD)):
        if name.endswith(".tmpl"):
            files[name.removesuffix(".tmpl")] = _fill(
                entry.read_text(encoding="utf-8"), values
            ).encode("utf-8")
        else:
            files[name] = entry.read_bytes()
    templates = package.joinpath(TEMPLATES)
    if templates.is_dir():  # whatever the package ships, copied as it is
        for name, entry in _walk(templates, dotted=False):
            files[f"{TEMPLATES}/{name}"] = entry.read_bytes()
    return files


def hooks_block(source: InstallSource) -> str:
    """The `repos:` entry of the workspace's pre-commit config: migrate's own hooks from
    the git repository it was installed from, else local hooks calling the installed CLI."""
    parts = importlib.resources.files("migrate").joinpath(SCAFFOLD, "_parts")
    if source.hooks_repo and source.hooks_rev:
        block = _fill(
            parts.joinpath("hooks-remote.yaml").read_text(encoding="utf-8"),
            {"hooks_repo": source.hooks_repo, "hooks_rev": source.hooks_rev},
        )
    else:
        block = parts.joinpath("hooks-local.yaml").read_text(encoding="utf-8")
    return block.rstrip("\n")


def scaffold_values(
    example: ExampleModel, source: InstallSource, owner: str, today: dt.date
) -> dict[str, str]:
    """What the scaffold's placeholders are filled with."""
    return {
        "model": example.model,
        "retires": example.retires.isoformat(),
        "candidate": example.candidate,
        "candidate_entry": (
            f"{{params: {REASONING_PARAMS}}}" if example.candidate in example.reasoning else "{}"
        ),
        "model_params": (
            f"\n    params: {REASONING_PARAMS}" if example.model in example.reasoning else ""
        ),
        "source": example.source,
        "owner": owner,
        "litellm_version": litellm_version() or "(unknown)",
        "today": today.isoformat(),
        "requirement": source.requirement.replace('"', ""),
        "hooks": hooks_block(source),
    }


def workspace_files(
    records: Iterable[LifecycleRecord], today: dt.date, owner: str, source: InstallSource
) -> dict[str, bytes]:
    """Every file of a new workspace by relative path, its example model chosen from
    `records` (litellm's model map) as of `today`."""
    example = choose_example(records, today)
    return scaffold_files(scaffold_values(example, source, owner, today))
