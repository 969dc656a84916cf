"""The in-sandbox test runner: one verdict protocol for every executor and every scorer.

This file runs *inside* the sandbox (a container of the gcop image, or a local subprocess) and
depends on nothing but the standard library and pytest, so it can be copied anywhere.

Protocol
--------
A job is one JSON object::

    {"id": "...", "style": "pytest" | "check", "solution": "<python source>",
     "test": "<test source>", "entry_point": "name" | null, "timeout": 10.0,
     "prelude": "<HumanEval's canonical prompt>" | null, "profile": false,
     "handle_ops": ["add", "iter", ...] | null}

``handle_ops``: the data operations (arithmetic, conversions, indexing, iteration) the tests may
do on an object of the solution that is not plain data (a handle, see "the boundary"); any other
raises :class:`HandleRefused` in the test. ``null`` allows all of them, each counted as a test
decided through a handle.

* ``pytest`` style (KodCode): ``solution.py`` holds the solution, ``test_solution.py`` holds
  ``from solution import *`` followed by the tests, exactly as KodCode's own runner lays them out.
  Only tests *defined* in ``test_solution.py`` are collected: a ``test_*`` name imported into it
  (``from heapq import merge as test_merge``, or a ``test_*`` function the solution exports
  through ``from solution import *``) is not a test.
* ``check`` style (HumanEval): ``solution.py`` holds the program (prompt + completion); the judge runs
  ``prelude`` (the canonical prompt, so the helpers ``check`` uses are the data set's) and the
  data set's test code, then calls ``check(entry_point)`` with the program's entry point, as
  OpenAI's harness does, reported as the single test ``test_check``.

Two processes per job (see "the boundary" below): the sample's module is imported and run in a
process of its own; the tests run in the judge's process, which writes the report and reaches
the sample only through data copies and handles.

The answer is one JSON object: ``{"id", "status", "reason", "tests_collected", "tests_passed",
"duration_s", "output", "boundary"}`` with ``status`` one of ``passed``, ``failed``, ``timeout``,
``error``; ``boundary`` says how the tests were decided (``mode`` "process" with the counts of
tests decided by value and through a handle, or "in-process" with the reason); ``retire``, when
present, asks the host to replace this sandbox (a job left something behind); ``phases_ms``
(with ``"profile": true``) is where the job's time went.

Modes
-----
``serve``  a fork server: forks the sample zygote, says it is ready, then reads jobs as JSON
           lines on stdin and writes one answer line per job on stdout. Each job's judge runs in
           a freshly forked process in a fresh working directory. In a container, check-style
           jobs are judged without pytest: until the first pytest-style job the server has not
           even imported it (a smaller process forks faster). That job starts one pytest
           session, and every pytest-style judge from then on carries on into its own copy of it
           (see
           :class:`_PytestForkServer`), so a job costs its collection and tests, not a pytest
           start-up. Its sample runs in a process the zygote forks. After a job, every process it
           left behind is killed and everything it wrote is deleted. In a container this process
           is PID 1, which the sample cannot signal.
``once``   read one job from stdin, print its answer (for generic sandboxes, e.g. Inspect's).

Verdict rules (``judge``)
-------------------------
``passed`` only when the pytest session finished and reported, every collected test's setup,
call and teardown passed, at least one test ran, every test function the trusted side found in
the test file was collected, pytest's exit status was 0 and the test process exited 0. The
report travels over a private pipe and carries a per-job random nonce, so printed text, exit
codes, ``sys.exit``/``os._exit``, ``atexit`` and ``excepthook`` tricks, skips, xfails and
``pytest.exit`` cannot produce a pass. The process exits with ``os._exit`` right after pytest
returns, so ``atexit`` handlers never run.
"""

from __future__ import annotations

import argparse
import ast
import ctypes
import itertools
import json
import os
import re
import resource  # here, not in each job's process: importing it there costs ~1.5 ms a job
import select
import shutil
import signal
import struct  # here, not in each sample's process (its seccomp program is packed with it)
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

STATUS_PASSED = "passed"
STATUS_FAILED = "failed"
STATUS_TIMEOUT = "timeout"
STATUS_ERROR = "error"

MAX_TIMEOUT_S = 600.0
OUTPUT_TAIL_CHARS = 2000
FILE_SIZE_LIMIT = 64 * 1024 * 1024  # per file a sample may write (disk bombs)
HUMANEVAL_TEST_NAME = "test_check"


# --------------------------------------------------------------------------- files of a job


def build_files(job: dict[str, Any]) -> dict[str, str]:
    """The files a job runs with: ``solution.py`` and ``test_solution.py``.

    pytest style gets KodCode's layout (``from solution import *`` first). check style keeps the
    data set's test code as it is; ``check(entry_point)`` is called by the runner.
    """
    style = job.get("style")
    solution = job.get("solution") or ""
    test = job.get("test") or ""
    if not isinstance(solution, str) or not isinstance(test, str):
        raise ValueError("'solution' and 'test' must be strings")
    if style == "pytest":
        return {"solution.py": solution, "test_solution.py": "from solution import *\n" + test}
    if style == "check":
        entry_point = job.get("entry_point")
        if not isinstance(entry_point, str) or not entry_point.isidentifier():
            raise ValueError(f"a check job needs a valid entry_point, got {entry_point!r}")
        return {"solution.py": solution, "test_solution.py": test}
    raise ValueError(f"unknown job style {style!r} (expected 'pytest' or 'check')")


def _parse(source: str) -> ast.Module | None:
    """``source`` parsed, or None when it does not parse (pytest then reports a collection error)."""
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        # ValueError: NUL bytes on older Pythons; MemoryError/RecursionError: absurd nesting.
        return None


def expected_tests(test_source: str) -> list[str] | None:
    """Test functions and classes pytest must collect, found by parsing (not running) the file.

    Returns None when the file does not parse (pytest will then report a collection error).
    Names are ``func`` or ``Class::method``.
    """
    return _expected_tests(_parse(test_source))


def _expected_tests(tree: ast.Module | None) -> list[str] | None:
    if tree is None:
        return None
    names: list[str] = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
            names.append(node.name)
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name.startswith("test"):
                    names.append(f"{node.name}::{item.name}")
    return names


_PARAM_SUFFIX = re.compile(r"\[.*\]$")


def _test_name(nodeid: str) -> str:
    """``test_solution.py::TestX::test_y[1-2]`` -> ``TestX::test_y``."""
    parts = nodeid.split("::")[1:]
    return _PARAM_SUFFIX.sub("", "::".join(parts))


# --------------------------------------------------------------------------- verdict rules


def passed_test_names(report: dict[str, Any]) -> list[str]:
    """The names of the collected tests whose setup, call and teardown all passed, from an
    authenticated report (what a cascade's examples rule reads: which visible examples held)."""
    outcomes: dict[str, dict[str, str]] = {}
    for nodeid, when, outcome, *_ in report.get("reports") or []:
        outcomes.setdefault(str(nodeid), {})[str(when)] = str(outcome)
    return sorted(
        _test_name(str(nodeid))
        for nodeid in report.get("collected") or []
        if all(outcomes.get(str(nodeid), {}).get(when) == "passed" for when in ("setup", "call", "teardown"))
    )


def judge(
    report: dict[str, Any] | None,
    *,
    nonce: str,
    exit_code: int | None,
    signal_number: int | None,
    expected: list[str] | None,
) -> tuple[str, str, int, int]:
    """Decide a verdict from the child's report and how the child ended.

    Returns ``(status, reason, tests_collected, tests_passed)``. Never returns ``passed``
    unless every rule in the module docstring holds.
    """
    if report is None:
        how = f"killed by signal {signal_number}" if signal_number else f"exited with code {exit_code}"
        return STATUS_FAILED, f"no test report: the test process {how} before pytest finished", 0, 0
    if report.get("nonce") != nonce:
        return STATUS_FAILED, "test report failed authentication (forged or corrupted)", 0, 0
    collected: list[str] = list(report.get("collected") or [])
    outcomes: dict[str, dict[str, str]] = {}
    messages: dict[tuple[str, str], str] = {}
    for nodeid, when, outcome, *message in report.get("reports") or []:
        outcomes.setdefault(nodeid, {})[when] = outcome
        if message and message[0]:
            messages[(nodeid, when)] = str(message[0])
    n_collected = len(collected)
    passed_ids = [
        nodeid
        for nodeid in collected
        if all(outcomes.get(nodeid, {}).get(when) == "passed" for when in ("setup", "call", "teardown"))
    ]
    n_passed = len(passed_ids)
    if not report.get("finished"):
        return STATUS_FAILED, "pytest session did not finish", n_collected, n_passed
    if report.get("collect_errors"):
        first = report["collect_errors"][0]
        return STATUS_FAILED, f"collection error: {first}", n_collected, n_passed
    if n_collected == 0:
        return STATUS_FAILED, "no tests collected", 0, 0
    for nodeid in collected:
        phases = outcomes.get(nodeid, {})
        for when in ("setup", "call", "teardown"):
            outcome = phases.get(when)
            if outcome != "passed":
                what = outcome or "not run"
                if outcome == "xfailed":
                    what = "xfailed (expected failures never count as passes)"
                if messages.get((nodeid, when)):
                    what += f": {messages[(nodeid, when)]}"
                return STATUS_FAILED, f"{_test_name(nodeid)} {when}: {what}", n_collected, n_passed
    if expected is not None:
        collected_names = {_test_name(nodeid) for nodeid in collected}
        missing = [name for name in expected if name not in collected_names]
        if missing:
            return STATUS_FAILED, f"test {missing[0]} was not collected", n_collected, n_passed
    exitstatus = report.get("exitstatus")
    if exitstatus != 0:
        return STATUS_FAILED, f"pytest exit status {exitstatus}", n_collected, n_passed
    if signal_number:
        return STATUS_FAILED, f"test process killed by signal {signal_number}", n_collected, n_passed
    if exit_code != 0:
        return STATUS_FAILED, f"test process exited with code {exit_code}", n_collected, n_passed
    return STATUS_PASSED, f"{n_passed} passed", n_collected, n_passed


# --------------------------------------------------------------------------- the test process


def _short_message(text: str, limit: int = 300) -> str:
    """The most telling line of a failure report: pytest's first ``E   ...`` line, else the last
    line. A bare ``AssertionError`` (asserts are not rewritten, see :func:`pytest_args`) comes
    with the failing statement, the ``>`` line above it: ``assert add(2, 3) == 6 failed``."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    for index, line in enumerate(lines):
        if line.startswith("E "):
            error = line[1:].strip()
            if error == "AssertionError":
                statements = [s[1:].strip() for s in lines[:index] if s.startswith(">")]
                if statements:
                    return f"{statements[-1]} failed"[:limit]
            return error[:limit]
    return lines[-1][:limit] if lines else ""


class _Recorder:
    """pytest plugin living in the test process; writes the report to a private pipe."""

    def __init__(self) -> None:
        self.collected: list[str] = []
        self.reports: list[tuple[str, str, str, str]] = []  # (nodeid, when, outcome, message)
        self.collect_errors: list[str] = []
        self.exitstatus: int | None = None
        self.finished = False
        self.boundary: _Boundary | None = None  # the job's, when its sample runs in its own process
        self.in_process: str | None = None  # else why it does not

    def pytest_collection_finish(self, session: Any) -> None:
        self.collected = [item.nodeid for item in session.items]
        _mark("collected")

    def pytest_collectreport(self, report: Any) -> None:
        if report.failed:
            text = str(report.longrepr or "")
            self.collect_errors.append(f"{report.nodeid}: {text.strip().splitlines()[-1] if text.strip() else ''}")

    def pytest_runtest_logreport(self, report: Any) -> None:
        outcome = report.outcome
        if hasattr(report, "wasxfail"):
            outcome = "xfailed" if report.skipped else "xpassed"
        message = ""
        if isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
            # A skip: (path, line, reason). The job directory's path says nothing to the reader.
            path, line, reason = report.longrepr
            message = f"{reason} ({os.path.basename(str(path))}:{line})"
        elif outcome != "passed":
            message = _short_message(getattr(report, "longreprtext", "") or "")
        self.reports.append((report.nodeid, report.when, outcome, message))
        if self.boundary is not None:
            if report.when == "setup":
                self.boundary.test_started(report.nodeid)
            elif report.when == "teardown":
                self.boundary.test_finished(report.nodeid)

    def pytest_sessionfinish(self, session: Any, exitstatus: int) -> None:
        self.exitstatus = int(exitstatus)
        self.finished = True


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
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
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


def _local_definitions_only(pytest: Any) -> object:
    """A plugin that stops pytest collecting functions and classes the test module imported
    rather than defined (their ``__module__`` is another module's)."""
    import inspect

    class LocalDefinitionsOnly:
        @pytest.hookimpl(tryfirst=True)
        def pytest_pycollect_makeitem(self, collector: Any, name: str, obj: Any) -> list[Any] | None:
            if isinstance(obj, (_ProxyBase, _BoundMethod)):
                return []  # an object of the sample's process is never a test
            if isinstance(collector, pytest.Module) and (inspect.isfunction(obj) or inspect.isclass(obj)):
                if getattr(obj, "__module__", None) != collector.obj.__name__:
                    return []
            return None

    return LocalDefinitionsOnly()


def pytest_args(workdir: str) -> list[str]:
    """The one pytest command line every pytest-style job runs under, in every mode.

    Output capture is ``sys`` (not pytest's default ``fd``): the fork server starts the session
    before the job exists, and fd capture would hold a duplicate of the server's answer channel
    that the job's process could write to. Outcomes do not depend on it (``capsys``/``capfd``
    work either way); only where a sample's raw fd writes land in the output tail does. Failure
    reasons name the failing assert statement (:func:`_short_message`) rather than its values.
    """
    return [
        "-q", "-rN", "--color=no", "--noconftest", "-p", "no:cacheprovider",
        "-p", "no:stepwise", "-c", os.devnull, "--capture=sys",
        # Asserts run as Python runs them: rewriting them for pytest's detailed messages costs
        # ~4 ms a job (a fifth of a warm job) and never changes an outcome.
        "--assert=plain",
        # Reporting plugins that never change an outcome; each costs start-up time per job.
        # faulthandler would also hold a duplicate of the server's stderr.
        "-p", "no:doctest", "-p", "no:junitxml", "-p", "no:pastebin", "-p", "no:faulthandler",
        "-p", "no:setuponly", "-p", "no:setupplan", "--rootdir", workdir,
        # Collection starts at the job's directory. Left to pytest (with ``-c /dev/null``) it
        # starts at the top directory outside /dev, and lists it and every directory down to
        # the job's (the whole of /tmp, for a local run), for every job.
        "--confcutdir", workdir,
        "test_solution.py",
    ]


def _pytest_report(recorder: _Recorder, ret: int) -> dict[str, Any]:
    return {
        "return": int(ret),
        "finished": recorder.finished,
        "exitstatus": recorder.exitstatus,
        "collected": recorder.collected,
        "reports": recorder.reports,
        "collect_errors": recorder.collect_errors[:5],
        "boundary": _boundary_summary(recorder.boundary, recorder.in_process),
    }


def _boundary_summary(boundary: _Boundary | None, in_process: str | None) -> dict[str, Any]:
    if boundary is not None:
        return boundary.summary()
    return {"mode": "in-process", "reason": in_process or "no boundary"}


def _run_pytest(workdir: str, boundary: _Boundary | None = None, in_process: str | None = None) -> dict[str, Any]:
    """pytest style: a whole pytest session over test_solution.py, observed by _Recorder."""
    import pytest

    recorder = _Recorder()
    recorder.boundary, recorder.in_process = boundary, in_process
    ret = pytest.main(pytest_args(workdir), plugins=[recorder, _local_definitions_only(pytest)])
    return _pytest_report(recorder, ret)


def _run_check_style(
    files: dict[str, str], entry_point: str, boundary: _Boundary | None = None, prelude: str | None = None
) -> dict[str, Any]:
    """HumanEval style without pytest's start-up cost: the official harness's semantics (program,
    then the data set's test code, then ``check(entry_point)``) reported in the same shape as a
    pytest session with the single test ``test_check``.

    Across a boundary (the default) the judge runs the canonical ``prelude`` (the prompt: its
    helpers are the data set's, whatever the completion redefines) and the test code; only the
    entry point comes from the sample's process, as a handle. Without one (``boundary=None``),
    program and test share one namespace, as in OpenAI's harness."""
    import linecache
    import traceback

    nodeid = f"test_solution.py::{HUMANEVAL_TEST_NAME}"
    report: dict[str, Any] = {
        "return": 1, "finished": False, "exitstatus": None,
        "collected": [], "reports": [], "collect_errors": [],
    }

    def collection_error(text: str) -> dict[str, Any]:
        report["collect_errors"] = [text[:300]]
        report.update(finished=True, exitstatus=2, **{"return": 2})
        return report

    if boundary is None:
        namespace: dict[str, Any] = {"__name__": "solution"}
        steps = [("solution.py", files["solution.py"]), ("test_solution.py", files["test_solution.py"])]
    else:
        namespace = {"__name__": "test_solution"}
        steps = [("prompt.py", prelude or ""), ("test_solution.py", boundary.test_source)]
    for filename, source in steps:
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        try:
            exec(compile(source, filename, "exec"), namespace)  # noqa: S102 - this is the sandbox
        except BaseException as exc:  # noqa: BLE001 - SystemExit at import is a failure too
            traceback.print_exc()
            return collection_error(f"{filename}: {type(exc).__name__}: {exc}")
    if boundary is not None:
        try:
            exports, _ = boundary.import_solution()
        except BaseException as exc:  # noqa: BLE001 - whatever the sample's import raised
            traceback.print_exc()
            return collection_error(f"solution.py: {type(exc).__name__}: {exc}")
        if entry_point in exports:
            namespace[entry_point] = exports[entry_point]
        else:
            namespace.pop(entry_point, None)  # the prompt's stub is no solution
    for name in (entry_point, "check"):
        if not callable(namespace.get(name)):
            return collection_error(f"solution.py: {name!r} is not defined")
    report["collected"] = [nodeid]
    outcome, message = "passed", ""
    if boundary is not None:
        boundary.test_started(nodeid)
    try:
        namespace["check"](namespace[entry_point])
    except BaseException as exc:  # noqa: BLE001 - sys.exit inside the test fails it
        traceback.print_exc()
        outcome, message = "failed", f"{type(exc).__name__}: {exc}"[:300]
    if boundary is not None:
        boundary.test_finished(nodeid)
    report["reports"] = [
        (nodeid, "setup", "passed", ""),
        (nodeid, "call", outcome, message),
        (nodeid, "teardown", "passed", ""),
    ]
    exitstatus = 0 if outcome == "passed" else 1
    report.update(finished=True, exitstatus=exitstatus, **{"return": exitstatus})
    return report


def _enter_job_process(
    workdir: str,
    report_fd: int,
    output_fd: int,
    timeout: float,
    isolation: str,
    *,
    pytest_env: bool,
    also_to_output: tuple[int, ...] = (),
    inherited_devnull: tuple[int, ...] = (),
    keep_fds: tuple[int, ...] = (),
    ipc: bool = False,
    import_from_workdir: bool = True,
) -> None:
    """Turn the freshly forked process into the job's test process: own session, stdio on the
    output file, no descriptor of the server's but the report pipe, limits, a clean environment.

    ``also_to_output`` are further descriptors pointed at the output file (the fork server's
    stand-in for stdout that pytest's reporter writes to); ``inherited_devnull`` are descriptors
    the shared pytest session holds open on ``/dev/null`` (checked by the server), kept so
    that no descriptor number of pytest's is reused by the sample's own files.
    """
    os.setsid()
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("1000")  # if memory runs out, this process goes first, not the server
    except OSError:
        pass
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    for fd in (1, 2, *also_to_output):
        os.dup2(output_fd, fd)
    # Only these stay open; the server's own stdin and stdout are gone.
    keep = sorted({0, 1, 2, report_fd, *also_to_output, *inherited_devnull, *keep_fds})
    last = 2
    for fd in keep[3:]:
        os.closerange(last + 1, fd)
        last = fd
    os.closerange(last + 1, 65536)

    cpu = int(timeout) + 2
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, FILE_SIZE_LIMIT))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if isolation == "local":
        # No cgroup here: bound memory and processes per process instead (weaker).
        memory = 2 * 1024**3
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        if os.getuid() != 0:
            resource.setrlimit(resource.RLIMIT_NPROC, (256, 256))
        _unshare_network(ipc=ipc)

    os.chdir(workdir)
    os.environ.clear()
    os.environ.update(
        {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": workdir,
            "TMPDIR": workdir,
            "LANG": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
            # numpy's BLAS starts a thread per CPU of the host at import (the container's CPU
            # quota does not count): threads take pids, and a job over its block of pids retires
            # its container. One CPU's worth of work needs one thread; it also sums in one order.
            "OPENBLAS_NUM_THREADS": "1",
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            # The judge unlinks the test file once imported (see _Boundary): pytest's check that
            # the imported module is that file would then fail.
            "PY_IGNORE_IMPORTMISMATCH": "1",
        }
    )
    if pytest_env:
        import pytest

        os.environ["PYTEST_VERSION"] = pytest.__version__  # as pytest.main sets it
    tempfile.tempdir = None  # the server's cached temp dir is not the job's
    runner_dir = os.path.dirname(os.path.abspath(__file__))
    others = [p for p in sys.path if p and os.path.abspath(p) not in (runner_dir, workdir)]
    sys.path[:] = ([workdir] if import_from_workdir else []) + others
    sys.stdin = open(0, closefd=False)  # noqa: SIM115 - /dev/null now; never closed
    sys.stdout = os.fdopen(1, "w", buffering=1, closefd=False)
    sys.stderr = os.fdopen(2, "w", buffering=1, closefd=False)


#: Moments of the judge's process (name, monotonic time), sent with its report for jobs that
#: ask for a profile. A module global: each judge is a forked process of its own, for one job.
_JUDGE_MARKS: list[tuple[str, float]] = []


def _mark(name: str) -> None:
    _JUDGE_MARKS.append((name, time.monotonic()))


#: The judge's end of the boundary, closed before the report goes out: the sample's process
#: sees the end of its requests and exits while the judge reports, instead of after.
_JUDGE_SOCKET: list[Any] = []


def _send_report(report_fd: int, report: dict[str, Any], nonce: str) -> int:
    """Write the report on the private pipe; returns the process's exit code."""
    _mark("tests run, session ended")
    for sock in _JUDGE_SOCKET:
        try:
            sock.close()
        except OSError:
            pass
    code = int(report.pop("return"))
    report["nonce"] = nonce
    report["marks"] = _JUDGE_MARKS
    view = memoryview(json.dumps(report).encode())
    while view:
        written = os.write(report_fd, view)
        view = view[written:]
    return code


def _enter_judge_process(
    plan: _JobPlan, workdir: str, report_fd: int, output_fd: int, timeout: float, isolation: str, **extra: Any
) -> _Boundary | None:
    """Set up the judge's process of a job; returns its end of the boundary (None in-process)."""
    _mark("forked")
    across = plan.sample_fd >= 0
    _enter_job_process(
        workdir, report_fd, output_fd, timeout, isolation,
        keep_fds=(plan.sample_fd,) if across else (), import_from_workdir=not across, **extra,
    )
    _mark("entered the job")
    if not across:
        return None
    test_file = os.path.join(workdir, "test_solution.py") if plan.style == "pytest" else None
    boundary = _Boundary(plan.sample_fd, workdir, test_file, plan.test_source, plan.handle_ops, plan.names)
    boundary.install()
    _JUDGE_SOCKET.append(boundary.peer.sock)
    return boundary


def _child(
    plan: _JobPlan,
    files: dict[str, str],
    entry_point: str | None,
    workdir: str,
    report_fd: int,
    output_fd: int,
    nonce: str,
    timeout: float,
    isolation: str,
) -> NoReturn:
    """Runs in the forked test process a whole job, pytest session included; never returns."""
    code = 70
    try:
        boundary = _enter_judge_process(plan, workdir, report_fd, output_fd, timeout, isolation, pytest_env=plan.style == "pytest")
        if plan.style == "check":
            report = _run_check_style(files, entry_point or "", boundary, plan.prelude)
            report["boundary"] = _boundary_summary(boundary, plan.in_process)
        else:
            report = _run_pytest(workdir, boundary, plan.in_process)
        code = _send_report(report_fd, report, nonce)
    except BaseException:  # noqa: BLE001 - the child must always end in os._exit
        code = 70
    finally:
        os._exit(code & 0xFF)


# --------------------------------------------------------------------------- the boundary
#
# A job runs in two processes. The *judge* runs the tests and writes the report; the *sample*
# imports the solution and runs every line of it. They talk over a socket, one size-capped JSON
# message at a time. What crosses is data, copied (exact builtin types, recursively; numpy arrays
# and scalars; a few stdlib containers), or a *handle*: a proxy whose every attribute and method
# runs on the side that owns the object. The judge decodes what the sample sends into exact
# builtin types and its own proxy class only, so nothing the sample made ever runs a method in
# the judge. The sample is forked from a zygote started before any job, so its memory never held
# a test, and the judge unlinks the test file before the sample runs its first line.
#
# Comparisons: a handle never equals data (``handle == 5`` is False whatever the sample's
# ``__eq__`` says); comparing two handles, or taking a handle's truth value, asks the sample, and
# is counted: a test with no such comparison was decided by value only.

MAX_MESSAGE_BYTES = 64 * 1024 * 1024  # one message across the boundary
SAMPLE_OUTPUT_CHARS = 1024 * 1024  # the sample's buffered stdout/stderr held per message
SAMPLE_OUTPUT_TOTAL_CHARS = 16 * 1024 * 1024  # of which the judge writes at most this, per job
_JSON_SAFE_INT = 2**62
_PLAIN = (type(None), bool, float, str)
_PRIMITIVE_TYPES = frozenset({type(None), bool, int, float, str})

#: Modules whose objects the judge never resolves by name for the sample (it gets a handle
#: instead): the judge's own machinery, and anything that reaches the interpreter's internals.
_NEVER_BY_NAME = frozenset(
    {
        "_pytest", "pytest", "pluggy", "ctypes", "gc", "sys", "importlib", "os", "posix", "subprocess",
        "inspect", "code", "codeop", "runpy", "pdb", "bdb", "threading", "_thread", "signal", "atexit",
        "faulthandler", "marshal", "pickle", "shelve", "types", "weakref", "unittest", "builtins",
        "linecache", "traceback", "tracemalloc", "io", "_io", "socket", "select", "shutil", "tempfile",
        "__main__", "solution", "test_solution", "runner", "copyreg", "abc", "_abc",
    }
)
#: Builtins the sample may name as one of its exports (``solve = sorted``).
_SAFE_BUILTINS = frozenset(
    {
        "abs", "all", "any", "ascii", "bin", "bool", "bytearray", "bytes", "callable", "chr", "complex",
        "dict", "divmod", "enumerate", "filter", "float", "format", "frozenset", "hash", "hex", "int",
        "isinstance", "issubclass", "iter", "len", "list", "map", "max", "min", "next", "oct", "ord",
        "pow", "print", "range", "repr", "reversed", "round", "set", "slice", "sorted", "str", "sum",
        "tuple", "zip", "object", "type",
    }
)
#: Names a test module never takes from the solution: pytest gives them meaning.
_PYTEST_RESERVED = frozenset(
    {
        "pytestmark", "pytest_plugins", "setup_module", "teardown_module", "setup_function",
        "teardown_function", "setup", "teardown", "setUpModule", "tearDownModule", "conftest",
    }
)


class BoundaryError(RuntimeError):
    """The other side of the boundary died, broke the protocol or sent what cannot be read."""


class SampleError(RuntimeError):
    """Raised in the judge for what the sample raised that has no honest counterpart there."""


class _Stats:
    """What the judge counts about one job's comparisons (reported with the verdict)."""

    def __init__(self) -> None:
        self.handle_comparisons = 0
        self.handle_data_ops = 0  # judge: arithmetic, conversions, indexing, iteration on handles
        self.calls = 0


def _encode_exception(codec: _Codec, exc: BaseException) -> list[Any]:
    import traceback

    cls = type(exc)
    try:
        args = codec.encode(list(exc.args))
    except Exception:  # noqa: BLE001 - an unencodable argument travels as text
        args = ["L", -1, [str(exc)[:2000]]]
    try:
        text = "".join(traceback.format_exception(exc))[-4000:]
    except Exception:  # noqa: BLE001
        text = ""
    return ["X", codec.encode_class(cls), args, f"{cls.__name__}: {exc}"[:2000], text]


_DATA_TYPES: frozenset[type] = frozenset(
    {type(None), bool, int, float, str, complex, bytes, bytearray, list, tuple, dict, set, frozenset, range, slice}
)


def _is_data_type(value: Any) -> bool:
    return type(value) in _DATA_TYPES


class _Codec:
    """Turns values into JSON-able nodes and back, for one side of the boundary.

    ``own`` holds this side's objects that the other side knows by handle id; ``proxies`` the
    other side's, as this side's proxy objects. In the judge (``judge=True``) decoding builds
    exact builtin types, the judge's own imports and proxies only: the sample's encoder may be
    anything (the sample can rewrite it), so every guarantee lives in :meth:`decode`.
    """

    def __init__(self, peer: _Peer, *, judge: bool) -> None:
        self.peer = peer
        self.judge = judge
        self.own: dict[int, Any] = {}
        self.own_ids: dict[int, int] = {}
        self.proxies: dict[int, Any] = {}
        self.standins: dict[int, type] = {}  # judge: the sample's exception classes, by handle id
        self.namedtuples: dict[tuple[str, tuple[str, ...]], type] = {}

    # ------------------------------------------------------------------ encoding

    def handle(self, value: Any) -> int:
        key = id(value)
        hid = self.own_ids.get(key)
        if hid is None or self.own.get(hid) is not value:
            hid = len(self.own) + 1
            self.own[hid] = value
            self.own_ids[key] = hid
        return hid

    def encode(self, value: Any, memo: dict[int, Any] | None = None, aliases: dict[int, int] | None = None) -> Any:
        kind = type(value)
        if kind is int:
            return value if -_JSON_SAFE_INT < value < _JSON_SAFE_INT else ["i", format(value, "x")]
        if kind in _PLAIN:
            return value
        if aliases and id(value) in aliases:
            return ["A", aliases[id(value)]]
        if memo is None:
            memo = {}
        key = id(value)
        if key in memo:
            return ["x", memo[key][0]]
        if isinstance(value, _ProxyBase) and object.__getattribute__(value, "_gcop_peer") is self.peer:
            return ["O", object.__getattribute__(value, "_gcop_hid")]
        n = len(memo)

        def items(seq: Any) -> list[Any]:
            memo[key] = (n, value)
            if set(map(type, seq)) <= _PRIMITIVE_TYPES and all(
                -_JSON_SAFE_INT < x < _JSON_SAFE_INT for x in seq if type(x) is int
            ):
                return list(seq)
            return [self.encode(x, memo, aliases) for x in seq]

        if kind is complex:
            return ["c", value.real, value.imag]
        if kind is range:
            return ["RG", self.encode(value.start), self.encode(value.stop), self.encode(value.step)]
        if kind is slice:
            return ["SL", self.encode(value.start, memo, aliases), self.encode(value.stop, memo, aliases), self.encode(value.step, memo, aliases)]
        if value is Ellipsis:
            return ["EL"]
        if kind is bytes:
            return ["y", _b64(value)]
        if kind is bytearray:
            memo[key] = (n, value)
            return ["Y", n, _b64(bytes(value))]
        if kind is list:
            return ["L", n, items(value)]
        if kind is tuple:
            return ["T", n, items(value)]
        if kind is set:
            return ["S", n, items(value)]
        if kind is frozenset:
            return ["F", n, items(value)]
        if kind is dict:
            return ["D", n, items(value.keys()), items(value.values())]
        module = getattr(kind, "__module__", None)
        if module == "collections":
            name = kind.__name__
            if name in ("Counter", "OrderedDict"):
                return ["K", n, name, items(value.keys()), items(value.values())]
            if name == "defaultdict":
                factory = value.default_factory
                return ["K", n, name, items(value.keys()), items(value.values()),
                        self.encode(factory, memo, aliases) if factory is not None else None]
            if name == "deque":
                return ["Q", n, items(value), value.maxlen]
        if module == "numpy" or module == "numpy.ma":
            node = self._encode_numpy(value, memo, aliases)
            if node is not None:
                return node
        if module == "fractions" and kind.__name__ == "Fraction":
            return ["R", "Fraction", f"{value.numerator}/{value.denominator}"]
        if module == "decimal" and kind.__name__ == "Decimal":
            return ["R", "Decimal", str(value)]
        if module in ("pathlib", "posixpath") and kind.__name__ in ("PosixPath", "PurePosixPath", "Path"):
            return ["R", kind.__name__, str(value)]
        if isinstance(value, type):
            return self.encode_class(value)
        if isinstance(value, BaseException):
            return _encode_exception(self, value)
        if isinstance(value, tuple) and hasattr(kind, "_fields"):  # a namedtuple
            fields = [str(f) for f in kind._fields]
            return ["NT", n, kind.__name__, fields, items(tuple.__getitem__(value, slice(None)))]
        # Subclasses of builtin data travel as their builtin value: a str subclass's __eq__ never
        # reaches the other side.
        for base, convert in _DEGRADE:
            if isinstance(value, base):
                return self.encode(convert(value), memo, aliases)
        if kind is type(sys):
            module_file = getattr(value, "__file__", None) or ""
            if not (module_file and os.path.abspath(module_file).startswith(os.getcwd() + os.sep)):
                return ["M", str(value.__name__)]  # the other side imports its own copy
        named = self._by_name(value)
        if named is not None:
            return named
        info = 1 if callable(value) else 0
        return ["H", self.handle(value), info, _type_name(kind)]

    def encode_class(self, cls: type) -> Any:
        if getattr(cls, "__module__", None) == "builtins" and getattr(builtins_module(), cls.__name__, None) is cls:
            return ["B", cls.__name__]
        named = self._by_name(cls)
        if named is not None:
            return named
        if issubclass(cls, BaseException):
            bases = [self.encode_class(base) for base in cls.__bases__ if issubclass(base, BaseException)]
            return ["C", self.handle(cls), str(cls.__name__), bases]
        return ["H", self.handle(cls), 1, "type"]

    def _by_name(self, value: Any) -> list[Any] | None:
        """Objects of an installed module (``typing.List``, ``collections.deque``, ``math.gcd``):
        the other side imports them itself."""
        module = getattr(value, "__module__", None)
        qualname = getattr(value, "__qualname__", None) or getattr(value, "_name", None)
        if not isinstance(module, str) or not isinstance(qualname, str) or "<" in qualname:
            return None
        if module == "builtins":
            if qualname in _SAFE_BUILTINS and getattr(builtins_module(), qualname, None) is value:
                return ["G", module, qualname]
            return None
        if module.split(".")[0] in _NEVER_BY_NAME:
            return None
        owner = sys.modules.get(module)
        path = getattr(owner, "__file__", None) or ""
        if owner is None or (path and os.path.abspath(path).startswith(os.getcwd() + os.sep)):
            return None  # the sample's own modules
        try:
            found: Any = owner
            for part in qualname.split("."):
                found = getattr(found, part)
        except AttributeError:
            return None
        return ["G", module, qualname] if found is value else None

    def _encode_numpy(self, value: Any, memo: dict[int, Any], aliases: dict[int, int] | None) -> Any:
        import numpy as np

        if isinstance(value, np.ndarray):
            array = np.asarray(value)
            if array.dtype.hasobject:
                return ["NO", list(array.shape), [self.encode(x, memo, aliases) for x in array.ravel().tolist()]]
            array = np.ascontiguousarray(array)
            return ["N", array.dtype.str, list(array.shape), _b64(array.tobytes())]
        if isinstance(value, np.generic) and not value.dtype.hasobject:
            return ["n", value.dtype.str, _b64(value.tobytes())]
        return None

    # ------------------------------------------------------------------ decoding

    def decode(self, node: Any, refs: dict[int, Any] | None = None, aliases: list[Any] | None = None) -> Any:
        """Build a value from a node. Any malformed node raises BoundaryError (in the judge: the
        test fails)."""
        try:
            return self._decode(node, {} if refs is None else refs, aliases)
        except BoundaryError:
            raise
        except (KeyError, IndexError, TypeError, ValueError, AttributeError, OverflowError, RecursionError, MemoryError) as exc:
            raise BoundaryError(f"unreadable value from the other process: {type(exc).__name__}: {exc}") from None

    def _decode(self, node: Any, refs: dict[int, Any], aliases: list[Any] | None) -> Any:
        kind = type(node)
        if kind in _PRIMITIVE_TYPES:
            return node
        if kind is not list or not node or type(node[0]) is not str:
            raise BoundaryError(f"unexpected node of type {kind.__name__}")
        tag = node[0]
        decode = self._decode
        if tag == "L":
            out: Any = []
            refs[node[1]] = out
            out.extend(decode(x, refs, aliases) for x in _seq(node[2]))
            return out
        if tag == "T":
            out = tuple(decode(x, refs, aliases) for x in _seq(node[2]))
            refs[node[1]] = out
            return out
        if tag in ("S", "F"):
            values = [decode(x, refs, aliases) for x in _seq(node[2])]
            out = set(values) if tag == "S" else frozenset(values)
            refs[node[1]] = out
            return out
        if tag == "D":
            out = {}
            refs[node[1]] = out
            keys, values = _seq(node[2]), _seq(node[3])
            if len(keys) != len(values):
                raise BoundaryError("dict with unequal keys and values")
            for k, v in zip(keys, values, strict=False):
                out[decode(k, refs, aliases)] = decode(v, refs, aliases)
            return out
        if tag == "x":
            return refs[node[1]]
        if tag == "A":
            if aliases is None:
                raise BoundaryError("argument alias outside a call")
            return aliases[_int(node[1])]
        if tag == "i":
            return int(_str(node[1]), 16)
        if tag == "c":
            return complex(_float(node[1]), _float(node[2]))
        if tag == "RG":
            return range(*(_int_value(decode(x, refs, aliases)) for x in node[1:4]))
        if tag == "SL":
            return slice(*(decode(x, refs, aliases) for x in node[1:4]))
        if tag == "EL":
            return Ellipsis
        if tag == "y":
            return _unb64(node[1])
        if tag == "Y":
            out = bytearray(_unb64(node[2]))
            refs[node[1]] = out
            return out
        if tag == "O":
            return self.own[_int(node[1])]
        if tag == "H":
            hid = _int(node[1])
            proxy = self.proxies.get(hid)
            if proxy is None:
                proxy = (_Remote if self.judge else _JudgeProxy)._gcop_new(self.peer, hid, bool(node[2]), _str(node[3]))
                self.proxies[hid] = proxy
            return proxy
        if tag == "G":
            return _resolve_by_name(_str(node[1]), _str(node[2]), judge=self.judge)
        if tag == "M":
            return _import_by_name(_str(node[1]))
        if tag == "B":
            found = getattr(builtins_module(), _str(node[1]))
            if not isinstance(found, type):
                raise BoundaryError(f"builtins.{node[1]} is not a class")
            return found
        if tag == "C":
            hid = _int(node[1])
            if hid not in self.standins:
                bases = [decode(b, refs, aliases) for b in _seq(node[3])]
                self.standins[hid] = _standin_class(_str(node[2]), bases)
            return self.standins[hid]
        if tag == "BM" and self.judge:
            return _BoundMethod(self.peer, _int(node[1]), _str(node[2]))
        if tag == "X":
            return self.decode_exception(node)
        if tag == "K":
            import collections

            name = _str(node[2])
            keys, values = _seq(node[3]), _seq(node[4])
            if name == "Counter":
                out = collections.Counter()
            elif name == "OrderedDict":
                out = collections.OrderedDict()
            elif name == "defaultdict":
                factory = decode(node[5], refs, aliases) if node[5] is not None else None
                if factory is not None and not callable(factory):
                    raise BoundaryError("defaultdict factory is not callable")
                if (self.judge and isinstance(factory, _Remote) and self.peer.allowed_ops is not None
                        and "attributes" not in self.peer.allowed_ops):
                    factory = _refused_factory  # the solution's own code, answering missing keys
                out = collections.defaultdict(factory)
            else:
                raise BoundaryError(f"unknown container {name!r}")
            refs[node[1]] = out
            if len(keys) != len(values):
                raise BoundaryError("dict with unequal keys and values")
            for k, v in zip(keys, values, strict=False):
                dict.__setitem__(out, decode(k, refs, aliases), decode(v, refs, aliases))
            return out
        if tag == "Q":
            import collections

            out = collections.deque(maxlen=None if node[3] is None else _int(node[3]))
            refs[node[1]] = out
            out.extend(decode(x, refs, aliases) for x in _seq(node[2]))
            return out
        if tag == "R":
            name, text = _str(node[1]), _str(node[2])
            if name == "Fraction":
                import fractions

                return fractions.Fraction(text)
            if name == "Decimal":
                import decimal

                return decimal.Decimal(text)
            if name in ("PosixPath", "Path"):
                import pathlib

                return pathlib.PosixPath(text)
            if name == "PurePosixPath":
                import pathlib

                return pathlib.PurePosixPath(text)
            raise BoundaryError(f"unknown value type {name!r}")
        if tag == "NT":
            name, fields = _str(node[2]), tuple(_str(f) for f in _seq(node[3]))
            tuple_type: Any = self.namedtuples.get((name, fields))
            if tuple_type is None:
                import collections

                make: Any = collections.namedtuple  # a type named at run time, not a declaration
                tuple_type = make(name if name.isidentifier() else "namedtuple", fields)
                self.namedtuples[(name, fields)] = tuple_type
            out = tuple_type(*(decode(x, refs, aliases) for x in _seq(node[4])))
            refs[node[1]] = out
            return out
        if tag in ("N", "n", "NO"):
            import numpy as np

            if tag == "NO":
                shape = tuple(_int(x) for x in _seq(node[1]))
                flat = [decode(x, refs, aliases) for x in _seq(node[2])]
                out = np.empty(len(flat), dtype=object)
                out[:] = flat
                return out.reshape(shape)
            dtype = np.dtype(_str(node[1]))
            if dtype.hasobject:
                raise BoundaryError("numpy object dtype in a byte buffer")
            raw = _unb64(node[3] if tag == "N" else node[2])
            if tag == "n":
                if len(raw) != dtype.itemsize:
                    raise BoundaryError("numpy scalar of the wrong size")
                return np.frombuffer(raw, dtype=dtype)[0]
            shape = tuple(_int(x) for x in _seq(node[2]))
            count = 1
            for dim in shape:
                if dim < 0:
                    raise BoundaryError("negative numpy dimension")
                count *= dim
            if count * dtype.itemsize != len(raw):
                raise BoundaryError("numpy buffer of the wrong size")
            return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
        raise BoundaryError(f"unknown node tag {tag!r}")

    def decode_exception(self, node: list[Any]) -> BaseException:
        cls = self._decode(node[1], {}, None)
        if not (isinstance(cls, type) and issubclass(cls, BaseException)):
            cls = SampleError
        if self.judge and cls in (KeyboardInterrupt, GeneratorExit):
            cls = SampleError  # only the judge's own machinery raises these
        try:
            args = self._decode(node[2], {}, None)
            args = list(args) if type(args) is list else [str(args)]
        except BoundaryError:
            args = [_str(node[3])]
        try:
            exc = cls(*args)
        except Exception:  # noqa: BLE001 - e.g. UnicodeDecodeError wants five arguments
            exc = cls.__new__(cls)
            exc.args = tuple(args)
        if node[4]:
            exc.add_note("raised in the other process:\n" + _str(node[4]))
        return exc


def _standin_class(name: str, bases: list[Any]) -> type:
    """The judge's stand-in for one of the sample's exception classes: a class the judge made,
    so ``pytest.raises(TheirError)`` works and nothing of the sample's runs."""
    usable = tuple(
        b for b in bases
        if isinstance(b, type) and issubclass(b, BaseException) and b not in (KeyboardInterrupt, GeneratorExit, BaseExceptionGroup)
    ) or (Exception,)
    name = name if name.isidentifier() else "SampleError"
    try:
        return type(name, usable, {"__module__": "solution"})
    except TypeError:  # bases whose layouts conflict: the first one will do
        return type(name, usable[:1], {"__module__": "solution"})


def builtins_module() -> Any:
    import builtins

    return builtins


_DEGRADE: tuple[tuple[type, Callable[[Any], Any]], ...] = (
    (int, int.__int__),
    (float, float.__float__),
    (complex, lambda v: complex(complex.__getattribute__(v, "real"), complex.__getattribute__(v, "imag"))),
    (str, str.__str__),
    (bytes, lambda v: bytes(memoryview(v))),
    (bytearray, lambda v: bytearray(memoryview(v))),
    (list, list.copy),
    (tuple, lambda v: tuple.__getitem__(v, slice(None))),
    (dict, dict.copy),
    (set, set.copy),
    (frozenset, frozenset.copy),
)


def _type_name(kind: type) -> str:
    return str(getattr(kind, "__qualname__", "object"))[:200]


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode("ascii")


def _unb64(node: Any) -> bytes:
    import base64
    import binascii

    try:
        return base64.b64decode(_str(node), validate=True)
    except binascii.Error as exc:
        raise BoundaryError(f"bad bytes: {exc}") from None


def _seq(node: Any) -> list[Any]:
    if type(node) is not list:
        raise BoundaryError("expected a list")
    return node


def _int(node: Any) -> int:
    if type(node) is not int:
        raise BoundaryError("expected an integer")
    return node


def _int_value(value: Any) -> int:
    if type(value) is not int:
        raise BoundaryError("expected an integer")
    return value


def _float(node: Any) -> float:
    if type(node) not in (int, float):
        raise BoundaryError("expected a number")
    return float(node)


def _str(node: Any) -> str:
    if type(node) is not str:
        raise BoundaryError("expected a string")
    return node


def _resolve_by_name(module: str, qualname: str, *, judge: bool) -> Any:
    """An installed module's object, imported by this side itself."""
    import importlib

    if module == "builtins":
        if qualname not in _SAFE_BUILTINS:
            raise BoundaryError(f"builtins.{qualname} is not given by name")
        return getattr(builtins_module(), qualname)
    if module.split(".")[0] in _NEVER_BY_NAME or not all(part.isidentifier() for part in module.split(".")):
        raise BoundaryError(f"module {module!r} is not given by name")
    try:
        found: Any = importlib.import_module(module)
    except Exception as exc:  # noqa: BLE001 - not installed on this side
        raise BoundaryError(f"cannot import {module!r}: {exc}") from None
    for part in qualname.split("."):
        if not part.isidentifier() or (judge and part.startswith("__")):
            raise BoundaryError(f"bad name {qualname!r}")
        found = getattr(found, part)
    if judge and isinstance(found, type(sys)):
        raise BoundaryError("a module is not given by name")
    if judge and not (isinstance(found, type) or callable(found) or module == "typing"):
        # Classes, functions and typing's constructs only: never a module-level instance
        # (a sentinel that compares equal to everything, say) standing in for a value.
        raise BoundaryError(f"{module}.{qualname} is not given by name")
    return found


def _import_by_name(name: str) -> Any:
    """A module the other side holds, as this side's own import of it (the judge's import path
    never includes the job directory, so this is never a module the sample wrote)."""
    import importlib

    if name in ("solution", "test_solution", "__main__") or not all(part.isidentifier() for part in name.split(".")):
        raise BoundaryError(f"module {name!r} is not given by name")
    try:
        return importlib.import_module(name)
    except Exception as exc:  # noqa: BLE001 - not installed on this side
        raise BoundaryError(f"cannot import {name!r}: {exc}") from None


def _update_in_place(original: Any, new: Any) -> None:
    """Make ``original`` (an argument the other side may have mutated) equal ``new``, keeping
    the identity of it and of its mutable parts where the shape allows."""
    kind = type(original)
    if kind is list and type(new) is list:
        if len(original) == len(new):
            for index, (old_item, new_item) in enumerate(zip(original, new, strict=False)):
                if type(old_item) in (list, dict, set, bytearray) and type(new_item) is type(old_item):
                    _update_in_place(old_item, new_item)
                elif old_item is not new_item:
                    original[index] = new_item
        else:
            original[:] = new
    elif kind is dict and type(new) is dict:
        if original.keys() == new.keys():
            for key, new_item in new.items():
                old_item = original[key]
                if type(old_item) in (list, dict, set, bytearray) and type(new_item) is type(old_item):
                    _update_in_place(old_item, new_item)
                elif old_item is not new_item:
                    original[key] = new_item
        else:
            original.clear()
            original.update(new)
    elif kind is set and type(new) is set:
        if original != new:
            original.clear()
            original.update(new)
    elif kind is bytearray and type(new) is bytearray:
        original[:] = new
    elif getattr(kind, "__module__", None) == "collections" and type(new) is kind:
        if kind.__name__ == "deque":
            original.clear()
            original.extend(new)
        else:
            original.clear()
            original.update(new)
    elif getattr(kind, "__module__", None) == "numpy" and type(new) is kind and getattr(original, "shape", None) == getattr(new, "shape", ()):
        try:
            original[...] = new
        except (TypeError, ValueError):
            pass


_MUTABLE_ARG_TYPES = frozenset({list, dict, set, bytearray})


def _is_mutable_arg(value: Any) -> bool:
    kind = type(value)
    if kind in _MUTABLE_ARG_TYPES:
        return True
    module = getattr(kind, "__module__", None)
    if module == "collections" and kind.__name__ in ("deque", "Counter", "OrderedDict", "defaultdict"):
        return True
    return module == "numpy" and kind.__name__ == "ndarray"


class _Peer:
    """One side of the boundary: sends requests, answers the other side's, one message at a time.

    Messages (JSON arrays): ``["q", op, ...args]`` a request, ``["r", value, copyback]`` its
    result, ``["e", exception]`` its error, ``["o", stdout, stderr]`` the sample's output so far.
    Requests nest: while waiting for its answer, a side serves the other's requests (callbacks).
    """

    def __init__(self, sock: Any, *, judge: bool) -> None:
        self.sock = sock
        self.judge = judge
        self.codec = _Codec(self, judge=judge)
        self.stats = _Stats()
        self.broken: str | None = None
        self.outputs: tuple[_OutputBuffer, _OutputBuffer] | None = None
        self.other = "the sample's process" if judge else "the judge's process"
        self.output_left = SAMPLE_OUTPUT_TOTAL_CHARS  # judge: what it writes of the sample's output
        #: judge: the data operations handles may do (None: all, counted); see TestJob.handle_ops
        self.allowed_ops: frozenset[str] | None = None
        #: sample: the isolation ("container", "local") whose guard goes up before the solution
        #: runs (see _guard_the_others); None once it is up, and always in the judge
        self.guard: str | None = None
        #: sample: the guard's filter as the zygote prepared it, or None (the sample scans itself)
        self.guard_program: _PreparedGuard | None = None

    # ------------------------------------------------------------------ framing

    def send(self, message: list[Any]) -> None:
        if self.outputs is not None:
            out, err = (buffer.take() for buffer in self.outputs)
            if out or err:
                self._send_raw(["o", out, err])
        self._send_raw(message)

    def _send_raw(self, message: list[Any]) -> None:
        """Send one message. A request that cannot be sent raises here, in the requester; a
        result that cannot be sent goes as an error instead, so the requester is answered."""
        problem: BaseException | None = None
        try:
            data = json.dumps(message, separators=(",", ":")).encode("ascii")
            if len(data) > MAX_MESSAGE_BYTES:
                problem = MemoryError(f"a value of {len(data)} bytes is too large to cross the boundary")
        except (TypeError, ValueError, RecursionError) as exc:
            problem = ValueError(f"a value that cannot cross the boundary: {exc}"[:500])
        if problem is not None:
            if message[0] == "q":
                raise problem
            error = ["X", ["B", type(problem).__name__], ["L", -1, [str(problem)]], "", ""]
            data = json.dumps(["e", error]).encode("ascii")
        try:
            self.sock.sendall(len(data).to_bytes(4, "big") + data)
        except OSError as exc:
            self._break(f"{self.other} is gone ({exc.strerror or exc})")

    def _recv_exactly(self, n: int) -> bytes:
        chunks = []
        while n:
            try:
                chunk = self.sock.recv(min(n, 1 << 20))
            except OSError as exc:
                self._break(f"{self.other} is gone ({exc.strerror or exc})")
            if not chunk:
                self._break(f"{self.other} ended (it crashed, exited or was killed)")
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    def recv(self) -> list[Any]:
        if self.broken:
            raise BoundaryError(self.broken)
        size = int.from_bytes(self._recv_exactly(4), "big")
        if size > MAX_MESSAGE_BYTES:
            self._break(f"a message of {size} bytes is over the limit of {MAX_MESSAGE_BYTES}")
        data = self._recv_exactly(size)
        try:
            message = json.loads(data)
        except Exception as exc:  # noqa: BLE001 - RecursionError, MemoryError, ValueError alike
            self._break(f"an unreadable message ({type(exc).__name__})")
        if type(message) is not list or not message or type(message[0]) is not str:
            self._break("a message that is not a tagged list")
        return message

    def _break(self, why: str) -> NoReturn:
        self.broken = why
        raise BoundaryError(why)

    # ------------------------------------------------------------------ requests

    def request(self, op: str, *args: Any, call_args: list[Any] | None = None) -> Any:
        """Send one request and wait for its result, serving nested requests meanwhile.

        ``call_args`` are the local objects passed by value in a call: their changed state comes
        back and is copied into them, and a result that *is* one of them comes back as it."""
        self.send(["q", op, *args])
        while True:
            message = self.recv()
            tag = message[0]
            if tag == "o":
                self._write_output(message)
            elif tag == "r":
                if len(message) != 3:
                    self._break("a malformed result")
                refs: dict[int, Any] = {}
                value = self.codec.decode(message[1], refs, call_args)
                if call_args is not None:
                    for entry in _seq(message[2]):
                        index = _int(_seq(entry)[0])
                        if not 0 <= index < len(call_args):
                            raise BoundaryError("copy-back of an unknown argument")
                        _update_in_place(call_args[index], self.codec.decode(entry[1], refs, call_args))
                return value
            elif tag == "e":
                if len(message) != 2 or type(message[1]) is not list or not message[1] or message[1][0] != "X":
                    self._break("a malformed error")
                raise self.codec.decode_exception(message[1])
            elif tag == "q":
                self.serve_one(message)
            else:
                self._break(f"an unknown message {tag!r}")

    def _write_output(self, message: list[Any]) -> None:
        if not self.judge or len(message) != 3:
            return
        for text, stream in ((message[1], sys.stdout), (message[2], sys.stderr)):
            if type(text) is str and text:
                self.output_left -= len(text)
                if self.output_left < 0:
                    continue  # the sample printed more than the judge keeps
                try:
                    stream.write(text)
                except Exception:  # noqa: BLE001 - a test's closed capture stream
                    pass

    def call(self, hid: int, args: tuple[Any, ...], kwargs: dict[str, Any], method: str | None = None) -> Any:
        self.stats.calls += 1
        values = list(args) + list(kwargs.values())
        memo: dict[int, Any] = {}
        encoded = [self.codec.encode(v, memo) for v in values]
        keys = list(kwargs)
        if method is None:
            return self.request("call", hid, encoded, keys, call_args=values)
        return self.request("callmethod", hid, method, encoded, keys, call_args=values)

    def op(self, name: str, hid: int, *args: Any) -> Any:
        memo: dict[int, Any] = {}
        return self.request("op", name, hid, [self.codec.encode(a, memo) for a in args])

    # ------------------------------------------------------------------ serving

    def serve_forever(self) -> None:
        """The sample's main loop: serve the judge's requests until it goes away."""
        while True:
            try:
                message = self.recv()
            except BoundaryError:
                return
            if message[0] == "q":
                self.serve_one(message)
            elif message[0] == "bye":
                return

    def serve_one(self, message: list[Any]) -> None:
        try:
            result, copyback = self._serve(message)
        except BoundaryError:
            if self.broken:
                raise
            exc_node = _encode_exception(self.codec, SampleError("bad request"))
            self.send(["e", exc_node])
            return
        except BaseException as exc:  # noqa: BLE001 - the requester gets whatever was raised
            try:
                exc_node = _encode_exception(self.codec, exc)
            except BaseException:  # noqa: BLE001
                exc_node = ["X", ["B", "RuntimeError"], ["L", -1, ["unencodable exception"]], "", ""]
            self.send(["e", exc_node])
            return
        self.send(["r", result, copyback])

    def _serve(self, message: list[Any]) -> tuple[Any, list[Any]]:
        op = message[1] if len(message) > 1 else None
        codec = self.codec
        if op == "import" and not self.judge:
            return self._import_solution(), []
        if op in ("call", "callmethod"):
            target = codec.own[_int(message[2])]
            if op == "callmethod":
                name = _str(message[3])
                self._check_attribute(name)
                target = getattr(target, name)
                encoded, keys = _seq(message[4]), _seq(message[5])
            else:
                encoded, keys = _seq(message[3]), _seq(message[4])
            refs: dict[int, Any] = {}
            values = [codec.decode(v, refs) for v in encoded]
            if len(keys) > len(values):
                raise BoundaryError("more keyword names than values")
            split = len(values) - len(keys)
            kwargs = {_str(k): v for k, v in zip(keys, values[split:], strict=False)}
            result = target(*values[:split], **kwargs)
            memo: dict[int, Any] = {}
            aliases = {id(v): i for i, v in enumerate(values) if _is_mutable_arg(v) or not _is_data_type(v)}
            node = codec.encode(result, memo, aliases)
            copyback = [[i, codec.encode(v, memo)] for i, v in enumerate(values) if _is_mutable_arg(v)]
            return node, copyback
        if op == "getattr":
            target = codec.own[_int(message[2])]
            name = _str(message[3])
            self._check_attribute(name)
            value = getattr(target, name)
            if not self.judge and type(value).__name__ == "method" and getattr(value, "__self__", None) is target:
                return ["BM", _int(message[2]), name], []  # called later in one round trip
            return codec.encode(value), []
        if op in ("setattr", "delattr"):
            target = codec.own[_int(message[2])]
            name = _str(message[3])
            self._check_attribute(name)
            if op == "setattr":
                setattr(target, name, codec.decode(message[4]))
            else:
                delattr(target, name)
            return None, []
        if op == "op":
            name = _str(message[2])
            target = codec.own[_int(message[3])]
            refs = {}
            args = [codec.decode(a, refs) for a in _seq(message[4])]
            operation = _OPERATIONS.get(name)
            if operation is None:
                raise BoundaryError(f"unknown operation {name!r}")
            result = operation(target, *args)
            if name in ("bool", "contains", "eq", "ne", "lt", "le", "gt", "ge", "isinstance_of") and not self.judge:
                result = bool(result)  # the sample's answer, by value: True or False
            return codec.encode(result), []
        if op == "stdin" and self.judge:
            method = _str(message[2])
            if method not in ("read", "readline", "readlines"):
                raise BoundaryError(f"stdin has no method {method!r}")
            args = [codec.decode(a) for a in _seq(message[3])]
            return codec.encode(getattr(sys.stdin, method)(*args)), []
        if op == "input" and self.judge:
            prompt = codec.decode(message[2])
            return codec.encode(builtins_module().input(prompt)), []
        raise BoundaryError(f"unknown request {op!r}")

    def _check_attribute(self, name: str) -> None:
        # The judge's objects show the sample their public attributes only: no __globals__,
        # __class__.__subclasses__ or frames to walk from there.
        if self.judge and name.startswith("_"):
            raise AttributeError(name)

    def _guard_the_others(self) -> None:
        """Before the solution's first line: nothing of this process may signal, trace or read
        the judge, the zygote or the server (all alive by now). In a container a filter that
        cannot be installed ends the job (the sample never runs unguarded); a local run goes on
        without it (weaker isolation, as documented)."""
        try:
            if self.guard_program is not None:
                self.guard_program.install()
            else:
                _guard_other_processes(_processes_to_protect())
        except OSError:
            if self.guard == "container":
                raise
        self.guard = None

    def _import_solution(self) -> Any:
        """Import the solution here, in the sample's process; answer its public names (its
        ``__all__`` if it has one), each as data or a handle, and a handle to the module."""
        import importlib

        if self.guard is not None:
            self._guard_the_others()
        module = importlib.import_module("solution")
        names = getattr(module, "__all__", None)
        if not (isinstance(names, (list, tuple)) and all(type(n) is str for n in names)):
            names = [name for name in vars(module) if not name.startswith("_")]
        memo: dict[int, Any] = {}
        keys, values = [], []
        for name in names:
            try:
                values.append(self.codec.encode(getattr(module, name), memo))
            except Exception:  # noqa: BLE001 - an export that cannot cross is left out
                continue
            keys.append(name)
        return ["T", -1, [["D", -2, keys, values], ["H", self.codec.handle(module), 0, "module"]]]


_OPERATIONS: dict[str, Callable[..., Any]] = {
    "eq": lambda a, b: a == b, "ne": lambda a, b: a != b, "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b, "gt": lambda a, b: a > b, "ge": lambda a, b: a >= b,
    "bool": bool, "len": len, "hash": hash, "repr": repr, "str": str, "iter": iter, "next": next,
    "contains": lambda a, b: b in a, "getitem": lambda a, k: a[k],
    "setitem": lambda a, k, v: a.__setitem__(k, v), "delitem": lambda a, k: a.__delitem__(k),
    "add": lambda a, b: a + b, "radd": lambda a, b: b + a, "sub": lambda a, b: a - b,
    "rsub": lambda a, b: b - a, "mul": lambda a, b: a * b, "rmul": lambda a, b: b * a,
    "truediv": lambda a, b: a / b, "rtruediv": lambda a, b: b / a, "floordiv": lambda a, b: a // b,
    "rfloordiv": lambda a, b: b // a, "mod": lambda a, b: a % b, "rmod": lambda a, b: b % a,
    "pow": lambda a, b: a**b, "rpow": lambda a, b: b**a, "matmul": lambda a, b: a @ b,
    "and": lambda a, b: a & b, "or": lambda a, b: a | b, "xor": lambda a, b: a ^ b,
    "lshift": lambda a, b: a << b, "rshift": lambda a, b: a >> b,
    "neg": lambda a: -a, "pos": lambda a: +a, "abs": abs, "invert": lambda a: ~a,
    "int": int, "float": float, "index": lambda a: a.__index__(), "round": round,
    "enter": lambda a: a.__enter__(), "exit": lambda a, *rest: a.__exit__(*rest),
    "fspath": os.fspath, "reversed": reversed,
    "isinstance_of": lambda cls, instance: isinstance(instance, cls),
}
#: Dunder attributes a handle asks its owner for (they come back as data); every other dunder
#: lookup (pytest's ``__test__``, ``inspect.unwrap``'s ``__wrapped__``...) stays on this side.
_FORWARDED_DUNDERS = frozenset({"__name__", "__qualname__", "__dict__"})
_LOCAL_PROBES = ("_mock_", "_pytest", "pytest", "_fixture")


class HandleRefused(BaseException):
    """A data operation on a handle that the job does not allow (see ``TestJob.handle_ops``): the
    test fails. A BaseException, so a test's ``except Exception`` or ``pytest.raises(TypeError)``
    cannot turn the refusal into a pass."""


#: Operations on a handle that make it stand in for data (arithmetic, conversion, container
#: access, iteration): in the judge, each is allowed by the job or refused, and always counted.
_DATA_OPS = frozenset(
    {
        "add", "radd", "sub", "rsub", "mul", "rmul", "truediv", "rtruediv", "floordiv", "rfloordiv", "mod",
        "rmod", "pow", "rpow", "matmul", "and", "or", "xor", "lshift", "rshift", "neg", "pos", "abs", "invert",
        "int", "float", "index", "round", "contains", "len", "getitem", "setitem", "delitem", "iter", "next",
        "reversed", "fspath", "enter", "exit",
    }
)


#: Object operations on a handle (see ``HANDLE_OBJECT_OPS`` in the protocol), by what asks for them.
_OBJECT_OPS = {"eq": "compare", "ne": "compare", "lt": "compare", "le": "compare", "gt": "compare", "ge": "compare",
               "bool": "compare", "hash": "compare", "isinstance_of": "compare", "str": "text", "repr": "text",
               "getattr": "attributes"}


def _refuse_unless_allowed(peer: _Peer, name: str, proxy: Any) -> None:
    """In the judge, with a job that names what handles may do: refuse ``name`` unless allowed."""
    if not peer.judge or peer.allowed_ops is None:
        return
    needed = _OBJECT_OPS.get(name, name)
    if needed not in peer.allowed_ops:
        kind = object.__getattribute__(proxy, "_gcop_type")
        raise HandleRefused(
            f"{name} on an object of the solution ({kind}, not plain data) is refused: the reference "
            "solution's answers are data here, so the candidate's must be too"
        )


def _refused_factory() -> Any:
    raise HandleRefused("a missing key of a defaultdict from the solution would run the solution's own factory: "
                        "refused where the reference solution's answers are data")


def _make_forwarder(name: str, *, counted: bool = False, result: type | None = None) -> Callable[..., Any]:
    data_op = name in _DATA_OPS

    def forward(self: Any, *args: Any) -> Any:
        peer = object.__getattribute__(self, "_gcop_peer")
        if name == "len" and peer.judge and peer.allowed_ops is not None and "len" not in peer.allowed_ops:
            # as an unsized object's: list() and others ask for a length hint first
            raise TypeError("len() of an object of the solution is refused: the reference's answers are data here")
        _refuse_unless_allowed(peer, name, self)
        if counted:
            peer.stats.handle_comparisons += 1
        if data_op and peer.judge:
            peer.stats.handle_data_ops += 1
        value = peer.op(name, object.__getattribute__(self, "_gcop_hid"), *args)
        if result is not None and type(value) is not result:
            raise TypeError(f"{name}() of an object of the other process gave {type(value).__name__}, not {result.__name__}")
        return value

    forward.__name__ = f"__{name}__"
    return forward


def _make_comparison(name: str) -> Callable[[Any, Any], Any]:
    forward = _make_forwarder(name, counted=True)

    def compare(self: Any, other: Any) -> Any:
        # Two handles: the owner compares them (and it is counted). A handle and data: never equal,
        # whatever the other side would say.
        if isinstance(other, (_Remote, _JudgeProxy)) and object.__getattribute__(other, "_gcop_peer") is object.__getattribute__(self, "_gcop_peer"):
            return forward(self, other)  # refused there where handles may not be compared
        return NotImplemented

    compare.__name__ = f"__{name}__"
    return compare


class _ProxyBase:
    """A handle: this side's stand-in for an object of the other process."""

    __slots__ = ("_gcop_peer", "_gcop_hid", "_gcop_type", "__weakref__")

    #: The subclass for callable objects (set below for _Remote and _JudgeProxy).
    _gcop_callable_kind: type[_ProxyBase] | None = None

    @classmethod
    def _gcop_new(cls, peer: _Peer, hid: int, is_callable: bool, type_name: str) -> Any:
        self = object.__new__(cls._gcop_callable_kind if is_callable and cls._gcop_callable_kind else cls)
        object.__setattr__(self, "_gcop_peer", peer)
        object.__setattr__(self, "_gcop_hid", hid)
        object.__setattr__(self, "_gcop_type", type_name)
        return self

    def __getattr__(self, name: str) -> Any:
        if (name.startswith("__") and name.endswith("__") and name not in _FORWARDED_DUNDERS) or name.startswith(_LOCAL_PROBES):
            # pytest's, mock's and copy's probes (__test__, __wrapped__, _mock_name...) stay on
            # this side: nothing of the other process decides how pytest treats the object
            raise AttributeError(name)
        peer = object.__getattribute__(self, "_gcop_peer")
        if name not in _FORWARDED_DUNDERS:
            _refuse_unless_allowed(peer, "getattr", self)
        return peer.request("getattr", object.__getattribute__(self, "_gcop_hid"), name)

    def __setattr__(self, name: str, value: Any) -> None:
        peer = object.__getattribute__(self, "_gcop_peer")
        peer.request("setattr", object.__getattribute__(self, "_gcop_hid"), name, peer.codec.encode(value))

    def __delattr__(self, name: str) -> None:
        peer = object.__getattribute__(self, "_gcop_peer")
        peer.request("delattr", object.__getattribute__(self, "_gcop_hid"), name)

    def __repr__(self) -> str:
        try:
            peer = object.__getattribute__(self, "_gcop_peer")
            _refuse_unless_allowed(peer, "repr", self)
            text = peer.op("repr", object.__getattribute__(self, "_gcop_hid"))
        except (Exception, HandleRefused):  # noqa: BLE001 - repr must not raise in a failure report
            text = None
        if type(text) is str:
            return text[:2000]
        return f"<{object.__getattribute__(self, '_gcop_type')} of the other process>"

    def __str__(self) -> str:
        peer = object.__getattribute__(self, "_gcop_peer")
        _refuse_unless_allowed(peer, "str", self)
        text = peer.op("str", object.__getattribute__(self, "_gcop_hid"))
        if type(text) is not str:
            raise TypeError("__str__ gave no str")
        return text

    def __dir__(self) -> list[str]:
        return []

    __eq__ = _make_comparison("eq")
    __ne__ = _make_comparison("ne")
    __lt__ = _make_comparison("lt")
    __le__ = _make_comparison("le")
    __gt__ = _make_comparison("gt")
    __ge__ = _make_comparison("ge")
    __bool__ = _make_forwarder("bool", counted=True, result=bool)
    __contains__ = _make_forwarder("contains", counted=True, result=bool)
    __len__ = _make_forwarder("len", result=int)
    __hash__ = _make_forwarder("hash", result=int)
    __iter__ = _make_forwarder("iter")
    __next__ = _make_forwarder("next")
    __reversed__ = _make_forwarder("reversed")
    __getitem__ = _make_forwarder("getitem")
    __setitem__ = _make_forwarder("setitem")
    __delitem__ = _make_forwarder("delitem")
    __int__ = _make_forwarder("int", result=int)
    __float__ = _make_forwarder("float", result=float)
    __index__ = _make_forwarder("index", result=int)
    __round__ = _make_forwarder("round")
    __enter__ = _make_forwarder("enter")
    __exit__ = _make_forwarder("exit")
    __fspath__ = _make_forwarder("fspath")
    __neg__ = _make_forwarder("neg")
    __pos__ = _make_forwarder("pos")
    __abs__ = _make_forwarder("abs")
    __invert__ = _make_forwarder("invert")
    for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and", "or", "xor", "lshift", "rshift"):
        locals()[f"__{_name}__"] = _make_forwarder(_name)
    for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow"):
        locals()[f"__r{_name}__"] = _make_forwarder(f"r{_name}")
    del _name

    def __instancecheck__(self, instance: Any) -> bool:
        return _remote_isinstance(self, instance)

    def __subclasscheck__(self, subclass: Any) -> bool:
        return False

    def __reduce_ex__(self, protocol: Any) -> Any:
        raise TypeError("an object of the other process cannot be pickled or copied")


def _remote_isinstance(cls_proxy: Any, instance: Any) -> bool:
    """``isinstance(x, TheirClass)``, asked of the class's owner."""
    peer = object.__getattribute__(cls_proxy, "_gcop_peer")
    _refuse_unless_allowed(peer, "isinstance_of", cls_proxy)
    hid = object.__getattribute__(cls_proxy, "_gcop_hid")
    memo: dict[int, Any] = {}
    peer.stats.handle_comparisons += 1
    value = peer.request("op", "isinstance_of", hid, [peer.codec.encode(instance, memo)])
    return value is True


def _call_proxy(self: Any, *args: Any, **kwargs: Any) -> Any:
    peer = object.__getattribute__(self, "_gcop_peer")
    return peer.call(object.__getattribute__(self, "_gcop_hid"), args, kwargs)


class _Remote(_ProxyBase):
    """In the judge: an object of the sample's process."""

    __slots__ = ()


class _JudgeProxy(_ProxyBase):
    """In the sample: an object of the judge's process (a callback, an object the test made)."""

    __slots__ = ()


class _CallableRemote(_Remote):
    __slots__ = ()
    __call__ = _call_proxy


class _CallableJudgeProxy(_JudgeProxy):
    __slots__ = ()
    __call__ = _call_proxy


_Remote._gcop_callable_kind = _CallableRemote
_JudgeProxy._gcop_callable_kind = _CallableJudgeProxy


class _BoundMethod:
    """In the judge: ``handle.method``, called in one round trip."""

    __slots__ = ("peer", "hid", "name")

    def __init__(self, peer: _Peer, hid: int, name: str) -> None:
        self.peer, self.hid, self.name = peer, hid, name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.peer.call(self.hid, args, kwargs, method=self.name)

    def __repr__(self) -> str:
        return f"<method {self.name} of an object of the other process>"


class _OutputBuffer:
    """The sample's sys.stdout / sys.stderr: text goes to the judge with the next message, and
    the judge writes it to whatever the test has as its stream at that moment."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.parts: list[str] = []
        self.size = 0
        self.encoding = "utf-8"
        self.errors = "strict"

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        if self.size + len(text) <= SAMPLE_OUTPUT_CHARS:
            self.parts.append(text)
            self.size += len(text)
        else:  # too much to carry to the judge: the rest goes to the job's output file only
            try:
                os.write(self.fd, text.encode("utf-8", "replace")[:65536])
            except OSError:
                pass
        return len(text)

    def take(self) -> str:
        text = "".join(self.parts)
        self.parts.clear()
        self.size = 0
        return text

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    def close(self) -> None:
        pass

    closed = False

    def fileno(self) -> int:
        return self.fd


class _JudgeStdin:
    """The sample's sys.stdin: reads what the test has as sys.stdin, in the judge."""

    def __init__(self, peer: _Peer) -> None:
        self.peer = peer

    def _ask(self, method: str, *args: Any) -> Any:
        return self.peer.request("stdin", method, [self.peer.codec.encode(a) for a in args])

    def read(self, size: int = -1) -> str:
        return self._ask("read", size)

    def readline(self, size: int = -1) -> str:
        return self._ask("readline", size)

    def readlines(self, hint: int = -1) -> list[str]:
        return self._ask("readlines", hint)

    def __iter__(self) -> Iterator[str]:
        while True:
            line = self.readline()
            if not line:
                return
            yield line

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return 0

    def readable(self) -> bool:
        return True

    def close(self) -> None:  # multiprocessing's children close their stdin first thing
        pass

    closed = False


def _sample_input(peer: _Peer) -> Callable[..., str]:
    def input(prompt: Any = "") -> str:  # noqa: A001 - replaces the builtin in the sample
        return peer.request("input", peer.codec.encode(str(prompt)))

    return input


# --------------------------------------------------------------------------- the judge's side


def _bound_names(tree: Any) -> set[str]:
    """Names the test module binds at its top level (defs, classes, imports, assignments)."""
    names: set[str] = set()
    for statement in tree.body:
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(statement.name)
            continue
        for node in ast.walk(statement):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                for alias in node.names:
                    if alias.name != "*":
                        names.add((alias.asname or alias.name).split(".")[0])
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
    return names


#: Conventional names of modules of the image that a test may use without importing them.
_MODULE_ALIASES = {"np": "numpy", "pd": "pandas", "plt": "matplotlib.pyplot", "sp": "scipy", "nx": "networkx"}


def _unbound_modules(tree: ast.Module | None) -> dict[str, str]:
    """Names the test uses as modules (``math.pi``, ``np.allclose``: attribute reads, never a call
    of the name itself) without binding them, that name a standard-library module or a
    conventional alias of one of the image's (``np``): name -> module to import."""
    if tree is None:
        return {}
    as_module, called = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            as_module.add(node.value.id)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            called.add(node.func.id)
    found = {}
    for name in as_module - called - _bound_names(tree):
        if name in sys.stdlib_module_names:
            found[name] = name
        elif name in _MODULE_ALIASES:
            found[name] = _MODULE_ALIASES[name]
    return found


class _TestNames:
    """What the judge's side of the boundary needs of a test's names (see :meth:`_Boundary.fill`),
    found from its syntax tree. The server finds them before it forks the judge, from the tree it
    parsed anyway: in the judge, every page parsing touched would be a copy-on-write fault."""

    def __init__(self, tree: ast.Module | None) -> None:
        #: Names the test module binds at its top level (empty when it does not parse).
        self.bound = _bound_names(tree) if tree is not None else set()
        #: Names it uses as modules without binding them: name -> module (:func:`_unbound_modules`).
        self.unbound_modules = _unbound_modules(tree)


def star_import_names(exported: list[str], bound: set[str]) -> list[str]:
    """What ``from solution import *`` gives the test: the solution's public names minus those
    that shadow a builtin, a name the test binds itself (``bound``), or a name pytest gives
    meaning to."""
    import builtins

    shadowing = set(dir(builtins)) | bound | _PYTEST_RESERVED
    return [
        name for name in exported
        if name.isidentifier() and not name.startswith("_") and name not in shadowing
        and not name.startswith(("test", "Test", "pytest_"))
    ]


#: What a test does that cannot work across the boundary: such a test is judged in one process
#: (the verdict says so). Each entry: (what the test touches, why).
_IN_PROCESS_MARKERS: tuple[tuple[str, str], ...] = (
    ("mock", "patches objects with unittest.mock"),
    ("patch", "patches objects with unittest.mock"),
    ("seed", "seeds a random generator the solution may use"),
    ("setstate", "sets a random generator's state"),
    ("environ", "sets environment variables the solution may read"),
    ("putenv", "sets environment variables the solution may read"),
    ("setenv", "sets environment variables the solution may read"),
    ("chdir", "changes the working directory"),
    ("argv", "sets sys.argv"),
    ("setrecursionlimit", "changes the interpreter's recursion limit"),
    ("getsource", "inspects the solution's source"),
    ("__code__", "inspects the solution's code objects"),
    ("reload", "reloads modules"),
    ("modules", "edits sys.modules"),
    ("threading", "runs the solution in threads"),
    ("multiprocessing", "runs the solution in processes"),
    ("asyncio", "awaits the solution's coroutines"),
    ("concurrent", "runs the solution in an executor"),
    ("syspath_prepend", "changes sys.path"),
)


def in_process_reason(test_source: str) -> str | None:
    """Why this (pytest-style) test must run in the sample's process, or None.

    Screens the test's names and attributes: a test that patches, seeds or reconfigures what
    the solution sees from its own process (``mock.patch("solution.f")``, ``random.seed``,
    ``os.environ``) would not reach the solution's process; so would a test subclassing one of
    the solution's classes or using ``monkeypatch`` on the solution."""
    try:
        tree = ast.parse(test_source)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None  # pytest reports the collection error in either mode
    import builtins

    touched: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            touched.add(node.id)
        elif isinstance(node, ast.Attribute):
            touched.add(node.attr)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                touched.update(alias.name.split("."))
            if isinstance(node, ast.ImportFrom) and node.module:
                touched.update(node.module.split("."))
    for marker, why in _IN_PROCESS_MARKERS:
        if marker in touched:
            return f"the test {why} ({marker})"
    if "monkeypatch" in touched:
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("setattr", "delattr") and node.args:
                target = node.args[0]
                if isinstance(target, ast.Constant) and isinstance(target.value, str):
                    if target.value.split(".")[0] not in ("builtins", "sys"):
                        return f"the test monkeypatches {target.value!r}"
                elif not (isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and target.value.id in ("builtins", "sys")):
                    if not (isinstance(target, ast.Name) and target.id in ("builtins", "sys")):
                        return "the test monkeypatches an object it may share with the solution"
    defined = _bound_names(tree) | set(dir(builtins))
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for base in node.bases:
                if isinstance(base, ast.Name) and base.id not in defined:
                    return f"the test subclasses {base.id}, a class of the solution"
                root = base
                while isinstance(root, ast.Attribute):
                    root = root.value
                if isinstance(root, ast.Name) and root.id == "solution":
                    return "the test subclasses a class of the solution"
    return None


class _SolutionModule(type(sys)):  # type: ignore[misc]  # types.ModuleType, without importing types
    """The judge's ``solution`` module: the sample's exports, as data and handles. Setting an
    attribute sets it in the sample's module too (tests that configure a module constant)."""

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        handle = self.__dict__.get("_gcop_module")
        if handle is not None and not name.startswith("__"):
            setattr(handle, name, value)


class _Boundary:
    """The judge's end of one job's boundary: installs ``solution`` as an import that asks the
    sample's process, and counts what the verdict reports about comparisons."""

    def __init__(
        self, sock_fd: int, workdir: str, test_file: str | None, test_source: str, handle_ops: list[str] | None = None,
        names: _TestNames | None = None,
    ) -> None:
        import socket

        self.peer = _Peer(socket.socket(fileno=sock_fd), judge=True)
        self.peer.allowed_ops = None if handle_ops is None else frozenset(handle_ops)
        self.workdir = workdir
        self.test_file = test_file
        self.test_source = test_source
        self._names = names
        self.tests_by_value = 0
        self.tests_through_handle = 0
        self._at_setup: dict[str, int] = {}

    @property
    def names(self) -> _TestNames:
        if self._names is None:
            self._names = _TestNames(_parse(self.test_source))
        return self._names

    def install(self) -> None:
        sys.meta_path.insert(0, _SolutionFinder(self))

    def _hide_the_test(self) -> None:
        """Before the sample runs its first line: the test file is gone from disk (its lines stay
        in linecache for tracebacks) and the job directory is off the judge's import path, so
        nothing the sample writes there is ever imported by the judge."""
        import linecache

        if self.test_file is not None:
            lines = self.test_source.splitlines(True)
            linecache.cache[self.test_file] = (len(self.test_source), None, lines, self.test_file)
            try:
                os.unlink(self.test_file)
            except OSError:
                pass
        workdir = os.path.realpath(self.workdir)
        sys.path[:] = [p for p in sys.path if p and os.path.realpath(p) != workdir]
        sys.path_importer_cache.pop(self.workdir, None)
        sys.path_importer_cache.pop(workdir, None)

    def import_solution(self) -> tuple[dict[str, Any], Any]:
        """The sample imports its module; returns its exports and a handle to it."""
        _mark("reached the import of solution")
        self._hide_the_test()
        result = self.peer.request("import")
        _mark("solution imported (in the sample)")
        if type(result) is not tuple or len(result) != 2 or type(result[0]) is not dict:
            raise BoundaryError("the sample answered the import with something else")
        exports, module = result
        return {k: v for k, v in exports.items() if type(k) is str}, module

    def fill(self, module: Any) -> None:
        exports, handle = self.import_solution()
        module.__dict__.update(exports)
        for name, judges in self._judges_modules(exports).items():
            if judges is None:
                exports.pop(name, None)
                module.__dict__.pop(name, None)
            else:
                module.__dict__[name] = judges
        module.__dict__["_gcop_module"] = handle
        module.__dict__["__all__"] = star_import_names(list(exports), self.names.bound)

    def _judges_modules(self, exports: dict[str, Any]) -> dict[str, Any | None]:
        """A test that uses ``math.pi`` (or ``np.allclose``) without importing it takes the name
        from ``from solution import *``: the solution's own ``import math`` normally (a module
        crosses by name: the judge imports its own copy), but a solution could export ``class
        math: pi = 0.0``, or anything else, under that name. Every name the test uses as such a
        module (see :func:`_unbound_modules`) is the judge's own import, whatever the solution
        exported under it; a name the test calls (``statistics(values)``) stays the solution's."""
        import importlib

        found: dict[str, Any] = {}
        for name, module in sorted(self.names.unbound_modules.items()):
            if name not in exports or isinstance(exports[name], type(sys)):
                continue  # absent (a NameError, as anywhere), or already the judge's own module
            try:
                found[name] = importlib.import_module(module)
            except Exception:  # noqa: BLE001 - not in the image (so no real module): None, left out
                found[name] = None
        return found

    def _through_handles(self) -> int:
        return self.peer.stats.handle_comparisons + self.peer.stats.handle_data_ops

    def test_started(self, nodeid: str) -> None:
        self._at_setup[nodeid] = self._through_handles()

    def test_finished(self, nodeid: str) -> None:
        start = self._at_setup.pop(nodeid, None)
        if start is None:
            return
        if self._through_handles() > start:
            self.tests_through_handle += 1
        else:
            self.tests_by_value += 1

    def summary(self) -> dict[str, Any]:
        return {
            "mode": "process",
            "tests_by_value": self.tests_by_value,
            "tests_through_handle": self.tests_through_handle,
            "handle_comparisons": self.peer.stats.handle_comparisons,
            "handle_data_ops": self.peer.stats.handle_data_ops,
            # what the job allowed handles: "any", "none", or the operations ("add,iter")
            "handle_ops": "any" if self.peer.allowed_ops is None else ",".join(sorted(self.peer.allowed_ops)) or "none",
            "calls": self.peer.stats.calls,
        }


class _SolutionFinder:
    """``import solution`` in the judge: a module filled from the sample's process."""

    def __init__(self, boundary: _Boundary) -> None:
        self.boundary = boundary

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != "solution":
            return None
        import importlib.util

        return importlib.util.spec_from_loader(fullname, self)  # type: ignore[arg-type]  # a loader by protocol

    def create_module(self, spec: Any) -> Any:
        return _SolutionModule(spec.name)

    def exec_module(self, module: Any) -> None:
        self.boundary.fill(module)


def _warm_up_boundary() -> None:
    """Run a few requests across a boundary inside this process (its sample side in a thread),
    so that the code both sides run for every job is warm (specialised bytecode, caches) in the
    processes jobs are forked from, instead of being warmed in every job's own copy."""
    import socket
    import threading

    _libc()
    _seccomp_program(*_SYSCALLS.get(os.uname().machine, _SYSCALLS["x86_64"]), _processes_to_protect())  # warm, not installed

    class Sample:
        value = [1, (2.5, "x"), {"k": None}]

        def twice(self, x: Any) -> Any:
            return [x, x]

    judge_end, sample_end = socket.socketpair()
    sample = _Peer(sample_end, judge=False)
    thread = threading.Thread(target=sample.serve_forever, daemon=True)
    thread.start()
    try:
        judge = _Peer(judge_end, judge=True)
        obj_hid = sample.codec.handle(Sample())
        fn_hid = sample.codec.handle(lambda a, b: a + b)
        for i in range(30):
            judge.call(fn_hid, (i, 1), {})
            judge.call(obj_hid, ([i, {"a": i}],), {}, method="twice")
            judge.request("getattr", obj_hid, "value")
            judge.op("eq", obj_hid, i)
        try:
            judge.call(fn_hid, (None, 1), {})
        except TypeError:
            pass
    except Exception:  # noqa: BLE001 - warming is an optimisation; a failure costs speed only
        pass
    finally:
        judge_end.close()
        thread.join(timeout=5)
        sample_end.close()


# --------------------------------------------------------------------------- the sample's side


class _Zygote:
    """Forks the sample's processes, from a process forked before the first job was read: a
    sample's memory never held a test (nor an earlier job), and it shares no descriptor with the
    judge but its own end of the job's socket."""

    def __init__(self) -> None:
        import socket

        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = os.fork()
        if pid == 0:
            parent.close()
            _zygote_main(child)  # never returns
        child.close()
        self.sock = parent
        self.pid = pid
        self.dead = False

    def spawn(self, sample_fd: int, output_fd: int, params: dict[str, Any]) -> None:
        """Ask for a new sample process (see :meth:`spawned`). Raises OSError if the zygote is gone."""
        import socket

        socket.send_fds(self.sock, [json.dumps(params).encode()], [sample_fd, output_fd])

    def spawned(self) -> int:
        """The pid of the sample process last asked for (the zygote forks it meanwhile)."""
        reply = self.sock.recv(64)
        if not reply:
            self.dead = True
            raise OSError("the sample zygote is gone")
        return int(reply)

    def check(self) -> bool:
        """True while the zygote lives (it is our child) and runs: a zygote still stopped after
        :meth:`resume` counts as gone."""
        if not self.dead:
            try:
                done, _ = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                done = self.pid
            self.dead = done == self.pid or self.state() in ("T", "t")
        return not self.dead

    def state(self) -> str:
        """The zygote's scheduler state (``R``, ``S``, ``T`` stopped, ``t`` traced...), "" if unknown."""
        try:
            with open(f"/proc/{self.pid}/stat") as f:
                return f.read().rsplit(")", 1)[-1].split()[0]
        except (OSError, IndexError):
            return ""

    def resume(self) -> None:
        """Continue the zygote if a sample stopped it, and wait until it runs again."""
        if self.dead:
            return
        try:
            os.kill(self.pid, signal.SIGCONT)
        except OSError:
            return
        for _ in range(100):
            if self.state() not in ("T", "t"):
                return
            time.sleep(0.001)


def _zygote_main(sock: Any) -> None:
    import socket

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG: die with the server
    except OSError:
        pass
    keep = sock.fileno()
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    for fd in _open_fds():
        if fd not in (0, 1, 2, keep):
            try:
                os.close(fd)
            except OSError:
                pass
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # samples are reaped by the kernel
    _warm_up_boundary()
    import gc

    gc.collect()
    gc.freeze()  # shared by every sample: out of their collections, so their pages stay shared
    try:
        while True:
            message, fds, _, _ = socket.recv_fds(sock, 65536, 2)
            if not message or len(fds) != 2:
                break
            params = json.loads(message)
            # The sample's guard, made here before the fork: the judge exists by now (the server
            # forks it before it asks), and scanning and packing in this long-lived process costs
            # a fraction of what it costs in a freshly forked one (every page it touches there is
            # a copy-on-write fault).
            guard_program: _PreparedGuard | None = None
            try:
                raw = _guard_program(_processes_to_protect(include_self=True))
                guard_program = _PreparedGuard(raw) if raw is not None else None
            except Exception:  # noqa: BLE001 - the sample then scans for itself
                pass
            pid = os.fork()
            if pid == 0:
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                _sample_process(fds[0], fds[1], params, close=keep, guard_program=guard_program)
            for fd in fds:
                os.close(fd)
            sock.send(str(pid).encode())
    except BaseException:  # noqa: BLE001 - the zygote ends quietly; the server notices
        pass
    os._exit(0)


def _sample_process(
    sock_fd: int, output_fd: int, params: dict[str, Any], *, close: int, guard_program: _PreparedGuard | None = None
) -> None:
    """The sample's process for one job: its limits, its directory, the solution, then requests
    from the judge until the judge goes away. Never returns."""
    code = 0
    try:
        import builtins
        import socket

        os.close(close)
        workdir, timeout, isolation = str(params["workdir"]), float(params["timeout"]), str(params["isolation"])
        _enter_job_process(workdir, sock_fd, output_fd, timeout, isolation, pytest_env=False, ipc=True)
        peer = _Peer(socket.socket(fileno=sock_fd), judge=False)
        peer.guard = isolation
        peer.guard_program = guard_program
        peer.outputs = (_OutputBuffer(1), _OutputBuffer(2))
        sys.stdout, sys.stderr = peer.outputs
        sys.stdin = _JudgeStdin(peer)
        builtins.input = _sample_input(peer)
        sys.modules.pop("solution", None)
        peer.serve_forever()
    except BaseException:  # noqa: BLE001 - a sample's process always ends in os._exit
        code = 70
    finally:
        os._exit(code)


# --------------------------------------------------------------------------- the server


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


def _remove_sysv_ipc() -> list[str]:
    """Remove every SysV shared memory segment, message queue and semaphore set of this IPC
    namespace (the container's own). Returns those that could not be removed."""
    ipc_rmid = 0
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return []
    left = []
    for kind, remove in (
        ("shm", lambda i: libc.shmctl(i, ipc_rmid, None)),
        ("msg", lambda i: libc.msgctl(i, ipc_rmid, None)),
        ("sem", lambda i: libc.semctl(i, 0, ipc_rmid)),
    ):
        for _ in range(3):
            try:
                with open(f"/proc/sysvipc/{kind}") as f:
                    rows = f.read().splitlines()[1:]
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
        with open("/proc/loadavg") as f:
            return int(f.read().split()[4])

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
        with open("/proc/sys/kernel/pid_max") as f:
            pid_max = int(f.read())
    except (OSError, ValueError):
        pid_max = 32768
    # A job's block of pids: its judge, its sample and 5 more threads or processes of either
    # (the first take after the job is the 8th). Every job pays for the takes it leaves unused
    # (about 60 us each); a job that makes more retires its sandbox, which costs one new container.
    counters.append(_IdCounter("PID counter", 8, take_pid, pid_max))

    def inode_taker(directory: str) -> Callable[[], int]:
        path = os.path.join(directory, ".gcop-inode-counter")

        def take() -> int:
            try:  # an unnamed file: one inode, gone with its descriptor
                fd = os.open(directory, os.O_TMPFILE | os.O_WRONLY, 0o600)
            except OSError:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
                os.unlink(path)
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


class _JobPlan:
    """How one job runs: its style, the test source, and whether its sample runs across the
    boundary (``sample_fd``, the judge's end of the socket) or in-process (``in_process``: why)."""

    def __init__(
        self, style: str, test_source: str, prelude: str | None, in_process: str | None,
        handle_ops: list[str] | None = None, names: _TestNames | None = None,
    ) -> None:
        self.handle_ops = handle_ops
        self.names = names
        self.style = style
        self.test_source = test_source
        self.prelude = prelude
        self.in_process = in_process
        self.sample_fd = -1


MAX_REPORT_BYTES = 16 * 1024 * 1024  # the judge's report; more is the sample's doing


class Runner:
    """Runs jobs one at a time, each in a fresh forked process and a fresh directory."""

    def __init__(self, isolation: str = "local", work_root: str | None = None) -> None:
        if isolation not in ("container", "local"):
            raise ValueError(f"isolation must be 'container' or 'local', got {isolation!r}")
        self.isolation = isolation
        self.work_root = work_root or (os.environ.get("GCOP_WORK_ROOT") or tempfile.gettempdir())
        self.is_init = os.getpid() == 1
        self._prepare()
        # Started before any job is read, so no sample's memory ever holds a test; and before
        # pytest is imported (see serve()), so each sample's process is small (its fork and
        # exit are cheap).
        self.zygote = _Zygote()
        _warm_up_boundary()
        #: Set when a job left something behind that cleaning could not remove (or killed the
        #: zygote): the answer asks the host to replace this sandbox.
        self.retire: str | None = None
        #: The id counters jobs could pass messages through (containers only: a local run
        #: shares them with the whole host).
        self.counters = _id_counters(self.work_root) if isolation == "container" else []

    def _prewarm(self) -> None:
        """Pay pytest's one-time costs (lazy imports of its plugins, assertion rewriting) once,
        here, so every forked job inherits them warm; for a server without a shared session.
        Nothing of the warm-up run survives: its modules are dropped and its directory deleted.

        numpy is not imported in advance: a server holding it makes every job's fork and exit
        slower (about 3 ms a job), more than the import costs the few jobs that use it."""
        import contextlib
        import io

        workdir = tempfile.mkdtemp(prefix="gcop-warm-", dir=self.work_root)
        previous = os.getcwd()
        try:
            with open(os.path.join(workdir, "solution.py"), "w") as f:
                f.write("def warm():\n    return 1\n")
            with open(os.path.join(workdir, "test_solution.py"), "w") as f:
                f.write("from solution import *\n\ndef test_warm():\n    assert warm() == 1\n")
            os.chdir(workdir)
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                _run_pytest(workdir)
        except Exception:  # noqa: BLE001 - warming is an optimisation; a failure costs speed only
            pass
        finally:
            os.chdir(previous)
            shutil.rmtree(workdir, ignore_errors=True)
            for name in ("solution", "test_solution"):
                sys.modules.pop(name, None)
        # Everything alive now is shared by every job: keep it out of the children's garbage
        # collections (pytest runs several per session), which would otherwise walk it all.
        import gc

        gc.collect()
        gc.freeze()

    def _prepare(self) -> None:
        libc = None
        try:
            libc = ctypes.CDLL(None, use_errno=True)
        except OSError:
            pass
        if libc is not None:
            pr_set_dumpable, pr_set_child_subreaper = 4, 36
            # Not dumpable: a sample running as the same user cannot ptrace us or read our memory
            # or file descriptors through /proc.
            libc.prctl(pr_set_dumpable, 0, 0, 0, 0)
            # Orphans of a sample (double-forked daemons) are re-parented to us, so we can kill them.
            libc.prctl(pr_set_child_subreaper, 1, 0, 0, 0)

    def run(self, job: dict[str, Any], server: _PytestForkServer | None = None) -> dict[str, Any] | None:
        """Judge one job in a freshly forked process and return its answer.

        Called by ``server`` (from inside its shared pytest session), a pytest-style job's
        process returns None instead of running pytest itself: it is to carry on into that
        session, whose collection then finds the job's tests. Only the job's process ever gets
        None; the server always gets the answer.
        """
        job_id = str(job.get("id", ""))
        started = time.monotonic()
        for counter in self.counters:
            counter.start()
        try:
            timeout = float(job.get("timeout") or 10.0)
            if not 0 < timeout <= MAX_TIMEOUT_S:
                raise ValueError(f"timeout must be in (0, {MAX_TIMEOUT_S}], got {timeout}")
            files = build_files(job)
        except (TypeError, ValueError) as exc:
            return self._answer(job_id, STATUS_ERROR, f"bad job: {exc}", started)
        style = str(job["style"])
        entry_point = job.get("entry_point")
        prelude = job.get("prelude")
        if prelude is not None and not isinstance(prelude, str):
            return self._answer(job_id, STATUS_ERROR, "bad job: 'prelude' must be a string", started)
        handle_ops = job.get("handle_ops")
        if handle_ops is not None and not (isinstance(handle_ops, list) and all(isinstance(o, str) for o in handle_ops)):
            return self._answer(job_id, STATUS_ERROR, "bad job: 'handle_ops' must be a list of strings or null", started)
        if style == "check":
            expected: list[str] | None = [HUMANEVAL_TEST_NAME]
            plan = _JobPlan(style, files["test_solution.py"], prelude, None, handle_ops)
            del files["test_solution.py"]  # the judge holds it in memory; the disk never has it
        else:
            tree = _parse(files["test_solution.py"])
            expected = _expected_tests(tree)
            plan = _JobPlan(
                style, files["test_solution.py"], None, in_process_reason(job.get("test") or ""), handle_ops,
                names=_TestNames(tree),
            )
            del tree
        if style != "pytest":
            server = None  # HumanEval style needs no pytest session
        workdir = server.new_workdir() if server is not None else tempfile.mkdtemp(prefix="job-", dir=self.work_root)
        output = tempfile.TemporaryFile(dir=self.work_root)
        # The sample's own descriptors 1 and 2: a file of its own. Sharing the judge's would let
        # it read back (pread) what the judge writes there: tracebacks, expected values.
        sample_output = tempfile.TemporaryFile(dir=self.work_root)
        report_r, report_w = os.pipe()
        in_job_process = False
        judge_end: Any = None
        sample_end: Any = None
        sample_pid = -1
        cleaned = False
        try:
            for name, text in files.items():
                # surrogatepass: a lone surrogate in model output (valid in JSON, not in UTF-8)
                # is written as the bytes it stands for, and the import then fails like any
                # other undecodable source, instead of the encoder error taking the server down.
                with open(os.path.join(workdir, name), "w", encoding="utf-8", errors="surrogatepass") as f:
                    f.write(text)
            marks = [("write files", time.monotonic())]
            if plan.in_process is None:
                import socket

                judge_end, sample_end = socket.socketpair()
                plan.sample_fd = judge_end.fileno()
            nonce = os.urandom(16).hex()  # what secrets.token_hex does, without importing OpenSSL into every process
            # The judge first, then the sample: the zygote protects every process there is when
            # it forks the sample, the judge included.
            pid = os.fork()
            if pid == 0:
                os.close(report_r)
                if sample_end is not None:
                    sample_end.close()  # the sample's end is the sample's alone
                if judge_end is not None:
                    judge_end.detach()  # the descriptor is the judge's now, not this object's
                if server is None:
                    _child(plan, files, entry_point, workdir, report_w, output.fileno(), nonce, timeout, self.isolation)
                in_job_process = True
                server.enter_job(plan, workdir, report_w, output.fileno(), nonce, timeout, self.isolation)
                return None
            os.close(report_w)
            report_w = -1
            forked_at = time.monotonic()
            marks.append(("fork the judge", forked_at))
            if judge_end is not None:
                judge_end.close()
                judge_end = None
                try:
                    params = {"workdir": workdir, "timeout": timeout, "isolation": self.isolation}
                    self.zygote.spawn(sample_end.fileno(), sample_output.fileno(), params)
                    sample_pid = self.zygote.spawned()  # forked while the judge starts
                except OSError:
                    self._kill_group(pid)  # a judge with no sample to ask must not be left waiting
                    raise
                finally:
                    sample_end.close()
                marks.append(("ask for the sample's process", time.monotonic()))
            raw, status, timed_out, overflow = self._wait(pid, report_r, started + timeout)
            marks.append(("judge: enter, collect, run, report, exit", time.monotonic()))
            if sample_pid > 0:
                self._kill_group(sample_pid)
            self._sweep(pid)
            self.zygote.resume()  # a sample may have stopped it (SIGSTOP): the next job must not wait on it
            self._clean(workdir)
            cleaned = True
            marks.append(("kill, sweep, clean", time.monotonic()))
            for counter in self.counters:
                try:
                    self.retire = self.retire or counter.settle()
                except OSError as exc:
                    self.retire = self.retire or f"could not settle the {counter.name}: {exc}"
            if self.counters:
                marks.append(("settle the id counters", time.monotonic()))
            extra: dict[str, Any] = {}
            if timed_out:
                verdict = (STATUS_TIMEOUT, f"time limit of {timeout:g} s exceeded", 0, 0)
            elif overflow:
                verdict = (STATUS_FAILED, f"the test process wrote over {MAX_REPORT_BYTES} bytes of report", 0, 0)
            else:
                verdict, extra = self._decide(raw, status, nonce, expected, timeout)
            text = self._tail(output)
            own = self._tail(sample_output)
            if own:
                text = (text + "\n--- the sample's own output ---\n" + own)[-OUTPUT_TAIL_CHARS:]
            answer = self._answer(job_id, verdict[0], verdict[1], started, verdict[2], verdict[3], text)
            answer.update(extra)
            if job.get("profile"):
                points = [("", started)] + marks
                answer["phases_ms"] = {name: round((t - points[i][1]) * 1000, 3) for i, (name, t) in enumerate(points[1:])}
                answer["judge_phases_ms"] = self._judge_phases(raw, forked_at)
            return answer
        finally:
            if not in_job_process:  # the job's process leaves the server's files alone
                for fd in (report_r, report_w):
                    if fd >= 0:
                        try:
                            os.close(fd)
                        except OSError:
                            pass
                for end in (judge_end, sample_end):
                    if end is not None:
                        end.close()
                output.close()
                sample_output.close()
                if not cleaned:
                    self._clean(workdir)
                if not self.zygote.check():
                    self.retire = self.retire or "the sample zygote is gone"

    @staticmethod
    def _judge_phases(raw: bytes, forked_at: float) -> dict[str, float]:
        """The judge's own moments (a profiled job's report), as durations from the fork."""
        try:
            marks = json.loads(raw)["marks"]
            points = [("", forked_at)] + [(str(name), float(t)) for name, t in marks]
        except Exception:  # noqa: BLE001 - a profile is best effort
            return {}
        return {name: round((t - points[i][1]) * 1000, 3) for i, (name, t) in enumerate(points[1:])}

    @staticmethod
    def _decide(
        raw: bytes, status: int | None, nonce: str, expected: list[str] | None, timeout: float
    ) -> tuple[tuple[str, str, int, int], dict[str, Any]]:
        """The verdict from the judge's report and how its process ended, and what the answer
        carries besides (``boundary``; ``passed_tests``, the names of the tests that passed).
        Whatever the report is (not JSON, not an object, odd fields), the outcome is a verdict,
        never an error."""
        exit_code = os.waitstatus_to_exitcode(status) if status is not None else None
        sig = -exit_code if exit_code is not None and exit_code < 0 else None
        if sig == signal.SIGXCPU:
            return (STATUS_TIMEOUT, f"CPU time limit of {timeout:g} s exceeded", 0, 0), {}
        report: Any = None
        if raw:
            try:
                report = json.loads(raw)
            except Exception:  # noqa: BLE001 - ValueError, RecursionError, MemoryError alike
                return (STATUS_FAILED, "the test report is not valid JSON", 0, 0), {}
            if not isinstance(report, dict):
                return (STATUS_FAILED, "the test report is not a JSON object", 0, 0), {}
        try:
            verdict = judge(report, nonce=nonce, exit_code=exit_code, signal_number=sig, expected=expected)
        except Exception as exc:  # noqa: BLE001 - a malformed report is the sample's failure
            return (STATUS_FAILED, f"malformed test report ({type(exc).__name__})", 0, 0), {}
        authentic = bool(report) and report.get("nonce") == nonce
        boundary = report.get("boundary") if authentic else None
        extra: dict[str, Any] = {}
        kept = {str(k): v for k, v in boundary.items() if type(v) in (int, str)} if isinstance(boundary, dict) else {}
        if kept:
            extra["boundary"] = kept
        if authentic:
            try:
                extra["passed_tests"] = passed_test_names(report)
            except Exception:  # noqa: BLE001 - odd fields: the verdict stands, the list is left out
                pass
        return verdict, extra

    def _wait(self, pid: int, report_fd: int, deadline: float) -> tuple[bytes, int | None, bool, bool]:
        """Read the report while waiting for the child; kill its process group at the deadline.

        The child's exit is watched through a pidfd where the kernel has them, so the answer
        goes out the moment the child is gone; elsewhere by polling ``waitpid``."""
        chunks: list[bytes] = []
        received = 0
        pipe_open = True
        try:
            exited_fd = os.pidfd_open(pid)
        except (AttributeError, OSError):
            exited_fd = -1
        try:
            while True:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self._kill_group(pid)
                    os.waitpid(pid, 0)
                    return b"".join(chunks), None, True, False
                watched = ([report_fd] if pipe_open else []) + ([exited_fd] if exited_fd >= 0 else [])
                if not watched:
                    time.sleep(min(remaining, 0.005))
                    continue
                ready, _, _ = select.select(watched, [], [], min(remaining, 0.05))
                if report_fd in ready:
                    data = os.read(report_fd, 65536)
                    if data:
                        chunks.append(data)
                        received += len(data)
                        if received > MAX_REPORT_BYTES:
                            self._kill_group(pid)
                            os.waitpid(pid, 0)
                            return b"", None, False, True
                    else:
                        pipe_open = False
        finally:
            if exited_fd >= 0:
                os.close(exited_fd)
        while pipe_open:  # the child has exited; drain what is left without blocking
            ready, _, _ = select.select([report_fd], [], [], 0)
            if not ready:
                break
            data = os.read(report_fd, 65536)
            if not data:
                break
            chunks.append(data)
            received += len(data)
            if received > MAX_REPORT_BYTES:
                return b"", status, False, True
        return b"".join(chunks), status, False, False

    @staticmethod
    def _kill_group(pid: int) -> None:
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass

    def _sweep(self, pid: int) -> None:
        """Kill every process the job left behind (all but this server and the zygote), and reap
        them. In a container that is every other process there; locally, this server's children
        (orphans are re-parented to it: it is a child subreaper)."""
        self._kill_group(pid)
        spare = {os.getpid(), self.zygote.pid}
        for attempt in range(1000):
            self._reap()
            left = [p for p in (self._all_processes() if self.is_init else self._children()) if p not in spare]
            if not left:
                return
            for other in left:
                self._kill_group(other)
            time.sleep(0.001 if attempt < 100 else 0.01)
        self.retire = self.retire or "processes of a job survived the sweep"

    def _reap(self) -> None:
        while True:
            try:
                done, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if not done:
                return
            if done == self.zygote.pid:
                self.zygote.dead = True

    @staticmethod
    def _all_processes() -> list[int]:
        return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]

    @staticmethod
    def _children() -> list[int]:
        """This server's child processes (its only thread's ``children`` file where the kernel
        has one: no walk over every process of the host)."""
        me = os.getpid()
        try:
            with open(f"/proc/{me}/task/{me}/children") as f:
                return [int(p) for p in f.read().split()]
        except (OSError, ValueError):
            pass
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[-1].split()
            if len(fields) > 1 and int(fields[1]) == me:
                found.append(int(entry))
        return found

    def _clean(self, workdir: str) -> None:
        """Delete what the job wrote, including what it made hard to delete (mode-000
        directories). In a container every writable place, SysV IPC object and POSIX shared
        memory segment is the job's: all of it goes, and if anything stays, the sandbox retires."""
        _remove_tree(workdir)
        if not self.is_init:
            return
        # /dev/mqueue: POSIX message queues (mq_open) live on past their process, like files.
        roots = (self.work_root, "/tmp", "/dev/shm", "/dev/mqueue")
        for root in roots:
            try:
                entries = os.listdir(root)
            except OSError:
                continue
            for name in entries:
                _remove_tree(os.path.join(root, name))
        left = [
            os.path.join(root, name)
            for root in roots
            for name in (os.listdir(root) if os.path.isdir(root) else [])
        ]
        left += _remove_sysv_ipc()
        if left:
            self.retire = self.retire or f"a job left {left[0]!r} behind"

    @staticmethod
    def _tail(output: Any) -> str:
        try:
            size = os.fstat(output.fileno()).st_size
            output.seek(max(0, size - OUTPUT_TAIL_CHARS * 4))
            return output.read().decode("utf-8", "replace")[-OUTPUT_TAIL_CHARS:]
        except OSError:
            return ""

    @staticmethod
    def _answer(
        job_id: str,
        status: str,
        reason: str,
        started: float,
        collected: int = 0,
        passed: int = 0,
        output: str = "",
    ) -> dict[str, Any]:
        return {
            "id": job_id,
            "status": status,
            "reason": reason,
            "tests_collected": collected,
            "tests_passed": passed,
            "duration_s": round(time.monotonic() - started, 4),
            "output": output,
        }


def _open_fds() -> set[int]:
    """This process's open file descriptors."""
    found = set()
    for name in os.listdir("/proc/self/fd"):
        try:
            os.fstat(int(name))
        except OSError:
            continue  # the descriptor listdir itself used, closed by now
        found.add(int(name))
    return found


class _PytestForkServer:
    """Forks pytest-style jobs' processes from inside one pytest session shared by every job.

    Most of a pytest session's cost is the same for every job: loading and registering the
    plugins, parsing the command line, configuring, building the fixture manager. The server pays
    it once, with the first pytest-style job: it starts a session over a fixed job directory and,
    from that session's ``pytest_collection`` hook, forks a process per job. A pytest-style job's
    process returns from the hook into the session, and pytest collects and runs the job's tests as in a session
    of its own (same command line, same plugins, the same ``wrap_session`` error handling). Each
    job's process works on its own copy-on-write copy of the session, so nothing one job does
    reaches the server or the next job; the server itself never collects or runs a test.
    """

    JOB_DIR = "job"

    def __init__(self, runner: Runner, jobs: Iterator[dict[str, Any]], send: Callable[[dict[str, Any]], None]) -> None:
        self.runner = runner
        self.jobs = jobs
        self.send = send
        self.workdir = os.path.join(runner.work_root, self.JOB_DIR)
        self.started = False
        self.pytest_exit_code: int | None = None
        self._quiet_fd = -1
        self._before: set[int] = set()
        self._stderr: Any = sys.stderr
        self._devnull_fds: tuple[int, ...] = ()
        self._job: tuple[int, str] | None = None  # (report fd, nonce), in a job's process only
        self.recorder = _Recorder()

    def serve(self) -> bool:
        """Serve every job of ``jobs``. Returns False, having served none, when the session could
        not be started (the caller then serves without it). Never returns in a job's process."""
        import io

        import pytest

        os.makedirs(self.workdir, mode=0o700, exist_ok=True)
        # What pytest's reporter and its capture of sys.stdout/stderr hold on to: /dev/null in the
        # server, pointed at the job's output file in each job's process.
        self._quiet_fd = os.open(os.devnull, os.O_WRONLY)
        self._before = _open_fds()
        quiet = io.TextIOWrapper(io.FileIO(self._quiet_fd, "w", closefd=False), encoding="utf-8", line_buffering=True)
        saved = sys.stdin, sys.stdout, sys.stderr, os.getcwd()
        sys.stdout = sys.stderr = quiet
        # pytest's capture of sys.stdin keeps this reader for the session (and so for every job):
        # /dev/null, never the server's job channel.
        sys.stdin = open(os.devnull)  # noqa: SIM115 - lives as long as the session
        os.chdir(self.workdir)  # the session's invocation directory
        recorder = self.recorder = _Recorder()
        ret: int | None = None
        try:
            plugins = [recorder, _local_definitions_only(pytest), self._collection_hook(pytest)]
            ret = int(pytest.main(pytest_args(self.workdir), plugins=plugins))
        finally:
            if self._job is not None:
                self._finish_job(recorder, ret)
        self.pytest_exit_code = ret
        sys.stdin, sys.stdout, sys.stderr = saved[:3]
        os.chdir(saved[3])
        shutil.rmtree(self.workdir, ignore_errors=True)
        return self.started

    @staticmethod
    def _is_devnull(fd: int) -> bool:
        try:
            return os.readlink(f"/proc/self/fd/{fd}") == os.devnull
        except OSError:
            return False

    def _collection_hook(self, pytest: Any) -> object:
        server = self

        class ForkServerHook:
            @pytest.hookimpl(tryfirst=True)
            def pytest_collection(self, session: Any) -> bool | None:
                return server.serve_jobs(session)

            @pytest.hookimpl(wrapper=True, tryfirst=True)
            def pytest_sessionfinish(self, session: Any, exitstatus: int) -> Any:
                result = yield
                if server._job is not None:
                    # A job's process: every other sessionfinish has run (the terminal summary is
                    # written), so the outcome is whole. What pytest does after (unconfigure:
                    # plugin clean-up, gc) cannot change it and would be undone by the exit.
                    server._finish_job(server.recorder, int(session.exitstatus))
                return result

        return ForkServerHook()

    def serve_jobs(self, session: Any) -> bool | None:
        """The server loop, run as the session's first ``pytest_collection`` hook. Returns (None)
        only in a job's process, where collection then goes on."""
        os.chdir(self.runner.work_root)
        shutil.rmtree(self.workdir, ignore_errors=True)
        # Descriptors the session opened (the logging plugin's /dev/null file): a job's process
        # keeps those on /dev/null, so none of their numbers is reused under pytest by a file
        # the sample opens; any other kind is closed there like every descriptor of the server's.
        self._devnull_fds = tuple(sorted(fd for fd in _open_fds() - self._before if self._is_devnull(fd)))
        self._warm(session)
        import gc

        gc.collect()
        gc.freeze()  # the session is shared by every job: keep it out of their collections
        self.started = True
        for job in self.jobs:
            try:
                answer = self.runner.run(job, server=self)
            except BaseException:  # noqa: BLE001 - pytest would swallow it into /dev/null
                # The server itself failed (not the job: its process never gets here). Say why
                # on the real stderr and end as a crashed server, so the host retries the job.
                import traceback

                traceback.print_exc(file=self._stderr)
                self._stderr.flush()
                os._exit(1)
            if answer is None:
                self._restamp(session)
                return None
            self.send(answer)
        import pytest

        self.new_workdir()  # pytest returns to it when the session ends
        pytest.exit("end of input", returncode=0)
        return True  # not reached

    @staticmethod
    def _warm(session: Any) -> None:
        """Fill, once in the server, caches every job's collection would otherwise fill in its own
        process: the ini values (fixed by the command line) and the compiled ``python_files``
        patterns. The same for every job, whatever the jobs are."""
        try:
            from _pytest.pathlib import fnmatch_ex

            config = session.config
            for name in list(config._parser._inidict):
                config.getini(name)
            for pattern in config.getini("python_files"):
                fnmatch_ex(pattern, "test_solution.py")
        except Exception:  # noqa: BLE001 - warming is an optimisation; a failure costs speed only
            pass

    def new_workdir(self) -> str:
        """The job directory, fresh: the session's rootdir and invocation directory are this path."""
        shutil.rmtree(self.workdir, ignore_errors=True)
        os.mkdir(self.workdir, 0o700)
        return self.workdir

    def enter_job(
        self, plan: _JobPlan, workdir: str, report_fd: int, output_fd: int, nonce: str, timeout: float, isolation: str
    ) -> None:
        """In the job's freshly forked process: set it up, then let it carry on into the session."""
        try:
            self.recorder.boundary = _enter_judge_process(
                plan, workdir, report_fd, output_fd, timeout, isolation,
                pytest_env=True, also_to_output=(self._quiet_fd,), inherited_devnull=self._devnull_fds,
            )
            self.recorder.in_process = plan.in_process
            self._job = (report_fd, nonce)
        except BaseException:  # noqa: BLE001 - the job's process must never run server code
            os._exit(70)

    @staticmethod
    def _restamp(session: Any) -> None:
        """The reporter's "N passed in X s" counts from the session's start: make that the job's."""
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None and hasattr(reporter, "pytest_sessionstart"):
            reporter.pytest_sessionstart(session=session)

    def _finish_job(self, recorder: _Recorder, ret: int | None) -> None:
        """The job's session is over: send its report and end the process. Never returns."""
        code = 70
        try:
            assert self._job is not None
            report_fd, nonce = self._job
            for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
                try:
                    stream.flush()  # type: ignore[union-attr]
                except Exception:  # noqa: BLE001 - a test may have closed or replaced it
                    pass
            if ret is not None:
                code = _send_report(report_fd, _pytest_report(recorder, ret), nonce)
        except BaseException:  # noqa: BLE001 - the child must always end in os._exit
            code = 70
        finally:
            os._exit(code & 0xFF)


def _read_jobs(stdin: Any, send: Callable[[dict[str, Any]], None]) -> Iterator[dict[str, Any]]:
    """Jobs from stdin, one JSON object per line; a bad line is answered here and skipped."""
    for line in stdin:
        if not line.strip():
            continue
        try:
            job = json.loads(line)
            if not isinstance(job, dict):
                raise ValueError("a job must be a JSON object")
        except ValueError as exc:
            send(Runner._answer("", STATUS_ERROR, f"bad job line: {exc}", time.monotonic()))
            continue
        yield job


def serve(isolation: str) -> None:
    """Fork-server loop: one JSON job per stdin line, one JSON answer per stdout line."""
    stdin = sys.stdin.buffer
    stdout = sys.stdout.buffer
    # Only the plugins pytest ships with: what the image has, whatever the host venv holds.
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    os.environ.pop("PYTEST_ADDOPTS", None)
    runner = Runner(isolation=isolation)

    def send(answer: dict[str, Any]) -> None:
        if runner.retire and "status" in answer:
            answer["retire"] = runner.retire  # the host replaces this sandbox after this answer
        stdout.write(json.dumps(answer).encode() + b"\n")
        stdout.flush()

    import gc

    gc.collect()
    gc.freeze()  # shared by every job: keep it out of their collections
    send({"ready": True, "pid": os.getpid(), "python": sys.version.split()[0], "isolation": isolation})
    jobs = _read_jobs(stdin, send)
    if isolation == "container":
        # Jobs that need no pytest (HumanEval style) are judged before pytest is even imported:
        # the sandbox is ready sooner, and a judge forked from a smaller process forks and exits
        # faster. Not in a local run: there a sample can write wherever its user can, and what
        # the server imports after samples have run could be a module one of them planted (in a
        # container nothing on the import path is writable).
        for job in jobs:
            if job.get("style") == "pytest":
                jobs = itertools.chain([job], jobs)
                break
            answer = runner.run(job)
            assert answer is not None
            send(answer)
        else:
            return
    server = _PytestForkServer(runner, jobs, send)
    if server.serve():
        return
    # The shared session failed to start: every job runs a whole pytest session of its own.
    print(
        f"gcop runner: could not start a shared pytest session (pytest exited with {server.pytest_exit_code}); "
        "running one per job",
        file=sys.stderr,
    )
    runner._prewarm()
    for job in jobs:
        answer = runner.run(job)
        assert answer is not None
        send(answer)


def once(isolation: str) -> None:
    job = json.loads(sys.stdin.read())
    answer = Runner(isolation=isolation).run(job)
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mode", choices=["serve", "once"])
    parser.add_argument("--isolation", choices=["container", "local"], default="local")
    args = parser.parse_args(argv)
    if args.mode == "serve":
        serve(args.isolation)
    else:
        once(args.isolation)


if __name__ == "__main__":
    main()
