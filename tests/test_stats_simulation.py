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
        [sys.executable, str(SCRIPT), "--grid-reps", "2", "--reps", "2", "--jobs", "1"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    for heading in ("Choosing the interval", "Verdicts", "Samples sharpen", "Cases to settle"):
        assert heading in result.stdout
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
