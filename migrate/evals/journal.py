"""The run journal: one JSON line per finished call, appended the moment it finishes.

Each line is written with a single `write` on an O_APPEND descriptor, so a process killed
at any point leaves every finished call on disk and at worst one torn final line, which
the reader skips. The journal is the run's source of truth: summaries and reports are
re-derived from it, and a resumed run skips every request it already holds. A batch run
also journals its submissions (record_batch.py); `read_journal` yields only the calls.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from migrate.evals.record import Entry, EntryKey, entry_from_json
from migrate.evals.record_batch import (
    BATCH_KINDS,
    BatchClosed,
    BatchIntent,
    BatchSubmitted,
    batch_event_from_json,
)
from migrate.evals.rundir import JOURNAL_FILE

__all__ = [
    "JOURNAL_FILE",
    "Entry",
    "EntryKey",
    "JournalWriter",
    "load_entries",
    "read_batch_events",
    "read_journal",
]


def request_hash(
    model: str,
    api_base: str | None,
    messages: list[dict[str, str]],
    params: dict[str, Any],
    sample: int,
) -> str:
    """Identity of a request for the cache: the same hash means the same call."""
    material = json.dumps(
        [model, api_base or "", messages, params, sample],
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def _lines(path: Path) -> Iterator[tuple[int, Any]]:
    """Every complete JSON line, numbered; a torn line (a crash mid-write: no newline, or
    cut JSON) is skipped."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return
    with handle:
        for number, line in enumerate(handle, 1):
            if not line.endswith(b"\n"):
                continue
            try:
                yield number, json.loads(line)
            except ValueError:
                continue


def _is_batch_line(data: Any) -> bool:
    return isinstance(data, dict) and data.get("kind") in BATCH_KINDS


def read_journal(path: Path) -> Iterator[Entry]:
    """Every complete call entry. A torn line is skipped; a whole JSON line that is no
    entry (edited by hand) is refused, naming it."""
    for number, data in _lines(path):
        if not _is_batch_line(data):
            yield entry_from_json(data, f"{path}:{number}")


def read_batch_events(path: Path) -> list[BatchIntent | BatchSubmitted | BatchClosed]:
    """The journal's batch lines, in the order they were written."""
    return [
        batch_event_from_json(data, f"{path}:{number}")
        for number, data in _lines(path)
        if _is_batch_line(data)
    ]


def load_entries(path: Path) -> dict[EntryKey, Entry]:
    """Entries by key; the first one recorded for a key wins (a key is never re-done)."""
    entries: dict[EntryKey, Entry] = {}
    for entry in read_journal(path):
        entries.setdefault(entry.key, entry)
    return entries


class JournalWriter:
    """Appends entries; each append is one write(2), durable against a process kill."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._repair_torn_tail(path)
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    @staticmethod
    def _repair_torn_tail(path: Path) -> None:
        # A kill mid-write can leave a final line without its newline; end it so that the
        # next entry starts on a line of its own (the reader skips the torn one).
        try:
            with path.open("rb+") as handle:
                handle.seek(0, os.SEEK_END)
                if handle.tell() == 0:
                    return
                handle.seek(-1, os.SEEK_END)
                if handle.read(1) != b"\n":
                    handle.write(b"\n")
        except FileNotFoundError:
            return

    def append(self, entry: Entry | BatchIntent | BatchSubmitted | BatchClosed) -> None:
        line = entry.to_line()
        written = os.write(self.fd, line)
        while written < len(line):  # regular files write fully; be safe anyway
            written += os.write(self.fd, line[written:])

    def close(self) -> None:
        os.close(self.fd)
