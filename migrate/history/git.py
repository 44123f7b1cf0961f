"""What git history says: who is still active, who last changed each prompt, which files
are tracked. The one module that opens a repository through GitPython; the rest ask it.

Two `git log` passes, however many dependencies: one over all commits for author activity,
one restricted to the files of interest for their last change. The planning commands read
history through plain `git` processes: importing GitPython alone costs them more than the
processes do. Sign-offs, scans and `init` use GitPython.
"""

from __future__ import annotations

import datetime as dt
import subprocess
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


def _git(directory: Path, *args: str) -> str | None:
    """git's output for `args` run in `directory`, or None when git fails there (outside a
    repository, no commit yet, no git at all)."""
    try:
        done = subprocess.run(
            ["git", "--no-optional-locks", *args],
            cwd=directory,
            capture_output=True,
            check=False,
        )
    except OSError:  # no such folder, or no git
        return None
    if done.returncode != 0:
        return None
    return done.stdout.decode("utf-8", "replace")


def _top_level(directory: Path) -> Path | None:
    """The work tree holding `directory`, or None outside one (or in a bare repository)."""
    top = _git(directory, "rev-parse", "--show-toplevel")
    return Path(top.strip()).resolve() if top and top.strip() else None


def read_git_facts(workdir: Path, paths: Iterable[Path], today: dt.date) -> GitFacts:
    """Author activity and last changes of `paths`, counting only commits up to `today`."""
    root = _top_level(workdir)
    if root is None:
        return GitFacts(available=False)
    facts = GitFacts(available=True, repo_root=root)
    fmt = f"--format={_RECORD}%H{_SEPARATOR}%at{_SEPARATOR}%aN{_SEPARATOR}%aE{_SEPARATOR}%s"
    until = f"--until={(today + dt.timedelta(days=1)).isoformat()}T00:00:00Z"
    log = _git(root, "log", fmt, until)
    if log is None:  # no commits yet
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
        log = _git(root, "log", fmt, until, "--name-only", "--", *sorted(wanted)) or ""
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
    root = _top_level(path.parent)
    if root is None:
        return None
    try:
        relative = path.resolve().relative_to(root).as_posix()
    except ValueError:  # outside the work tree
        return None
    changes = _git(root, "status", "--porcelain", "--", relative)
    if changes is None or changes.strip():
        return None  # modified, staged or untracked (or git could not tell)
    authored = (_git(root, "log", "-1", "--format=%at", "--", relative) or "").strip()
    return dt.datetime.fromtimestamp(int(authored), tz=dt.UTC) if authored else None


def configured_email(directory: Path) -> str | None:
    """git's user.email as seen from `directory`, if set."""
    import git

    try:
        return str(git.Git(str(directory)).config("--get", "user.email")).strip() or None
    except (git.GitCommandError, OSError):
        return None
