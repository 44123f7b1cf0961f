"""What git history says: who is still active, and who last changed each prompt.

Two `git log` passes through GitPython, however many dependencies: one over all commits for
author activity, one restricted to the files of interest for their last change.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

_SEPARATOR = "\x1f"
_RECORD = "\x1e"


@dataclass(frozen=True)
class Commit:
    sha: str
    day: dt.date
    author: str
    email: str
    subject: str

    @property
    def short(self) -> str:
        return self.sha[:10]


@dataclass
class GitFacts:
    """Git facts as of a given day; `available` is False outside a repository."""

    available: bool
    last_commit_by_email: dict[str, Commit] = field(default_factory=dict)
    last_change_by_path: dict[str, Commit] = field(default_factory=dict)
    repo_root: Path | None = None

    def last_commit_of(self, email: str) -> Commit | None:
        return self.last_commit_by_email.get(email.lower())

    def last_change_of(self, path: Path) -> Commit | None:
        if self.repo_root is None:
            return None
        try:
            key = path.resolve().relative_to(self.repo_root).as_posix()
        except ValueError:
            return None
        return self.last_change_by_path.get(key)


def _parse(line: str) -> Commit:
    sha, timestamp, author, email, subject = line.split(_SEPARATOR, 4)
    day = dt.datetime.fromtimestamp(int(timestamp), tz=dt.UTC).date()
    return Commit(sha, day, author, email.lower(), subject)


def read_git_facts(workdir: Path, paths: Iterable[Path], today: dt.date) -> GitFacts:
    """Author activity and last changes of `paths`, counting only commits up to `today`."""
    import git  # GitPython; imported here so commands that need no history skip it

    try:
        repo = git.Repo(workdir, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return GitFacts(available=False)
    if repo.working_tree_dir is None:
        return GitFacts(available=False)
    root = Path(repo.working_tree_dir).resolve()
    facts = GitFacts(available=True, repo_root=root)
    fmt = f"--format={_RECORD}%H{_SEPARATOR}%at{_SEPARATOR}%aN{_SEPARATOR}%aE{_SEPARATOR}%s"
    until = f"--until={(today + dt.timedelta(days=1)).isoformat()}T00:00:00Z"
    try:
        log = repo.git.log(fmt, until)
    except git.GitCommandError:  # no commits yet
        return facts
    for record in log.split(_RECORD):
        if record.strip():
            commit = _parse(record.strip("\n"))
            if commit.day <= today:
                facts.last_commit_by_email.setdefault(commit.email, commit)

    wanted = set()
    for path in paths:
        try:
            wanted.add(path.resolve().relative_to(root).as_posix())
        except ValueError:
            continue
    if wanted:
        log = repo.git.log(fmt, until, "--name-only", "--", *sorted(wanted))
        for record in log.split(_RECORD):
            if not record.strip():
                continue
            header, _, names = record.strip("\n").partition("\n")
            commit = _parse(header)
            if commit.day > today:
                continue
            for name in names.split("\n"):
                if name in wanted:
                    facts.last_change_by_path.setdefault(name, commit)
    return facts
