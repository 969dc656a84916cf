"""The guide–core pipeline as one Inspect solver: (guide step,) (ICL retrieval,) core generation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from inspect_ai.model import ModelOutput, get_model
from inspect_ai.solver import Generate, Solver, TaskState, solver

from gcop.costs import usage_fields
from gcop.lifecycle import check_not_retired

from .icl import Retriever
from .prompts import Domain, core_messages
from guides.strategy import DEFAULT_MAX_STRATEGY_TOKENS

Mode = Literal["core", "icl", "guided"]
MODES: tuple[str, ...] = ("core", "icl", "guided")
ON_INVALID: tuple[str, ...] = ("run_core_without", "score_zero")


def _price_guide() -> None:
    """A self-hosted guide (vllm/, hf/, ...) with no cost data gets the configured self-hosted rate."""
    from inspect_ai.model import get_model

    from gcop.costs import price_if_self_hosted

    try:
        price_if_self_hosted(str(get_model(role="guide")))
    except Exception:  # noqa: BLE001 - a missing role is reported by the guide step itself
        pass


def _problem_text(state: TaskState) -> str:
    return str(state.metadata.get("problem_text") or state.input_text)


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
) -> Solver:
    """``mode``: ``core`` (the core alone), ``icl`` (``icl_k`` retrieved train examples first),
    ``guided`` (the guide role's strategy in the core's input). ``None`` picks ``guided`` when a
    model is bound to the ``guide`` role, else ``core``. ``on_invalid``: with an unparseable
    strategy, ``run_core_without`` it or ``score_zero`` (the core is not called)."""
    if mode is not None and mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if on_invalid not in ON_INVALID:
        raise ValueError(f"on_invalid must be one of {ON_INVALID}, got {on_invalid!r}")
    if mode == "icl" and retriever is None:
        raise ValueError("icl mode needs a retriever")

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        from guides.solver import guide_role_bound, guide_step
        from guides.strategy import strategy_leaks

        chosen = mode or ("guided" if guide_role_bound() else "core")
        state.metadata["mode"] = chosen
        problem = _problem_text(state)
        strategy: str | None = None
        examples: list[tuple[str, str]] = []
        if chosen == "guided":
            _price_guide()
            state = await guide_step(domain, max_strategy_tokens=max_strategy_tokens, max_tokens=max_guide_tokens,
                                     required=True)(state, generate)
            guide = state.metadata["guide"]
            if guide.get("valid"):
                strategy = guide["strategy"]
                leak_args = leak_answer(state) if leak_answer else {}
                guide["leaked"] = bool(strategy_leaks(strategy, domain=domain, **leak_args))
            else:
                guide["leaked"] = None
                if on_invalid == "score_zero":
                    state.metadata["core_skipped"] = True
                    state.output = ModelOutput.from_content(model="none", content="")
                    state.completed = True
                    return state
        elif chosen == "icl":
            assert retriever is not None
            picked = retriever().nearest(problem, icl_k, exclude_ids=[str(state.sample_id)])
            state.metadata["icl_ids"] = [example_id for example_id, _, _ in picked]
            examples = [(p, s) for _, p, s in picked]
        state.messages = core_messages(domain, problem, strategy=strategy, examples=examples)
        core = str(get_model())
        check_not_retired(core)  # before the first call, with the replacement named
        state = await generate(state)
        # The core's usage, kept per sample: Inspect's model_usage merges a guide and a core that are
        # the same model, and role_usage has no entry for the main model.
        usage = state.output.usage if state.output and state.output.choices else None
        state.metadata["core"] = {"model": core, **(usage_fields(usage) if usage is not None else {})}
        return state

    return solve
