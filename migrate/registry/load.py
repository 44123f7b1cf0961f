"""Load `models.yaml`: parse, validate, resolve references; every error has a line."""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from migrate.errors import InputError, Problem
from migrate.registry.schema import Dependency, Model, RegistryFile, Settings, keys_at
from migrate.yamlcache import default_cache_dir, load_yaml_cached
from migrate.yamlsource import KeyPath, Located, format_key_path

DEFAULT_REGISTRY = "models.yaml"
REGISTRY_ENV = "MIGRATE_REGISTRY"
DEPENDENCY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_LISTED = 20  # dependency ids an "unknown dependency" message lists at most


@dataclass(frozen=True)
class Registry:
    """A validated registry and where it lives (files are relative to `root`)."""

    path: Path
    content: RegistryFile
    located: Located

    @property
    def root(self) -> Path:
        return self.path.parent

    @property
    def settings(self) -> Settings:
        return self.content.settings

    @property
    def models(self) -> dict[str, Model]:
        return self.content.models

    @property
    def dependencies(self) -> dict[str, Dependency]:
        return self.content.dependencies

    def model(self, name: str) -> Model:
        return self.content.models.get(name) or Model()

    def line_of(self, *path: str | int) -> int | None:
        return self.located.line_of(path)

    def display_path(self) -> str:
        return self.located.file

    def unknown_dependency(self, name: str) -> str:
        """Why `name` is no dependency, with the closest id and the ids there are."""
        ids = list(self.dependencies)
        if not ids:
            return f"unknown dependency '{name}': {self.display_path()} has no dependencies yet"
        close = difflib.get_close_matches(name, ids, n=1, cutoff=0.6)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        shown = ", ".join(ids[:_LISTED])
        more = f" and {len(ids) - _LISTED} more" if len(ids) > _LISTED else ""
        return (
            f"unknown dependency '{name}'{hint}; the dependencies in {self.display_path()} "
            f"are: {shown}{more}"
        )


def registry_path(option: str | None) -> Path:
    """The registry file: `--registry`, else $MIGRATE_REGISTRY, else ./models.yaml."""
    return Path(option or os.environ.get(REGISTRY_ENV) or DEFAULT_REGISTRY)


def load_registry(path: Path, *, check_files: bool = True) -> Registry:
    """Read and validate a registry, raising InputError naming file, line and key."""
    display = str(path)
    if not path.exists() and not path.is_symlink():
        raise InputError([Problem(display, None, "", _not_found(path))])
    located = load_yaml_cached(path, display, default_cache_dir())
    problems: list[Problem] = []

    def problem(key_path: KeyPath, message: str) -> None:
        problems.append(
            Problem(display, located.line_of(key_path), format_key_path(key_path), message)
        )

    if not isinstance(located.data, dict):
        shape = (
            "the file has no YAML content"
            if located.data is None
            else f"the file holds a {_yaml_kind(located.data)}"
        )
        problem(
            (),
            f"{shape}; expected a mapping with 'version', 'settings', 'models' and "
            "'dependencies' (see `migrate init`)",
        )
        raise InputError(problems)
    try:
        content = RegistryFile.model_validate(located.data)
    except ValidationError as exc:
        for key_path, message in _explain(exc, located.data):
            problem(key_path, message)
        raise InputError(problems) from None

    files: dict[str, bool] = {}  # a thousand dependencies share a hundred prompts and suites
    for dep_id, dep in content.dependencies.items():
        where: tuple[str, ...] = ("dependencies", dep_id)
        if not DEPENDENCY_ID.fullmatch(dep_id):
            problem(
                where,
                "dependency ids may use letters, digits, '.', '_' and '-' only (they name files)",
            )
        if dep.model not in content.models:
            problem((*where, "model"), f"unknown model '{dep.model}' (add it under 'models')")
        for i, candidate in enumerate(dep.candidates):
            if candidate not in content.models:
                problem(
                    (*where, "candidates", i),
                    f"unknown model '{candidate}' (add it under 'models')",
                )
            elif candidate == dep.model:
                problem((*where, "candidates", i), "a candidate cannot be the current model")
        if check_files:
            prompts = dep.prompt if isinstance(dep.prompt, list) else [dep.prompt]
            for i, prompt in enumerate(prompts):
                if prompt is None:
                    continue
                key: KeyPath = (
                    (*where, "prompt", i) if isinstance(dep.prompt, list) else (*where, "prompt")
                )
                _check_file(path.parent, prompt, key, "prompt", problem, files)
            if dep.eval is not None:
                suite, suite_key = dep.eval.cases, (*where, "eval", "cases")
                _check_file(path.parent, suite, suite_key, "eval suite", problem, files)
    judge = content.settings.judge_model
    if judge is not None and judge not in content.models:
        problem(("settings", "judge_model"), f"unknown model '{judge}' (add it under 'models')")
    embedding = content.settings.embedding_model
    if embedding is not None and embedding not in content.models:
        problem(
            ("settings", "embedding_model"), f"unknown model '{embedding}' (add it under 'models')"
        )
    if problems:
        raise InputError(problems)
    return Registry(path=path, content=content, located=located)


def _not_found(path: Path) -> str:
    """What to do when there is no registry: a new user's first command lands here."""
    init = "migrate init" if path.parent == Path(".") else f"migrate init {path.parent}"
    if path.name != DEFAULT_REGISTRY:
        return f"file not found; check the path (`{init}` creates a {DEFAULT_REGISTRY})"
    return (
        f"file not found; no registry here yet: `{init}` creates a workspace with one, or give "
        f"its path with --registry FILE or ${REGISTRY_ENV}"
    )


def _yaml_kind(value: Any) -> str:
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return "string"
    return "single value"


def _check_file(
    root: Path, relative: str, key: KeyPath, what: str, problem: Any, seen: dict[str, bool]
) -> None:
    """Report `relative` when it names no file; `seen`: the answers so far, by name."""
    if relative not in seen:
        try:
            seen[relative] = (root / relative).is_file()
        except OSError:  # a name too long for the file system, a loop of links
            seen[relative] = False
    if not seen[relative]:
        problem(
            key, f"{what} file '{relative}' does not exist (paths are relative to the registry)"
        )


_EXPECTED = {
    "string_type": "a string",
    "list_type": "a list",
    "int_type": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "date_type": "a date, YYYY-MM-DD",
}


def _explain(exc: ValidationError, data: Any) -> list[tuple[KeyPath, str]]:
    """One (key path, message) per thing wrong.

    For a union (`prompt: str | list[str]`) pydantic reports one error per member, with the
    member's name in the location; those become one message at the real key: "expected a
    string or a list", or the errors of the member the value got inside.
    """
    groups: dict[KeyPath, dict[str, list[tuple[KeyPath, Any]]]] = {}
    out: list[tuple[KeyPath, str]] = []
    for error in exc.errors():
        real, member, union_at = _split_loc(tuple(error["loc"]), data, error["type"])
        if member is None:
            out.append(
                (
                    real,
                    _unknown_key(real) if error["type"] == "extra_forbidden" else _describe(error),
                )
            )
            continue
        groups.setdefault(real[:union_at], {}).setdefault(member, []).append((real, error))
    for at, members in groups.items():
        inside = [errs for errs in members.values() if any(len(p) > len(at) for p, _ in errs)]
        if inside:  # the value had that member's shape: its own errors say what is wrong
            out.extend(
                (p, _unknown_key(p) if e["type"] == "extra_forbidden" else _describe(e))
                for p, e in inside[0]
            )
            continue
        errors = [e for errs in members.values() for _, e in errs]
        wanted = [_EXPECTED.get(e["type"]) for e in errors]
        if all(wanted):
            expected = " or ".join(dict.fromkeys(str(w) for w in wanted))
            received = errors[0].get("input")
            out.append(
                (at, f"expected {expected} (got {type(received).__name__} {received!r})"[:300])
            )
        else:
            out.append((at, _describe(errors[0])))
    return out


def _split_loc(loc: tuple[Any, ...], data: Any, kind: str) -> tuple[KeyPath, str | None, int]:
    """The key path that exists in the data, and the union member named in `loc` if any."""
    real: list[str | int] = []
    member: str | None = None
    union_at = 0
    node = data
    for index, part in enumerate(loc):
        if isinstance(node, dict) and part in node:
            node = node[part]
            real.append(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
            real.append(part)
        elif kind == "missing" and index == len(loc) - 1:
            real.append(part)  # the missing key itself
        elif member is None and isinstance(part, str):
            member, union_at = part, len(real)  # a member's name: same value, no step
        else:
            real.append(part)
            node = None
    return tuple(real), member, union_at


def _unknown_key(path: KeyPath) -> str:
    """ "unknown key", with the valid key it most looks like, or the valid keys there."""
    allowed = keys_at(path[:-1])
    if not allowed or not isinstance(path[-1], str):
        return "unknown key"
    close = difflib.get_close_matches(path[-1], allowed, n=1, cutoff=0.6)
    if close:
        return f"unknown key (did you mean '{close[0]}'?)"
    return f"unknown key (expected one of: {', '.join(allowed)})"[:300]


def _describe(error: Any) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    if kind == "literal_error" and error["loc"] == ("version",):
        return "unsupported version (this migrate reads version: 1)"
    message = str(error["msg"])
    message = message.removeprefix("Value error, ")
    received = error.get("input")
    if kind in _EXPECTED:
        message = f"expected {_EXPECTED[kind]}"
    if kind.endswith("_type") or kind.endswith("_parsing"):
        return f"{message} (got {type(received).__name__} {received!r})"[:300]
    return message[:300]
