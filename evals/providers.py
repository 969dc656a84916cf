"""Offline model providers registered with Inspect (no API key, no network).

* ``gcop/reference`` answers every sample with the data set's reference solution: a self-check of
  data, prompts, extraction and sandbox (it must score 100%). Bound to the guide role it writes a
  well-formed, non-leaking strategy.
* ``gcop/replay`` answers from a JSONL of recorded completions keyed by sample id
  (``-M path=completions.jsonl``): re-scoring stored outputs at no API cost. ``gcop/replay/<label>``
  (e.g. ``gcop/replay/qwen2.5-kodcode``) is the same with a name for what was recorded. Lines:
  ``{"id": ..., "completion": ..., "role": "core"|"guide" (optional), "epoch": n (optional),
  "input_tokens": n, "output_tokens": n (optional)}``.

* ``gcop/strategy_gated`` is a core whose accuracy depends on the strategy it gets: the reference
  solution when the core's prompt carries a non-empty ``<strategy>`` block (the guide solver puts
  one there only for a strategy that passed the checker), a wrong answer otherwise
  (the benchmark's :meth:`~evals.benchmarks.Benchmark.wrong_answer`). With it, a guided run's accuracy is the share of problems
  whose guide wrote a valid strategy: the offline stand-in for "the core executes what it is
  given", so an offline chain can show whether training changed the guide. ``mockllm/strategy_gated``
  in ``train/`` is the same rule (:func:`carries_strategy`).

* ``gcop/noisy`` is a core right on about half of the problems, and not always on the same
  samples of one problem (:class:`NoisyModel`): the offline cheap core of a cascade.

All report token usage (whitespace tokens unless recorded) so the cost code runs.
"""

from __future__ import annotations

import os
import re
from typing import Any

from inspect_ai.model import ChatMessage, GenerateConfig, ModelAPI, ModelOutput, ModelUsage, modelapi
from inspect_ai.tool import ToolChoice, ToolInfo

from gcop.costs import price_offline
from gcop.evals.benchmarks import get_benchmark
from gcop.readers import read_jsonl

REFERENCE_STRATEGY = (
    "<think>Plan before solving.</think>\n<strategy>\n1. Restate what is given and what is asked.\n"
    "2. Work it out one step at a time, checking each intermediate result.\n"
    "3. Check the result against the question before answering.\n</strategy>"
)


_STRATEGY_BLOCK = re.compile(r"<strategy>(.*?)</strategy>", re.DOTALL)


def strategy_blocks(prompt: str) -> list[str]:
    """The non-empty ``<strategy>`` blocks' contents in a prompt."""
    return [block for block in _STRATEGY_BLOCK.findall(prompt) if block.strip()]


def carries_strategy(prompt: str) -> bool:
    """Whether a core prompt holds a non-empty ``<strategy>`` block (the strategy-gated rule)."""
    return bool(strategy_blocks(prompt))


def _words(text: str) -> int:
    return len(text.split())


def _input_text(messages: list[ChatMessage]) -> str:
    return "\n".join(m.text for m in messages)


def _is_guide_call(messages: list[ChatMessage]) -> bool:
    """The guide prompt's system message asks for a <strategy> block; the core's never does."""
    return any(m.role == "system" and "<strategy>" in m.text for m in messages)


def _output(model: str, content: str, messages: list[ChatMessage], usage: dict[str, int] | None = None) -> ModelOutput:
    output = ModelOutput.from_content(model=model, content=content)
    input_tokens = (usage or {}).get("input_tokens", _words(_input_text(messages)))
    output_tokens = (usage or {}).get("output_tokens", _words(content))
    output.usage = ModelUsage(input_tokens=input_tokens, output_tokens=output_tokens, total_tokens=input_tokens + output_tokens)
    return output


def _current_sample() -> tuple[str, dict[str, Any], int]:
    state = _current_state()
    return str(state.sample_id), dict(state.metadata or {}), int(state.epoch)


def _current_state() -> Any:
    from inspect_ai.solver._task_state import sample_state  # no public accessor for the sample in a ModelAPI

    state = sample_state()
    if state is None:
        raise RuntimeError("gcop offline models answer only inside an Inspect sample")
    return state


class ReferenceModel(ModelAPI):
    """``gcop/reference``: the data set's reference solution for the current sample (which every
    gcop task's samples carry in ``metadata["reference"]``, see :class:`gcop.evals.benchmarks.Benchmark`)."""

    def __init__(self, model_name: str, base_url: str | None = None, api_key: str | None = None,
                 config: GenerateConfig = GenerateConfig(), **model_args: Any) -> None:  # noqa: B008 - Inspect's ModelAPI signature; never mutated
        super().__init__(model_name, base_url, api_key, [], config)

    async def generate(self, input: list[ChatMessage], tools: list[ToolInfo], tool_choice: ToolChoice,
                       config: GenerateConfig) -> ModelOutput:
        if _is_guide_call(input):
            return _output(self.model_name, REFERENCE_STRATEGY, input)
        state = _current_state()
        metadata = dict(state.metadata or {})
        if not metadata.get("benchmark") or "reference" not in metadata:
            raise RuntimeError(f"sample {state.sample_id!r} has no 'benchmark'/'reference' metadata: "
                               f"gcop/{self.model_name} needs a gcop task")
        return _output(self.model_name, self.answer(state, metadata, input, config), input)

    def answer(self, state: Any, metadata: dict[str, Any], input: list[ChatMessage], config: GenerateConfig) -> str:
        """The core's answer for the current sample (``state``): here its reference solution."""
        return str(metadata["reference"])


class StrategyGatedModel(ReferenceModel):
    """``gcop/strategy_gated``: the reference solution when the core is given a strategy, a wrong
    answer otherwise. Bound to the guide role it writes the reference strategy, as gcop/reference."""

    def answer(self, state: Any, metadata: dict[str, Any], input: list[ChatMessage], config: GenerateConfig) -> str:

        prompt = "\n".join(m.text for m in input if m.role == "user")
        if carries_strategy(prompt):
            return str(metadata["reference"])
        return get_benchmark(metadata["benchmark"]).wrong_answer(state.target.text, metadata)


def _unit(*parts: object) -> float:
    """A number in [0, 1) fixed by ``parts`` (a stable hash, the same on every machine)."""
    import hashlib

    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "little") / 2**64


class NoisyModel(ReferenceModel):
    """``gcop/noisy``: a core that is right on some samples of some problems, the offline stand-in
    for a cheap model that a cascade must check. Each problem has a success probability p, drawn
    uniformly from its id (so the core's accuracy is about 50%, and hard problems stay hard); a
    strategy in the prompt halves the chance of a mistake (p -> (1 + p) / 2). A call is right when
    a draw fixed by (problem, epoch, seed) falls below p, else it gives the benchmark's
    :meth:`~evals.benchmarks.Benchmark.wrong_answer`: the k samples of a cascade (seeds 0..k-1)
    agree more often on the easy problems, as a real model's do. Deterministic."""

    def answer(self, state: Any, metadata: dict[str, Any], input: list[ChatMessage], config: GenerateConfig) -> str:

        chance = _unit("gcop/noisy", state.sample_id)
        if carries_strategy("\n".join(m.text for m in input if m.role == "user")):
            chance = (1 + chance) / 2
        if _unit("gcop/noisy", state.sample_id, state.epoch, config.seed or 0) < chance:
            return str(metadata["reference"])
        return get_benchmark(metadata["benchmark"]).wrong_answer(state.target.text, metadata)


class ReplayFileError(ValueError):
    pass


class ReplayModel(ModelAPI):
    """``gcop/replay``: recorded completions, keyed by sample id (and role, and epoch)."""

    def __init__(self, model_name: str, base_url: str | None = None, api_key: str | None = None,
                 config: GenerateConfig = GenerateConfig(), path: str | None = None, **model_args: Any) -> None:  # noqa: B008 - as above
        super().__init__(model_name, base_url, api_key, [], config)
        path = path or os.environ.get("GCOP_REPLAY_PATH")
        if not path:
            raise ReplayFileError("gcop/replay needs the recordings file: -M path=completions.jsonl")

        self.records: dict[tuple[str, str, int | None], dict[str, Any]] = {}
        lines, bad = read_jsonl(path)
        problems = [str(e) for e in bad]
        for number, record in lines:
            if "id" not in record:
                problems.append(f"{path}:{number}: id: missing")
            elif not isinstance(record.get("completion"), str):
                problems.append(f"{path}:{number}: completion: must be a string")
            else:
                self.records[(str(record["id"]), str(record.get("role", "core")), record.get("epoch"))] = record
        if problems:
            # A bad line loses nothing else: report it and keep the rest.
            import warnings

            warnings.warn("gcop/replay skipped bad lines:\n" + "\n".join(problems[:20]), stacklevel=2)

    async def generate(self, input: list[ChatMessage], tools: list[ToolInfo], tool_choice: ToolChoice,
                       config: GenerateConfig) -> ModelOutput:
        sample_id, _, epoch = _current_sample()
        role = "guide" if _is_guide_call(input) else "core"
        record = self.records.get((sample_id, role, epoch)) or self.records.get((sample_id, role, None))
        if record is None:
            raise RuntimeError(f"gcop/replay: no recorded {role} completion for sample {sample_id!r} (epoch {epoch})")
        usage: dict[str, int] = {k: int(record[k]) for k in ("input_tokens", "output_tokens") if k in record}
        return _output(self.model_name, record["completion"], input, usage)


@modelapi(name="gcop")
def gcop_offline() -> type[ModelAPI]:
    """``gcop/reference``, ``gcop/strategy_gated`` or ``gcop/replay``: Inspect splits the name into
    the API (``gcop``) and the model (``reference`` ...), so one API dispatches on the model name."""

    class GcopOfflineModel(ModelAPI):
        def __init__(self, model_name: str, base_url: str | None = None, api_key: str | None = None,
                     config: GenerateConfig = GenerateConfig(), **model_args: Any) -> None:  # noqa: B008 - Inspect's ModelAPI signature; never mutated
            super().__init__(model_name, base_url, api_key, [], config)
            implementations = {"reference": ReferenceModel, "strategy_gated": StrategyGatedModel, "noisy": NoisyModel,
                               "replay": ReplayModel}
            # gcop/replay/<label> names what was recorded, so that re-scored runs of different
            # models are different rows of a leaderboard.
            kind, _, label = model_name.partition("/")
            if kind not in implementations or (label and kind != "replay"):
                raise ValueError(f"unknown gcop model {model_name!r}: use gcop/reference, gcop/strategy_gated, "
                                 "gcop/noisy, gcop/replay or gcop/replay/<label>")

            price_offline(f"gcop/{model_name}")
            self._impl = implementations[kind](model_name, base_url, api_key, config, **model_args)

        async def generate(self, input: list[ChatMessage], tools: list[ToolInfo], tool_choice: ToolChoice,
                           config: GenerateConfig) -> ModelOutput:
            return await self._impl.generate(input, tools, tool_choice, config)

        def max_connections(self) -> int:
            return 64  # offline: no rate limits

    return GcopOfflineModel
