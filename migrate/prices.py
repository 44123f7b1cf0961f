"""litellm's published prices, read as data, without importing litellm (seconds of startup).

litellm ships its price map in its package; `migrate run` prices calls from that copy
(migrate/llm.py sets LITELLM_LOCAL_MODEL_COST_MAP), and planning reads the same file, so a
plan's estimate and a run's price a model alike. The file is 3.5 MB of JSON (about 50 ms to
parse), so the prices alone are kept under the cache folder as JSON, keyed by the file's
path, size and modification time (an upgraded litellm is a new file), and a later command
reads those (a few milliseconds). A cache entry that is not what this module writes is
rebuilt, never trusted. tests/test_prices.py checks every price against litellm's own map
as litellm loads it (aliases expanded), so a change in litellm's format fails a test.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
from pathlib import Path
from typing import Any

from migrate.files import write_atomic

MAP_FILE = "model_prices_and_context_window_backup.json"
PRICE_KEYS = ("input_cost_per_token", "output_cost_per_token")
Prices = dict[str, dict[str, float]]  # model name -> the two PRICE_KEYS, USD per token


def price_map_file() -> Path | None:
    """The price map of the installed litellm, found without importing it; None without."""
    try:
        spec = importlib.util.find_spec("litellm")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / MAP_FILE
    return path if path.is_file() else None


def published_prices(cache_dir: Path | None, map_file: Path | None = None) -> Prices:
    """Every model litellm's map prices by input and output token; {} when litellm or its
    map is not found or cannot be read (a plan then says which model has no price)."""
    path = map_file or price_map_file()
    if path is None:
        return {}
    try:
        stat = path.stat()
    except OSError:
        return {}
    key = hashlib.sha256(f"{path.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
    kept = cache_dir / f"{key.hexdigest()[:32]}.json" if cache_dir is not None else None
    if kept is not None:
        with contextlib.suppress(OSError, ValueError):
            cached = json.loads(kept.read_text(encoding="utf-8"))
            if _are_prices(cached):
                return cached  # type: ignore[no-any-return]
    try:
        entries = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return {}
    prices = _prices_of(entries) if isinstance(entries, dict) else {}
    if kept is not None:
        with contextlib.suppress(OSError):  # a read-only cache costs time, not prices
            write_atomic(kept, json.dumps(prices, separators=(",", ":")))
    return prices


def _prices_of(entries: dict[str, Any]) -> Prices:
    """The priced rows, under every name litellm serves them by: a row `alias_of` another
    is served as that one, and a row's `aliases` are more names for it (the first claim of
    a name wins; a name that is a row of its own is not taken), as litellm expands them."""
    rows = {name: entry for name, entry in entries.items() if isinstance(entry, dict)}
    pointers = {n: e["alias_of"] for n, e in rows.items() if isinstance(e.get("alias_of"), str)}
    prices = {
        name: {key: float(entry[key]) for key in PRICE_KEYS}
        for name, entry in rows.items()
        if name not in pointers and all(_is_price(entry.get(key)) for key in PRICE_KEYS)
    }
    owners: dict[str, str] = {}
    for name, entry in rows.items():
        aliases = entry.get("aliases")
        if name in pointers or not isinstance(aliases, list):
            continue
        for alias in aliases:
            if isinstance(alias, str) and (alias not in rows or alias in pointers):
                owners.setdefault(alias, name)
    for alias, target in pointers.items():
        if target in rows and target not in pointers:
            owners.setdefault(alias, target)
    for alias, owner in owners.items():
        if owner in prices:
            prices[alias] = prices[owner]
    return prices


def _is_price(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value >= 0


def _are_prices(data: object) -> bool:
    return isinstance(data, dict) and all(
        isinstance(entry, dict)
        and len(entry) == len(PRICE_KEYS)
        and all(_is_price(entry.get(key)) for key in PRICE_KEYS)
        for entry in data.values()
    )
