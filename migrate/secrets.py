"""Keep secrets out of everything migrate writes or prints.

Keys are only ever read from the environment. Error messages from providers sometimes
echo part of a key back, so every message that is stored or shown passes through
`redact`, which removes the values of secret-looking environment variables and anything
shaped like a provider key.
"""

from __future__ import annotations

import os
import re

_SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL)", re.IGNORECASE)
_KEY_SHAPES = re.compile(
    r"(sk-[A-Za-z0-9_\-]{8,}|sk-ant-[A-Za-z0-9_\-]{8,}|AKIA[0-9A-Z]{12,}|AIza[0-9A-Za-z_\-]{20,}"
    r"|gsk_[A-Za-z0-9]{20,}|hf_[A-Za-z0-9]{20,}|xai-[A-Za-z0-9]{20,}|r8_[A-Za-z0-9]{20,}"
    r"|(?i:bearer)\s+[A-Za-z0-9._\-]{12,})"
)
_URL_CREDENTIALS = re.compile(r"(https?://)[^/\s:@]+:[^/\s@]+@")
_extra_names: set[str] = set()
MIN_SECRET_LENGTH = 6


def register_secret_env(name: str) -> None:
    """Treat this environment variable's value as a secret (a registry's api_key_env)."""
    _extra_names.add(name)


def secret_values() -> list[str]:
    values = {
        value
        for name, value in os.environ.items()
        if (name in _extra_names or _SECRET_NAME.search(name)) and len(value) >= MIN_SECRET_LENGTH
    }
    return sorted(values, key=len, reverse=True)


def looks_like_key(text: str) -> bool:
    """Whether `text` holds something shaped like a provider key (where none may be)."""
    return _KEY_SHAPES.search(text) is not None


def redact(text: str) -> str:
    for value in secret_values():
        text = text.replace(value, "[redacted]")
    text = _KEY_SHAPES.sub("[redacted]", text)
    return _URL_CREDENTIALS.sub(r"\1[redacted]@", text)
