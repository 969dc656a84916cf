"""The environment of a job's processes: exactly ``job_environment`` of the job's directory, in its
order, for the judge and for the sample, in every kind of job, whether it is the first job of a
sandbox or a later one, and in a runner that judges one job and exits (``once``).

The server and the zygote keep their own environment in a job's shape, so that a forked process
only sets its directory (``set_environment``): what must not happen is that something of theirs
(the container's ``PYTHONPATH``, ``GCOP_WORK_ROOT``, ``HOSTNAME``, a local run's whole
environment) or of an earlier job reaches a job, or that the names come in another order.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from gcop.sandbox.executors import local_runner
from gcop.sandbox.protocol import Status, TestJob
from gcop.sandbox.runner.jobprocess import job_environment
from tests.sandbox.test_sandbox_attacks import (
    kind,  # noqa: F401 - the executor fixture (docker, local)
    run_jobs,
)

#: What a job's processes must see, with "@DIR@" for the job's directory and "@PYTEST@" for the
#: version of the pytest the judge runs (the image's may differ from this one's).
SAMPLE = list(job_environment("@DIR@").items())
JUDGE = SAMPLE
PYTEST_JUDGE = [*SAMPLE, ("PYTEST_VERSION", "@PYTEST@")]

SOLUTION = "import os\n\n\ndef env():\n    return [[list(pair) for pair in os.environ.items()], os.getcwd()]\n"

#: The checks, shared by both styles of test: the judge's own environment, then the sample's.
CHECKS = f'''
import os


def _environment():
    # by name: a test that names os.environ is judged in the sample's process (in_process_reason)
    return getattr(os, "environ")


def _expected(template, directory, pytest_version=""):
    return [[name, value.replace("@DIR@", directory).replace("@PYTEST@", pytest_version)] for name, value in template]


def _check(env, judge_template, pytest_version=""):
    judge = [[name, value] for name, value in _environment().items() if name != "PYTEST_CURRENT_TEST"]
    assert judge == _expected(judge_template, os.getcwd(), pytest_version), judge
    sample, sample_directory = env()
    assert sample_directory == os.getcwd()
    assert sample == _expected({SAMPLE!r}, sample_directory), sample
'''

CHECK_TEST = CHECKS + f"\n\ndef check(candidate):\n    _check(candidate, {JUDGE!r})\n"
PYTEST_TEST = CHECKS + f'''

def test_environment():
    assert _environment()["PYTEST_CURRENT_TEST"].startswith("test_solution.py::test_environment")
    assert _environment()["PYTEST_VERSION"]
    _check(env, {PYTEST_JUDGE!r}, _environment()["PYTEST_VERSION"])
'''
#: In a pytest session the test may ask pytest its version (judged plainly, it may not).
SESSION_TEST = PYTEST_TEST + """

import pytest


def test_the_version_is_pytests():
    assert _environment()["PYTEST_VERSION"] == pytest.__version__
"""


def jobs(round_: int) -> list[TestJob]:
    return [
        TestJob("check", SOLUTION, CHECK_TEST, entry_point="env", id=f"check-{round_}"),
        TestJob("pytest", SOLUTION, PYTEST_TEST, id=f"plain-{round_}"),
        TestJob("pytest", SOLUTION, SESSION_TEST, id=f"session-{round_}", session="pytest"),
    ]


def test_the_checks_see_a_wrong_environment() -> None:
    """The test's own checks fail on an environment that is not the job's (not vacuous)."""
    namespace: dict = {}
    exec(compile(CHECKS, "checks", "exec"), namespace)  # noqa: S102 - this test's own code
    with pytest.raises(AssertionError):
        namespace["_check"](lambda: [[], "/"], JUDGE)


#: A sample that writes to its environment, through ``os.environ`` and behind its back (libc's
#: ``setenv``), and a judge's test that does: a message to the jobs after it, were the
#: environment of the server or the zygote to keep it.
WRITER = (
    "import ctypes, os\n"
    "os.environ['GCOP_MESSAGE'] = 'sample'\n"
    "os.environ['HOME'] = '/elsewhere'\n"
    "ctypes.CDLL(None).setenv(b'GCOP_MESSAGE_C', b'sample', 1)\n\n"
    "def env():\n    return [[], '']\n"
)
WRITER_CHECK = "import os\n\n\ndef check(candidate):\n    getattr(os, 'environ')['GCOP_MESSAGE_JUDGE'] = 'judge'\n    candidate()\n"


def test_every_process_of_every_job_sees_exactly_the_job_environment(kind: str) -> None:  # noqa: F811
    # Three rounds in one warm sandbox: the first job of each kind, and the ones after it, each
    # round after jobs that wrote to their own environment.
    def writers(round_: int) -> list[TestJob]:
        return [TestJob("check", WRITER, WRITER_CHECK, entry_point="env", id=f"writer-check-{round_}"),
                TestJob("pytest", WRITER, "def test_writes():\n    env()\n", id=f"writer-pytest-{round_}")]

    batch = [job for round_ in range(3) for job in [*writers(round_), *jobs(round_)]]
    verdicts = run_jobs(kind, batch, workers=1)
    judged = [(job, verdict) for job, verdict in zip(batch, verdicts, strict=True) if not job.id.startswith("writer")]
    assert len(judged) == 9
    batch, verdicts = [job for job, _ in judged], [verdict for _, verdict in judged]
    for job, verdict in zip(batch, verdicts, strict=True):
        assert verdict.status is Status.PASSED, (job.id, verdict.reason, verdict.output[-1500:])
    sessions = {job.id.split("-")[0]: verdict.extra["boundary"].get("session") for job, verdict in zip(batch, verdicts, strict=True)}
    assert sessions == {"check": None, "plain": "none", "session": None}  # each kind judged its way


@pytest.mark.parametrize("job", jobs(0), ids=lambda job: job.id)
def test_a_runner_that_judges_one_job_sets_the_same_environment(job: TestJob) -> None:
    """``runner once`` (one job, then exit): the job's processes start from the environment the
    runner was started with, not from one in a job's shape."""
    done = subprocess.run(
        [sys.executable, str(local_runner()), "once", "--isolation", "local"],
        input=json.dumps(job.to_wire()), capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "SOMETHING_OF_THE_CALLERS": "1"},
    )
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["status"] == "passed", (answer.get("reason"), answer.get("output", "")[-1500:], done.stderr[-1500:])
