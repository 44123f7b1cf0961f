"""Lifecycle sources read into plain records: litellm's bundled model map and a feed.

litellm's map is read as the JSON file inside the installed package, located without
importing litellm (the import costs seconds and may reach for the network). A feed is a
file or an http(s) URL in the deprecations.info format: a list (or an object holding a
list) of entries with `provider`, `model_id`, `announcement_date`, `shutdown_date`,
`replacement_model` or `replacement_models`, and `url`.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import importlib.util
import json
import re
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from migrate import __version__
from migrate.errors import InfrastructureError, MigrateError, UsageError
from migrate.lifecycle.names import family

LITELLM_MAP_FILE = "model_prices_and_context_window_backup.json"
FEED_TIMEOUT_SECONDS = 20.0
FEED_MAX_BYTES = 32 * 1024 * 1024
_URL = re.compile(r"^https?://\S+$")
_ISO_DAY = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:$|[T ])")


@dataclass(frozen=True)
class LifecycleRecord:
    """One model as a source describes it."""

    key: str  # the id exactly as the source writes it
    family: str | None  # provider family (see names.family); None when unknown
    name: str  # the id without its provider prefix
    retires: dt.date | None = None
    deprecated: dt.date | None = None
    replacements: tuple[str, ...] = ()
    url: str | None = None
    mode: str | None = None  # litellm's mode: chat, responses, embedding, ...
    provider: str | None = None  # the provider as the source spells it
    # A reasoning model that reasons unless asked not to: it takes only the default
    # temperature, and its reasoning tokens count against max_tokens.
    reasons_by_default: bool = False


@dataclass(frozen=True)
class Source:
    kind: str  # "litellm" or "feed"
    label: str  # how reports and comments name the source
    location: str  # the file or URL it was read from
    records: tuple[LifecycleRecord, ...]
    skipped: int = 0  # entries that name no model id


def litellm_map_path() -> Path:
    """The model map JSON inside the installed litellm package (litellm is not imported)."""
    spec = importlib.util.find_spec("litellm")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        candidate = Path(location) / LITELLM_MAP_FILE
        if candidate.is_file():
            return candidate
    raise MigrateError(
        f"litellm's model map ({LITELLM_MAP_FILE}) was not found: is litellm installed in "
        "this environment?"
    )


def litellm_version() -> str | None:
    try:
        return importlib.metadata.version("litellm")
    except importlib.metadata.PackageNotFoundError:
        return None


def read_litellm_map(path: Path | None = None) -> Source:
    """Read litellm's bundled model map into records."""
    path = path or litellm_map_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise MigrateError(f"{path}: cannot read litellm's model map ({exc})") from None
    if not isinstance(data, dict):
        raise MigrateError(f"{path}: litellm's model map is not a JSON object")
    version = litellm_version()
    label = f"litellm {version}" if version else "litellm"
    return Source("litellm", label, str(path), tuple(litellm_records(data)))


def litellm_records(data: Mapping[str, Any]) -> list[LifecycleRecord]:
    """Records for every model in a litellm model map (pure)."""
    entries = {k: v for k, v in data.items() if isinstance(v, dict) and k != "sample_spec"}
    providers = {str(v["litellm_provider"]) for v in entries.values() if v.get("litellm_provider")}
    prefixes = providers | {f for f in (family(p) for p in providers) if f}
    records = []
    for key, entry in entries.items():
        provider = entry.get("litellm_provider")
        provider = str(provider) if provider else None
        head, sep, rest = key.partition("/")
        name = rest if sep and head in prefixes else key
        source_url = entry.get("deprecation_source")
        records.append(
            LifecycleRecord(
                key=key,
                family=family(provider),
                name=name,
                retires=parse_day(entry.get("deprecation_date")),
                url=source_url if isinstance(source_url, str) and _URL.match(source_url) else None,
                mode=str(entry["mode"]) if entry.get("mode") else None,
                provider=provider,
                reasons_by_default=bool(entry.get("supports_reasoning"))
                and entry.get("default_reasoning_effort") != "none",
            )
        )
    return records


def parse_day(value: Any) -> dt.date | None:
    """A date from `2027-01-14` or `2027-01-14T00:00:00Z`; None for anything else."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str):
        return None
    match = _ISO_DAY.match(value.strip())
    if not match:
        return None
    try:
        return dt.date.fromisoformat(match.group(1))
    except ValueError:
        return None


# How deprecation feeds name providers, as litellm provider families.
_FEED_PROVIDERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("azure", ("azure", "azure_ai")),
    ("microsoft", ("azure", "azure_ai")),
    ("openai", ("openai",)),
    ("anthropic", ("anthropic",)),
    ("vertex", ("vertex_ai",)),
    ("gemini", ("gemini",)),
    ("google", ("gemini", "vertex_ai")),
    ("bedrock", ("bedrock",)),
    ("amazon", ("bedrock",)),
    ("aws", ("bedrock",)),
    ("cohere", ("cohere",)),
    ("mistral", ("mistral",)),
    ("xai", ("xai",)),
    ("x.ai", ("xai",)),
    ("deepseek", ("deepseek",)),
    ("groq", ("groq",)),
)


def feed_families(provider: str) -> tuple[str, ...]:
    """The provider families a feed's provider name stands for (`AWS Bedrock` -> bedrock)."""
    text = provider.strip().lower()
    for needle, families in _FEED_PROVIDERS:
        if needle in text:
            return families
    normalized = re.sub(r"[^a-z0-9]+", "_", text).strip("_")
    return (normalized,) if normalized else ()


def feed_entries(data: Any) -> list[Any]:
    """The entry list of a feed: the top-level list, or the list an object holds."""
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        for key in ("deprecations", "data", "items", "records", "entries", "models"):
            if isinstance(data.get(key), list):
                return list(data[key])
        for value in data.values():
            if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
                return value
    raise UsageError("expected a JSON list of deprecations, or an object holding one")


def feed_records(data: Any) -> tuple[list[LifecycleRecord], int]:
    """Records from a parsed feed, and how many entries named no usable model id (pure)."""
    records: list[LifecycleRecord] = []
    skipped = 0
    for entry in feed_entries(data):
        if not isinstance(entry, dict):
            skipped += 1
            continue
        model_id = entry.get("model_id") or entry.get("model")
        provider = entry.get("provider")
        # Scraped feeds carry headlines ("Legacy GPT model snapshots") in model_id.
        if (
            not isinstance(model_id, str)
            or not model_id.strip()
            or re.search(r"\s", model_id.strip())
        ):
            skipped += 1
            continue
        model_id = model_id.strip()
        raw_replacements = entry.get("replacement_models")
        if not isinstance(raw_replacements, list):
            single = entry.get("replacement_model") or entry.get("replacement")
            raw_replacements = [single] if single else []
        replacements = tuple(
            r.strip()
            for r in raw_replacements
            if isinstance(r, str) and r.strip() and not re.search(r"\s", r.strip())
        )
        url = entry.get("url") or entry.get("source_url")
        families = feed_families(provider) if isinstance(provider, str) else ()
        for fam in families or (None,):
            name = model_id
            head, sep, rest = model_id.partition("/")
            if sep and fam is not None and family(head) == fam:
                name = rest
            records.append(
                LifecycleRecord(
                    key=model_id,
                    family=fam,
                    name=name,
                    retires=parse_day(entry.get("shutdown_date") or entry.get("retirement_date")),
                    deprecated=parse_day(
                        entry.get("announcement_date") or entry.get("deprecation_date")
                    ),
                    replacements=replacements,
                    url=url if isinstance(url, str) and _URL.match(url) else None,
                    provider=provider if isinstance(provider, str) else None,
                )
            )
    return records, skipped


def read_feed(location: str, *, timeout: float = FEED_TIMEOUT_SECONDS) -> Source:
    """Read a feed from a file or an http(s) URL; errors name the feed."""
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", location):
        if not re.match(r"^https?://", location, re.IGNORECASE):
            raise UsageError(f"feed {location}: only http(s) URLs or file paths are read")
        raw = _fetch(location, timeout)
        label = f"feed {location}"
    else:
        path = Path(location)
        try:
            if path.stat().st_size > FEED_MAX_BYTES:
                raise UsageError(f"feed {location}: larger than {FEED_MAX_BYTES:,} bytes")
            raw = path.read_bytes()
        except FileNotFoundError:
            raise UsageError(f"feed {location}: file not found") from None
        except IsADirectoryError:
            raise UsageError(f"feed {location}: is a directory, not a JSON file") from None
        except OSError as exc:
            raise UsageError(f"feed {location}: cannot read ({exc.strerror})") from None
        label = f"feed {path.name}"
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise UsageError(f"feed {location}: not UTF-8 text") from None
    except ValueError as exc:
        raise UsageError(f"feed {location}: not valid JSON ({exc})") from None
    try:
        records, skipped = feed_records(data)
    except UsageError as exc:
        raise UsageError(f"feed {location}: {exc.message}") from None
    return Source("feed", label, location, tuple(records), skipped)


def _fetch(url: str, timeout: float) -> bytes:
    request = urllib.request.Request(
        url,
        headers={
            "User-Agent": f"migrate/{__version__}",
            "Accept": "application/json",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body: bytes = response.read(FEED_MAX_BYTES + 1)
    except urllib.error.HTTPError as exc:
        message = f"feed {url}: HTTP {exc.code} {exc.reason}"
        if 400 <= exc.code < 500:
            raise UsageError(message) from None
        raise InfrastructureError(message) from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise InfrastructureError(f"feed {url}: cannot fetch ({reason})") from None
    if len(body) > FEED_MAX_BYTES:
        raise UsageError(f"feed {url}: larger than {FEED_MAX_BYTES:,} bytes")
    return body
