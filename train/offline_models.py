"""Offline stand-ins for the remote models of training runs: a core, a judge and a teacher that
answer through Inspect's model API (``mockllm`` with a responder) with no key and no network.

A config or a command line names them like any model (``core: mockllm/strategy_gated``,
``--teacher mockllm/teacher``); :func:`offline_model` is the one place that turns such a name
into a model, for :mod:`gcop.train.rewards` and :mod:`gcop.train.accept`. The CPU chain of docs/training.md and the
tests train against them. Outputs carry explicit usage (no tokenizer download).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import Sequence
from typing import Any

from inspect_ai.model import ChatMessage, Model, ModelOutput, ModelUsage, get_model

from gcop.evals.benchmarks import benchmark_for
from gcop.evals.leaks import static_leak
from gcop.evals.providers import carries_strategy, strategy_blocks

__all__ = ["OFFLINE_CORES", "OFFLINE_JUDGES", "OFFLINE_MODELS", "OFFLINE_TEACHERS", "offline_core",
           "offline_judge", "offline_model", "offline_teacher"]


#: Offline cores, judges and teachers, by the names a config or a command line gives them.
OFFLINE_CORES = ("mockllm/reference", "mockllm/strategy_gated", "mockllm/wrong", "mockllm/copies_leaks")
OFFLINE_JUDGES = ("mockllm/judge",)
OFFLINE_TEACHERS = ("mockllm/teacher",)
OFFLINE_MODELS = OFFLINE_CORES + OFFLINE_JUDGES + OFFLINE_TEACHERS


def offline_judge(kind: str = "mockllm/judge") -> Model:
    """An offline judge (``mockllm/judge``): ``{"score": min(1, steps / 4), "leaks": b}`` for a
    strategy of ``steps`` non-empty lines, where ``b`` says whether it holds the words "answer is"
    (a crude stand-in for a judge's reading; the leak check does not rely on it). Deterministic;
    for smoke runs."""
    if kind not in OFFLINE_JUDGES:
        raise ValueError(f"unknown offline judge {kind!r}; expected one of {', '.join(OFFLINE_JUDGES)}")
    def respond(input: list[ChatMessage], tools: Any, tool_choice: Any, config: Any) -> ModelOutput:
        prompt = input[-1].text if input else ""
        body = next(iter(strategy_blocks(prompt)), "")
        steps = [line for line in body.splitlines() if line.strip()]
        leaks = re.search(r"\banswer\s+is\b", body, re.IGNORECASE) is not None
        content = json.dumps({"score": min(1.0, len(steps) / 4), "leaks": leaks})
        output = ModelOutput.from_content("mockllm/model", content)
        output.usage = ModelUsage(input_tokens=len(prompt.split()), output_tokens=3, total_tokens=len(prompt.split()) + 3)
        return output

    return get_model("mockllm/model", custom_outputs=respond, memoize=False)


def offline_core(kind: str, problems: Sequence[Any], *, latency: float = 0.0) -> Model:
    """An offline core through Inspect's model API (``mockllm`` with a responder), for smoke runs.

    * ``mockllm/reference``: the data set's reference solution for the problem in the prompt.
    * ``mockllm/strategy_gated``: the reference solution when the prompt carries a non-empty
      strategy block, a wrong answer otherwise (so a valid strategy helps: R(with) = 1,
      R(without) = 0); the rule of the Inspect model ``gcop/strategy_gated``.
    * ``mockllm/wrong``: always a wrong answer (the spec's :meth:`~evals.benchmarks.Benchmark.wrong_answer`).
    * ``mockllm/copies_leaks``: the core a leaking guide would love. Right whenever its strategy
      gives the answer away (the leak check's text rules, :func:`gcop.evals.leaks.static_leak`); with
      an honest strategy, right on a fixed half of the problems (by a hash of the problem); with
      none, wrong. Under a reward that pays leaks, leaking beats honesty on every other problem.

    Outputs carry explicit usage (no tokenizer download).
    """
    if kind not in OFFLINE_CORES:
        raise ValueError(f"unknown offline core {kind!r}; expected one of {', '.join(OFFLINE_CORES)}")

    index: dict[str, tuple[str, str]] = {}
    leaks: dict[str, Any] = {}
    for problem in problems:
        spec = benchmark_for(problem)
        sample = spec.sample(problem)
        target = sample.target if isinstance(sample.target, str) else "".join(sample.target)
        metadata = sample.metadata or {}
        index[str(sample.input).strip()] = (metadata["reference"], spec.wrong_answer(target, metadata))
        leaks[str(sample.input).strip()] = (spec.name, target, metadata, str(sample.input))

    def copies(prompt: str) -> bool:
        """``mockllm/copies_leaks``: whether this prompt's strategy gets the right answer."""

        blocks = strategy_blocks(prompt)
        if not blocks:
            return False
        body = next((prompt[len(label):] for label in ("Problem:\n", "Task:\n") if prompt.startswith(label)), "")
        problem = next((key for key in leaks if body.startswith(key)), None)
        if problem is None:
            return False
        name, target, metadata, text = leaks[problem]
        if static_leak(blocks[0], name, target=target, metadata=metadata, problem=text) is not None:
            return True
        return int(hashlib.sha256(problem.encode()).hexdigest(), 16) % 2 == 0

    def find(prompt: str) -> tuple[str, str] | None:
        for label in ("Problem:\n", "Task:\n"):
            if prompt.startswith(label):
                body = prompt[len(label):]
                for text, value in index.items():
                    if body.startswith(text):
                        return value
        return None

    async def respond(input: list[ChatMessage], tools: Any, tool_choice: Any, config: Any) -> ModelOutput:
        if latency:
            await asyncio.sleep(latency)
        prompt = input[-1].text if input else ""
        found = find(prompt)
        if found is None:
            content = "I do not know this problem. \\boxed{none}"
        elif kind == "mockllm/wrong" or (kind == "mockllm/strategy_gated" and not carries_strategy(prompt)) \
                or (kind == "mockllm/copies_leaks" and not copies(prompt)):
            content = found[1]
        else:
            content = found[0]
        output = ModelOutput.from_content("mockllm/model", content)
        n_in, n_out = len(prompt.split()), len(content.split())
        output.usage = ModelUsage(input_tokens=n_in, output_tokens=n_out, total_tokens=n_in + n_out)
        return output

    return get_model("mockllm/model", custom_outputs=respond, memoize=False)




def offline_teacher() -> Model:
    """``mockllm/teacher``: a synthetic, well-formed, non-leaking guide output for the problem in
    the prompt (:func:`gcop.train.tiny.synthetic_guide_output`); refinements vary the seed."""
    from gcop.train.tiny import synthetic_guide_output  # the smoke corpus's generator, one rule for both

    def respond(input: list[ChatMessage], tools: Any, tool_choice: Any, config: Any) -> ModelOutput:
        first = next((m.text for m in input if m.role == "user"), "")
        domain = "code" if first.startswith("Task:") else "math"
        problem = first.split("\n\n", 1)[0]
        content = synthetic_guide_output(problem, domain, seed=sum(m.role == "assistant" for m in input))
        output = ModelOutput.from_content("mockllm/teacher", content)
        n_in, n_out = sum(len(m.text.split()) for m in input), len(content.split())
        output.usage = ModelUsage(input_tokens=n_in, output_tokens=n_out, total_tokens=n_in + n_out)
        return output

    return get_model("mockllm/teacher", custom_outputs=respond, memoize=False)


def offline_model(name: Any, problems: Sequence[Any] = ()) -> Any:
    """The offline model ``name`` stands for (cores answer ``problems``), or ``name`` itself when it
    is not one (a real model name, or a :class:`~inspect_ai.model.Model`)."""
    if not isinstance(name, str) or name not in OFFLINE_MODELS:
        return name
    if name in OFFLINE_CORES:
        return offline_core(name, problems)
    if name in OFFLINE_JUDGES:
        return offline_judge(name)
    return offline_teacher()
