"""`migrate scan`: model ids in the repository's tracked files that the registry does not know.

Exit 1 when any use is unregistered (so it works as a pre-commit hook or a CI step), 0
otherwise; `settings.scan_allow` lists deliberate exceptions (ids or glob patterns).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from migrate.console import plural, print_json, say, warn
from migrate.errors import ExitCode
from migrate.history.git import tracked_files
from migrate.lifecycle.sources import read_litellm_map
from migrate.registry.load import load_registry
from migrate.scan.repository import ScanResult, scan_for_registry


def run(registry_path: Path, path: Path | None, as_json: bool) -> int:
    registry = load_registry(registry_path, check_files=False)
    if path is None:  # the whole repository the registry belongs to
        root, files = tracked_files(registry.root, whole_repository=True)
    else:
        root, files = tracked_files(path)
    result = scan_for_registry(registry, root, files, read_litellm_map().records)
    if as_json:
        print_json(
            {
                "repository": root,
                "registry": registry.display_path(),
                "files_scanned": result.files_scanned,
                "files_skipped": {"binary": result.skipped_binary, "large": result.skipped_large},
                "registered_uses": result.registered_uses,
                "allowed_uses": result.allowed_uses,
                "unregistered_models": result.unregistered_models,
                "unregistered": [asdict(u) for u in result.unregistered],
            }
        )
    else:
        _print_human(result, registry.display_path())
    return ExitCode.FAIL if result.unregistered else ExitCode.OK


def _print_human(result: ScanResult, registry: str) -> None:
    for use in result.unregistered:
        add = f"add {use.suggestion}" if use.suggestion else f"add {use.model}"
        warn(
            f"{use.file}:{use.line}:{use.column}: {use.model} is not in the registry "
            f"({add} under models in {registry}, or {use.model} to settings.scan_allow)"
        )
        warn(f"    {use.text}")
    skipped = result.skipped_binary + result.skipped_large
    skipped_note = f" ({plural(skipped, 'binary or large file')} skipped)" if skipped else ""
    summary = (
        f"Scanned {plural(result.files_scanned, 'tracked file')}{skipped_note}: "
        f"{plural(result.registered_uses, 'use')} of registered models"
    )
    if result.allowed_uses:
        summary += f", {result.allowed_uses} allowed by settings.scan_allow"
    if result.unregistered:
        models = result.unregistered_models
        summary += (
            f", {plural(len(result.unregistered), 'unregistered use')} of {', '.join(models)}"
        )
    say(summary + ".")
