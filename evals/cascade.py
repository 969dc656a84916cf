"""Cascades: the cheap core answers first, a deferral rule decides whether the query goes to the
model bound to the ``strong`` role (FrugalGPT; agreement-based cascading), and, in Inter-Cascade's
memory mode (:mod:`gcop.evals.memory`), the strong model also writes a strategy the cheap core later
retrieves.

Deferral rules (``-T cascade_rule``), each giving the cheap answer a confidence in [0, 1]; the
query escalates when the confidence is below ``-T cascade_threshold``:

* ``agreement``: ``k`` samples of the cheap core (``-T cascade_k``, asked with seeds
  ``0..k-1`` so that a cache or a seeded model gives k samples, not one). Confidence: the share
  of samples that agree with the majority. Math: the same extracted final answer (no answer
  agrees with nothing). Code: the same behaviour on the problem's visible examples
  (:mod:`gcop.evals.examples`), i.e. the same set of examples passed, run in the sandbox; a problem
  that shows no example compares the extracted programs' syntax trees. The answer kept is the
  first sample of the majority.
* ``examples`` (code): the examples the statement shows, run in the sandbox (never the hidden
  tests). Confidence: the share of them the answer passes; with ``k`` > 1 the sample passing the
  most is kept (the first on ties). A problem that shows no example has confidence 0: nothing
  vouches for the answer.

The log records, per sample (``metadata["cascade"]``), the rule, each sample's vote, the
confidence, whether it escalated and why, and the tokens and $ of the cheap and strong calls;
the scorer judges the cheap answer too, so a run reports the cheap core's accuracy beside the
system's and the escalation rate (metrics ``cheap_accuracy``, ``escalation_rate``).
"""

from __future__ import annotations

import ast
import hashlib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import anyio
from inspect_ai.model import ChatMessage, ChatMessageAssistant, ChatMessageUser, GenerateConfig, ModelOutput, get_model, model_roles

from gcop.costs import add_usage, usage_fields
from gcop.guides.prompts import guide_messages
from gcop.guides.solver import reasoning_text
from gcop.guides.strategy import parse_guide_output
from gcop.lifecycle import check_not_retired
from gcop.sandbox.inspect_provider import run_test_job

from .benchmarks import Benchmark, get_benchmark
from .examples import examples_job, visible_examples
from .leaks import check_leak
from .memory import MEMORY_METADATA_KEY, MemoryEntry
from .prompts import core_messages
from .verification import is_empty

RULES: tuple[str, ...] = ("agreement", "examples")
STRONG_ROLE = "strong"
CASCADE_METADATA_KEY = "cascade"


class StrongRoleMissingError(ValueError):
    def __init__(self, mode: str) -> None:
        super().__init__(
            f"-T mode={mode} escalates to the model bound to the '{STRONG_ROLE}' role, and none is: pass "
            f"--model-role {STRONG_ROLE}=<model> to `inspect eval` (model_roles={{'{STRONG_ROLE}': ...}} in eval())"
        )


@dataclass(frozen=True)
class CascadeSettings:
    """A cascade's deferral rule: ``rule``, ``k`` cheap samples, escalate below ``threshold``."""

    rule: str = "agreement"
    k: int = 3
    threshold: float = 1.0

    @classmethod
    def from_options(cls, rule: str, k: int | None, threshold: float, *, sandboxed: bool) -> CascadeSettings:
        """From the task options, with the errors a user should see (``-T ...`` named)."""
        if rule not in RULES:
            raise ValueError(f"-T cascade_rule must be one of {', '.join(RULES)}, got {rule!r}")
        if rule == "examples" and not sandboxed:
            raise ValueError("-T cascade_rule=examples runs the statement's examples in the sandbox: it is for code benchmarks")
        k = (3 if rule == "agreement" else 1) if k is None else k
        if not isinstance(k, int) or k < 1 or (rule == "agreement" and k < 2):
            raise ValueError(f"-T cascade_k must be an integer >= {2 if rule == 'agreement' else 1} for the {rule} rule, got {k!r}")
        if not 0.0 <= float(threshold) <= 1.01:
            raise ValueError(f"-T cascade_threshold must be in [0, 1] (above 1: always escalate), got {threshold!r}")
        return cls(rule=rule, k=k, threshold=float(threshold))

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "k": self.k, "threshold": self.threshold}


@dataclass
class Decision:
    chosen: int
    confidence: float
    votes: list[Any]
    reason: str


def strong_role_bound() -> bool:
    bound = model_roles().get(STRONG_ROLE)
    return bound is not None and bound != []


async def cheap_samples(messages: list[ChatMessage], k: int) -> list[ModelOutput]:
    """``k`` answers of the cheap core (the main model) to the same input, seeds 0..k-1."""
    model = get_model()
    outputs: list[ModelOutput | None] = [None] * k

    async def one(index: int) -> None:
        outputs[index] = await model.generate(messages, config=GenerateConfig(seed=index))

    async with anyio.create_task_group() as group:
        for index in range(k):
            group.start_soon(one, index)
    return [o for o in outputs if o is not None]


def _program_shape(spec: Benchmark, response: str) -> str | None:
    code = spec.extracted_answer(response)
    if not code:
        return None
    try:
        return ast.dump(ast.parse(code))
    except SyntaxError:
        return None


async def _examples_passed(spec: Benchmark, response: str, examples: list[str], target: str,
                           metadata: Mapping[str, Any], sample_id: str) -> frozenset[str] | None:
    """Which visible examples the response's program passes (None: an empty response)."""

    if is_empty(response):
        return None
    program = spec.test_job(response, target, metadata, sample_id=sample_id).solution
    verdict = await run_test_job(examples_job(program, examples, job_id=sample_id))
    if verdict.status.value == "error":
        raise RuntimeError(f"sandbox infrastructure error while running the visible examples: {verdict.reason}")
    return frozenset(verdict.extra.get("passed_tests") or ())


async def decide(spec: Benchmark, settings: CascadeSettings, responses: Sequence[str], *, problem: str,
                 target: str, metadata: Mapping[str, Any], sample_id: str) -> Decision:
    """Which cheap answer to keep and how confident the rule is in it (see the module docstring).
    It reads the responses and the problem statement only; ``target`` and ``metadata`` build the
    program the sandbox runs (the solution half of the verdict's job), never its tests."""
    k = len(responses)
    if spec.sandboxed:
        examples = visible_examples(problem, metadata.get("entry_point"))
        if settings.rule == "examples" or examples:
            if not examples:
                return Decision(0, 0.0, [None] * k, "the statement shows no example")
            passed = [await _examples_passed(spec, r, examples, target, metadata, sample_id) for r in responses]
            if settings.rule == "examples":
                counts = [len(p) if p is not None else 0 for p in passed]
                best = max(range(k), key=lambda i: (counts[i], -i))
                return Decision(best, counts[best] / len(examples), [sorted(p) if p is not None else None for p in passed],
                                f"passes {counts[best]} of the {len(examples)} visible examples")
            votes: list[Any] = list(passed)
            what = f"same behaviour on the {len(examples)} visible examples"
        else:
            votes = [_program_shape(spec, r) for r in responses]
            what = "the same program (no visible example)"
    else:
        votes = [spec.extracted_answer(r) if not is_empty(r) else None for r in responses]
        what = "the same final answer"
    counted = Counter(v for v in votes if v is not None)
    if not counted:
        return Decision(0, 0.0, _shown(votes), f"no sample gave an answer ({what})")
    top = max(counted.values())
    majority = next(v for v in votes if v is not None and counted[v] == top)
    chosen = votes.index(majority)
    return Decision(chosen, top / k, _shown(votes), f"{top} of {k} samples agree on {what}")


def _shown(votes: Sequence[Any]) -> list[Any]:
    """Votes as the log shows them: answers as text, example sets as sorted names, programs by a
    short digest."""
    shown: list[Any] = []
    for vote in votes:
        if isinstance(vote, frozenset):
            shown.append(sorted(vote))
        elif isinstance(vote, str) and vote.startswith("Module("):
            shown.append("ast:" + hashlib.sha256(vote.encode()).hexdigest()[:12])
        else:
            shown.append(vote)
    return shown


def total_usage(outputs: Sequence[ModelOutput]) -> dict[str, Any]:
    total: dict[str, Any] = {}
    for output in outputs:
        add_usage(total, usage_fields(output.usage) if output.usage is not None else {"cost": None})
    return total


async def strong_generate(messages: list[ChatMessage]) -> tuple[ModelOutput, str]:
    model = get_model(role=STRONG_ROLE)
    name = str(model)
    check_not_retired(name)
    return await model.generate(messages), name


def strategy_request(domain: str, problem: str, solution: str) -> list[ChatMessage]:
    """Inter-Cascade's second strong call: the guide's prompt for the problem, with the strong
    model's own solution, asking for a strategy that carries over to similar problems."""

    messages = guide_messages(domain, problem)  # type: ignore[arg-type]
    note = ("Your own solution to it follows. Write the strategy so that it also helps on similar "
            "problems: the method, not this problem's numbers or code.\n\nSolution:\n" + solution.strip())
    last = messages[-1]
    return [*messages[:-1], ChatMessageUser(content=f"{last.text}\n\n{note}")]


def answer_messages(messages: list[ChatMessage], output: ModelOutput) -> list[ChatMessage]:
    return [*messages, ChatMessageAssistant(content=output.completion, model=output.model)]


# --------------------------------------------------------------------------- the solver's steps

async def write_strategy(spec: Benchmark, problem: str, solution: str, *, target: str, metadata: Mapping[str, Any],
                         sample_id: str = "") -> tuple[str | None, str, ModelOutput]:
    """Inter-Cascade's strategy from the strong model, checked before it may be stored (the
    format, and the leak check of GRPO's rewards, :func:`gcop.evals.leaks.check_leak`, against the
    problem it was written for): the strategy (None when dropped), why it was dropped, and the
    call's output (for its usage)."""


    output, _ = await strong_generate(strategy_request(spec.domain, problem, solution))
    parsed = parse_guide_output(output.completion, reasoning=reasoning_text(output))
    if not parsed.valid or not parsed.strategy:
        return None, f"malformed strategy: {parsed.reason}", output
    leak = await check_leak(parsed.strategy, spec.name, target=target, metadata=metadata, problem=problem,
                            sample_id=sample_id)
    if leak.leaked:
        return None, f"leaks: {leak.reason}", output
    return parsed.strategy, "", output


async def _warm_up(state: Any, memory: Any, record: dict[str, Any]) -> list[ModelOutput]:
    """Warm the epoch's memory from the train samples ``memory.warm``, in their order, before the
    first query: the strong model answers each and writes its strategy (stored at positions
    -N..-1). Runs inside the first sample, so its cost is in that sample and in the log."""
    store = memory.memory(state.epoch)
    outputs: list[ModelOutput] = []
    stored, dropped = [], 0
    for offset, sample in enumerate(memory.warm):
        pool = get_benchmark(sample.metadata["benchmark"])
        problem = str(sample.metadata.get("problem_text") or sample.input)
        answer, _ = await strong_generate(core_messages(pool.domain, problem))
        target = sample.target if isinstance(sample.target, str) else "".join(sample.target)
        strategy, why, written = await write_strategy(pool, problem, answer.completion, target=target,
                                                      metadata=sample.metadata or {}, sample_id=str(sample.id))
        outputs += [answer, written]
        if strategy is None:
            dropped += 1
            continue
        entry = MemoryEntry(problem=problem, strategy=strategy, source_id=str(sample.id),
                            position=offset - len(memory.warm), epoch=state.epoch)
        store.add(entry)
        stored.append(asdict(entry))
    memory.warmed.add(state.epoch)
    record["warm"] = {"problems": len(memory.warm), "stored": len(stored), "dropped": dropped}
    record["warm_stored"] = stored
    return outputs


async def memory_retrieve(state: Any, memory: Any, spec: Benchmark, problem: str) -> tuple[list[str], list[ModelOutput]]:
    """The strategies the memory gives this query (warming it first when asked), recorded in
    ``metadata["memory"]``; and the strong calls the warm-up made."""
    record: dict[str, Any] = {"k": memory.k, "dropped": 0, "stored": None}
    state.metadata[MEMORY_METADATA_KEY] = record
    warm_calls: list[ModelOutput] = []
    if memory.warm and state.epoch not in memory.warmed:
        warm_calls = await _warm_up(state, memory, record)
    store = memory.memory(state.epoch)
    picked = store.nearest(problem, memory.k)
    record["retrieved"] = [e.source_id for e in picked]
    record["size_before"] = len(store)
    return [e.strategy for e in picked], warm_calls


async def run_cascade(state: Any, spec: Benchmark, settings: CascadeSettings, problem: str, *,
                      memory: Any = None, strong_calls: Sequence[ModelOutput] = ()) -> Any:
    """The cheap core's ``k`` answers to ``state.messages``, the rule's decision, and, below the
    threshold, the strong model's answer (and, with ``memory``, its strategy, stored when it
    passes the checks). The kept answer becomes ``state.output``; the record goes to
    ``metadata["cascade"]`` (and ``metadata["memory"]``)."""
    core = str(get_model())
    messages = list(state.messages)
    outputs = await cheap_samples(messages, settings.k)
    decision = await decide(spec, settings, [o.completion for o in outputs], problem=problem,
                            target=state.target.text, metadata=state.metadata, sample_id=str(state.sample_id))
    escalate = decision.confidence < settings.threshold
    relation = "<" if escalate else ">="
    record: dict[str, Any] = {
        **settings.as_dict(),
        "votes": decision.votes,
        "chosen": decision.chosen,
        "confidence": decision.confidence,
        "escalated": escalate,
        "reason": f"confidence {decision.confidence:.3g} {relation} threshold {settings.threshold:g}: {decision.reason}",
        "cheap_answer": outputs[decision.chosen].completion,
        "cheap": {"model": core, **total_usage(outputs)},
        "strong": None,
    }
    final, final_messages = outputs[decision.chosen], messages
    strong_outputs = list(strong_calls)
    if escalate:
        final_messages = core_messages(spec.domain, problem)
        final, name = await strong_generate(final_messages)
        strong_outputs.append(final)
        if memory is not None:
            strategy, why, written = await write_strategy(spec, problem, final.completion, target=state.target.text,
                                                          metadata=state.metadata, sample_id=str(state.sample_id))
            strong_outputs.append(written)
            mem = state.metadata[MEMORY_METADATA_KEY]
            if strategy is None:
                mem["dropped"] = 1
                mem["drop_reason"] = why
            else:
                entry = MemoryEntry(problem=problem, strategy=strategy, source_id=str(state.sample_id),
                                    position=int(state.metadata.get("stream_position", 0)), epoch=state.epoch)
                memory.memory(state.epoch).add(entry)
                mem["stored"] = asdict(entry)
    if strong_outputs:
        record["strong"] = {"model": str(get_model(role=STRONG_ROLE)), "calls": len(strong_outputs),
                            **total_usage(strong_outputs)}
    if memory is not None:
        state.metadata[MEMORY_METADATA_KEY]["size"] = len(memory.memory(state.epoch))
    state.metadata[CASCADE_METADATA_KEY] = record
    state.metadata["core"] = dict(record["cheap"])
    state.messages = answer_messages(final_messages, final)
    state.output = final
    return state
