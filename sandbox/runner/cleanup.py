"""After a job: its files, SysV and POSIX IPC and the id counters it could carry to the next job,
removed or settled."""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable
from typing import Any

from .files import unnamed_file
from .procfs import read_text


def _remove_tree(path: str) -> None:
    """Remove a file or a directory tree, making each directory writable first (a sample may
    leave mode-000 directories). Iterative: a tree may be deeper than the recursion limit."""
    import stat

    pending = [path]
    directories: list[str] = []
    while pending:
        current = pending.pop()
        try:
            info = os.lstat(current)
        except OSError:
            continue
        if not stat.S_ISDIR(info.st_mode):
            try:
                os.unlink(current)
            except OSError:
                pass
            continue
        try:
            os.chmod(current, 0o700)
        except OSError:
            pass
        directories.append(current)
        try:
            pending.extend(os.path.join(current, name) for name in os.listdir(current))
        except OSError:
            pass
    for directory in reversed(directories):
        try:
            os.rmdir(directory)
        except OSError:
            pass


_SYSV_REMOVERS: list[tuple[str, Callable[[int], Any]]] = []


def _sysv_removers() -> list[tuple[str, Callable[[int], Any]]]:
    """Each kind of SysV IPC object with the call that removes one; made once (a C library
    handle costs ~40 us and its pages, every job)."""
    if not _SYSV_REMOVERS:
        ipc_rmid = 0
        libc = ctypes.CDLL(None, use_errno=True)
        _SYSV_REMOVERS.extend((
            ("shm", lambda i: libc.shmctl(i, ipc_rmid, None)),
            ("msg", lambda i: libc.msgctl(i, ipc_rmid, None)),
            ("sem", lambda i: libc.semctl(i, 0, ipc_rmid)),
        ))
    return _SYSV_REMOVERS


def _remove_sysv_ipc() -> list[str]:
    """Remove every SysV shared memory segment, message queue and semaphore set of this IPC
    namespace (the container's own). Returns those that could not be removed."""
    try:
        removers = _sysv_removers()
    except OSError:
        return []
    left = []
    for kind, remove in removers:
        for _ in range(3):
            try:
                rows = read_text(f"/proc/sysvipc/{kind}").splitlines()[1:]
            except OSError:
                break
            ids = [int(row.split()[1]) for row in rows if len(row.split()) > 1]
            if not ids:
                break
            for ident in ids:
                remove(ident)
        else:
            left.append(f"SysV {kind} objects")
    return left


class _IdCounter:
    """One counter of ids the kernel hands out in order, which a job can move and a later job can
    read back: a message from one job to the next that no clean-up of files or IPC removes. A job
    that makes N processes moves every later job's pids on by N (``os.getpid()``, its children's
    pids, ``/proc``); one that creates N files moves the inode numbers of a tmpfs (``os.stat``);
    one that makes N SysV objects moves their ids. A namespace per job would cut these but needs
    capabilities the container does not have. Instead every job gets the same *block* of ids:
    after a job the server takes ids itself (``take``: hand out one id, return it) until the
    counter stands exactly ``block`` past where it stood before that job. A job that used more,
    or a counter near its wrap-around, retires the sandbox (the next job starts in a fresh one).
    So what a sample reads of a counter depends on how many jobs the sandbox has run, never on
    what they did (that a replacement happened stays readable, as after any job that brings its
    sandbox down: one bit, paid for with a new sandbox)."""

    def __init__(self, name: str, block: int, take: Callable[[], int], limit: int | None = None) -> None:
        self.name, self.block, self.take, self.limit = name, block, take, limit
        self.mark: int | None = None

    def start(self) -> None:
        """Before the first job: where the first block begins."""
        if self.mark is None:
            self.mark = self.take()

    def settle(self) -> str | None:
        """After a job (its processes gone, its files deleted): move the counter to the end of the
        job's block. Returns why the sandbox must be replaced instead, or None."""
        if self.mark is None:
            return None
        end = self.mark + self.block
        value = self.take()
        if not self.mark < value <= end:
            return (f"a job moved the {self.name} on by {value - self.mark - 1} (a job's block is {self.block}): "
                    "it would carry that to the next job")
        if self.limit is not None and end + self.block >= self.limit:
            return f"the {self.name} is near its wrap-around"
        while value < end:
            value = self.take()
        if value != end:
            return f"the {self.name} moved past its block while it was being settled"
        self.mark = end
        return None


def _id_counters(work_root: str) -> list[_IdCounter]:
    """The counters a container's jobs share: process ids, the inode numbers of each writable
    tmpfs, and the ids of each kind of SysV IPC object."""
    libc = ctypes.CDLL(None, use_errno=True)
    counters = []

    def last_pid() -> int:
        return int(read_text("/proc/loadavg").split()[4])

    # A pid is taken by a thread that returns at once. Its routine is gettid(), so joining it
    # gives the pid it took, with no read of /proc; where the C library has no gettid(), getpid()
    # and the last pid /proc/loadavg shows.
    thread, result = ctypes.c_ulong(), ctypes.c_void_p()
    gettid = getattr(libc, "gettid", None)
    routine = ctypes.cast(gettid if gettid is not None else libc.getpid, ctypes.c_void_p)

    def take_pid() -> int:
        if libc.pthread_create(ctypes.byref(thread), None, routine, None) != 0:
            raise OSError(ctypes.get_errno(), "pthread_create")
        libc.pthread_join(thread, ctypes.byref(result))
        return (result.value or 0) if gettid is not None else last_pid()

    try:
        pid_max = int(read_text("/proc/sys/kernel/pid_max"))
    except (OSError, ValueError):
        pid_max = 32768
    # A job's block of pids: its judge, its sample and 5 more threads or processes of either
    # (the first take after the job is the 8th). Every job pays for the takes it leaves unused
    # (about 60 us each); a job that makes more retires its sandbox, which costs one new container.
    counters.append(_IdCounter("PID counter", 8, take_pid, pid_max))

    def inode_taker(directory: str) -> Callable[[], int]:
        def take() -> int:
            fd = unnamed_file(directory)  # one inode, gone with its descriptor
            try:
                return os.fstat(fd).st_ino
            finally:
                os.close(fd)

        return take

    seen: set[str] = set()
    for directory, block in ((work_root, 16), ("/tmp", 8), ("/dev/shm", 8)):
        real = os.path.realpath(directory)
        if real in seen or not (os.path.isdir(real) and os.access(real, os.W_OK)):
            continue
        seen.add(real)
        take = inode_taker(real)
        try:
            probe = [take() for _ in range(3)]
        except OSError:
            continue
        if probe[1] - probe[0] == 1 and probe[2] - probe[1] == 1:  # handed out in order (tmpfs): a counter
            counters.append(_IdCounter(f"inode counter of {directory}", block, take))

    ipc_private, ipc_creat, ipc_rmid = 0, 0o1000, 0
    kinds = (
        ("SysV shared memory id counter", lambda: libc.shmget(ipc_private, 1, ipc_creat | 0o600),
         lambda i: libc.shmctl(i, ipc_rmid, None)),
        ("SysV message queue id counter", lambda: libc.msgget(ipc_private, ipc_creat | 0o600),
         lambda i: libc.msgctl(i, ipc_rmid, None)),
        ("SysV semaphore id counter", lambda: libc.semget(ipc_private, 1, ipc_creat | 0o600),
         lambda i: libc.semctl(i, 0, ipc_rmid)),
    )
    for name, make, remove in kinds:
        def take_ipc(make: Callable[[], int] = make, remove: Callable[[int], Any] = remove) -> int:
            ident = make()
            if ident < 0:
                raise OSError(ctypes.get_errno(), "SysV IPC")
            remove(ident)
            return ident

        try:
            take_ipc()
        except OSError:
            continue  # no SysV IPC here
        # An id is seq << 15 | index. With no object in use, the kernel hands out indexes 0..63 in
        # turn (ipc_min_cycle) and adds one to seq at each wrap: seq * 64 + index counts them.
        def taken(take: Callable[[], int] = take_ipc) -> int:
            ipc_id = take()
            return (ipc_id >> 15) * 64 + (ipc_id & 0x7FFF)

        counters.append(_IdCounter(name, 4, taken, (0x7FFFFFFF >> 15) * 64))
    return counters
