"""Small kernel files (``/proc``), read and written with the os module's calls.

The runner reads them in every job, in the server, the zygote and the processes they fork. A
text-mode ``open()`` builds a file object, a buffer and a decoder each time, and in a process
forked a moment ago every object it touches is a page copied: about 10 page faults a read. These
calls touch next to nothing."""

from __future__ import annotations

import os


def read_text(path: str) -> str:
    """The whole of a small file. Raises OSError as ``open()`` would."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks).decode("ascii", "replace")


def stat_fields(pid: int | str) -> list[str]:
    """The fields of ``/proc/<pid>/stat`` after the process's name (the state first, then the
    parent's pid, the process group, the session...). The name is split off at the last ``)``:
    a process may name itself anything, brackets and spaces included. Raises OSError."""
    return read_text(f"/proc/{pid}/stat").rsplit(")", 1)[-1].split()


def write_text(path: str, text: str) -> None:
    """Write ``text`` to an existing file (a kernel setting) in one call. Raises OSError."""
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)
