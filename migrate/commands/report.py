"""`migrate report RUN`: re-render a run's summary and reports from its journal."""

from __future__ import annotations

from pathlib import Path

from migrate.console import print_json, say
from migrate.errors import MigrateError
from migrate.evals.flow import Clock, rerender
from migrate.evals.rundir import MANIFEST_FILE, find_run, workspace_of
from migrate.files import relative_to
from migrate.registry.load import Registry, load_registry


def run(registry_path: Path, run_ref: str, as_json: bool, now: Clock) -> int:
    try:
        registry: Registry | None = load_registry(registry_path)
    except MigrateError:
        if not (Path(run_ref) / MANIFEST_FILE).exists():
            raise
        registry = None  # a run directory stands on its own: the registry is optional
    root = registry.root if registry else workspace_of(Path(run_ref))
    run_dir = find_run(root, run_ref)
    outcome = rerender(run_dir, root, now)
    if as_json:
        print_json({**outcome.summary.model_dump(), "run_dir": relative_to(run_dir, Path.cwd())})
    else:
        say(
            f"{outcome.results.verdict}: re-rendered {relative_to(run_dir, Path.cwd())} "
            "(summary.json, report.md, report.html, junit.xml) without a model call"
        )
    return outcome.results.exit_code
