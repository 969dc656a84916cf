"""Attacks that need no knowledge of the tests but run many times in one warm sandbox, as GRPO's
rollouts do: reading what the judge writes, keeping what was learnt in a channel that outlives
the job, stopping the zygote that forks the next job's sample, and shadowing a module the test
uses without importing it. Each batch runs in order on one sandbox (``workers=1``).
"""

from __future__ import annotations

import dataclasses
import secrets

import pytest

from gcop.sandbox.protocol import Status
from tests.sandbox.test_sandbox_attacks import (
    FAILED,
    PASSED,
    RIGHT_ADD,
    WRONG_ADD,
    Case,
    control,
    humaneval_job,
    judge_batch,
    kind,  # noqa: F401 - the executor fixture (docker, local)
    pytest_job,
    run_jobs,
    skip_on_local,
    src,
)

pytestmark = pytest.mark.slow

PEEK = src(
    """
    import os

    def add(a, b):
        return a + b

    def peek():
        # what this process can read back from its own stdout and stderr: the judge's output
        # (pytest's progress, tracebacks, expected values) if they were the judge's file
        seen = b""
        for fd in (1, 2):
            try:
                seen += os.pread(fd, 65536, 0)
            except OSError:
                pass
        return seen.decode("utf-8", "replace")
    """
)
PEEK_TEST = src(
    """
    def test_first():
        assert add(2, 3) == 5

    def test_second_sees_nothing_of_the_judge():
        assert peek() == ""
    """
)


def test_the_sample_cannot_read_what_the_judge_writes(kind):
    """The sample's descriptors 1 and 2 are a file of its own: after the judge has written the
    first test's progress, the sample reads back nothing (``os.pread`` at offset 0). Its raw
    writes still reach the answer's output tail."""
    loud = PEEK.replace("def add(a, b):\n", "def add(a, b):\n    os.write(1, b'RAW-WRITE-OF-THE-SAMPLE')\n")
    verdicts = judge_batch(kind, [
        Case(pytest_job(PEEK, PEEK_TEST, id="peek"), PASSED),
        Case(pytest_job(loud, PEEK_TEST.replace('assert peek() == ""', 'assert "." not in peek()'), id="peek-loud"),
             PASSED),
    ])
    assert "RAW-WRITE-OF-THE-SAMPLE" in verdicts["peek-loud"].output


MQUEUE = src(
    """
    import ctypes, os
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mq_open.restype = ctypes.c_int
    NAME = @NAME@

    def add(a, b):
        return a + b

    def leave():
        fd = libc.mq_open(NAME.encode(), os.O_CREAT | os.O_RDWR, 0o600, None)
        return fd >= 0

    def find():
        fd = libc.mq_open(NAME.encode(), os.O_RDONLY)
        return fd >= 0
    """,
    NAME="/gcop-" + secrets.token_hex(4),
)


def test_a_posix_message_queue_does_not_outlive_its_job(kind):
    """``/dev/mqueue`` is writable in the container: a queue one job makes is gone for the next
    (the reader's verdict after the writer is the one it gets in a fresh sandbox)."""
    writer = pytest_job(MQUEUE, "def test_leave():\n    assert leave()\n    assert find()\n", id="mq-writer")
    reader = pytest_job(MQUEUE, "def test_nothing_left():\n    assert not find()\n", id="mq-reader")
    after = dataclasses.replace(reader, id="mq-reader-after")
    judge_batch(kind, [Case(reader, PASSED), Case(writer, PASSED), Case(after, PASSED)], controls=False)


STOP_ZYGOTE = RIGHT_ADD + src(
    """
    import os, signal
    try:
        os.kill(os.getppid(), signal.SIGSTOP)  # the zygote that forks every later job's sample
    except PermissionError:
        pass  # refused by the sample's guard: the completion stays correct
    """
)


def test_a_sample_that_stops_the_zygote_delays_no_later_job(kind):
    """A correct completion that also sends SIGSTOP to its parent (the zygote): its own verdict
    is its own, and the correct job after it still passes instead of timing out, which in GRPO
    would lower its group-mates' rewards and raise the saboteur's advantage. (The guard refuses
    the signal; were it ever to get through, the server continues the zygote after the job.)"""
    cases = []
    for n in range(3):
        cases.append(Case(pytest_job(STOP_ZYGOTE, id=f"stop-zygote-{n}"), PASSED))
        cases.append(Case(humaneval_job(STOP_ZYGOTE, id=f"stop-zygote-check-{n}"), PASSED))
    judge_batch(kind, cases)  # each followed by a correct control job


REACH_THE_OTHERS = src(
    """
    import ctypes, errno, os, signal

    libc = ctypes.CDLL(None, use_errno=True)
    def _started(pid):
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])

    def _older_than_me():
        # what existed when this process started (its judge, the zygote, the server...): on the
        # local executor, a host process born since is the host's business (weaker isolation)
        me, found = _started(os.getpid()), []
        for name in os.listdir("/proc"):
            try:
                if name.isdigit() and int(name) != os.getpid() and _started(name) <= me:
                    found.append(int(name))
            except OSError:
                pass
        return found

    OTHERS = _older_than_me()

    def _errno(call):
        try:
            call()
        except OSError as exc:
            return errno.errorcode.get(exc.errno, exc.errno)
        return "done"

    def _c(result):
        if result == -1:
            raise OSError(ctypes.get_errno(), "")
        return result

    def attempts():
        # every way to reach another process: stop it, kill them all, trace it, read its memory,
        # signal it through a pidfd or through its /proc directory
        seen = {}
        for pid in OTHERS:
            seen[f"SIGSTOP {pid}"] = _errno(lambda: os.kill(pid, signal.SIGSTOP))
            seen[f"SIGSTOP group {pid}"] = _errno(lambda: os.killpg(pid, signal.SIGSTOP))
            seen[f"ptrace {pid}"] = _errno(lambda: _c(libc.ptrace(16, pid, None, None)))  # PTRACE_ATTACH
            seen[f"pidfd_open {pid}"] = _errno(lambda: os.pidfd_open(pid))
            seen[f"tgkill {pid}"] = _errno(lambda: _c(libc.syscall(@TGKILL@, pid, pid, 0)))
            def via_proc_dir():
                fd = os.open(f"/proc/{pid}", os.O_RDONLY)
                try:
                    _c(libc.syscall(424, fd, signal.SIGSTOP, None, 0))  # pidfd_send_signal
                finally:
                    os.close(fd)
            seen[f"pidfd_send_signal {pid}"] = _errno(via_proc_dir)
        seen["kill(-1)"] = _errno(lambda: os.kill(-1, signal.SIGSTOP))
        return {what: result for what, result in seen.items() if result != "EPERM"}

    def own_child_can_be_signalled():
        pid = os.fork()
        if pid == 0:
            signal.pause()
            os._exit(0)
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        return os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    """,
    TGKILL={"x86_64": 234, "aarch64": 131}.get(__import__("platform").machine(), 234),
)


def test_the_sample_cannot_signal_trace_or_read_the_others(kind):
    """Every process the sample finds when it starts (its judge, the zygote, the server, and on
    the local executor the whole host) is out of its reach: signals by pid, by group, by thread,
    through a pidfd or a ``/proc`` directory, ``kill(-1)``, ``ptrace`` are all refused. Its own
    children it still signals."""
    test = src(
        """
        def test_nothing_reached():
            assert attempts() == {}

        def test_own_children():
            assert own_child_can_be_signalled()
        """
    )
    judge_batch(kind, [Case(pytest_job(REACH_THE_OTHERS, test, id="reach-the-others"), PASSED)])


PRLIMIT64 = {"x86_64": 302, "aarch64": 261}.get(__import__("platform").machine(), 302)
SABOTEURS = {
    # lower the zygote's file size limit: every later sample dies setting its own
    "prlimit-zygote": "_prlimit(os.getppid(), 1, 1 << 20)",
    "nice-zygote": "os.setpriority(os.PRIO_PROCESS, os.getppid(), 19)",
    "nice-user": "os.setpriority(os.PRIO_USER, os.getuid(), 19)",
    "affinity-zygote": "os.sched_setaffinity(os.getppid(), {0})",
    "sigio-zygote": "_sigio(os.getppid())",
}
SABOTEUR = src(
    """
    import ctypes, fcntl, os, signal

    class _Limit(ctypes.Structure):
        _fields_ = [("cur", ctypes.c_ulong), ("max", ctypes.c_ulong)]

    def _prlimit(pid, resource, value):
        if ctypes.CDLL(None, use_errno=True).syscall(@PRLIMIT64@, pid, resource, ctypes.byref(_Limit(value, value)), None):
            raise OSError(ctypes.get_errno(), "prlimit64")

    def _sigio(pid):
        r, w = os.pipe()
        fcntl.fcntl(r, fcntl.F_SETOWN, pid)
        fcntl.fcntl(r, 10, signal.SIGSTOP)  # F_SETSIG
        fcntl.fcntl(r, fcntl.F_SETFL, fcntl.fcntl(r, fcntl.F_GETFL) | os.O_ASYNC)
        os.write(w, b"x")

    try:
        ACTION
    except OSError:
        pass  # refused: the completion stays correct

    def add(a, b):
        return a + b
    """,
    PRLIMIT64=PRLIMIT64,
)


@pytest.mark.parametrize("saboteur", sorted(SABOTEURS))
def test_a_correct_saboteur_changes_no_later_verdict(kind, saboteur):
    """A correct completion that also tries to hobble the zygote (its limits, priority, CPUs, or a
    SIGIO that stops it) passes itself, and every job after it still passes: a saboteur in GRPO
    would otherwise keep its reward while its group-mates lose theirs."""
    solution = SABOTEUR.replace("ACTION", SABOTEURS[saboteur])
    judge_batch(kind, [Case(pytest_job(solution, id=f"saboteur-{saboteur}"), PASSED),
                       control(), control("check")])


COUNTER_READER = src(
    """
    import ctypes, os
    libc = ctypes.CDLL(None, use_errno=True)

    def _inode(directory):
        path = os.path.join(directory, "reader-probe")
        with open(path, "w"):
            pass
        number = os.stat(path).st_ino
        os.unlink(path)
        return number

    def _shm_id():
        ident = libc.shmget(0, 1, 0o1000 | 0o600)
        libc.shmctl(ident, 0, None)
        return ident

    READING = {"work": _inode("."), "tmp": _inode("/tmp"), "shm": _inode("/dev/shm"), "sysv": _shm_id()}
    os.write(1, ("READING=" + repr(READING) + ";").encode())

    def add(a, b):
        return a + b
    """
)
COUNTER_WRITER = src(
    """
    import ctypes, os
    libc = ctypes.CDLL(None, use_errno=True)
    for directory in (".", "/tmp", "/dev/shm"):
        for n in range(3):  # within a job's block: the server takes the rest
            path = os.path.join(directory, f"writer-{n}")
            open(path, "w").close()
            os.unlink(path)
    for _ in range(2):
        libc.shmctl(libc.shmget(0, 1, 0o1000 | 0o600), 0, None)

    def add(a, b):
        return a + b
    """
)


def _readings(kind: str, middle: str, tag: str) -> dict:
    verdicts = run_jobs(kind, [pytest_job(COUNTER_READER, id=f"{tag}-fresh"), pytest_job(middle, id=f"{tag}-middle"),
                               pytest_job(COUNTER_READER, id=f"{tag}-after")])
    assert all(v.status is Status.PASSED for v in verdicts), [v.reason for v in verdicts]
    return eval(verdicts[2].output.split("READING=")[1].split(";")[0])  # noqa: S307 - our own reader's dict


def test_inode_and_sysv_id_counters_carry_nothing_between_jobs(kind):
    """Files a job creates and deletes (in its directory, /tmp, /dev/shm) move the inode numbers a
    later job's files get, and SysV objects move their ids: after each job the server takes the rest
    of the job's block of each, so the reader's readings after a writer are those after an honest job."""
    skip_on_local(kind, "the local executor shares the host's file systems and IPC")
    assert _readings(kind, COUNTER_WRITER, "counters-writer") == _readings(kind, RIGHT_ADD, "counters-honest")


SHADOW_MATH = src(
    """
    class math:  # a stand-in for the module the test uses without importing it
        pi = 0.0

    def area(r):
        return 0.0
    """
)
HONEST_MATH = src(
    """
    import math

    def area(r):
        return math.pi * r * r
    """
)
AREA_TEST = src(
    """
    from pytest import approx

    def test_area():
        assert area(2) == approx(math.pi * 4)
        assert area(0) == 0
    """
)
FUNCTION_NAMED_LIKE_A_MODULE = src(
    """
    def statistics(values):
        return sum(values) / len(values)
    """
)


SHADOW_MATH_FUNCTION = src(
    """
    def math():  # a function (its type says so) carrying the attributes the test reads
        pass
    math.isclose = lambda *args, **kwargs: True
    math.pi = 3.141592653589793

    def area(r):
        return 0.0
    """
)
SHADOW_NUMPY = src(
    """
    class _AnythingGoes:
        def __getattr__(self, name):
            return self if name == "testing" else (lambda *args, **kwargs: True)

    np = _AnythingGoes()

    def area(r):
        return 0.0
    """
)


def test_modules_the_test_does_not_import_are_the_judges(kind):
    """A test that uses ``math.pi`` (or ``np.testing``) without importing it gets the real module,
    not whatever the solution exports under that name (a class, a function carrying attributes, an
    object answering every call); an honest solution that imports math still passes, and a
    solution function that the test calls by a module's name is still the solution's."""
    isclose_test = "def test_area():\n    assert math.isclose(area(2), math.pi * 4)\n    assert math.isclose(area(1), math.pi)\n"
    numpy_test = "def test_area():\n    np.testing.assert_allclose(area(2), math.pi * 4)\n    assert np.isclose(area(1), 3.14159, atol=1e-4)\n"
    judge_batch(kind, [
        Case(pytest_job(SHADOW_MATH, AREA_TEST, id="shadow-math"), FAILED),
        Case(pytest_job(SHADOW_MATH_FUNCTION, isclose_test, id="shadow-math-function"), FAILED),
        Case(pytest_job("import math\n" + SHADOW_NUMPY, numpy_test, id="shadow-numpy"), FAILED),
        Case(pytest_job("import math\nimport numpy as np\ndef area(r):\n    return math.pi * r * r\n", numpy_test,
                        id="honest-numpy"), PASSED),
        Case(pytest_job(HONEST_MATH, AREA_TEST, id="honest-math"), PASSED),
        Case(pytest_job(FUNCTION_NAMED_LIKE_A_MODULE, "def test_mean():\n    assert statistics([1, 3]) == 2\n",
                        id="function-named-statistics"), PASSED),
    ], controls=False)


def _pid_writer(forks: int) -> str:
    return src(
        """
        import os
        def add(a, b):
            for _ in range(@FORKS@):  # move the PID counter on by a recognisable amount
                pid = os.fork()
                if pid == 0:
                    os._exit(0)
                os.waitpid(pid, 0)
            return a + b
        """,
        FORKS=forks,
    )


PID_READER = src(
    """
    import os
    GAP = os.getpid() - os.getppid()  # how far the counter has moved since the zygote was forked
    os.write(1, f"GAP={GAP};".encode())
    def add(a, b):
        return a + b
    """
)


def _gaps(kind: str, middle: str, tag: str) -> tuple[int, int]:
    """The reader's reading in a fresh sandbox, and after ``middle`` ran in that sandbox."""
    verdicts = run_jobs(kind, [pytest_job(PID_READER, id=f"{tag}-fresh"), pytest_job(middle, id=f"{tag}-middle"),
                               pytest_job(PID_READER, id=f"{tag}-after")])
    assert all(v.status is Status.PASSED for v in verdicts), [v.reason for v in verdicts]
    first, after = (int(v.output.split("GAP=")[1].split(";")[0]) for v in (verdicts[0], verdicts[2]))
    return first, after


def test_the_pid_counter_carries_nothing_between_jobs(kind):
    """What the next job reads of the PID counter does not depend on what the job before it did:
    after one that forked 5 processes (within its block of 8 with its judge and sample: the server
    takes the rest of the block) the reading is the one after an honest job, and after one that
    forked 6, or 600 (over its block), the sandbox is replaced and the reader sees a fresh one.
    (That a replacement happened stays readable, as after any job that brings its sandbox down:
    one bit, which the writer pays for with a new sandbox.) The server forks the judge before it
    asks the zygote for the sample, so the readings are exact."""
    skip_on_local(kind, "the local executor shares the host's PID counter with everything else running")
    fresh, after_honest = _gaps(kind, RIGHT_ADD, "pid-honest")
    _, after_small = _gaps(kind, _pid_writer(5), "pid-small")
    _, after_just_over = _gaps(kind, _pid_writer(6), "pid-just-over")
    _, after_large = _gaps(kind, _pid_writer(600), "pid-large")
    assert after_small == after_honest, (after_honest, after_small)
    assert after_just_over == fresh, (fresh, after_just_over)
    assert after_large == fresh, (fresh, after_large)


PLANTER = src(
    """
    import os

    # The fork server's shared pytest session starts with the first pytest-style job, in
    # <work root>/job, after the HumanEval-style jobs before it. Plant there (and in the work
    # root) what a pytest session would pick up: a conftest that passes every test, ini files
    # that add options, modules that shadow pytest's.
    ROOT = os.path.dirname(os.getcwd())
    FORCE_PASS = (
        "import pytest\\n"
        "@pytest.hookimpl(hookwrapper=True)\\n"
        "def pytest_runtest_makereport(item, call):\\n"
        "    outcome = yield\\n"
        "    outcome.get_result().outcome = 'passed'\\n"
    )
    for where in (os.path.join(ROOT, "job"), ROOT):
        try:
            os.makedirs(where, exist_ok=True)
            for name, text in (
                ("conftest.py", FORCE_PASS),
                ("pytest.ini", "[pytest]\\naddopts = -p conftest\\n"),
                ("tox.ini", "[pytest]\\naddopts = -p conftest\\n"),
                ("pytest.py", "raise SystemExit(0)\\n"),
                ("_pytest_force.py", FORCE_PASS),
            ):
                with open(os.path.join(where, name), "w") as f:
                    f.write(text)
        except OSError:
            pass

    def add(a, b):
        return a + b
    """
)


def test_jobs_before_the_shared_session_starts_cannot_plant_anything_in_it(kind):
    """In a container, check-style jobs run before the fork server has started its pytest
    session; the first pytest-style job starts it, in the work root's ``job`` folder (a local
    server starts it before any job). Completions that plant a conftest forcing every test to
    pass, ini files and shadowing modules in that folder and in the work root change nothing: a
    wrong pytest-style solution judged right after them still fails, and a right one passes. (The
    runner's own folder: see test_a_sample_cannot_plant_modules_beside_the_local_runner.)"""
    judge_batch(kind, [
        Case(humaneval_job(PLANTER, id="planter-1"), PASSED),
        Case(humaneval_job(PLANTER, id="planter-2"), PASSED),
        Case(pytest_job(WRONG_ADD, id="wrong-after-planting"), FAILED),
    ], controls=False)
    judge_batch(kind, [
        Case(humaneval_job(PLANTER, id="planter"), PASSED),
        Case(pytest_job(RIGHT_ADD, id="right-after-planting"), PASSED),
        Case(pytest_job(WRONG_ADD, id="wrong-later"), FAILED),
    ], controls=False)


NO_PYTEST_YET = "def check(candidate):\n    import sys\n    assert candidate(2, 3) == 5\n    assert 'pytest' not in sys.modules\n"


def test_check_style_jobs_are_judged_before_pytest_is_imported(kind):
    """In a container the server imports pytest only with the first pytest-style job, so every
    HumanEval-style judge before it forks from a smaller process; after it, the same check sees
    pytest in its judge (it fails on that line alone) and the jobs are judged as before."""
    skip_on_local(kind, "a local server imports pytest before any job")
    judge_batch(kind, [
        Case(humaneval_job(RIGHT_ADD, NO_PYTEST_YET, id="before-1"), PASSED),
        Case(humaneval_job(RIGHT_ADD, NO_PYTEST_YET, id="before-2"), PASSED),
        Case(pytest_job(RIGHT_ADD, id="first-pytest-job"), PASSED),
        Case(humaneval_job(RIGHT_ADD, NO_PYTEST_YET, id="after"), FAILED),
        Case(humaneval_job(RIGHT_ADD, id="check-after"), PASSED),
        Case(pytest_job(WRONG_ADD, id="wrong-after"), FAILED),
    ], controls=False)


NUMPY_THREADS = src(
    """
    import os
    import numpy

    def threads():
        return len(os.listdir("/proc/self/task"))
    """
)
NUMPY_THREADS_TEST = src(
    """
    import os
    import numpy

    def test_one_thread_in_each_process():
        assert numpy.ones(3).sum() == 3.0
        assert threads() == 1  # the sample's process
        assert len(os.listdir("/proc/self/task")) == 1  # the judge's
    """
)


def test_importing_numpy_starts_no_threads(kind):
    """numpy's BLAS starts a thread per CPU of the host when imported, whatever the container's
    CPU quota; each takes a pid, and a job over its block of 8 pids gets its container replaced.
    Every job's processes run BLAS on one thread, so numpy costs no pids (and sums in one order)."""
    judge_batch(kind, [Case(pytest_job(NUMPY_THREADS, NUMPY_THREADS_TEST, id="numpy-threads"), PASSED)])


def _beside_the_runner(marker: str) -> str:
    return src(
        """
        import os, sys

        # A local sample runs as its user and can write beside the runner itself. Plant modules
        # there under the names the server imports (at start, or later: pytest and its plugins);
        # each one, if ever imported, leaves a mark and then loads the real module.
        PAYLOAD = '''
        import importlib, os, sys
        with open(@MARKER@, "a") as f:
            f.write(__name__ + "\\\\n")
        here = os.path.dirname(os.path.realpath(__file__))
        del sys.modules[__name__]
        sys.path[:] = [p for p in sys.path if os.path.realpath(p or ".") != here]
        sys.modules[__name__] = importlib.import_module(__name__)
        '''
        folder = os.path.dirname(os.path.abspath(sys.modules["__main__"].__file__))
        if os.path.isfile(folder):  # the runner is a zipapp: beside it is its folder
            folder = os.path.dirname(folder)
        for name in ("json", "ctypes", "argparse", "pluggy", "iniconfig", "pprint", "pytest"):
            try:
                with open(os.path.join(folder, name + ".py"), "w") as f:
                    f.write(PAYLOAD)
            except OSError:
                pass

        def add(a, b):
            return a + b
        """,
        MARKER=marker,
    )


def test_a_sample_cannot_plant_modules_beside_the_local_runner(kind, tmp_path, monkeypatch):
    """A local sample can write beside the runner (it runs as you). What it plants there under
    the names of modules the server imports, later in the same run (pytest, imported with the
    shared session) or at the next server's start, is never imported: the local server runs
    with ``-P`` (its folder off the path) and imports pytest before any job. A wrong solution
    judged after the planting fails, in the same server and in the next one."""
    if kind != "local":
        pytest.skip("a container's runner folder is on its read-only root")

    import gcop.sandbox.executors as executors
    runner_copy = executors.runner_zipapp(tmp_path / "runner")
    monkeypatch.setattr(executors, "local_runner", lambda: runner_copy)
    marker = tmp_path / "imported.txt"
    planter = _beside_the_runner(str(marker))
    judge_batch(kind, [
        Case(humaneval_job(planter, id="plant-beside-the-runner"), PASSED),
        Case(pytest_job(WRONG_ADD, id="wrong-in-the-same-server"), FAILED),
    ], controls=False)
    assert (runner_copy.parent / "pluggy.py").exists(), "the planting itself failed: the test tests nothing"
    judge_batch(kind, [
        Case(pytest_job(WRONG_ADD, id="wrong-in-the-next-server"), FAILED),
        Case(humaneval_job(RIGHT_ADD, id="right-in-the-next-server"), PASSED),
    ], controls=False)
    assert not marker.exists(), f"a planted module was imported: {marker.read_text()}"
