"""Where runs live: the one module that knows the layout of a workspace's run directories.

    runbooks/<quarter>/<dependency>.md                 the runbook a sign-off line goes into
    runbooks/<quarter>/<dependency>/runs/<run-id>/     one run (see record.py for its files)
    .migrate/locks/<dependency>.lock                   held while a run of it is in progress

Run ids are UTC timestamps (`20270110T090000Z`, then `-2`, `-3` within one second), so they
sort by time. A run directory appears whole (see `create_run_dir`); a hidden folder beside
the runs (`.<run-id>`) is one being created, never a run.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from migrate.errors import UsageError
from migrate.files import sync_folder

RUNBOOKS_DIR = "runbooks"
RUNS_DIR = "runs"
STATE_DIR = ".migrate"
# The files of a run directory (their formats: record.py).
MANIFEST_FILE = "run.json"
CASES_FILE = "cases.jsonl"
JOURNAL_FILE = "journal.jsonl"
SUMMARY_FILE = "summary.json"
SIGNOFF_FILE = "signoff.json"
REPORT_FILES = ("report.md", "report.html", "junit.xml")
_RUN_ID = re.compile(r"\d{8}T\d{6}Z(-\d+)?")  # what new_run_id makes


def runs_root(root: Path) -> Path:
    return root / RUNBOOKS_DIR


def quarter_runs(root: Path, quarter: str, dependency: str) -> Path:
    """The folder that holds a dependency's runs of one quarter."""
    return root / RUNBOOKS_DIR / quarter / dependency / RUNS_DIR


def runs_folder(quarter: object, dependency: str) -> str:
    """That folder relative to the workspace, as a POSIX path (for runbooks and messages)."""
    return f"{RUNBOOKS_DIR}/{quarter}/{dependency}/{RUNS_DIR}"


def runbook_path(quarter: object, dependency: str) -> str:
    """A dependency's runbook of a quarter, relative to the workspace (POSIX)."""
    return f"{RUNBOOKS_DIR}/{quarter}/{dependency}.md"


def quarter_of(run_dir: Path) -> str:
    """The quarter a run directory is filed under."""
    return run_dir.parents[2].name


def workspace_of(run_dir: Path) -> Path:
    """The workspace root a run directory belongs to."""
    return run_dir.resolve().parents[4]


def new_run_id(now: dt.datetime, parent: Path) -> str:
    base = now.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    run_id, n = base, 1
    while (parent / run_id).exists():
        n += 1
        run_id = f"{base}-{n}"
    return run_id


def create_run_dir(parent: Path, run_id: str, fill: Callable[[Path], None]) -> Path:
    """A new run directory that appears whole, with its files and an empty journal.

    `fill` writes the run's files into a hidden folder beside it, which is then renamed into
    place: a kill while they are written leaves no run without its cases or its journal, only
    a hidden folder that is no run and that the next start removes. Call it holding the
    dependency's lock, which keeps any other start out of `parent`.
    """
    parent.mkdir(parents=True, exist_ok=True)
    for leftover in parent.glob(".*"):  # only what a start left: a hidden run id
        if leftover.is_dir() and _RUN_ID.fullmatch(leftover.name[1:]):
            shutil.rmtree(leftover, ignore_errors=True)
    being_created = parent / f".{run_id}"
    being_created.mkdir()
    fill(being_created)
    (being_created / JOURNAL_FILE).touch()
    run_dir = parent / run_id
    being_created.rename(run_dir)
    sync_folder(parent)
    return run_dir


def _runs_with(root: Path, dependency: str, marker: str) -> list[Path]:
    found = [p.parent for p in runs_root(root).glob(f"*/{dependency}/{RUNS_DIR}/*/{marker}")]
    return sorted((p for p in found if not p.name.startswith(".")), key=lambda p: p.name)


def dependency_runs(root: Path, dependency: str) -> list[Path]:
    """Run directories of a dependency, finished or not, oldest first."""
    return _runs_with(root, dependency, MANIFEST_FILE)


def finished_runs(root: Path, dependency: str = "*") -> list[Path]:
    """Run directories with a summary (of one dependency, or all), oldest first."""
    return _runs_with(root, dependency, SUMMARY_FILE)


def finished_runs_by_dependency(root: Path) -> dict[str, list[Path]]:
    """`finished_runs` of every dependency with one, from one walk of the runs folder."""
    found: dict[str, list[Path]] = {}
    for run_dir in finished_runs(root):
        found.setdefault(run_dir.parents[1].name, []).append(run_dir)
    return found


def signed_runs(root: Path) -> list[Path]:
    """Run directories with a sign-off, oldest first."""
    return _runs_with(root, "*", SIGNOFF_FILE)


def latest_finished_run(root: Path, dependency: str, run_id: str | None) -> Path:
    """The finished run to decide on: `run_id`, else the dependency's latest."""
    runs = finished_runs(root, dependency)
    if run_id is not None:
        runs = [p for p in runs if p.name == run_id]
        if not runs:
            raise UsageError(f"no finished run '{run_id}' of '{dependency}'")
    if not runs:
        raise UsageError(
            f"'{dependency}' has no finished run to sign off: run `migrate run {dependency}` first"
        )
    return runs[-1]


def find_run(root: Path, run: str) -> Path:
    """A run directory from a path or a run id."""
    path = Path(run)
    if (path / MANIFEST_FILE).exists():
        return path
    matches = sorted(
        p.parent for p in runs_root(root).glob(f"*/*/{RUNS_DIR}/{run}/{MANIFEST_FILE}")
    )
    if not matches:
        raise UsageError(
            f"no run '{run}' found (give a run directory or a run id under {runs_root(root)})"
        )
    if len(matches) > 1:
        raise UsageError(f"run id '{run}' is ambiguous: " + ", ".join(map(str, matches)))
    return matches[0]


@contextmanager
def dependency_lock(root: Path, dependency: str) -> Iterator[None]:
    """Refuse a second concurrent run of the same dependency (released even on a kill)."""
    lock_dir = root / STATE_DIR / "locks"
    lock_dir.mkdir(parents=True, exist_ok=True)
    path = lock_dir / f"{dependency}.lock"
    handle = path.open("a+")
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise UsageError(
                f"another `migrate run {dependency}` is in progress ({holder}); "
                "wait for it to finish"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        yield
    finally:
        handle.close()
