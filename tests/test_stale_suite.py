"""A suite's age and health where people look: the `stale_suite` reason in `plan`, the
runbook and the calendar; the Suite facts of a runbook and of a run's report. Dates are
counted by hand in the comments; file ages come from real git repositories."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import icalendar
import pytest
from conftest import commit_as, init_repo, invoke, write
from typer.testing import CliRunner

from migrate.cases.health import case_dates, is_stale, told_apart
from migrate.errors import InputError
from migrate.evals.case import Case
from migrate.evals.record import StoredCase, case_from_record, read_cases, write_cases
from migrate.evals.suite import load_suite
from migrate.registry.load import load_registry
from migrate.schedule.due import DependencyFacts, Reason, plan_quarter
from migrate.schedule.quarters import Quarter
from tests.support.stored_run import store_run

REGISTRY = """
    version: 1
    settings: {{timezone: UTC, window: {{start_day: 8, length_days: 21}}{extra}}}
    models:
      vendor/old: {{}}
      vendor/new: {{}}
    dependencies:
      hand:
        model: vendor/old
        candidates: [vendor/new]
        owners: [alice@example.com]
        prompt: prompts/p.md.j2
        eval: {{cases: evals/hand.jsonl}}
      traffic:
        model: vendor/old
        candidates: [vendor/new]
        owners: [alice@example.com]
        prompt: prompts/p.md.j2
        eval: {{cases: evals/traffic.jsonl}}
"""


def case(case_id: str, imported: str | None = None) -> str:
    data: dict[str, object] = {"id": case_id, "vars": {"text": case_id}}
    if imported:
        data["provenance"] = {"source": "logs.jsonl", "line": 1, "imported": imported}
    return json.dumps(data) + "\n"


def workspace(root: Path, extra: str = "") -> Path:
    init_repo(root)
    write(root / "models.yaml", REGISTRY.format(extra=extra))
    write(root / "prompts" / "p.md.j2", "[user]\nSummarize {{ text }}\n")
    write(root / "evals" / "hand.jsonl", case("a") + case("b"))
    write(root / "evals" / "traffic.jsonl", case("t1", "2025-03-01") + case("t2", "2026-08-01"))
    commit_as(root, "alice@example.com", "2025-06-01", "Add the suites")
    (root / "notes.md").write_text("active\n")
    commit_as(root, "alice@example.com", "2026-09-01", "Notes", "notes.md")  # an active owner
    return root


# --- dating cases: provenance, else the file's last commit ----------------------------------


def cases(*imported: str | None) -> list[Case]:
    provenance = [{"imported": day} if day else None for day in imported]
    return [Case(id=f"c{i}", vars={}, provenance=p) for i, p in enumerate(provenance)]


def test_a_case_is_dated_by_provenance_else_by_the_files_last_commit() -> None:
    suite = cases("2026-03-01", "2026-05-10", None, None)
    older = case_dates(suite, dt.date(2026, 4, 2))  # the imports are the newest
    assert (older.newest, older.source, older.production) == (dt.date(2026, 5, 10), "provenance", 2)
    assert older.newest_production == dt.date(2026, 5, 10) and older.undated == 0
    newer = case_dates(suite, dt.date(2026, 6, 1))  # a hand-written case can be this new
    assert (newer.newest, newer.source, newer.newest_production) == (
        dt.date(2026, 6, 1), "git", dt.date(2026, 5, 10),
    )  # fmt: skip
    # Outside git the two hand-written cases have no date: never called stale.
    unknown = case_dates(suite, None)
    assert unknown.undated == 2 and is_stale(unknown, dt.date(2030, 1, 1), 365) is None
    # Every case imported: git does not matter.
    imported = case_dates(cases("2026-03-01"), dt.date(2026, 9, 1))
    assert (imported.newest, imported.source) == (dt.date(2026, 3, 1), "provenance")
    # 2026-03-01 to 2027-03-01 is 365 days: not younger than 365, so stale; a day before, not.
    assert is_stale(imported, dt.date(2027, 3, 1), 365) is True
    assert is_stale(imported, dt.date(2027, 2, 28), 365) is False


def test_an_imported_date_in_another_shape_is_refused_with_file_line_and_key(
    tmp_path: Path,
) -> None:
    for bad in ("2026-11-31", "20261120", "2026-W48-1", "yesterday", 20261120):
        path = write(tmp_path / "s.jsonl", case("a") + json.dumps(
            {"id": "b", "vars": {}, "provenance": {"imported": bad}}) + "\n")  # fmt: skip
        with pytest.raises(InputError) as caught:
            load_suite(path, "evals/s.jsonl")
        (problem,) = caught.value.problems
        assert (problem.file, problem.line, problem.key_path) == (
            "evals/s.jsonl", 2, "provenance.imported",
        )  # fmt: skip


def test_stored_cases_keep_their_provenance(tmp_path: Path) -> None:
    provenance = {"source": "logs.jsonl", "line": 7, "imported": "2026-11-02"}
    write_cases(tmp_path, [
        StoredCase(id="a", vars={}, messages=[{"role": "user", "content": "hi"}],
                   provenance=provenance),
        StoredCase(id="b", vars={}, messages=[{"role": "user", "content": "ho"}]),
    ])  # fmt: skip
    back = [case_from_record(c) for c in read_cases(tmp_path)]
    assert [c.provenance for c in back] == [provenance, None]


def test_told_apart_counts_only_cases_two_models_scored(tmp_path: Path) -> None:
    from migrate.evals.record import read_summary

    # vendor/other fails "one" (the first case), vendor/new passes all: "one" told them apart.
    first = store_run(tmp_path, finished=dt.date(2026, 11, 1), cases=("one", "two", "three"),
                      candidates={"vendor/new": "PASS", "vendor/other": "FAIL"})  # fmt: skip
    # a baseline-only run scores "four" on one model: compared nothing
    alone = store_run(tmp_path, finished=dt.date(2026, 11, 2), cases=("four",), candidates={})
    history = told_apart([read_summary(first.directory), read_summary(alone.directory)])
    assert history.seen == {"one", "two", "three"} and history.differed == {"one"}
    assert history.runs == 1


# --- stale_suite in the plan ------------------------------------------------------------------


@pytest.mark.parametrize(("newest", "stale"), [("2026-06-30", True), ("2026-07-01", False)])
def test_stale_suite_is_judged_when_the_window_opens(
    tmp_path: Path, newest: str, stale: bool
) -> None:
    root = workspace(tmp_path / "ws", ", suite_max_age_days: 100")
    registry = load_registry(root / "models.yaml")
    day = dt.date.fromisoformat(newest)
    baseline = dt.date(2026, 9, 1)  # fresh: the suite is the only reason
    facts = {
        dep: DependencyFacts(last_baseline=baseline, newest_case=day) for dep in ("hand", "traffic")
    }
    # The 2026Q4 window opens on 2026-10-08. From 2026-06-30: 1 + 31 + 31 + 30 + 7 = 100 days
    # (to Jul 1, Aug 1, Sep 1, Oct 1, Oct 8); from 2026-07-01: 99.
    plan = plan_quarter(registry, facts, dt.date(2026, 9, 15), Quarter(2026, 4))
    reasons = {due.dependency: due.reasons for due in plan.due}
    assert reasons == ({"hand": (Reason.STALE_SUITE,), "traffic": (Reason.STALE_SUITE,)}
                       if stale else {})  # fmt: skip


def test_plan_runbook_and_calendar_say_the_suite_is_stale(tmp_path: Path, cli: CliRunner) -> None:
    root = workspace(tmp_path / "ws")
    store_run(root, finished=dt.date(2026, 9, 10), dependency="hand", cases=("a", "b"))
    store_run(root, finished=dt.date(2026, 9, 10), dependency="traffic", cases=("t1", "t2"))
    result = invoke(cli, "plan", "--json", "--today", "2026-09-15", cwd=root)
    assert result.exit_code == 0, result.stderr
    reasons = {row["dependency"]: row["reasons"] for row in json.loads(result.stdout)["due"]}
    # hand: dated by the commit of 2025-06-01, 494 days before the window opens on
    # 2026-10-08 (365 to 2026-06-01, then 30 + 31 + 31 + 30 + 7 = 129). traffic: its
    # newest case was imported on 2026-08-01, 68 days before: not stale.
    assert reasons == {"hand": ["stale_suite"]}

    plain = invoke(cli, "plan", "--today", "2026-09-15", cwd=root)
    assert plain.exit_code == 0, plain.stderr
    (row,) = [line for line in plain.stdout.splitlines() if line.startswith("hand ")]
    assert "stale_suite" in row.split()

    runbook = (root / "runbooks" / "2026Q4" / "hand.md").read_text(encoding="utf-8")
    assert (
        "- `stale_suite`: The newest case of evals/hand.jsonl is from 2025-06-01 (by the suite "
        "file's last commit), 494 days old when the window opens on 2026-10-08: no case is "
        "younger than the limit of 365 days (`migrate cases import hand FILE` adds logged "
        "requests)."
    ) in runbook
    # The Suite facts, as of the plan's day: 2025-06-01 to 2026-09-15 is 365 + 106 = 471 days.
    # Two cases and the default 2-point margin: 3.8415 / 0.02 - 3.8415 = 188.2, so 189.
    # The stored run scored "a" and "b" on both models and they passed on both.
    assert (
        "### Suite\n\n"
        "- Size: 2 cases, too few: its 2-point margin needs 189, so it can never PASS\n"
        "- Newest case: 2025-06-01 (the file's last commit), 471 days old; the limit is 365 days\n"
        "- Newest production case: none: no case was imported from production traffic\n"
        "- Cases that never told two models apart: 2 of the 2 cases compared (100%), over 1 "
        "stored run\n"
    ) in runbook
    assert (
        "- [ ] Add recent cases to `evals/hand.jsonl` before the run: no case is younger than "
        "365 days (`migrate cases import hand FILE` adds logged production requests, scrubbed)."
        " <!-- step:refresh-suite -->\n"
    ) in runbook
    traffic = (root / "runbooks" / "2026Q4").glob("traffic.md")
    assert list(traffic) == []  # not due

    feed = invoke(cli, "calendar", "--today", "2026-09-15", "--out", "feed.ics", cwd=root)
    assert feed.exit_code == 0, feed.stderr
    events = icalendar.Calendar.from_ical((root / "feed.ics").read_bytes()).walk("VEVENT")
    (window,) = [e for e in events if str(e.get("SUMMARY")).startswith("Migration window 2026Q4")]
    description = str(window.get("DESCRIPTION"))
    assert "hand\n  Model: vendor/old\n  Why: stale_suite\n" in description
    assert "traffic" not in description


def test_status_json_shows_the_suites_age_against_its_limit(tmp_path: Path, cli: CliRunner) -> None:
    root = workspace(tmp_path / "ws")
    result = invoke(cli, "status", "--json", "--today", "2026-09-15", cwd=root)
    assert result.exit_code == 0, result.stderr
    suites = {row["dependency"]: row["suite"] for row in json.loads(result.stdout)}
    hand, traffic = suites["hand"], suites["traffic"]
    assert (hand["cases"], hand["cases_needed"], hand["can_pass"]) == (2, 189, False)
    assert (hand["newest_case"], hand["newest_case_from"], hand["age_days"]) == (
        "2025-06-01", "git", 471,
    )  # fmt: skip
    assert (hand["max_age_days"], hand["stale"], hand["undated_cases"]) == (365, True, 0)
    # traffic: 2026-08-01 to 2026-09-15 is 31 + 14 = 45 days
    assert (traffic["newest_case"], traffic["newest_case_from"], traffic["age_days"]) == (
        "2026-08-01", "provenance", 45,
    )  # fmt: skip
    assert (traffic["production_cases"], traffic["newest_production_case"]) == (2, "2026-08-01")
    assert traffic["stale"] is False
    assert hand["never_told_apart"] is None and hand["runs_compared"] == 0
    text = invoke(cli, "status", "--today", "2026-09-15", cwd=root)
    assert text.exit_code == 0, text.stderr
    assert text.stdout.splitlines()[-1] == (
        "hand: no case of evals/hand.jsonl is younger than 365 days: the newest is from "
        "2025-06-01, 471 days old (stale_suite)"
    )
    assert "traffic: no case" not in text.stdout


# --- the report: the suite as of the run ------------------------------------------------------


def test_the_report_shows_the_suite_as_of_the_run(tmp_path: Path, cli: CliRunner) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    three = ("one", "two", "three")
    # Before: every case passes on both models (compared, told nothing apart).
    store_run(root, finished=dt.date(2026, 11, 10), cases=three)
    # The run: vendor/other fails "one".
    run = store_run(root, finished=dt.date(2026, 11, 21), cases=three,
                    candidates={"vendor/new": "PASS", "vendor/other": "FAIL"})  # fmt: skip
    # After: vendor/other fails "two" too; not known when the run was made.
    store_run(root, finished=dt.date(2026, 11, 25), cases=("two",),
              candidates={"vendor/other": "FAIL"})  # fmt: skip
    stored = [json.loads(line) for line in (run.directory / "cases.jsonl").read_text().splitlines()]
    stored[1]["provenance"] = {"source": "logs.jsonl", "line": 4, "imported": "2026-10-02"}
    stored[2]["provenance"] = {"source": "logs.jsonl", "line": 9, "imported": "2026-11-20"}
    (run.directory / "cases.jsonl").write_text("".join(json.dumps(c) + "\n" for c in stored))
    manifest = json.loads((run.directory / "run.json").read_text())
    manifest["reproducibility"]["last_commits"]["evals/summary.jsonl"] = {
        "commit": "0123456789abcdef", "date": "2026-09-15", "author": "Alice",
    }  # fmt: skip
    (run.directory / "run.json").write_text(json.dumps(manifest))

    result = invoke(cli, "report", str(run.directory), cwd=root)
    # INCONCLUSIVE (3): three cases can settle nothing against a 2-point margin
    assert result.exit_code == 3, result.output + result.stderr
    report = (run.directory / "report.md").read_text(encoding="utf-8")
    # The run started on 2026-11-21: its newest case, imported on 2026-11-20, was a day old.
    # "one" told the models apart in the run itself; "two" and "three" never did in the
    # two runs up to it (the later run does not count): 2 of 3.
    assert (
        "## Suite (as of 2026-11-21)\n\n"
        "- Size: 3 cases, too few: its 2-point margin needs 189, so it can never PASS\n"
        "- Newest case: 2026-11-20 (imported), 1 day old\n"
        "- Newest production case: 2026-11-20 (2 of 3 cases imported)\n"
        "- Cases that never told two models apart: 2 of the 3 cases compared (67%), over 2 "
        "stored runs\n"
    ) in report
    page = (run.directory / "report.html").read_text(encoding="utf-8")
    assert "<h2>Suite (as of 2026-11-21)</h2>" in page
    assert "<li>Newest case: 2026-11-20 (imported), 1 day old</li>" in page


def test_a_report_of_hand_written_cases_dates_them_by_the_recorded_commit(
    tmp_path: Path, cli: CliRunner
) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    run = store_run(root, finished=dt.date(2026, 11, 21), cases=("one",))
    manifest = json.loads((run.directory / "run.json").read_text())
    manifest["reproducibility"]["last_commits"]["evals/summary.jsonl"] = {
        "commit": "0123456789abcdef", "date": "2026-09-15", "author": "Alice",
    }  # fmt: skip
    (run.directory / "run.json").write_text(json.dumps(manifest))
    assert invoke(cli, "report", str(run.directory), cwd=root).exit_code == 3  # INCONCLUSIVE
    report = (run.directory / "report.md").read_text(encoding="utf-8")
    # 2026-09-15 to 2026-11-21: 15 + 31 + 21 = 67 days
    assert "- Newest case: 2026-09-15 (the file's last commit), 67 days old\n" in report
