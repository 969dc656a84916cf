"""End-to-end attacks on the sandbox, through the real executors (Docker pool and local).

Every test sends one batch of jobs through ``run_many`` on one sandbox (``workers=1``, so jobs run
in order on the same fork server) and checks two things: the attacking sample gets the verdict it
deserves (never ``passed`` for a wrong solution), and a correct control job placed right after
each attack still passes, so no sample changes another sample's verdict.

Attacking samples are *wrong* (``add`` subtracts) or face a test that asserts something false, so
a ``passed`` verdict can only come from a forged or skipped report.

The local executor's isolation is weaker by design (it shares the host's file system and process
table, and a sample may signal the host's processes of its user): attacks it cannot stop run on
Docker only, with the reason in the skip message. Known weaknesses are strict xfails, so they show
in every run and the marker must go once they are fixed: ``test_in_process_forgery_is_a_known_weakness``
(code inside the test process forges a pass, on both executors) and, for the local executor,
``test_a_sample_that_kills_its_runner_leaves_no_process_behind``.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import itertools
import os
import re
import secrets
import socket
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gcop.sandbox.executors import DEFAULT_IMAGE, RUNNER_HASH_LABEL, make_executor, runner_sha256
from gcop.sandbox.protocol import Status, TestJob, Verdict
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.slow

REPO = REPO_ROOT

PASSED = frozenset({Status.PASSED})
FAILED = frozenset({Status.FAILED})
TIMEOUT = frozenset({Status.TIMEOUT})
FAILED_OR_TIMEOUT = frozenset({Status.FAILED, Status.TIMEOUT})

RIGHT_ADD = "def add(a, b):\n    return a + b\n"
WRONG_ADD = "def add(a, b):\n    return a - b\n"
ADD_TEST = "def test_add():\n    assert add(2, 3) == 5\n"
ADD_CHECK = "def check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(-1, 1) == 0\n"


def src(text: str, **values: object) -> str:
    """Dedent a job's source and substitute ``@NAME@`` placeholders with ``repr(value)``."""
    text = textwrap.dedent(text).lstrip("\n")
    for name, value in values.items():
        assert f"@{name}@" in text, f"no placeholder @{name}@ in:\n{text}"
        text = text.replace(f"@{name}@", repr(value))
    # an unfilled placeholder would make an attack fail for the wrong reason
    assert not re.search(r"@[A-Z_]+@", text), f"unfilled placeholder in:\n{text}"
    return text


def pytest_job(solution: str, test: str = ADD_TEST, *, id: str, timeout: float = 10) -> TestJob:
    return TestJob("pytest", solution, test, timeout=timeout, id=id)


def humaneval_job(program: str, test: str = ADD_CHECK, *, id: str, timeout: float = 10) -> TestJob:
    return TestJob("check", program, test, entry_point="add", timeout=timeout, id=id)


# --------------------------------------------------------------------------- executors


def _docker_skip_reason() -> str | None:
    """Why the Docker executor cannot run here (engine or image missing), or None."""
    import docker

    try:
        client = docker.from_env(timeout=10)
        client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure to reach the engine
        return f"Docker engine not reachable ({type(exc).__name__}: {exc})"
    try:
        image = client.images.get(DEFAULT_IMAGE)
    except docker.errors.ImageNotFound:
        return f"sandbox image {DEFAULT_IMAGE} not built (run `gcop sandbox build`)"
    finally:
        client.close()
    built_with = (image.labels or {}).get(RUNNER_HASH_LABEL)
    if built_with != runner_sha256():
        pytest.fail(
            f"sandbox image {DEFAULT_IMAGE} was built from another version of sandbox/runner/; "
            "rebuild it (`gcop sandbox build`, or `--debootstrap`) so these tests test this runner"
        )
    return None


@pytest.fixture(scope="module", params=[pytest.param("docker", marks=pytest.mark.docker), "local"])
def kind(request: pytest.FixtureRequest) -> str:
    """Which executor the module's tests run on."""
    if request.param == "docker":
        reason = _docker_skip_reason()
        if reason:
            pytest.skip(reason)
    return request.param


def run_jobs(kind: str, jobs: list[TestJob], workers: int = 1) -> list[Verdict]:
    """Open the executor, judge the batch, close it (a fresh event loop per batch)."""
    ids = [job.id for job in jobs]
    assert len(set(ids)) == len(ids), f"job ids must be unique within a batch: {ids}"

    async def go() -> list[Verdict]:
        async with make_executor(kind, workers=workers) as executor:
            return await executor.run_many(jobs)

    return asyncio.run(go())


@dataclass(frozen=True)
class Case:
    job: TestJob
    allowed: frozenset[Status]


_controls = itertools.count()


def control(style: str = "pytest") -> Case:
    """A correct sample; it must pass wherever it is placed."""
    n = next(_controls)
    if style == "check":
        return Case(humaneval_job(RIGHT_ADD, id=f"control-{n}"), PASSED)
    return Case(pytest_job(RIGHT_ADD, id=f"control-{n}"), PASSED)


def judge_batch(kind: str, cases: list[Case], *, controls: bool = True, workers: int = 1) -> dict[str, Verdict]:
    """Run the cases (each followed by a control job unless ``controls=False``) and check every
    verdict's status. Returns the verdicts by job id."""
    batch: list[Case] = []
    for case in cases:
        batch.append(case)
        if controls:
            batch.append(control(case.job.style))
    verdicts = run_jobs(kind, [case.job for case in batch], workers=workers)
    wrong = []
    for case, verdict in zip(batch, verdicts, strict=False):
        if verdict.status not in case.allowed:
            wrong.append(
                f"{case.job.id}: got {verdict.status.value} ({verdict.reason!r}), expected "
                f"{sorted(s.value for s in case.allowed)}; output tail:\n{verdict.output[-600:]}"
            )
    assert not wrong, f"[{kind}] " + "\n\n".join(wrong)
    return {case.job.id: verdict for case, verdict in zip(batch, verdicts, strict=False)}


def skip_on_local(kind: str, why: str) -> None:
    if kind == "local":
        pytest.skip(f"local executor: {why} (documented weaker isolation; Docker covers it)")


# --------------------------------------------------------------------------- exit-code tricks


def test_exit_code_tricks_never_pass(kind):
    cases = [
        # pytest style
        Case(pytest_job(WRONG_ADD + "import sys\nsys.exit(0)\n", id="sys-exit-at-import"), FAILED),
        Case(pytest_job(WRONG_ADD + "import os\nos._exit(0)\n", id="os-exit-at-import"), FAILED),
        Case(pytest_job("def add(a, b):\n    import sys\n    sys.exit(0)\n", id="sys-exit-in-test"), FAILED),
        Case(pytest_job("def add(a, b):\n    import os\n    os._exit(0)\n", id="os-exit-in-test"), FAILED),
        Case(pytest_job(RIGHT_ADD, "import os\ndef test_add():\n    os._exit(0)\n", id="os-exit-in-test-body"), FAILED),
        Case(pytest_job(RIGHT_ADD, "import sys\ndef test_add():\n    sys.exit(0)\n", id="sys-exit-in-test-body"), FAILED),
        Case(pytest_job(WRONG_ADD + "import atexit, os\natexit.register(os._exit, 0)\n", id="atexit-os-exit"), FAILED),
        Case(
            pytest_job(WRONG_ADD + "import atexit, sys\natexit.register(sys.exit, 0)\nsys.exit(0)\n", id="atexit-sys-exit"),
            FAILED,
        ),
        Case(
            pytest_job(
                WRONG_ADD + "import sys, threading\nsys.excepthook = lambda *a: None\n"
                "threading.excepthook = lambda *a: None\n",
                id="excepthook",
            ),
            FAILED,
        ),
        Case(
            pytest_job(
                src(
                    """
                    import os, threading, time
                    def add(a, b):
                        time.sleep(1)
                        return a - b
                    threading.Thread(target=lambda: (time.sleep(0.3), os._exit(0)), daemon=True).start()
                    """
                ),
                id="os-exit-from-thread",
            ),
            FAILED,
        ),
        # HumanEval style: program, test code and check(entry_point) in one namespace
        Case(humaneval_job("import sys\nsys.exit(0)\n" + WRONG_ADD, id="he-sys-exit-at-import"), FAILED),
        Case(humaneval_job("import os\nos._exit(0)\n" + WRONG_ADD, id="he-os-exit-at-import"), FAILED),
        Case(humaneval_job("def add(a, b):\n    import sys\n    sys.exit(0)\n", id="he-sys-exit-in-check"), FAILED),
        Case(humaneval_job("def add(a, b):\n    raise SystemExit(0)\n", id="he-raise-systemexit-in-check"), FAILED),
        Case(humaneval_job("def add(a, b):\n    import os\n    os._exit(0)\n", id="he-os-exit-in-check"), FAILED),
        Case(humaneval_job(WRONG_ADD + "import atexit, os\natexit.register(os._exit, 0)\n", id="he-atexit"), FAILED),
        Case(humaneval_job(WRONG_ADD + "import sys\nsys.excepthook = lambda *a: None\n", id="he-excepthook"), FAILED),
        Case(humaneval_job(WRONG_ADD + "quit = exit = lambda *a: None\n", id="he-shadow-exit"), FAILED),
    ]
    verdicts = judge_batch(kind, cases)
    # The reason comes from how the test really went, not from the exit code the sample chose.
    assert "the sample's process ended" in verdicts["os-exit-at-import"].reason
    assert "SystemExit" in verdicts["he-raise-systemexit-in-check"].reason


def test_unencodable_source_fails_without_taking_the_sandbox_down(kind):
    """A lone surrogate (valid in the JSON job, not in UTF-8) or a NUL byte in the model's code."""
    cases = [
        Case(pytest_job(WRONG_ADD + "x = '\ud800'\n", id="lone-surrogate"), FAILED),
        Case(pytest_job(RIGHT_ADD + "x = '\ud800'\n", id="lone-surrogate-right"), FAILED),
        Case(pytest_job(RIGHT_ADD + "x = 1\x00\n", id="nul-byte"), FAILED),
        Case(humaneval_job(RIGHT_ADD + "x = '\ud800'\n", id="he-lone-surrogate"), FAILED),
        # Python's tokenizer lets undecodable bytes through in a comment: a right answer stays right
        Case(pytest_job(RIGHT_ADD + "# \udcff\n", id="lone-surrogate-in-comment"), PASSED),
    ]
    verdicts = judge_batch(kind, cases)
    for case in cases:
        verdict = verdicts[case.job.id]
        assert verdict.attempts == 1, (case.job.id, verdict.reason)  # the sandbox stayed up
        if case.allowed == FAILED:
            assert "collection error" in verdict.reason, (case.job.id, verdict.reason)


# --------------------------------------------------------------------------- forged output


FORGE = src(
    """
    import json, os, sys
    LINES = ["===== 5 passed in 0.01s =====", "1 passed in 0.01s", "PASSED test_solution.py::test_add"]
    for _id in @IDS@:
        LINES.append(json.dumps({"id": _id, "status": "passed", "reason": "1 passed", "tests_collected": 1,
                                 "tests_passed": 1, "duration_s": 0.01, "output": ""}))
    LINES.append(json.dumps({"finished": True, "exitstatus": 0, "collected": ["test_solution.py::test_add"],
                             "reports": [["test_solution.py::test_add", w, "passed", ""] for w in ("setup", "call", "teardown")],
                             "collect_errors": [], "nonce": "0" * 32}))
    TEXT = ("\\n".join(LINES) + "\\n").encode()

    def _write_to(path):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:
            return
        try:
            os.write(fd, TEXT)
        except OSError:
            pass
        finally:
            os.close(fd)

    def forge(channel):
        if channel == "print":  # what a pytest summary or a runner answer looks like, on stdout and stderr
            sys.stdout.write(TEXT.decode()); sys.stdout.flush()
            sys.stderr.write(TEXT.decode()); sys.stderr.flush()
            os.write(1, TEXT); os.write(2, TEXT)
            sys.__stdout__.write(TEXT.decode()); sys.__stdout__.flush()
        elif channel == "proc":  # our stdio by path, and every descriptor of the runner by path
            for path in ["/proc/self/fd/1", "/proc/self/fd/2", "/dev/stdout", "/dev/stderr", "/dev/tty", "/dev/console"]:
                _write_to(path)
            for n in range(64):
                _write_to(f"/proc/{os.getppid()}/fd/{n}")
                _write_to(f"/proc/1/fd/{n}")
        elif channel == "own-fds":  # every other descriptor we hold: the report pipe is one of them
            for fd in range(3, 64):
                try:
                    os.write(fd, TEXT)
                except OSError:
                    pass
    """,
    IDS=["print", "proc", "own-fds", "in-test", "victim", "he-print", "he-proc", "he-victim", ""],
)


def test_fake_summary_lines_and_forged_answers_never_pass(kind):
    """Printed pytest summaries and forged answers (for this job and the next ones, by id) on
    stdout/stderr, on /proc/self/fd/*, on our own descriptors (the report pipe), and on the
    runner's descriptors through /proc/<ppid>/fd (its stdout is the answer channel)."""
    cases = [
        Case(pytest_job(WRONG_ADD + FORGE + "forge('print')\n", id="print"), FAILED),
        Case(pytest_job(WRONG_ADD + FORGE + "forge('proc')\n", id="proc"), FAILED),
        Case(pytest_job(WRONG_ADD + FORGE + "forge('own-fds')\n", id="own-fds"), FAILED),
        Case(
            pytest_job(
                FORGE + "def add(a, b):\n    for c in ('print', 'proc', 'own-fds'):\n        forge(c)\n    return a - b\n",
                id="in-test",
            ),
            FAILED,
        ),
        Case(pytest_job(WRONG_ADD, id="victim"), FAILED),  # an answer was forged for it by id
        Case(humaneval_job(WRONG_ADD + FORGE + "forge('print')\n", id="he-print"), FAILED),
        Case(humaneval_job(WRONG_ADD + FORGE + "forge('proc')\n", id="he-proc"), FAILED),
        Case(humaneval_job(WRONG_ADD, id="he-victim"), FAILED),
    ]
    verdicts = judge_batch(kind, cases)
    # Forged text changed nothing: these were judged on the test that really ran.
    for job_id in ("print", "proc", "victim"):
        assert verdicts[job_id].reason == "test_add call: failed: assert add(2, 3) == 5 failed", job_id
    for job_id in ("he-print", "he-proc", "he-victim"):
        assert verdicts[job_id].reason.startswith("test_check call: failed: AssertionError"), job_id


# --------------------------------------------------------------------------- pytest manipulation


PYTEST_MANIPULATIONS = {
    "skip-module": "import pytest\npytest.skip('no', allow_module_level=True)\n",
    "importorskip": "import pytest\npytest.importorskip('gcop_no_such_module')\n",
    "xfail-at-import": "import pytest\npytest.xfail('no')\n",
    "exit-at-import": "import pytest\npytest.exit('ok', returncode=0)\n",
    "skip-in-test": "import pytest\ndef add(a, b):\n    pytest.skip('no')\n",
    "xfail-in-test": "import pytest\ndef add(a, b):\n    pytest.xfail('no')\n",
    "exit-in-test": "import pytest\ndef add(a, b):\n    pytest.exit('ok', returncode=0)\n",
    "keyboard-interrupt": "import pytest\ndef add(a, b):\n    raise KeyboardInterrupt\n",
    # names the star import carries into the test module
    "pytestmark-skip": "import pytest\npytestmark = pytest.mark.skip(reason='no')\n",
    "pytestmark-xfail": "import pytest\npytestmark = pytest.mark.xfail(reason='no')\n",
    "dunder-test-false": "__all__ = ['add', '__test__']\n__test__ = False\n",
    # replacing the entry points after the session started changes nothing
    "replace-pytest-main": "import pytest, _pytest.config\npytest.main = _pytest.config.main = lambda *a, **k: 0\n",
    # hook functions in a test module (not a conftest or plugin) are not hooks
    "hooks-in-solution": src(
        """
        def pytest_collection_modifyitems(session, config, items):
            items[:] = []
        def pytest_runtest_makereport(item, call):
            return None
        def pytest_report_teststatus(report, config):
            return "passed", ".", "PASSED"
        def pytest_sessionfinish(session, exitstatus):
            session.exitstatus = 0
        """
    ),
}

# test_value is deleted from the test module's namespace before pytest collects it
DELETE_A_TEST = src(
    """
    import sys
    _frame = sys._getframe(1)
    while _frame is not None and not _frame.f_code.co_filename.endswith("test_solution.py"):
        _frame = _frame.f_back
    def _tracer(frame, event, arg):
        if event == "return":
            frame.f_globals.pop("test_value", None)
        return _tracer
    _frame.f_trace = _tracer
    sys.settrace(lambda *a: None)
    """
)
TWO_TESTS = "def test_callable():\n    assert callable(add)\n\ndef test_value():\n    assert add(2, 3) == 5\n"


def test_pytest_manipulation_from_the_solution_never_passes(kind):
    cases = [Case(pytest_job(WRONG_ADD + code, id=name), FAILED) for name, code in PYTEST_MANIPULATIONS.items()]
    cases.append(Case(pytest_job(WRONG_ADD + DELETE_A_TEST, TWO_TESTS, id="delete-test"), FAILED))
    # a right solution that deletes a test fails too: the judge wants every test the file defines
    cases.append(Case(pytest_job(RIGHT_ADD + DELETE_A_TEST, TWO_TESTS, id="delete-test-right"), FAILED))
    verdicts = judge_batch(kind, cases)
    # The solution runs in its own process: pytest's outcomes raised there are the sample's
    # exceptions (stand-ins in the judge), and the judge's frames and session are out of reach.
    assert verdicts["delete-test"].reason.startswith("collection error")
    assert verdicts["delete-test-right"].reason.startswith("collection error")
    # a skip at import is a collection error (pytest's reporter or the plain judge words it)
    skip_module = verdicts["skip-module"].reason
    assert skip_module.startswith("collection error: test_solution.py: ") and "Skipped" in skip_module
    assert "skipped" not in verdicts["skip-in-test"].reason
    # pytestmark is a name pytest gives meaning to: the star import never carries it
    assert verdicts["pytestmark-xfail"].reason == "test_add call: failed: assert add(2, 3) == 5 failed"
    assert verdicts["pytestmark-skip"].reason == "test_add call: failed: assert add(2, 3) == 5 failed"


# A job's process ends when pytest's sessionfinish is over: its report is sent from there. A
# solution that passes the first test and then ends the session (exit code 0, or an interrupt)
# before the second test is judged must not pass, however often it runs in one warm container.
ENDS_THE_SESSION = {
    "exit-0-after-a-pass": "import pytest\n_calls = []\ndef add(a, b):\n    _calls.append(1)\n"
                           "    if len(_calls) > 1:\n        pytest.exit('ok', returncode=0)\n    return a + b\n",
    "interrupt-after-a-pass": "_calls = []\ndef add(a, b):\n    _calls.append(1)\n"
                              "    if len(_calls) > 1:\n        raise KeyboardInterrupt\n    return a + b\n",
}
TWO_CALLS = "def test_first():\n    assert add(2, 3) == 5\n\ndef test_second():\n    assert add(1, 1) == 2\n"


def test_ending_the_session_after_a_pass_never_passes_in_a_warm_container(kind):
    cases = [
        Case(pytest_job(code, TWO_CALLS, id=f"{name}-{run}"), FAILED)
        for run in range(10) for name, code in ENDS_THE_SESSION.items()
    ]
    # each is followed by a correct control job in the same container (judge_batch checks it passed)
    verdicts = judge_batch(kind, cases)
    for name in ENDS_THE_SESSION:
        for run in range(10):
            assert verdicts[f"{name}-{run}"].status == Status.FAILED, (name, run, verdicts[f"{name}-{run}"].reason)


# Attacks that forged a pass while the sample's module ran inside the test process (commit
# de518f5: they rewrote reports, registered plugins, or read the per-job nonce and wrote a
# well-formed report themselves). The sample now runs in its own process: all of them fail.
IN_PROCESS_FORGERIES = {
    "patch-call-and-report": src(
        """
        import _pytest.runner
        from _pytest.reports import TestReport
        def _fake(item, when, log=True, **kwargs):
            report = TestReport(item.nodeid, item.location, {}, "passed", None, when, [], 0.0)
            if log:
                item.ihook.pytest_runtest_logreport(report=report)
            return report
        _pytest.runner.call_and_report = _fake
        """
    ),
    "patch-testreport-outcome": src(
        """
        from _pytest.reports import TestReport
        _original = TestReport.from_item_and_call.__func__
        def _from_item_and_call(cls, item, call):
            report = _original(cls, item, call)
            report.outcome, report.longrepr = "passed", None
            return report
        TestReport.from_item_and_call = classmethod(_from_item_and_call)
        """
    ),
    # The fork server's pytest session is frozen out of the garbage collector (gc.get_objects()
    # does not list it), but the import's callers' frames lead to it all the same.
    "register-plugin-via-frames": src(
        """
        import sys, pytest
        from _pytest.config import Config
        class _Plugin:
            @pytest.hookimpl(wrapper=True)
            def pytest_runtest_makereport(self, item, call):
                report = yield
                report.outcome, report.longrepr = "passed", None
                return report
        _frame = sys._getframe()
        while _frame is not None:
            _config = next((v for v in _frame.f_locals.values() if isinstance(v, Config)), None)
            if _config is None:
                _config = getattr(_frame.f_locals.get("self"), "config", None)
            if isinstance(_config, Config):
                _config.pluginmanager.register(_Plugin(), "gcop-forger")
                break
            _frame = _frame.f_back
        """
    ),
    "pytest-plugins-variable": src(
        """
        with open("gcop_forger_plugin.py", "w") as _f:
            _f.write(
                "import pytest\\n"
                "@pytest.hookimpl(wrapper=True)\\n"
                "def pytest_runtest_makereport(item, call):\\n"
                "    report = yield\\n"
                "    report.outcome, report.longrepr = 'passed', None\\n"
                "    return report\\n"
            )
        pytest_plugins = ["gcop_forger_plugin"]
        """
    ),
    "swap-test-module": src(
        """
        import sys, types
        _fake = types.ModuleType("test_solution")
        def test_add():
            pass
        test_add.__module__ = "test_solution"
        _fake.test_add = test_add
        _fake.__file__ = sys.modules["test_solution"].__file__
        _frame = sys._getframe(1)
        while not _frame.f_code.co_filename.endswith("test_solution.py"):
            _frame = _frame.f_back
        def _tracer(frame, event, arg):
            if event == "return":
                sys.modules["test_solution"] = _fake  # what `import` hands back to pytest
            return _tracer
        _frame.f_trace = _tracer
        sys.settrace(lambda *a: None)
        """
    ),
    "steal-nonce-from-frame": src(
        """
        import json, os, sys
        _frame = sys._getframe()
        while _frame is not None and _frame.f_code.co_name != "_child":
            _frame = _frame.f_back
        if _frame is not None:
            _nodeid = "test_solution.py::" + ("test_check" if _frame.f_locals["style"] == "check" else "test_add")
            _report = {"finished": True, "exitstatus": 0, "collected": [_nodeid], "collect_errors": [],
                       "reports": [[_nodeid, w, "passed", ""] for w in ("setup", "call", "teardown")],
                       "nonce": _frame.f_locals["nonce"]}
            os.write(_frame.f_locals["report_fd"], json.dumps(_report).encode())
            os._exit(0)
        """
    ),
    # Not a sandbox escape: a result that equals everything satisfies `assert add(2, 3) == 5`.
    "always-equal-result": src(
        """
        class _AlwaysEqual:
            def __eq__(self, other):
                return True
        def add(a, b):
            return _AlwaysEqual()
        """
    ),
}


@pytest.mark.parametrize("attack", sorted(IN_PROCESS_FORGERIES))
def test_forgeries_that_needed_the_test_process_fail(kind, attack):
    code = IN_PROCESS_FORGERIES[attack]
    cases = [Case(pytest_job(WRONG_ADD + code, id=attack), FAILED)]
    if attack in ("steal-nonce-from-frame", "always-equal-result"):
        cases.append(Case(humaneval_job(WRONG_ADD + code, id=f"he-{attack}"), FAILED))
    judge_batch(kind, cases)


# The runner is a package of rooms (sandbox/runner/): the sample's process, a fork of the zygote,
# holds every one of them in sys.modules. What a policy would try: rewrite the verdict rules, the
# report's sender and recorder, and the server's own class there, so that whatever judges next
# says "passed"; and, where the runner is a file it can reach (a local run's zipapp), write over it.
RUNNER_ROOM_PATCHES = src(
    """
    import os, sys
    _rooms = {name: module for name, module in list(sys.modules.items())
              if name == "runner" or name.startswith(("runner.", "gcop.sandbox.runner"))}
    assert len(_rooms) > 10, sorted(_rooms)  # the attack reaches the rooms, or it tests nothing
    for _name, _room in _rooms.items():
        if hasattr(_room, "judge"):
            _room.judge = lambda *a, **k: ("passed", "", 1, 1)
        if hasattr(_room, "_send_report"):
            _room._send_report = lambda fd, report, nonce: 0
        if hasattr(_room, "_Recorder"):
            _room._Recorder.report = lambda self, *a, **k: {"finished": True, "exitstatus": 0}
        if hasattr(_room, "Runner"):
            _room.Runner.run = lambda self, job, server=None: {"id": job.get("id"), "status": "passed"}
    _main = sys.modules.get("__main__")
    _archive = os.path.dirname(getattr(_main, "__file__", "") or "")
    if os.path.isfile(_archive):  # the zipapp a local run started from
        try:
            with open(_archive, "ab") as _f:
                _f.write(b"junk")
        except OSError:
            pass
    """
)


def test_patching_the_runners_rooms_from_the_sample_never_passes_in_a_warm_container(kind):
    """The rooms the sample can reach are its own process's copies: the judge, a process the
    sample cannot write to, decides. Ten runs in one warm server, each followed by a control."""
    # A right solution with the patches still passes: the attack's code runs to its end (a wrong
    # one does not fail because the attack crashed).
    cases = [Case(pytest_job(RIGHT_ADD + RUNNER_ROOM_PATCHES, id="right-with-the-patches"), PASSED)]
    cases += [Case(pytest_job(WRONG_ADD + RUNNER_ROOM_PATCHES, id=f"rooms-{run}"), FAILED) for run in range(10)]
    cases += [Case(humaneval_job(WRONG_ADD + RUNNER_ROOM_PATCHES, id=f"he-rooms-{run}"), FAILED) for run in range(5)]
    judge_batch(kind, cases)


# Found by a review of the runner's split into a package: the sample names a module for the judge
# to import (a module object among its exports travels as ["M", name]). The runner's own modules
# and any module's entry point (importing runner.__main__ started a second server inside the
# judge) are refused. In a local run the sample also rewrites the zipapp the judge imports from,
# in place (its unchecked bytecode), so that the judge would run the sample's code.
NAMES_THE_RUNNER = src(
    """
    import marshal, sys, types, zipfile, importlib.util
    def _tamper():
        archive = sys.modules["runner"].__loader__.archive  # only a zipapp's loader has one
        info = zipfile.ZipFile(archive).getinfo("runner/__main__.pyc")
        data = bytearray(open(archive, "rb").read())
        start = info.header_offset + 30 + int.from_bytes(data[info.header_offset + 26:info.header_offset + 28], "little") \
            + int.from_bytes(data[info.header_offset + 28:info.header_offset + 30], "little")
        payload = chr(10).join([  # every test reported passed, then the real report goes out
            "import runner.jobprocess as j, runner.forkserver as fs",
            "o = j._send_report",
            "def f(fd, r, n):",
            "    r['reports'] = [(a, b, 'passed', '') for (a, b, c, d) in r['reports']]",
            "    r.update(finished=True, exitstatus=0, **{'return': 0})",
            "    return o(fd, r, n)",
            "j._send_report = fs._send_report = f",
        ])
        with open("p.py", "w") as f:
            f.write(payload)
        code = compile("exec(open('p.py').read())", "x", "exec")  # small: it fits the entry it replaces
        pyc = importlib.util.MAGIC_NUMBER + (1).to_bytes(4, "little") + bytes(8) + marshal.dumps(code)
        data[start:start + len(pyc)] = pyc
        with open(archive, "r+b") as f:
            f.write(data)
    try:
        _tamper()
    except Exception:
        pass  # a container's runner is a read-only directory
    runner_main = types.ModuleType("runner.__main__")
    """
)
OTHER_RUNNER_NAMES = src(
    """
    import types
    runner_verdicts = types.ModuleType("runner.verdicts")
    gcop_runner_main = types.ModuleType("gcop.sandbox.runner.__main__")
    """
)


def test_the_runners_modules_and_entry_points_are_never_imported_by_name(kind, tmp_path):
    cases = [Case(pytest_job(WRONG_ADD + NAMES_THE_RUNNER, id=f"names-{run}"), FAILED) for run in range(10)]
    cases += [Case(humaneval_job(WRONG_ADD + NAMES_THE_RUNNER, id=f"he-names-{run}"), FAILED) for run in range(3)]
    cases += [Case(pytest_job(WRONG_ADD + OTHER_RUNNER_NAMES, id=f"other-names-{run}"), FAILED) for run in range(3)]
    verdicts = judge_batch(kind, cases)
    for case_id, verdict in verdicts.items():
        assert '"ready"' not in (verdict.output or ""), f"{case_id}: a runner started inside the judge"
    # The next server (a new pool) starts from the runner's own bytes, whatever the samples wrote.
    if kind == "local":
        from gcop.sandbox.executors import local_runner, runner_zipapp

        assert local_runner().read_bytes() == runner_zipapp(tmp_path).read_bytes()
        judge_batch(kind, [Case(pytest_job(WRONG_ADD, id="wrong-in-the-next-server"), FAILED)])


def test_tampering_with_the_pytest_session_ends_with_the_job(kind):
    """Every pytest-style job runs in its own copy of the fork server's pre-started pytest session.
    Whatever a sample does to that session (a forging plugin, patched pytest internals, a swapped
    test module) reaches its own verdict at most: the wrong solution right after it still fails."""
    cases = []
    for attack in sorted(set(IN_PROCESS_FORGERIES) - {"always-equal-result"}):
        cases.append(Case(pytest_job(WRONG_ADD + IN_PROCESS_FORGERIES[attack], id=attack), frozenset(Status)))
        cases.append(Case(pytest_job(WRONG_ADD, id=f"after-{attack}"), FAILED))
    judge_batch(kind, cases)


def test_a_job_holds_no_descriptor_of_the_server(kind):
    """A job's judge process keeps /dev/null as stdin, its output file, the report pipe, its end
    of the sample's socket and the session's /dev/null files; never the server's job or answer
    channel, the zygote's socket, nor any other
    descriptor the server or its pre-started session opened."""
    probe = src(
        """
        import os
        def test_descriptors():
            targets = {}
            for name in os.listdir("/proc/self/fd"):
                try:
                    targets[int(name)] = os.readlink(f"/proc/self/fd/{name}")
                except OSError:
                    pass  # the descriptor listdir used, closed by now
            channels = [fd for fd, target in targets.items() if target.startswith(("pipe:", "socket:"))]
            pipes = [fd for fd in channels if targets[fd].startswith("pipe:")]
            assert len(pipes) == 1 and len(channels) == 2, targets  # the report pipe, the sample's socket
            assert targets[0] == "/dev/null", targets
            others = {fd: t for fd, t in targets.items() if fd not in channels and not t.startswith("/proc/")}
            assert set(others.values()) <= {"/dev/null", targets[1]}, targets  # /dev/null or the output
        """
    )
    judge_batch(kind, [Case(pytest_job(RIGHT_ADD, probe, id="descriptors"), PASSED)])


# --------------------------------------------------------------------------- killing the parent


KILL_ATTACKS = {
    "kill-parent": "os.kill(os.getppid(), signal.SIGKILL)",
    "kill-pid-1": "os.kill(1, signal.SIGKILL)",
    "killpg-own-group": "os.killpg(0, signal.SIGKILL)",
    "killpg-parent-group": "os.killpg(os.getpgid(os.getppid()), signal.SIGKILL)",
    "term-parent-then-kill-self": "os.kill(os.getppid(), signal.SIGTERM); os.kill(os.getpid(), signal.SIGKILL)",
}


def _kill_job(name: str, call: str, *, style: str = "pytest") -> TestJob:
    attack = f"import os, signal\ntry:\n    {call}\nexcept OSError:\n    pass\n"
    if style == "check":
        return humaneval_job(WRONG_ADD + attack, id=f"he-{name}", timeout=5)
    return pytest_job(WRONG_ADD + attack, id=name, timeout=5)


def test_killing_the_parent_fails_the_sample_only(kind):
    cases = [Case(_kill_job(name, call), FAILED) for name, call in KILL_ATTACKS.items()]
    cases.append(Case(_kill_job("kill-parent", KILL_ATTACKS["kill-parent"], style="check"), FAILED))
    # in the test body too, after pytest is well under way
    cases.append(
        Case(
            pytest_job(
                "import os, signal\ndef add(a, b):\n    os.kill(os.getppid(), signal.SIGKILL)\n    return a - b\n",
                id="kill-parent-in-test",
                timeout=5,
            ),
            FAILED,
        )
    )
    judge_batch(kind, cases)


def test_killing_everything_fails_the_sample_only(kind):
    skip_on_local(kind, "kill(-1, SIGKILL) reaches every process of the user on the host, this test run included")
    cases = [
        Case(_kill_job("kill-all", "os.kill(-1, signal.SIGKILL)"), FAILED),
        Case(_kill_job("kill-all", "os.kill(-1, signal.SIGKILL)", style="check"), FAILED),
        Case(
            pytest_job(
                "import os, signal\ndef add(a, b):\n    os.kill(-1, signal.SIGKILL)\n    return a - b\n",
                id="kill-all-in-test",
                timeout=5,
            ),
            FAILED,
        ),
    ]
    judge_batch(kind, cases)


# --------------------------------------------------------------------------- resource bombs


def test_memory_and_disk_bombs_never_pass(kind):
    tag = secrets.token_hex(6)
    tmp_bomb = f"/tmp/gcop-diskbomb-{tag}.bin"  # on the host, for the local executor
    gib = 1024**3
    memory_bomb = src(
        """
        def add(a, b):
            blob = bytearray(4 * 1024**3)  # zero-filled: every page is touched
            return a + b + blob[-1]
        """
    )
    gradual_memory_bomb = src(
        """
        def add(a, b):
            chunks = [bytearray(256 * 1024**2) for _ in range(16)]  # 4 GiB, 256 MiB at a time
            return a + b + len(chunks) - 16
        """
    )

    def disk_bomb(path: str) -> str:
        return src(
            """
            import os
            def add(a, b):
                chunk = b"x" * (1 << 20)
                with open(@PATH@, "wb") as f:
                    for _ in range(2048):
                        f.write(chunk)
                return a + b if os.path.getsize(@PATH@) == @SIZE@ else 0
            """,
            SIZE=2 * gib,
            PATH=path,
        )

    cases = [
        Case(pytest_job(memory_bomb, id="memory-bomb", timeout=5), FAILED_OR_TIMEOUT),
        Case(pytest_job(gradual_memory_bomb, id="gradual-memory-bomb", timeout=5), FAILED_OR_TIMEOUT),
        Case(humaneval_job(memory_bomb, id="he-memory-bomb", timeout=5), FAILED_OR_TIMEOUT),
        Case(pytest_job(disk_bomb("bomb.bin"), id="disk-bomb-cwd", timeout=5), FAILED_OR_TIMEOUT),
        Case(pytest_job(disk_bomb(tmp_bomb), id="disk-bomb-tmp", timeout=5), FAILED_OR_TIMEOUT),
    ]
    try:
        judge_batch(kind, cases)
    finally:
        with contextlib.suppress(FileNotFoundError):
            size = os.path.getsize(tmp_bomb)
            os.unlink(tmp_bomb)
            assert kind == "local" and size <= 64 * 1024**2, f"a {size}-byte file escaped to the host's {tmp_bomb}"


NO_FOREIGN_PROCESSES = src(
    """
    import os

    def _parent(pid):
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])

    def processes_with(marker):
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if marker.encode() in f.read():
                        found.append(int(entry))
            except OSError:
                pass  # gone meanwhile
        return found

    def _started(pid):
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])

    def _runner_processes():
        \"\"\"The runner's own: the sample zygote (PID 1's first child) and the one sample it
        serves now. A second child of the zygote would be an earlier job's sample that lived on.\"\"\"
        pids = [int(e) for e in os.listdir("/proc") if e.isdigit()]
        parents = {}
        for p in pids:
            try:
                parents[p] = _parent(p)
            except OSError:
                pass
        first = sorted((p for p, parent in parents.items() if parent == 1), key=_started)[:1]
        if not first:
            return set()
        samples = [p for p, parent in parents.items() if parent == first[0]]
        return set(first) | (set(samples) if len(samples) == 1 else set())

    def foreign_processes():
        \"\"\"Processes that are neither us, our ancestors nor the runner's own (meaningful in a PID
        namespace).\"\"\"
        mine, pid = set(), os.getpid()
        while pid > 0:
            mine.add(pid)
            pid = _parent(pid)
        mine |= _runner_processes()
        others = []
        for entry in os.listdir("/proc"):
            if entry.isdigit() and int(entry) not in mine:
                try:
                    with open(f"/proc/{entry}/cmdline", "rb") as f:
                        others.append((int(entry), f.read().replace(b"\\0", b" ").decode(errors="replace")))
                except OSError:
                    pass
        return others
    """
)


def _process_check_job(name: str, kind: str, *markers: str) -> Case:
    """A job that passes only when no process carries one of ``markers`` (and, in a container,
    when no process but itself and its ancestors exists)."""
    test = NO_FOREIGN_PROCESSES + src(
        """
        def test_nothing_left_behind():
            for marker in @MARKERS@:
                assert processes_with(marker) == [], marker
            if @STRICT@:
                assert foreign_processes() == []
        """,
        MARKERS=list(markers),
        STRICT=kind == "docker",
    )
    return Case(pytest_job(RIGHT_ADD, test, id=name), PASSED)


def test_fork_bomb_never_passes_and_leaves_nothing(kind):
    if kind == "local" and os.geteuid() == 0:
        pytest.skip(
            "local executor as root: root is exempt from RLIMIT_NPROC, so a fork bomb is bounded by "
            "nothing but the job's time limit on the host (documented weaker isolation)"
        )
    fork_bomb = src(
        """
        import os
        def add(a, b):
            while True:
                try:
                    os.fork()
                except OSError:
                    pass
        """
    )
    cases = [
        Case(pytest_job(fork_bomb, id="fork-bomb", timeout=5), FAILED_OR_TIMEOUT),
        _process_check_job("after-fork-bomb", kind, "gcop-no-such-marker"),
    ]
    judge_batch(kind, cases)


# --------------------------------------------------------------------------- time limits


def test_time_limits_are_enforced_promptly(kind):
    limit = 2.0
    cases = [
        Case(pytest_job("def add(a, b):\n    while True:\n        pass\n", id="busy-loop", timeout=limit), TIMEOUT),
        Case(pytest_job("import time\ndef add(a, b):\n    time.sleep(1000)\n", id="sleep", timeout=limit), TIMEOUT),
        Case(pytest_job("import time\ntime.sleep(1000)\n", id="sleep-at-import", timeout=limit), TIMEOUT),
        Case(humaneval_job("def add(a, b):\n    while True:\n        pass\n", id="he-busy-loop", timeout=limit), TIMEOUT),
        Case(
            pytest_job(
                src(
                    """
                    import signal, time
                    for _sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGALRM, signal.SIGXCPU):
                        signal.signal(_sig, signal.SIG_IGN)
                    def add(a, b):
                        while True:
                            time.sleep(0.01)
                    """
                ),
                id="ignore-signals",
                timeout=limit,
            ),
            TIMEOUT,
        ),
    ]
    started = time.monotonic()
    verdicts = judge_batch(kind, cases)
    elapsed = time.monotonic() - started
    for case in cases:
        verdict = verdicts[case.job.id]
        assert limit <= verdict.duration_s < limit + 2.0, (case.job.id, verdict.duration_s)
        assert "time limit" in verdict.reason
    # five limits of 2 s, five quick controls, and one sandbox start
    assert elapsed < len(cases) * (limit + 2.0) + 15.0, elapsed


SPAWN = src(
    """
    import os, shutil, signal, sys, time

    def _wait_for(marker, count):
        for _ in range(500):  # until the execs have happened
            if len(processes_with(marker)) >= count:
                return True
            time.sleep(0.01)
        return False

    def spawn_daemon(marker):
        \"\"\"Double fork, new session, exec: a daemon the job does not wait for.\"\"\"
        pid = os.fork()
        if pid == 0:
            try:
                os.setsid()
                if os.fork() == 0:
                    os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(1000)", marker])
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        return _wait_for(marker, 1)

    def spawn_many(marker, count):
        \"\"\"Many sleeping children: in our group, in groups and sessions of their own, orphaned.\"\"\"
        sleep = shutil.which("sleep")
        for n in range(count):
            if os.fork() == 0:
                try:
                    if n % 3 == 1:
                        os.setpgid(0, 0)
                    elif n % 3 == 2:
                        os.setsid()
                        signal.signal(signal.SIGHUP, signal.SIG_IGN)
                        if os.fork() != 0:
                            os._exit(0)
                    os.execv(sleep, [marker, "1000"])
                finally:
                    os._exit(0)
        return _wait_for(marker, count)
    """
)


def test_background_processes_do_not_survive_their_job(kind):
    markers = [f"gcop-daemon-{secrets.token_hex(6)}" for _ in range(3)]

    def test_source(body: str, **values: object) -> str:
        return NO_FOREIGN_PROCESSES + SPAWN + src(body, **values)

    cases = [
        # each leftover exists while its job runs (so the checks are not vacuous) ...
        Case(
            pytest_job(RIGHT_ADD, test_source("def test_daemon():\n    assert spawn_daemon(@M@)\n", M=markers[0]), id="daemon"),
            PASSED,
        ),
        Case(
            pytest_job(
                RIGHT_ADD,
                test_source("def test_daemon():\n    assert spawn_daemon(@M@)\n    time.sleep(1000)\n", M=markers[1]),
                id="daemon-timeout",
                timeout=2,
            ),
            TIMEOUT,
        ),
        Case(
            pytest_job(RIGHT_ADD, test_source("def test_many():\n    assert spawn_many(@M@, 60)\n", M=markers[2]), id="many-children"),
            PASSED,
        ),
        # ... and is gone when the next job starts
        _process_check_job("nothing-left", kind, *markers),
    ]
    judge_batch(kind, cases, controls=False)
    # and not left running on the host either
    host_view: dict[str, object] = {}
    exec(NO_FOREIGN_PROCESSES, host_view)  # noqa: S102 - our own helper source
    for marker in markers:
        assert host_view["processes_with"](marker) == [], f"processes {marker} survived on the host"


def test_a_sample_that_kills_its_runner_leaves_no_process_behind(kind, request):
    """A daemon started just before the sample kills its runner: nobody sweeps up after that job."""
    if kind == "local":
        request.applymarker(
            pytest.mark.xfail(
                strict=True,
                raises=AssertionError,
                reason="known weakness of the local executor: no PID namespace or cgroup, so the orphans of a "
                "runner the sample killed are re-parented to the host's init and keep running",
            )
        )
    marker = f"gcop-orphan-{secrets.token_hex(6)}"
    test = NO_FOREIGN_PROCESSES + SPAWN + src(
        """
        def test_orphan():
            assert spawn_daemon(@M@)
            os.kill(os.getppid(), signal.SIGKILL)
            assert False
        """,
        M=marker,
    )
    cases = [
        Case(pytest_job(RIGHT_ADD, test, id="daemon-then-kill-runner", timeout=5), FAILED),
        _process_check_job("nothing-left", kind, marker),
    ]
    host_view: dict[str, object] = {}
    exec(NO_FOREIGN_PROCESSES, host_view)  # noqa: S102 - our own helper source
    try:
        judge_batch(kind, cases, controls=False)
        assert host_view["processes_with"](marker) == [], f"processes {marker} survived on the host"
    finally:
        for pid in host_view["processes_with"](marker):  # ours: clean up what the sample left
            with contextlib.suppress(OSError):
                os.kill(pid, 9)


# --------------------------------------------------------------------------- network


@contextlib.contextmanager
def tcp_server() -> Iterator[tuple[int, list[tuple[str, int]]]]:
    """A TCP server on all of the host's addresses; yields its port and the peers it accepted."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("0.0.0.0", 0))
    server.listen(64)
    server.settimeout(0.1)
    accepted: list[tuple[str, int]] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, peer = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            accepted.append(peer)
            with conn:
                with contextlib.suppress(OSError):
                    conn.sendall(b"hello")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1], accepted
    finally:
        stop.set()
        thread.join(5)
        server.close()


def _host_addresses() -> list[str]:
    """The host's own non-loopback IPv4 address (the one it would route outwards from), if any."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # no packet is sent for UDP connect
        return [probe.getsockname()[0]]
    except OSError:
        return []
    finally:
        probe.close()


def _docker_gateway() -> str:
    try:
        import docker

        client = docker.from_env(timeout=10)
        try:
            return client.networks.get("bridge").attrs["IPAM"]["Config"][0]["Gateway"]
        finally:
            client.close()
    except Exception:  # noqa: BLE001 - the default bridge's usual gateway
        return "172.17.0.1"


def test_network_is_unreachable(kind):
    with tcp_server() as (port, accepted):
        # the server works for an ordinary process on the host
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            assert sock.recv(5) == b"hello"
        deadline = time.monotonic() + 5
        while not accepted and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(accepted) == 1
        accepted.clear()

        targets = {"loopback": ("127.0.0.1", port), "localhost": ("localhost", port), "outside": ("1.1.1.1", 80)}
        for n, address in enumerate(_host_addresses()):
            targets[f"host-address-{n}"] = (address, port)
        if kind == "docker":
            targets["bridge-gateway"] = (_docker_gateway(), port)
        cases = []
        for name, (host, target_port) in targets.items():
            test = src(
                """
                import socket
                def test_connect():
                    with socket.create_connection((@HOST@, @PORT@), timeout=2) as sock:
                        sock.settimeout(2)
                        assert sock.recv(5) == b"hello" or @PORT@ == 80
                """,
                HOST=host,
                PORT=target_port,
            )
            cases.append(Case(pytest_job(RIGHT_ADD, test, id=f"connect-{name}"), FAILED))
        if kind == "docker":
            # (local: name resolution may go through a host daemon's Unix socket, e.g. nscd)
            cases.append(
                Case(
                    pytest_job(RIGHT_ADD, "import socket\ndef test_dns():\n    assert socket.getaddrinfo('example.com', 80)\n", id="dns"),
                    FAILED,
                )
            )
        cases.append(
            Case(
                humaneval_job(
                    src(
                        """
                        import socket
                        def add(a, b):
                            socket.create_connection(("127.0.0.1", @PORT@), timeout=2).close()
                            return a + b
                        """,
                        PORT=port,
                    ),
                    id="he-connect-loopback",
                ),
                FAILED,
            )
        )
        judge_batch(kind, cases)
        time.sleep(0.2)
        assert accepted == [], f"the sandbox reached the host's server: {accepted}"


# --------------------------------------------------------------------------- host environment and files


def test_host_environment_is_not_visible(kind, monkeypatch):
    secret = f"gcop-secret-{secrets.token_hex(8)}"
    monkeypatch.setenv("GCOP_TEST_SECRET", secret)  # set before the executor starts
    sees_env = f"import os\ndef test_env():\n    assert os.environ.get('GCOP_TEST_SECRET') == {secret!r}\n"
    sees_value = f"import os\ndef test_env():\n    assert any({secret!r} in v for v in os.environ.values())\n"
    clean = src(
        """
        import os
        def test_env():
            assert not any("GCOP_TEST_SECRET" in k or @SECRET@ in v for k, v in os.environ.items())
            assert os.path.samefile(os.environ["HOME"], os.getcwd())  # the job's own environment
        """,
        SECRET=secret,
    )
    program = src(
        """
        import os
        def add(a, b):
            return a + b if os.environ.get("GCOP_TEST_SECRET") == @SECRET@ else None
        """,
        SECRET=secret,
    )
    cases = [
        Case(pytest_job(RIGHT_ADD, sees_env, id="env-var"), FAILED),
        Case(pytest_job(RIGHT_ADD, sees_value, id="env-value"), FAILED),
        Case(humaneval_job(program, id="he-env-var"), FAILED),
        Case(pytest_job(RIGHT_ADD, clean, id="env-clean"), PASSED),
    ]
    if kind == "docker":
        # every process's environment the sandbox can see (the local executor shares the host's /proc)
        proc_scan = src(
            """
            import os
            def _environ(pid):
                try:
                    with open(f"/proc/{pid}/environ", "rb") as f:
                        return f.read()
                except OSError:
                    return b""
            def test_env():
                assert any(@SECRET@.encode() in _environ(p) for p in os.listdir("/proc") if p.isdigit())
            """,
            SECRET=secret,
        )
        cases.append(Case(pytest_job(RIGHT_ADD, proc_scan, id="env-proc-scan"), FAILED))
    judge_batch(kind, cases)


def test_host_files_are_out_of_reach(kind):
    skip_on_local(kind, "the sample shares the host's file system")
    tag = secrets.token_hex(6)
    secret = f"gcop-host-secret-{tag}"
    readable = [Path(f"/tmp/gcop-host-secret-{tag}.txt"), REPO / f".gcop-host-secret-{tag}.txt"]
    escapes = [
        f"/tmp/gcop-escape-{tag}",
        f"/work/gcop-escape-{tag}",
        f"/work/../gcop-escape-{tag}",
        f"{REPO}/gcop-escape-{tag}",
        f"{REPO}/../gcop-escape-{tag}",
        f"{REPO}/tests/gcop-escape-{tag}",
        f"{Path.home()}/gcop-escape-{tag}",
    ]
    try:
        for path in readable:
            path.write_text(secret)
        cases = [
            Case(
                pytest_job(RIGHT_ADD, f"def test_read():\n    assert open({str(p)!r}).read() == {secret!r}\n", id=f"read-{n}"),
                FAILED,
            )
            for n, p in enumerate(readable)
        ]
        cases.append(
            Case(pytest_job(RIGHT_ADD, f"import os\ndef test_repo():\n    assert os.path.isfile({str(REPO / 'pyproject.toml')!r})\n", id="see-repo"), FAILED)
        )
        docker_socket = src(
            """
            import socket
            def test_docker_socket():
                for path in ("/var/run/docker.sock", "/run/docker.sock"):
                    try:
                        s = socket.socket(socket.AF_UNIX)
                        s.connect(path)
                        return
                    except OSError:
                        pass
                assert False, "no docker socket"
            """
        )
        cases.append(Case(pytest_job(RIGHT_ADD, docker_socket, id="docker-socket"), FAILED))
        writer = src(
            """
            import os
            def test_write():
                for path in @PATHS@:
                    try:
                        os.makedirs(os.path.dirname(path), exist_ok=True)
                        with open(path, "w") as f:
                            f.write("escaped")
                    except OSError:
                        pass
            """,
            PATHS=escapes,
        )
        # writes that land inside the container are allowed; what matters is the host below
        cases.append(Case(pytest_job(RIGHT_ADD, writer, id="write-escape"), PASSED))
        judge_batch(kind, cases)
        leaked = [path for path in escapes if os.path.exists(path)]
        assert leaked == [], f"files written by the sandbox appeared on the host: {leaked}"
    finally:
        for path in readable:
            path.unlink(missing_ok=True)
        for path in escapes:
            with contextlib.suppress(OSError):
                os.unlink(path)


def test_no_state_crosses_from_one_sample_to_the_next(kind):
    tag = secrets.token_hex(6)
    # the local executor shares the host's /tmp and /dev/shm: only the job's own dirs are per-job there
    places = ["leftover.txt", f"{{TMPDIR}}/leftover-{tag}"]
    if kind == "docker":
        # in the container every writable place is the job's: /tmp, /dev/shm, the work root
        places += [f"/tmp/leftover-{tag}", f"/dev/shm/leftover-{tag}", f"{{PARENT}}/leftover-{tag}"]
    common = src(
        """
        import builtins, json, os, sys, tempfile
        def where(place):
            place = place.replace("{TMPDIR}", tempfile.gettempdir())
            return place.replace("{PARENT}", os.path.dirname(os.getcwd()))
        PLACES = @PLACES@
        """,
        PLACES=places,
    )
    leave = common + src(
        """
        def leave_state():
            for place in PLACES:
                with open(where(place), "w") as f:
                    f.write("left")
            os.environ["GCOP_LEFTOVER"] = "1"
            json.GCOP_LEFTOVER = builtins.GCOP_LEFTOVER = 1
            sys.modules["gcop_leftover"] = json
            sys.path.insert(0, "/gcop-leftover")
            os.umask(0o777)
        def test_leave():
            leave_state()
            assert all(os.path.exists(where(p)) for p in PLACES)
        """
    )
    hang = leave.replace("def test_leave():\n", "def test_leave():\n    import time\n    leave_state()\n    time.sleep(1000)\n")
    check = common + src(
        """
        def test_clean():
            assert [p for p in PLACES if os.path.exists(where(p))] == []
            assert "GCOP_LEFTOVER" not in os.environ
            assert not hasattr(json, "GCOP_LEFTOVER") and not hasattr(builtins, "GCOP_LEFTOVER")
            assert "gcop_leftover" not in sys.modules and "/gcop-leftover" not in sys.path
            assert os.umask(0o022) != 0o777
            assert sorted(os.listdir(".")) == ["solution.py", "test_solution.py"]
        """
    )
    cases = [
        Case(pytest_job(RIGHT_ADD, check, id="clean-before"), PASSED),
        Case(pytest_job(RIGHT_ADD, leave, id="leave-state"), PASSED),
        Case(pytest_job(RIGHT_ADD, check, id="clean-after-pass"), PASSED),
        Case(pytest_job(RIGHT_ADD, hang, id="leave-state-and-hang", timeout=2), TIMEOUT),
        Case(pytest_job(RIGHT_ADD, check, id="clean-after-timeout"), PASSED),
    ]
    judge_batch(kind, cases, controls=False)


def test_string_hashing_is_the_same_in_every_job(kind):
    # Verdicts of code that depends on the order of a set of strings (KodCode has such trials)
    # must not change from one pool to the next: the fork server runs with PYTHONHASHSEED=0.
    check = src(
        """
        import subprocess, sys
        def test_hash_seed_is_fixed():
            assert sys.flags.hash_randomization == 0
            seeded = subprocess.run([sys.executable, "-c", "print(hash('gcop'))"], env={"PYTHONHASHSEED": "0"},
                                    capture_output=True, text=True, check=True).stdout
            assert int(seeded) == hash("gcop")
        """
    )
    judge_batch(kind, [Case(pytest_job(RIGHT_ADD, check, id="hash-seed"), PASSED)], controls=False)


# --------------------------------------------------------------------------- correct code still passes


def test_a_session_job_meets_no_warning_of_the_servers(kind):
    """A job's process must not finalize the server's objects whose descriptors it has closed:
    on Python 3.13 that raised inside the shared session, reported as an unraisable-exception
    warning in every session job's output, and under ``filterwarnings("error")`` it failed a
    correct solution."""
    test = src(
        """
        import pytest
        from solution import *

        pytestmark = pytest.mark.filterwarnings("error")

        def test_add():
            assert add(2, 3) == 5
        """
    )
    verdicts = judge_batch(kind, [Case(TestJob("pytest", RIGHT_ADD, test, id="warnings-as-errors", timeout=10), PASSED),
                                  Case(TestJob("pytest", WRONG_ADD, ADD_TEST, id="session-failure", timeout=10,
                                               session="pytest"), FAILED)])
    for verdict in verdicts.values():
        assert "warning" not in verdict.output.lower(), verdict.output[-800:]


def test_correct_code_passes_under_the_same_limits(kind):
    cases = [
        Case(
            pytest_job(
                src(
                    """
                    def big():
                        blob = bytearray(200 * 1024**2)
                        for i in range(0, len(blob), 4096):
                            blob[i] = 1
                        return sum(blob[::4096])
                    """
                ),
                "def test_big():\n    assert big() == 200 * 256\n",
                id="memory-200mb",
                timeout=30,
            ),
            PASSED,
        ),
        Case(
            pytest_job(
                src(
                    """
                    import threading
                    from concurrent.futures import ThreadPoolExecutor
                    def squares(n):
                        with ThreadPoolExecutor(8) as pool:
                            return list(pool.map(lambda x: x * x, range(n)))
                    def counted(n):
                        total, lock = [0], threading.Lock()
                        def work():
                            for _ in range(1000):
                                with lock:
                                    total[0] += 1
                        threads = [threading.Thread(target=work) for _ in range(n)]
                        for t in threads:
                            t.start()
                        for t in threads:
                            t.join()
                        return total[0]
                    """
                ),
                "def test_threads():\n    assert squares(100)[-1] == 99 * 99\n    assert counted(16) == 16000\n",
                id="threads",
            ),
            PASSED,
        ),
        Case(
            pytest_job(
                src(
                    """
                    import subprocess, sys
                    def child_output():
                        return subprocess.run([sys.executable, "-c", "print(1)"], capture_output=True, text=True, check=True).stdout
                    """
                ),
                "def test_subprocess():\n    assert child_output() == '1\\n'\n",
                id="subprocess",
            ),
            PASSED,
        ),
        Case(
            pytest_job(
                src(
                    """
                    import multiprocessing
                    def square(x):
                        return x * x
                    def squares():
                        with multiprocessing.Pool(2) as pool:
                            return pool.map(square, range(10))
                    """
                ),
                "def test_pool():\n    assert squares()[-1] == 81\n",
                id="multiprocessing",
                timeout=30,
            ),
            PASSED,
        ),
        Case(
            pytest_job(
                src(
                    """
                    import os, tempfile
                    def roundtrip(text):
                        with tempfile.NamedTemporaryFile("w", delete=False) as f:
                            f.write(text)
                        with open(f.name) as g:
                            back = g.read()
                        os.unlink(f.name)
                        with tempfile.TemporaryDirectory() as d, open(os.path.join(d, "x"), "w") as h:
                            h.write(back)
                        with open("in_cwd.txt", "w") as h:
                            h.write(back)
                        with open("in_cwd.txt") as h:
                            return h.read()
                    """
                ),
                "def test_files(tmp_path):\n    (tmp_path / 'a.txt').write_text('hi')\n"
                "    assert (tmp_path / 'a.txt').read_text() == 'hi'\n    assert roundtrip('abc') == 'abc'\n",
                id="temp-files",
            ),
            PASSED,
        ),
        Case(
            pytest_job(
                "def ident(x):\n    return x\n",
                src(
                    """
                    import pytest

                    @pytest.fixture
                    def base():
                        yield 10

                    @pytest.mark.parametrize("x", [1, 2, 3])
                    def test_param(x, base, capsys):
                        print(x)
                        assert ident(x) + base == x + 10
                        assert capsys.readouterr().out == f"{x}\\n"

                    class TestGroup:
                        def test_raises(self):
                            with pytest.raises(ZeroDivisionError):
                                1 / 0

                        def test_approx(self):
                            assert 0.1 + 0.2 == pytest.approx(0.3)
                    """
                ),
                id="pytest-features",
            ),
            PASSED,
        ),
        Case(
            humaneval_job(
                "from typing import List\nimport math\n\n\ndef _helper(a: int) -> int:\n    return a\n\n\n"
                "def add(a: int, b: int) -> int:\n    print('x' * 100 + '\\n' * 10, end='')\n    return _helper(a) + b\n",
                ADD_CHECK + "\nfor _ in range(20000):\n    print('lots of output')\n",
                id="he-correct-with-output",
            ),
            PASSED,
        ),
    ]
    verdicts = judge_batch(kind, cases)
    assert verdicts["pytest-features"].tests_passed == 5


@pytest.mark.parametrize("module", ["numpy", "scipy"])
def test_scientific_stack_passes(kind, module):
    if kind == "local" and importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed in this environment (the sandbox image has it)")
    solutions = {
        "numpy": (
            "import numpy as np\ndef solve(a, b):\n    return np.linalg.solve(np.array(a, float), np.array(b, float)).tolist()\n",
            "import numpy as np\ndef test_solve():\n    assert np.allclose(solve([[2, 0], [0, 4]], [2, 8]), [1, 2])\n",
        ),
        "scipy": (
            "from scipy import optimize, special\ndef root():\n    return optimize.brentq(lambda x: x * x - 2, 0, 2)\n"
            "def comb(n, k):\n    return int(special.comb(n, k, exact=True))\n",
            "import math\ndef test_scipy():\n    assert math.isclose(root(), math.sqrt(2), rel_tol=1e-9)\n    assert comb(5, 2) == 10\n",
        ),
    }
    solution, test = solutions[module]
    judge_batch(kind, [Case(pytest_job(solution, test, id=module, timeout=30), PASSED)])
