"""The sample's guard: no network or IPC namespace of the host's, and a seccomp filter that refuses
every syscall reaching another process of the sandbox."""

from __future__ import annotations

import ctypes
import os
import struct  # here, not in each sample's process (its seccomp program is packed with it)
from typing import Any

from .procfs import stat_fields


def _unshare_network(ipc: bool = False) -> bool:
    """Put the calling process in a new, empty network namespace (local mode). True on success.
    ``ipc``: a new IPC namespace too, so SysV IPC objects it makes die with it.

    A new user namespace comes with it whenever one can be made, even for root: the sample then
    holds no capability in the host's namespace, so a runner started as root cannot be ptraced,
    nor its file descriptors (``/proc/<runner>/fd/1``, the answer channel) opened by the sample.
    """
    clone_newnet, clone_newuser, clone_newipc = 0x40000000, 0x10000000, 0x08000000
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return False
    uid, gid = os.getuid(), os.getgid()
    namespaces = clone_newnet | (clone_newipc if ipc else 0)
    if libc.unshare(clone_newuser | namespaces) != 0:
        return libc.unshare(namespaces) == 0 or libc.unshare(clone_newnet) == 0
    try:
        with open("/proc/self/setgroups", "w") as f:
            f.write("deny")
        with open("/proc/self/uid_map", "w") as f:
            f.write(f"{uid} {uid} 1")
        with open("/proc/self/gid_map", "w") as f:
            f.write(f"{gid} {gid} 1")
    except OSError:
        pass
    return True


# Syscalls that reach another process, by machine: (audit arch, the x32 bit to refuse or 0,
# {name: number}).
_SYSCALLS = {
    "x86_64": (0xC000003E, 0x40000000, {
        "kill": 62, "tkill": 200, "tgkill": 234, "rt_sigqueueinfo": 129, "rt_tgsigqueueinfo": 297,
        "pidfd_open": 434, "prlimit64": 302, "sched_setaffinity": 203, "sched_setscheduler": 144,
        "sched_setparam": 142, "sched_setattr": 314, "setpriority": 141, "ioprio_set": 251, "fcntl": 72,
        "ioctl": 16, "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311, "pidfd_send_signal": 424,
        "pidfd_getfd": 438, "migrate_pages": 256, "move_pages": 279, "process_madvise": 440, "process_mrelease": 448,
    }),
    "aarch64": (0xC00000B7, 0, {
        "kill": 129, "tkill": 130, "tgkill": 131, "rt_sigqueueinfo": 138, "rt_tgsigqueueinfo": 240,
        "pidfd_open": 434, "prlimit64": 261, "sched_setaffinity": 122, "sched_setscheduler": 119,
        "sched_setparam": 118, "sched_setattr": 274, "setpriority": 140, "ioprio_set": 30, "fcntl": 25,
        "ioctl": 29, "ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271, "pidfd_send_signal": 424,
        "pidfd_getfd": 438, "migrate_pages": 238, "move_pages": 239, "process_madvise": 440, "process_mrelease": 448,
    }),
}
#: The target pid is the first argument: signals, and what a process inherits or runs under
#: (resource limits, CPU affinity, scheduling), which would otherwise pass to every later sample
#: through the zygote, or stop the next job.
_PID_FIRST_SYSCALLS = (
    "kill", "tkill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "pidfd_open", "prlimit64",
    "sched_setaffinity", "sched_setscheduler", "sched_setparam", "sched_setattr",
)
#: ``(which, who, ...)``: the target is the second argument, unless ``which`` names a whole user
#: (every process of the uid, the judge's included: refused).
_WHO_SECOND_SYSCALLS = {"setpriority": 2, "ioprio_set": 3}  # PRIO_USER, IOPRIO_WHO_USER
#: Commands refused whatever the descriptor: naming a process to receive a descriptor's SIGIO
#: (any signal, with F_SETSIG).
_REFUSED_COMMANDS = {"fcntl": (8, 10, 15), "ioctl": (0x8901, 0x8902)}  # F_SETOWN, F_SETSIG, F_SETOWN_EX; FIOSETOWN, SIOCSPGRP
#: Refused whatever the target: tracing, reading or writing another process's memory, stealing
#: its descriptors, signals through a pidfd (a ``/proc/<pid>`` directory is one), moving its pages.
_NEVER_SYSCALLS = (
    "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_send_signal", "pidfd_getfd", "migrate_pages",
    "move_pages", "process_madvise", "process_mrelease",
)
_BPF_MAX_PIDS = 900  # four instructions each (the pid and its group's -pid), under the kernel's 4,096


def _processes_to_protect(include_self: bool = False) -> set[int]:
    """Every other process (and thread) there is now, with its process group and session: the
    server, the zygote, the judge. The sample's own children come later and stay its own. Where
    there are too many (a local run sees the whole host), this runner's own family: its
    ancestors and everything they forked. ``include_self``: the caller too (the zygote, which
    scans for the sample it is about to fork)."""
    me = os.getpid()
    found: dict[int, tuple[int, int, int]] = {}  # pid -> (ppid, pgid, sid)
    for name in os.listdir("/proc"):
        if not name.isdigit() or (int(name) == me and not include_self):
            continue
        try:
            fields = stat_fields(name)
            found[int(name)] = (int(fields[1]), int(fields[2]), int(fields[3]))
        except (OSError, IndexError, ValueError):
            continue
    chosen = set(found)
    if len(found) > _BPF_MAX_PIDS // 2:
        family, parent = set(), os.getppid()
        while parent > 1 and parent in found and parent not in family:
            family.add(parent)
            parent = found[parent][0]
        grew = True
        while grew:  # every descendant of the family
            before = len(family)
            family |= {pid for pid, (ppid, _, _) in found.items() if ppid in family}
            grew = len(family) > before
        chosen = family
    protected = set()
    for pid in chosen:
        protected |= {pid, found[pid][1], found[pid][2]}
        try:
            protected |= {int(t) for t in os.listdir(f"/proc/{pid}/task")}
        except OSError:
            pass
    if not include_self:
        protected.discard(me)
    protected.discard(0)
    return set(sorted(protected)[:_BPF_MAX_PIDS])


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


_LIBC: list[Any] = []


def _libc() -> Any:
    """The C library, opened once (before the zygote forks, by the warm-up)."""
    if not _LIBC:
        _LIBC.append(ctypes.CDLL(None, use_errno=True))
    return _LIBC[0]


def _seccomp_program(arch: int, x32_bit: int, numbers: dict[str, int], protected: set[int]) -> list[tuple[int, int, int, int]]:
    """The guard's classic-BPF program (see :func:`_guard_other_processes`), as (code, jt, jf, k)."""
    ld_abs, jeq, jge, ja, ret = 0x20, 0x15, 0x35, 0x05, 0x06
    allow, deny = 0x7FFF0000, 0x00050000 | 1  # SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO | EPERM
    nr, arch_at, arg0, arg1 = 0, 4, 16, 24  # offsets in seccomp_data (the low 32 bits of an argument)
    code: list[tuple[int, int, int, Any]] = []  # k may be a label: resolved below for `ja`

    def if_equal(value: int, then: Any) -> None:
        """If A == value: ``then`` ("deny", or a label to jump to); else fall through."""
        code.append((jeq, 0, 1, value))
        code.append((ret, 0, 0, deny) if then == "deny" else (ja, 0, 0, then))

    code += [(ld_abs, 0, 0, arch_at), (jeq, 1, 0, arch), (ret, 0, 0, deny), (ld_abs, 0, 0, nr)]
    if x32_bit:
        code += [(jge, 0, 1, x32_bit), (ret, 0, 0, deny)]  # x32 ABI calls
    for name in _NEVER_SYSCALLS:
        if_equal(numbers[name], "deny")
    for name in _PID_FIRST_SYSCALLS:
        if_equal(numbers[name], "first")
    for name in _WHO_SECOND_SYSCALLS:
        if_equal(numbers[name], f"who-{name}")
    for name in _REFUSED_COMMANDS:
        if_equal(numbers[name], f"command-{name}")
    code.append((ret, 0, 0, allow))
    labels: dict[str, int] = {}
    for name, commands in _REFUSED_COMMANDS.items():
        labels[f"command-{name}"] = len(code)
        code.append((ld_abs, 0, 0, arg1))
        for command in commands:
            if_equal(command, "deny")
        code.append((ret, 0, 0, allow))
    for name, whole_user in _WHO_SECOND_SYSCALLS.items():
        labels[f"who-{name}"] = len(code)
        code.append((ld_abs, 0, 0, arg0))
        if_equal(whole_user, "deny")
        code += [(ld_abs, 0, 0, arg1), (ja, 0, 0, "check")]
    labels["first"] = len(code)
    code.append((ld_abs, 0, 0, arg0))
    labels["check"] = len(code)  # A holds the target: -1 (every process), a protected pid or -pgid
    for value in sorted({0xFFFFFFFF} | {p & 0xFFFFFFFF for p in protected} | {-p & 0xFFFFFFFF for p in protected}):
        if_equal(value, "deny")
    code.append((ret, 0, 0, allow))
    return [(op, jt, jf, labels[k] - i - 1 if isinstance(k, str) else k) for i, (op, jt, jf, k) in enumerate(code)]


def _guard_other_processes(protected: set[int]) -> bool:
    """Install a seccomp filter in this process (the sample's; inherited by all it forks): it
    cannot signal, trace, read the memory of, or change the limits, priority or CPUs of any process
    in ``protected`` (nor use ``kill(-1)`` or a whole-user ``setpriority``, which reach them all, nor
    have a descriptor's SIGIO sent anywhere), so it cannot stop, kill or hobble its judge, the zygote
    or the server, or pass anything to later samples through them. Its own children stay its own to
    signal. Returns False where the machine has no table here."""
    raw = _guard_program(protected)
    if raw is None:
        return False
    _PreparedGuard(raw).install()
    return True


def _guard_program(protected: set[int]) -> bytes | None:
    """The guard's filter for ``protected``, packed as the kernel takes it; None where the machine
    has no table here. The zygote packs it before it forks a sample (see :func:`_zygote_main`)."""
    table = _SYSCALLS.get(os.uname().machine)
    if table is None:
        return None
    return b"".join(struct.pack("HBBI", *instruction) for instruction in _seccomp_program(*table, protected))


class _PreparedGuard:
    """A packed filter with the structures ``prctl`` takes, made before the sample's fork (by the
    zygote): made in the freshly forked sample they cost about 0.3 ms of copy-on-write faults,
    while installing a prepared one costs about 15 us."""

    def __init__(self, raw: bytes) -> None:
        self.buffer = ctypes.create_string_buffer(raw, len(raw))
        self.prog = _SockFprog(len(raw) // 8, ctypes.addressof(self.buffer))
        self.prog_ref = ctypes.byref(self.prog)
        self.prctl = _libc().prctl

    def install(self) -> None:
        pr_set_no_new_privs, pr_set_seccomp, seccomp_mode_filter = 38, 22, 2
        if self.prctl(pr_set_no_new_privs, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
        if self.prctl(pr_set_seccomp, seccomp_mode_filter, self.prog_ref, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP)")
