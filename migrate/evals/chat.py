"""Chat messages as a request carries them: `[{role, content}]`, validated before a run
sends them as they are (a suite case's own `messages`, a logged request being imported)."""

from __future__ import annotations

from typing import Any

from migrate.errors import InputError, Problem

CHAT_ROLES = ("system", "user", "assistant")


def chat_messages(raw: Any, display: str, line: int | None, where: str) -> list[dict[str, str]]:
    """A request's chat messages as `[{role, content}]`, or InputError naming the message.

    Text content may be a string or a list of text parts (OpenAI's shape); images, audio,
    tool calls and tool results are refused: a run could not send them as they were sent.
    OpenAI fine-tuning's `weight` on a message only matters to training and is dropped.
    """
    if not isinstance(raw, list) or not raw:
        raise InputError([Problem(display, line, where, "expected a non-empty list of messages")])
    messages = []
    for index, message in enumerate(raw):
        at = f"{where}[{index}]"
        if not isinstance(message, dict):
            raise InputError([Problem(display, line, at, "expected an object")])
        unknown = sorted(set(message) - {"role", "content", "weight"})
        if unknown:
            reason = (
                "tool calls cannot be replayed"
                if unknown[0] in {"tool_calls", "function_call", "tool_call_id"}
                else "unknown key"
            )
            raise InputError([Problem(display, line, f"{at}.{unknown[0]}", reason)])
        role = message.get("role")
        if role not in CHAT_ROLES:
            raise InputError(
                [
                    Problem(
                        display,
                        line,
                        f"{at}.role",
                        f"role {role!r} is not one of {', '.join(CHAT_ROLES)}",
                    )
                ]
            )
        messages.append(
            {
                "role": role,
                "content": _text_content(message.get("content"), display, line, f"{at}.content"),
            }
        )
    if not any(m["role"] == "user" for m in messages):
        raise InputError([Problem(display, line, where, "no user message")])
    return messages


def _text_content(content: Any, display: str, line: int | None, where: str) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for index, part in enumerate(content):
            if not (isinstance(part, dict) and part.get("type") == "text"):
                kind = part.get("type") if isinstance(part, dict) else type(part).__name__
                message = f"only text parts can be replayed, not {kind!r}"
                raise InputError([Problem(display, line, f"{where}[{index}]", message)])
            if not isinstance(part.get("text"), str):
                raise InputError(
                    [Problem(display, line, f"{where}[{index}].text", "expected text")]
                )
            texts.append(part["text"])
        return "".join(texts)
    raise InputError([Problem(display, line, where, "expected text")])
