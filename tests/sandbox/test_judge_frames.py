"""The judge's running code is out of the sample's reach: no frame, code object or traceback of the
judge crosses the boundary, not even as a handle.

Found by a review of the image's move to Python 3.13: a test that hands the solution a generator
expression gives it a handle to a judge object whose public attributes lead, name by name, to the
judge's stack (``gi_frame``, ``f_back``, ``f_code``, ``f_locals``: none starts with ``_``). On any
Python the sample could read the test's expected values there (``f_code.co_consts``); on 3.13 a
frame's ``f_locals`` writes through to the frame (PEP 667), so it could also rewrite the test's
locals, or the plain judge's report while it is being built, and pass a whole job it fails.
Each attack below is a completion a policy would learn; each must fail, in one warm sandbox, with
an honest solution of the same test passing beside it.
"""

from __future__ import annotations

import pytest

from gcop.sandbox.protocol import TestJob
from tests.sandbox.test_sandbox_attacks import (
    FAILED,
    PASSED,
    Case,
    judge_batch,
    kind,  # noqa: F401 - the executor fixture (docker, local)
    src,
)

pytestmark = pytest.mark.slow

#: The test hands the solution a generator whose body calls the solution back: while ``square``
#: runs, the judge's generator frame is live and its ``f_back`` is the test's frame.
SUM_OF_SQUARES = src(
    """
    from solution import *

    def test_sum_of_squares():
        expected = 30
        assert total(square(x) for x in range(1, 5)) == expected
    """
)
HONEST = "def square(x):\n    return x * x\n\ndef total(values):\n    return sum(values)\n"

#: Reads the expected value from the test's code object (the attack that worked on 3.11 too).
READER = src(
    """
    _generators = []
    _answers = []

    def square(x):
        if _generators and not _answers:
            frame = _generators[0].gi_frame.f_back
            while frame is not None:
                if frame.f_code.co_name == "test_sum_of_squares":
                    _answers.extend(c for c in frame.f_code.co_consts if type(c) is int)
                    break
                frame = frame.f_back
        return x

    def total(values):
        _generators.append(values)
        for _ in values:
            pass
        return max(_answers) if _answers else -1  # the constants are 30, 1 and 5
    """
)

#: Rewrites the test's own local (3.13's write-through f_locals) so that any answer is right.
REWRITER = src(
    """
    _generators = []

    def square(x):
        if _generators:
            frame = _generators[0].gi_frame.f_back
            while frame is not None:
                if frame.f_code.co_name == "test_sum_of_squares":
                    frame.f_locals["expected"] = "forged"
                    break
                frame = frame.f_back
        return x

    def total(values):
        _generators.append(values)
        for _ in values:
            pass
        return "forged"
    """
)

#: A second test it cannot pass by value, so only a forged report passes the job: it replaces the
#: plain judge's report and its failure count while the report is being built.
TWO_TESTS = SUM_OF_SQUARES + "\n\ndef test_factorial():\n    assert factorial(10) == 3628800\n"
REPORT_FORGER = src(
    """
    _generators = []

    class _NoFailures:
        def __getitem__(self, key):
            return 0
        def __setitem__(self, key, value):
            pass
        def items(self):
            return []

    def square(x):
        if _generators:
            frame = _generators[0].gi_frame.f_back
            while frame is not None:
                if frame.f_code.co_name == "run_plain":
                    ids = ["x.py::test_sum_of_squares", "x.py::test_factorial"]
                    frame.f_locals["report"] = {
                        "return": 0, "finished": False, "exitstatus": None, "collect_errors": [], "collected": ids,
                        "reports": [[i, when, "passed", ""] for i in ids for when in ("setup", "call", "teardown")],
                    }
                    frame.f_locals["counts"] = _NoFailures()
                    break
                frame = frame.f_back
            _generators.clear()
        return x

    def total(values):
        _generators.append(values)
        for _ in values:
            pass
        return 0

    def factorial(n):
        return 0
    """
)


def test_the_sample_cannot_walk_the_judges_frames(kind):
    cases = [Case(TestJob("pytest", HONEST, SUM_OF_SQUARES, id="honest", timeout=10), PASSED)]
    for session in (None, "pytest"):  # judged plainly, and in the shared pytest session
        mode = session or "plain"
        cases += [
            Case(TestJob("pytest", READER, SUM_OF_SQUARES, id=f"reader-{mode}", timeout=10, session=session), FAILED),
            Case(TestJob("pytest", REWRITER, SUM_OF_SQUARES, id=f"rewriter-{mode}", timeout=10, session=session), FAILED),
            Case(TestJob("pytest", HONEST, SUM_OF_SQUARES, id=f"honest-after-{mode}", timeout=10, session=session), PASSED),
        ]
    cases.append(Case(TestJob("pytest", REPORT_FORGER, TWO_TESTS, id="report-forger", timeout=10), FAILED))
    verdicts = judge_batch(kind, cases)
    # They fail because the walk is refused (the judge answers the sample "bad request", and says
    # no more), not because the frames were somewhere else.
    for job_id in ("reader-plain", "reader-pytest", "rewriter-plain", "rewriter-pytest", "report-forger"):
        output = verdicts[job_id].output
        assert "bad request" in output and "gi_frame.f_back" in output, output[-800:]
    assert verdicts["report-forger"].tests_passed == 0, verdicts["report-forger"]


def test_a_frame_never_leaves_the_judge_even_as_an_argument(kind):
    """A test that passes one of its frames to the solution has it refused at the boundary: the
    test fails, and says why."""
    test = src(
        """
        import sys
        from solution import *

        def test_frame():
            assert describe(sys._getframe()) == "frame"
        """
    )
    describe = "def describe(value):\n    return type(value).__name__\n"
    verdicts = judge_batch(kind, [Case(TestJob("pytest", describe, test, id="frame-argument", timeout=10), FAILED)])
    verdict = verdicts["frame-argument"]
    assert "the judge's frame objects never cross to the sample" in verdict.output, verdict.output[-800:]
