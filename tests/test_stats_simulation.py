"""The simulation behind docs/statistics.md still runs and still fits the doc's markers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "simulate_stats.py"
DOC = ROOT / "docs" / "statistics.md"


@pytest.mark.slow
def test_simulation_script_prints_every_table() -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--grid-reps",
            "2",
            "--reps",
            "2",
            "--jobs",
            "1",
            "--sequential-reps",
            "2",
        ],  # fmt: skip
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    for heading in ("Choosing the interval", "Verdicts", "Samples sharpen", "Cases to settle",
                    "Sequential verdicts"):  # fmt: skip
        assert heading in result.stdout
    # Every planted truth of the sequential table, at 500 and 2,000 cases.
    for truth in ("clearly worse", "identical", "equally good", "at the margin"):
        assert f"| {truth}" in result.stdout
        for n in (500, 2000):
            assert any(
                line.startswith(f"| {truth}") and f"| {n} |" in line
                for line in result.stdout.splitlines()
            )
    # Every (K, n) row of the verdict table, K = 1, 3, 5 and n = 20 to 500.
    for k in (1, 3, 5):
        for n in (20, 50, 80, 200, 500):
            assert f"| {k} | {n} |" in result.stdout


def test_the_doc_holds_one_generated_block() -> None:
    text = DOC.read_text()
    assert text.count("<!-- simulation:start -->") == 1
    assert text.count("<!-- simulation:end -->") == 1
    block = text.split("<!-- simulation:start -->")[1].split("<!-- simulation:end -->")[0]
    assert "2000 simulated suites each" in block
    assert "| 5 | 80 |" in block
    assert text.count("<!-- sequential:start -->") == 1
    assert text.count("<!-- sequential:end -->") == 1
    sequential = text.split("<!-- sequential:start -->")[1].split("<!-- sequential:end -->")[0]
    assert "2000 suites per row" in sequential
