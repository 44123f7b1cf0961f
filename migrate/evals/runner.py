"""Make the calls a run still needs, journaling each one the moment it finishes."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from migrate.evals.journal import JournalWriter
from migrate.evals.record import Entry
from migrate.llm import CallRecord, ModelSeam, Target


@dataclass(frozen=True)
class CallSpec:
    """One request of the run: what to send and where its result is filed."""

    kind: str  # generate | judge
    target: Target
    case: str
    sample: int
    extra: str
    messages: list[dict[str, str]]
    params: dict[str, Any]
    request: str  # journal.request_hash of the above

    @property
    def model(self) -> str:
        return self.target.model

    def entry(self, record: CallRecord, finished: dt.datetime, cached: bool = False) -> Entry:
        """The journal entry filing `record` as this request's result."""
        return Entry(
            kind=self.kind,
            model=self.model,
            case=self.case,
            sample=self.sample,
            extra=self.extra,
            request=self.request,
            record=record,
            at=finished.isoformat(timespec="seconds"),
            cached=cached,
        )


class Progress(Protocol):
    def start(self, phase: str, totals: dict[str, int], done: dict[str, int]) -> None: ...

    def advance(self, model: str, *, error: bool) -> None: ...

    def finish(self) -> None: ...


@dataclass
class CallCounts:
    made: int = 0  # finished calls made in this execution (after retries)
    cached: int = 0  # served from earlier runs' journals
    errors: int = 0
    by_model: dict[str, int] = field(default_factory=dict)


async def execute(
    specs: Iterable[CallSpec],
    journal: JournalWriter,
    seam: ModelSeam,
    cache: dict[str, CallRecord],
    progress: Progress,
    now: Callable[[], dt.datetime],
    counts: CallCounts,
) -> list[Entry]:
    """Serve what the cache holds, call the rest with bounded concurrency, journal all."""
    finished: list[Entry] = []
    pending: list[CallSpec] = []
    for spec in specs:
        record = cache.get(spec.request)
        if record is None:
            pending.append(spec)
            continue
        entry = spec.entry(record, now(), cached=True)
        journal.append(entry)
        finished.append(entry)
        counts.cached += 1
        progress.advance(spec.model, error=False)

    queue = iter(pending)

    async def worker() -> None:
        for spec in queue:  # workers share one iterator: each spec is taken exactly once
            record = await seam.complete(spec.target, spec.messages, spec.params)
            entry = spec.entry(record, now())
            journal.append(entry)
            finished.append(entry)
            counts.made += 1
            counts.by_model[spec.model] = counts.by_model.get(spec.model, 0) + 1
            if record.error is not None:
                counts.errors += 1
            progress.advance(spec.model, error=record.error is not None)

    workers = max(1, min(seam.limit.maximum, len(pending)))
    await asyncio.gather(*(worker() for _ in range(workers)))
    return finished
