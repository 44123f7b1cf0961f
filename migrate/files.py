"""Writing files so that a crash never leaves a half-written one."""

from __future__ import annotations

import os
import stat
import tempfile
import threading
from pathlib import Path

_umask: int | None = None
_umask_lock = threading.Lock()


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write `data` to a temporary file beside `path`, fsync it, then rename it over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # A lone surrogate (half an emoji in a model's answer) has no UTF-8 form: it becomes "?"
    # rather than failing the write of a whole report.
    raw = data.encode("utf-8", "replace") if isinstance(data, str) else data
    mode = _mode_for(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, mode)  # mkstemp makes 0600; a published feed must stay readable
        with os.fdopen(fd, "wb") as handle:
            handle.write(raw)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _mode_for(path: Path) -> int:
    """The replaced file's permissions, or what a plain open() would give a new file."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return 0o666 & ~_process_umask()


def _process_umask() -> int:
    """The umask, read once: reading it means setting it, which must not race between the
    threads that write runbooks."""
    global _umask
    with _umask_lock:
        if _umask is None:
            _umask = os.umask(0o022)
            os.umask(_umask)
        return _umask


def relative_to(path: Path, base: Path) -> str:
    """`path` relative to `base` when inside it, else as given (for messages)."""
    try:
        return path.resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        return path.as_posix()
