"""Read YAML strictly, remembering where every value came from.

PyYAML's constructors silently keep the last of two duplicate keys and forget line
numbers. Here the libyaml composer builds the node graph (fast, with marks) and a small
walker turns it into plain Python values, refusing duplicate keys and recording the line
of every key path so that later validation errors can point at the file and line.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from migrate.errors import InputError, Problem

try:  # libyaml is ~10x faster; fall back to pure Python where it is missing
    from yaml import CSafeLoader as _Loader

    _LIBYAML = True
except ImportError:  # pragma: no cover - depends on the PyYAML build
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

    _LIBYAML = False

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
            out += f"[{json.dumps(str(part), ensure_ascii=False)}]"  # escapes newlines too
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
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError([Problem(display, None, "", f"cannot read: {exc.strerror}")]) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        message = f"not UTF-8 text: byte 0x{raw[exc.start]:02x} at column {column}"
        raise InputError([Problem(display, line, "", message)]) from None


def parse_yaml(text: str, file: str) -> Located:
    """Parse one YAML document into plain values with line numbers, or raise InputError."""
    loader = None
    try:
        loader = _Loader(text)  # the pure-Python reader already checks characters here
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        # an error at the end of the file is on its last line, not the one after it
        line = min(mark.line + 1, len(text.splitlines()) or 1) if mark else None
        problem = " ".join(p for p in (exc.context, exc.problem) if p) or "invalid YAML"
        problem += _syntax_hint(text, mark, problem)
        raise InputError([Problem(file, line, "", f"YAML syntax error: {problem}")]) from None
    except yaml.reader.ReaderError as exc:
        # libyaml counts bytes of the UTF-8 text; the pure-Python reader counts characters
        end = max(exc.position, 0)
        if _LIBYAML:
            line = text.encode("utf-8", "surrogatepass").count(b"\n", 0, end) + 1
        else:  # pragma: no cover - depends on the PyYAML build
            line = text.count("\n", 0, end) + 1
        message = f"unacceptable character #x{exc.character:04x}: {exc.reason}"
        raise InputError([Problem(file, line, "", message)]) from None
    except yaml.YAMLError as exc:
        raise InputError([Problem(file, None, "", f"YAML error: {exc}")]) from None
    finally:
        if loader is not None:
            loader.dispose()
    located = Located(data=None, file=file)
    if node is None:
        return located
    walker = _Walker(loader, located)
    located.data = walker.value(node, ())
    return located


def _syntax_hint(text: str, mark: Any, problem: str) -> str:
    """libyaml's wording names the grammar; say what a person most likely did."""
    if mark is not None:
        lines = text.splitlines()
        if mark.line < len(lines) and "\t" in lines[mark.line][: mark.column + 1]:
            return " (a tab: YAML indents with spaces only)"
    if "mapping values are not allowed" in problem or "did not find expected key" in problem:
        return " (check the indentation of this line, or quote a value that holds ': ')"
    return ""


def load_yaml_file(path: Path, display: str | None = None) -> Located:
    display = display or str(path)
    return parse_yaml(read_text_limited(path, display), display)


_MERGE_TAG = "tag:yaml.org,2002:merge"
# A collection is read as a plain mapping or list, so any other tag on one would be ignored.
_COLLECTION_TAGS: dict[type, str] = {
    yaml.MappingNode: "tag:yaml.org,2002:map",
    yaml.SequenceNode: "tag:yaml.org,2002:seq",
}
_STR_TAG = "tag:yaml.org,2002:str"


class _Walker:
    def __init__(self, loader: Any, located: Located) -> None:
        self.loader = loader
        self.located = located
        self.count = 0
        self.active: set[int] = set()  # the containers being walked: an alias back is a cycle

    def fail(self, node: yaml.Node, path: KeyPath, message: str) -> InputError:
        line = node.start_mark.line + 1
        return InputError([Problem(self.located.file, line, format_key_path(path), message)])

    def value(self, node: yaml.Node, path: KeyPath) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise self.fail(
                node, path, f"document expands past {MAX_NODES:,} values (an alias bomb?); refused"
            )
        if len(path) > MAX_DEPTH:
            raise self.fail(node, path, f"nested deeper than {MAX_DEPTH} levels; refused")
        self.located.lines.setdefault(path, node.start_mark.line + 1)
        if _COLLECTION_TAGS.get(type(node), node.tag) != node.tag:  # `!!set {...}`, `!foo [...]`
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            raise self.fail(node, path, f"cannot read value: unsupported tag '{tag}'")
        if isinstance(node, yaml.MappingNode):
            return self.mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            with self.entered(node, path):
                return [self.value(item, (*path, i)) for i, item in enumerate(node.value)]
        return self.scalar(node, path)

    @contextmanager
    def entered(self, node: yaml.Node, path: KeyPath) -> Iterator[None]:
        if id(node) in self.active:
            raise self.fail(node, path, "an alias refers to a value that contains it; refused")
        self.active.add(id(node))
        try:
            yield
        finally:
            self.active.discard(id(node))

    def mapping(self, node: yaml.MappingNode, path: KeyPath) -> dict[str, Any]:
        """A mapping's keys and values, with `<<` merge keys resolved as YAML 1.1 says: the
        mapping's own keys win over merged ones, and earlier merge sources over later ones.

        Merges are resolved here rather than by PyYAML's flatten_mapping, which rewrites
        shared (aliased) nodes in place and loses which keys were written explicitly.
        """
        with self.entered(node, path):
            merged: dict[str, Any] = {}
            own: list[tuple[yaml.Node, yaml.Node]] = []
            for key_node, value_node in node.value:
                if key_node.tag != _MERGE_TAG:
                    own.append((key_node, value_node))
                    continue
                sources = (
                    value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                )
                for source in sources:
                    if not isinstance(source, yaml.MappingNode):
                        raise self.fail(
                            source, path, "a merge key (<<) takes a mapping or a list of mappings"
                        )
                    for key, value in self.mapping(source, path).items():
                        merged.setdefault(key, value)
            result = dict(merged)
            seen: set[str] = set()
            for key_node, value_node in own:
                key = self.key(key_node, path)
                if key in seen:
                    raise self.fail(key_node, (*path, key), f"duplicate key '{key}'")
                seen.add(key)
                child = (*path, key)
                self.located.lines[child] = key_node.start_mark.line + 1
                result[key] = self.value(value_node, child)
            return result

    def key(self, key_node: yaml.Node, path: KeyPath) -> str:
        if not isinstance(key_node, yaml.ScalarNode):
            raise self.fail(key_node, path, "keys must be plain scalars")
        key = self.scalar(key_node, path)
        if key is None or isinstance(key, bytes | float) or not isinstance(key, Hashable):
            raise self.fail(key_node, path, f"unusable key '{key_node.value}'")
        if isinstance(key, bool | dt.date):
            return str(key_node.value)  # `on:` or `2027-01-01:` as a key means the text
        return str(key)

    def scalar(self, node: yaml.Node, path: KeyPath) -> Any:
        if node.tag == _STR_TAG and isinstance(node, yaml.ScalarNode):
            return node.value  # most keys and values: skip the constructor's dispatch
        try:
            return self.loader.construct_object(node, deep=True)
        except (ValueError, OverflowError) as exc:
            if node.tag == "tag:yaml.org,2002:timestamp":
                raise self.fail(node, path, f"'{node.value}' is not a real date ({exc})") from None
            raise self.fail(node, path, f"cannot read '{node.value}': {exc}") from None
        except yaml.MarkedYAMLError as exc:  # an unknown tag: the line is already named
            raise self.fail(node, path, f"cannot read value: {exc.problem}") from None
        except yaml.YAMLError as exc:
            raise self.fail(node, path, f"cannot read value: {exc}") from None
