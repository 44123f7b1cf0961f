"""The parse cache of large YAML files: what comes back from it is what the parser gives,
value for value, type for type and line for line; a stale, torn or edited entry is never
trusted; errors are never kept; small files leave nothing behind."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

import pytest

from migrate.errors import InputError
from migrate.registry.load import load_registry
from migrate.yamlcache import KEPT, SMALLEST, load_yaml_cached
from migrate.yamlsource import parse_yaml

# Every kind of value the reader gives back, in mappings and lists, with keys that look like
# the cache's own tags.
VALUES = """\
  text: plain
  quoted: "with \\u00e9 and a tab\\t"
  number: 42
  big: 123456789012345678901234567890
  negative: -7
  ratio: 0.25
  negative_zero: -0.0
  infinite: .inf
  not_a_number: .nan
  yes_flag: true
  no_flag: false
  nothing: null
  day: 2027-01-14
  moment: 2027-01-14 10:30:00
  zoned: 2027-01-14T10:30:00.250+01:00
  utc: 2027-01-14T10:30:00Z
  raw: !!binary aGVsbG8=
  list: [list, [date, "2027-01-14"], 1, 1.0, true]
  date: [datetime, bytes]
  "2027-01-14": the key is the text
  nested: {a: [{b: [1, {c: null}]}], list: {}}
  empty_list: []
"""


def big_yaml(entries: int = 400) -> str:
    body = "".join(f"item-{i:04d}:\n{VALUES}" for i in range(entries))
    assert len(body) > SMALLEST
    return body


def same(a: Any, b: Any) -> bool:
    """Equal in value and in type all the way down (True is not 1, 1.0 is not 1)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, dt.datetime):
        return a == b and a.utcoffset() == b.utcoffset()
    return bool(a == b)


def entries(cache: Path) -> list[Path]:
    return sorted(cache.glob("*.json")) if cache.exists() else []


def test_values_types_and_lines_come_back_as_parsed(tmp_path: Path) -> None:
    path, cache = tmp_path / "big.yaml", tmp_path / "cache"
    text = big_yaml()
    path.write_text(text, encoding="utf-8")
    parsed = parse_yaml(text, "big.yaml")
    first = load_yaml_cached(path, "big.yaml", cache)
    assert len(entries(cache)) == 1
    second = load_yaml_cached(path, "big.yaml", cache)
    for located in (first, second):
        assert same(located.data, parsed.data)
        assert located.lines == parsed.lines
        assert located.file == "big.yaml"
    item = second.data["item-0399"]
    assert item["raw"] == b"hello" and item["day"] == dt.date(2027, 1, 14)
    assert item["zoned"].utcoffset() == dt.timedelta(hours=1)
    assert item["list"][1] == ["date", "2027-01-14"]  # a list that looks like a tag
    # by hand: item-0399 starts on line 399 * 23 + 1; `raw` is its 17th value
    assert second.line_of(("item-0399", "raw")) == 399 * 23 + 1 + 17


def test_the_entry_serves_the_next_read(tmp_path: Path) -> None:
    """The entry is what the second read returns (its data edited in place shows through),
    and an entry whose key does not match the text is ignored."""
    path, cache = tmp_path / "big.yaml", tmp_path / "cache"
    path.write_text(big_yaml(), encoding="utf-8")
    load_yaml_cached(path, "big.yaml", cache)
    (entry,) = entries(cache)
    stored = json.loads(entry.read_text(encoding="utf-8"))
    stored["data"]["item-0000"]["text"] = "from the entry"
    entry.write_text(json.dumps(stored), encoding="utf-8")
    assert load_yaml_cached(path, "big.yaml", cache).data["item-0000"]["text"] == "from the entry"
    stored["key"] = "0" * 64
    entry.write_text(json.dumps(stored), encoding="utf-8")
    assert load_yaml_cached(path, "big.yaml", cache).data["item-0000"]["text"] == "plain"


@pytest.mark.parametrize(
    "damage",
    [
        lambda raw: raw[: len(raw) // 2],  # torn
        lambda raw: b"\xff" + raw,  # not UTF-8
        lambda raw: raw.replace(b'"lines":[[-1', b'"lines":[[7'),  # lines out of order
        lambda raw: raw.replace(b'["date","2027-01-14"]', b'["when","2027-01-14"]', 1),
        lambda raw: b"[]",
    ],
)
def test_a_damaged_entry_is_parsed_afresh(tmp_path: Path, damage: Any) -> None:
    path, cache = tmp_path / "big.yaml", tmp_path / "cache"
    text = big_yaml()
    path.write_text(text, encoding="utf-8")
    load_yaml_cached(path, "big.yaml", cache)
    (entry,) = entries(cache)
    entry.write_bytes(damage(entry.read_bytes()))
    again = load_yaml_cached(path, "big.yaml", cache)
    assert same(again.data, parse_yaml(text, "big.yaml").data)


def test_an_edit_is_read_not_the_old_entry(tmp_path: Path) -> None:
    path, cache = tmp_path / "big.yaml", tmp_path / "cache"
    text = big_yaml()
    path.write_text(text, encoding="utf-8")
    load_yaml_cached(path, "big.yaml", cache)
    path.write_text(text.replace("number: 42", "number: 43", 1), encoding="utf-8")  # same size
    assert load_yaml_cached(path, "big.yaml", cache).data["item-0000"]["number"] == 43
    assert len(entries(cache)) == 2  # an entry per content


def test_a_copy_finds_the_entry_and_old_entries_are_pruned(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    text = big_yaml()
    for i in range(KEPT + 3):
        path = tmp_path / f"copy-{i}" / "big.yaml"
        path.parent.mkdir()
        path.write_text(text, encoding="utf-8")
        assert load_yaml_cached(path, f"copy-{i}/big.yaml", cache).file == f"copy-{i}/big.yaml"
    assert len(entries(cache)) == 1  # every copy read the first copy's entry
    for i in range(KEPT + 3):
        path = tmp_path / f"version-{i}.yaml"
        path.write_text(text.replace("number: 42", f"number: {i}", 1), encoding="utf-8")
        load_yaml_cached(path, "version.yaml", cache)
    assert len(entries(cache)) == KEPT


def test_a_syntax_error_is_raised_every_time_and_never_kept(tmp_path: Path) -> None:
    path, cache = tmp_path / "big.yaml", tmp_path / "cache"
    lines = big_yaml().splitlines()
    lines[1000] = "  broken: [unclosed"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    for _ in range(2):
        with pytest.raises(InputError) as raised:
            load_yaml_cached(path, "big.yaml", cache)
        assert raised.value.problems[0].line is not None
    assert entries(cache) == []


def test_a_small_file_leaves_no_entry(tmp_path: Path) -> None:
    path, cache = tmp_path / "small.yaml", tmp_path / "cache"
    path.write_text(f"item:\n{VALUES}", encoding="utf-8")
    assert load_yaml_cached(path, "small.yaml", cache).data["item"]["number"] == 42
    assert not cache.exists()


def test_a_cache_that_cannot_be_written_is_no_error(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text(big_yaml(), encoding="utf-8")
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("", encoding="utf-8")
    assert load_yaml_cached(path, "big.yaml", blocked / "cache").data["item-0001"]["ratio"] == 0.25


def large_registry(dependencies: int, bad: int | None = None) -> str:
    lines = ["version: 1", "models:", "  openai/old: {}", "  openai/new: {}", "dependencies:"]
    for d in range(dependencies):
        lines += [
            f"  feature-{d:04d}:",
            f"    description: Feature {d} of the product, described at some length",
            "    model: openai/old" if d != bad else "    model: openai/unknown",
            "    candidates: [openai/new]",
            f"    owners: [owner{d % 50:02d}@example.com]",
        ]
    return "\n".join(lines) + "\n"


def test_a_registry_read_from_the_cache_names_the_same_line_of_a_mistake(
    tmp_path: Path, dont_write_to_home_directory: Path
) -> None:
    registry = tmp_path / "models.yaml"
    registry.write_text(large_registry(1200, bad=777), encoding="utf-8")
    cache = dont_write_to_home_directory / ".cache" / "migrate" / "yaml"
    messages = []
    for _ in range(2):
        with pytest.raises(InputError) as raised:
            load_registry(registry, check_files=False)
        messages.append([(p.line, p.key_path, p.message) for p in raised.value.problems])
    assert len(entries(cache)) == 1  # the parse was kept; the registry's error is not a parse's
    # by hand: 5 lines of header, 5 per dependency; `model` is the third line of feature-0777
    assert (
        messages[0]
        == messages[1]
        == [(5 + 777 * 5 + 3, "dependencies.feature-0777.model", messages[0][0][2])]
    )
    assert "unknown model 'openai/unknown'" in messages[0][0][2]
