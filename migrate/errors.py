"""User-facing errors and the exit codes every command shares."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0  # also the PASS verdict
    FAIL = 1  # a gate or a check failed
    USAGE = 2  # bad arguments or a bad registry
    INCONCLUSIVE = 3  # the data cannot show the candidate is within the margin
    INFRA = 4  # too many calls failed to judge
    SUBMITTED = 5  # batches submitted, not finished: run the same command again later


class MigrateError(Exception):
    """An error the user can act on: printed as one message, never as a traceback."""

    exit_code: ExitCode = ExitCode.USAGE

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(MigrateError):
    exit_code = ExitCode.USAGE


class InfrastructureError(MigrateError):
    exit_code = ExitCode.INFRA


class Problem:
    """One thing wrong with an input file, located by line and key path."""

    __slots__ = ("file", "line", "key_path", "message")

    def __init__(self, file: str, line: int | None, key_path: str, message: str) -> None:
        self.file = file
        self.line = line
        self.key_path = key_path
        self.message = message

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        key = f" {self.key_path}:" if self.key_path else ""
        return f"{where}:{key} {self.message}"


class InputError(MigrateError):
    """A registry, suite or other input file is invalid; names file, line and key."""

    exit_code = ExitCode.USAGE

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.file, p.line or 0))
        first, rest = self.problems[0], self.problems[1:]
        message = str(first)
        if rest:
            message += f"\n(and {len(rest)} more problem{'s' if len(rest) > 1 else ''}:)\n"
            message += "\n".join(f"  {p}" for p in rest)
        super().__init__(message)
