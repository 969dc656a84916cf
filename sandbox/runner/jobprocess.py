"""A job's processes: the pytest session or the check call in the judge, the job's sandboxing on
entry, and the report sent over the private pipe."""

from __future__ import annotations

import json
import os
import resource  # here, not in each job's process: importing it there costs ~1.5 ms a job
import sys
from typing import TYPE_CHECKING, Any, NoReturn

from .files import FILE_SIZE_LIMIT, HUMANEVAL_TEST_NAME
from .guard import _unshare_network
from .judge_side import _Boundary, defined_elsewhere
from .plain import run_plain
from .procfs import write_text
from .proxies import _BoundMethod, _ProxyBase
from .testprocess import _JUDGE_MARKS, _mark, _Recorder

if TYPE_CHECKING:
    from .server import _JobPlan


def _local_definitions_only(pytest: Any) -> object:
    """A plugin that stops pytest collecting functions and classes the test module imported
    rather than defined (their ``__module__`` is another module's)."""

    class LocalDefinitionsOnly:
        @pytest.hookimpl(tryfirst=True)
        def pytest_pycollect_makeitem(self, collector: Any, name: str, obj: Any) -> list[Any] | None:
            if isinstance(obj, (_ProxyBase, _BoundMethod)):
                return []  # an object of the sample's process is never a test
            if isinstance(collector, pytest.Module) and defined_elsewhere(obj, collector.obj.__name__):
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


def job_environment(workdir: str, *, pytest_env: bool = False) -> dict[str, str]:
    """The whole environment of a job's processes; ``pytest_env``: a judge that runs pytest,
    which also sees ``PYTEST_VERSION``, as ``pytest.main`` sets it."""
    environment = {
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
    if pytest_env:
        import pytest

        environment["PYTEST_VERSION"] = pytest.__version__
    return environment


def set_environment(wanted: dict[str, str]) -> None:
    """Make the environment exactly ``wanted``, in its order. Where it already holds the same
    names in that order (the server, and the zygote forked from it, set theirs up so: see ``serve``), only the
    values that differ are set (the job's directory): each change of the environment writes
    memory a forked process shares with its parent, at the price of a copy-on-write fault."""
    if list(os.environ) == list(wanted):
        for name, value in wanted.items():
            if os.environ[name] != value:
                os.environ[name] = value
    else:
        os.environ.clear()
        os.environ.update(wanted)


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
    std_streams: bool = True,
) -> None:
    """Turn the freshly forked process into the job's test process: own session, stdio on the
    output file, no descriptor of the server's but the report pipe, limits, a clean environment.

    ``also_to_output`` are further descriptors pointed at the output file (the fork server's
    stand-in for stdout that pytest's reporter writes to); ``inherited_devnull`` are descriptors
    the shared pytest session holds open on ``/dev/null`` (checked by the server), kept so
    that no descriptor number of pytest's is reused by the sample's own files.
    ``std_streams``: give ``sys.stdin``, ``stdout`` and ``stderr`` new file objects on 0, 1 and 2;
    the sample's process, which replaces all three with the boundary's own, does without.
    """
    os.setsid()
    try:
        write_text("/proc/self/oom_score_adj", "1000")  # if memory runs out, this process goes first, not the server
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
    set_environment(job_environment(workdir, pytest_env=pytest_env))
    tempfile = sys.modules.get("tempfile")  # imported by the server's pytest session, maybe used
    if tempfile is not None:
        tempfile.tempdir = None  # type: ignore[attr-defined]  # the server's cached temp dir is not the job's
    # Where the runner package was imported from (the image's /opt/gcop, or the zipapp): off the
    # job's path, so the job's code imports nothing of the runner's by name.
    runner_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    others = [p for p in sys.path if p and os.path.abspath(p) not in (runner_root, workdir)]
    sys.path[:] = ([workdir] if import_from_workdir else []) + others
    if not std_streams:
        return
    sys.stdin = open(0, closefd=False)  # noqa: SIM115 - /dev/null now; never closed
    sys.stdout = os.fdopen(1, "w", buffering=1, closefd=False)
    sys.stderr = os.fdopen(2, "w", buffering=1, closefd=False)


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
        elif plan.plain and boundary is not None:
            report = run_plain(boundary, workdir)
            report["boundary"] = {**_boundary_summary(boundary, plan.in_process), "session": "none"}
        else:
            report = _run_pytest(workdir, boundary, plan.in_process)
        code = _send_report(report_fd, report, nonce)
    except BaseException:  # noqa: BLE001 - the child must always end in os._exit
        code = 70
    finally:
        os._exit(code & 0xFF)
