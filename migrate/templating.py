"""The one template loader of the product: a sandboxed jinja2 environment over two folders.

A template is looked up first in the workspace's own `templates/` folder (a file there with
the name of a packaged template overrides it, file by file) and then in the package data
folder `migrate/templates/`, read with importlib.resources so that it works from a wheel or
a zip. `migrate/NAME` always names the packaged template, so an override can
`{% extends "migrate/runbook.md.j2" %}` and replace single blocks.

Templates are sandboxed (a workspace template is code someone else may have written) and
strict about undefined variables (a typo must fail, not render as nothing). Markdown and
text are not escaped; templates whose name ends in `.html.j2` or `.xml.j2` (or without the
`.j2`) are autoescaped, since they show model output that may hold markup. Every failure
of a template, however it happens, becomes one `TemplateError` naming the file and line.
"""

from __future__ import annotations

import functools
import importlib.resources
import os
import re
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from migrate.console import plural
from migrate.errors import MigrateError
from migrate.files import relative_to

WORKSPACE_TEMPLATES_DIR = "templates"
PACKAGED_PREFIX = "migrate/"  # `migrate/runbook.md.j2`: the packaged one, never an override
_PACKAGE = "migrate"
_PACKAGE_DIR = "templates"
_TEMPLATE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class TemplateError(MigrateError):
    """A template cannot be found, parsed or rendered; the message names file and line."""


def packaged_template_names() -> list[str]:
    """The templates the product ships (each can be overridden in `templates/`)."""
    folder = importlib.resources.files(_PACKAGE).joinpath(_PACKAGE_DIR)
    return sorted(
        entry.name for entry in folder.iterdir() if entry.is_file() and entry.name.endswith(".j2")
    )


class _Loader(jinja2.BaseLoader):
    """Workspace `templates/NAME` first, then the packaged `migrate/templates/NAME`."""

    def __init__(self, workspace_root: Path | None) -> None:
        self.folder = None if workspace_root is None else workspace_root / WORKSPACE_TEMPLATES_DIR
        self.served: set[str] = set()  # file names handed to jinja2, to find them in tracebacks

    def override_path(self, name: str) -> Path | None:
        if self.folder is None or name.startswith(PACKAGED_PREFIX):
            return None
        path = self.folder / name
        return path if path.is_file() else None

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str | None, Callable[[], bool] | None]:
        name = template.removeprefix(PACKAGED_PREFIX)
        if not _TEMPLATE_NAME.fullmatch(name):  # no sub-folders, no '..': names are file names
            raise jinja2.TemplateNotFound(template)
        override = self.override_path(template)
        if override is not None:
            return self._from_workspace(override)
        return self._from_package(template, name)

    def _from_workspace(self, path: Path) -> tuple[str, str, Callable[[], bool]]:
        try:
            stat = path.stat()
            source = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise TemplateError(f"{path}: cannot read the template: {exc}") from None

        def uptodate() -> bool:
            try:
                now = path.stat()
            except OSError:
                return False
            return (now.st_mtime_ns, now.st_size) == (stat.st_mtime_ns, stat.st_size)

        self.served.add(str(path))
        return source, str(path), uptodate

    def _from_package(self, template: str, name: str) -> tuple[str, str, Callable[[], bool]]:
        resource = importlib.resources.files(_PACKAGE).joinpath(_PACKAGE_DIR, name)
        if not resource.is_file():
            raise jinja2.TemplateNotFound(template)
        source = resource.read_text(encoding="utf-8")
        filename = f"{_PACKAGE}/{_PACKAGE_DIR}/{name}"  # a stable name for messages
        self.served.add(filename)

        # Stale once the workspace adds an override; asked at every render, so a plain
        # string and os.path rather than a Path built each time.
        override = (
            None
            if self.folder is None or template.startswith(PACKAGED_PREFIX)
            else os.path.join(self.folder, name)
        )

        def uptodate() -> bool:
            return override is None or not os.path.isfile(override)

        return source, filename, uptodate


_DICT_ATTRIBUTES = frozenset(dir(dict))


class _Environment(SandboxedEnvironment):
    """The sandbox, with `x.key` on a plain dict looked up without the failed attribute
    lookup first: a runbook's context is dicts, and jinja2 raised and caught an
    AttributeError for each of its hundred-odd lookups. The answer is the same: a plain
    dict has no attribute but those of `dict`, and jinja2 falls back to the item."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except LookupError:
                return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)


class Templates:
    """Templates of one workspace (or of the package alone when `workspace_root` is None)."""

    def __init__(self, workspace_root: Path | None) -> None:
        self._loader = _Loader(workspace_root)
        self.environment = _Environment(
            loader=self._loader,
            undefined=jinja2.StrictUndefined,
            autoescape=_autoescape,
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=True,
        )
        self.environment.filters["oneline"] = oneline
        self.environment.filters["plural"] = plural

    def source_of(self, name: str) -> str:
        """Where `name` would be read from: the override's path or `migrate/templates/NAME`."""
        override = self._loader.override_path(name)
        if override is not None:
            return str(override)
        return f"{_PACKAGE}/{_PACKAGE_DIR}/{name.removeprefix(PACKAGED_PREFIX)}"

    def render(self, name: str, context: Mapping[str, Any]) -> str:
        """Render template `name` with `context`; any failure is one TemplateError."""
        try:
            template = self.environment.get_template(name)
        except jinja2.TemplateNotFound as exc:
            raise TemplateError(
                f"template '{exc.name}' not found (in {WORKSPACE_TEMPLATES_DIR}/ or the "
                f"packaged templates: {', '.join(packaged_template_names())})"
            ) from None
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(_located(exc.filename or name, exc.lineno, exc.message)) from None
        try:
            return template.render(dict(context))
        except TemplateError:
            raise
        except jinja2.TemplateSyntaxError as exc:  # an included template that does not parse
            raise TemplateError(_located(exc.filename or name, exc.lineno, exc.message)) from None
        except Exception as exc:  # anything a template's code raises is the template's fault
            frames = _template_frames(exc, self._loader.served)
            filename, line = frames[-1] if frames else (template.filename or name, None)
            if isinstance(exc, jinja2.TemplateNotFound):
                what = f"template '{exc.name}' not found"
            elif isinstance(exc, jinja2.TemplateError):
                what = str(exc)
            else:
                what = f"{type(exc).__name__}: {exc}"
            message = _located(filename, line, what)
            if frames and frames[0] != frames[-1]:  # failed inside a macro or a parent template
                message += f" (from {_where(*frames[0])})"
            raise TemplateError(message) from None


def _where(filename: str, line: int | None) -> str:
    filename = relative_to(Path(filename), Path.cwd())
    return f"{filename}:{line}" if line else filename


def _located(filename: str, line: int | None, message: str | None) -> str:
    text = " ".join((message or "error").split())  # one line, whatever jinja2 said
    return f"{_where(filename, line)}: template error: {text}"


def _template_frames(exc: BaseException, template_files: set[str]) -> list[tuple[str, int]]:
    """The traceback's frames inside templates, outermost first (jinja2 rewrites frames so
    that they carry the template's file name and line)."""
    return [
        (frame.filename, frame.lineno or 0)
        for frame in traceback.extract_tb(exc.__traceback__)
        if frame.filename in template_files
    ]


def _autoescape(name: str | None) -> bool:
    """Escape HTML and XML templates (`report.html.j2`), never Markdown or plain text."""
    if name is None:
        return False
    return name.lower().removesuffix(".j2").endswith((".html", ".htm", ".xml", ".svg"))


def oneline(value: Any) -> str:
    """Collapse all whitespace, newlines included, to single spaces (for one-line fields)."""
    return " ".join(str(value).split())


@functools.lru_cache(maxsize=16)
def _templates_for(root: Path | None) -> Templates:
    return Templates(root)


def templates_for(workspace_root: Path | None) -> Templates:
    """The (cached) templates of a workspace; compiled templates are reused across calls and
    recompiled when a workspace file changes."""
    return _templates_for(None if workspace_root is None else workspace_root.absolute())


def render_template(name: str, context: Mapping[str, Any], workspace_root: Path | None) -> str:
    """Render template `name` (workspace override first, then packaged) with `context`.

    Raises TemplateError (exit code 2) with `file:line: template error: ...` on any failure.
    """
    return templates_for(workspace_root).render(name, context)
