"""The atomic writers: every target ends whole, with a plain open()'s permissions, and a
failure part-way renames nothing more and leaves no temporary file behind."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from migrate.files import write_atomic, write_atomic_many


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_batch_larger_than_a_chunk_writes_every_file_whole(tmp_path: Path) -> None:
    plain = tmp_path / "plain.txt"
    with plain.open("w") as handle:  # what a new file's permissions are without us
        handle.write("x")
    kept = tmp_path / "b" / "kept.md"
    kept.parent.mkdir()
    kept.write_text("old", encoding="utf-8")
    kept.chmod(0o640)
    files: list[tuple[Path, str | bytes]] = [
        (tmp_path / ("a" if i % 2 else "b") / f"f{i:03d}.md", f"runbook {i}\n" * i)
        for i in range(150)
    ]
    files += [(kept, "new"), (tmp_path / "a" / "raw.bin", b"\x00\xff")]
    write_atomic_many(files)
    for path, data in files:
        expected = data if isinstance(data, bytes) else data.encode()
        assert path.read_bytes() == expected
    assert _mode(kept) == 0o640
    assert {_mode(p) for p, _ in files if p != kept} == {_mode(plain)}
    assert not list(tmp_path.rglob("*.tmp"))


def test_a_failure_part_way_renames_nothing_and_leaves_no_temporary_file(
    tmp_path: Path,
) -> None:
    first = tmp_path / "first.md"
    first.write_text("before", encoding="utf-8")
    (tmp_path / "blocker").write_text("a file where a folder should be", encoding="utf-8")
    bad = tmp_path / "blocker" / "x.md"
    files: list[tuple[Path, str | bytes]] = [(first, "after")]
    files += [(tmp_path / f"n{i}.md", "new") for i in range(100)] + [(bad, "never")]
    with pytest.raises(OSError):
        write_atomic_many(files)
    assert first.read_text(encoding="utf-8") == "before"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker", "first.md"]


def test_write_atomic_replaces_a_file(tmp_path: Path) -> None:
    target = tmp_path / "feed.ics"
    write_atomic(target, "one")
    write_atomic(target, "two\u2603")
    assert target.read_text(encoding="utf-8") == "two\u2603"
    assert [p.name for p in tmp_path.iterdir()] == ["feed.ics"]
