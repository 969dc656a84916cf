"""The leak check: does a strategy, on its own, give the answer away? One check for every place a
strategy is judged: GRPO's rewards, acceptance sampling, Inter-Cascade's memory and the Inspect
tasks' ``leak_rate`` / ``accuracy_without_leaks``.

* **math**: the gold value in any notation or as an arithmetic expression in words or symbols
  (:func:`gcop.guides.leaks.math_leak`), and the benchmark's own answer extraction applied to the
  strategy (a strategy that a scorer would read as answering the problem correctly).
* **code**: every piece of code in the strategy is assembled into candidate solutions for the
  entry point (:func:`gcop.guides.leaks.code_candidates`) and each is judged exactly as a core's answer
  is (:func:`gcop.evals.scorers.judge_response`: the benchmark's program assembly and hidden tests, in
  the sandbox). A candidate that passes means the strategy leaks; one that fails does not, however
  much code it shows. No code, no run.

A third source, the LLM judge's ``"leaks": true`` (:mod:`gcop.train.reward_prompts`), is added by the
reward engine, which calls the judge; :func:`judge_finding` makes its finding.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio

from gcop.guides.leaks import LeakFinding, code_candidates, math_leak
from gcop.sandbox.executors import Executor
from gcop.sandbox.protocol import Status

from .benchmarks import get_benchmark
from .scorers import judge_response

__all__ = ["LeakCheckError", "LeakVerdict", "check_leak", "judge_finding", "static_leak"]


class LeakCheckError(RuntimeError):
    """A code candidate could not be judged (sandbox infrastructure error): no verdict either way."""


@dataclass(frozen=True)
class LeakVerdict:
    """The leak check's answer: ``finding`` (None: no leak found) and how many code candidates ran
    in the sandbox to decide it."""

    finding: LeakFinding | None = None
    candidates_run: int = 0
    candidates: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def leaked(self) -> bool:
        return self.finding is not None

    @property
    def reason(self) -> str | None:
        return None if self.finding is None else self.finding.describe()

    def to_dict(self) -> dict[str, Any]:
        return {"leaked": self.leaked, "leak_reason": self.reason, "leak_rule": self.finding.rule if self.finding else None,
                "leak_candidates": self.candidates, "leak_candidates_run": self.candidates_run}


def judge_finding() -> LeakFinding:
    """The finding when the LLM judge answers ``"leaks": true``."""
    return LeakFinding("judge", "the judge says the strategy states the final answer or a complete solution")


def static_leak(strategy: str, benchmark: str, *, target: str, metadata: Mapping[str, Any],
                problem: str = "") -> LeakFinding | None:
    """The check's part that needs no sandbox: the math rules (code needs the sandbox)."""
    spec = get_benchmark(benchmark)
    if spec.domain != "math":
        return None
    gold = spec.leak_args(target, metadata).get("gold_answer")
    if gold is None or not str(gold).strip():
        return None
    found = math_leak(strategy, gold, problem)
    if found is not None:
        return found
    if spec.verdict(strategy, target, metadata).passed:  # the task's own scorer would take it as the answer
        return LeakFinding("math.extraction", f"the task's answer extraction reads the gold value {gold} from it",
                           (0, len(strategy)), strategy.strip()[:200])
    return None


async def check_leak(
    strategy: str,
    benchmark: str,
    *,
    target: str,
    metadata: Mapping[str, Any],
    problem: str = "",
    sample_id: str = "",
    executor: Executor | None = None,
    run_code: bool = True,
) -> LeakVerdict:
    """The whole check for one strategy (see the module docstring). ``executor``: the sandbox for
    code candidates (None: the current Inspect sample's sandbox, as the scorers use). ``run_code``
    False leaves code unchecked (candidates are counted, none is run). Raises
    :class:`LeakCheckError` when a candidate could not be judged."""
    found = static_leak(strategy, benchmark, target=target, metadata=metadata, problem=problem)
    if found is not None:
        return LeakVerdict(found)
    spec = get_benchmark(benchmark)
    if spec.domain != "code":
        return LeakVerdict()
    entry_point = spec.leak_args(target, metadata).get("entry_point")
    # parsing a long strategy's lines is bounded but not free: off the event loop, as judge_response does
    candidates = await anyio.to_thread.run_sync(lambda: code_candidates(strategy, entry_point, problem))
    if not candidates or not run_code:
        return LeakVerdict(candidates=len(candidates))

    verdicts = await asyncio.gather(*(
        judge_response(f"```python\n{code}\n```", benchmark, target=target, metadata=metadata,
                       sample_id=f"{sample_id}/leak-candidate-{i}", executor=executor)
        for i, (code, _) in enumerate(candidates)))
    errors = [v.reason for v in verdicts if v.status is Status.ERROR]
    for (_, finding), verdict in zip(candidates, verdicts, strict=True):
        if verdict.passed:
            return LeakVerdict(finding, candidates_run=len(candidates), candidates=len(candidates))
    if errors:
        raise LeakCheckError(f"a code candidate of the strategy could not be judged: {errors[0]}")
    return LeakVerdict(candidates_run=len(candidates), candidates=len(candidates))
