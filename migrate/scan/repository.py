"""Scanning a repository's tracked files: git decides what is in the repository.

Untracked and ignored files are never read (GitPython lists the index), nor binary files
(a NUL byte near the start) or files larger than `MAX_FILE_BYTES` (lockfiles, data dumps,
vendored bundles), nor the registry itself.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from migrate.lifecycle.sources import LifecycleRecord
from migrate.registry.load import Registry
from migrate.scan.vocabulary import Coverage, Vocabulary, build_vocabulary

MAX_FILE_BYTES = 1024 * 1024
BINARY_SNIFF_BYTES = 8192


@dataclass(frozen=True)
class Use:
    """A model id found in a file that the registry does not cover."""

    file: str  # relative to the repository root, with '/'
    line: int
    column: int
    model: str
    text: str
    suggestion: str | None  # the registry id to add for it


@dataclass
class ScanResult:
    root: Path
    files_scanned: int = 0
    skipped_binary: int = 0
    skipped_large: int = 0
    registered_uses: int = 0
    allowed_uses: int = 0
    unregistered: list[Use] = field(default_factory=list)

    @property
    def unregistered_models(self) -> list[str]:
        return sorted({u.model for u in self.unregistered})


def scan_files(
    root: Path,
    files: Iterable[str],
    vocabulary: Vocabulary,
    coverage: Coverage,
    skip: Iterable[Path] = (),
) -> ScanResult:
    """Find every model id in `files` (relative to `root`) and sort the uses."""
    skipped = set()
    for path in skip:
        try:
            skipped.add(path.resolve().relative_to(root).as_posix())
        except ValueError:
            continue  # outside the repository: never among its files
    result = ScanResult(root=root)
    for name in files:
        if name in skipped:
            continue
        path = root / name
        data = _read_bytes(path, result)
        if data is None:
            continue
        result.files_scanned += 1
        if not vocabulary.might_contain(data):
            continue
        for hit in vocabulary.find(data.decode("utf-8", errors="replace")):
            if coverage.registered(hit.token):
                result.registered_uses += 1
            elif coverage.allowed(hit.token):
                result.allowed_uses += 1
            else:
                result.unregistered.append(
                    Use(
                        name,
                        hit.line,
                        hit.column,
                        hit.token,
                        hit.text,
                        vocabulary.suggestion(hit.token),
                    )
                )
    return result


def scan_for_registry(
    registry: Registry, root: Path, files: Iterable[str], known: Iterable[LifecycleRecord]
) -> ScanResult:
    """The uses of model ids in `files` sorted against `registry`: an id is registered when
    the registry has it under `models`, allowed when `settings.scan_allow` names it, else
    unregistered. What looks like a model id is learnt from the `known` lifecycle records
    (litellm's model map) and the registry's own ids; the registry file is never scanned."""
    ids = list(registry.models)
    vocabulary = build_vocabulary(known, ids)
    coverage = Coverage.of(ids, registry.settings.scan_allow)
    return scan_files(root, files, vocabulary, coverage, skip=[registry.path])


def _read_bytes(path: Path, result: ScanResult) -> bytes | None:
    try:
        if os.path.islink(path) or not path.is_file():
            return None  # symlinks, submodules, files deleted from the working tree
        if path.stat().st_size > MAX_FILE_BYTES:
            result.skipped_large += 1
            return None
        data = path.read_bytes()
    except OSError:
        return None
    if b"\0" in data[:BINARY_SNIFF_BYTES]:
        result.skipped_binary += 1
        return None
    return data
