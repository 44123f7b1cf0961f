"""Reading logged traffic: OpenAI chat JSONL, CSV, and JSON or JSONL records.

Every record becomes either a chat request (its `messages`, the last assistant message as
the reference answer) or a set of prompt variables. Anything not fully understood is
refused with the file, line and field: a half-read log would become a wrong suite.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from migrate.errors import InputError, Problem
from migrate.evals.chat import chat_messages

MAX_IMPORT_BYTES = 512 * 1024 * 1024
MAX_RECORDS = 200_000
RESERVED = ("id", "expected")  # --map names that are not prompt variables
# Request parameters a logged call carries beside its messages: the dependency's own model
# and params replace them in a run, so they are read past. Anything else (tools,
# response_format, ...) would change what was asked and is refused.
REQUEST_PARAMS = {
    "model", "temperature", "top_p", "max_tokens", "max_completion_tokens", "n", "stream",
    "stop", "seed", "user", "presence_penalty", "frequency_penalty", "logprobs",
    "top_logprobs", "store", "metadata",
}  # fmt: skip


@dataclass
class Record:
    """One logged request, as read (not yet scrubbed)."""

    line: int
    original_id: Any = None
    messages: list[dict[str, str]] | None = None
    vars: dict[str, Any] | None = None
    expected: Any = None


@dataclass
class Source:
    kind: str  # chat | records
    records: list[Record]


def read_text(path: Path, display: str) -> str:
    """The file as UTF-8 text (a byte-order mark is dropped), or InputError naming the line."""
    try:
        size = path.stat().st_size
        if size > MAX_IMPORT_BYTES:
            message = f"file is {size:,} bytes; the limit is {MAX_IMPORT_BYTES:,}"
            raise InputError([Problem(display, None, "", message)])
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError([Problem(display, None, "", "file not found")]) from None
    except IsADirectoryError:
        raise InputError([Problem(display, None, "", "a folder, not a file")]) from None
    except OSError as exc:
        raise InputError([Problem(display, None, "", f"cannot read: {exc.strerror}")]) from None
    try:
        return raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        message = (
            f"not UTF-8 text: byte 0x{raw[exc.start]:02x} at column {column} "
            "(convert the export to UTF-8 first)"
        )
        raise InputError([Problem(display, line, "", message)]) from None


def read_source(
    path: Path, display: str, mapping: dict[str, str], id_field: str | None, variables: set[str]
) -> Source:
    """Read `path` by its extension; `variables` are the prompt's, which records must cover."""
    text = read_text(path, display)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        rows = _csv_rows(text, display)
    elif suffix in {".jsonl", ".ndjson"}:
        rows = _jsonl_rows(text, display)
    elif suffix == ".json":
        rows = _json_rows(text, display)
    else:
        raise InputError(
            [Problem(display, None, "", "unknown format: expected .jsonl, .ndjson, .json or .csv")]
        )
    if not rows:
        raise InputError([Problem(display, None, "", "no records in the file")])
    if len(rows) > MAX_RECORDS:
        raise InputError([Problem(display, None, "", f"more than {MAX_RECORDS:,} records")])
    first = rows[0][1]
    if suffix != ".csv" and ("messages" in first or "input" in first):
        if mapping:
            key = "messages" if "messages" in first else "input"
            message = f"a chat log ('{key}' on every line) takes no --map"
            raise InputError([Problem(display, rows[0][0], key, message)])
        return Source("chat", [_chat_record(d, line, display, id_field) for line, d in rows])
    header_line = 1 if suffix == ".csv" else rows[0][0]
    fields = _field_plan(mapping, id_field, variables, first, display, header_line, suffix)
    return Source("records", [_vars_record(d, line, display, fields) for line, d in rows])


def _jsonl_rows(text: str, display: str) -> list[tuple[int, dict[str, Any]]]:
    rows = []
    for number, raw in enumerate(text.split("\n"), start=1):
        stripped = raw.strip()
        if not stripped:
            continue
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError as exc:
            message = f"not valid JSON: {exc.msg} (column {exc.colno})"
            raise InputError([Problem(display, number, "", message)]) from None
        except (ValueError, RecursionError) as exc:
            message = f"not valid JSON: {type(exc).__name__}"
            raise InputError([Problem(display, number, "", message)]) from None
        if not isinstance(data, dict):
            raise InputError([Problem(display, number, "", "each line must be a JSON object")])
        rows.append((number, data))
    return rows


def _json_rows(text: str, display: str) -> list[tuple[int, dict[str, Any]]]:
    """A JSON array of objects, or an object whose one list of objects holds the records
    (`{"tickets": [...], "count": 40}`); each record is located by the line it starts on."""
    decoder = json.JSONDecoder()

    def line_of(offset: int) -> int:
        return text.count("\n", 0, offset) + 1

    def skip(i: int) -> int:
        while i < len(text) and text[i] in " \t\r\n":
            i += 1
        return i

    def value_at(i: int) -> tuple[Any, int]:
        try:
            return decoder.raw_decode(text, i)
        except json.JSONDecodeError as exc:
            message = f"not valid JSON: {exc.msg} (column {exc.colno})"
            raise InputError([Problem(display, exc.lineno, "", message)]) from None
        except (ValueError, RecursionError) as exc:
            message = f"not valid JSON: {type(exc).__name__}"
            raise InputError([Problem(display, line_of(i), "", message)]) from None

    def items(i: int, where: str) -> list[tuple[int, Any]]:
        found, i = [], skip(i + 1)
        if text[i : i + 1] == "]":
            return []
        while True:
            start = skip(i)
            value, i = value_at(start)
            found.append((start, value))
            i = skip(i)
            if text[i : i + 1] == "]":
                return found
            if text[i : i + 1] != ",":
                message = f"not valid JSON: expected ',' or ']' in {where or 'the list'}"
                raise InputError([Problem(display, line_of(i), where, message)])
            i += 1

    start = skip(0)
    whole, end = value_at(start)
    if skip(end) != len(text):
        message = "not valid JSON: more after the first value (one object per line is .jsonl)"
        raise InputError([Problem(display, line_of(skip(end)), "", message)])
    where = ""
    if isinstance(whole, dict):
        lists = [k for k, v in whole.items() if isinstance(v, list) and v and _objects(v)]
        if len(lists) != 1:
            message = "expected a list of records, or an object holding exactly one list of them"
            raise InputError([Problem(display, line_of(start), "", message)])
        where = lists[0]
        start = _member_offset(text, start, where, decoder)
    elif not isinstance(whole, list):
        raise InputError([Problem(display, line_of(start), "", "expected a list of records")])
    rows = []
    for index, (offset, value) in enumerate(items(start, where)):
        if not isinstance(value, dict):
            at = f"{where}[{index}]" if where else f"[{index}]"
            raise InputError([Problem(display, line_of(offset), at, "expected an object")])
        rows.append((line_of(offset), value))
    return rows


def _objects(values: list[Any]) -> bool:
    return all(isinstance(v, dict) for v in values)


def _member_offset(text: str, start: int, key: str, decoder: json.JSONDecoder) -> int:
    """Where the value of the top-level object's member `key` starts."""
    i = start + 1
    while True:
        while text[i] in " \t\r\n,":
            i += 1
        name, i = decoder.raw_decode(text, i)
        while text[i] in " \t\r\n:":
            i += 1
        if name == key:
            return i
        _, i = decoder.raw_decode(text, i)


def _csv_rows(text: str, display: str) -> list[tuple[int, dict[str, Any]]]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        return []
    except csv.Error as exc:
        raise InputError([Problem(display, 1, "", f"not valid CSV: {exc}")]) from None
    seen: set[str] = set()
    for name in header:
        if not name.strip():
            raise InputError([Problem(display, 1, "", "a column without a name")])
        if name in seen:
            raise InputError([Problem(display, 1, name, "a second column of this name")])
        seen.add(name)
    rows: list[tuple[int, dict[str, Any]]] = []
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return rows
        except csv.Error as exc:
            raise InputError([Problem(display, start, "", f"not valid CSV: {exc}")]) from None
        if not row or row == [""]:
            continue
        if len(row) != len(header):
            message = f"{len(row)} fields where the header has {len(header)} columns"
            raise InputError([Problem(display, start, "", message)])
        rows.append((start, dict(zip(header, row, strict=True))))


def field_value(record: dict[str, Any], field: str) -> tuple[bool, Any]:
    """A record's field: an exact key, else a dotted path (`requester.email`, `tags.0`)."""
    if field in record:
        return True, record[field]
    value: Any = record
    for part in field.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return False, None
    return True, value


def _chat_record(data: dict[str, Any], line: int, display: str, id_field: str | None) -> Record:
    key = "messages" if "messages" in data else "input"
    allowed = {key, "id", *REQUEST_PARAMS} | ({"ideal"} if key == "input" else set())
    if id_field:
        allowed.add(id_field.split(".")[0])
    unknown = sorted(set(data) - allowed)
    if unknown:
        message = "not part of a chat request this import can replay (tools, response_format...)"
        raise InputError([Problem(display, line, unknown[0], message)])
    if data.get("metadata") is not None and not isinstance(data["metadata"], dict):
        raise InputError([Problem(display, line, "metadata", "expected an object")])
    messages = chat_messages(data.get(key), display, line, key)
    expected = None
    if messages[-1]["role"] == "assistant":
        expected = messages.pop()["content"]
    if "ideal" in data:
        if expected is not None:
            message = "both an assistant reply and 'ideal': which one is the reference?"
            raise InputError([Problem(display, line, "ideal", message)])
        expected = data["ideal"]
        if not isinstance(expected, str) and not (
            isinstance(expected, list) and all(isinstance(v, str) for v in expected)
        ):
            raise InputError([Problem(display, line, "ideal", "expected text")])
    if not messages or messages[-1]["role"] != "user":
        message = "the conversation must end with the user's message (or the reply to it)"
        raise InputError([Problem(display, line, key, message)])
    return Record(
        line, _original_id(data, id_field or "id", display, line), messages, None, expected
    )


def _original_id(data: dict[str, Any], field: str, display: str, line: int) -> Any:
    found, value = field_value(data, field)
    if not found or value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InputError([Problem(display, line, field, "an id must be text or a number")])
    return str(value)


@dataclass(frozen=True)
class _Fields:
    variables: dict[str, str]  # prompt variable -> field
    expected: str | None
    original_id: str | None


def _field_plan(
    mapping: dict[str, str],
    id_field: str | None,
    variables: set[str],
    first: dict[str, Any],
    display: str,
    line: int,
    suffix: str,
) -> _Fields:
    """Which field fills which prompt variable: `--map VAR=FIELD`, else each column by its
    own name. Every prompt variable must be filled; without --map every column must be used."""
    column = "column" if suffix == ".csv" else "key"
    if not variables:
        message = "records need the dependency's prompt to fill; it has no variables (or none)"
        raise InputError([Problem(display, line, "", message)])
    if mapping:
        chosen = dict(mapping)
        for name in chosen:
            if name not in variables and name not in RESERVED:
                known = ", ".join(sorted(variables))
                message = f"--map {name}=...: the prompt has no variable '{name}' (it has {known})"
                raise InputError([Problem(display, None, "", message)])
    else:
        chosen = {name: name for name in first}
        for name in first:
            if name not in variables and name not in RESERVED:
                message = (
                    f"{column} '{name}' is not a variable of the prompt "
                    f"({', '.join(sorted(variables))}); choose fields with --map VAR=FIELD"
                )
                raise InputError([Problem(display, line, name, message)])
    if suffix == ".csv":
        for field in [*chosen.values(), *([id_field] if id_field else [])]:
            if field not in first:
                message = f"no column '{field}' (the header has: {', '.join(first)})"
                raise InputError([Problem(display, 1, field, message)])
    missing = sorted(v for v in variables if v not in chosen and v != "expected")
    if missing:
        message = (
            f"the prompt's variable '{missing[0]}' has no {column}; add --map {missing[0]}=FIELD"
        )
        raise InputError([Problem(display, line, "", message)])
    return _Fields(
        variables={k: v for k, v in chosen.items() if k not in RESERVED or k in variables},
        expected=chosen.get("expected"),
        original_id=id_field or chosen.get("id"),
    )


def _vars_record(data: dict[str, Any], line: int, display: str, fields: _Fields) -> Record:
    def read(field: str) -> Any:
        found, value = field_value(data, field)
        if not found or value is None:
            raise InputError([Problem(display, line, field, "missing in this record")])
        return value

    variables = {name: read(field) for name, field in fields.variables.items()}
    expected = read(fields.expected) if fields.expected else None
    if expected == "":
        expected = None  # an empty cell: no reference answer
    original = _original_id(data, fields.original_id, display, line) if fields.original_id else None
    return Record(line, original, None, variables, expected)
