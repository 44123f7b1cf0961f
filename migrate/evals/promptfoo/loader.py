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
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from migrate.evals.promptfoo import assertions as pf
from migrate.evals.promptfoo import jsengine
from migrate.evals.promptfoo.testfiles import (
    Origin,
    RawTest,
    csv_rows,
    display_of,
    read_structured,
    resolve_files,
    split_values,
    test_from_csv_row,
)
from migrate.evals.promptfoo.yaml12 import parse_yaml12
from migrate.yamlsource import KeyPath, read_text_limited

if TYPE_CHECKING:
    from migrate.evals.suite import Case, CheckSpec

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
ASSERT_KEYS = {"type", "value", "threshold", "weight", "metric", "transform", "config", "provider"}
_NODE_ONLY = re.compile(r"\brequire\s*\(|\bimport\s*\(|\bprocess\s*\.")


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
                f"tests from '{reference}' are not supported here (only YAML, JSON, JSONL and CSV files)",
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
        self.check_keys(raw, TEST_KEYS - {"id", "description"}, origin, where)
        default = dict(raw)
        default["vars"] = self.vars_of(raw, origin, where)
        default["assert"] = [(a, origin, p) for a, p in self.asserts_of(raw, origin, where)]
        default["options"] = self.options_of(raw.get("options"), origin, (*where, "options"))
        return default

    # --- one test -------------------------------------------------------------------------

    def check_keys(
        self, data: dict[str, Any], allowed: set[str], origin: Origin, where: KeyPath
    ) -> None:
        for key in data:
            if key not in allowed:
                raise origin.fail(
                    (*where, key), f"'{key}' is not supported here (promptfoo would act on it)"
                )

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
        self.check_keys(raw, OPTION_KEYS, origin, where)
        for key in ("transform", "postprocess", "transformVars"):
            if key in raw:
                self.check_javascript(raw[key], origin, (*where, key))
        return dict(raw)

    def check_javascript(self, code: Any, origin: Origin, where: KeyPath) -> None:
        if not isinstance(code, str):
            raise origin.fail(where, "expected JavaScript code as text")
        if code.startswith("file://"):
            raise origin.fail(
                where, "transforms from files are not supported here (inline JavaScript only)"
            )
        if _NODE_ONLY.search(code):
            raise origin.fail(
                where,
                "this JavaScript needs Node (require, import or process), which the sandbox has none of",
            )

    def cases_of(
        self, raw: RawTest, index: int, default: dict[str, Any], used: set[str]
    ) -> list[Case]:
        from migrate.evals.suite import Case

        test, origin, where = raw.data, raw.origin, raw.path
        self.check_keys(test, TEST_KEYS, origin, where)
        options = {
            **default.get("options", {}),
            **self.options_of(test.get("options"), origin, (*where, "options")),
        }
        own_asserts = [(a, origin, p) for a, p in self.asserts_of(test, origin, where)]
        defaults = [] if options.get("disableDefaultAsserts") is True else default.get("assert", [])
        specs = []
        for item, a_origin, a_where in [*defaults, *own_asserts]:
            specs.append(self.spec_of(item, a_origin, a_where, options))
        threshold = test.get("threshold", default.get("threshold"))
        if threshold is not None and (
            isinstance(threshold, bool) or not isinstance(threshold, int | float)
        ):
            raise origin.fail((*where, "threshold"), "expected a number")
        variables = {**default.get("vars", {}), **self.vars_of(test, origin, where)}
        variables = self.transform_vars(variables, options, origin, where)
        description = test.get("description") or raw.default_description
        if test.get("id") is not None:
            from migrate.evals.suite import CASE_ID, CASE_ID_RULE

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
            else self.expand(variables, origin, (*where, "vars"))
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
                    vars=self.load_file_vars(combination, origin, (*where, "vars")),
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
        return cases

    def transform_vars(
        self, variables: dict[str, Any], options: dict[str, Any], origin: Origin, where: KeyPath
    ) -> dict[str, Any]:
        code = options.get("transformVars")
        if not code:
            return variables
        body = code if "\n" in code else f"return {code}"
        try:
            result = jsengine.call_function(
                ["vars", "context", "process"], body, [variables, {"prompt": {}}, {}]
            )
        except jsengine.JsError as exc:
            raise origin.fail(
                (*where, "options", "transformVars"), f"transformVars failed: {exc}"
            ) from None
        if result.kind != "object":
            raise origin.fail(
                (*where, "options", "transformVars"), "transformVars must return an object"
            )
        return {**variables, **result.value}

    def expand(
        self, variables: dict[str, Any], origin: Origin, where: KeyPath
    ) -> list[dict[str, Any]]:
        combinations: list[dict[str, Any]] = [{}]
        for key, value in variables.items():
            if isinstance(value, str) and value.startswith("file://"):
                values: list[Any] = [
                    f"file://{p}"
                    for p in resolve_files(
                        value,
                        Origin(origin.display, self.root_folder, origin.located, origin.lines),
                        (*where, key),
                    )
                ]
            elif isinstance(value, list) and value and isinstance(value[0], str):
                values = value
            elif isinstance(value, list) and not value:
                values = []
            else:
                values = [value]
            combinations = [{**c, key: v} for c in combinations for v in values]
        return combinations

    def load_file_vars(
        self, variables: dict[str, Any], origin: Origin, where: KeyPath
    ) -> dict[str, Any]:
        loaded = {}
        for key, value in variables.items():
            if isinstance(value, str) and value.startswith("file://"):
                # relative to the config's folder, whichever file names it (as promptfoo)
                file = self.root_folder / value[7:]
                if (
                    file.suffix.lower() in {".js", ".mjs", ".cjs", ".ts", ".py", ".pdf"}
                    or file.suffix.lower() in _MEDIA
                ):
                    raise origin.fail(
                        (*where, key),
                        f"vars from '{file.name}' are not supported here (text, JSON and YAML files only)",
                    )
                text = read_text_limited(file, str(file))
                if file.suffix.lower() in {".yaml", ".yml"}:
                    from migrate.evals.promptfoo.jsvalues import json_stringify

                    value = json_stringify(parse_yaml12(text, str(file)).data)
                else:
                    value = text.strip()
            if isinstance(value, str) and value.endswith("\n"):
                value = value[:-1]  # promptfoo drops one trailing newline of every var
            loaded[key] = value
        return resolve_variables(loaded)

    # --- one assertion --------------------------------------------------------------------

    def spec_of(
        self, item: dict[str, Any], origin: Origin, where: KeyPath, options: dict[str, Any]
    ) -> CheckSpec:
        from migrate.evals.suite import CheckSpec

        self.check_keys(item, ASSERT_KEYS, origin, where)
        kind = str(item["type"])
        negate = kind.startswith("not-")
        base = kind[4:] if negate else kind
        if base not in pf.SUPPORTED:
            known = ", ".join(sorted(pf.SUPPORTED))
            raise origin.fail(
                (*where, "type"),
                f"unsupported assertion type '{kind}' (supported: {known}, each also with 'not-')",
            )
        value = item.get("value")
        value = self.check_value(base, value, origin, (*where, "value"))
        for key in ("threshold", "weight"):
            number = item.get(key)
            if number is not None and (
                isinstance(number, bool) or not isinstance(number, int | float)
            ):
                raise origin.fail((*where, key), "expected a number")
        if base in pf.FROM_CALL and item.get("threshold") is None:
            raise origin.fail((*where, "threshold"), f"'{base}' needs a threshold")
        if "transform" in item:
            self.check_javascript(item["transform"], origin, (*where, "transform"))
        provider = item.get("provider", options.get("provider"))
        if provider is not None and base in pf.GRADED | pf.EMBEDDED:
            _check_provider(provider, origin, (*where, "provider"))
        transform = options.get("transform") or options.get("postprocess")
        return CheckSpec(
            type=pf.PREFIX + base,
            value=value,
            negate=negate,
            threshold=float(item["threshold"]) if item.get("threshold") is not None else None,
            weight=float(item.get("weight", 1.0)),
            metric=item.get("metric"),
            transform=item.get("transform"),
            output_transform=transform,
            config=item.get("config"),
            provider=provider if base in pf.GRADED | pf.EMBEDDED else None,
        )

    def check_value(self, base: str, value: Any, origin: Origin, where: KeyPath) -> Any:
        if isinstance(value, str) and value.startswith("file://") and base not in {"python"}:
            raise origin.fail(
                where, "assertion values from files are only supported for python here"
            )
        if base in {"contains-any", "icontains-any", "contains-all", "icontains-all"}:
            if isinstance(value, str):
                value = split_values(value, origin, where) if "{{" not in value else value
            if not value or not isinstance(value, list | str):
                raise origin.fail(where, f"'{base}' needs a list of values")
        elif base in {"contains", "icontains"}:
            if isinstance(value, bool) or not isinstance(value, str | int | float) or value == "":
                raise origin.fail(where, f"'{base}' needs a string or number value")
        elif base in {"starts-with", "regex", "levenshtein", "rouge-n", "javascript"}:
            if not isinstance(value, str) or not value:
                raise origin.fail(where, f"'{base}' needs a string value")
            if base == "regex" and "{{" not in value:
                error = jsengine.regex_error(value)
                if error:
                    raise origin.fail(where, f"JavaScript rejects this regular expression: {error}")
            if base == "javascript":
                self.check_javascript(value, origin, where)
        elif base == "python":
            if not isinstance(value, str) or not value:
                raise origin.fail(where, "'python' needs code or a file:// reference")
            if value.startswith("file://"):
                target, _, function = value[7:].partition(":")
                file = (self.root_folder / target).resolve()  # promptfoo's basePath
                source = read_text_limited(file, str(file))
                return {"file": target, "function": function or "get_assert", "source": source}
        elif base in {"is-json", "contains-json"} and value is not None:
            schema = parse_yaml12(value, "schema").data if isinstance(value, str) else value
            _check_schema(schema, origin, where)
        elif base in pf.GRADED and base not in {
            "answer-relevance",
            "context-faithfulness",
            "context-relevance",
        }:
            if not isinstance(value, str) or not value.strip():
                raise origin.fail(where, f"'{base}' needs its criterion as text")
        return value


_MEDIA = {
    ".png",
    ".jpg",
    ".jpeg",
    ".gif",
    ".webp",
    ".bmp",
    ".svg",
    ".tif",
    ".tiff",
    ".mp3",
    ".wav",
    ".mp4",
}
# Every keyword ajv (draft-07, strict) accepts; ajv refuses a schema with any other.
_SCHEMA_KEYWORDS = set(
    "$id $schema $ref $comment definitions title description default examples readOnly "
    "writeOnly type enum const multipleOf maximum exclusiveMaximum minimum exclusiveMinimum "
    "maxLength minLength pattern format items additionalItems maxItems minItems uniqueItems "
    "contains maxProperties minProperties required properties patternProperties "
    "additionalProperties dependencies propertyNames if then else allOf anyOf oneOf not "
    "contentMediaType contentEncoding nullable discriminator".split()
)
_SUBSCHEMA_MAPS = {"properties", "patternProperties", "definitions", "dependencies"}


def _check_schema(schema: Any, origin: Origin, where: KeyPath) -> None:
    import jsonschema

    if not isinstance(schema, dict):
        raise origin.fail(where, "expected a JSON schema (a mapping)")
    try:
        jsonschema.Draft7Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise origin.fail(where, f"not a valid JSON schema: {exc.message}") from None
    _strict_keywords(schema, origin, where)


def _strict_keywords(schema: Any, origin: Origin, where: KeyPath) -> None:
    if isinstance(schema, list):
        for item in schema:
            _strict_keywords(item, origin, where)
        return
    if not isinstance(schema, dict):
        return
    for key, value in schema.items():
        if key not in _SCHEMA_KEYWORDS:
            raise origin.fail(
                where, f"unknown JSON schema keyword '{key}' (promptfoo's ajv refuses it)"
            )
        if key in _SUBSCHEMA_MAPS and isinstance(value, dict):
            for sub in value.values():
                _strict_keywords(sub, origin, where)
        elif key not in {"enum", "const", "default", "examples", "required", "type"}:
            _strict_keywords(value, origin, where)


def _check_provider(provider: Any, origin: Origin, where: KeyPath) -> None:
    provider_id = provider.get("id") if isinstance(provider, dict) else provider
    if not isinstance(provider_id, str) or grader_model(provider_id) is None:
        raise origin.fail(
            where,
            f"grader provider {json.dumps(provider_id)} is not supported here (openai:, anthropic:, azure:, ollama: ids)",
        )
    if isinstance(provider, dict):
        config = provider.get("config") or {}
        unknown = set(config) - {"apiBaseUrl", "temperature", "max_tokens", "apiKeyEnvar"}
        unknown |= set(provider) - {"id", "config", "label"}
        if unknown:
            raise origin.fail(
                where, f"grader provider key '{sorted(unknown)[0]}' is not supported here"
            )


def grader_model(provider_id: str) -> str | None:
    """The litellm model name of a promptfoo provider id (`openai:chat:gpt-4o` -> openai/gpt-4o)."""
    parts = provider_id.split(":")
    if parts[0] not in {"openai", "anthropic", "azure", "ollama"} or len(parts) < 2:
        return None
    if parts[0] == "openai" and parts[1] in {"chat", "responses"}:
        parts = [parts[0], *parts[2:]]
    if parts[0] == "anthropic" and parts[1] == "messages":
        parts = [parts[0], *parts[2:]]
    if parts[0] in {"azure", "ollama"} and parts[1] in {"chat", "completion"}:
        parts = [parts[0], *parts[2:]]
    if len(parts) != 2 or not parts[1]:
        return None
    return f"{parts[0]}/{parts[1]}"


_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")


def resolve_variables(variables: dict[str, Any]) -> dict[str, Any]:
    """Vars that name other vars (`{{greeting}} world`), substituted as promptfoo does: the
    first placeholder of each text var per round, at most five rounds."""
    from migrate.evals.promptfoo.jsvalues import js_string

    for _ in range(5):
        resolved = True
        for key, value in variables.items():
            if not isinstance(value, str):
                continue
            match = _PLACEHOLDER.search(value)
            if match and variables.get(match.group(1)) is not None:
                replacement = _js_replacement(js_string(variables[match.group(1)]), value, match)
                variables[key] = value[: match.start()] + replacement + value[match.end() :]
                resolved = False
        if resolved:
            break
    return variables


def _js_replacement(replacement: str, subject: str, match: re.Match[str]) -> str:
    """JavaScript's String.replace reads `$$`, `$&`, `` $` `` and `$'` in a replacement."""
    patterns = {
        "$": "$",
        "&": match.group(0),
        "`": subject[: match.start()],
        "'": subject[match.end() :],
    }
    return re.sub(r"\$([$&`'])", lambda m: patterns[m.group(1)], replacement)


def _slug(text: Any) -> str | None:
    if not isinstance(text, str):
        return None
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:80]
    return slug or None
