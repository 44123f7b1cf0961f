"""Progress on stderr: a rich bar per model on a terminal, plain periodic lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from migrate.console import plural


class NoProgress:
    def start(self, phase: str, totals: dict[str, int], done: dict[str, int]) -> None:
        pass

    def advance(self, model: str, *, error: bool) -> None:
        pass

    def finish(self) -> None:
        pass


class LineProgress:
    """One line per model every `interval` seconds and at the end of each phase."""

    def __init__(self, stream: TextIO = sys.stderr, interval: float = 15.0) -> None:
        self.stream = stream
        self.interval = interval
        self.totals: dict[str, int] = {}
        self.done: dict[str, int] = {}
        self.errors: dict[str, int] = {}
        self.phase = ""
        self.started = time.monotonic()
        self.last = 0.0

    def start(self, phase: str, totals: dict[str, int], done: dict[str, int]) -> None:
        self.phase, self.totals, self.done = phase, dict(totals), dict(done)
        self.errors = {m: 0 for m in totals}
        self.started = self.last = time.monotonic()
        already = sum(done.values())
        if already:
            self.stream.write(f"{phase}: {plural(already, 'call')} already in the journal\n")

    def advance(self, model: str, *, error: bool) -> None:
        self.done[model] = self.done.get(model, 0) + 1
        if error:
            self.errors[model] = self.errors.get(model, 0) + 1
        if time.monotonic() - self.last >= self.interval:
            self._report()

    def _report(self) -> None:
        self.last = time.monotonic()
        elapsed = max(self.last - self.started, 1e-9)
        for model, total in self.totals.items():
            done = self.done.get(model, 0)
            self.stream.write(
                f"{self.phase} {model}: {done}/{total} ({self.errors.get(model, 0)} errors)\n"
            )
        rate = sum(self.done.values()) / elapsed
        self.stream.write(f"{self.phase}: {rate:.1f} calls/s\n")
        self.stream.flush()

    def finish(self) -> None:
        if self.totals:
            self._report()


class RichProgress:
    """A bar per model: done/total, errors, calls per second."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[errors]} errors"),
            TextColumn("{task.fields[rate]}"),
            console=Console(stderr=True),
            transient=False,
        )
        self.tasks: dict[str, Any] = {}
        self.errors: dict[str, int] = {}
        self.started: dict[str, float] = {}
        self.counted: dict[str, int] = {}

    def start(self, phase: str, totals: dict[str, int], done: dict[str, int]) -> None:
        if not self.tasks:
            self.progress.start()
        for model, total in totals.items():
            self.errors[model] = 0
            self.started[model] = time.monotonic()
            self.counted[model] = 0
            self.tasks[model] = self.progress.add_task(
                f"{phase} {model}", total=total, completed=done.get(model, 0), errors=0, rate=""
            )

    def advance(self, model: str, *, error: bool) -> None:
        if error:
            self.errors[model] += 1
        self.counted[model] += 1
        elapsed = max(time.monotonic() - self.started[model], 1e-9)
        self.progress.update(
            self.tasks[model],
            advance=1,
            errors=self.errors[model],
            rate=f"{self.counted[model] / elapsed:.1f}/s",
        )

    def finish(self) -> None:
        self.progress.stop()


def progress_for(
    enabled: bool, stream: TextIO = sys.stderr
) -> NoProgress | LineProgress | RichProgress:
    if not enabled:
        return NoProgress()
    if stream.isatty():
        return RichProgress()
    return LineProgress(stream)
