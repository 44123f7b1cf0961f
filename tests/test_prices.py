"""litellm's published prices read as data (migrate/prices.py), compared with litellm's own
map as litellm loads it: every priced model, the same two prices."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import migrate.llm  # noqa: F401  (litellm reads its local map, as a run has it read)
from migrate.prices import PRICE_KEYS, price_map_file, published_prices


def litellms_own_prices() -> dict[str, dict[str, float]]:
    import litellm

    return {
        name: {key: float(entry[key]) for key in PRICE_KEYS}
        for name, entry in litellm.model_cost.items()
        if isinstance(entry, dict)
        and all(
            isinstance(entry.get(key), int | float) and not isinstance(entry.get(key), bool)
            for key in PRICE_KEYS
        )
    }


def test_every_price_is_litellms_own_and_a_later_read_comes_from_the_cache(
    tmp_path: Path,
) -> None:
    assert price_map_file() is not None
    cache = tmp_path / "prices"
    first = published_prices(cache)
    assert len(first) > 1000
    assert first == litellms_own_prices()
    (kept,) = cache.iterdir()
    # Served from the cache from now on: a price changed there is what is read back.
    data = json.loads(kept.read_text(encoding="utf-8"))
    data["gpt-4o-2024-08-06"]["input_cost_per_token"] = 1.0
    kept.write_text(json.dumps(data), encoding="utf-8")
    assert published_prices(cache)["gpt-4o-2024-08-06"]["input_cost_per_token"] == 1.0


def test_a_cache_entry_that_is_not_prices_is_rebuilt(tmp_path: Path) -> None:
    cache = tmp_path / "prices"
    expected = published_prices(cache)
    (kept,) = cache.iterdir()
    for damaged in ('{"gpt-4o": {"input_cost_per_token": "free"}}', '{"gpt-4o": {', "[]"):
        kept.write_text(damaged, encoding="utf-8")
        assert published_prices(cache) == expected
        assert json.loads(kept.read_text(encoding="utf-8")) == expected


def test_a_new_map_file_is_read_afresh(tmp_path: Path) -> None:
    source = price_map_file()
    assert source is not None
    copy = tmp_path / "litellm" / source.name
    copy.parent.mkdir()
    shutil.copyfile(source, copy)
    cache = tmp_path / "prices"
    assert published_prices(cache, copy) == published_prices(None)
    entries = json.loads(copy.read_text(encoding="utf-8"))
    entries["gpt-4o-2024-08-06"]["input_cost_per_token"] = 0.5
    entries["a-model-with-no-output-price"] = {"input_cost_per_token": 1e-6}
    copy.write_text(json.dumps(entries), encoding="utf-8")
    os.utime(copy, ns=(1, 1))  # another modification time, as an upgrade gives
    again = published_prices(cache, copy)
    assert again["gpt-4o-2024-08-06"]["input_cost_per_token"] == 0.5
    assert "a-model-with-no-output-price" not in again
    assert len(list(cache.iterdir())) == 2


def test_no_map_no_prices(tmp_path: Path) -> None:
    assert published_prices(tmp_path / "prices", tmp_path / "missing.json") == {}
    (tmp_path / "broken.json").write_text("{", encoding="utf-8")
    assert published_prices(tmp_path / "prices", tmp_path / "broken.json") == {}
