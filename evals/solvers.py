"""The guide–core pipeline as one Inspect solver: (guide step,) (ICL or memory retrieval,) core
generation (and, in the cascade modes, the deferral to the strong model: :mod:`gcop.evals.cascade`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from inspect_ai.model import ModelOutput, get_model
from inspect_ai.solver import Generate, Solver, TaskState, solver

from gcop.costs import price_if_self_hosted, usage_fields
from gcop.guides.solver import guide_role_bound, guide_step
from gcop.guides.strategy import DEFAULT_MAX_STRATEGY_TOKENS, leak_reason
from gcop.lifecycle import check_not_retired

from .benchmarks import Benchmark
from .cascade import CascadeSettings, StrongRoleMissingError, memory_retrieve, run_cascade, strong_role_bound
from .icl import Retriever
from .leaks import check_leak
from .memory import MemoryCascade
from .prompts import Domain, core_messages

Mode = Literal["core", "icl", "guided", "cascade", "guided_cascade", "memory"]
MODES: tuple[str, ...] = ("core", "icl", "guided", "cascade", "guided_cascade", "memory")
#: The modes whose cheap answer may escalate to the ``strong`` role (see :mod:`gcop.evals.cascade`).
CASCADE_MODES: tuple[str, ...] = ("cascade", "guided_cascade", "memory")
ON_INVALID: tuple[str, ...] = ("run_core_without", "score_zero")


def _price_guide() -> None:
    """A self-hosted guide (vllm/, hf/, ...) with no cost data gets the configured self-hosted rate."""
    from inspect_ai.model import get_model


    try:
        price_if_self_hosted(str(get_model(role="guide")))
    except Exception:  # noqa: BLE001 - a missing role is reported by the guide step itself
        pass


def skip_core(state: TaskState) -> TaskState:
    """An invalid strategy under ``on_invalid=score_zero``: no core call, an empty answer."""
    state.metadata["core_skipped"] = True
    state.output = ModelOutput.from_content(model="none", content="")
    state.completed = True
    return state


def record_core_usage(state: TaskState, core: str) -> None:
    """The core's usage, kept per sample: Inspect's model_usage merges a guide and a core that are
    the same model, and role_usage has no entry for the main model."""
    usage = state.output.usage if state.output and state.output.choices else None
    state.metadata["core"] = {"model": core, **(usage_fields(usage) if usage is not None else {})}


def _problem_text(state: TaskState) -> str:
    return str(state.metadata.get("problem_text") or state.input_text)


async def _leak_fields(strategy: str, domain: Domain, benchmark: Benchmark | None,
                      leak_answer: Callable[[TaskState], dict[str, Any]] | None, state: TaskState,
                      problem: str) -> dict[str, Any]:
    """The guide's leak verdict for the sample: the leak check of GRPO's rewards
    (:func:`gcop.evals.leaks.check_leak`, code candidates in this sample's sandbox) when the benchmark is
    known, else the text-only rules on ``leak_answer``'s arguments."""
    if benchmark is not None:

        verdict = await check_leak(strategy, benchmark.name, target=state.target.text, metadata=state.metadata,
                                   problem=problem, sample_id=str(state.sample_id))
        return {"leaked": verdict.leaked, "leak_reason": verdict.reason}

    reason = leak_reason(strategy, domain=domain, **(leak_answer(state) if leak_answer else {}))
    return {"leaked": reason is not None, "leak_reason": reason}


@solver
def guide_core(
    domain: Domain,
    mode: Mode | None = None,
    *,
    icl_k: int = 3,
    retriever: Callable[[], Retriever] | None = None,
    max_strategy_tokens: int = DEFAULT_MAX_STRATEGY_TOKENS,
    max_guide_tokens: int | None = None,
    on_invalid: str = "run_core_without",
    leak_answer: Callable[[TaskState], dict[str, Any]] | None = None,
    benchmark: Benchmark | None = None,
    cascade: CascadeSettings | None = None,
    memory: MemoryCascade | None = None,
) -> Solver:
    """``mode``: ``core`` (the core alone), ``icl`` (``icl_k`` retrieved train examples first),
    ``guided`` (the guide role's strategy in the core's input), ``cascade`` / ``guided_cascade``
    (the core alone / guided answers, the ``cascade`` rule may escalate to the ``strong`` role),
    ``memory`` (Inter-Cascade: the core gets the strategies ``memory`` retrieves; an escalated
    query's strong model writes one). ``None`` picks ``guided`` when a model is bound to the
    ``guide`` role, else ``core``. ``on_invalid``: with an unparseable strategy,
    ``run_core_without`` it or ``score_zero`` (the core is not called)."""
    if mode is not None and mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if on_invalid not in ON_INVALID:
        raise ValueError(f"on_invalid must be one of {ON_INVALID}, got {on_invalid!r}")
    if mode == "icl" and retriever is None:
        raise ValueError("icl mode needs a retriever")
    if mode in CASCADE_MODES and (benchmark is None or cascade is None):
        raise ValueError(f"{mode} mode needs the benchmark and its cascade settings")
    if mode == "memory" and memory is None:
        raise ValueError("memory mode needs its memory (gcop.evals.memory.MemoryCascade)")

    async def solve(state: TaskState, generate: Generate) -> TaskState:

        chosen = mode or ("guided" if guide_role_bound() else "core")
        state.metadata["mode"] = chosen
        problem = _problem_text(state)
        strategy: str | None = None
        examples: list[tuple[str, str]] = []
        remembered: list[str] = []
        warm_calls: list[ModelOutput] = []
        if chosen in CASCADE_MODES and not strong_role_bound():
            raise StrongRoleMissingError(chosen)
        if chosen in ("guided", "guided_cascade"):
            _price_guide()
            state = await guide_step(domain, max_strategy_tokens=max_strategy_tokens, max_tokens=max_guide_tokens,
                                     required=True)(state, generate)
            guide = state.metadata["guide"]
            if guide.get("valid"):
                strategy = guide["strategy"]
                guide.update(await _leak_fields(strategy, domain, benchmark, leak_answer, state, problem))
            else:
                guide["leaked"] = None
                if on_invalid == "score_zero":
                    return skip_core(state)
        elif chosen == "icl":
            assert retriever is not None
            picked = retriever().nearest(problem, icl_k, exclude_ids=[str(state.sample_id)])
            state.metadata["icl_ids"] = [example_id for example_id, _, _ in picked]
            examples = [(p, s) for _, p, s in picked]
        elif chosen == "memory":
            assert memory is not None and benchmark is not None
            remembered, warm_calls = await memory_retrieve(state, memory, benchmark, problem)
        state.messages = core_messages(domain, problem, strategy=strategy, examples=examples, remembered=remembered)
        core = str(get_model())
        check_not_retired(core)  # before the first call, with the replacement named
        if chosen in CASCADE_MODES:
            assert benchmark is not None and cascade is not None
            return await run_cascade(state, benchmark, cascade, problem, memory=memory if chosen == "memory" else None,
                                     strong_calls=warm_calls)
        state = await generate(state)
        record_core_usage(state, core)
        return state

    return solve
