"""Scorers: one way to judge a response (:func:`judge_response`, which asks the benchmark's spec
and, for code, the sandbox), used by GRPO's rewards, acceptance sampling and the Inspect scorers.

Each Inspect score also carries the guide's strategy validity (I_str) and whether the strategy
leaks the answer (:mod:`gcop.evals.leaks`, with the rule that found it), reported per run as
``strategy_validity``, ``leak_rate`` and ``accuracy_without_leaks`` (accuracy with every sample
whose strategy leaked counted as a failure: a guided row cannot gain from leaks silently).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import anyio
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
    value_to_float,
)
from inspect_ai.solver import TaskState

from gcop.sandbox.executors import Executor
from gcop.sandbox.inspect_provider import run_test_job
from gcop.sandbox.protocol import Status, Verdict

from .benchmarks import Benchmark, get_benchmark
from .verification import prepare_judgement


async def judge_response(
    response: str | None,
    benchmark: str,
    *,
    target: str,
    metadata: Mapping[str, Any],
    sample_id: str = "",
    executor: Executor | None = None,
) -> Verdict:
    """The benchmark's verdict on a response: decided here (an empty response, or a benchmark
    judged without a sandbox), or by the response's job in the sandbox: ``executor`` when given
    (training, acceptance sampling), else the current Inspect sample's sandbox (the gcop pool, or
    Inspect's docker/k8s/local). The Inspect scorers below, GRPO's rewards and acceptance sampling
    all judge through here."""
    # Building the job parses the response (bounded, linear work): in a worker thread, so a long
    # response never stalls the event loop that every other sample's scoring shares.
    judgement = await anyio.to_thread.run_sync(
        lambda: prepare_judgement(benchmark, response, target=target, metadata=metadata, sample_id=sample_id)
    )
    if isinstance(judgement, Verdict):
        return judgement
    if executor is not None:
        return await executor.run(judgement)

    return await run_test_job(judgement)


def _guide_fields(state: TaskState) -> dict[str, Any]:
    guide = state.metadata.get("guide")
    if not isinstance(guide, Mapping):
        return {"strategy_valid": None, "leaked": None}
    return {"strategy_valid": bool(guide.get("valid")), "leaked": guide.get("leaked"),
            "leak_reason": guide.get("leak_reason")}


def _boundary_fields(verdict: Verdict) -> dict[str, Any]:
    """How the code verdict was decided: tests decided by value only, tests where a comparison
    went through a handle (the sample's own method), or the whole job in-process."""
    info = verdict.extra.get("boundary")
    if not isinstance(info, Mapping):
        return {}
    return {
        "boundary": info.get("mode"),
        "tests_by_value": info.get("tests_by_value"),
        "tests_through_handle": info.get("tests_through_handle"),
        # "none": a pytest-style test module judged without a pytest session (to the same verdict)
        **({"session": info["session"]} if "session" in info else {}),
    }


def _score(verdict: Verdict, answer: str | None, state: TaskState, cascade: Mapping[str, Any] | None = None) -> Score:
    metadata = {
        "status": verdict.status.value, "mode": state.metadata.get("mode"), **_guide_fields(state),
        **_boundary_fields(verdict), **(cascade or {}),
    }
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


async def _cascade_fields(spec: Benchmark, state: TaskState, target: Target, verdict: Verdict) -> dict[str, Any]:
    """A cascade sample's escalation and its cheap answer's verdict (judged the same way: when it
    was kept, it is the sample's verdict); a memory sample's memory size after it."""
    record = state.metadata.get("cascade")
    if not isinstance(record, Mapping):
        return {}
    escalated = bool(record.get("escalated"))
    if escalated:
        cheap = await judge_response(record.get("cheap_answer"), spec.name, target=target.text, metadata=state.metadata,
                                     sample_id=str(state.sample_id))
        if cheap.status is Status.ERROR:
            raise RuntimeError(f"sandbox infrastructure error while scoring the cheap answer: {cheap.reason}")
        cheap_correct = cheap.passed
    else:
        cheap_correct = verdict.passed
    fields: dict[str, Any] = {"escalated": escalated, "cheap_correct": cheap_correct}
    memory = state.metadata.get("memory")
    if isinstance(memory, Mapping):
        fields["memory_size"] = memory.get("size")
        fields["memory_dropped"] = int(memory.get("dropped") or 0) + int((memory.get("warm") or {}).get("dropped") or 0)
    return fields


# Metrics that do not apply to a run (no guided sample, no judged test) are left out of its results
# rather than shown as NaN: a metric that returns a mapping has each entry reported under its key,
# and Inspect skips entries whose value is None.
def _applies(name: str, value: float | None) -> dict[str, float | None]:
    return {name: value}


def _mean_of(field: str, scores: list[SampleScore]) -> float | None:
    values = [s.score.metadata.get(field) for s in scores if s.score.metadata and s.score.metadata.get(field) is not None]
    return float(sum(bool(v) for v in values) / len(values)) if values else None


@metric
def strategy_validity() -> Metric:
    """I_str: the share of guided samples whose guide output had a well-formed strategy (absent
    from a run with no guided sample)."""

    def compute(scores: list[SampleScore]) -> dict[str, float | None]:
        return _applies("strategy_validity", _mean_of("strategy_valid", scores))

    return compute


@metric
def leak_rate() -> Metric:
    """The share of guided samples whose strategy leaks the answer (absent with no guided sample)."""

    def compute(scores: list[SampleScore]) -> dict[str, float | None]:
        return _applies("leak_rate", _mean_of("leaked", scores))

    return compute


@metric
def accuracy_without_leaks() -> Metric:
    """Accuracy with every sample whose strategy leaked counted as a failure (absent with no
    guided sample): the figure a guided row may claim."""

    def compute(scores: list[SampleScore]) -> dict[str, float | None]:
        if not scores or all((s.score.metadata or {}).get("leaked") is None for s in scores):
            return _applies("accuracy_without_leaks", None)
        # value_to_float: CORRECT, or 1.0 once the epochs reducer has turned it into a number
        to_float = value_to_float()
        honest = [to_float(s.score.value) == 1.0 and not (s.score.metadata or {}).get("leaked") for s in scores]
        return _applies("accuracy_without_leaks", sum(honest) / len(honest))

    return compute


def _scorer_function(spec: Benchmark) -> Scorer:
    async def score(state: TaskState, target: Target) -> Score:
        if state.metadata.get("core_skipped"):
            return _score(Verdict(Status.FAILED, "core not run: the guide's strategy was invalid"), None, state)
        response = state.output.completion
        verdict = await judge_response(response, spec.name, target=target.text, metadata=state.metadata,
                                       sample_id=str(state.sample_id))
        answer = await anyio.to_thread.run_sync(spec.extracted_answer, response or "")
        return _score(verdict, answer or None, state, await _cascade_fields(spec, state, target, verdict))

    return score


@metric
def escalation_rate() -> Metric:
    """The share of cascade samples sent to the strong model (absent outside the cascade modes)."""

    def compute(scores: list[SampleScore]) -> dict[str, float | None]:
        return _applies("escalation_rate", _mean_of("escalated", scores))

    return compute


@metric
def cheap_accuracy() -> Metric:
    """The cascade's cheap core alone: the share of samples whose cheap answer passed, escalated
    or not (absent outside the cascade modes)."""

    def compute(scores: list[SampleScore]) -> dict[str, float | None]:
        return _applies("cheap_accuracy", _mean_of("cheap_correct", scores))

    return compute


@metric
def memory_size() -> Metric:
    """The memory's size at the end of a memory run (the largest size a sample recorded), and
    the strategies dropped by the checks (absent outside memory mode)."""

    def compute(scores: list[SampleScore]) -> dict[str, float | None]:
        sizes = [int(v) for v in ((s.score.metadata or {}).get("memory_size") for s in scores) if v is not None]
        dropped = [int((s.score.metadata or {}).get("memory_dropped") or 0) for s in scores
                   if (s.score.metadata or {}).get("memory_size") is not None]
        return {"memory_size": float(max(sizes)) if sizes else None,
                "memory_dropped": float(sum(dropped)) if sizes else None}

    return compute


@scorer(metrics=[accuracy(), stderr(), strategy_validity(), leak_rate(), accuracy_without_leaks(), escalation_rate(),
                 cheap_accuracy(), memory_size()])
def math_scorer(benchmark: str = "gsm8k") -> Scorer:
    """A benchmark judged without a sandbox (GSM8K: the last ``\\boxed{}``, ``#### N`` or
    "answer is N" against the gold number)."""
    spec = get_benchmark(benchmark)
    if spec.sandboxed:
        raise ValueError(f"math_scorer: {benchmark} is judged in the sandbox; use code_scorer")
    return _scorer_function(spec)


@metric
def by_value_share() -> Metric:
    """The share of judged tests whose every comparison was by value: what the sample could not
    have forged through its own ``__eq__``. In-process verdicts count as not by value. Absent when
    no test was judged."""

    def compute(scores: list[SampleScore]) -> dict[str, float | None]:
        by_value = other = 0
        for s in scores:
            meta = s.score.metadata or {}
            if meta.get("boundary") == "process":
                by_value += int(meta.get("tests_by_value") or 0)
                other += int(meta.get("tests_through_handle") or 0)
            elif meta.get("boundary") == "in-process":
                other += 1
        return _applies("by_value_share", by_value / (by_value + other) if by_value + other else None)

    return compute


@metric
def in_process_share() -> Metric:
    """The share of code samples judged in-process (their test could not cross the boundary);
    absent when none was judged."""

    def compute(scores: list[SampleScore]) -> dict[str, float | None]:
        judged = [(s.score.metadata or {}).get("boundary") for s in scores]
        judged = [b for b in judged if b]
        return _applies("in_process_share", sum(b == "in-process" for b in judged) / len(judged) if judged else None)

    return compute


@scorer(metrics=[accuracy(), stderr(), strategy_validity(), leak_rate(), accuracy_without_leaks(), escalation_rate(),
                 cheap_accuracy(), memory_size(), by_value_share(), in_process_share()])
def code_scorer(benchmark: str) -> Scorer:
    """A benchmark judged in the sandbox (HumanEval, KodCode: the extracted code's unit tests)."""
    spec = get_benchmark(benchmark)
    if not spec.sandboxed:
        raise ValueError(f"code_scorer: {benchmark} is not judged in the sandbox; use math_scorer")
    return _scorer_function(spec)


def task_scorer(spec: Benchmark) -> Scorer:
    """The scorer of a benchmark's task: the sandbox's metrics (how verdicts were decided) only
    where there is a sandbox."""
    return code_scorer(spec.name) if spec.sandboxed else math_scorer(spec.name)
