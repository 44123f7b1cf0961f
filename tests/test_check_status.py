"""`migrate check` (the pre-commit gate) and `migrate status` (the one-table overview),
driven through the CLI with stored runs on disk and real git history."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import textwrap
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO_ROOT, commit_as, init_repo, invoke, write
from typer.testing import CliRunner

from migrate.registry.load import load_registry
from migrate.schedule.due import DependencyFacts
from migrate.schedule.findings import retirement_findings
from tests.support.stored_run import store_run

TODAY = dt.date(2026, 10, 1)


def workspace(root: Path, retires: dt.date | None, *, candidates: str = "[vendor/new]",
              with_eval: bool = True, replacement: str = "vendor/new", cases: int = 189,
              gates: str = "") -> Path:  # fmt: skip
    """A one-dependency registry whose model retires on `retires`; returns its path. Its
    suite's 189 cases can rule out the default 2-point margin (by hand: n > z^2 x 49)."""
    lifecycle = [f"retires: {retires.isoformat()}"] if retires else []
    lifecycle.append(f"replacement: {replacement}")
    write(root / "prompts" / "summary.md.j2", "[user]\nSummarize {{ text }}\n")
    lines = [f'{{"id": "c{i}", "vars": {{"text": "x"}}}}\n' for i in range(cases)]
    write(root / "evals" / "summary.jsonl", "".join(lines))
    suite = "    eval: {cases: evals/summary.jsonl, checks: [{type: not_refusal}]}\n"
    suite = suite + (f"    gates: {gates}\n" if gates else "") if with_eval else ""
    text = (
        "version: 1\n"  # 1
        "settings:\n"  # 2
        "  safety_margin_days: 30\n"  # 3
        "  reminders_days: [60, 30, 14, 7, 1]\n"  # 4
        "models:\n"  # 5
        f"  vendor/old: {{{', '.join(lifecycle)}}}\n"  # 6
        "  vendor/new: {}\n"  # 7
        "dependencies:\n"  # 8
        "  summarizer:\n"  # 9
        "    model: vendor/old\n"  # 10
        f"    candidates: {candidates}\n"  # 11
        "    owners: [alice@example.com]\n"  # 12
        "    prompt: prompts/summary.md.j2\n"  # 13
        f"{suite}"
    )
    path = root / "models.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def check(cli: CliRunner, path: Path, *extra: str, today: dt.date = TODAY) -> Any:
    return invoke(cli, "check", "--registry", str(path), "--today", today.isoformat(), *extra)


def days(n: int) -> dt.date:
    return TODAY + dt.timedelta(days=n)


# --- check: exit codes -------------------------------------------------------------------


def test_check_passes_quietly_far_from_retirement(tmp_path: Path, cli: CliRunner) -> None:
    path = workspace(tmp_path, days(200))
    result = check(cli, path)
    assert result.exit_code == 0
    assert result.stderr == ""
    assert result.stdout == f"{path}: 1 dependency, 2 models, 0 errors, 0 warnings\n"


def test_check_warns_when_a_retirement_is_near(tmp_path: Path, cli: CliRunner) -> None:
    path = workspace(tmp_path, days(45))
    result = check(cli, path)
    assert result.exit_code == 0
    assert result.stderr == (
        f"{path}:10: warning: summarizer: vendor/old retires on 2026-11-15 (45 days left)\n"
    )
    assert "0 errors, 1 warning" in result.stdout


def test_check_warning_horizon_is_the_earliest_reminder(tmp_path: Path, cli: CliRunner) -> None:
    assert "warning" in check(cli, workspace(tmp_path, days(60))).stderr
    assert check(cli, workspace(tmp_path, days(61))).stderr == ""


@pytest.mark.parametrize(("retires_in", "code"), [(31, 0), (30, 1), (1, 1), (0, 1), (-5, 1)])
def test_check_fails_inside_the_safety_margin(
    tmp_path: Path, cli: CliRunner, retires_in: int, code: int
) -> None:
    """The latest safe day is retires - 30: from that day on, without approval, exit 1."""
    result = check(cli, workspace(tmp_path, days(retires_in)))
    assert result.exit_code == code, result.stderr
    assert ("error:" in result.stderr) == (code == 1)


def test_check_error_says_what_to_run(tmp_path: Path, cli: CliRunner) -> None:
    path = workspace(tmp_path, days(-5))
    result = check(cli, path)
    assert result.exit_code == 1
    assert result.stderr == (
        f"{path}:10: error: summarizer: vendor/old retired on 2026-09-26 (5 days ago), inside "
        "the 30-day safety margin, and no migration is approved: run `migrate run summarizer` "
        "and `migrate signoff summarizer`\n"
    )
    assert "1 error, 0 warnings" in result.stdout


def test_an_approved_signoff_turns_the_error_into_a_warning(tmp_path: Path, cli: CliRunner) -> None:
    path = workspace(tmp_path, days(10))
    store_run(tmp_path, finished=dt.date(2026, 9, 20), decision="approve")
    result = check(cli, path)
    assert result.exit_code == 0
    assert "warning: summarizer: vendor/old retires on 2026-10-11 (10 days left)" in result.stderr


@pytest.mark.parametrize(
    ("decision", "verdict", "baseline"),
    [
        ("reject", "PASS", "vendor/old"),  # a rejection is no migration
        ("keep", "PASS", "vendor/old"),  # keeping a retiring model is no migration
        (None, "PASS", "vendor/old"),  # a run without a sign-off
        ("approve", "PASS", "vendor/older"),  # approved, but for another model
        ("approve", "ERROR", "vendor/old"),  # a run that measured nothing
    ],
)
def test_only_an_approved_migration_of_this_model_counts(
    tmp_path: Path, cli: CliRunner, decision: str | None, verdict: str, baseline: str
) -> None:
    path = workspace(tmp_path, days(10))
    store_run(tmp_path, finished=dt.date(2026, 9, 20), candidates={"vendor/new": verdict},
              decision=decision, baseline=baseline)  # fmt: skip
    result = check(cli, path)
    assert result.exit_code == 1
    assert result.stderr == (
        f"{path}:10: error: summarizer: vendor/old retires on 2026-10-11 (10 days left), inside "
        "the 30-day safety margin, and no migration is approved: run `migrate run summarizer` "
        "and `migrate signoff summarizer`\n"
    )


def test_unreadable_stored_runs_are_ignored_not_fatal(tmp_path: Path, cli: CliRunner) -> None:
    path = workspace(tmp_path, days(200))
    write(tmp_path / "runbooks" / "2026Q3" / "summarizer" / "runs" / "x" / "summary.json", "{")
    result = check(cli, path)
    assert result.exit_code == 0
    assert result.stdout == f"{path}: 1 dependency, 2 models, 0 errors, 0 warnings\n"
    assert result.stderr == ""


def test_check_warns_about_what_makes_a_migration_unmeasurable(
    tmp_path: Path, cli: CliRunner
) -> None:
    path = workspace(tmp_path, days(200), candidates="[]", with_eval=False,
                     replacement="vendor/unlisted")  # fmt: skip
    result = check(cli, path)
    assert result.exit_code == 0
    assert result.stderr.splitlines() == [
        f"{path}:9: warning: summarizer: vendor/old has a retirement date but no candidates",
        f"{path}:9: warning: summarizer: no eval suite: a migration cannot be measured",
        f"{path}:6: warning: replacement 'vendor/unlisted' is not under 'models'",
    ]


def test_check_warns_when_a_suite_can_never_pass_its_margin(tmp_path: Path, cli: CliRunner) -> None:
    # The scaffold's old shape: 8 cases at a 5-point margin. By hand, even with perfect
    # agreement the interval reaches z^2/(8 + z^2) = 3.8415/11.8415 = 32.4 points below zero,
    # and 5 points need n > 3.8415 x 0.95 / 0.05 = 72.99, so 73 cases.
    path = workspace(tmp_path, days(200), cases=8, gates="{pass_rate_drop: 0.05}")
    result = check(cli, path)
    assert result.exit_code == 0  # a warning, not an error
    assert result.stdout == f"{path}: 1 dependency, 2 models, 0 errors, 1 warning\n"
    assert result.stderr == (
        f"{path}:15: warning: summarizer: its 8-case suite cannot rule out a drop smaller than "
        "32.4 points even if the models agree on every case, so its pass_rate_drop of 5 points "
        "can never PASS: grow the suite to 73 cases (`migrate cases import summarizer FILE` "
        "adds logged requests)\n"
    )
    # 73 cases are enough, 72 are not.
    assert check(cli, workspace(tmp_path, days(200), cases=73, gates="{pass_rate_drop: 0.05}"))\
        .stdout.endswith("0 warnings\n")  # fmt: skip
    short = check(cli, workspace(tmp_path, days(200), cases=72, gates="{pass_rate_drop: 0.05}"))
    assert "grow the suite to 73 cases" in short.stderr
    data = json.loads(check(cli, path, "--json").stdout)
    (warning,) = data["warnings"]
    assert (warning["dependency"], warning["line"]) == ("summarizer", 15)
    assert "grow the suite to 73 cases" in warning["message"]


def test_check_json_shape(tmp_path: Path, cli: CliRunner) -> None:
    path = workspace(tmp_path, days(-1), with_eval=False)
    result = check(cli, path, "--json")
    assert result.exit_code == 1
    assert result.stderr == ""
    data = json.loads(result.stdout)
    assert data == {
        "registry": str(path),
        "ok": False,
        "dependencies": 1,
        "models": 2,
        "errors": [
            {
                "level": "error",
                "dependency": "summarizer",
                "model": "vendor/old",
                "line": 10,
                "message": data["errors"][0]["message"],
            }
        ],
        "warnings": [
            {
                "level": "warning",
                "dependency": "summarizer",
                "model": "vendor/old",
                "line": 9,
                "message": "no eval suite: a migration cannot be measured",
            }
        ],
    }
    assert data["errors"][0]["message"].startswith("vendor/old retired on 2026-09-30 (1 day ago)")


def test_check_json_when_all_is_well(tmp_path: Path, cli: CliRunner) -> None:
    result = check(cli, workspace(tmp_path, days(300)), "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["ok"] is True and data["errors"] == [] and data["warnings"] == []


def test_check_on_the_bundled_example(example_workspace: Path, cli: CliRunner) -> None:
    ok = invoke(cli, "check", "--today", "2026-10-01", cwd=example_workspace)
    assert ok.exit_code == 0, ok.stderr
    # Every example suite is too small for its margin ever to PASS: check says so, each
    # with the cases it needs (by hand: 40 cases bound a drop at 3.8415/43.8415 = 8.8 points;
    # 2 points need n > 3.8415 x 49 = 188.2).
    assert ok.stdout == "models.yaml: 7 dependencies, 15 models, 0 errors, 8 warnings\n"
    warnings = ok.stderr.splitlines()
    assert warnings[0] == (
        "models.yaml:114: warning: support-reply-drafter: anthropic/claude-sonnet-4-5-20250929 "
        "retires on 2026-11-30 (60 days left)"
    )
    assert warnings[1] == (
        "models.yaml:91: warning: billing-summarizer: its 40-case suite cannot rule out a drop "
        "smaller than 8.8 points even if the models agree on every case, so its pass_rate_drop "
        "of 2 points can never PASS: grow the suite to 189 cases (`migrate cases import "
        "billing-summarizer FILE` adds logged requests)"
    )
    assert all("can never PASS: grow the suite to" in w for w in warnings[1:])
    late = invoke(cli, "check", "--today", "2026-11-15", "--json", cwd=example_workspace)
    assert late.exit_code == 1
    errors = json.loads(late.stdout)["errors"]
    assert [e["dependency"] for e in errors] == ["support-reply-drafter"]


def test_check_rejects_a_bad_today(tmp_path: Path, cli: CliRunner) -> None:
    result = invoke(cli, "check", "--registry", str(workspace(tmp_path, None)), "--today", "soon")
    assert result.exit_code == 2
    assert "'soon' is not a date (YYYY-MM-DD)" in result.stderr


def test_findings_are_pure(tmp_path: Path) -> None:
    registry = load_registry(workspace(tmp_path, days(20)))
    approved = {"summarizer": DependencyFacts(approved=True)}
    assert [f.level for f in retirement_findings(registry, {}, TODAY)] == ["error"]
    assert [f.level for f in retirement_findings(registry, approved, TODAY)] == ["warning"]
    assert retirement_findings(registry, {}, days(-100)) == []  # long before: nothing to say


# --- the planning commands stay fast: no litellm, no GitPython, no unused run record -----

IMPORT_PROBE = textwrap.dedent(
    """
    import sys
    from migrate.cli import main
    sys.argv = ["migrate", *sys.argv[1:]]
    try:
        main()
    except SystemExit as exit:
        code = exit.code
    probed = ("litellm", "openai", "git", "migrate.evals.record")
    heavy = sorted(m for m in probed if m in sys.modules)
    print("EXIT", code, "HEAVY", ",".join(heavy) or "-")
    """
)


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["check"], 0),
        (["check", "--json"], 0),
        (["--help"], 0),
        (["status", "--json"], 0),
        (["calendar", "--json"], 0),
        (["plan", "--json", "--no-write"], 0),  # its cost estimate included
    ],
)
@pytest.mark.slow  # a fresh interpreter per command
def test_planning_commands_never_import_litellm_or_gitpython(
    example_workspace: Path, args: list[str], code: int
) -> None:
    assert find_spec("litellm") is not None  # so its absence below means something
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_PROBE, *args, "--today", "2026-10-01"]
        if args != ["--help"]
        else [sys.executable, "-c", IMPORT_PROBE, *args],
        cwd=example_workspace, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    last = result.stdout.strip().splitlines()[-1]
    heavy = set(last.split("HEAVY ")[1].split(","))
    assert last.startswith(f"EXIT {code} "), result.stderr
    assert not heavy & {"litellm", "openai"}
    # History is read through plain git processes: GitPython is for sign-offs and scans.
    assert "git" not in heavy
    # The example has no stored run to read, and a suite's inputs need no run record.
    assert "migrate.evals.record" not in heavy


# --- status ------------------------------------------------------------------------------

STATUS_FIELDS = {
    "dependency", "model", "retires", "days_left", "deadline", "days_to_deadline",
    "window_start", "window_end", "urgent",
    "reasons", "last_run", "last_verdict", "signoff", "baseline_age_days", "owners",
    "owner_activity", "suite",
}  # fmt: skip


def status(cli: CliRunner, path: Path, *extra: str, today: dt.date = TODAY) -> Any:
    return invoke(cli, "status", "--registry", str(path), "--today", today.isoformat(), *extra)


def test_status_json_one_object_per_dependency(tmp_path: Path, cli: CliRunner) -> None:
    root = init_repo(tmp_path / "repo")
    path = workspace(root, days(200))
    store_run(root, finished=dt.date(2026, 9, 1), candidates={"vendor/new": "INCONCLUSIVE"})
    store_run(root, finished=dt.date(2026, 9, 15), decision="approve")  # 20260915T115500Z
    commit_as(root, "alice@example.com", "2026-08-02", "Add the summarizer")
    result = status(cli, path, "--json")
    assert result.exit_code == 0, result.stderr
    (row,) = json.loads(result.stdout)
    assert set(row) == STATUS_FIELDS
    assert row.pop("suite")["cases"] == 189  # the suite's health: tests/test_suite_health.py
    assert row == {
        "dependency": "summarizer",
        "model": "vendor/old",
        "retires": "2027-04-19",
        "days_left": 200,
        "deadline": "2027-03-20",  # 30 days before
        "days_to_deadline": 170,
        "window_start": "2026-10-08",
        "window_end": "2026-10-28",
        "urgent": False,
        "reasons": ["retiring"],  # the replacement was evaluated, the baseline is fresh
        "last_run": "20260915T115500Z",
        "last_verdict": "PASS",
        "signoff": {
            "decision": "approve",
            "by": "alice@example.com",
            "at": "2026-09-15",
            "run": "20260915T115500Z",
        },  # fmt: skip
        "baseline_age_days": 16,
        "owners": [
            {"email": "alice@example.com", "last_commit": "2026-08-02", "days_since": 60}
        ],  # fmt: skip
        "owner_activity": "active",
    }


def test_status_json_for_the_bundled_example(example_workspace: Path, cli: CliRunner) -> None:
    result = invoke(cli, "status", "--json", "--today", "2026-10-01", cwd=example_workspace)
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    registry = load_registry(example_workspace / "models.yaml")
    assert [r["dependency"] for r in rows] == list(registry.dependencies)
    assert all(set(r) == STATUS_FIELDS for r in rows)
    faq = next(r for r in rows if r["dependency"] == "faq-answerer")
    assert faq["retires"] is None and faq["days_left"] is None
    assert faq["reasons"] == ["stale_baseline"]
    support = next(r for r in rows if r["dependency"] == "support-reply-drafter")
    assert support["days_left"] == 60
    assert support["reasons"] == ["retiring", "stale_baseline", "no_active_owner",
                                  "replacement_available"]  # fmt: skip
    assert support["owner_activity"] == "inactive"  # dana has never committed here
    alice = next(r for r in rows if r["dependency"] == "billing-summarizer")
    assert alice["owner_activity"] == "active"


def test_status_table(tmp_path: Path, cli: CliRunner) -> None:
    path = workspace(tmp_path, days(40))  # Oct 28 + 30 > Nov 10: too late for the next window
    result = status(cli, path)
    assert result.exit_code == 0
    header, rule, row = result.stdout.splitlines()
    for column in ("dependency", "model", "retires", "days left", "window", "last verdict",
                   "sign-off", "baseline age", "owner activity"):  # fmt: skip
        assert column in header
    assert set(rule) <= {"-", " "}
    # due now, no window: by its latest safe date, 2026-11-10 - 30 days, 10 days from today
    assert row.split() == ["summarizer", "vendor/old", "2026-11-10", "40", "URGENT:", "now,",
                           "by", "2026-10-11", "(in", "10", "days)", "-", "-", "none",
                           "unknown"]  # fmt: skip


def test_status_says_when_a_suite_can_never_pass_its_margin(tmp_path: Path, cli: CliRunner) -> None:
    path = workspace(tmp_path, days(200), cases=8, gates="{pass_rate_drop: 0.05}")
    (row,) = json.loads(status(cli, path, "--json").stdout)
    suite = row["suite"]
    # By hand: 3.8415 / (8 + 3.8415) = 0.3244; 5 points need n > 3.8415 x 19 = 72.99.
    assert suite["cases"] == 8 and suite["samples"] == 1 and suite["margin"] == 0.05
    assert suite["smallest_drop_ruled_out"] == pytest.approx(0.3244, abs=5e-5)
    assert suite["cases_needed"] == 73 and suite["can_pass"] is False
    text = status(cli, path).stdout.splitlines()
    assert text[-1] == (
        "summarizer: its 8-case suite cannot rule out a drop smaller than 32.4 points even if "
        "the models agree on every case, so its pass_rate_drop of 5 points can never PASS: grow "
        "the suite to 73 cases (`migrate cases import summarizer FILE` adds logged requests)"
    )
    enough = workspace(tmp_path, days(200), cases=73, gates="{pass_rate_drop: 0.05}")
    (row,) = json.loads(status(cli, enough, "--json").stdout)
    assert row["suite"]["can_pass"] is True and row["suite"]["shortfall"] is None
    assert len(status(cli, enough).stdout.splitlines()) == 3  # the table alone


def test_status_of_an_urgent_dependency_says_when_its_safe_date_passed(
    tmp_path: Path, cli: CliRunner
) -> None:
    path = workspace(tmp_path, days(29))  # the latest safe date was yesterday
    row = status(cli, path).stdout.splitlines()[2]
    assert "URGENT: now (safe date 2026-09-30 passed 1 day ago)" in row
    (data,) = json.loads(status(cli, path, "--json").stdout)
    assert data["urgent"] is True
    assert (data["window_start"], data["window_end"]) == (None, None)
    assert (data["deadline"], data["days_to_deadline"]) == ("2026-09-30", -1)


def test_status_outside_git_does_not_guess_owner_activity(tmp_path: Path, cli: CliRunner) -> None:
    (row,) = json.loads(status(cli, workspace(tmp_path, None), "--json").stdout)
    assert row["owner_activity"] == "unknown"
    assert row["owners"] == [{"email": "alice@example.com", "last_commit": None,
                              "days_since": None}]  # fmt: skip
    assert "no_active_owner" not in row["reasons"]


def test_status_with_a_bad_registry_is_a_registry_error(tmp_path: Path, cli: CliRunner) -> None:
    path = write(tmp_path / "models.yaml", "version: 1\nmodels: {a: {retires: soon}}\n")
    result = status(cli, path)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"migrate: error: {path}:2: models.a.retires: ")


# --- check: the suites and prompts `migrate run` would refuse ------------------------------


def test_check_finds_a_case_missing_a_prompt_variable(tmp_path: Path, cli: CliRunner) -> None:
    path = workspace(tmp_path, days(200))
    cases = '{"id": "one", "vars": {"text": "x"}}\n{"id": "two", "vars": {"txt": "y"}}\n'
    write(tmp_path / "evals" / "summary.jsonl", cases)
    result = check(cli, path)
    assert result.exit_code == 2
    assert result.stderr == (
        f"migrate: error: {tmp_path}/evals/summary.jsonl:2: vars: case 'two': 'text' is "
        f"undefined (used by the prompt {tmp_path}/prompts/summary.md.j2)\n"
    )


def test_check_finds_a_suite_that_does_not_parse(tmp_path: Path, cli: CliRunner) -> None:
    path = workspace(tmp_path, days(200))
    write(tmp_path / "evals" / "summary.jsonl", '{"id": "one", "vars": {"text": "x"}}\n{"id": \n')
    result = check(cli, path, "--json")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith(f"migrate: error: {tmp_path}/evals/summary.jsonl:2: not valid")


def test_check_finds_a_prompt_that_does_not_compile(tmp_path: Path, cli: CliRunner) -> None:
    path = workspace(tmp_path, days(200))
    write(tmp_path / "prompts" / "summary.md.j2", "[user]\nSummarize {{ text }\n")
    result = check(cli, path)
    assert result.exit_code == 2
    assert result.stderr.startswith(
        f"migrate: error: {tmp_path}/prompts/summary.md.j2:2: template error:"
    )


def test_check_finds_a_case_without_any_check(tmp_path: Path, cli: CliRunner) -> None:
    path = workspace(tmp_path, days(200), cases=1)
    path.write_text(path.read_text().replace(", checks: [{type: not_refusal}]", ""))
    result = check(cli, path)
    assert result.exit_code == 2
    assert "summary.jsonl:1: checks: case 'c0' has no checks" in result.stderr


def test_check_finds_a_case_without_the_expected_its_checks_use(
    tmp_path: Path, cli: CliRunner
) -> None:
    path = workspace(tmp_path, days(200))
    uses_expected = '{type: icontains, value: "{{ expected }}"}'
    path.write_text(path.read_text().replace("{type: not_refusal}", uses_expected))
    write(tmp_path / "evals" / "summary.jsonl",
          '{"id": "one", "vars": {"text": "x"}, "expected": "x"}\n'
          '{"id": "two", "vars": {"text": "y"}}\n')  # fmt: skip
    result = check(cli, path)
    assert result.exit_code == 2
    assert "summary.jsonl:2: expected: case 'two' has no 'expected'" in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_a_count_of_one_is_singular(tmp_path: Path, cli: CliRunner) -> None:
    path = workspace(tmp_path, days(1))
    result = check(cli, path)
    assert result.exit_code == 1
    assert result.stdout == f"{path}: 1 dependency, 2 models, 1 error, 0 warnings\n"
    assert "vendor/old retires on 2026-10-02 (1 day left), inside the 30-day" in result.stderr
    today = check(cli, workspace(tmp_path, days(0)))
    assert "vendor/old retires today (2026-10-01), inside the 30-day" in today.stderr
    passed = check(cli, workspace(tmp_path, days(-1)))
    assert "vendor/old retired on 2026-09-30 (1 day ago)" in passed.stderr
