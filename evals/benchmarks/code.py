"""What every code benchmark shares: judged in the sandbox, the answer's code extracted from its
first fenced block (else the whole answer), and a wrong answer that defines nothing the tests
call. A pytest-style benchmark (KodCode's layout: ``solution.py`` and ``test_solution.py`` behind
``from solution import *``) also shares its job."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from gcop.evals.extraction import extract_code
from gcop.sandbox.protocol import TestJob, handle_ops_of

from .base import Benchmark, Domain


class CodeBenchmark(Benchmark):
    domain: ClassVar[Domain] = "code"
    sandboxed: ClassVar[bool] = True

    def extracted_answer(self, response: str) -> str | None:
        return extract_code(response) or None

    def wrong_answer(self, target: str, metadata: Mapping[str, Any]) -> str:
        return "```python\ndef solution(*args, **kwargs):\n    return None\n```"


class PytestCodeBenchmark(CodeBenchmark):
    """A code benchmark in KodCode's layout: the answer's code as ``solution.py``, the sample's
    ``metadata["test"]`` as ``test_solution.py``; what the candidate's objects may do in the tests
    is read from the reference (``metadata["reference"]``)."""

    def icl_example(self, problem: Any) -> str:
        return extract_code(self.reference_answer(problem))

    def test_job(
        self, response: str, target: str, metadata: Mapping[str, Any], *, sample_id: str = "",
        timeout: float | None = None,
    ) -> TestJob:
        reference = extract_code(metadata["reference"]) if metadata.get("reference") else None
        return pytest_job(extract_code(response), metadata["test"], timeout, sample_id, reference)


def pytest_job(solution: str, test: str, timeout: float | None, job_id: str, reference: str | None) -> TestJob:
    """A pytest-style job. ``reference``: the reference solution, whose answers say what the
    candidate's objects may do in the tests (``handle_ops_of``); None (no reference known) allows
    everything, counted."""
    return TestJob(style="pytest", solution=solution, test=test, timeout=timeout, id=job_id,
                   handle_ops=None if reference is None else handle_ops_of(reference))
