"""Stored runs and sign-offs as facts for planning: baseline age, last verdict, sign-off.

Reads the run record (evals/record.py) of every run under the workspace's runbooks; a run
whose files cannot be read is skipped here (`migrate report` names what is wrong with it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from migrate.evals.rundir import finished_runs, signed_runs

if TYPE_CHECKING:
    from migrate.evals.record import Decision, SignoffRecord

# The run record's models (migrate.evals.record) are imported where a stored run is read:
# a workspace without runs, the common case of the planning commands, never pays for them.


@dataclass(frozen=True)
class Signoff:
    decision: Decision
    by: str
    at: dt.date
    run_id: str
    override: str | None = None


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    dependency: str
    finished: dt.date
    baseline: str
    candidates: tuple[str, ...]
    verdict: str
    directory: Path
    signoff: Signoff | None


def read_runs(root: Path) -> list[RunRecord]:
    """Every stored run under `root/runbooks`, oldest first; unreadable ones are skipped.

    A clone may hold a sign-off without its run's summary (a sign-off made before the
    evidence was committed with it): the sign-off alone then stands for the run.
    """
    records = []
    summarised = set()
    for run_dir in finished_runs(root):
        summarised.add(run_dir)
        record = _read_run(run_dir)
        if record is not None:
            records.append(record)
    for run_dir in signed_runs(root):
        if run_dir not in summarised:
            record = _run_from_signoff(run_dir)
            if record is not None:
                records.append(record)
    records.sort(key=lambda r: (r.finished, r.run_id))
    return records


def runs_by_dependency(records: Iterable[RunRecord]) -> dict[str, list[RunRecord]]:
    grouped: dict[str, list[RunRecord]] = {}
    for record in records:
        grouped.setdefault(record.dependency, []).append(record)
    return grouped


def _read_run(run_dir: Path) -> RunRecord | None:
    from migrate.evals.record import read_summary, try_read

    summary = try_read(read_summary, run_dir)
    finished = _day(summary.finished_at) if summary else None
    if summary is None or finished is None:
        return None
    return RunRecord(
        run_id=summary.run_id,
        dependency=summary.dependency,
        finished=finished,
        baseline=summary.models.baseline,
        candidates=tuple(summary.models.candidates),
        verdict=summary.verdict,
        directory=run_dir,
        signoff=signoff_of(run_dir),
    )


def _run_from_signoff(run_dir: Path) -> RunRecord | None:
    from migrate.evals.record import read_signoff, try_read

    record: SignoffRecord | None = try_read(read_signoff, run_dir)
    signoff = signoff_of(run_dir)
    if record is None or signoff is None or not record.dependency or record.baseline is None:
        return None
    return RunRecord(
        run_id=record.run_id,
        dependency=record.dependency,
        finished=signoff.at,
        baseline=record.baseline,
        candidates=tuple(record.candidates),
        verdict=str(record.verdict),
        directory=run_dir,
        signoff=signoff,
    )


def signoff_of(run_dir: Path) -> Signoff | None:
    from migrate.evals.record import read_signoff, try_read

    record: SignoffRecord | None = try_read(read_signoff, run_dir)
    at = _day(record.at) if record else None
    if record is None or at is None:
        return None
    return Signoff(record.decision, record.by, at, record.run_id, record.override)


def _day(stamp: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(stamp[:10])
    except ValueError:
        return None


__all__ = ["RunRecord", "Signoff", "read_runs", "runs_by_dependency", "signoff_of"]
