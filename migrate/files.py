"""Writing files so that a crash never leaves a half-written one."""

from __future__ import annotations

import errno
import os
import stat
import tempfile
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

T = TypeVar("T")

_umask: int | None = None
_umask_lock = threading.Lock()
_CHUNK = 64  # temporary files held open at once: far below any descriptor limit
_SYNCERS = 8  # threads whose fsyncs the file system commits together
# A folder that cannot be fsynced (some file systems refuse it) leaves its renames done
# and every file whole; only how soon the renames reach the disk is the file system's.
_FOLDER_SYNC_UNSUPPORTED = {errno.EINVAL, errno.ENOTSUP, errno.EACCES, errno.EPERM}


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write `data` to a temporary file beside `path`, fsync it, then rename it over `path`."""
    write_atomic_many([(path, data)])


def write_atomic_many(files: Sequence[tuple[Path, str | bytes]]) -> None:
    """`write_atomic` for many files, at a fraction of the cost of one at a time.

    Every temporary file is written first, then they are fsynced together (from a few
    threads, so the file system commits them in groups rather than one journal commit
    each), then each is renamed over its target, then each folder is fsynced once so that
    the renames last. A target is only ever replaced by a file whose data is already on
    disk: after a crash or a power loss it holds its old content or its new one, never a
    part. On an error nothing more is renamed and the temporary files are removed.
    """
    written: list[tuple[str, Path]] = []  # temporary files, each whole on disk once synced
    renamed = 0
    pool = None
    if len(files) > 1:
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(max_workers=_SYNCERS)
    try:
        for folder in dict.fromkeys(path.parent for path, _ in files):
            folder.mkdir(parents=True, exist_ok=True)
        for start in range(0, len(files), _CHUNK):
            opened: list[tuple[int, Path]] = []
            try:
                for path, data in files[start : start + _CHUNK]:
                    fd, tmp = _write_temporary(path, data)
                    opened.append((fd, path))
                    written.append((tmp, path))
                _each(_sync_file, opened, pool)
            finally:
                for fd, _ in opened:
                    os.close(fd)
        for tmp, path in written:
            try:
                os.replace(tmp, path)
            except OSError as exc:
                raise OSError(exc.errno, exc.strerror, str(path)) from exc
            renamed += 1
        _each(sync_folder, dict.fromkeys(path.parent for _, path in written), pool)
    except BaseException:
        for tmp, _ in written[renamed:]:
            Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        if pool is not None:
            pool.shutdown()


def _each(action: Callable[[T], None], items: Iterable[T], pool: ThreadPoolExecutor | None) -> None:
    """`action` on every item, on the pool's threads when there is one; re-raises the first
    failure after all have finished."""
    if pool is None:
        for item in items:
            action(item)
        return
    for _ in pool.map(action, items):
        pass


def _write_temporary(path: Path, data: str | bytes) -> tuple[int, str]:
    """A temporary file beside `path` (its folder exists) holding `data`, still open and
    not yet synced."""
    # A lone surrogate (half an emoji in a model's answer) has no UTF-8 form: it becomes "?"
    # rather than failing the write of a whole report.
    raw = memoryview(data.encode("utf-8", "replace") if isinstance(data, str) else data)
    mode = _mode_for(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, str(path)) from exc
    try:
        os.fchmod(fd, mode)  # mkstemp makes 0600; a published feed must stay readable
        while raw:
            raw = raw[os.write(fd, raw) :]
    except OSError as exc:
        os.close(fd)
        Path(tmp).unlink(missing_ok=True)
        raise OSError(exc.errno, exc.strerror, str(path)) from exc
    except BaseException:
        os.close(fd)
        Path(tmp).unlink(missing_ok=True)
        raise
    return fd, tmp


def _sync_file(opened: tuple[int, Path]) -> None:
    fd, path = opened
    try:
        os.fsync(fd)
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, str(path)) from exc


def sync_folder(folder: Path) -> None:
    """fsync a folder, so that the renames made in it survive a power loss."""
    try:
        fd = os.open(str(folder), os.O_RDONLY)
    except OSError as exc:
        if exc.errno in _FOLDER_SYNC_UNSUPPORTED:
            return
        raise
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in _FOLDER_SYNC_UNSUPPORTED:
            raise
    finally:
        os.close(fd)


def _mode_for(path: Path) -> int:
    """The replaced file's permissions, or what a plain open() would give a new file."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return 0o666 & ~_process_umask()


def _process_umask() -> int:
    """The umask, read once: reading it means setting it, which must not race between
    threads that write files."""
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
