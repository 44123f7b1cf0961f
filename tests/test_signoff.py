"""`migrate signoff`: the rules for a decision, the runbook line, and a commit that holds the
sign-off alone, in real git repositories. Nothing is ever pushed."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import commit_as, git, init_repo, invoke, write
from typer.testing import CliRunner

from migrate.signoff import SIGNOFF_MARKER, append_to_runbook
from tests.support import stored_run

TODAY = "2027-01-20"  # vendor/old retires 2027-02-15: inside the 30-day safety margin
RUN_ID = "20270112T101500Z"
RUN_DIR = f"runbooks/2027Q1/summarizer/runs/{RUN_ID}"
RUNBOOK = "runbooks/2027Q1/summarizer.md"
REGISTRY = """
    version: 1
    settings: {safety_margin_days: 30}
    models:
      vendor/old: {retires: 2027-02-15, replacement: vendor/new}
      vendor/new: {}
      vendor/other: {}
    dependencies:
      summarizer:
        model: vendor/old
        candidates: [vendor/new]
        owners: [alice@example.com, Bob.Smith@example.com]
        prompt: prompts/summary.md.j2
        eval:
          cases: evals/summary.jsonl
          checks: [{type: icontains, value: "{{ expected }}"}]
"""
RUNBOOK_TEXT = f"""
    # summarizer: migrate off vendor/old

    - [x] Run the suite
    - [ ] Decide

    ## Sign-off

    {SIGNOFF_MARKER}

    ## Notes

    Ask Bob about the tone.
"""


SUITE_SHA256 = "ab12cd34ef56" * 5 + "abcd"


def store_run(root: Path, verdicts: dict[str, str], run_id: str = RUN_ID) -> Path:
    """A finished run of `summarizer` that started at `run_id` and took five minutes."""
    started = dt.datetime.strptime(run_id, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    run = stored_run.store_run(root, finished=started + dt.timedelta(minutes=5),
                               candidates=verdicts, suite_sha256=SUITE_SHA256)  # fmt: skip
    assert run.run_id == run_id
    write(run.directory / "report.md", "# PASS\n")
    return run.directory


def workspace(
    tmp_path: Path, verdicts: dict[str, str] | None = None, *, runbook: bool = True
) -> Path:
    """A committed workspace with one finished run of `summarizer`."""
    root = init_repo(tmp_path / "ws")
    write(root / "models.yaml", REGISTRY)
    write(root / "prompts" / "summary.md.j2", "[user]\nSummarize: {{ text }}\n")
    write(
        root / "evals" / "summary.jsonl", '{"id": "one", "vars": {"text": "x"}, "expected": "x"}\n'
    )
    if runbook:
        write(root / RUNBOOK, RUNBOOK_TEXT)
    store_run(root, {"vendor/new": "PASS"} if verdicts is None else verdicts)
    commit_as(root, "alice@example.com", "2027-01-12", "Add the summarizer and its run")
    return root


def signoff(cli: CliRunner, root: Path, *args: str) -> Any:
    return invoke(cli, "signoff", "summarizer", "--registry", str(root / "models.yaml"),
                  "--today", TODAY, *args)  # fmt: skip


def head(root: Path) -> str:
    return git(root, "rev-parse", "HEAD").strip()


def files_of(root: Path, commit: str = "HEAD") -> list[str]:
    return git(root, "show", "--name-only", "--format=", commit).split()


def assert_nothing_recorded(root: Path, before: str) -> None:
    assert head(root) == before
    assert not (root / RUN_DIR / "signoff.json").exists()
    assert git(root, "status", "--porcelain", "--untracked-files=all") == ""


def assert_recorded(result: Any, root: Path, decision: str, by: str, *, verdict: str = "PASS",
                    run_id: str = RUN_ID) -> None:  # fmt: skip
    """Exit 0 and the one line that names the decision, the run and the commit just made."""
    assert result.exit_code == 0, result.stderr
    run_dir = f"runbooks/2027Q1/summarizer/runs/{run_id}"
    evidence = len([p for p in (root / run_dir).iterdir() if p.name != "signoff.json"])
    assert result.stdout == (
        f"Recorded: {decision} by {by} on run {run_id} (verdict {verdict}); committed "
        f"{head(root)[:10]} with {run_dir}/signoff.json, {RUNBOOK} and the run's evidence "
        f"({evidence} files). Nothing was pushed.\n"
    )


# --- an owner approves a PASS ------------------------------------------------------------


def test_owner_approves_a_pass(tmp_path: Path, cli: CliRunner) -> None:
    root = workspace(tmp_path)
    before = head(root)
    result = signoff(cli, root, "--decision", "approve", "--by", "alice@example.com",
                     "--note", "Tone reviewed with support.")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    commit = head(root)
    assert result.stdout == (
        f"Recorded: approve by alice@example.com on run {RUN_ID} (verdict PASS); committed "
        f"{commit[:10]} with {RUN_DIR}/signoff.json, {RUNBOOK} and the run's evidence "
        "(5 files). Nothing was pushed.\n"
    )  # run.json, cases.jsonl, journal.jsonl, summary.json, report.md: committed with the run
    assert git(root, "rev-parse", "HEAD~1").strip() == before
    assert sorted(files_of(root)) == sorted([f"{RUN_DIR}/signoff.json", RUNBOOK])
    assert git(root, "log", "-1", "--format=%B") == (
        "Sign off summarizer: approve vendor/old -> vendor/new\n\n"
        f"Run {RUN_ID} (PASS), suite sha256 ab12cd34ef56ab12.\n\n"
        "Tone reviewed with support.\n\n"
        "Signed-off-by: Alice <alice@example.com>\n\n"
    )
    assert git(root, "log", "-1", "--format=%an <%ae>").strip() == "Alice <alice@example.com>"
    record = json.loads((root / RUN_DIR / "signoff.json").read_text(encoding="utf-8"))
    assert record == {
        "version": 1,
        "dependency": "summarizer",
        "run_id": RUN_ID,
        "decision": "approve",
        "by": "alice@example.com",
        "at": TODAY,
        "baseline": "vendor/old",
        "candidate": "vendor/new",
        "candidates": ["vendor/new"],
        "verdict": "PASS",
        "candidate_verdict": "PASS",
        "suite_sha256": SUITE_SHA256,
        "note": "Tone reviewed with support.",
        "override": None,
        "overridden": [],
        "previous": [],
    }
    runbook = (root / RUNBOOK).read_text(encoding="utf-8")
    line = (
        f"- {TODAY}: **approve** (approve vendor/old -> vendor/new) signed off by "
        f"alice@example.com on run `{RUN_ID}`, verdict PASS. Tone reviewed with support."
    )
    assert runbook == RUNBOOK_TEXT_DEDENTED.replace(SIGNOFF_MARKER, f"{SIGNOFF_MARKER}\n{line}")
    assert git(root, "status", "--porcelain") == ""


RUNBOOK_TEXT_DEDENTED = (
    "# summarizer: migrate off vendor/old\n\n- [x] Run the suite\n- [ ] Decide\n\n"
    f"## Sign-off\n\n{SIGNOFF_MARKER}\n\n## Notes\n\nAsk Bob about the tone.\n"
)


def test_owner_match_ignores_case_and_names_the_signer_from_history(
    tmp_path: Path, cli: CliRunner
) -> None:
    root = workspace(tmp_path)
    write(root / "prompts" / "summary.md.j2", "[user]\nSummarize briefly: {{ text }}\n")
    commit_as(root, "bob.smith@example.com", "2027-01-15", "Shorter prompt")
    result = signoff(cli, root, "-d", "approve", "--by", "bob.smith@example.com")
    assert_recorded(result, root, "approve", "bob.smith@example.com")
    assert git(root, "log", "-1", "--format=%B").endswith(
        "Signed-off-by: Bob.Smith <bob.smith@example.com>\n\n"
    )


def test_json_output(tmp_path: Path, cli: CliRunner) -> None:
    root = workspace(tmp_path)
    result = signoff(cli, root, "--decision", "approve", "--by", "alice@example.com", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["commit"] == head(root)
    evidence = ["run.json", "cases.jsonl", "summary.json", "report.md", "journal.jsonl"]
    assert data["files"] == [f"{RUN_DIR}/signoff.json", RUNBOOK] + [
        f"{RUN_DIR}/{name}" for name in evidence
    ]
    assert data["decision"] == "approve" and data["candidate"] == "vendor/new"


# --- refusals and --override -----------------------------------------------------------------


@pytest.mark.parametrize("verdict", ["FAIL", "INCONCLUSIVE"])  # ERROR: see below
def test_approving_a_run_that_did_not_pass_is_refused(
    tmp_path: Path, cli: CliRunner, verdict: str
) -> None:
    root = workspace(tmp_path, {"vendor/new": verdict})
    before = head(root)
    result = signoff(cli, root, "--decision", "approve", "--by", "alice@example.com")
    assert result.exit_code == 2
    assert result.stderr == (
        f"migrate: error: refused: vendor/new's verdict is {verdict}, not PASS. "
        'Use --override "reason" to record the decision anyway\n'
    )
    assert_nothing_recorded(root, before)


def test_a_non_owner_is_refused_whatever_the_decision(tmp_path: Path, cli: CliRunner) -> None:
    root = workspace(tmp_path)
    before = head(root)
    for decision in ("approve", "reject", "keep"):
        result = signoff(cli, root, "--decision", decision, "--by", "mallory@example.com")
        assert result.exit_code == 2
        assert result.stderr == (
            "migrate: error: refused: mallory@example.com is not an owner "
            "(alice@example.com, Bob.Smith@example.com). "
            'Use --override "reason" to record the decision anyway\n'
        )
    assert_nothing_recorded(root, before)


def test_override_records_the_reason(tmp_path: Path, cli: CliRunner) -> None:
    root = workspace(tmp_path, {"vendor/new": "INCONCLUSIVE"})
    result = signoff(cli, root, "--decision", "approve", "--by", "mallory@example.com",
                     "--override", "Alice is on leave;\nthe retirement is in 26 days")  # fmt: skip
    assert_recorded(result, root, "approve", "mallory@example.com", verdict="INCONCLUSIVE")
    record = json.loads((root / RUN_DIR / "signoff.json").read_text(encoding="utf-8"))
    assert record["override"] == "Alice is on leave;\nthe retirement is in 26 days"
    assert record["overridden"] == [
        "vendor/new's verdict is INCONCLUSIVE, not PASS",
        "mallory@example.com is not an owner (alice@example.com, Bob.Smith@example.com)",
    ]
    message = git(root, "log", "-1", "--format=%B")
    assert "\nOverride: Alice is on leave;\nthe retirement is in 26 days\n" in message
    assert message.endswith("Signed-off-by: Mallory <mallory@example.com>\n\n")
    # The runbook line stays one list item.
    (line,) = [x for x in (root / RUNBOOK).read_text().splitlines() if "signed off by" in x]
    assert line.endswith(
        "verdict INCONCLUSIVE, override: Alice is on leave; the retirement is in 26 days"
    )
    assert sorted(files_of(root)) == sorted([f"{RUN_DIR}/signoff.json", RUNBOOK])


def test_an_owner_may_reject_or_keep_without_override(tmp_path: Path, cli: CliRunner) -> None:
    root = workspace(tmp_path, {"vendor/new": "FAIL"})
    result = signoff(cli, root, "--decision", "reject", "--by", "alice@example.com")
    assert_recorded(result, root, "reject", "alice@example.com", verdict="FAIL")
    assert git(root, "log", "-1", "--format=%s").strip() == "Sign off summarizer: reject vendor/new"
    result = signoff(cli, root, "--decision", "keep", "--by", "alice@example.com")
    assert_recorded(result, root, "keep", "alice@example.com", verdict="FAIL")
    assert git(root, "log", "-1", "--format=%s").strip() == "Sign off summarizer: keep vendor/old"
    record = json.loads((root / RUN_DIR / "signoff.json").read_text(encoding="utf-8"))
    assert record["decision"] == "keep"
    assert [p["decision"] for p in record["previous"]] == ["reject"]
    lines = [x for x in (root / RUNBOOK).read_text().splitlines() if "signed off by" in x]
    assert [x.split("**")[1] for x in lines] == ["reject", "keep"]


def test_by_must_be_an_email(tmp_path: Path, cli: CliRunner) -> None:
    root = workspace(tmp_path)
    result = signoff(cli, root, "--decision", "reject", "--by", "alice\nSigned-off-by: x <x@y.z>",
                     "--override", "x")  # fmt: skip
    assert result.exit_code == 2
    assert result.stderr.startswith("migrate: error: --by 'alice\nSigned-off-by")
    assert result.stderr.endswith("' is not an email address\n")


def test_an_unknown_dependency_lists_the_dependencies(tmp_path: Path, cli: CliRunner) -> None:
    root = workspace(tmp_path)
    before = head(root)
    registry = str(root / "models.yaml")
    for name, hint in [("nosuchdep", ""), ("sumarizer", " (did you mean 'summarizer'?)")]:
        result = invoke(cli, "signoff", name, "--registry", registry, "--today", TODAY,
                        "--decision", "approve", "--by", "alice@example.com")  # fmt: skip
        assert result.exit_code == 2
        assert result.stderr == (
            f"migrate: error: unknown dependency '{name}'{hint}; the dependencies in "
            f"{registry} are: summarizer\n"
        )
    assert_nothing_recorded(root, before)


def test_several_candidates(tmp_path: Path, cli: CliRunner) -> None:
    root = workspace(tmp_path, {"vendor/new": "FAIL", "vendor/other": "PASS"})
    result = signoff(cli, root, "--decision", "approve", "--by", "alice@example.com")
    assert_recorded(result, root, "approve", "alice@example.com")
    assert "approve vendor/old -> vendor/other" in git(root, "log", "-1", "--format=%s")
    result = signoff(cli, root, "-d", "approve", "--by", "alice@example.com", "-c", "vendor/x")
    assert result.exit_code == 2
    assert result.stderr == (
        f"migrate: error: 'vendor/x' was not a candidate of run {RUN_ID} "
        "(candidates: vendor/new, vendor/other)\n"
    )


def test_a_baseline_only_run_has_nothing_to_approve(tmp_path: Path, cli: CliRunner) -> None:
    root = workspace(tmp_path, {})
    result = signoff(cli, root, "--decision", "approve", "--by", "alice@example.com")
    assert result.exit_code == 2
    assert "there is no candidate to approve (a baseline-only run)" in result.stderr


def test_no_finished_run(tmp_path: Path, cli: CliRunner) -> None:
    root = workspace(tmp_path)
    git(root, "rm", "-q", "-r", "runbooks/2027Q1/summarizer/runs")
    result = signoff(cli, root, "--decision", "approve", "--by", "alice@example.com")
    assert result.exit_code == 2
    assert result.stderr == (
        "migrate: error: 'summarizer' has no finished run to sign off: "
        "run `migrate run summarizer` first\n"
    )


def test_the_latest_run_is_decided_on_unless_one_is_named(tmp_path: Path, cli: CliRunner) -> None:
    root = workspace(tmp_path)
    store_run(root, {"vendor/new": "FAIL"}, run_id="20270118T080000Z")
    commit_as(root, "alice@example.com", "2027-01-18", "A later run")
    latest = signoff(cli, root, "--decision", "approve", "--by", "alice@example.com")
    assert latest.exit_code == 2 and "verdict is FAIL" in latest.stderr
    named = signoff(cli, root, "-d", "approve", "--by", "alice@example.com", "--run", RUN_ID)
    assert_recorded(named, root, "approve", "alice@example.com")


# --- git safety ------------------------------------------------------------------------------


def test_another_staged_file_stays_staged_and_out_of_the_commit(
    tmp_path: Path, cli: CliRunner
) -> None:
    root = workspace(tmp_path)
    write(root / "notes.txt", "draft\n")
    git(root, "add", "notes.txt")
    write(root / "prompts" / "summary.md.j2", "[user]\nWork in progress {{ text }}\n")
    result = signoff(cli, root, "--decision", "approve", "--by", "alice@example.com")
    assert_recorded(result, root, "approve", "alice@example.com")
    assert sorted(files_of(root)) == sorted([f"{RUN_DIR}/signoff.json", RUNBOOK])
    assert git(root, "diff", "--cached", "--name-only").split() == ["notes.txt"]
    assert git(root, "diff", "--name-only").split() == ["prompts/summary.md.j2"]


def test_without_a_runbook_a_staged_file_elsewhere_does_not_block(
    tmp_path: Path, cli: CliRunner
) -> None:
    root = workspace(tmp_path, runbook=False)
    write(root / "notes.txt", "draft\n")
    git(root, "add", "notes.txt")
    result = signoff(cli, root, "--decision", "approve", "--by", "alice@example.com")
    assert_recorded(result, root, "approve", "alice@example.com")
    assert sorted(files_of(root)) == sorted([f"{RUN_DIR}/signoff.json", RUNBOOK])
    runbook = (root / RUNBOOK).read_text(encoding="utf-8")
    assert runbook.startswith(
        f"# summarizer: migration runbook\n\n## Sign-off\n\n{SIGNOFF_MARKER}\n- "
    )
    assert git(root, "diff", "--cached", "--name-only").split() == ["notes.txt"]


def test_refused_when_the_runbook_has_uncommitted_edits(tmp_path: Path, cli: CliRunner) -> None:
    root = workspace(tmp_path)
    before = head(root)
    (root / RUNBOOK).write_text(RUNBOOK_TEXT_DEDENTED.replace("[ ] Decide", "[x] Decide"))
    result = signoff(cli, root, "--decision", "approve", "--by", "alice@example.com")
    assert result.exit_code == 2
    assert result.stderr == (
        f"migrate: error: uncommitted edits in {RUNBOOK}: commit or stash them first, so that "
        "the sign-off commit holds the sign-off alone\n"
    )
    assert head(root) == before
    assert "[x] Decide" in (root / RUNBOOK).read_text()  # the person's edit is untouched
    assert not (root / RUN_DIR / "signoff.json").exists()


def test_refused_on_a_detached_head(tmp_path: Path, cli: CliRunner) -> None:
    root = workspace(tmp_path)
    git(root, "checkout", "-q", "--detach")
    before = head(root)
    result = signoff(cli, root, "--decision", "approve", "--by", "alice@example.com")
    assert result.exit_code == 2
    assert result.stderr == (
        "migrate: error: HEAD is detached: check out a branch before signing off\n"
    )
    assert_nothing_recorded(root, before)


def conflicting_branches(root: Path) -> None:
    """`feature` and `main` both change the prompt differently."""
    git(root, "checkout", "-q", "-b", "feature")
    write(root / "prompts" / "summary.md.j2", "[user]\nFeature: {{ text }}\n")
    commit_as(root, "alice@example.com", "2027-01-13", "Feature prompt")
    git(root, "checkout", "-q", "main")
    write(root / "prompts" / "summary.md.j2", "[user]\nMain: {{ text }}\n")
    commit_as(root, "alice@example.com", "2027-01-14", "Main prompt")


def test_refused_during_a_merge(tmp_path: Path, cli: CliRunner) -> None:
    root = workspace(tmp_path)
    conflicting_branches(root)
    with pytest.raises(subprocess.CalledProcessError):
        git(root, "merge", "-q", "feature")
    assert (root / ".git" / "MERGE_HEAD").exists()
    before = head(root)
    result = signoff(cli, root, "--decision", "approve", "--by", "alice@example.com")
    assert result.exit_code == 2
    assert result.stderr == (
        "migrate: error: the repository is in the middle of a merge: "
        "finish or abort it before signing off\n"
    )
    assert head(root) == before
    assert not (root / RUN_DIR / "signoff.json").exists()


def test_refused_during_a_rebase(tmp_path: Path, cli: CliRunner) -> None:
    root = workspace(tmp_path)
    conflicting_branches(root)
    git(root, "checkout", "-q", "feature")
    with pytest.raises(subprocess.CalledProcessError):
        git(root, "rebase", "main")
    before = head(root)
    result = signoff(cli, root, "--decision", "approve", "--by", "alice@example.com")
    assert result.exit_code == 2
    assert result.stderr == (
        "migrate: error: the repository is in the middle of a rebase: "
        "finish or abort it before signing off\n"
    )
    assert head(root) == before
    assert not (root / RUN_DIR / "signoff.json").exists()


def test_refused_outside_a_git_repository(tmp_path: Path, cli: CliRunner) -> None:
    root = workspace(tmp_path)
    shutil.rmtree(root / ".git")
    result = signoff(cli, root, "--decision", "approve", "--by", "alice@example.com")
    assert result.exit_code == 2
    assert "is not in a git repository: a sign-off is recorded by committing it" in result.stderr
    assert not (root / RUN_DIR / "signoff.json").exists()


def test_nothing_is_pushed(tmp_path: Path, cli: CliRunner) -> None:
    root = workspace(tmp_path)
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(root, "remote", "add", "origin", str(remote))
    git(root, "push", "-q", "origin", "main")
    git(root, "branch", "-q", "--set-upstream-to=origin/main")
    published = git(remote, "rev-parse", "main").strip()
    result = signoff(cli, root, "--decision", "approve", "--by", "alice@example.com")
    assert_recorded(result, root, "approve", "alice@example.com")
    assert head(root) != published
    assert git(remote, "for-each-ref", "--format=%(refname) %(objectname)") == (
        f"refs/heads/main {published}\n"
    )
    with pytest.raises(subprocess.CalledProcessError):
        git(remote, "cat-file", "-e", head(root))  # the new commit never reached the remote


# --- afterwards, the planning commands see the sign-off --------------------------------------


def test_status_and_check_see_the_signoff(tmp_path: Path, cli: CliRunner) -> None:
    root = workspace(tmp_path)
    registry = str(root / "models.yaml")
    before = invoke(cli, "check", "--registry", registry, "--today", TODAY)
    assert before.exit_code == 1
    assert "no migration is approved" in before.stderr
    result = signoff(cli, root, "--decision", "approve", "--by", "alice@example.com")
    assert_recorded(result, root, "approve", "alice@example.com")
    after = invoke(cli, "check", "--registry", registry, "--today", TODAY)
    assert after.exit_code == 0, after.stderr
    assert "0 errors" in after.stdout
    status = invoke(cli, "status", "--json", "--registry", registry, "--today", TODAY)
    assert status.exit_code == 0, status.stderr
    (row,) = json.loads(status.stdout)
    assert row["last_run"] == RUN_ID and row["last_verdict"] == "PASS"
    assert row["signoff"] == {
        "decision": "approve",
        "by": "alice@example.com",
        "at": TODAY,
        "run": RUN_ID,
    }


def test_a_rejection_does_not_satisfy_check(tmp_path: Path, cli: CliRunner) -> None:
    root = workspace(tmp_path, {"vendor/new": "FAIL"})
    result = signoff(cli, root, "-d", "reject", "--by", "alice@example.com")
    assert_recorded(result, root, "reject", "alice@example.com", verdict="FAIL")
    after = invoke(cli, "check", "--registry", str(root / "models.yaml"), "--today", TODAY)
    assert after.exit_code == 1
    assert (
        "summarizer: vendor/old retires on 2027-02-15 (26 days left), inside the 30-day "
        "safety margin, and no migration is approved"
    ) in after.stderr


# --- the runbook line, as a pure function ----------------------------------------------------


def test_append_to_runbook_keeps_earlier_lines_in_order() -> None:
    text = f"# t\n\n## Sign-off\n\n{SIGNOFF_MARKER}\n- 2027-01-01: **reject** x signed off by a\n\n"
    text += "## Notes\n\nkeep me\n"
    updated = append_to_runbook(text, "- 2027-01-02: **approve** y signed off by b", "t")
    assert updated == (
        f"# t\n\n## Sign-off\n\n{SIGNOFF_MARKER}\n- 2027-01-01: **reject** x signed off by a\n"
        "- 2027-01-02: **approve** y signed off by b\n\n## Notes\n\nkeep me\n"
    )


def test_append_to_runbook_adds_the_section_when_missing() -> None:
    assert append_to_runbook("# t\n\n- [ ] a\n", "- line signed off by b", "t") == (
        f"# t\n\n- [ ] a\n\n## Sign-off\n\n{SIGNOFF_MARKER}\n- line signed off by b\n"
    )


def test_a_fresh_clone_sees_the_signoff_without_the_run_directory(
    tmp_path: Path, cli: CliRunner
) -> None:
    """A clone holding a sign-off without its run's files (signed by an earlier version)
    still sees the decision."""
    root = init_repo(tmp_path / "ws")
    write(root / "models.yaml", REGISTRY)
    write(root / "prompts" / "summary.md.j2", "[user]\nSummarize: {{ text }}\n")
    write(
        root / "evals" / "summary.jsonl", '{"id": "one", "vars": {"text": "x"}, "expected": "x"}\n'
    )
    write(root / RUNBOOK, RUNBOOK_TEXT)
    commit_as(root, "alice@example.com", "2027-01-12", "Add the summarizer")
    store_run(root, {"vendor/new": "PASS"})  # the run itself is never committed
    result = signoff(cli, root, "-d", "approve", "--by", "alice@example.com")
    assert_recorded(result, root, "approve", "alice@example.com")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(root), str(clone))
    # A sign-off recorded before sign-offs committed their evidence: the signoff.json alone.
    for path in clone.glob("runbooks/*/*/runs/*/*"):
        if path.name != "signoff.json":
            path.unlink()
    result = invoke(cli, "check", "--registry", str(clone / "models.yaml"), "--today", TODAY)
    assert result.exit_code == 0, result.stderr
    # the warnings: the retirement ahead, and a one-case suite that can never PASS its margin
    assert "1 dependency, 3 models, 0 errors, 2 warnings" in result.stdout
    assert "its 1-case suite cannot rule out a drop" in result.stderr
    status = invoke(
        cli, "status", "--json", "--registry", str(clone / "models.yaml"), "--today", TODAY
    )
    (row,) = json.loads(status.stdout)
    assert row["signoff"]["decision"] == "approve" and row["last_run"] == RUN_ID


# --- sign-off on evidence ------------------------------------------------------------------


@pytest.mark.parametrize("decision", ["approve", "keep"])
@pytest.mark.parametrize("override", [[], ["--override", "the provider was down"]])
def test_an_error_run_can_be_neither_approved_nor_kept(
    tmp_path: Path, cli: CliRunner, decision: str, override: list[str]
) -> None:
    root = workspace(tmp_path, {"vendor/new": "ERROR"})
    before = head(root)
    result = signoff(cli, root, "--decision", decision, "--by", "alice@example.com", *override)
    assert result.exit_code == 2
    assert result.stderr == (
        f"migrate: error: refused: run {RUN_ID} is an ERROR run (too many calls failed): it "
        f"measured nothing to {decision} on, with or without --override. Fix what its report "
        "says and run `migrate run summarizer` again\n"
    )
    assert_nothing_recorded(root, before)


def test_an_error_run_can_be_rejected(tmp_path: Path, cli: CliRunner) -> None:
    root = workspace(tmp_path, {"vendor/new": "ERROR"})
    result = signoff(cli, root, "--decision", "reject", "--by", "alice@example.com")
    assert result.exit_code == 0, result.stderr
    assert "Recorded: reject by alice@example.com" in result.stdout


EVIDENCE = ["run.json", "cases.jsonl", "summary.json", "report.md", "report.html", "junit.xml"]
UNCOMMITTED = ["run.json", "cases.jsonl", "report.html", "junit.xml", "journal.jsonl"]


def uncommitted_run(tmp_path: Path, registry_extra: str = "") -> Path:
    """A committed workspace whose run's summary and report.md are in git and whose other
    files are not yet, as `migrate run` leaves them."""
    root = workspace(tmp_path)
    if registry_extra:
        registry = (root / "models.yaml").read_text(encoding="utf-8")
        write(root / "models.yaml", registry.replace("{safety_margin_days: 30}", registry_extra))
        commit_as(root, "alice@example.com", "2027-01-12", "Registry settings")
    for name in UNCOMMITTED:
        write(root / RUN_DIR / name, f"{name} of the run\n")
    return root


def test_a_clone_after_a_signoff_holds_the_evidence_it_approves(
    tmp_path: Path, cli: CliRunner
) -> None:
    root = uncommitted_run(tmp_path)
    result = signoff(cli, root, "--decision", "approve", "--by", "alice@example.com")
    assert result.exit_code == 0, result.stderr
    assert "and the run's evidence (7 files)" in result.stdout
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(root), str(clone)], check=True)
    for name in [*EVIDENCE, "journal.jsonl", "signoff.json"]:
        assert (clone / RUN_DIR / name).read_bytes() == (root / RUN_DIR / name).read_bytes(), name
    assert sorted(files_of(root)) == sorted(
        [f"{RUN_DIR}/{n}" for n in [*UNCOMMITTED, "signoff.json"]] + [RUNBOOK]
    )


def test_the_journal_stays_out_when_the_registry_says_so(tmp_path: Path, cli: CliRunner) -> None:
    root = uncommitted_run(tmp_path, "{safety_margin_days: 30, signoff: {commit_journal: false}}")
    result = signoff(cli, root, "--decision", "approve", "--by", "alice@example.com")
    assert result.exit_code == 0, result.stderr
    committed = files_of(root)
    assert f"{RUN_DIR}/run.json" in committed
    assert f"{RUN_DIR}/journal.jsonl" not in committed
