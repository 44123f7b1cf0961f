"""`migrate status --json`: each dependency's suite size against its margin, its age, and the
cases that never told two models apart."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from conftest import commit_as, init_repo, invoke, write
from typer.testing import CliRunner

from migrate.evals.power import cases_to_rule_out
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
        gates: {pass_rate_drop: 0.05}
      handwritten:
        model: vendor/old
        owners: [alice@example.com]
        prompt: prompts/summary.md.j2
        eval: {cases: evals/hand.jsonl}
"""


def case(case_id: str, imported: str | None) -> str:
    data = {"id": case_id, "vars": {"text": case_id}}
    if imported:
        data["provenance"] = {"source": "logs.jsonl", "line": 1, "imported": imported}
    return json.dumps(data) + "\n"


def test_status_json_shows_each_suites_size_need_and_age(tmp_path: Path, cli: CliRunner) -> None:
    root = init_repo(tmp_path / "ws")
    write(root / "models.yaml", REGISTRY)
    write(root / "prompts" / "summary.md.j2", "[user]\nSummarize {{ text }}\n")
    write(
        root / "evals" / "summary.jsonl",
        case("one", None) + case("two", "2026-10-02") + case("three", "2026-11-20"),
    )
    write(root / "evals" / "hand.jsonl", case("a", None))
    commit_as(root, "alice@example.com", "2026-09-15", "Add the suites")
    # vendor/other fails "one"; "two" and "three" pass on every model
    store_run(root, finished=dt.date(2026, 11, 21), cases=("one", "two", "three"),
              candidates={"vendor/new": "PASS", "vendor/other": "FAIL"})  # fmt: skip
    result = invoke(cli, "status", "--json", "--today", "2026-11-30", cwd=root)
    assert result.exit_code == 0, result.stderr
    suites = {s["dependency"]: s["suite"] for s in json.loads(result.stdout)}
    assert suites["summarizer"] == {
        "path": "evals/summary.jsonl",
        "cases": 3,
        "margin": 0.05,
        "cases_needed": 73,  # by hand: 3.8415 / 0.05 - 3.8415 = 72.99, so 73 cases
        "production_cases": 2,
        "newest_case": "2026-11-20",
        "newest_case_from": "provenance",
        "age_days": 10,
        "newest_production_case": "2026-11-20",
        "never_told_apart": 2 / 3,
        "cases_in_runs": 3,
        "problem": None,
        "samples": 1,
        # By hand: 3.8415 / (3 + 3.8415) = 0.5615: 3 cases can never PASS a 5-point margin.
        "smallest_drop_ruled_out": suites["summarizer"]["smallest_drop_ruled_out"],
        "can_pass": False,
        "shortfall": (
            "its 3-case suite cannot rule out a drop smaller than 56.1 points even if the "
            "models agree on every case, so its pass_rate_drop of 5 points can never PASS: "
            "grow the suite to 73 cases"
        ),
        "runs_compared": 1,  # the one stored run, which scored every case on three models
        "undated_cases": 0,
        "max_age_days": 365,  # the default limit
        "stale": False,  # the newest case is 10 days old
    }
    assert suites["summarizer"]["smallest_drop_ruled_out"] == pytest.approx(0.5615, abs=5e-5)
    hand = suites["handwritten"]
    assert (hand["newest_case"], hand["newest_case_from"], hand["age_days"]) == (
        "2026-09-15",
        "git",
        76,
    )
    assert hand["cases_needed"] == 189  # the default 0.02 margin: about 190, as the README says
    assert hand["never_told_apart"] is None and hand["production_cases"] == 0


def test_cases_needed_matches_the_zero_disagreement_bound() -> None:
    from migrate.evals.stats import tango_interval

    for margin in (0.02, 0.05, 0.1):
        n = cases_to_rule_out(margin)
        assert tango_interval(0, 0, n).low > -margin
        assert tango_interval(0, 0, n - 1).low <= -margin
