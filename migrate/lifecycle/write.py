"""Put lifecycle values into `models.yaml` with ruamel.yaml's round trip.

Comments, blank lines, key order, quoting and flow style all survive: the document is
loaded as ruamel's commented tree, the new keys are inserted into their model's mapping
with a trailing comment naming their source, and the tree is dumped with the indentation
the file already uses. Comments that followed an entry stay after it when keys are added
at its end, and a `{}` entry becomes a block mapping so that each new key can carry its
comment.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import CommentMark, YAMLError
from ruamel.yaml.tokens import CommentToken

from migrate.errors import InputError, MigrateError
from migrate.files import write_atomic
from migrate.lifecycle.compare import SyncReport

LIFECYCLE_ORDER = ("deprecated", "retires", "replacement", "source")
_POST = 2  # index of the comment after a key's value in ruamel's comment lists


@dataclass(frozen=True)
class Edit:
    """One key to add to a model entry, with the trailing comment that names its source."""

    field: str
    value: dt.date | str
    note: str


def edits_for(report: SyncReport, today: dt.date) -> dict[str, list[Edit]]:
    """The registry edits a report's changes make, each commented with its source and day."""
    return {
        model: [
            Edit(c.field, c.value, f"migrate sync {today.isoformat()}: {c.source} {c.source_id}")
            for c in changes
        ]
        for model, changes in report.changes_by_model().items()
    }


def apply_edits(text: str, edits: Mapping[str, Sequence[Edit]]) -> str:
    """`text` with each model's new keys added; everything else as it was."""
    yaml, document, indent = _load(text)
    models = document.get("models") if isinstance(document, CommentedMap) else None
    if not isinstance(models, CommentedMap):
        raise MigrateError("the registry has no 'models' mapping to write into")
    for model_id, model_edits in edits.items():
        if model_id not in models:
            raise MigrateError(f"model '{model_id}' is not in the registry")
        _edit_model(models, model_id, model_edits, indent)
    out = _dump(yaml, document)
    return out.replace("\n", "\r\n") if "\r\n" in text else out


def _yaml(mapping: int, sequence: int, offset: int, explicit_start: bool) -> YAML:
    yaml = YAML()  # round trip
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap a long description or URL
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    yaml.explicit_start = explicit_start
    return yaml


def _dump(yaml: YAML, document: Any) -> str:
    stream = io.StringIO()
    yaml.dump(document, stream)
    return stream.getvalue()


def _indent_of(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _guess_indent(lines: list[str]) -> tuple[int | None, int | None, int | None]:
    """Mapping indent, sequence dash offset and dash-to-item width, as the file shows them."""
    mapping = offset = width = None
    for previous, current in zip(lines, lines[1:], strict=False):
        head = previous.strip()
        if not head.endswith(":") or head.startswith(("#", "-")):
            continue
        body = current.strip()
        if not body or body.startswith("#"):
            continue
        depth = _indent_of(current) - _indent_of(previous)
        if body.startswith("- ") and offset is None and depth >= 0:
            offset = depth
            width = len(body) - len(body[1:].lstrip(" "))
        elif depth > 0 and mapping is None and not body.startswith("-"):
            mapping = depth
        if mapping is not None and offset is not None:
            break
    return mapping, offset, width


def _load(text: str) -> tuple[YAML, Any, int]:
    """A YAML instance that dumps this file back unchanged, the document and its indent."""
    explicit_start = text.lstrip().startswith("---")
    normalized = text.replace("\r\n", "\n")
    mapping, offset, width = _guess_indent(normalized.split("\n"))
    guessed = (mapping or 2, (offset or 0) + (width or 2), offset or 0)
    candidates = [guessed]
    for m in (mapping or 2, 2, 4, 3):
        for o in (offset or 0, 0, 2, 4):
            for w in (width or 2, 2, 4):
                candidates.append((m, o + w, o))
    try:
        document = _yaml(2, 4, 2, explicit_start).load(text)
    except YAMLError as exc:
        raise MigrateError(f"the registry cannot be read for a round trip: {exc}") from None
    best: tuple[int, YAML, int] | None = None
    for m, sequence, o in dict.fromkeys(candidates):
        yaml = _yaml(m, sequence, o, explicit_start)
        dumped = _dump(yaml, document)
        if dumped == normalized:
            return yaml, document, m
        distance = _distance(normalized, dumped)
        if best is None or distance < best[0]:
            best = (distance, yaml, m)
    assert best is not None
    return best[1], document, best[2]


def _distance(a: str, b: str) -> int:
    left, right = a.split("\n"), b.split("\n")
    return sum(x != y for x, y in zip(left, right, strict=False)) + abs(len(left) - len(right))


def _split_trailing(token: CommentToken) -> tuple[str, str]:
    """A post-value comment as (its end-of-line part, the comment lines after it)."""
    value: str = token.value
    head, newline, rest = value.partition("\n")
    return (head + newline if head.strip() else ""), rest


def _take_trailing(items: dict[Any, list[Any]], key: Any) -> str:
    """Detach the comment lines that follow `key`'s line, keeping its end-of-line comment."""
    entry = items.get(key)
    if not entry or len(entry) <= _POST or entry[_POST] is None:
        return ""
    end_of_line, rest = _split_trailing(entry[_POST])
    if end_of_line:
        entry[_POST].value = end_of_line
    else:
        entry[_POST] = None
    return rest


def _edit_model(models: CommentedMap, model_id: str, edits: Sequence[Edit], indent: int) -> None:
    entry = models[model_id]
    following = ""  # comment lines after the entry, to keep after its (new) last line
    if not isinstance(entry, CommentedMap):
        if entry is not None:
            raise MigrateError(f"model '{model_id}' is not a mapping")
        entry = CommentedMap()
        models[model_id] = entry
        following = _take_trailing(models.ca.items, model_id)
    elif entry.fa.flow_style() or len(entry) == 0:
        entry.fa.set_block_style()
        following = _take_trailing(models.ca.items, model_id)
    key_indent = 2 * indent
    for edit in sorted(edits, key=lambda e: LIFECYCLE_ORDER.index(e.field)):
        if edit.field in entry:
            continue  # never overwrite what a person wrote
        keys = list(entry)
        rank = LIFECYCLE_ORDER.index(edit.field)
        position = 0
        for i, key in enumerate(keys):
            if key in LIFECYCLE_ORDER and LIFECYCLE_ORDER.index(key) < rank:
                position = i + 1
        if keys and position == len(keys):
            following = _take_trailing(entry.ca.items, keys[-1]) + following
        entry.insert(position, edit.field, edit.value)
        rendered = edit.value.isoformat() if isinstance(edit.value, dt.date) else str(edit.value)
        column = key_indent + len(edit.field) + 2 + len(rendered) + 2
        entry.ca.items[edit.field] = [
            None,
            None,
            CommentToken(f"# {edit.note}\n", CommentMark(column), None),
            None,
        ]
    if following:
        last = list(entry)[-1]
        items = entry.ca.items.setdefault(last, [None, None, None, None])
        if items[_POST] is None:
            items[_POST] = CommentToken("\n", CommentMark(0), None)
        items[_POST].value += following


def update_registry_file(path: Path, edits: Mapping[str, Sequence[Edit]]) -> None:
    """Apply `edits` to the registry at `path` atomically, after validating the result.

    The new text is validated with the registry loader and compared with the old registry
    (nothing but the added keys may differ) before it replaces the file; a file changed by
    someone else meanwhile is left alone.
    """
    from migrate.registry.load import load_registry

    original = path.read_text(encoding="utf-8")
    before = load_registry(path, check_files=False)
    updated = apply_edits(original, edits)
    check_path = _scratch_copy(path, updated)
    try:
        after = load_registry(check_path, check_files=False)
    except InputError as exc:
        raise MigrateError(
            f"{path}: the updated registry would not validate, so nothing was "
            f"written: {exc.message}"
        ) from None
    finally:
        check_path.unlink(missing_ok=True)
    expected = before.content.model_dump()
    for model_id, model_edits in edits.items():
        for edit in model_edits:
            entry = expected["models"][model_id]
            if entry.get(edit.field) is None:
                entry[edit.field] = edit.value
    if after.content.model_dump() != expected:
        raise MigrateError(
            f"{path}: the round trip changed more than the new keys, so nothing "
            "was written (please report this with the file)"
        )
    if path.read_text(encoding="utf-8") != original:
        raise MigrateError(f"{path}: the file changed while `migrate sync` ran; run it again")
    write_atomic(path, updated)


def _scratch_copy(path: Path, text: str) -> Path:
    """A temporary file beside `path` (so relative paths resolve the same) holding `text`."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".sync-check", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)
    return Path(name)
