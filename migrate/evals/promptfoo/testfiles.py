"""Tests kept in other files (`tests: file://cases.csv`, `- file://more/*.yaml`), and CSV rows.

Every test keeps where it came from (file, line, key path), so a problem found later is
reported in the file that holds it. Paths are relative to the file that names them.
"""

from __future__ import annotations

import csv
import glob
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from migrate.errors import InputError, Problem
from migrate.evals.promptfoo.jsvalues import json_parse
from migrate.evals.promptfoo.yaml12 import parse_yaml12
from migrate.yamlsource import KeyPath, Located, format_key_path, read_text_limited

BASE_TYPES = (
    "agent-rubric answer-relevance bleu classifier contains contains-all contains-any "
    "contains-html contains-json contains-sql contains-xml context-faithfulness context-recall "
    "context-relevance conversation-relevance cost equals factuality finish-reason g-eval gleu "
    "guardrails icontains icontains-all icontains-any is-html is-json is-refusal is-sql "
    "is-valid-function-call is-valid-openai-function-call is-valid-openai-tools-call is-xml "
    "javascript latency levenshtein llm-rubric pi meteor model-graded-closedqa "
    "model-graded-factuality moderation perplexity perplexity-score python regex rouge-n ruby "
    "similar similar:cosine similar:dot similar:euclidean starts-with tool-call-f1 skill-used "
    "trajectory:goal-success trajectory:tool-args-match trajectory:step-count "
    "trajectory:tool-sequence trajectory:tool-used trace-error-spans trace-span-count "
    "trace-span-duration search-rubric webhook word-count"
).split()


@dataclass
class Origin:
    """Where a value was read: its file, its folder, and the line of each key path."""

    display: str
    folder: Path
    located: Located | None = None
    lines: dict[KeyPath, int] = field(default_factory=dict)

    def line_of(self, path: KeyPath) -> int | None:
        if self.located is not None:
            return self.located.line_of(path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get(())

    def fail(self, path: KeyPath, message: str) -> InputError:
        return InputError(
            [Problem(self.display, self.line_of(path), format_key_path(path), message)]
        )


@dataclass
class RawTest:
    data: Any
    origin: Origin
    path: KeyPath  # the test's key path inside its file
    default_description: str | None = None


def display_of(path: Path, relative_to: Path, base_display: str) -> str:
    """A path to show: relative to the folder the first file was named from."""
    try:
        return str(Path(base_display).parent / path.relative_to(relative_to))
    except ValueError:
        return str(path)


def resolve_files(pattern: str, origin: Origin, where: KeyPath) -> list[Path]:
    """The files a `file://` reference names (a glob), relative to the naming file."""
    target = pattern.removeprefix("file://")
    full = target if Path(target).is_absolute() else str(origin.folder / target)
    if glob.has_magic(full):
        matches = sorted(Path(p) for p in glob.glob(full, recursive=True))
    else:
        matches = [Path(full)] if Path(full).exists() else []
    if not matches:
        raise origin.fail(where, f"no file matches '{pattern}' (relative to {origin.folder})")
    folders = [m for m in matches if m.is_dir()]
    if folders:
        raise origin.fail(where, f"'{pattern}' names a folder, not a file: {folders[0]}")
    return matches


def read_referenced(file: Path, origin: Origin, where: KeyPath) -> str:
    """The text of a file the suite names at `where`; one that cannot be read (missing, a
    folder, too large, not UTF-8) is refused there, at the suite's line and key."""
    try:
        return read_text_limited(file, str(file))
    except InputError as exc:
        problem = exc.problems[0]
        at = f" (line {problem.line})" if problem.line else ""
        raise origin.fail(where, f"{file}{at}: {problem.message}") from None


def read_structured(path: Path, display: str) -> tuple[Any, Origin]:
    """A YAML, JSON or JSONL file's content, with its origin for line numbers."""
    text = read_text_limited(path, display)
    origin = Origin(display, path.parent)
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        rows: list[Any] = []
        lines: dict[KeyPath, int] = {}
        for number, line in enumerate(text.split("\n"), start=1):
            if not line.strip():
                continue
            try:
                rows.append(json_parse(line))
            except ValueError as exc:
                raise InputError([Problem(display, number, "", f"not valid JSON: {exc}")]) from None
            lines[(len(rows) - 1,)] = number
        origin.lines = lines
        return rows, origin
    located = parse_yaml12(text, display)  # JSON is YAML; promptfoo reads .json files as YAML
    origin.located = located
    return located.data, origin


def csv_rows(path: Path, display: str) -> tuple[list[dict[str, str]], Origin]:
    text = read_text_limited(path, display).removeprefix("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    origin = Origin(display, path.parent)
    try:
        header = next(reader)
    except StopIteration:
        raise InputError([Problem(display, 1, "", "the CSV file is empty")]) from None
    except csv.Error as exc:
        raise InputError([Problem(display, 1, "", f"not valid CSV: {exc}")]) from None
    rows: list[dict[str, str]] = []
    start = 2
    try:
        for record in reader:
            line = start
            start = reader.line_num + 1
            if record == [] or record == [""] and len(header) > 1:
                raise InputError(
                    [Problem(display, line, "", "an empty row (promptfoo refuses it)")]
                )
            if len(record) != len(header):
                raise InputError(
                    [
                        Problem(
                            display, line, "", f"{len(record)} fields; the header has {len(header)}"
                        )
                    ]
                )
            origin.lines[(len(rows),)] = line
            rows.append(dict(zip(header, record, strict=True)))
    except csv.Error as exc:
        raise InputError([Problem(display, reader.line_num, "", f"not valid CSV: {exc}")]) from None
    return rows, origin


def _split_values(value: str, origin: Origin, where: KeyPath) -> list[str]:
    """promptfoo's comma-separated list: quoted fields may hold commas ("a, b")."""
    results, i = [], 0
    while i < len(value):
        while i < len(value) and (value[i].isspace() or value[i] == ","):
            i += 1
        if i >= len(value):
            break
        if value[i] == '"':
            i += 1
            item, closed = "", False
            while i < len(value):
                if value[i] == "\\" and i + 1 < len(value) and value[i + 1] in '"\\':
                    item, i = item + value[i + 1], i + 2
                elif value[i] == '"' and i + 1 < len(value) and value[i + 1] == '"':
                    item, i = item + '"', i + 2
                elif value[i] == '"':
                    i, closed = i + 1, True
                    break
                else:
                    item, i = item + value[i], i + 1
            if not closed:
                raise origin.fail(where, "unterminated quoted field in the value list")
            while i < len(value) and value[i].isspace():
                i += 1
            if i < len(value) and value[i] != ",":
                raise origin.fail(where, "expected a comma after a quoted field in the value list")
        else:
            end = value.find(",", i)
            end = len(value) if end == -1 else end
            item, i = value[i:end].strip(), end
        results.append(item)
    return results


def split_values(value: str, origin: Origin, where: KeyPath) -> list[str]:
    return _split_values(value, origin, where)


_TYPES = "|".join(re.escape(t) for t in BASE_TYPES)
_ASSERTION = re.compile(rf"^(not-)?({_TYPES})(?:\((\d+(?:\.\d+)?)\))?(?::([\s\S]*))?$")
_THRESHOLDED = {
    "answer-relevance classifier context-faithfulness context-recall context-relevance cost "
    "latency levenshtein perplexity-score perplexity rouge-n similar starts-with"
}.pop().split()


def assertion_from_text(text: str, origin: Origin, where: KeyPath) -> dict[str, Any]:
    """A CSV `__expected` cell as the assertion promptfoo makes of it."""
    if text.startswith(("javascript:", "fn:", "eval:")):
        return {"type": "javascript", "value": text.split(":", 1)[1].strip()}
    if text.startswith("file://") and text.endswith((".js", ".mjs", ".cjs", ".ts")):
        return {"type": "javascript", "value": text}
    if text.startswith(("grade:", "llm-rubric:")):
        return {"type": "llm-rubric", "value": text.split(":", 1)[1]}
    if text.startswith("python:") or (
        text.startswith("file://") and (text.endswith(".py") or ".py:" in text)
    ):
        return {"type": "python", "value": text[7:].strip() if text.startswith("python:") else text}
    match = _ASSERTION.match(text)
    if not match:
        return {"type": "equals", "value": text}
    negate, kind, threshold_text, value = match.groups()
    full = f"not-{kind}" if negate else kind
    if kind in {"contains-all", "contains-any", "icontains-all", "icontains-any"}:
        return {"type": full, "value": split_values(value, origin, where) if value else value}
    if kind in {"contains-json", "is-json"}:
        return {"type": full, "value": value}
    stripped = value.strip() if value is not None else None
    if kind in _THRESHOLDED:
        default = 0.8 if kind == "similar" else 0.75
        threshold = float(threshold_text) if threshold_text else default
        return {"type": full, "value": stripped, "threshold": threshold}
    return {"type": full, "value": stripped}


def _finite(text: str) -> float | None:
    if re.fullmatch(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", text.strip()):
        return float(text)
    return None


def test_from_csv_row(row: dict[str, str], origin: Origin, index: int) -> dict[str, Any]:
    """One CSV row as promptfoo's test: columns are vars, `__` columns say the rest."""
    variables: dict[str, Any] = {}
    asserts: list[dict[str, Any]] = []
    options: dict[str, Any] = {}
    metadata: dict[str, Any] = {}
    configs: dict[int, dict[str, float]] = {}
    test: dict[str, Any] = {}
    metric = None
    where: KeyPath = (index,)
    for raw_key, value in row.items():
        key = raw_key.strip()
        if key.startswith("__expected"):
            if value.strip():
                asserts.append(assertion_from_text(value.strip(), origin, (index, key)))
        elif key == "__prefix":
            options["prefix"] = value
        elif key == "__suffix":
            options["suffix"] = value
        elif key == "__description":
            test["description"] = value
        elif key == "__metric":
            metric = value
        elif key == "__threshold":
            threshold = _finite(value)
            if threshold is not None:
                test["threshold"] = threshold
        elif key.startswith("__metadata:"):
            name = key[len("__metadata:") :]
            if name.endswith("[]"):
                if value.strip():
                    parts = re.split(r"(?<!\\),", value)
                    metadata[name[:-2]] = [p.strip().replace("\\,", ",") for p in parts]
            elif value.strip():
                metadata[name] = value
        elif key == "__providerOutput":
            raise origin.fail(where, "the __providerOutput column is not supported here")
        elif key.startswith("__config:"):
            parts = key[len("__config:") :].split(":")
            found = re.fullmatch(r"__expected(\d*)", parts[0]) if len(parts) == 2 else None
            number = _finite(value)
            if not found or parts[1] != "threshold" or number is None:
                raise origin.fail(
                    (index, key), "expected __config:__expected<N>:threshold with a number"
                )
            slot = int(found.group(1)) - 1 if found.group(1) else 0
            configs.setdefault(slot, {})["threshold"] = number
        elif key != "__metadata":
            variables[key] = value
    for slot, assertion in enumerate(asserts):
        assertion["metric"] = metric
        for name, number in configs.get(slot, {}).items():
            assertion[name] = number
            metadata[name] = number
    test.update({"vars": variables, "assert": asserts, "options": options})
    if metadata:
        test["metadata"] = metadata
    return test
