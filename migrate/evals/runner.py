"""Make the calls a run still needs, journaling each one the moment it finishes."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from migrate.embeddings import embed
from migrate.evals.journal import JournalWriter
from migrate.evals.record import Entry
from migrate.llm import CallRecord, ModelSeam, Target
from migrate.provider_errors import CONFIGURATION_ERRORS, RETRYABLE

STOPPING = RETRYABLE | CONFIGURATION_ERRORS  # failures that say every call will fail alike


@dataclass(frozen=True)
class CallSpec:
    """One request of the run: what to send and where its result is filed."""

    kind: str  # generate | judge | grade
    target: Target
    case: str
    sample: int
    extra: str
    messages: list[dict[str, str]]
    params: dict[str, Any]
    request: str  # journal.request_hash of the above
    embedding: bool = False  # an embedding request: params["input"] holds the texts

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
    not_attempted: dict[str, int] = field(default_factory=dict)  # skipped: the model was stopped


@dataclass
class Breaker:
    """Stops calling a model whose calls keep failing the same way: after `threshold` failures
    in a row of one error class (each already retried where a retry can help), the rest of
    its calls are not attempted. Spending 80 calls to learn that a key is wrong helps no one."""

    threshold: int = 5
    streaks: dict[str, tuple[str, int]] = field(default_factory=dict)  # model -> class, count
    stopped: dict[str, str] = field(default_factory=dict)  # model -> why
    # --budget: USD the run may spend, and what it has (calls in flight when it is reached
    # still finish and count); no call starts once the spend reaches the budget.
    budget: float | None = None
    spent: float = 0.0

    @property
    def over_budget(self) -> bool:
        return self.budget is not None and self.spent >= self.budget

    def observe(self, model: str, record: CallRecord) -> None:
        self.spent += record.cost or 0.0
        if record.error not in STOPPING:  # success, or a failure that belongs to its case
            self.streaks.pop(model, None)
            return
        kind, count = self.streaks.get(model, (record.error, 0))
        count = count + 1 if kind == record.error else 1
        self.streaks[model] = (record.error, count)
        if count >= self.threshold and model not in self.stopped:
            self.stopped[model] = (
                f"stopped after {count} {record.error} failures in a row: "
                f"{record.error_message or record.error}"
            )

    def stop(self, model: str, why: str) -> None:
        self.stopped.setdefault(model, why)


async def execute(
    specs: Iterable[CallSpec],
    journal: JournalWriter,
    seam: ModelSeam,
    cache: dict[str, CallRecord],
    progress: Progress,
    now: Callable[[], dt.datetime],
    counts: CallCounts,
    breaker: Breaker | None = None,
    keep: bool = True,
) -> list[Entry]:
    """Serve what the cache holds, call the rest with bounded concurrency, journal all;
    a request of a model the breaker has stopped is counted as not attempted. The entries
    made are returned when `keep` (a 10,000-case run's would hold megabytes for nothing)."""
    breaker = breaker or Breaker()
    finished: list[Entry] = []
    pending: list[CallSpec] = []
    for spec in specs:
        record = cache.get(spec.request)
        if record is None:
            pending.append(spec)
            continue
        entry = spec.entry(record, now(), cached=True)
        journal.append(entry)
        if keep:
            finished.append(entry)
        counts.cached += 1
        progress.advance(spec.model, error=False)

    queue = iter(pending)

    async def worker() -> None:
        for spec in queue:  # workers share one iterator: each spec is taken exactly once
            if breaker.over_budget:
                continue  # not made: the journal shows what is missing, a resume makes it
            if spec.model in breaker.stopped:
                counts.not_attempted[spec.model] = counts.not_attempted.get(spec.model, 0) + 1
                progress.advance(spec.model, error=True)
                continue
            record = await (
                embed(seam, spec.target, spec.params["input"])
                if spec.embedding
                else seam.complete(spec.target, spec.messages, spec.params)
            )
            breaker.observe(spec.model, record)
            entry = spec.entry(record, now())
            journal.append(entry)
            if keep:
                finished.append(entry)
            counts.made += 1
            counts.by_model[spec.model] = counts.by_model.get(spec.model, 0) + 1
            if record.error is not None:
                counts.errors += 1
            progress.advance(spec.model, error=record.error is not None)

    workers = max(1, min(seam.limit.maximum, len(pending)))
    await asyncio.gather(*(worker() for _ in range(workers)))
    return finished


@dataclass
class Caller:
    """What every call phase of a run shares: where calls are journaled, the seam, the
    cache, progress, the clock, the counts and the breaker."""

    journal: JournalWriter
    seam: ModelSeam
    cache: dict[str, CallRecord]
    progress: Progress
    now: Callable[[], dt.datetime]
    counts: CallCounts
    breaker: Breaker

    async def execute(self, specs: list[CallSpec], keep: bool = True) -> list[Entry]:
        return await execute(
            specs, self.journal, self.seam, self.cache, self.progress, self.now, self.counts,
            self.breaker, keep,
        )  # fmt: skip

    async def canary_first(self, specs: list[CallSpec]) -> None:
        """One call per model first; when a provider refuses one because the run is set up
        wrong (a key, a parameter, a model name), no other call is made: the run stops."""
        first: dict[str, CallSpec] = {}
        for spec in specs:
            first.setdefault(spec.model, spec)
        canaries = list(first.values())
        for entry in await self.execute(canaries):
            error = entry.record.error
            if error in CONFIGURATION_ERRORS:
                why = f"{entry.model} refused the first call: {error}: {entry.record.error_message}"
                for model in {s.model for s in specs}:
                    self.breaker.stop(model, why)
        chosen = {id(s) for s in canaries}
        await self.execute([s for s in specs if id(s) not in chosen], keep=False)
