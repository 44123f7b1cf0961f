"""The stored runs that tests build by hand (tests/support/stored_run.py) are run directories
of format version 1 as migrate reads them: `migrate report` re-renders one without a model
call and re-scores its journal to the outcomes its summary states, and `migrate status`
shows its verdict and sign-off."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from conftest import invoke, write
from typer.testing import CliRunner

from tests.support.stored_run import store_run

REGISTRY = """
    version: 1
    models:
      vendor/old: {retires: 2027-06-30}
      vendor/new: {}
      vendor/other: {}
    dependencies:
      summarizer:
        model: vendor/old
        candidates: [vendor/new, vendor/other]
        owners: [alice@example.com]
        prompt: prompts/summary.md.j2
        eval: {cases: evals/summary.jsonl, checks: [{type: icontains, value: summary}]}
"""


def workspace(root: Path) -> Path:
    write(root / "models.yaml", REGISTRY)
    write(root / "prompts" / "summary.md.j2", "[user]\nSummarize {{ text }}\n")
    write(root / "evals" / "summary.jsonl", '{"id": "one", "vars": {"text": "one"}}\n')
    return root


def shape(value: Any) -> Any:
    """The keys of a JSON value at every depth (model and case names as '*')."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(v) for v in value[:1]]
    return type(value).__name__ if value is not None else None


def test_migrate_report_rescores_a_stored_run_to_its_stated_outcomes(
    tmp_path: Path, cli: CliRunner
) -> None:
    root = workspace(tmp_path)
    run = store_run(root, finished=dt.date(2027, 1, 12), cases=("one", "two", "three"),
                    candidates={"vendor/new": "PASS", "vendor/other": "FAIL"})  # fmt: skip
    stated = json.loads((run.directory / "summary.json").read_text(encoding="utf-8"))
    result = invoke(cli, "report", run.run_id, cwd=root)
    assert result.exit_code == 3, result.stderr  # three cases settle nothing: INCONCLUSIVE
    assert result.stdout.startswith(
        f"INCONCLUSIVE: re-rendered runbooks/2027Q1/summarizer/runs/{run.run_id} "
    )
    rendered = json.loads((run.directory / "summary.json").read_text(encoding="utf-8"))
    # by hand: the baseline passes all three, vendor/new too, vendor/other fails "one"
    assert rendered["outcomes"] == {
        "vendor/old": {"one": 1.0, "two": 1.0, "three": 1.0},
        "vendor/new": {"one": 1.0, "two": 1.0, "three": 1.0},
        "vendor/other": {"one": 0.0, "two": 1.0, "three": 1.0},
    }
    assert rendered["outcomes"] == stated["outcomes"]
    assert rendered["candidates"]["vendor/other"]["regressions"] == ["one"]
    assert rendered["calls"] == {
        "journaled": 9,
        "cached": 0,
        "errors": 0,
        "made_this_time": 9,
        "rate_limited": {},
        "cost": 0.0,  # every stored call cost nothing
        "deployments": {},  # no model has several
    }
    # Every key of the stored version 1 summary is written again; later fields come beside.
    for key in ("metrics", "candidates"):
        for model in stated[key]:
            assert set(rendered[key][model]) >= set(stated[key][model]), (key, model)
    assert set(rendered) - {"cost"} == set(stated) | {"stopping"}  # added after version 1
    assert rendered["stopping"] is None  # null: every case was run
    assert shape(rendered["drift"]) == shape(stated["drift"])


def test_migrate_status_reads_a_stored_run_and_its_signoff(tmp_path: Path, cli: CliRunner) -> None:
    root = workspace(tmp_path)
    store_run(root, finished=dt.date(2027, 1, 12), candidates={"vendor/new": "PASS"},
              decision="approve")  # fmt: skip
    result = invoke(cli, "status", "--json", "--registry", str(root / "models.yaml"),
                    "--today", "2027-01-20")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    (row,) = json.loads(result.stdout)
    assert row["last_run"] == "20270112T115500Z" and row["last_verdict"] == "PASS"
    assert row["signoff"] == {"decision": "approve", "by": "alice@example.com",
                              "at": "2027-01-12", "run": "20270112T115500Z"}  # fmt: skip
    assert row["baseline_age_days"] == 8
