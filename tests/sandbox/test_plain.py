"""Pytest-style modules judged without a pytest session (``runner.plain``).

The rule is equivalence: a module judged plainly gets the verdict a pytest session gives it, so
the tests that run jobs judge each one both ways (``"session": "pytest"`` forces the session) and
compare what a verdict is made of: status, tests collected and passed, which tests passed.
Modules that use anything of pytest's beyond ``raises``/``approx`` must go to pytest, and a
sample must not find in the plain judge a pass that pytest would refuse.
"""

from __future__ import annotations

import ast
import dataclasses
import sys
import types
from pathlib import Path

import pytest

from gcop.sandbox.protocol import Status, TestJob, Verdict
from gcop.sandbox.runner.plain import collect, plain_reason
from tests.conftest import SHARED_DATA, needs_shared_data
from tests.sandbox.test_fork_server import Server
from tests.sandbox.test_sandbox_attacks import (
    kind,  # noqa: F401 - the executor fixture (docker, local)
    run_jobs,
)

PLAIN = '''from solution import *
import pytest
import math


def helper(x):
    return x * 2


def test_values():
    assert add(2, 3) == 5
    assert helper(1) == 2


def test_raises():
    with pytest.raises(TypeError):
        add(1, None)
    assert add(0.1, 0.2) == pytest.approx(0.3)


if __name__ == "__main__":
    pytest.main([__file__])
'''


@pytest.fixture
def work_root(tmp_path: Path) -> Path:
    root = tmp_path / "work"
    root.mkdir()
    return root


def reason(source: str) -> str | None:
    return plain_reason(ast.parse(source))


def test_a_module_using_nothing_of_a_sessions_is_plain():
    assert reason(PLAIN) is None


@pytest.mark.parametrize(("source", "why"), [
    ("def test_a(tmp_path):\n    pass\n", "takes arguments (fixtures)"),
    ("def test_a(n=3):\n    pass\n", "takes arguments"),
    ("import pytest\n@pytest.mark.parametrize('x', [1])\ndef test_a(x):\n    pass\n", "decorated"),
    ("import pytest\n@pytest.fixture(autouse=True)\ndef setup():\n    pass\ndef test_a():\n    pass\n", "decorated"),
    ("class TestA:\n    def test_a(self):\n        pass\n", "test class TestA"),
    ("import unittest\nclass Cases(unittest.TestCase):\n    def test_a(self):\n        pass\n", "unittest"),
    ("def setup_module():\n    pass\ndef test_a():\n    pass\n", "setup_module"),
    ("import pytest\npytestmark = pytest.mark.skip\ndef test_a():\n    pass\n", "pytestmark"),
    ("def test_a():\n    pass\ntest_a.__test__ = False\n", "__test__"),
    ("async def test_a():\n    pass\n", "async"),
    ("def test_a():\n    yield 1\n", "generator"),
    ("import pytest\ndef test_a():\n    pytest.skip('no')\n", "pytest beyond raises and approx"),
    ("from pytest import fixture\ndef test_a():\n    pass\n", "beyond raises and approx"),
    ("import _pytest.outcomes\ndef test_a():\n    pass\n", "_pytest"),
    ("import pytest as pt\ndef test_a():\n    pt.skip('no')\n", "only `import pytest` is followed"),
    ("def test_a():\n    globals()['test_b'] = print\n", "calls globals"),
    ("import warnings\ndef test_a():\n    pass\n", "warnings"),
    ("import logging\ndef test_a():\n    pass\n", "logging"),
    ("import sys\ndef test_a():\n    assert sys.stdout\n", "stdout"),
    ("import os\ndef test_a():\n    assert os.environ\n", "environ"),
    ("def test_a():\n    input()\n", "calls input"),
    ("def walk(n):\n    return walk(n - 1) if n else 0\ndef test_a():\n    assert walk(3) == 0\n", "walk calls itself"),
    ("from os.path import join as test_join\ndef test_a():\n    pass\n", "test_join is bound"),
    ("def test_a():\n    pass\ntest_b = test_a\n", "test_b is bound"),
    ("def pytest_generate_tests(metafunc):\n    pass\ndef test_a():\n    pass\n", "pytest_generate_tests"),
    # found by a review: pytest looks names up on the module (__test__, setup_module)...
    ("def __getattr__(name):\n    return None\ndef test_a():\n    pass\n", "defines __getattr__"),
    # ... and a function can bind a test at run time
    ("import functools\ndef check(a):\n    assert a\ndef register():\n    global test_made\n"
     "    test_made = functools.partial(check, 1)\nregister()\ndef test_a():\n    pass\n", "global test_made"),
])
def test_what_needs_a_session_goes_to_pytest(source, why):
    found = reason(source)
    assert found is not None and why in found, found


def test_on_a_python_whose_session_depth_was_never_measured_every_module_keeps_the_session(monkeypatch):
    # Where the session's stack depth is unknown, a plain judge could meet the recursion limit
    # elsewhere than pytest does: only the measured versions judge plainly.
    from gcop.sandbox.runner import plain

    assert reason(PLAIN) is None
    monkeypatch.setattr(plain.sys, "version_info", (3, 12, 0, "final", 0))
    found = reason(PLAIN)
    assert found is not None and "never measured for Python 3.12" in found, found


def test_the_images_python_is_one_the_plain_judge_is_measured_for():
    from gcop.sandbox import build
    from gcop.sandbox.runner.plain import SESSION_DEPTHS

    registry_python = tuple(int(part) for part in build.DEFAULT_BASE.split(":")[1].split("-")[0].split("."))
    assert registry_python == build.DEBIAN_PYTHON, "both ways of building the image give one Python"
    assert build.DEBIAN_PYTHON in SESSION_DEPTHS
    assert build.DEBOOTSTRAP_BASE.endswith(build.DEBIAN_SUITE)


def test_a_module_whose_test_flag_is_false_has_no_tests_as_under_pytest():
    module = types.ModuleType("test_solution")
    exec("def test_a():\n    pass\n", module.__dict__)  # noqa: S102
    module.__getattr__ = lambda name: None  # type: ignore[method-assign]  # what pytest's getattr meets
    assert collect(module) == ([], None)


def test_collect_takes_what_pytest_takes_in_definition_order():
    module = types.ModuleType("test_solution")
    exec(  # noqa: S102 - a module built here, as the judge imports one
        "from os.path import join as test_join\n"  # imported: pytest leaves it
        "def test_b():\n    pass\n"
        "def helper():\n    pass\n"
        "def test_a():\n    pass\n"
        "test_value = 3\n",  # not callable: not a test
        module.__dict__,
    )
    tests, problem = collect(module)
    assert problem is None and [name for name, _ in tests] == ["test_b", "test_a"]


@pytest.mark.parametrize(("source", "problem"), [
    ("class TestA:\n    pass\n", "TestA is a test class"),
    ("def helper():\n    pass\nhelper.__test__ = True\n", "not a plain test function"),
    ("def test_a():\n    yield 1\n", "not a plain test function"),
    ("import functools\ndef f():\n    pass\ntest_a = functools.partial(f)\n", "not a plain function"),
])
def test_at_run_time_a_test_the_tree_did_not_announce_is_a_collection_error(source, problem):
    module = types.ModuleType("test_solution")
    exec(source, module.__dict__)  # noqa: S102
    tests, found = collect(module)
    assert tests == [] and found is not None and problem in found, found


# --------------------------------------------------------------------------- both ways, one server

ADD = "def add(a, b):\n    return a + b\n"
WRONG = "def add(a, b):\n    print('sample says hi')\n    return a - b\n"
# input() in the sample is served by the judge: in a judge forked from the shared session it
# meets the end of the job's /dev/null (EOFError), not pytest's refusing reader (OSError).
READS = "def add(a, b):\n    try:\n        input()\n    except EOFError:\n        return a + b\n    return 0\n"
CASES = {
    "right": (ADD, PLAIN),
    "wrong": (WRONG, PLAIN),
    "reads stdin": (READS, "from solution import *\n\ndef test_add():\n    assert add(2, 3) == 5\n"),
    "raises": (ADD, "from solution import *\n\ndef test_add():\n    assert add('a', 1)\n"),
    "missing name": (ADD, "from solution import sub\n\ndef test_sub():\n    assert sub(3, 2) == 1\n"),
    "no tests": (ADD, "from solution import *\n\nVALUE = 3\n"),
    "returns": (ADD, "from solution import *\n\ndef test_add():\n    return add(1, 1)\n"),
    "exits": (ADD, "import sys\nfrom solution import *\n\ndef test_add():\n    sys.exit(0)\n"),
    "twice": (ADD, "from solution import *\n\ndef test_add():\n    assert False\n\ndef test_add():\n    assert add(1, 1) == 2\n"),
    "module state": (ADD, "from solution import *\nSEEN = []\n\ndef test_a():\n    SEEN.append(1)\n\n"
                          "def test_b():\n    assert SEEN == [1]\n"),
}
EXPECTED = {"right": "passed", "wrong": "failed", "reads stdin": "passed", "raises": "failed",
            "missing name": "failed", "no tests": "failed", "returns": "passed", "exits": "failed",
            "twice": "passed", "module state": "passed"}


def _essentials(verdict: Verdict) -> tuple:
    return (verdict.status, verdict.tests_collected, verdict.tests_passed, tuple(verdict.extra.get("passed_tests") or ()))


def _verdict(answer: dict) -> tuple:
    return _essentials(Verdict.from_wire(answer))


def test_each_case_gets_the_verdict_a_pytest_session_gives_it(work_root):
    server = Server(work_root)
    try:
        for name, (solution, test) in CASES.items():
            job = {"id": name, "style": "pytest", "solution": solution, "test": test, "timeout": 10}
            plain, session = server.judge(job), server.judge({**job, "session": "pytest"})
            assert (plain.get("boundary") or {}).get("session") == "none", (name, plain)
            assert "session" not in (session.get("boundary") or {}), (name, session)
            assert _verdict(plain) == _verdict(session), (name, plain["reason"], session["reason"])
            assert plain["status"] == EXPECTED[name], (name, plain["reason"])
        wrong = server.judge({"id": "w", "style": "pytest", "solution": WRONG, "test": PLAIN, "timeout": 10})
        assert wrong["reason"] == "test_values call: failed: assert add(2, 3) == 5 failed"
        assert "sample says hi" in wrong["output"]  # a failure shows what its test captured
    finally:
        code, stderr = server.close()
    assert code == 0, stderr


# A sample that raises, through the boundary, what pytest's session treats as other than a
# failure (a skip, an expected failure, the end of the session), or what Python treats as the
# end of the program; and one that prints a pytest summary of its own.
OUTCOME_RAISERS = {
    "skip": "import pytest\ndef add(a, b):\n    pytest.skip('not today')\n",
    "xfail": "import pytest\ndef add(a, b):\n    pytest.xfail('known')\n",
    "exit": "import pytest\ndef add(a, b):\n    pytest.exit('done', returncode=0)\n",
    "interrupt": "def add(a, b):\n    raise KeyboardInterrupt\n",
    "system exit": "def add(a, b):\n    raise SystemExit(0)\n",
    "generator exit": "def add(a, b):\n    raise GeneratorExit\n",
    "base exception": "class Stop(BaseException):\n    pass\ndef add(a, b):\n    raise Stop()\n",
    "prints a pass": "def add(a, b):\n    print('===== 2 passed in 0.01s =====')\n    return 0\n",
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(OUTCOME_RAISERS))
def test_a_sample_raising_a_sessions_outcome_never_passes_ten_times_in_one_server(work_root, name):
    server = Server(work_root)
    try:
        job = {"id": name, "style": "pytest", "solution": OUTCOME_RAISERS[name], "test": PLAIN, "timeout": 10}
        answers = [server.judge({**job, "id": f"{name}-{n}"}) for n in range(10)]
        session = server.judge({**job, "session": "pytest"})
        assert [a["status"] for a in answers] == ["failed"] * 10, [a["reason"] for a in answers]
        assert all((a.get("boundary") or {}).get("session") == "none" for a in answers)
        assert session["status"] == "failed" and _verdict(answers[-1]) == _verdict(session)
        # the server is unharmed: the right solution still passes after them
        right = server.judge({**job, "id": "right", "solution": ADD})
        assert right["status"] == "passed", right["reason"]
    finally:
        code, stderr = server.close()
    assert code == 0, stderr


# --------------------------------------------------------------------------- through the executors


def _both_ways(kind: str, jobs: list[TestJob]) -> tuple[list, list]:
    in_a_session = [dataclasses.replace(job, id=f"{job.id}-in-a-session", session="pytest") for job in jobs]
    verdicts = run_jobs(kind, jobs + in_a_session, workers=2)
    return verdicts[: len(jobs)], verdicts[len(jobs):]


@pytest.mark.slow
@needs_shared_data
def test_the_kodcode_sample_and_its_recorded_trials_get_the_same_verdicts_either_way(kind):
    """Every reference solution of the local KodCode sample and every recorded trial (model
    solutions, right and wrong, with KodCode's own verdicts), judged plainly where possible and
    all in a pytest session: the same status, counts and passing tests, job by job."""
    from gcop.evals.kodcode.spec import kodcode_job, load_kodcode

    problems = load_kodcode(None, SHARED_DATA)
    jobs = [kodcode_job(p, p.solution) for p in problems]
    jobs += [kodcode_job(p, t.solution_code, test=t.test_code, verbatim=True) for p in problems for t in p.trials]
    jobs = [dataclasses.replace(job, id=f"job-{n}") for n, job in enumerate(jobs)]
    plain, in_session = _both_ways(kind, jobs)
    different = [(job.id, a.reason, b.reason) for job, a, b in zip(jobs, plain, in_session, strict=True)
                 if _essentials(a) != _essentials(b)]
    assert different == []
    without = sum((v.extra.get("boundary") or {}).get("session") == "none" for v in plain)
    assert without >= 0.9 * len(jobs), without  # most modules need no session
    assert not any((v.extra.get("boundary") or {}).get("session") == "none" for v in in_session)
    assert sum(v.status is Status.PASSED for v in plain) > len(problems)  # references and right trials
    assert any(v.status is Status.FAILED for v in plain)  # and wrong trials


@pytest.mark.slow
@pytest.mark.parametrize("name", ["skip", "exit", "system exit", "base exception"])
def test_in_one_warm_sandbox_a_sample_raising_a_sessions_outcome_never_passes(kind, name):
    jobs = [TestJob("pytest", OUTCOME_RAISERS[name], PLAIN, id=f"{name}-{n}", timeout=10) for n in range(10)]
    jobs.append(TestJob("pytest", ADD, PLAIN, id="right-after", timeout=10))
    verdicts = run_jobs(kind, jobs, workers=1)
    assert [v.status for v in verdicts] == [Status.FAILED] * 10 + [Status.PASSED], [v.reason for v in verdicts]
    assert all((v.extra.get("boundary") or {}).get("session") == "none" for v in verdicts)


# How deep the judge's stack is when the module is imported and when a test runs, in units of
# Python's recursion limit (nested recursion is not a top-level function calling itself, so the
# module is judged plainly); and values nested near that limit, decoded in the judge.
HEADROOM = """
def headroom():
    depth = [0]
    def down():
        depth[0] += 1
        down()
    try:
        down()
    except RecursionError:
        pass
    return depth[0]

AT_IMPORT = headroom()

def test_headroom():
    assert False, (AT_IMPORT, headroom())
"""
NEST = "def nest(n):\n    out = []\n    for _ in range(n):\n        out = [out]\n    return out\n"


def _nested_test(depth: int) -> str:
    return (f"from solution import *\n\ndef test_nest():\n    expected = []\n    for _ in range({depth}):\n"
            f"        expected = [expected]\n    assert nest({depth}) == expected\n")


#: Depths of nesting around the one where a value stops crossing the boundary (its decoder meets
#: the recursion limit), by the judge's Python.
NEST_DEPTHS = {(3, 11): range(300, 340, 3), (3, 13): range(460, 500, 3)}


def _judges_python(kind: str) -> tuple[int, int]:
    """The Python the runner judges with: the image's (as built by ``gcop sandbox build``), or this one."""
    from gcop.sandbox.build import DEBIAN_PYTHON

    return DEBIAN_PYTHON if kind == "docker" else (sys.version_info[0], sys.version_info[1])


@pytest.mark.slow
def test_the_judge_meets_the_recursion_limit_where_a_session_would(kind):
    python = _judges_python(kind)
    if python not in NEST_DEPTHS:
        pytest.skip(f"the plain judge is not measured for Python {python}: every module goes to a session")
    jobs = [TestJob("pytest", "X = 1\n", HEADROOM, id="headroom", timeout=10)]
    jobs += [TestJob("pytest", NEST, _nested_test(depth), id=f"nest-{depth}", timeout=10) for depth in NEST_DEPTHS[python]]
    plain, in_session = _both_ways(kind, jobs)
    assert (plain[0].extra.get("boundary") or {}).get("session") == "none"
    assert plain[0].reason == in_session[0].reason, (plain[0].reason, in_session[0].reason)
    assert [_essentials(v) for v in plain] == [_essentials(v) for v in in_session]
    assert {v.status for v in plain[1:]} == {Status.PASSED, Status.FAILED}  # the limit lies in the range
