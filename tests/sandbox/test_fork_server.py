"""The fork server's shared pytest session (``gcop.sandbox.runner._PytestForkServer``), talked to
as the executors talk to it: ``serve`` over stdin/stdout, here with local isolation.

Each job must be judged exactly as a whole pytest session of its own would judge it, must get
its own output and timing, and must leave the server as it found it; a server whose session
cannot start must still judge every job, the slow way.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gcop.sandbox.executors import RUNNER_PACKAGE, VERDICT_HASH_SEED, local_runner

RIGHT = "def add(a, b):\n    return a + b\n"
WRONG = "def add(a, b):\n    print('sample says hi')\n    return a - b\n"
TEST = "def test_add():\n    assert add(2, 3) == 5\n"


def job(solution: str, id: str, test: str = TEST) -> dict:
    return {"id": id, "style": "pytest", "solution": solution, "test": test, "timeout": 10}


JOBS = [
    job(RIGHT, "right"),
    job(WRONG, "wrong"),
    job(RIGHT, "two-tests", test=TEST + "\nclass TestMore:\n    def test_more(self, tmp_path, capsys):\n        print('x')\n        assert capsys.readouterr().out == 'x\\n'\n"),
    job(RIGHT, "skipped", test="import pytest\n@pytest.mark.skip\ndef test_add():\n    assert add(2, 3) == 5\n"),
    {"id": "he", "style": "check", "solution": RIGHT, "test": "def check(f):\n    assert f(1, 2) == 3\n", "entry_point": "add", "timeout": 10},
    job(RIGHT, "right-again"),
]
EXPECTED = {"right": "passed", "wrong": "failed", "two-tests": "passed", "skipped": "failed", "he": "passed", "right-again": "passed"}


class Server:
    """The runner's ``serve --isolation local`` in a subprocess, one job at a time."""

    def __init__(self, work_root: Path, *, without_session: bool = False, patch: str = "") -> None:
        self.work_root = work_root
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GCOP_WORK_ROOT": str(work_root),
            "PYTHONHASHSEED": VERDICT_HASH_SEED,
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        if without_session:
            # The session cannot start (as when pytest refuses its command line): every job then
            # runs a whole pytest session of its own.
            patch = "runner.forkserver._PytestForkServer.serve = lambda self: False"
        if patch:
            code = (
                f"import sys; sys.path.insert(0, {str(RUNNER_PACKAGE.parent)!r}); import runner, runner.forkserver\n"
                f"{patch}\nrunner.main(['serve', '--isolation', 'local'])"
            )
            command = [sys.executable, "-c", code]
        else:
            command = [sys.executable, "-P", str(local_runner()), "serve", "--isolation", "local"]
        self.proc = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=work_root
        )
        self.hello = self._read()

    def _read(self) -> dict:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, f"the server ended: {self.proc.stderr.read().decode() if self.proc.stderr else ''}"
        return json.loads(line)

    def judge(self, job: dict) -> dict:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(job).encode() + b"\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> tuple[int, str]:
        assert self.proc.stdin is not None and self.proc.stderr is not None
        self.proc.stdin.close()
        code = self.proc.wait(timeout=30)
        return code, self.proc.stderr.read().decode()


@pytest.fixture
def work_root(tmp_path: Path) -> Path:
    root = tmp_path / "work"
    root.mkdir()
    return root


def test_the_server_starts_one_session_and_each_job_gets_a_clean_copy(work_root):
    server = Server(work_root)
    assert server.hello["ready"]
    answers = {j["id"]: server.judge(j) for j in JOBS}
    assert {k: a["status"] for k, a in answers.items()} == EXPECTED
    assert answers["two-tests"]["tests_passed"] == 2
    assert "skipped" in answers["skipped"]["reason"]
    # The job's output reaches its answer: the sample's print and pytest's own report.
    wrong = answers["wrong"]
    assert wrong["reason"] == "test_add call: failed: assert add(2, 3) == 5 failed"
    assert "sample says hi" in wrong["output"] and "1 failed" in wrong["output"]
    assert "sample says hi" not in answers["right-again"]["output"]
    code, stderr = server.close()
    assert code == 0, stderr
    assert list(work_root.iterdir()) == [], "the server left files behind"


def test_a_job_reports_its_own_duration_not_the_sessions(work_root):
    server = Server(work_root)
    time.sleep(2.5)  # the session is now 2.5 s old
    answer = server.judge({**job(WRONG, "late"), "session": "pytest"})  # a plain module would skip the session
    server.close()
    reported = re.search(r"1 failed in ([0-9.]+)s", answer["output"])
    assert reported, answer["output"]
    assert float(reported.group(1)) < 2.0, answer["output"]


def test_a_server_without_a_session_judges_every_job_the_same(work_root):
    with_session = Server(work_root)
    expected = [with_session.judge(j) for j in JOBS]
    with_session.close()
    server = Server(work_root, without_session=True)
    answers = [server.judge(j) for j in JOBS]
    code, stderr = server.close()
    assert code == 0 and "could not start a shared pytest session" in stderr
    keys = ("id", "status", "reason", "tests_collected", "tests_passed")
    assert [{k: a[k] for k in keys} for a in answers] == [{k: a[k] for k in keys} for a in expected]


NO_PYTEST_YET = "def check(f):\n    import sys\n    assert f(1, 2) == 3\n    assert 'pytest' not in sys.modules\n"


def test_a_local_server_imports_pytest_before_any_job(work_root):
    """A local run starts its shared pytest session before it reads a job: there a sample can
    write wherever its user can, so nothing is imported after samples have run. (In a container
    the server waits for the first pytest-style job: see test_cross_job_channels.)"""
    server = Server(work_root)
    check = {"style": "check", "solution": RIGHT, "test": NO_PYTEST_YET, "entry_point": "add", "timeout": 10}
    first = server.judge({**check, "id": "check-first"})
    code, stderr = server.close()
    assert code == 0, stderr
    assert first["status"] == "failed" and "assert 'pytest' not in sys.modules" in first["output"], first


def test_a_failure_of_the_server_itself_ends_it_loudly(work_root):
    """Not a job's failure but the server's (here: cleaning up after the second job fails). The
    server must not carry on inside a broken session, nor fail quietly: it says why on stderr
    and exits non-zero, which the executors treat as a crashed sandbox (replaced, job retried)."""
    patch = (
        "_clean, _calls = runner.Runner._clean, []\n"
        "def _failing_clean(self, workdir):\n"
        "    _calls.append(workdir)\n"
        "    if len(_calls) == 2:\n"
        "        raise OSError('disk on fire')\n"
        "    _clean(self, workdir)\n"
        "runner.Runner._clean = _failing_clean"
    )
    server = Server(work_root, patch=patch)
    assert server.judge(job(RIGHT, "first"))["status"] == "passed"
    assert server.proc.stdin is not None
    server.proc.stdin.write(json.dumps(job(RIGHT, "second")).encode() + b"\n")
    server.proc.stdin.flush()
    assert server.proc.stdout is not None and server.proc.stdout.readline() == b""  # no answer
    code, stderr = server.close()
    assert code == 1
    assert "OSError: disk on fire" in stderr and "Traceback" in stderr
