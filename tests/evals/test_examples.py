"""The examples a statement shows (evals/examples.py): what is parsed, what is left out, and that a
cascade's examples job carries only them, never the hidden tests."""

from __future__ import annotations

import asyncio

import pytest

from gcop.evals.benchmarks import get_benchmark
from gcop.evals.examples import examples_job, examples_test_file, visible_examples
from gcop.sandbox.executors import make_executor
from tests.conftest import SHARED_DATA, needs_shared_data


def test_doctest_one_line_doctest_assert_and_arrow_forms():
    text = '''def f(x: int) -> bool:
    """Is x even?
    >>> f(2)
    True
    >>> f(3) False
    >>> f(4)  # a comment
    True
    f(6) ==> True
    f(7) ➞ False
    f(8) should return True.
    """
assert f(10) == True
'''
    assert visible_examples(text) == [
        "assert (f(2)) == (True)", "assert (f(3)) == (False)", "assert (f(4)) == (True)",
        "assert f(10) == True", "assert (f(6)) == (True)", "assert (f(7)) == (False)", "assert (f(8)) == (True)",
    ]


def test_examples_that_no_program_could_pass_are_left_out():
    text = '''def is_happy(s):
    """is_happy(a) => False
    is_happy('aa') => False
    is_happy("abc") => true
    other_name([1]) == 2
    >>> print(is_happy('x'))
    x is not happy
    """
stack = Stack()
assert stack.pop() == 2
assert result == expected
'''
    # `a` is undefined, `true` is not a literal, other_name is never defined, printed text is not
    # a value, and stack/result come from code the statement does not show
    assert visible_examples(text) == ["assert (is_happy('aa')) == (False)"]


def test_the_test_file_has_one_test_per_example():
    text = examples_test_file(["assert f(1) == 2", "assert f(2) == 3"])
    assert text.startswith("from solution import *")
    assert "def test_example_1():\n    assert f(1) == 2" in text and "def test_example_2():" in text
    with pytest.raises(ValueError):
        examples_job("x = 1", [])


@needs_shared_data
@pytest.mark.parametrize("benchmark", ["humaneval", "kodcode"])
def test_an_examples_job_carries_no_hidden_test(benchmark):
    """Attack: a cheap answer judged on the examples must not be able to read (or be judged by) the
    hidden tests. The job is built from the statement alone and the program's solution half."""
    spec = get_benchmark(benchmark)
    for problem in spec.load(None, str(SHARED_DATA)):
        sample = spec.sample(problem)
        statement = str((sample.metadata or {}).get("problem_text") or sample.input)
        found = visible_examples(statement)
        if not found:
            continue
        job = examples_job("def f(): pass", found, job_id=str(sample.id))
        hidden = sample.metadata["test"] if benchmark == "humaneval" else problem.test
        hidden_lines = {line.strip() for line in hidden.splitlines() if line.strip().startswith("assert")}
        shown_lines = {line.strip() for line in statement.splitlines()}
        leaked = [line for line in job.test.splitlines() if line.strip() in hidden_lines - shown_lines]
        assert not leaked, (sample.id, leaked)
        assert sample.metadata["reference"] not in job.test and job.solution == "def f(): pass"


@pytest.mark.slow
@needs_shared_data
def test_the_reference_solutions_pass_their_statements_examples():
    """The parser's fidelity: nearly every reference solution passes every example its statement
    shows (HumanEval states a few wrongly, e.g. HumanEval/116). bench/bench_examples.py reports it."""
    spec = get_benchmark("humaneval")
    executor = make_executor("local")

    async def run() -> tuple[int, int]:
        shown = full = 0
        for problem in spec.load(None, str(SHARED_DATA)):
            sample = spec.sample(problem)
            found = visible_examples(str(sample.metadata.get("problem_text") or sample.input))
            if not found:
                continue
            shown += 1
            program = spec.test_job(sample.metadata["reference"], str(sample.target), sample.metadata).solution
            verdict = await executor.run(examples_job(program, found))
            full += len(verdict.extra.get("passed_tests") or []) == len(found)
        return shown, full

    shown, full = asyncio.run(run())
    assert shown >= 120 and full / shown >= 0.95
