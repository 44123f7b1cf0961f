"""What git history says: who is still active, who last changed each prompt, which files
are tracked. The one module that opens a repository through GitPython; the rest ask it.

Two `git log` passes through GitPython, however many dependencies: one over all commits for
author activity, one restricted to the files of interest for their last change.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from migrate.errors import UsageError

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
    # Resolving a path costs a system call per component; a thousand dependencies share a
    # hundred prompts, so each path is resolved once.
    _keys: dict[Path, str | None] = field(default_factory=dict, repr=False, compare=False)

    def last_commit_of(self, email: str) -> Commit | None:
        return self.last_commit_by_email.get(email.lower())

    def last_change_of(self, path: Path) -> Commit | None:
        if self.repo_root is None:
            return None
        if path not in self._keys:
            try:
                self._keys[path] = path.resolve().relative_to(self.repo_root).as_posix()
            except ValueError:
                self._keys[path] = None
        key = self._keys[path]
        return None if key is None else self.last_change_by_path.get(key)


def _parse(line: str) -> Commit:
    sha, timestamp, author, email, subject = line.split(_SEPARATOR, 4)
    day = dt.datetime.fromtimestamp(int(timestamp), tz=dt.UTC).date()
    return Commit(sha, day, author, email.lower(), subject)


def read_git_facts(workdir: Path, paths: Iterable[Path], today: dt.date) -> GitFacts:
    """Author activity and last changes of `paths`, counting only commits up to `today`."""
    import git  # GitPython; imported here so commands that need no history skip it

    repo = open_repository(workdir)
    if repo is None:
        return GitFacts(available=False)
    root = work_tree(repo)
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
    for path in dict.fromkeys(paths):  # a thousand dependencies share a hundred prompts
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


# --- the rest of the package asks git through these ----------------------------------------


def open_repository(path: Path) -> Any | None:
    """The GitPython repository with a work tree holding `path`, or None outside one."""
    import git

    try:
        repo = git.Repo(path, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return None
    return repo if repo.working_tree_dir is not None else None


def work_tree(repo: Any) -> Path:
    return Path(repo.working_tree_dir).resolve()


def tracked_files(path: Path, *, whole_repository: bool = False) -> tuple[Path, list[str]]:
    """The repository root holding `path`, and its tracked files under `path` (or all of
    them)."""
    if not path.exists():
        raise UsageError(f"{path.resolve()}: no such directory")
    repo = open_repository(path)
    if repo is None:
        raise UsageError(
            f"{path.resolve()}: not inside a git repository (scan reads the tracked files)"
        )
    root = work_tree(repo)
    relative = path.resolve().relative_to(root).as_posix()
    spec = [] if relative == "." or whole_repository else ["--", relative]
    listing = repo.git.ls_files("-z", "--cached", *spec)
    return root, [name for name in listing.split("\0") if name]


def last_commit_time(path: Path) -> dt.datetime | None:
    """When `path` was last committed (author time, UTC), or None when it has uncommitted
    changes, is untracked, or lies outside a repository: then the file itself is the truth."""
    import git

    repo = open_repository(path.parent)
    if repo is None:
        return None
    try:
        relative = path.resolve().relative_to(work_tree(repo)).as_posix()
        if repo.git.status("--porcelain", "--", relative).strip():
            return None  # modified, staged or untracked
        authored = repo.git.log("-1", "--format=%at", "--", relative).strip()
    except (ValueError, git.GitCommandError):  # outside the work tree, or no commit yet
        return None
    return dt.datetime.fromtimestamp(int(authored), tz=dt.UTC) if authored else None


def configured_email(directory: Path) -> str | None:
    """git's user.email as seen from `directory`, if set."""
    import git

    try:
        return str(git.Git(str(directory)).config("--get", "user.email")).strip() or None
    except (git.GitCommandError, OSError):
        return None
