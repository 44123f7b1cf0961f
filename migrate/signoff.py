"""Sign-offs: an owner's recorded decision on a run, committed to git.

The decision goes to `signoff.json` beside the run and as a line in the dependency's
runbook; exactly those two files are committed, with a `Signed-off-by:` trailer. Nothing
else is staged or committed, and nothing is pushed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from migrate.errors import MigrateError, UsageError
from migrate.evals.record import (
    Decision,
    SignoffRecord,
    Summary,
    Verdict,
    read_signoff,
    read_summary,
    try_read,
    write_signoff,
)
from migrate.evals.rundir import (
    CASES_FILE,
    JOURNAL_FILE,
    MANIFEST_FILE,
    REPORT_FILES,
    SIGNOFF_FILE,
    SUMMARY_FILE,
    latest_finished_run,
    quarter_of,
    runbook_path,
)
from migrate.files import relative_to, write_atomic
from migrate.history.git import open_repository
from migrate.registry.load import Registry
from migrate.registry.schema import EMAIL
from migrate.templating import oneline

SIGNOFF_MARKER = "<!-- migrate:signoffs -->"
APPROVABLE = {Verdict.PASS}


class GitSafetyError(MigrateError):
    """The repository is in a state where committing could mix in someone else's work."""


@dataclass(frozen=True)
class Request:
    """What an owner asks `migrate signoff` to record."""

    dependency: str
    decision: Decision
    by: str
    note: str | None
    override: str | None
    candidate: str | None


def choose_candidate(summary: Summary, wanted: str | None, decision: Decision) -> str | None:
    candidates = summary.candidates
    if wanted is not None:
        if wanted not in candidates:
            raise UsageError(
                f"'{wanted}' was not a candidate of run {summary.run_id} "
                f"(candidates: {', '.join(candidates) or 'none'})"
            )
        return wanted
    if (
        decision is not Decision.APPROVE or not candidates
    ):  # a baseline-only run: check_rules says so
        return None
    if len(candidates) == 1:
        return next(iter(candidates))
    passing = [m for m, c in candidates.items() if c.verdict is Verdict.PASS]
    if len(passing) == 1:
        return passing[0]
    raise UsageError("the run has several candidates: name the approved one with --candidate")


def check_rules(
    summary: Summary, decision: Request, candidate: str | None, owners: list[str]
) -> list[str]:
    """Why this decision needs --override (empty when it does not)."""
    problems = []
    if decision.decision is Decision.APPROVE:
        if candidate is None:
            problems.append("there is no candidate to approve (a baseline-only run)")
        else:
            verdict = summary.candidates[candidate].verdict
            if verdict not in APPROVABLE:
                problems.append(f"{candidate}'s verdict is {verdict}, not PASS")
    if decision.by.lower() not in {o.lower() for o in owners}:
        problems.append(f"{decision.by} is not an owner ({', '.join(owners)})")
    return problems


def evidence_files(run_dir: Path, with_journal: bool) -> list[Path]:
    """The run's files a sign-off commits with it, so a clone holds what was approved."""
    names = [MANIFEST_FILE, CASES_FILE, SUMMARY_FILE, *REPORT_FILES]
    if with_journal:
        names.append(JOURNAL_FILE)
    return [run_dir / name for name in names if (run_dir / name).is_file()]


def append_to_runbook(text: str | None, line: str, title: str) -> str:
    """Add a sign-off line after the marker (and after earlier sign-off lines)."""
    if text is None:
        text = f"# {title}\n\n## Sign-off\n\n{SIGNOFF_MARKER}\n"
    lines = text.splitlines()
    if SIGNOFF_MARKER not in (item.strip() for item in lines):
        lines += ["", "## Sign-off", "", SIGNOFF_MARKER]
    index = next(i for i, item in enumerate(lines) if item.strip() == SIGNOFF_MARKER)
    insert_at = index + 1
    while (
        insert_at < len(lines)
        and lines[insert_at].startswith("- ")
        and "signed off" in lines[insert_at]
    ):
        insert_at += 1
    lines.insert(insert_at, line)
    return "\n".join(lines) + "\n"


def _repo(root: Path) -> Any:
    repo = open_repository(root)
    if repo is None:
        raise GitSafetyError(
            f"{root} is not in a git repository: a sign-off is recorded by committing it"
        )
    return repo


def check_repository(repo: Any, paths: list[Path]) -> None:
    """Refuse mid-merge/rebase/cherry-pick, on a detached HEAD, or with edits in our files."""
    git_dir = Path(repo.git_dir)
    # Markers first: a rebase stopped on a commit also detaches HEAD, and "in the middle of
    # a rebase" is what the person needs to hear.
    for marker, what in (
        ("MERGE_HEAD", "a merge"),
        ("rebase-merge", "a rebase"),
        ("rebase-apply", "a rebase"),
        ("CHERRY_PICK_HEAD", "a cherry-pick"),
        ("REVERT_HEAD", "a revert"),
    ):
        if (git_dir / marker).exists():
            raise GitSafetyError(
                f"the repository is in the middle of {what}: finish or abort it before signing off"
            )
    if repo.head.is_detached:
        raise GitSafetyError("HEAD is detached: check out a branch before signing off")
    if not paths:  # `git status -- ` with no path would report the whole repository
        return
    work_tree = Path(repo.working_tree_dir).resolve()
    relative = [_repository_path(p, work_tree) for p in paths]
    status = repo.git.status("--porcelain=v1", "--untracked-files=no", "--", *relative)
    conflicted = [
        line[3:]
        for line in status.splitlines()
        if line[:2] in {"UU", "AA", "DD", "AU", "UA", "DU", "UD"}
    ]
    if conflicted:
        raise GitSafetyError(f"unresolved conflicts in {', '.join(conflicted)}")
    changed = [line[3:] for line in status.splitlines() if line.strip()]
    if changed:
        raise GitSafetyError(
            f"uncommitted edits in {', '.join(changed)}: commit or stash them first, so that "
            "the sign-off commit holds the sign-off alone"
        )


def _repository_path(path: Path, work_tree: Path) -> str:
    """`path` relative to the work tree; a link, or a path that leads out of the repository,
    is refused: the sign-off would be written and committed somewhere else."""
    shown = path.parent.resolve() / path.name
    if shown.is_relative_to(work_tree):
        shown = shown.relative_to(work_tree)
    if path.is_symlink():
        raise GitSafetyError(
            f"{shown} is a symbolic link: a sign-off writes and commits regular files only"
        )
    resolved = path.resolve()
    if not resolved.is_relative_to(work_tree):
        raise GitSafetyError(f"{shown} leads outside the repository at {work_tree}")
    return resolved.relative_to(work_tree).as_posix()


def signer_name(repo: Any, email: str) -> str:
    try:
        name = repo.git.log(
            "-1", "--fixed-strings", "--regexp-ignore-case", f"--author=<{email}>", "--format=%aN"
        ).strip()
    except Exception:  # no commits yet, or git refused the pattern
        name = ""
    return name or email.split("@")[0].replace(".", " ").title()


def record_signoff(
    registry: Registry, decision: Request, today: dt.date, run_id: str | None
) -> dict[str, Any]:
    root = registry.root
    dependency = registry.dependencies.get(decision.dependency)
    if dependency is None:
        raise UsageError(registry.unknown_dependency(decision.dependency))
    if not EMAIL.fullmatch(decision.by):  # it becomes the commit's author and trailer
        raise UsageError(f"--by '{decision.by}' is not an email address")
    run_dir = latest_finished_run(root, decision.dependency, run_id)
    summary = read_summary(run_dir)
    if summary.verdict is Verdict.ERROR and decision.decision is not Decision.REJECT:
        raise UsageError(
            f"refused: run {summary.run_id} is an ERROR run (too many calls failed): it "
            f"measured nothing to {decision.decision} on, with or without --override. Fix "
            f"what its report says and run `migrate run {decision.dependency}` again"
        )
    candidate = choose_candidate(summary, decision.candidate, decision.decision)
    problems = check_rules(summary, decision, candidate, dependency.owners)
    if problems and not decision.override:
        raise UsageError(
            "refused: " + "; ".join(problems) + '. Use --override "reason" to '
            "record the decision anyway"
        )
    quarter = summary.quarter or quarter_of(run_dir)
    runbook = root / runbook_path(quarter, decision.dependency)
    signoff_path = run_dir / SIGNOFF_FILE

    repo = _repo(root)
    check_repository(repo, [runbook, signoff_path])
    evidence = evidence_files(run_dir, registry.settings.signoff.commit_journal)
    work_tree = Path(repo.working_tree_dir).resolve()
    for path in evidence:  # generated files: committed as they are, but never through a link
        _repository_path(path, work_tree)

    previous: SignoffRecord | None = try_read(read_signoff, run_dir)
    models = summary.models
    record = SignoffRecord(
        dependency=decision.dependency,
        run_id=summary.run_id,
        decision=decision.decision,
        by=decision.by,
        at=today.isoformat(),
        baseline=models.baseline,
        candidate=candidate,
        candidates=models.candidates,
        verdict=summary.verdict,
        candidate_verdict=summary.candidates[candidate].verdict if candidate else None,
        suite_sha256=summary.suite.sha256 if summary.suite else None,
        note=decision.note,
        override=decision.override,
        overridden=problems if decision.override else [],
        previous=(
            [*previous.previous, previous.model_dump(exclude={"previous"})] if previous else []
        ),
    )
    what = {
        Decision.APPROVE: f"approve {models.baseline} -> {candidate}",
        Decision.REJECT: f"reject {candidate or ', '.join(models.candidates)}",
        Decision.KEEP: f"keep {models.baseline}",
    }[decision.decision]
    line = (
        f"- {today.isoformat()}: **{decision.decision}** ({what}) signed off by "
        f"{decision.by} on run `{summary.run_id}`, verdict {summary.verdict}"
        + (f", override: {oneline(decision.override)}" if decision.override else "")
        + (f". {oneline(decision.note)}" if decision.note else "")
    )  # one line: a list item that a line break in a note would cut in two

    old_runbook = runbook.read_text(encoding="utf-8") if runbook.exists() else None
    old_signoff = signoff_path.read_bytes() if signoff_path.exists() else None
    write_signoff(run_dir, record)
    write_atomic(
        runbook, append_to_runbook(old_runbook, line, f"{decision.dependency}: migration runbook")
    )
    name = signer_name(repo, decision.by)
    message = (
        f"Sign off {decision.dependency}: {what}\n\n"
        f"Run {summary.run_id} ({summary.verdict}), suite sha256 "
        f"{str(record.suite_sha256)[:16]}."
        + (f"\nOverride: {decision.override}" if decision.override else "")
        + (f"\n\n{decision.note}" if decision.note else "")
        + f"\n\nSigned-off-by: {name} <{decision.by}>\n"
    )
    paths = [
        p.resolve().relative_to(work_tree).as_posix() for p in (signoff_path, runbook, *evidence)
    ]
    try:
        # -f: the evidence goes in even where a .gitignore keeps run outputs out of git.
        repo.git.add("-f", "--", *paths)
        # A pathspec commit takes these paths only: anything else the user staged stays staged.
        repo.git.commit(
            "-m", message, "--only", "--no-verify", f"--author={name} <{decision.by}>", "--", *paths
        )
    except Exception as exc:
        _restore(signoff_path, old_signoff)
        _restore(runbook, old_runbook.encode("utf-8") if old_runbook is not None else None)
        try:
            repo.git.reset("-q", "--", *paths)
        except Exception:
            pass
        raise GitSafetyError(f"git refused the sign-off commit: {str(exc).strip()[:300]}") from None
    return {
        **record.model_dump(),
        "commit": repo.head.commit.hexsha,
        "files": [relative_to(p, root) for p in (signoff_path, runbook, *evidence)],
    }


def _restore(path: Path, content: bytes | None) -> None:
    if content is None:
        path.unlink(missing_ok=True)
    else:
        write_atomic(path, content)
