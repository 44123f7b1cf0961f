"""Parsed YAML kept as data, so that a large registry is parsed once per content rather
than once per command.

Reading a 1,000-dependency registry with the line of every key costs about 0.3 s; reading
the same values and lines back from JSON costs a sixth of that. An entry is JSON, never a
pickle: it holds plain values (dates, times and bytes tagged) and the lines, named and
keyed by the SHA-256 of the file's text and of the parser's own source. An entry that does
not match, or does not read, is ignored and replaced; the 16 entries used last are kept;
small files are parsed without one.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from migrate import yamlsource
from migrate.files import write_atomic
from migrate.yamlsource import KeyPath, Located, parse_yaml, read_text_limited

FORMAT = "migrate-yaml-cache-1"
SMALLEST = 64 * 1024  # bytes of YAML below which parsing costs less than the cache
KEPT = 16  # entries kept: the registries (and versions of them) read most recently


def default_cache_dir(environ: Mapping[str, str] = os.environ) -> Path | None:
    """Where parsed registries are kept: $XDG_CACHE_HOME/migrate/yaml (~/.cache by default);
    None where there is no home to keep them in."""
    return cache_folder("yaml", environ)


def cache_folder(name: str, environ: Mapping[str, str] = os.environ) -> Path | None:
    """$XDG_CACHE_HOME/migrate/NAME (~/.cache by default); None without a home."""
    base = environ.get("XDG_CACHE_HOME")
    if not base:
        try:
            base = str(Path.home() / ".cache")
        except RuntimeError:
            return None
    return Path(base) / "migrate" / name


def load_yaml_cached(path: Path, display: str, cache_dir: Path | None) -> Located:
    """`yamlsource.load_yaml_file`, served from `cache_dir` when the same text was parsed
    before by the same parser."""
    text = read_text_limited(path, display)
    if cache_dir is None or len(text) < SMALLEST:
        return parse_yaml(text, display)
    key = _key(text)
    entry = cache_dir / f"{key[:32]}.json"  # by content: a copy of the registry finds it too
    cached = _read(entry, key, display)
    if cached is not None:
        return cached
    located = parse_yaml(text, display)  # an error is raised here, and never kept
    _write(entry, key, located)
    return located


_parser_id: str | None = None


def _key(text: str) -> str:
    """The text's hash, salted with the parser's own source: a new parser reads afresh."""
    global _parser_id
    if _parser_id is None:
        digest = hashlib.sha256(FORMAT.encode())
        for source in (yamlsource.__file__, __file__):
            digest.update(Path(str(source)).read_bytes())
        import yaml

        digest.update(f"{yaml.__version__} {yamlsource._LIBYAML}".encode())
        _parser_id = digest.hexdigest()
    return hashlib.sha256((_parser_id + "\n" + text).encode("utf-8", "surrogatepass")).hexdigest()


def encode(value: Any) -> Any:
    """A parsed value as JSON: mappings as objects, everything else JSON cannot tell apart
    (lists, dates, times, bytes) as a [tag, value] pair."""
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise TypeError("a mapping with a key that is not a string")
        return {key: encode(item) for key, item in value.items()}
    if isinstance(value, list):
        return ["list", [encode(item) for item in value]]
    if isinstance(value, dt.datetime):
        return ["datetime", value.isoformat()]
    if isinstance(value, dt.date):
        return ["date", value.isoformat()]
    if isinstance(value, bytes):
        return ["bytes", base64.b64encode(value).decode("ascii")]
    if value is None or isinstance(value, str | bool | int | float):
        return value
    raise TypeError(f"no JSON form for {type(value).__name__}")


def decode(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: decode(item) for key, item in value.items()}
    if isinstance(value, list):
        tag, content = value
        if tag == "list":
            return [decode(item) for item in content]
        if tag == "datetime":
            return dt.datetime.fromisoformat(content)
        if tag == "date":
            return dt.date.fromisoformat(content)
        if tag == "bytes":
            return base64.b64decode(content, validate=True)
        raise ValueError(f"unknown tag {tag!r}")
    return value


def _encode_lines(lines: dict[KeyPath, int]) -> list[list[Any]]:
    """Each key path as [its parent's index, its last key, its line]: paths are stored in the
    order the walker met them, so a parent always comes first."""
    index: dict[KeyPath, int] = {}
    rows: list[list[Any]] = []
    for path, line in lines.items():
        parent = index[path[:-1]] if path else -1
        index[path] = len(rows)
        rows.append([parent, path[-1] if path else None, line])
    return rows


def _decode_lines(rows: list[list[Any]]) -> dict[KeyPath, int]:
    paths: list[KeyPath] = []
    lines: dict[KeyPath, int] = {}
    for parent, key, line in rows:
        if not -1 <= parent < len(paths) or not isinstance(line, int):
            raise ValueError("a line entry out of order")
        if parent >= 0 and not isinstance(key, str | int):
            raise ValueError("a key path with a key that is neither a string nor an index")
        path: KeyPath = (*paths[parent], key) if parent >= 0 else ()
        paths.append(path)
        lines[path] = line
    return lines


def _read(entry: Path, key: str, display: str) -> Located | None:
    try:
        stored = json.loads(entry.read_bytes())
        if stored.get("format") != FORMAT or stored.get("key") != key:
            return None
        located = Located(decode(stored["data"]), display, _decode_lines(stored["lines"]))
        os.utime(entry)  # read lately: kept when older entries are pruned
        return located
    except (OSError, ValueError, TypeError, KeyError, IndexError, AttributeError):
        return None  # missing, torn or edited: parse afresh


def _write(entry: Path, key: str, located: Located) -> None:
    """Keep the parse; a cache that cannot be written (a read-only home) is no error."""
    try:
        payload = {
            "format": FORMAT,
            "key": key,
            "data": encode(located.data),
            "lines": _encode_lines(located.lines),
        }
        text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        write_atomic(entry, text)  # readers see the old entry or the new one, never half
        _prune(entry.parent)
    except (OSError, TypeError, KeyError, ValueError):
        return


def _prune(cache_dir: Path) -> None:
    """Keep the KEPT most recently written entries: each edit of a registry makes one."""
    entries = []
    for entry in cache_dir.glob("*.json"):
        try:
            entries.append((entry.stat().st_mtime_ns, entry))
        except OSError:
            continue  # removed by another process meanwhile
    for _, stale in sorted(entries, reverse=True)[KEPT:]:
        stale.unlink(missing_ok=True)
