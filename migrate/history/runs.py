"""Stored runs and sign-offs: what the workspace's `runbooks/` folder records.

A run lives in `runbooks/<quarter>/<dependency>/runs/<run-id>/` with its `summary.json`
and, once an owner has decided, `signoff.json`. This module only reads them; the
planning commands use these records as facts (baseline age, last verdict, sign-off).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RUNBOOKS_DIR = "runbooks"
SUMMARY_FILE = "summary.json"
SIGNOFF_FILE = "signoff.json"
DECISIONS = ("approve", "reject", "keep")


@dataclass(frozen=True)
class Signoff:
    decision: str  # approve | reject | keep
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


def run_directory(root: Path, quarter: str, dependency: str, run_id: str) -> Path:
    return root / RUNBOOKS_DIR / quarter / dependency / "runs" / run_id


def read_runs(root: Path) -> list[RunRecord]:
    """Every stored run under `root/runbooks`, oldest first; unreadable ones are skipped.

    `migrate signoff` commits only signoff.json and the runbook, so a fresh checkout may
    hold a sign-off without its run's summary: the sign-off alone then stands for the run.
    """
    records = []
    runs = root / RUNBOOKS_DIR
    summarised = set()
    for summary_path in sorted(runs.glob(f"*/*/runs/*/{SUMMARY_FILE}")):
        summarised.add(summary_path.parent)
        record = _read_run(summary_path)
        if record is not None:
            records.append(record)
    for signoff_path in sorted(runs.glob(f"*/*/runs/*/{SIGNOFF_FILE}")):
        if signoff_path.parent not in summarised:
            record = _run_from_signoff(signoff_path)
            if record is not None:
                records.append(record)
    records.sort(key=lambda r: (r.finished, r.run_id))
    return records


def _run_from_signoff(path: Path) -> RunRecord | None:
    data = _read_json(path)
    signoff = read_signoff(path)
    if data is None or signoff is None:
        return None
    try:
        return RunRecord(
            run_id=signoff.run_id,
            dependency=str(data["dependency"]),
            finished=signoff.at,
            baseline=str(data["baseline"]),
            candidates=tuple(str(c) for c in data.get("candidates", [])),
            verdict=str(data.get("verdict")),
            directory=path.parent,
            signoff=signoff,
        )
    except (KeyError, TypeError, ValueError):
        return None


def runs_by_dependency(records: Iterable[RunRecord]) -> dict[str, list[RunRecord]]:
    grouped: dict[str, list[RunRecord]] = {}
    for record in records:
        grouped.setdefault(record.dependency, []).append(record)
    return grouped


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _read_run(summary_path: Path) -> RunRecord | None:
    summary = _read_json(summary_path)
    if summary is None:
        return None
    try:
        models = summary["models"]
        record = RunRecord(
            run_id=str(summary["run_id"]),
            dependency=str(summary["dependency"]),
            finished=dt.date.fromisoformat(str(summary["finished_at"])[:10]),
            baseline=str(models["baseline"]),
            candidates=tuple(str(c) for c in models["candidates"]),
            verdict=str(summary["verdict"]),
            directory=summary_path.parent,
            signoff=read_signoff(summary_path.parent / SIGNOFF_FILE),
        )
    except (KeyError, TypeError, ValueError):
        return None
    return record


def read_signoff(path: Path) -> Signoff | None:
    data = _read_json(path)
    if data is None:
        return None
    try:
        decision = str(data["decision"])
        if decision not in DECISIONS:
            return None
        return Signoff(
            decision=decision,
            by=str(data["by"]),
            at=dt.date.fromisoformat(str(data["at"])[:10]),
            run_id=str(data["run_id"]),
            override=data.get("override"),
        )
    except (KeyError, TypeError, ValueError):
        return None
