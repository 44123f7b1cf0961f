"""What a run records about where it came from: the versions and the prompt and suite
files' last commits (to reproduce it), and the previous baseline of the same model (to see
its drift). Read from git and the stored runs, at the edge of a run."""

from __future__ import annotations

import datetime as dt
import platform
from pathlib import Path

from migrate import __version__
from migrate.evals.inputs import RunInputs
from migrate.evals.record import read_summary, try_read
from migrate.files import relative_to
from migrate.registry.load import Registry


def provenance(registry: Registry, inputs: RunInputs, today: dt.date) -> dict[str, object]:
    """What reproducing the run needs beyond its inputs: versions and the files' commits."""
    from migrate.history.git import read_git_facts
    from migrate.llm import litellm_version

    manifest = inputs.manifest
    paths = [registry.root / p for p in [*manifest.prompt.files, manifest.suite.path]]
    facts = read_git_facts(registry.root, paths, today)
    commits = {}
    for path in paths:
        change = facts.last_change_of(path)
        commits[relative_to(path, registry.root)] = (
            {"commit": change.sha, "date": change.day.isoformat(), "author": change.author}
            if change
            else None
        )
    return {
        "migrate_version": __version__,
        "litellm_version": litellm_version(),
        "python": platform.python_version(),
        "last_commits": commits,
    }


def previous_baseline(
    run_dirs: list[Path], current: Path, baseline: str
) -> tuple[str, dict[str, float | None]] | None:
    """The latest earlier finished run's per-case outcomes on the same current model."""
    for run_dir in reversed(run_dirs):
        if run_dir == current or run_dir.name >= current.name:
            continue
        summary = try_read(read_summary, run_dir)
        if summary is None or summary.models.baseline != baseline:
            continue
        outcomes = summary.outcomes.get(baseline)
        if outcomes is not None:
            return summary.run_id, outcomes
    return None
