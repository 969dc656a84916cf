"""What the server reads off a pytest-style test before it forks the judge: why the test must run
in the sample's process (``in_process_reason``).

The server parses the job's test file once (the test behind ``from solution import *``) and
hands that tree to every check; a check given the file's tree must answer as it does for the
test's own text.
"""

from __future__ import annotations

import ast

import pytest

from gcop.sandbox.runner import in_process_reason
from tests.conftest import SHARED_DATA, needs_shared_data

CASES = [
    ("from unittest import mock\n\ndef test_a():\n    with mock.patch('solution.f'):\n        pass\n", "unittest.mock"),
    ("from unittest.mock import patch\n\ndef test_a():\n    pass\n", "unittest.mock"),
    ("import random\n\ndef test_a():\n    random.seed(0)\n", "seeds a random generator"),
    ("import os\n\ndef test_a():\n    os.environ['X'] = '1'\n", "environment variables"),
    ("import sys\n\ndef test_a():\n    sys.argv = ['x']\n", "sys.argv"),
    ("import threading\n\ndef test_a():\n    pass\n", "threads"),
    ("def test_a(monkeypatch):\n    monkeypatch.setattr('solution.f', 1)\n", "monkeypatches 'solution.f'"),
    ("import solution\n\ndef test_a(monkeypatch):\n    monkeypatch.setattr(solution, 'f', 1)\n", "an object it may share"),
    ("import sys\n\ndef test_a(monkeypatch):\n    monkeypatch.setattr(sys, 'x', 1)\n", None),
    ("def test_a(monkeypatch):\n    monkeypatch.setattr('builtins.input', lambda: '1')\n", None),
    ("class Mine(Stack):\n    pass\n\ndef test_a():\n    assert Mine()\n", "subclasses Stack"),
    ("import solution\n\nclass Mine(solution.Stack):\n    pass\n", "subclasses a class of the solution"),
    ("class Base:\n    pass\n\nclass Mine(Base, Exception):\n    pass\n", None),
    ("def test_a():\n    assert add(2, 3) == 5\n", None),
]


def _as_the_server_sees_it(test: str) -> str | None:
    return in_process_reason(ast.parse("from solution import *\n" + test))


@pytest.mark.parametrize(("test", "why"), CASES)
def test_why_a_test_runs_in_one_process(test: str, why: str | None) -> None:
    reason = in_process_reason(test)
    assert (reason is None) if why is None else (reason is not None and why in reason), reason
    assert _as_the_server_sees_it(test) == reason


def test_a_test_that_does_not_parse_has_no_reason() -> None:
    assert in_process_reason("def test_a(:\n") is None


@needs_shared_data
def test_the_kodcode_sample_gets_the_same_answer_from_the_files_tree() -> None:
    from gcop.evals.kodcode.spec import kodcode_job, load_kodcode

    tests = [kodcode_job(problem, problem.solution).test for problem in load_kodcode(None, SHARED_DATA)]
    assert len(tests) >= 100
    reasons = [in_process_reason(test) for test in tests]
    assert [_as_the_server_sees_it(test) for test in tests] == reasons
    # and with each case's in-process statement added to it, the sample's tests still agree
    for test, (case, _) in zip(tests, CASES * (len(tests) // len(CASES) + 1), strict=False):
        assert _as_the_server_sees_it(test + "\n" + case) == in_process_reason(test + "\n" + case)
