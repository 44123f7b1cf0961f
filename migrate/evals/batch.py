"""A run's calls through the providers' batch APIs: submit, and on the next invocation
poll, collect and submit what is still missing, until every call is journaled.

Each invocation moves the run on without waiting for a batch: batches whose results are
back are journaled, request by request, each exactly once (a result already journaled is
skipped, so a kill while collecting loses nothing and counts nothing twice); the calls the
journal lacks and no open batch carries are submitted, one batch per model, after a
`batch_intent` line naming them is journaled. Judge calls need the answers, so they are
submitted once every generation call is back.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from migrate.errors import ExitCode, MigrateError
from migrate.evals.calls import generation_specs, judge_specs
from migrate.evals.inputs import RunInputs
from migrate.evals.journal import JournalWriter, load_entries, read_batch_events
from migrate.evals.record import Entry, EntryKey
from migrate.evals.record_batch import (
    NEVER_CREATED,
    BatchClosed,
    BatchIntent,
    BatchSubmitted,
    custom_id,
    key_of,
)
from migrate.evals.runner import CallCounts, CallSpec
from migrate.llm import CallRecord, Target
from migrate.llm_batch import (
    RESUBMIT,
    BatchSeam,
    BatchState,
    batch_price_per_token,
    result_record,
)
from migrate.llm_batch import request_line as batch_request_line

Clock = Callable[[], dt.datetime]


@dataclass
class OpenBatch:
    model: str
    batch_id: str  # "" until the provider gave one
    status: str
    requests: int


@dataclass
class BatchReport:
    """What one invocation did, and what it leaves running."""

    submitted: list[OpenBatch] = field(default_factory=list)
    collected: int = 0  # results journaled from finished batches
    resubmitted: int = 0  # requests sent again (a batch expired, a line failed transiently)
    pending: list[OpenBatch] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # batches rejected whole, with the reason

    @property
    def finished(self) -> bool:
        return not self.pending and not self.submitted


@dataclass
class Ledger:
    """The journal's batch lines, by the token of each submission."""

    intents: dict[str, BatchIntent] = field(default_factory=dict)
    submitted: dict[str, BatchSubmitted] = field(default_factory=dict)
    closed: dict[str, BatchClosed] = field(default_factory=dict)

    def open(self) -> list[BatchIntent]:
        return [i for t, i in self.intents.items() if t not in self.closed]

    def carried(self, model: str, custom: str) -> int:
        """How many batches (open or closed, not counting one never created) carried it."""
        return sum(
            1
            for token, i in self.intents.items()
            if i.model == model
            and custom in i.requests
            and getattr(self.closed.get(token), "status", "") != NEVER_CREATED
        )


class BatchPending(MigrateError):
    """Batches are out: the run is not finished (exit 5); the same command collects."""

    exit_code = ExitCode.SUBMITTED

    def __init__(self, run_dir: Path, report: BatchReport) -> None:
        self.run_dir = run_dir
        self.report = report
        super().__init__("\n".join(describe_batches(run_dir.name, report)))


def describe_batches(run_id: str, report: BatchReport) -> list[str]:
    lines = [f"Batches out for run {run_id}: not finished; run the same command again."]
    if report.collected:
        lines.append(f"  collected {report.collected} results")
    if report.resubmitted:
        lines.append(f"  sent again: {report.resubmitted} requests (expired or failed)")
    for batch in report.submitted:
        lines.append(f"  submitted {batch.batch_id} ({batch.model}, {batch.requests} requests)")
    for batch in report.pending:
        lines.append(
            f"  {batch.status}: {batch.batch_id} ({batch.model}, {batch.requests} requests)"
        )
    lines += [f"  rejected: {reason}" for reason in report.failed]
    return lines


def read_ledger(journal: Path) -> Ledger:
    ledger = Ledger()
    for event in read_batch_events(journal):
        if isinstance(event, BatchIntent):
            ledger.intents[event.token] = event
        elif isinstance(event, BatchSubmitted):
            ledger.submitted.setdefault(event.token, event)
        else:
            ledger.closed.setdefault(event.token, event)
    return ledger


def has_open_batches(journal: Path) -> bool:
    try:
        if b'"kind":"batch_' not in journal.read_bytes():  # a synchronous run's: no parse
            return False
    except FileNotFoundError:
        return False
    return bool(read_ledger(journal).open())


class BatchPhase:
    """Moves one run's batches on; `max_batches` is how many batches one request may ride
    in before a transient failure is filed as its result."""

    def __init__(
        self,
        journal: JournalWriter,
        seam: BatchSeam,
        targets: dict[str, Target],
        cache: dict[str, CallRecord],
        now: Clock,
        counts: CallCounts,
        max_batches: int,
    ) -> None:
        self.journal = journal
        self.seam = seam
        self.targets = targets
        self.cache = cache
        self.now = now
        self.counts = counts
        self.max_batches = max(1, max_batches)
        self.report = BatchReport()

    def _stamp(self) -> str:
        return self.now().isoformat(timespec="seconds")

    async def run(self, inputs: RunInputs) -> BatchReport:
        """Collect what is back, submit what is missing; judge calls once answers are in."""
        path = self.journal.path
        generation = generation_specs(inputs, set(load_entries(path)))
        if await self.advance(generation, "generate"):
            await self.advance(judge_specs(inputs, load_entries(path)), "judge")
        return self.report

    async def advance(self, specs: list[CallSpec], phase: str) -> bool:
        """True when every one of `specs` is journaled."""
        path = self.journal.path
        ledger = read_ledger(path)
        for intent in ledger.open():
            if intent.phase == phase:
                await self._follow(intent, ledger)
        entries = load_entries(path)
        ledger = read_ledger(path)
        in_flight = {(i.model, c) for i in ledger.open() for c in i.requests}
        missing: dict[str, list[CallSpec]] = {}
        for spec in specs:
            key = _key(spec)
            custom = custom_id(key)
            if key in entries or (spec.model, custom) in in_flight:
                continue
            cached = self.cache.get(spec.request)
            if cached is not None:
                self._file(spec.entry(cached, self.now(), cached=True))
                self.counts.cached += 1
            elif ledger.carried(spec.model, custom) >= self.max_batches:
                # Every batch it rode in came back without a result: that is its result.
                failure = CallRecord.failure(
                    "BatchError",
                    f"no result after {self.max_batches} batches",
                    latency=None,
                    attempts=self.max_batches,
                )
                self._made(spec.entry(failure, self.now()))
            else:
                missing.setdefault(spec.model, []).append(spec)
                if ledger.carried(spec.model, custom):
                    self.report.resubmitted += 1
        for model, batch in missing.items():
            await self._submit(model, phase, batch)
        return not missing and not any(i.phase == phase for i in read_ledger(path).open())

    async def _submit(self, model: str, phase: str, specs: list[CallSpec]) -> None:
        target = self.targets[model]
        token = uuid.uuid4().hex
        requests = {custom_id(_key(s)): s.request for s in specs}
        # Journaled before the upload: a kill from here on leaves a token to look for.
        self.journal.append(
            BatchIntent(token=token, model=model, phase=phase, requests=requests, at=self._stamp())
        )
        lines = [
            batch_request_line(custom_id(_key(s)), target, s.messages, s.params) for s in specs
        ]
        file_id = await self.seam.upload(target, lines, f"migrate-{token}.jsonl")
        state = await self.seam.create(target, file_id, token)
        self.journal.append(
            BatchSubmitted(token=token, batch_id=state.id, file_id=file_id, at=self._stamp())
        )
        self.report.submitted.append(OpenBatch(model, state.id, state.status, len(specs)))

    async def _follow(self, intent: BatchIntent, ledger: Ledger) -> None:
        target = self.targets[intent.model]
        submitted = ledger.submitted.get(intent.token)
        state: BatchState | None
        if submitted is None:  # killed before its id was journaled: did the batch get made?
            state = await self.seam.find(target, intent.token)
            if state is None:
                self.journal.append(
                    BatchClosed(token=intent.token, status=NEVER_CREATED, at=self._stamp())
                )
                return
            self.journal.append(
                BatchSubmitted(token=intent.token, batch_id=state.id, at=self._stamp())
            )
        else:
            state = await self.seam.retrieve(target, submitted.batch_id)
        if not state.finished:
            open_batch = OpenBatch(intent.model, state.id, state.status, len(intent.requests))
            self.report.pending.append(open_batch)
            return
        await self._collect(intent, target, state)
        if state.status == "failed":
            self.report.failed.append(f"{intent.model}: batch {state.id}: {state.errors}")
        closed = BatchClosed(
            token=intent.token,
            batch_id=state.id,
            status=state.status,
            note=state.errors,
            at=self._stamp(),
        )
        self.journal.append(closed)

    async def _collect(self, intent: BatchIntent, target: Target, state: BatchState) -> None:
        """Journal each result of a finished batch that the journal does not hold yet."""
        price = batch_price_per_token(target)
        entries = load_entries(self.journal.path)
        carried = read_ledger(self.journal.path)
        for file_id in (state.output_file_id, state.error_file_id):
            if not file_id:
                continue
            for line in (await self.seam.content(target, file_id)).splitlines():
                if not line.strip():
                    continue
                row = json.loads(line)
                custom = str(row.get("custom_id"))
                key = key_of(custom, intent.model)
                if key is None or custom not in intent.requests or key in entries:
                    continue  # not this run's, or journaled before a kill
                record = result_record(row, price)
                retry = record.error in RESUBMIT
                if retry and carried.carried(intent.model, custom) < self.max_batches:
                    continue  # left missing: the next submission carries it again
                kind, model, case, sample, extra = key
                entry = Entry(
                    kind=kind,
                    model=model,
                    case=case,
                    sample=sample,
                    extra=extra,
                    request=intent.requests[custom],
                    record=record,
                    at=self._stamp(),
                )
                self._made(entry)
                entries[key] = entry
                self.report.collected += 1

    def _file(self, entry: Entry) -> None:
        self.journal.append(entry)

    def _made(self, entry: Entry) -> None:
        self.journal.append(entry)
        self.counts.made += 1
        self.counts.by_model[entry.model] = self.counts.by_model.get(entry.model, 0) + 1
        if entry.record.error is not None:
            self.counts.errors += 1


def _key(spec: CallSpec) -> EntryKey:
    return (spec.kind, spec.model, spec.case, spec.sample, spec.extra)
