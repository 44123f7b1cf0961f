"""Read a promptfoo config or tests file into cases, exactly as promptfoo 0.121 reads it.

What is read: `tests` (inline, `file://` YAML/JSON/JSONL/CSV files and globs), `defaultTest`
(vars, assert, options, threshold and metadata merged into every test), `assertionTemplates`
reached by `$ref`, vars that are lists (one case per combination), `file://` vars (text
read and trimmed, YAML as JSON), `transformVars`, the test options that change a verdict
(`transform`, `prefix`, `suffix`, `provider` for graders, `disableVarExpansion`,
`disableDefaultAsserts`). `prompts` and `providers` are replaced by the registry's prompt
and models. Anything else that would change what promptfoo runs or how it judges is
refused with the file, line and key: never ignored.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from migrate.evals.promptfoo.specs import check_javascript, check_keys, spec_of
from migrate.evals.promptfoo.testfiles import (
    Origin,
    RawTest,
    csv_rows,
    display_of,
    read_structured,
    resolve_files,
    test_from_csv_row,
)
from migrate.evals.promptfoo.variables import expand, load_file_vars, transform_vars
from migrate.evals.promptfoo.yaml12 import parse_yaml12
from migrate.yamlsource import KeyPath

if TYPE_CHECKING:
    from migrate.evals.case import Case

# Top-level keys: those that decide the cases, and those the registry replaces or that
# never change a verdict (where results are written, sharing, labels).
CONFIG_KEYS = {"tests", "defaultTest", "assertionTemplates", "description"}
REPLACED_KEYS = {"prompts", "providers", "targets", "env"}
INERT_KEYS = {
    "$schema", "evaluateOptions", "outputPath", "sharing", "writeLatestResults",
    "commandLineOptions", "tags", "metadata", "tracing",
}  # fmt: skip
TEST_KEYS = {"vars", "assert", "description", "options", "threshold", "metadata", "id"}
OPTION_KEYS = {
    "transform", "postprocess", "transformVars", "prefix", "suffix", "provider",
    "disableVarExpansion", "disableDefaultAsserts", "runSerially", "disableConversationVar",
}  # fmt: skip


def load_promptfoo(path: Path, display: str, text: str) -> list[Case]:
    located = parse_yaml12(text, display)
    origin = Origin(display, path.resolve().parent, located)
    data = located.data
    if isinstance(data, list):  # a bare tests file
        config: dict[str, Any] = {"tests": data}
        top: KeyPath = ()
    elif isinstance(data, dict):
        config, top = data, ("tests",)
    else:
        raise origin.fail(
            (), "expected a promptfoo config (a mapping with 'tests:') or a list of tests"
        )
    for key in config:
        if key not in CONFIG_KEYS | REPLACED_KEYS | INERT_KEYS:
            raise origin.fail(
                (key,), f"'{key}' is not supported here (it would change what promptfoo runs)"
            )
    templates = config.get("assertionTemplates") or {}
    reader = _Reader(path, display, templates, origin)
    default = reader.default_test(config.get("defaultTest"))
    raw_tests = reader.collect(config.get("tests"), origin, top)
    cases: list[Case] = []
    used: set[str] = set()
    for index, raw in enumerate(raw_tests):
        cases.extend(reader.cases_of(raw, index, default, used))
    return cases


class _Reader:
    def __init__(self, path: Path, display: str, templates: Any, origin: Origin) -> None:
        self.root_folder = path.resolve().parent
        self.display = display
        self.templates = templates
        self.origin = origin

    # --- where tests come from -------------------------------------------------------------

    def collect(self, tests: Any, origin: Origin, where: KeyPath) -> list[RawTest]:
        if tests is None:
            return [RawTest({}, origin, where)]  # promptfoo runs one empty test
        if isinstance(tests, str):
            return self.from_file(tests, origin, where, standalone=True)
        if isinstance(tests, dict) and "path" in tests:
            raise origin.fail(where, "tests given as {path, config} are not supported here")
        if not isinstance(tests, list):
            raise origin.fail(where, "expected a list of tests or a file:// reference")
        found: list[RawTest] = []
        for index, item in enumerate(tests):
            if isinstance(item, str):
                found.extend(self.from_file(item, origin, (*where, index), standalone=False))
            elif isinstance(item, dict):
                found.append(RawTest(item, origin, (*where, index)))
            else:
                raise origin.fail(
                    (*where, index), "expected a test (a mapping) or a file:// reference"
                )
        return found

    def from_file(
        self, reference: str, origin: Origin, where: KeyPath, standalone: bool
    ) -> list[RawTest]:
        target = reference.removeprefix("file://")
        if re.search(r"\.(js|mjs|cjs|ts|py|xlsx|xls)(:|#|$)", target) or "://" in target:
            raise origin.fail(
                where,
                f"tests from '{reference}' are not supported here "
                "(only YAML, JSON, JSONL and CSV files)",
            )
        found: list[RawTest] = []
        for file in resolve_files(reference, origin, where):
            display = display_of(file, self.root_folder, self.display)
            suffix = file.suffix.lower()
            if suffix == ".csv":
                rows, file_origin = csv_rows(file, display)
                for index, row in enumerate(rows):
                    test = test_from_csv_row(row, file_origin, index)
                    found.append(RawTest(test, file_origin, (index,), f"Row #{index + 1}"))
                continue
            if suffix not in {".yaml", ".yml", ".json", ".jsonl"}:
                raise origin.fail(where, f"unsupported tests file type '{file.name}'")
            data, file_origin = read_structured(file, display)
            items = data if isinstance(data, list) else [data]
            rows_named = standalone and suffix in {".json", ".jsonl"}
            for index, item in enumerate(items):
                key: KeyPath = (index,) if isinstance(data, list) else ()
                if isinstance(item, str) and not standalone:
                    raise file_origin.fail(key, "a tests file may not name further files")
                if not isinstance(item, dict):
                    raise file_origin.fail(key, "expected a test (a mapping)")
                found.append(
                    RawTest(item, file_origin, key, f"Row #{index + 1}" if rows_named else None)
                )
        return found

    # --- defaultTest ----------------------------------------------------------------------

    def default_test(self, raw: Any) -> dict[str, Any]:
        where: KeyPath = ("defaultTest",)
        if raw is None:
            return {}
        if isinstance(raw, str):
            files = resolve_files(raw, self.origin, where)
            data, origin = read_structured(
                files[0], display_of(files[0], self.root_folder, self.display)
            )
            return self.default_test_data(data, origin, ())
        return self.default_test_data(raw, self.origin, where)

    def default_test_data(self, raw: Any, origin: Origin, where: KeyPath) -> dict[str, Any]:
        if not isinstance(raw, dict):
            raise origin.fail(where, "expected a mapping")
        check_keys(raw, TEST_KEYS - {"id", "description"}, origin, where)
        default = dict(raw)
        default["vars"] = self.vars_of(raw, origin, where)
        default["assert"] = [(a, origin, p) for a, p in self.asserts_of(raw, origin, where)]
        default["options"] = self.options_of(raw.get("options"), origin, (*where, "options"))
        return default

    # --- one test -------------------------------------------------------------------------

    def vars_of(self, test: dict[str, Any], origin: Origin, where: KeyPath) -> dict[str, Any]:
        raw = test.get("vars")
        if raw is None:
            return {}
        if isinstance(raw, str | list) and not isinstance(raw, dict):
            merged: dict[str, Any] = {}
            for reference in [raw] if isinstance(raw, str) else raw:
                if not isinstance(reference, str):
                    raise origin.fail((*where, "vars"), "expected a mapping or file:// references")
                if reference.startswith("file://"):  # promptfoo 0.121 globs the prefix literally
                    raise origin.fail(
                        (*where, "vars"),
                        f"promptfoo reads no vars from '{reference}': name the file without "
                        "'file://'",
                    )
                for file in resolve_files(reference, origin, (*where, "vars")):
                    data, _ = read_structured(
                        file, display_of(file, self.root_folder, self.display)
                    )
                    if not isinstance(data, dict):
                        raise origin.fail(
                            (*where, "vars"), f"{file.name} does not hold a mapping of vars"
                        )
                    merged.update(data)
            return merged
        if not isinstance(raw, dict):
            raise origin.fail((*where, "vars"), "expected a mapping")
        return dict(raw)

    def asserts_of(
        self, test: dict[str, Any], origin: Origin, where: KeyPath
    ) -> list[tuple[dict[str, Any], KeyPath]]:
        raw = test.get("assert")
        if raw is None:
            return []
        if not isinstance(raw, list):
            raise origin.fail((*where, "assert"), "expected a list")
        found = []
        for index, item in enumerate(raw):
            a_where = (*where, "assert", index)
            if isinstance(item, dict) and "$ref" in item:
                item = self.dereference(item, origin, a_where)
            if not isinstance(item, dict) or "type" not in item:
                raise origin.fail(a_where, "expected an assertion (a mapping with a 'type')")
            found.append((item, a_where))
        return found

    def dereference(self, item: dict[str, Any], origin: Origin, where: KeyPath) -> Any:
        reference = item["$ref"]
        if len(item) > 1:
            raise origin.fail(where, "keys beside '$ref' are not supported here")
        match = re.fullmatch(r"#/assertionTemplates/(.+)", str(reference))
        if (
            not match
            or not isinstance(self.templates, dict)
            or match.group(1) not in self.templates
        ):
            raise origin.fail(
                (*where, "$ref"), f"'{reference}' names no entry of assertionTemplates"
            )
        return copy.deepcopy(self.templates[match.group(1)])

    def options_of(self, raw: Any, origin: Origin, where: KeyPath) -> dict[str, Any]:
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            raise origin.fail(where, "expected a mapping")
        check_keys(raw, OPTION_KEYS, origin, where)
        for key in ("transform", "postprocess", "transformVars"):
            if key in raw:
                check_javascript(raw[key], origin, (*where, key))
        return dict(raw)

    def cases_of(
        self, raw: RawTest, index: int, default: dict[str, Any], used: set[str]
    ) -> list[Case]:
        from migrate.evals.case import Case

        test, origin, where = raw.data, raw.origin, raw.path
        check_keys(test, TEST_KEYS, origin, where)
        options = {
            **default.get("options", {}),
            **self.options_of(test.get("options"), origin, (*where, "options")),
        }
        own_asserts = [(a, origin, p) for a, p in self.asserts_of(test, origin, where)]
        defaults = [] if options.get("disableDefaultAsserts") is True else default.get("assert", [])
        specs = []
        for item, a_origin, a_where in [*defaults, *own_asserts]:
            specs.append(spec_of(item, a_origin, a_where, options, self.root_folder))
        threshold = test.get("threshold", default.get("threshold"))
        if threshold is not None and (
            isinstance(threshold, bool) or not isinstance(threshold, int | float)
        ):
            raise origin.fail((*where, "threshold"), "expected a number")
        if threshold is not None:
            specs = [dataclasses.replace(s, case_threshold=float(threshold)) for s in specs]
        variables = {**default.get("vars", {}), **self.vars_of(test, origin, where)}
        variables = transform_vars(variables, options, origin, where)
        description = test.get("description") or raw.default_description
        if test.get("id") is not None:
            from migrate.evals.case import CASE_ID, CASE_ID_RULE

            explicit = test["id"]
            if isinstance(explicit, bool) or not isinstance(explicit, str | int):
                raise origin.fail((*where, "id"), f"a case id may hold {CASE_ID_RULE}")
            if not CASE_ID.fullmatch(str(explicit)):
                raise origin.fail((*where, "id"), f"a case id may hold {CASE_ID_RULE}")
        base_id = (
            str(test["id"])
            if test.get("id") is not None
            else (_slug(description) or f"test-{index + 1}")
        )
        combinations = (
            [variables]
            if options.get("disableVarExpansion")
            else expand(variables, origin, (*where, "vars"), self.root_folder)
        )
        cases = []
        for number, combination in enumerate(combinations, start=1):
            case_id = base_id if len(combinations) == 1 else f"{base_id}-{number}"
            while case_id in used and test.get("id") is None:  # an explicit id stays as is
                case_id = f"{case_id}-{index + 1}"
            used.add(case_id)
            cases.append(
                Case(
                    id=case_id,
                    vars=load_file_vars(combination, origin, (*where, "vars"), self.root_folder),
                    checks=tuple(specs),
                    line=origin.line_of(where),
                    threshold=float(threshold) if threshold is not None else None,
                    description=description if isinstance(description, str) else None,
                    metadata={**(default.get("metadata") or {}), **(test.get("metadata") or {})},
                    prefix=str(options.get("prefix") or ""),
                    suffix=str(options.get("suffix") or ""),
                    source=origin.display,
                )
            )
            _check_rag_vars(cases[-1], origin, where)
        return cases


def _check_rag_vars(case: Case, origin: Origin, where: KeyPath) -> None:
    """The context graders need a `query` and a `context` var; promptfoo errors without."""
    for spec in case.checks:
        kind = spec.type.removeprefix("promptfoo:")
        if kind not in {"context-relevance", "context-faithfulness"}:
            continue
        # The graders are imported by the suites that use them: a planning command reads
        # every suite, and most have no context grader.
        from migrate.evals.promptfoo.graders import context_of

        if not isinstance(case.vars.get("query"), str):
            raise origin.fail((*where, "vars"), f"'{kind}' needs a 'query' var (the question)")
        if context_of(case) is None:
            raise origin.fail(
                (*where, "vars"), f"'{kind}' needs a 'context' var (text or a list of texts)"
            )


def _slug(text: Any) -> str | None:
    if not isinstance(text, str):
        return None
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:80]
    return slug or None
