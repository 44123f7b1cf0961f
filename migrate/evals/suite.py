"""Eval suites: JSONL cases natively, or promptfoo-style `tests:` YAML.

A case is an id, the variables its prompt is rendered with, an optional expected value and
optional extra checks. A case may instead carry its own chat `messages`, sent as they are
without the prompt template (logged production requests), and a `provenance` saying where it
came from. Loading validates everything up front, naming file, line and field.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from migrate.errors import InputError, Problem
from migrate.evals.chat import chat_messages
from migrate.registry.schema import Check
from migrate.yamlsource import format_key_path, load_yaml_file, read_text_limited

MAX_CASES = 200_000
CASE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,199}")  # used with fullmatch
CASE_ID_RULE = "letters, digits and . _ : / - (up to 200 characters)"


@dataclass(frozen=True)
class CheckSpec:
    """One check to apply to an output; `negate` inverts it (promptfoo's `not-` prefix)."""

    type: str
    value: Any = None
    schema: dict[str, Any] | None = None
    rubric: str | None = None
    negate: bool = False

    @classmethod
    def from_check(cls, check: Check) -> CheckSpec:
        return cls(
            type=check.type, value=check.value, schema=check.json_schema, rubric=check.rubric
        )

    def label(self, value: Any = None) -> str:
        """How the check reads in a report; `value` is the value rendered for a case."""
        name = ("not " if self.negate else "") + self.type
        shown = self.value if value is None else value
        if shown is not None and self.type != "llm_judge":
            return f"{name} {json.dumps(shown, ensure_ascii=False)[:60]}"
        return name


@dataclass(frozen=True)
class Case:
    id: str
    vars: dict[str, Any]
    expected: Any = None
    checks: tuple[CheckSpec, ...] = field(default=())
    line: int | None = None
    messages: list[dict[str, str]] | None = None  # sent as they are, without the prompt
    provenance: dict[str, Any] | None = None  # source, imported, original_id (cases import)


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
        data = load_yaml_file(path).data
        tests = data.get("tests") if isinstance(data, dict) else data
        return len(tests) if isinstance(tests, list) else 0
    with path.open(encoding="utf-8") as handle:
        return sum(1 for line in handle if line.strip() and not line.lstrip().startswith("//"))


def load_suite(path: Path, display: str | None = None) -> Suite:
    """Load and validate a suite, or raise InputError naming file, line and field."""
    display = display or str(path)
    text = read_text_limited(path, display)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    if path.suffix in {".yaml", ".yml"}:
        cases = _promptfoo_cases(text, display)
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
                        display,
                        case.line,
                        "id",
                        f"duplicate case id '{case.id}' (first on line {seen[case.id]})",
                    )
                ]
            )
        seen[case.id] = case.line
    return Suite(path=path, cases=tuple(cases), sha256=digest)


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


# promptfoo assertion types and what they mean here; `not-` prefixes negate any of them.
_PROMPTFOO_TYPES = {
    "equals": "equals",
    "contains": "contains",
    "icontains": "icontains",
    "regex": "regex",
    "is-json": "is_json",
    "contains-json": "contains_json",
    "starts-with": "starts_with",
    "contains-any": "contains_any",
    "icontains-any": "icontains_any",
    "contains-all": "contains_all",
    "icontains-all": "icontains_all",
    "llm-rubric": "llm_judge",
    "is-valid-openai-tools-call": None,
}


def _promptfoo_cases(text: str, display: str) -> list[Case]:
    from migrate.yamlsource import parse_yaml

    located = parse_yaml(text, display)
    data = located.data
    tests = data.get("tests") if isinstance(data, dict) else data
    if not isinstance(tests, list):
        raise InputError(
            [Problem(display, located.line_of(()), "tests", "expected a 'tests:' list of cases")]
        )
    default_vars, default_specs = _default_test(located, display)
    cases = []
    used_ids: set[str] = set()
    for index, test in enumerate(tests):
        where = ("tests", index) if isinstance(data, dict) else (index,)
        line = located.line_of(where)
        if not isinstance(test, dict):
            raise InputError([Problem(display, line, format_key_path(where), "expected a mapping")])
        unknown = set(test) - {
            "vars",
            "assert",
            "description",
            "id",
            "metadata",
            "options",
            "threshold",
        }
        if unknown:
            key = sorted(unknown)[0]
            raise InputError(
                [
                    Problem(
                        display,
                        located.line_of((*where, key)),
                        format_key_path((*where, key)),
                        "unknown key",
                    )
                ]
            )
        variables = test.get("vars", {})
        if not isinstance(variables, dict):
            raise InputError(
                [
                    Problem(
                        display,
                        located.line_of((*where, "vars")),
                        format_key_path((*where, "vars")),
                        "expected a mapping",
                    )
                ]
            )
        asserts = test.get("assert", [])
        if not isinstance(asserts, list):
            raise InputError(
                [
                    Problem(
                        display,
                        located.line_of((*where, "assert")),
                        format_key_path((*where, "assert")),
                        "expected a list",
                    )
                ]
            )
        specs = list(default_specs)
        for a_index, item in enumerate(asserts):
            a_where = (*where, "assert", a_index)
            specs.append(
                _promptfoo_assert(item, display, located.line_of(a_where), format_key_path(a_where))
            )
        if test.get("id") is not None and not (
            isinstance(test["id"], str | int)
            and not isinstance(test["id"], bool)
            and CASE_ID.fullmatch(str(test["id"]))
        ):
            raise InputError(
                [
                    Problem(
                        display,
                        located.line_of((*where, "id")),
                        format_key_path((*where, "id")),
                        f"a case id may hold {CASE_ID_RULE}",
                    )
                ]
            )
        case_id = str(test.get("id") or _slug(test.get("description")) or f"test-{index + 1}")
        if not test.get("id") and case_id in used_ids:  # two tests with the same description
            case_id = f"{case_id}-{index + 1}"
        used_ids.add(case_id)
        cases.append(
            Case(
                id=str(case_id), vars={**default_vars, **variables}, checks=tuple(specs), line=line
            )
        )
    return cases


def _default_test(located: Any, display: str) -> tuple[dict[str, Any], list[CheckSpec]]:
    """defaultTest's vars and asserts, which every test starts from."""
    data = located.data
    if not isinstance(data, dict) or data.get("defaultTest") is None:
        return {}, []
    default_test = data["defaultTest"]
    if not isinstance(default_test, dict):
        line = located.line_of(("defaultTest",))
        raise InputError([Problem(display, line, "defaultTest", "expected a mapping")])
    unknown = set(default_test) - {"vars", "assert", "options", "metadata", "threshold"}
    if unknown:
        key = sorted(unknown)[0]
        where = ("defaultTest", key)
        raise InputError(
            [Problem(display, located.line_of(where), format_key_path(where), "unknown key")]
        )
    variables = default_test.get("vars") or {}
    if not isinstance(variables, dict):
        where = ("defaultTest", "vars")
        raise InputError(
            [Problem(display, located.line_of(where), format_key_path(where), "expected a mapping")]
        )
    asserts = default_test.get("assert") or []
    if not isinstance(asserts, list):
        where = ("defaultTest", "assert")
        raise InputError(
            [Problem(display, located.line_of(where), format_key_path(where), "expected a list")]
        )
    specs = []
    for index, item in enumerate(asserts):
        a_where = ("defaultTest", "assert", index)
        specs.append(
            _promptfoo_assert(item, display, located.line_of(a_where), format_key_path(a_where))
        )
    return variables, specs


# Keys of a promptfoo assertion that do not change what passes here (weights and metric names
# only matter to promptfoo's own scoring); any other key would, so it is refused.
_IGNORED_ASSERT_KEYS = {"type", "value", "weight", "metric", "threshold"}


def _promptfoo_assert(item: Any, display: str, line: int | None, where: str) -> CheckSpec:
    if not isinstance(item, dict) or "type" not in item:
        raise InputError([Problem(display, line, where, "expected a mapping with a 'type'")])
    unknown = set(item) - _IGNORED_ASSERT_KEYS
    if unknown:
        key = sorted(map(str, unknown))[0]
        raise InputError(
            [Problem(display, line, f"{where}.{key}", "unknown key (not supported here)")]
        )
    kind = str(item["type"])
    negate = kind.startswith("not-")
    base = kind[4:] if negate else kind
    mapped = _PROMPTFOO_TYPES.get(base)
    if mapped is None:
        known = ", ".join(sorted(k for k, v in _PROMPTFOO_TYPES.items() if v))
        raise InputError(
            [
                Problem(
                    display,
                    line,
                    f"{where}.type",
                    f"unsupported assertion type '{kind}' (supported: {known}, "
                    "each also with a 'not-' prefix)",
                )
            ]
        )
    value = item.get("value")
    if mapped == "llm_judge":
        if not isinstance(value, str) or not value.strip():
            raise InputError(
                [Problem(display, line, f"{where}.value", "llm-rubric needs the rubric as text")]
            )
        return CheckSpec(type="llm_judge", rubric=value, negate=negate)
    if mapped in {"contains_any", "icontains_any", "contains_all", "icontains_all"}:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",")]
        if not isinstance(value, list) or not value:
            raise InputError([Problem(display, line, f"{where}.value", "expected a list")])
    elif mapped not in {"is_json", "contains_json"} and value is None:
        raise InputError([Problem(display, line, f"{where}.value", "required for this type")])
    if mapped == "regex" and "{{" not in str(value):  # templated patterns are checked per case
        try:
            re.compile(str(value))
        except re.error as exc:
            raise InputError(
                [Problem(display, line, f"{where}.value", f"invalid regular expression: {exc}")]
            ) from None
    schema = value if mapped in {"is_json", "contains_json"} and isinstance(value, dict) else None
    return CheckSpec(type=mapped, value=None if schema else value, schema=schema, negate=negate)


def _slug(text: Any) -> str | None:
    if not isinstance(text, str):
        return None
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:80]
    return slug or None
