"""Load `models.yaml`: parse, validate, resolve references; every error has a line."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from migrate.errors import InputError, Problem
from migrate.registry.schema import Dependency, Model, RegistryFile, Settings
from migrate.yamlsource import KeyPath, Located, format_key_path, load_yaml_file

DEFAULT_REGISTRY = "models.yaml"
REGISTRY_ENV = "MIGRATE_REGISTRY"
DEPENDENCY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


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


def registry_path(option: str | None) -> Path:
    """The registry file: `--registry`, else $MIGRATE_REGISTRY, else ./models.yaml."""
    return Path(option or os.environ.get(REGISTRY_ENV) or DEFAULT_REGISTRY)


def load_registry(path: Path, *, check_files: bool = True) -> Registry:
    """Read and validate a registry, raising InputError naming file, line and key."""
    display = str(path)
    located = load_yaml_file(path, display)
    problems: list[Problem] = []

    def problem(key_path: KeyPath, message: str) -> None:
        problems.append(
            Problem(display, located.line_of(key_path), format_key_path(key_path), message)
        )

    if not isinstance(located.data, dict):
        problem((), "expected a mapping with 'version', 'settings', 'models' and 'dependencies'")
        raise InputError(problems)
    try:
        content = RegistryFile.model_validate(located.data)
    except ValidationError as exc:
        for error in exc.errors():
            problem(tuple(error["loc"]), _describe(error))
        raise InputError(problems) from None

    for dep_id, dep in content.dependencies.items():
        where: tuple[str, ...] = ("dependencies", dep_id)
        if not DEPENDENCY_ID.fullmatch(dep_id):
            problem(where, "dependency ids may use letters, digits, '.', '_' and '-' only "
                    "(they name files)")
        if dep.model not in content.models:
            problem((*where, "model"), f"unknown model '{dep.model}' (add it under 'models')")
        for i, candidate in enumerate(dep.candidates):
            if candidate not in content.models:
                problem((*where, "candidates", i),
                        f"unknown model '{candidate}' (add it under 'models')")
            elif candidate == dep.model:
                problem((*where, "candidates", i), "a candidate cannot be the current model")
        if check_files:
            prompts = dep.prompt if isinstance(dep.prompt, list) else [dep.prompt]
            for i, prompt in enumerate(prompts):
                if prompt is None:
                    continue
                key = (*where, "prompt", i) if isinstance(dep.prompt, list) else (*where, "prompt")
                _check_file(path.parent, prompt, key, "prompt", problem)
            if dep.eval is not None:
                _check_file(path.parent, dep.eval.cases, (*where, "eval", "cases"), "eval suite",
                            problem)
    judge = content.settings.judge_model
    if judge is not None and judge not in content.models:
        problem(("settings", "judge_model"), f"unknown model '{judge}' (add it under 'models')")
    if problems:
        raise InputError(problems)
    return Registry(path=path, content=content, located=located)


def _check_file(root: Path, relative: str, key: KeyPath, what: str, problem: Any) -> None:
    target = root / relative
    if not target.is_file():
        problem(key, f"{what} file '{relative}' does not exist (paths are relative to "
                "the registry)")


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
    if kind.endswith("_type") or kind.endswith("_parsing"):
        return f"{message} (got {type(received).__name__} {received!r})"[:300]
    return message[:300]
