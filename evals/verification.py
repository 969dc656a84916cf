"""From a response to what judges it: the one place that turns (benchmark, response, sample) into
a verdict decided on the spot or a :class:`~sandbox.protocol.TestJob` for the sandbox.

``gcop verify``, ``gcop selfcheck``, the Inspect scorers, the GRPO rewards and acceptance sampling
all go through :func:`prepare_judgement`, so a solution is judged the same way wherever it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gcop.sandbox.protocol import Status, TestJob, Verdict

from .benchmarks import get_benchmark

EMPTY_COMPLETION_REASON = "empty completion: nothing to run"


def is_empty(response: str | None) -> bool:
    return response is None or not response.strip()


def empty_verdict() -> Verdict:
    """An empty answer is a failed sample, decided without a sandbox."""
    return Verdict(Status.FAILED, EMPTY_COMPLETION_REASON)


def prepare_judgement(
    benchmark: str,
    response: str | None,
    *,
    target: str,
    metadata: Mapping[str, Any],
    sample_id: str = "",
    timeout: float | None = None,
) -> Verdict | TestJob:
    """The verdict on ``response`` when it needs no sandbox (an empty response; a benchmark judged
    by :meth:`~evals.benchmarks.Benchmark.verdict`), else the job the sandbox must run.

    ``target`` and ``metadata`` are the Inspect sample's (:meth:`Benchmark.sample`): the verdict
    depends on nothing the response does not reach through the sandbox."""
    if is_empty(response):
        return empty_verdict()
    assert response is not None
    spec = get_benchmark(benchmark)
    if not spec.sandboxed:
        return spec.verdict(response, target, metadata)
    return spec.test_job(response, target, metadata, sample_id=sample_id, timeout=timeout)
