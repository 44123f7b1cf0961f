"""Read YAML strictly, remembering where every value came from.

PyYAML's constructors silently keep the last of two duplicate keys and forget line
numbers. Here the libyaml composer builds the node graph (fast, with marks) and a small
walker turns it into plain Python values, refusing duplicate keys and recording the line
of every key path so that later validation errors can point at the file and line.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from migrate.errors import InputError, Problem

try:  # libyaml is ~10x faster; fall back to pure Python where it is missing
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on the PyYAML build
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

KeyPath = tuple[str | int, ...]

MAX_FILE_BYTES = 8 * 1024 * 1024
MAX_NODES = 500_000  # an alias bomb expands far past this; real registries stay far below
MAX_DEPTH = 64


@dataclass
class Located:
    """Plain data parsed from a YAML file plus the line of each key path (1-based)."""

    data: Any
    file: str
    lines: dict[KeyPath, int] = field(default_factory=dict)

    def line_of(self, path: KeyPath) -> int | None:
        """The line of `path`, or of its nearest ancestor that has one."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), None)


def format_key_path(path: KeyPath) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z0-9_-]+", str(part)):
            out += ("." if out else "") + str(part)
        else:  # model ids hold '/' and '.': quote them so the path stays unambiguous
            out += f'["{part}"]'
    return out


def read_text_limited(path: Path, display: str) -> str:
    """Read a UTF-8 text file, refusing oversized or undecodable files with a message."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise InputError([Problem(display, None, "", "file not found")]) from None
    except OSError as exc:
        raise InputError([Problem(display, None, "", f"cannot read: {exc.strerror}")]) from None
    if size > MAX_FILE_BYTES:
        raise InputError(
            [Problem(display, None, "", f"file is {size:,} bytes; the limit is {MAX_FILE_BYTES:,}")]
        )
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            [Problem(display, None, "", f"not UTF-8 text (byte {exc.start})")]
        ) from None
    except OSError as exc:
        raise InputError([Problem(display, None, "", f"cannot read: {exc.strerror}")]) from None


def parse_yaml(text: str, file: str) -> Located:
    """Parse one YAML document into plain values with line numbers, or raise InputError."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = " ".join(p for p in (exc.context, exc.problem) if p) or "invalid YAML"
        raise InputError([Problem(file, line, "", f"YAML syntax error: {problem}")]) from None
    except yaml.YAMLError as exc:
        raise InputError([Problem(file, None, "", f"YAML error: {exc}")]) from None
    finally:
        loader.dispose()
    located = Located(data=None, file=file)
    if node is None:
        return located
    walker = _Walker(loader, located)
    located.data = walker.value(node, ())
    return located


def load_yaml_file(path: Path, display: str | None = None) -> Located:
    display = display or str(path)
    return parse_yaml(read_text_limited(path, display), display)


class _Walker:
    def __init__(self, loader: Any, located: Located) -> None:
        self.loader = loader
        self.located = located
        self.count = 0

    def fail(self, node: yaml.Node, path: KeyPath, message: str) -> InputError:
        line = node.start_mark.line + 1
        return InputError([Problem(self.located.file, line, format_key_path(path), message)])

    def value(self, node: yaml.Node, path: KeyPath) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise self.fail(node, path, f"document expands past {MAX_NODES:,} values "
                            "(an alias bomb?); refused")
        if len(path) > MAX_DEPTH:
            raise self.fail(node, path, f"nested deeper than {MAX_DEPTH} levels; refused")
        self.located.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            return self.mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.value(item, (*path, i)) for i, item in enumerate(node.value)]
        return self.scalar(node, path)

    def mapping(self, node: yaml.MappingNode, path: KeyPath) -> dict[Any, Any]:
        explicit_count = sum(1 for key, _ in node.value if key.tag != "tag:yaml.org,2002:merge")
        try:
            self.loader.flatten_mapping(node)  # resolves `<<: *anchor` merge keys
        except yaml.MarkedYAMLError as exc:
            raise self.fail(node, path, f"bad merge key: {exc.problem}") from None
        # flatten_mapping puts merged pairs first; explicit keys may override them.
        explicit_start = len(node.value) - explicit_count
        result: dict[Any, Any] = {}
        merged_keys: set[Any] = set()
        for index, (key_node, value_node) in enumerate(node.value):
            if not isinstance(key_node, yaml.ScalarNode):
                raise self.fail(key_node, path, "keys must be plain scalars")
            key = self.scalar(key_node, path)
            if not isinstance(key, Hashable) or isinstance(key, float):
                raise self.fail(key_node, path, f"unusable key {key!r}")
            if isinstance(key, bool | dt.date):
                key = key_node.value  # `on:` or `2027-01-01:` as a key means the text
            key = str(key) if not isinstance(key, str) else key
            if index < explicit_start:  # from a merge: the first source wins, never an error
                if key in result:
                    continue
                merged_keys.add(key)
            elif key in result and key not in merged_keys:
                raise self.fail(key_node, (*path, key), f"duplicate key '{key}'")
            else:
                merged_keys.discard(key)
            child = (*path, key)
            self.located.lines[child] = key_node.start_mark.line + 1
            result[key] = self.value(value_node, child)
        return result

    def scalar(self, node: yaml.Node, path: KeyPath) -> Any:
        try:
            return self.loader.construct_object(node, deep=True)
        except (ValueError, OverflowError) as exc:
            if node.tag == "tag:yaml.org,2002:timestamp":
                raise self.fail(node, path, f"'{node.value}' is not a real date ({exc})") from None
            raise self.fail(node, path, f"cannot read '{node.value}': {exc}") from None
        except yaml.YAMLError as exc:
            raise self.fail(node, path, f"cannot read value: {exc}") from None
