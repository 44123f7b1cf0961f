"""Render a dependency's prompt template into chat messages for one case.

The prompt is a jinja2 template. Lines `[system]`, `[user]` and `[assistant]` on their own
start a message of that role; text before the first marker (or a template without markers)
is the user message.
"""

from __future__ import annotations

import re
import traceback
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from migrate.errors import InputError, Problem

_ROLE_LINE = re.compile(r"^\[(system|user|assistant)\][ \t]*$", re.MULTILINE)

Message = dict[str, str]


@lru_cache(maxsize=1)
def environment() -> SandboxedEnvironment:
    # Sandboxed: prompt templates and check values come from the workspace, not from us.
    return SandboxedEnvironment(
        undefined=jinja2.StrictUndefined, keep_trailing_newline=False, autoescape=False
    )


class PromptTemplate:
    """A compiled prompt, renderable per case."""

    def __init__(self, source: str, display: str) -> None:
        self.source = source
        self.display = display
        try:
            self.template = environment().from_string(source)
        except jinja2.TemplateSyntaxError as exc:
            raise InputError(
                [Problem(display, exc.lineno, "", f"template error: {exc.message}")]
            ) from None

    @classmethod
    def from_file(cls, path: Path, display: str) -> PromptTemplate:
        from migrate.yamlsource import read_text_limited

        return cls(read_text_limited(path, display), display)

    def render(
        self, variables: dict[str, Any], case_id: str, case_line: int | None, suite_display: str
    ) -> list[Message]:
        try:
            text = self.template.render(**variables)
        except jinja2.UndefinedError as exc:
            raise InputError(
                [
                    Problem(
                        suite_display,
                        case_line,
                        "vars",
                        f"case '{case_id}': {exc.message} (used by the prompt {self.display})",
                    )
                ]
            ) from None
        except jinja2.TemplateError as exc:  # the sandbox refusing an attribute, ...
            raise InputError(
                [Problem(self.display, _template_line(exc), "", f"case '{case_id}': {exc}")]
            ) from None
        except Exception as exc:  # {{ 1 / 0 }}, {{ x + 1 }} on a string: the template's fault
            what = f"case '{case_id}': {type(exc).__name__}: {exc}"
            raise InputError([Problem(self.display, _template_line(exc), "", what)]) from None
        return split_messages(text)


def _template_line(exc: BaseException) -> int | None:
    """The template line being rendered when `exc` was raised (jinja2 rewrites traceback
    frames to carry it)."""
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == "<template>":
            line = frame.lineno
    return line


def split_messages(text: str) -> list[Message]:
    parts = _ROLE_LINE.split(text)
    messages: list[Message] = []
    head = parts[0].strip()
    if head:
        messages.append({"role": "user", "content": head})
    for role, content in zip(parts[1::2], parts[2::2], strict=True):
        content = content.strip()
        if content:
            messages.append({"role": role, "content": content})
    if not any(m["role"] == "user" for m in messages):
        messages.append({"role": "user", "content": ""})
    return messages
