"""The in-sandbox test runner: one verdict protocol for every executor and every scorer.

This file runs *inside* the sandbox (a container of the gcop image, or a local subprocess) and
depends on nothing but the standard library and pytest, so it can be copied anywhere.

Protocol
--------
A job is one JSON object::

    {"id": "...", "style": "pytest" | "humaneval", "solution": "<python source>",
     "test": "<test source>", "entry_point": "name" | null, "timeout": 10.0}

* ``pytest`` style (KodCode): ``solution.py`` holds the solution, ``test_solution.py`` holds
  ``from solution import *`` followed by the tests, exactly as KodCode's own runner lays them out.
  Only tests *defined* in ``test_solution.py`` are collected: a ``test_*`` name imported into it
  (``from heapq import merge as test_merge``, or a ``test_*`` function the solution exports
  through ``from solution import *``) is not a test.
* ``humaneval`` style: ``solution.py`` holds the program (prompt + completion) and
  ``test_solution.py`` the data set's test code; both run in one namespace and the runner calls
  ``check(entry_point)``, as OpenAI's harness does, reported as the single test ``test_check``.

The answer is one JSON object: ``{"id", "status", "reason", "tests_collected", "tests_passed",
"duration_s", "output"}`` with ``status`` one of ``passed``, ``failed``, ``timeout``, ``error``.

Modes
-----
``serve``  a fork server: starts one pytest session in advance, then reads jobs as JSON lines on
           stdin and writes one answer line per job on stdout. Each job runs in a freshly forked
           process in a fresh working directory; a pytest-style job's process carries on into
           its own copy of the pre-started session (see :class:`_PytestForkServer`), so a job
           costs its collection and tests, not a pytest start-up. After a job, every process it
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
import json
import os
import re
import resource  # here, not in each job's process: importing it there costs ~1.5 ms a job
import secrets
import select
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

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

    pytest style gets KodCode's layout (``from solution import *`` first). HumanEval style keeps
    the data set's test code as it is; ``check(entry_point)`` is called by the runner.
    """
    style = job.get("style")
    solution = job.get("solution") or ""
    test = job.get("test") or ""
    if not isinstance(solution, str) or not isinstance(test, str):
        raise ValueError("'solution' and 'test' must be strings")
    if style == "pytest":
        return {"solution.py": solution, "test_solution.py": "from solution import *\n" + test}
    if style == "humaneval":
        entry_point = job.get("entry_point")
        if not isinstance(entry_point, str) or not entry_point.isidentifier():
            raise ValueError(f"a humaneval job needs a valid entry_point, got {entry_point!r}")
        return {"solution.py": solution, "test_solution.py": test}
    raise ValueError(f"unknown job style {style!r} (expected 'pytest' or 'humaneval')")


def expected_tests(test_source: str) -> list[str] | None:
    """Test functions and classes pytest must collect, found by parsing (not running) the file.

    Returns None when the file does not parse (pytest will then report a collection error).
    Names are ``func`` or ``Class::method``.
    """
    try:
        tree = ast.parse(test_source)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        # ValueError: NUL bytes on older Pythons; MemoryError/RecursionError: absurd nesting.
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
        self.reports: list[tuple[str, str, str]] = []
        self.collect_errors: list[str] = []
        self.exitstatus: int | None = None
        self.finished = False

    def pytest_collection_finish(self, session: Any) -> None:
        self.collected = [item.nodeid for item in session.items]

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

    def pytest_sessionfinish(self, session: Any, exitstatus: int) -> None:
        self.exitstatus = int(exitstatus)
        self.finished = True


def _unshare_network() -> bool:
    """Put the calling process in a new, empty network namespace (local mode). True on success.

    A new user namespace comes with it whenever one can be made, even for root: the sample then
    holds no capability in the host's namespace, so a runner started as root cannot be ptraced,
    nor its file descriptors (``/proc/<runner>/fd/1``, the answer channel) opened by the sample.
    """
    clone_newnet, clone_newuser = 0x40000000, 0x10000000
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return False
    uid, gid = os.getuid(), os.getgid()
    if libc.unshare(clone_newuser | clone_newnet) != 0:
        return libc.unshare(clone_newnet) == 0
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


def _local_definitions_only(pytest: Any) -> object:
    """A plugin that stops pytest collecting functions and classes the test module imported
    rather than defined (their ``__module__`` is another module's)."""
    import inspect

    class LocalDefinitionsOnly:
        @pytest.hookimpl(tryfirst=True)
        def pytest_pycollect_makeitem(self, collector: Any, name: str, obj: Any) -> list[Any] | None:
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
    }


def _run_pytest(workdir: str) -> dict[str, Any]:
    """pytest style: a whole pytest session over test_solution.py, observed by _Recorder."""
    import pytest

    recorder = _Recorder()
    ret = pytest.main(pytest_args(workdir), plugins=[recorder, _local_definitions_only(pytest)])
    return _pytest_report(recorder, ret)


def _run_check_style(files: dict[str, str], entry_point: str) -> dict[str, Any]:
    """HumanEval style without pytest's start-up cost: the official harness's semantics (program,
    then the data set's test code, then ``check(entry_point)``, one namespace) reported in the same
    shape as a pytest session with the single test ``test_check``."""
    import traceback

    nodeid = f"test_solution.py::{HUMANEVAL_TEST_NAME}"
    report: dict[str, Any] = {
        "return": 1, "finished": False, "exitstatus": None,
        "collected": [], "reports": [], "collect_errors": [],
    }
    namespace: dict[str, Any] = {"__name__": "solution"}
    for filename in ("solution.py", "test_solution.py"):
        source = files[filename]
        try:
            exec(compile(source, filename, "exec"), namespace)  # noqa: S102 - this is the sandbox
        except BaseException as exc:  # noqa: BLE001 - SystemExit at import is a failure too
            traceback.print_exc()
            report["collect_errors"] = [f"{filename}: {type(exc).__name__}: {exc}"[:300]]
            report.update(finished=True, exitstatus=2, **{"return": 2})
            return report
    for name in (entry_point, "check"):
        if not callable(namespace.get(name)):
            report["collect_errors"] = [f"solution.py: {name!r} is not defined"]
            report.update(finished=True, exitstatus=2, **{"return": 2})
            return report
    report["collected"] = [nodeid]
    outcome, message = "passed", ""
    try:
        namespace["check"](namespace[entry_point])
    except BaseException as exc:  # noqa: BLE001 - sys.exit inside the test fails it
        traceback.print_exc()
        outcome, message = "failed", f"{type(exc).__name__}: {exc}"[:300]
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
) -> None:
    """Turn the freshly forked process into the job's test process: own session, stdio on the
    output file, no descriptor of the server's but the report pipe, limits, a clean environment.

    ``also_to_output`` are further descriptors pointed at the output file (the fork server's
    stand-in for stdout that pytest's reporter writes to); ``inherited_devnull`` are descriptors
    the pre-started pytest session holds open on ``/dev/null`` (checked by the server), kept so
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
    keep = sorted({0, 1, 2, report_fd, *also_to_output, *inherited_devnull})
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
        _unshare_network()

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
        }
    )
    if pytest_env:
        import pytest

        os.environ["PYTEST_VERSION"] = pytest.__version__  # as pytest.main sets it
    tempfile.tempdir = None  # the server's cached temp dir is not the job's
    runner_dir = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [workdir] + [p for p in sys.path if p and os.path.abspath(p) != runner_dir]
    sys.stdin = open(0, closefd=False)  # noqa: SIM115 - /dev/null now; never closed
    sys.stdout = os.fdopen(1, "w", buffering=1, closefd=False)
    sys.stderr = os.fdopen(2, "w", buffering=1, closefd=False)


def _send_report(report_fd: int, report: dict[str, Any], nonce: str) -> int:
    """Write the report on the private pipe; returns the process's exit code."""
    code = int(report.pop("return"))
    report["nonce"] = nonce
    view = memoryview(json.dumps(report).encode())
    while view:
        written = os.write(report_fd, view)
        view = view[written:]
    return code


def _child(
    style: str,
    files: dict[str, str],
    entry_point: str | None,
    workdir: str,
    report_fd: int,
    output_fd: int,
    nonce: str,
    timeout: float,
    isolation: str,
) -> None:
    """Runs in the forked test process a whole job, pytest session included; never returns."""
    code = 70
    try:
        _enter_job_process(workdir, report_fd, output_fd, timeout, isolation, pytest_env=style == "pytest")
        if style == "humaneval":
            report = _run_check_style(files, entry_point or "")
        else:
            report = _run_pytest(workdir)
        code = _send_report(report_fd, report, nonce)
    except BaseException:  # noqa: BLE001 - the child must always end in os._exit
        code = 70
    finally:
        os._exit(code & 0xFF)


# --------------------------------------------------------------------------- the server


class Runner:
    """Runs jobs one at a time, each in a fresh forked process and a fresh directory."""

    def __init__(self, isolation: str = "local", work_root: str | None = None) -> None:
        if isolation not in ("container", "local"):
            raise ValueError(f"isolation must be 'container' or 'local', got {isolation!r}")
        self.isolation = isolation
        self.work_root = work_root or (os.environ.get("GCOP_WORK_ROOT") or tempfile.gettempdir())
        self.is_init = os.getpid() == 1
        self._prepare()

    def _prewarm(self) -> None:
        """Pay pytest's one-time costs (lazy imports of its plugins, assertion rewriting) once,
        here, so every forked job inherits them warm; for a server without a pre-started session.
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
        import pytest  # noqa: F401 - imported once here, inherited by every forked job
        import _pytest.python  # noqa: F401

    def run(self, job: dict[str, Any], server: "_PytestForkServer | None" = None) -> dict[str, Any] | None:
        """Judge one job in a freshly forked process and return its answer.

        Called by ``server`` (from inside its pre-started pytest session), a pytest-style job's
        process returns None instead of running pytest itself: it is to carry on into that
        session, whose collection then finds the job's tests. Only the job's process ever gets
        None; the server always gets the answer.
        """
        job_id = str(job.get("id", ""))
        started = time.monotonic()
        try:
            timeout = float(job.get("timeout") or 10.0)
            if not 0 < timeout <= MAX_TIMEOUT_S:
                raise ValueError(f"timeout must be in (0, {MAX_TIMEOUT_S}], got {timeout}")
            files = build_files(job)
        except (TypeError, ValueError) as exc:
            return self._answer(job_id, STATUS_ERROR, f"bad job: {exc}", started)
        style = str(job["style"])
        entry_point = job.get("entry_point")
        if style == "humaneval":
            expected: list[str] | None = [HUMANEVAL_TEST_NAME]
        else:
            expected = expected_tests(files["test_solution.py"])
        if style != "pytest":
            server = None  # HumanEval style needs no pytest session
        workdir = server.new_workdir() if server is not None else tempfile.mkdtemp(prefix="job-", dir=self.work_root)
        output = tempfile.TemporaryFile(dir=self.work_root)
        report_r, report_w = os.pipe()
        in_job_process = False
        try:
            for name, text in files.items():
                # surrogatepass: a lone surrogate in model output (valid in JSON, not in UTF-8)
                # is written as the bytes it stands for, and the import then fails like any
                # other undecodable source, instead of the encoder error taking the server down.
                with open(os.path.join(workdir, name), "w", encoding="utf-8", errors="surrogatepass") as f:
                    f.write(text)
            nonce = secrets.token_hex(16)
            pid = os.fork()
            if pid == 0:
                os.close(report_r)
                if server is None:
                    _child(style, files, entry_point, workdir, report_w, output.fileno(), nonce, timeout, self.isolation)
                in_job_process = True
                server.enter_job(workdir, report_w, output.fileno(), nonce, timeout, self.isolation)
                return None
            os.close(report_w)
            report_w = -1
            raw, status, timed_out = self._wait(pid, report_r, started + timeout)
            self._sweep(pid)
            if timed_out:
                verdict = (STATUS_TIMEOUT, f"time limit of {timeout:g} s exceeded", 0, 0)
            else:
                report = None
                if raw:
                    try:
                        report = json.loads(raw)
                    except ValueError:
                        report = None
                exit_code = os.waitstatus_to_exitcode(status) if status is not None else None
                sig = -exit_code if exit_code is not None and exit_code < 0 else None
                if sig == signal.SIGXCPU:
                    verdict = (STATUS_TIMEOUT, f"CPU time limit of {timeout:g} s exceeded", 0, 0)
                else:
                    verdict = judge(report, nonce=nonce, exit_code=exit_code, signal_number=sig, expected=expected)
            text = self._tail(output)
            return self._answer(job_id, verdict[0], verdict[1], started, verdict[2], verdict[3], text)
        finally:
            if not in_job_process:  # the job's process leaves the server's files alone
                for fd in (report_r, report_w):
                    if fd >= 0:
                        try:
                            os.close(fd)
                        except OSError:
                            pass
                output.close()
                self._clean(workdir)

    def _wait(self, pid: int, report_fd: int, deadline: float) -> tuple[bytes, int | None, bool]:
        """Read the report while waiting for the child; kill its process group at the deadline.

        The child's exit is watched through a pidfd where the kernel has them, so the answer
        goes out the moment the child is gone; elsewhere by polling ``waitpid``."""
        chunks: list[bytes] = []
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
                    return b"".join(chunks), None, True
                watched = ([report_fd] if pipe_open else []) + ([exited_fd] if exited_fd >= 0 else [])
                if not watched:
                    time.sleep(min(remaining, 0.005))
                    continue
                ready, _, _ = select.select(watched, [], [], min(remaining, 0.05))
                if report_fd in ready:
                    data = os.read(report_fd, 65536)
                    if data:
                        chunks.append(data)
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
        return b"".join(chunks), status, False

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
        """Kill every process the job left behind, and reap them."""
        self._kill_group(pid)
        for _ in range(50):
            if self.is_init:
                try:
                    os.kill(-1, signal.SIGKILL)  # everything in the container but us
                except OSError:
                    pass
            else:
                for child in self._children():
                    self._kill_group(child)
            reaped_any = False
            while True:
                try:
                    done, _ = os.waitpid(-1, os.WNOHANG)
                except ChildProcessError:
                    return  # no children left
                if not done:
                    break
                reaped_any = True
            if not reaped_any:
                time.sleep(0.002)

    @staticmethod
    def _children() -> list[int]:
        me = os.getpid()
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
        shutil.rmtree(workdir, ignore_errors=True)
        if self.is_init:
            # In the container every writable place is ours: leave nothing for the next job.
            for root in {self.work_root, "/tmp", "/dev/shm"}:
                try:
                    entries = os.listdir(root)
                except OSError:
                    continue
                for name in entries:
                    path = os.path.join(root, name)
                    try:
                        if os.path.isdir(path) and not os.path.islink(path):
                            shutil.rmtree(path, ignore_errors=True)
                        else:
                            os.unlink(path)
                    except OSError:
                        pass

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
    """Forks pytest-style jobs' processes from inside one pytest session started in advance.

    Most of a pytest session's cost is the same for every job: loading and registering the
    plugins, parsing the command line, configuring, building the fixture manager. The server pays
    it once: it starts a session over a fixed job directory and, from that session's
    ``pytest_collection`` hook, forks a process per job. A pytest-style job's process returns
    from the hook into the session, and pytest collects and runs the job's tests as in a session
    of its own (same command line, same plugins, the same ``wrap_session`` error handling). Each
    job's process works on its own copy-on-write copy of the session, so nothing one job does
    reaches the server or the next job; the server itself never collects or runs a test.
    """

    JOB_DIR = "job"

    def __init__(self, runner: Runner, jobs: Iterator[dict[str, Any]], send: Callable[[dict[str, Any]], None], ready: Callable[[], None]) -> None:
        self.runner = runner
        self.jobs = jobs
        self.send = send
        self.ready = ready
        self.workdir = os.path.join(runner.work_root, self.JOB_DIR)
        self.started = False
        self.pytest_exit_code: int | None = None
        self._quiet_fd = -1
        self._before: set[int] = set()
        self._stderr: Any = sys.stderr
        self._devnull_fds: tuple[int, ...] = ()
        self._job: tuple[int, str] | None = None  # (report fd, nonce), in a job's process only

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
        recorder = _Recorder()
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
        import gc

        gc.collect()
        gc.freeze()  # the session is shared by every job: keep it out of their collections
        self.started = True
        self.ready()
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

    def new_workdir(self) -> str:
        """The job directory, fresh: the session's rootdir and invocation directory are this path."""
        shutil.rmtree(self.workdir, ignore_errors=True)
        os.mkdir(self.workdir, 0o700)
        return self.workdir

    def enter_job(self, workdir: str, report_fd: int, output_fd: int, nonce: str, timeout: float, isolation: str) -> None:
        """In the job's freshly forked process: set it up, then let it carry on into the session."""
        try:
            _enter_job_process(
                workdir, report_fd, output_fd, timeout, isolation,
                pytest_env=True, also_to_output=(self._quiet_fd,), inherited_devnull=self._devnull_fds,
            )
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
        stdout.write(json.dumps(answer).encode() + b"\n")
        stdout.flush()

    def ready(pytest_session: str) -> None:
        hello = {"ready": True, "pid": os.getpid(), "python": sys.version.split()[0], "isolation": isolation}
        send({**hello, "pytest_session": pytest_session})

    jobs = _read_jobs(stdin, send)
    server = _PytestForkServer(runner, jobs, send, lambda: ready("pre-started"))
    if server.serve():
        return
    # The pre-started session failed to start: every job runs a whole pytest session of its own.
    print(
        f"gcop runner: could not pre-start a pytest session (pytest exited with {server.pytest_exit_code}); "
        "running one per job",
        file=sys.stderr,
    )
    runner._prewarm()
    ready("per-job")
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
