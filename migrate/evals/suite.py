"""Eval suites: JSONL cases natively, or promptfoo configs and tests files (YAML).

A case is an id, the variables its prompt is rendered with, an optional expected value and
optional extra checks. A case may instead carry its own chat `messages`, sent as they are
without the prompt template (logged production requests), and a `provenance` saying where it
came from. Loading validates everything up front, naming file, line and field.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from migrate.errors import InputError, Problem
from migrate.evals.case import CASE_ID, CASE_ID_RULE, Case, CheckSpec
from migrate.evals.chat import chat_messages
from migrate.registry.schema import Check
from migrate.yamlsource import format_key_path, read_text_limited

MAX_CASES = 200_000
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

__all__ = ["CASE_ID", "Case", "CheckSpec", "Suite", "count_cases", "load_suite"]

# JSONL suites already parsed by this process, by path, display name and text: a plan reads
# each suite for its case dates, its health and its cost estimate. The cases are frozen; a
# promptfoo config is never kept, since the files it names may change without it.
_parsed: dict[tuple[Path, str, str], tuple[Case, ...]] = {}
_KEPT_SUITES = 1024


@dataclass(frozen=True)
class Suite:
    path: Path
    cases: tuple[Case, ...]
    sha256: str  # of the file's bytes: the report's "suite hash"

    def __len__(self) -> int:
        return len(self.cases)


def count_cases(path: Path) -> int:
    """How many cases a suite file holds, without validating them (for runbooks)."""
    if path.suffix in {".yaml", ".yml"}:
        try:
            return len(load_suite(path))
        except InputError:
            return 0
    with path.open(encoding="utf-8") as handle:
        return sum(1 for line in handle if line.strip() and not line.lstrip().startswith("//"))


def load_suite(path: Path, display: str | None = None) -> Suite:
    """Load and validate a suite, or raise InputError naming file, line and field."""
    display = display or str(path)
    text = read_text_limited(path, display)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    if path.suffix in {".yaml", ".yml"}:
        from migrate.evals.promptfoo.loader import load_promptfoo

        cases = load_promptfoo(path, display, text)
    elif (path, display, text) in _parsed:
        return Suite(path=path, cases=_parsed[path, display, text], sha256=digest)
    else:
        cases = _jsonl_cases(text, display)
    if not cases:
        raise InputError([Problem(display, None, "", "the suite has no cases")])
    seen: dict[str, int | None] = {}
    for case in cases:
        if case.id in seen:
            raise InputError(
                [
                    Problem(
                        case.source or display,
                        case.line,
                        "id",
                        f"duplicate case id '{case.id}' (first on line {seen[case.id]})",
                    )
                ]
            )
        seen[case.id] = case.line
    suite = Suite(path=path, cases=tuple(cases), sha256=digest)
    if path.suffix not in {".yaml", ".yml"}:
        if len(_parsed) >= _KEPT_SUITES:  # a long-lived process (the tests) keeps a few
            _parsed.clear()
        _parsed[path, display, text] = suite.cases
    return suite


def _check_specs(raw: Any, display: str, line: int | None, where: str) -> tuple[CheckSpec, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise InputError([Problem(display, line, where, "expected a list of checks")])
    specs = []
    for i, item in enumerate(raw):
        try:
            specs.append(CheckSpec.from_check(Check.model_validate(item)))
        except ValidationError as exc:
            error = exc.errors()[0]
            loc = format_key_path((where, i, *error["loc"]))
            message = str(error["msg"]).removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = "unknown key"
            raise InputError([Problem(display, line, loc, message)]) from None
    return tuple(specs)


def _iso_date(value: Any) -> bool:
    """True for a missing `imported` or a YYYY-MM-DD date."""
    if value is None:
        return True
    try:
        return (
            isinstance(value, str)
            and bool(_DATE.fullmatch(value))
            and bool(dt.date.fromisoformat(value))
        )
    except ValueError:
        return False


def _jsonl_cases(text: str, display: str) -> list[Case]:
    cases: list[Case] = []
    # Lines end at "\n" only: str.splitlines() would also split inside a JSON string holding
    # U+2028 or U+0085, which JSON allows unescaped, and shift every later line number.
    for number, raw_line in enumerate(text.removeprefix("\ufeff").split("\n"), start=1):
        stripped = raw_line.strip()
        if not stripped or stripped.startswith("//"):
            continue
        if len(cases) >= MAX_CASES:
            raise InputError([Problem(display, number, "", f"more than {MAX_CASES:,} cases")])
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise InputError(
                [Problem(display, number, "", f"not valid JSON: {exc.msg} (column {exc.colno})")]
            ) from None
        except RecursionError:
            raise InputError([Problem(display, number, "", "JSON nested too deeply")]) from None
        except ValueError as exc:  # e.g. an integer of more than 4,300 digits
            raise InputError([Problem(display, number, "", f"not valid JSON: {exc}")]) from None
        if not isinstance(data, dict):
            raise InputError([Problem(display, number, "", "each line must be a JSON object")])
        unknown = set(data) - {
            "id", "vars", "expected", "checks", "description", "metadata", "messages", "provenance"
        }  # fmt: skip
        if unknown:
            key = format_key_path((sorted(unknown)[0],))
            raise InputError([Problem(display, number, key, "unknown key")])
        case_id = data.get("id")
        if (
            not isinstance(case_id, str | int)
            or isinstance(case_id, bool)
            or not CASE_ID.fullmatch(str(case_id))
        ):
            raise InputError(
                [Problem(display, number, "id", f"every case needs an 'id': {CASE_ID_RULE}")]
            )
        variables = data.get("vars", {})
        if not isinstance(variables, dict):
            raise InputError([Problem(display, number, "vars", "expected an object")])
        messages = data.get("messages")
        if messages is not None:
            messages = chat_messages(messages, display, number, "messages")
        provenance = data.get("provenance")
        if provenance is not None and not isinstance(provenance, dict):
            raise InputError([Problem(display, number, "provenance", "expected an object")])
        if provenance is not None and not _iso_date(provenance.get("imported")):
            # the suite's age is read from it: a date in another shape would be misread
            raise InputError(
                [Problem(display, number, "provenance.imported", "expected a date YYYY-MM-DD")]
            )
        cases.append(
            Case(
                id=str(case_id),
                vars=variables,
                expected=data.get("expected"),
                checks=_check_specs(data.get("checks"), display, number, "checks"),
                line=number,
                messages=messages,
                provenance=provenance,
            )
        )
    return cases
