"""Scorers: the math judge and the sandboxed unit tests, as plain async functions (GRPO rewards
call these) and as Inspect scorers (which call the same functions).

Each Inspect score also carries the guide's strategy validity (I_str) and whether the strategy
leaks the answer, reported per run as ``strategy_validity`` and ``leak_rate``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from inspect_ai.scorer import (
    CORRECT,
    INCORRECT,
    Metric,
    SampleScore,
    Score,
    Scorer,
    Target,
    accuracy,
    metric,
    scorer,
    stderr,
)
from inspect_ai.solver import TaskState

from sandbox.executors import Executor
from sandbox.protocol import Status, TestJob, Verdict

from .data import HumanEvalProblem, KodCodeProblem
from .extraction import extract_gsm8k_answer, extract_code
from .verification import empty_verdict, gsm8k_verdict, humaneval_job, is_empty, kodcode_job

CODE_BENCHMARKS = ("humaneval", "kodcode")


async def score_math_response(response: str | None, target: str) -> Verdict:
    """GSM8K: the final answer of ``response`` compared numerically with ``target``."""
    return gsm8k_verdict(response, target)


def code_job(response: str, benchmark: str, metadata: Mapping[str, Any], sample_id: str = "") -> TestJob:
    """The sandbox job for a code response, from a sample's metadata (see the task modules)."""
    if benchmark == "humaneval":
        problem = HumanEvalProblem(
            task_id=sample_id, prompt=metadata["prompt"], canonical_solution="",
            test=metadata["test"], entry_point=metadata["entry_point"],
        )
        return humaneval_job(problem, response)
    if benchmark == "kodcode":
        problem = KodCodeProblem(
            question_id=sample_id, split=str(metadata.get("split", "")), question="", solution="",
            test=metadata["test"], test_info=(), style="", subset="", gpt_difficulty="",
        )
        return kodcode_job(problem, response)
    raise ValueError(f"not a code benchmark: {benchmark!r}")


async def score_code_response(
    response: str | None,
    benchmark: str,
    metadata: Mapping[str, Any],
    *,
    sample_id: str = "",
    executor: Executor | None = None,
) -> Verdict:
    """Unit tests of ``response`` in the sandbox: ``executor`` when given (training), else the
    current Inspect sample's sandbox (gcop pool, or Inspect's docker/k8s/local)."""
    if is_empty(response):
        return empty_verdict()
    job = code_job(response or "", benchmark, metadata, sample_id)
    if executor is not None:
        return await executor.run(job)
    from sandbox.inspect_provider import run_test_job

    return await run_test_job(job)


def _guide_fields(state: TaskState) -> dict[str, Any]:
    guide = state.metadata.get("guide")
    if not isinstance(guide, Mapping):
        return {"strategy_valid": None, "leaked": None}
    return {"strategy_valid": bool(guide.get("valid")), "leaked": guide.get("leaked")}


def _score(verdict: Verdict, answer: str | None, state: TaskState) -> Score:
    metadata = {"status": verdict.status.value, "mode": state.metadata.get("mode"), **_guide_fields(state)}
    if verdict.status is Status.ERROR:
        # Infrastructure trouble is not the model's failure: raise so Inspect marks the sample
        # as an error (retryable) instead of scoring it 0.
        raise RuntimeError(f"sandbox infrastructure error while scoring: {verdict.reason}")
    return Score(
        value=CORRECT if verdict.passed else INCORRECT,
        answer=answer,
        explanation=verdict.reason,
        metadata=metadata,
    )


def _mean_of(field: str, scores: list[SampleScore]) -> float:
    values = [s.score.metadata.get(field) for s in scores if s.score.metadata and s.score.metadata.get(field) is not None]
    return float(sum(bool(v) for v in values) / len(values)) if values else float("nan")


@metric
def strategy_validity() -> Metric:
    """I_str: the share of guided samples whose guide output had a well-formed strategy."""

    def compute(scores: list[SampleScore]) -> float:
        return _mean_of("strategy_valid", scores)

    return compute


@metric
def leak_rate() -> Metric:
    """The share of guided samples whose strategy leaks the answer."""

    def compute(scores: list[SampleScore]) -> float:
        return _mean_of("leaked", scores)

    return compute


@scorer(metrics=[accuracy(), stderr(), strategy_validity(), leak_rate()])
def math_scorer() -> Scorer:
    """GSM8K: the last ``\\boxed{}`` (or ``#### N``, "answer is N") against the gold number."""

    async def score(state: TaskState, target: Target) -> Score:
        if state.metadata.get("core_skipped"):
            return _score(Verdict(Status.FAILED, "core not run: the guide's strategy was invalid"), None, state)
        response = state.output.completion
        verdict = await score_math_response(response, target.text)
        return _score(verdict, extract_gsm8k_answer(response or ""), state)

    return score


@scorer(metrics=[accuracy(), stderr(), strategy_validity(), leak_rate()])
def code_scorer(benchmark: str) -> Scorer:
    """HumanEval / KodCode: the extracted code's unit tests in the sandbox."""
    if benchmark not in CODE_BENCHMARKS:
        raise ValueError(f"code_scorer: benchmark must be one of {CODE_BENCHMARKS}, got {benchmark!r}")

    async def score(state: TaskState, target: Target) -> Score:
        if state.metadata.get("core_skipped"):
            return _score(Verdict(Status.FAILED, "core not run: the guide's strategy was invalid"), None, state)
        response = state.output.completion
        verdict = await score_code_response(response, benchmark, state.metadata, sample_id=str(state.sample_id))
        return _score(verdict, extract_code(response or "") or None, state)

    return score
