"""promptfoo's vars: `transformVars`, list vars expanded into combinations, `file://` vars
read (relative to the config's folder), one trailing newline dropped, vars named in vars."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from migrate.evals.promptfoo import jsengine
from migrate.evals.promptfoo.specs import refuse_environment
from migrate.evals.promptfoo.testfiles import Origin, read_referenced, resolve_files
from migrate.evals.promptfoo.yaml12 import parse_yaml12
from migrate.yamlsource import KeyPath

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


def transform_vars(
    variables: dict[str, Any], options: dict[str, Any], origin: Origin, where: KeyPath
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
    variables: dict[str, Any], origin: Origin, where: KeyPath, root_folder: Path
) -> list[dict[str, Any]]:
    combinations: list[dict[str, Any]] = [{}]
    for key, value in variables.items():
        refuse_environment(value, origin, (*where, key))
        if isinstance(value, str) and value.startswith("file://"):
            values: list[Any] = [
                f"file://{p}"
                for p in resolve_files(
                    value,
                    Origin(origin.display, root_folder, origin.located, origin.lines),
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
    variables: dict[str, Any], origin: Origin, where: KeyPath, root_folder: Path
) -> dict[str, Any]:
    loaded = {}
    for key, value in variables.items():
        if isinstance(value, str) and value.startswith("file://"):
            # relative to the config's folder, whichever file names it (as promptfoo)
            file = root_folder / value[7:]
            if (
                file.suffix.lower() in {".js", ".mjs", ".cjs", ".ts", ".py", ".pdf"}
                or file.suffix.lower() in _MEDIA
            ):
                raise origin.fail(
                    (*where, key),
                    f"vars from '{file.name}' are not supported here "
                    "(text, JSON and YAML files only)",
                )
            text = read_referenced(file, origin, (*where, key))
            if file.suffix.lower() in {".yaml", ".yml"}:
                from migrate.evals.promptfoo.jsvalues import json_stringify

                value = json_stringify(parse_yaml12(text, str(file)).data)
            else:
                value = text.strip()
        if isinstance(value, str) and value.endswith("\n"):
            value = value[:-1]  # promptfoo drops one trailing newline of every var
        loaded[key] = value
    return resolve_variables(loaded)


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
