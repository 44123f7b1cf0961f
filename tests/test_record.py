"""The run record: files written by the first release still read, and a hand-edited file is
refused with its name and line rather than half-read."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from migrate.errors import UsageError
from migrate.evals.inputs import read_inputs
from migrate.evals.journal import read_journal
from migrate.evals.record import read_signoff, read_summary

EXAMPLE_RUN = next(
    (Path(__file__).parents[1] / "runbooks" / "2027Q1" / "faq-answerer" / "runs").iterdir()
)


def test_the_committed_version_1_run_reads_and_keeps_its_identity() -> None:
    inputs = read_inputs(EXAMPLE_RUN)
    stored = json.loads((EXAMPLE_RUN / "run.json").read_text(encoding="utf-8"))
    # The identity decides whether a rerun is served from this run: it must not move.
    assert inputs.identity() == stored["inputs_sha256"]
    assert len(inputs.cases) == stored["suite"]["cases"] == 30
    summary = read_summary(EXAMPLE_RUN)
    raw = json.loads((EXAMPLE_RUN / "summary.json").read_text(encoding="utf-8"))
    assert summary.verdict == raw["verdict"] == "FAIL"
    assert (
        summary.candidates["openai/gemma3-270m"].regressions
        == (raw["candidates"]["openai/gemma3-270m"]["regressions"])
    )
    signoff = read_signoff(EXAMPLE_RUN)
    assert (signoff.decision, signoff.by) == ("keep", "alice@example.com")
    lines = (EXAMPLE_RUN / "journal.jsonl").read_bytes().splitlines(keepends=True)
    entries = list(read_journal(EXAMPLE_RUN / "journal.jsonl"))
    assert len(entries) == len(lines) == 60
    assert [e.to_line() for e in entries] == lines  # written back byte for byte


def test_a_journal_entry_edited_to_a_wrong_type_is_refused_with_its_line(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(EXAMPLE_RUN, run_dir)
    journal = run_dir / "journal.jsonl"
    lines = journal.read_text(encoding="utf-8").splitlines()
    entry = json.loads(lines[2])
    entry["record"]["latency"] = {"seconds": 1}
    lines[2] = json.dumps(entry)
    journal.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(
        UsageError, match=r"journal\.jsonl:3: not a journal entry \(record\.latency"
    ):
        list(read_journal(journal))


def test_a_torn_last_line_is_skipped_not_refused(tmp_path: Path) -> None:
    journal = tmp_path / "journal.jsonl"
    whole = (EXAMPLE_RUN / "journal.jsonl").read_bytes().splitlines(keepends=True)
    journal.write_bytes(b"".join(whole[:5]) + whole[5][:40] + b"\n")  # cut, then repaired
    assert len(list(read_journal(journal))) == 5


def test_a_summary_with_an_unknown_verdict_names_the_file_and_field(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(EXAMPLE_RUN, run_dir)
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    summary["verdict"] = "MAYBE"
    (run_dir / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    with pytest.raises(UsageError, match=r"summary\.json: not a readable summary\.json \(verdict:"):
        read_summary(run_dir)
