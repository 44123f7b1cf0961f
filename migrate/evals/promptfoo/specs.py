"""promptfoo assertions as checks: each one validated as promptfoo would use it, or refused.

Paths in assertion values (`file://check.py`) are relative to the config's folder, as
promptfoo resolves them whichever file names them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from migrate.evals.promptfoo import assertions as pf
from migrate.evals.promptfoo import jsengine
from migrate.evals.promptfoo.testfiles import Origin, read_referenced, split_values
from migrate.evals.promptfoo.yaml12 import parse_yaml12
from migrate.yamlsource import KeyPath

if TYPE_CHECKING:
    from migrate.evals.case import CheckSpec

ASSERT_KEYS = {"type", "value", "threshold", "weight", "metric", "transform", "config", "provider"}
_NODE_ONLY = re.compile(r"\brequire\s*\(|\bimport\s*\(|\bprocess\s*\.")


def check_keys(data: dict[str, Any], allowed: set[str], origin: Origin, where: KeyPath) -> None:
    for key in data:
        if key not in allowed:
            raise origin.fail(
                (*where, key), f"'{key}' is not supported here (promptfoo would act on it)"
            )


def check_javascript(code: Any, origin: Origin, where: KeyPath) -> None:
    if not isinstance(code, str):
        raise origin.fail(where, "expected JavaScript code as text")
    if code.startswith("file://"):
        raise origin.fail(
            where, "transforms from files are not supported here (inline JavaScript only)"
        )
    if _NODE_ONLY.search(code):
        raise origin.fail(
            where,
            "this JavaScript needs Node (require, import or process), "
            "which the sandbox has none of",
        )


def spec_of(
    item: dict[str, Any],
    origin: Origin,
    where: KeyPath,
    options: dict[str, Any],
    root_folder: Path,
) -> CheckSpec:
    """One promptfoo assertion as a check, with the test's options it depends on."""
    from migrate.evals.case import CheckSpec

    kind = str(item["type"])
    negate = kind.startswith("not-")
    base = kind[4:] if negate else kind
    if base not in pf.SUPPORTED:
        known = ", ".join(sorted(pf.SUPPORTED))
        raise origin.fail(
            (*where, "type"),
            f"unsupported assertion type '{kind}' (supported: {known}, each also with 'not-')",
        )
    check_keys(item, ASSERT_KEYS, origin, where)
    value = item.get("value")
    value = check_value(base, value, origin, (*where, "value"), root_folder)
    for key in ("threshold", "weight"):
        number = item.get(key)
        if number is not None and (isinstance(number, bool) or not isinstance(number, int | float)):
            raise origin.fail((*where, key), "expected a number")
    if base in pf.FROM_CALL and item.get("threshold") is None:
        raise origin.fail((*where, "threshold"), f"'{base}' needs a threshold")
    if "transform" in item:
        check_javascript(item["transform"], origin, (*where, "transform"))
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


_ENVIRONMENT = re.compile(r"\{[{%]-?[^}]*\benv\b")


def refuse_environment(value: Any, origin: Origin, where: KeyPath) -> None:
    """promptfoo fills `{{ env.NAME }}` from the environment; migrate does not (a key would
    reach the reports), and rendering it empty would misread the test: refuse it."""
    texts = value if isinstance(value, list) else [value]
    if any(isinstance(t, str) and _ENVIRONMENT.search(t) for t in texts):
        raise origin.fail(
            where,
            "'{{ env.… }}' reads the environment, which migrate never passes into a suite "
            "(a key could reach a report): write the value out",
        )


def check_value(base: str, value: Any, origin: Origin, where: KeyPath, root_folder: Path) -> Any:
    if base not in {"python", "javascript"}:
        refuse_environment(value, origin, where)
    if isinstance(value, str) and value.startswith("file://"):
        if base in {"python", "javascript"}:
            return _script_file(base, value, origin, where, root_folder)
        value = _value_file(value, origin, where, root_folder)
    elif isinstance(value, list):
        value = [
            _value_file(v, origin, where, root_folder)
            if isinstance(v, str) and v.startswith("file://")
            else v
            for v in value
        ]
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
            check_javascript(value, origin, where)
    elif base == "python":
        if not isinstance(value, str) or not value:
            raise origin.fail(where, "'python' needs code or a file:// reference")
    elif base in {"is-json", "contains-json"} and value is not None:
        schema = parse_yaml12(value, "schema").data if isinstance(value, str) else value
        _check_schema(schema, origin, where)
    elif base == "g-eval" or base in pf.EMBEDDED:
        texts = value if isinstance(value, list) else [value]
        if not texts or not all(isinstance(v, str) and v.strip() for v in texts):
            raise origin.fail(where, f"'{base}' needs text or a list of texts")
    elif base in pf.GRADED and base not in {
        "answer-relevance",
        "context-faithfulness",
        "context-relevance",
    }:
        if not isinstance(value, str) or not value.strip():
            raise origin.fail(where, f"'{base}' needs its criterion as text")
    return value


def _value_file(value: str, origin: Origin, where: KeyPath, root_folder: Path) -> Any:
    """An assertion value read from a file as promptfoo reads it: .txt as trimmed text,
    .json/.yaml as data; relative to the config's folder. Such text is not rendered with
    the vars, so one holding template syntax is refused rather than guessed."""
    file = (root_folder / value[len("file://") :]).resolve()
    suffix = file.suffix.lower()
    if suffix not in {".txt", ".json", ".yaml", ".yml"}:
        raise origin.fail(where, f"assertion values from '{file.name}' are not supported here")
    text = read_referenced(file, origin, where)
    if suffix != ".txt":
        return parse_yaml12(text, str(file)).data
    if "{{" in text or "{%" in text:
        raise origin.fail(
            where, f"'{file.name}' holds template syntax, which promptfoo does not render"
        )
    return text.strip()


def _script_file(
    base: str, value: str, origin: Origin, where: KeyPath, root_folder: Path
) -> dict[str, Any]:
    """A `file://x.py[:fn]` or `file://x.js[:fn]` assertion, read now (relative to the config)."""
    target, _, function = value[len("file://") :].partition(":")
    suffixes = {".py"} if base == "python" else {".js", ".cjs"}
    if Path(target).suffix not in suffixes:
        raise origin.fail(
            where, f"a {base} assertion file must end in {' or '.join(sorted(suffixes))}"
        )
    file = (root_folder / target).resolve()  # promptfoo's basePath, whichever file names it
    source = read_referenced(file, origin, where)
    if base == "javascript":
        check_javascript(source, origin, where)
        if re.search(r"^\s*(import|export)\s", source, re.MULTILINE):
            raise origin.fail(
                where, "ES modules are not supported here (CommonJS module.exports only)"
            )
    default = "get_assert" if base == "python" else ""
    return {"file": target, "function": function or default, "source": source}


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


_PROVIDER_CONFIG = {"apiBaseUrl", "apiHost", "temperature", "max_tokens", "apiKeyEnvar"}


def _check_provider(provider: Any, origin: Origin, where: KeyPath) -> None:
    """A grader: a provider id, {id, config}, or {text: ..., embedding: ...} for both kinds."""
    if isinstance(provider, dict) and "id" not in provider and provider:
        for kind, one in provider.items():
            if kind not in {"text", "embedding"}:
                raise origin.fail((*where, kind), f"grader provider key '{kind}' is not supported")
            _check_provider(one, origin, (*where, kind))
        return
    provider_id = provider.get("id") if isinstance(provider, dict) else provider
    if not isinstance(provider_id, str) or grader_model(provider_id) is None:
        known = ", ".join(f"{p}:" for p in sorted(_LITELLM_PREFIX))
        raise origin.fail(
            where, f"grader provider {json.dumps(provider_id)} is not supported here ({known})"
        )
    if isinstance(provider, dict):
        unknown = set(provider.get("config") or {}) - _PROVIDER_CONFIG
        unknown |= set(provider) - {"id", "config", "label"}
        if unknown:
            raise origin.fail(
                where, f"grader provider key '{sorted(unknown)[0]}' is not supported here"
            )


# promptfoo's provider prefixes and litellm's; a word between them and the model name that
# only says which API (chat, messages, embedding...) is dropped.
_LITELLM_PREFIX = {
    "openai": "openai",
    "anthropic": "anthropic",
    "azure": "azure",
    "ollama": "ollama",
    "mistral": "mistral",
    "groq": "groq",
    "cohere": "cohere",
    "deepseek": "deepseek",
    "google": "gemini",
    "vertex": "vertex_ai",
    "bedrock": "bedrock",
}
_API_WORDS = {"chat", "completion", "responses", "messages", "embedding", "embeddings"}


def grader_model(provider_id: str) -> str | None:
    """The litellm model name of a promptfoo provider id (`openai:chat:gpt-4o` -> openai/gpt-4o)."""
    prefix, _, rest = provider_id.partition(":")
    if prefix not in _LITELLM_PREFIX or not rest:
        return None
    head, _, tail = rest.partition(":")
    model = tail if head in _API_WORDS and tail else rest
    return f"{_LITELLM_PREFIX[prefix]}/{model}" if model else None
