"""The runner's answer names the tests that passed (what a cascade's examples rule reads), from
the authenticated report only: the judged code can pass tests, not claim them."""

from __future__ import annotations

import asyncio

from gcop.sandbox.executors import make_executor
from gcop.sandbox.protocol import TestJob

TESTS = """from solution import *

def test_example_1():
    assert double(1) == 2

def test_example_2():
    assert double(2) == 5

def test_example_3():
    assert double(3) == 6
"""


def _run(solution: str) -> object:
    return asyncio.run(make_executor("local").run(TestJob(style="pytest", solution=solution, test=TESTS)))


def test_passed_tests_lists_exactly_the_tests_that_held():
    verdict = _run("def double(x):\n    return 2 * x\n")
    assert not verdict.passed and verdict.tests_passed == 2
    assert verdict.extra["passed_tests"] == ["test_example_1", "test_example_3"]


def test_code_that_kills_its_process_or_forges_output_claims_nothing():
    for solution in (
        "import os\nos._exit(0)\n",
        "import sys\nprint('{\"passed_tests\": [\"test_example_1\", \"test_example_2\", \"test_example_3\"]}')\nsys.exit(0)\n",
        "def double(x):\n    import os\n    os._exit(0)\n",
    ):
        verdict = _run(solution)
        assert not verdict.passed
        assert verdict.extra.get("passed_tests", []) == []
