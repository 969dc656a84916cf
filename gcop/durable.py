"""Writes that survive ``kill -9`` (and, with the fsyncs, a power cut): the one place gcop decides how.

Two kinds of file:

* **Replaced whole** (:func:`write_atomic`): the text goes to a temp file in the same folder,
  which is fsynced and then renamed over the target (``os.replace`` is atomic on POSIX), and
  the folder is fsynced so that the rename itself is on disk. A reader sees the old file or the
  new one, never half of one; a crash leaves at worst a ``.tmp-*`` file beside it.
* **Appended to** (:class:`LineAppender`): each record is one complete line written by a single
  ``os.write`` on an ``O_APPEND`` descriptor, under an exclusive ``flock`` (so processes sharing
  the file never interleave), then fsynced. A writer killed mid-line leaves a torn last line: the
  next append cuts it off first (or ends it, when the torn part is a whole record that only lacks
  its newline), so it never glues onto the next record. Readers (:func:`read_jsonl_tolerant`)
  drop a torn last line with a warning and report a corrupt line in the middle by file and line.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

try:  # POSIX; elsewhere appends are still single writes, without the cross-process lock
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

from .readers import JsonlLineError, read_jsonl

log = logging.getLogger(__name__)

__all__ = ["LineAppender", "fsync_dir", "new_file_mode", "read_jsonl_tolerant", "share_like_new_files", "write_atomic"]


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """fsync a folder, so that a rename or a new file in it is on disk (a no-op where folders
    cannot be opened, e.g. Windows)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def new_file_mode() -> int:
    """The mode ``open()`` gives a new file here: 0o666 less the process's umask (read from
    /proc where it can be, so the umask is never changed, even for a moment, under other threads)."""
    mask = None
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status") as status:
            mask = next((int(line.split()[1], 8) for line in status if line.startswith("Umask:")), None)
    if mask is None:
        mask = os.umask(0o022)
        os.umask(mask)
    return 0o666 & ~mask


def share_like_new_files(folder: str | os.PathLike[str]) -> None:
    """Give the files directly in ``folder`` the mode of a file ``open()`` makes (see
    :func:`new_file_mode`): temp-file-and-rename writers (``tempfile.mkstemp``, safetensors) leave
    0600, which hides a checkpoint from the group that shares it."""
    mode = new_file_mode()
    for entry in os.scandir(folder):
        if entry.is_file(follow_symlinks=False):
            os.chmod(entry.path, mode)


def write_atomic(path: str | os.PathLike[str], data: str | bytes, *, encoding: str = "utf-8") -> Path:
    """Replace ``path`` with ``data``: temp file, fsync, rename, fsync of the folder (see the
    module docstring). Returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".tmp-{path.name}.", suffix=".part")
    try:
        os.fchmod(fd, new_file_mode())  # mkstemp's 0600 would hide the file from everyone else
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode(encoding) if isinstance(data, str) else data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)
    return path


@contextlib.contextmanager
def _locked(fd: int) -> Iterator[None]:
    if fcntl is None:  # pragma: no cover
        yield
        return
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


def _is_record(fragment: bytes) -> bool:
    try:
        return isinstance(json.loads(fragment), dict)
    except ValueError:
        return False


class LineAppender:
    """fsynced, whole-line appends to a JSON Lines file that several processes may share.

    The file is opened on the first :meth:`append` (nothing is created before there is
    something to write). Not thread-safe by itself: callers hold their own lock.
    """

    def __init__(self, path: str | os.PathLike[str], *, fsync: bool = True) -> None:
        self.path = Path(path)
        self.fsync = fsync
        self._fd: int | None = None

    def _open(self) -> int:
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            created = not self.path.exists()
            self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
            if created:
                fsync_dir(self.path.parent)
        return self._fd

    def _repair_tail(self, fd: int) -> None:
        """Under the lock no live writer is mid-line: a tail without its newline is a dead one's."""
        size = os.fstat(fd).st_size
        if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
            return
        # find the start of the torn line (the byte after the last newline)
        start, step = size, 4096
        while start > 0:
            lo = max(0, start - step)
            chunk = os.pread(fd, start - lo, lo)
            cut = chunk.rfind(b"\n")
            if cut >= 0:
                start = lo + cut + 1
                break
            start = lo
        fragment = os.pread(fd, size - start, start)
        if _is_record(fragment):  # a whole record that only lacks its newline: keep it
            os.write(fd, b"\n")
            log.warning("%s: ended a last line that had no newline (a writer killed after writing it)", self.path)
        else:
            os.ftruncate(fd, start)
            log.warning("%s:%d bytes cut: a torn last line (a writer killed mid-write)", self.path, size - start)

    def append(self, lines: str | list[str], *, only_if_empty: bool = False) -> bool:
        """Append one or more records, each a line of JSON without its newline, in one write.
        ``only_if_empty``: only into an empty file (checked under the lock). Returns whether
        it wrote."""
        items = [lines] if isinstance(lines, str) else list(lines)
        if not items:
            return False
        data = "".join(line.rstrip("\n") + "\n" for line in items).encode("utf-8")
        fd = self._open()
        with _locked(fd):
            if only_if_empty and os.fstat(fd).st_size > 0:
                return False
            self._repair_tail(fd)
            written = os.write(fd, data)
            while written < len(data):  # a short write (rare on a local disk): finish the line
                written += os.write(fd, data[written:])
            if self.fsync:
                os.fsync(fd)
        return True

    def write_record(self, record: Any) -> None:
        """Append one JSON object."""
        self.append(json.dumps(record, ensure_ascii=False, default=str))

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> LineAppender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_jsonl_tolerant(path: str | os.PathLike[str], *, what: str = "line") -> tuple[list[tuple[int, dict[str, Any]]], list[JsonlLineError]]:
    """:func:`gcop.readers.read_jsonl`, with the crash rule: a bad *last* line that does not end
    in a newline is a torn write, dropped with a warning; any other bad line is returned (and
    logged) as an error naming file and line. A missing file reads as empty."""
    path = Path(path)
    if not path.is_file():
        return [], []
    records, bad = read_jsonl(path, errors="replace")
    if bad:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 1))
            torn_tail = size > 0 and handle.read(1) != b"\n"
        last = sum(1 for _ in path.open("rb"))
        errors = []
        for error in bad:
            if torn_tail and error.line == last:
                log.warning("%s:%d: torn last %s dropped (a writer killed mid-write)", path, error.line, what)
            else:
                log.warning("%s: corrupt %s skipped", error, what)
                errors.append(error)
        bad = errors
    return records, bad
