"""How providers spell model ids: provider prefixes, Bedrock regions and dated aliases.

Registry ids use litellm's naming, `<provider>/<model>` (`openai/gpt-4o-2024-08-06`,
`bedrock/anthropic.claude-sonnet-4-5-20250929-v1:0`). litellm's model map keys some models
bare (`gpt-4o-2024-08-06`, provider `openai`) and others prefixed (`gemini/gemini-2.5-pro`).
Everything here is pure string logic, shared by `migrate sync` and `migrate scan`.
"""

from __future__ import annotations

import re

# litellm provider names that describe the same API (for matching) under one family name.
_FAMILY_ALIASES = {
    "bedrock_converse": "bedrock",
    "text-completion-openai": "openai",
    "cohere_chat": "cohere",
    "text-completion-codestral": "codestral",
}

# Route segments litellm accepts after `bedrock/` that do not name the model.
_BEDROCK_ROUTES = ("converse/", "invoke/", "converse_like/")

# Cross-region inference profiles (`us.anthropic...`) and regional paths (`us-east-1/...`).
_REGION_PREFIX = re.compile(r"^(?:us|eu|apac|ap|au|jp|ca|sa|global|us-gov)\.(?=[a-z0-9-]+\.)")
_REGION_PATH = re.compile(r"^[a-z]{2}(?:-gov)?-[a-z]+-\d+/")

# Suffixes that pin a snapshot of the same model: dates, versions, `-latest`.
_SNAPSHOT_SUFFIXES = (
    re.compile(r"@[\w.-]*$"),  # vertex_ai/claude-3-5-haiku@20241022
    re.compile(r"-v\d+(?::\d+)?$"),  # bedrock ...-v1:0
    re.compile(r"-\d{4}-\d{2}-\d{2}$"),  # gpt-4o-2024-08-06
    re.compile(r"-\d{8}$"),  # claude-sonnet-4-5-20250929
    re.compile(r"-\d{2}-\d{4}$"),  # gemini-...-preview-09-2025
    re.compile(r"-\d{2}-\d{2}$"),  # gemini-2.5-pro-preview-06-05
    re.compile(r"-\d{3,4}$"),  # gpt-4-0613, mistral-large-2512, gemini-1.5-pro-001
    re.compile(r"-latest$"),
)

_HAS_LETTER = re.compile(r"[A-Za-z]")
_HAS_DIGIT_OR_HYPHEN = re.compile(r"[0-9-]")


def family(provider: str | None) -> str | None:
    """The provider family used for matching (`bedrock_converse` is `bedrock`)."""
    if provider is None:
        return None
    provider = provider.lower()
    if provider.startswith("vertex_ai"):
        return "vertex_ai"
    return _FAMILY_ALIASES.get(provider, provider)


def split_model_id(model_id: str) -> tuple[str | None, str]:
    """A registry id's provider family and its name without the provider prefix."""
    provider, sep, rest = model_id.partition("/")
    if not sep or not provider or not rest:
        return None, model_id
    fam = family(provider)
    if fam == "bedrock":
        for route in _BEDROCK_ROUTES:
            if rest.startswith(route):
                rest = rest[len(route) :]
                break
    return fam, rest


def strip_region(name: str) -> str:
    """`us.anthropic.claude-x` and `us-east-1/anthropic.claude-x` are `anthropic.claude-x`."""
    name = _REGION_PATH.sub("", name)
    return _REGION_PREFIX.sub("", name)


def base_name(name: str) -> str:
    """The model a dated or regional id is a snapshot of: `gpt-4o-2024-08-06` -> `gpt-4o`."""
    base = strip_region(name.lower())
    changed = True
    while changed:
        changed = False
        for pattern in _SNAPSHOT_SUFFIXES:
            shorter = pattern.sub("", base)
            if shorter != base and shorter:
                base, changed = shorter, True
    return base


def looks_like_model_id(token: str) -> bool:
    """Whether a bare name is specific enough to be found in text as a model id.

    `chat`, `sonar` or `o1` are words or variable names as often as models; a token counts
    only with a letter, a digit or a hyphen, and at least four characters.
    """
    return (
        len(token) >= 4
        and _HAS_LETTER.search(token) is not None
        and _HAS_DIGIT_OR_HYPHEN.search(token) is not None
    )


def registry_form(provider: str | None, key: str) -> str:
    """How a litellm map key is written as a registry id (`gpt-4o` -> `openai/gpt-4o`)."""
    fam = family(provider)
    if fam is None or ("/" in key and family(key.split("/", 1)[0]) == fam):
        return key
    if fam == "vertex_ai":
        return f"vertex_ai/{key}"
    return f"{fam}/{key}"
