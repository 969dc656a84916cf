"""The guide step as an Inspect solver.

:func:`guide_step` asks the model bound to the ``guide`` model role (``--model-role
guide=<model>`` on the command line, ``model_roles={"guide": ...}`` in ``eval()`` or ``Task``) for
a strategy, checks it with :func:`~guides.strategy.parse_guide_output` and stores the result in
``state.metadata["guide"]``. It does not touch the conversation: the core solver reads
``state.metadata["guide"]["strategy"]`` (only when ``["valid"]`` is true) and builds its own
input.

Role resolution: ``get_model(role=...)`` silently returns the *main* model when nothing is bound
to the role (unless ``required=True``, which raises a generic ``PrerequisiteError``), so the
step checks :func:`inspect_ai.model.model_roles` itself and raises
:class:`GuideRoleMissingError` with the command-line fix.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Literal

from inspect_ai.model import ContentReasoning, GenerateConfig, ModelOutput, get_model, model_roles
from inspect_ai.solver import Generate, Solver, TaskState, solver

from gcop.lifecycle import check_not_retired
from gcop.preflight import guide_template_problem

from .prompts import guide_messages, prompt_version
from .strategy import DEFAULT_MAX_STRATEGY_TOKENS, approx_token_count, parse_guide_output

__all__ = ["APPROX_COUNTER", "DEFAULT_GUIDE_THINK_TOKENS", "GUIDE_METADATA_KEY", "GUIDE_SAMPLING", "SAMPLING_FILE", "GuideTemplateError", "folder_sampling", "guide_max_tokens", "guide_token_counter", "GuideRoleMissingError", "guide_role_bound", "guide_step", "reasoning_text", "strategy_from_state"]

#: Where the guide's result lives in ``state.metadata``.
GUIDE_METADATA_KEY = "guide"
#: Tokens the guide may think for before its strategy; the call's output cap is this plus the
#: strategy budget, so a guide that never stops costs a bounded amount per problem.
DEFAULT_GUIDE_THINK_TOKENS = 1024


class GuideRoleMissingError(ValueError):
    """The guide step ran but no model is bound to its model role."""

    def __init__(self, role: str = "guide") -> None:
        super().__init__(
            f"The guide step needs a model bound to the '{role}' model role, and none is: pass "
            f"--model-role {role}=<model> to `inspect eval` (or model_roles={{'{role}': <model>}} to "
            f"eval()), or run without the guide (e.g. -T mode=core)."
        )
        self.role = role


def guide_role_bound(role: str = "guide") -> bool:
    """Whether a model is bound to ``role`` in the current eval context.

    Reads Inspect's ``model_roles()`` (eval-level roles merged over the task's own), which is
    only populated while a task runs: call this inside a solver's ``solve()``, not when a task
    is being constructed (it is always False there).
    """
    bound = model_roles().get(role)
    return bound is not None and bound != []


APPROX_COUNTER = "approx: one token per word, digit or symbol (gcop.guides.strategy.approx_token_count)"

#: gcop's default sampling of a guide: rollouts, the held-out evaluation and ``inspect eval`` alike
#: (``top_k`` 0: off). A trained or prepared guide folder records its own in :data:`SAMPLING_FILE`.
GUIDE_SAMPLING: dict[str, Any] = {"temperature": 0.6, "top_p": 0.95, "top_k": 0}
#: In a guide folder: ``temperature``, ``top_p``, ``top_k``, ``max_new_tokens`` and ``stop_ids``,
#: written by ``gcop train sft|grpo`` and ``gcop guide prepare``, read by the guide step.
SAMPLING_FILE = "gcop_sampling.json"


@functools.lru_cache(maxsize=16)
def folder_sampling(model_name: str) -> dict[str, Any] | None:
    """The sampling recorded in an ``hf/`` or ``vllm/`` guide's folder on this machine, or None."""
    import json
    from pathlib import Path

    provider, _, path = model_name.partition("/")
    if provider not in ("hf", "vllm") or not path:
        return None
    file = Path(path).expanduser() / SAMPLING_FILE
    try:
        found = json.loads(file.read_text()) if file.is_file() else None
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


class GuideTemplateError(ValueError):
    """A self-hosted guide on this machine has no chat template (see gcop.preflight)."""


@functools.lru_cache(maxsize=16)
def _template_problem(model_name: str) -> str | None:

    return guide_template_problem(model_name)


@functools.lru_cache(maxsize=16)
def _guide_tokenizer(model_name: str) -> Any:
    """The tokenizer of an ``hf/`` or ``vllm/`` guide on this machine, or None."""
    provider, _, path = model_name.partition("/")
    if provider not in ("hf", "vllm") or not path:
        return None
    try:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(path, local_files_only=True)
    except Exception:  # noqa: BLE001 - no tokenizer here: the callers fall back
        return None


#: Inspect's ``hf`` provider reports each sample of a batch the batch's padded token counts and
#: no stop reason; the guide step recounts them (:func:`_recounted_usage`).
RECOUNTED = "recounted with the guide's tokenizer (Inspect's hf provider reports the batch's padded totals)"


def _recounted_usage(model_name: str, messages: list[Any], completion: str, cap: int | None) -> dict[str, Any] | None:
    """Per-sample input/output tokens and stop reason of an ``hf/`` guide's call, from its
    tokenizer: the prompt as the template renders it, the output as decoded plus its stop token
    when it stopped before the cap. None for other providers (their counts are per call)."""
    if not model_name.startswith("hf/"):
        return None
    tokenizer = _guide_tokenizer(model_name)
    if tokenizer is None or not getattr(tokenizer, "chat_template", None):
        return None
    chat = [{"role": m.role, "content": m.text} for m in messages]
    prompt = tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=True)
    prompt_ids = prompt["input_ids"] if hasattr(prompt, "keys") else prompt
    # the decoded text re-encoded: the ids the model generated, up to tokenizer round trips
    # (exact for ordinary text; random ids can re-encode longer), never more than the cap
    generated = len(tokenizer.encode(completion, add_special_tokens=False))
    stopped = cap is None or generated < cap
    output_tokens = generated + 1 if stopped else cap
    return {"input_tokens": len(prompt_ids), "output_tokens": output_tokens,
            "stop_reason": "stop" if stopped else "max_tokens", "usage_source": RECOUNTED}


@functools.lru_cache(maxsize=16)
def guide_token_counter(model_name: str) -> tuple[Callable[[str], int], str]:
    """How the strategy budget is counted for a guide: with the guide's own tokenizer when it is a
    self-hosted model whose tokenizer is on this machine (``hf/`` or ``vllm/`` with a local folder
    or a cached Hub id), else with the one documented approximation. Returns the counter and a
    description, which each sample records (``metadata.guide.token_counter``)."""
    tokenizer = _guide_tokenizer(model_name)
    if tokenizer is not None:
        path = model_name.partition("/")[2]
        return (lambda text: len(tokenizer.encode(text, add_special_tokens=False))), f"tokenizer of {path}"
    return approx_token_count, APPROX_COUNTER


def reasoning_text(output: ModelOutput) -> str | None:
    """Reasoning that came on the model's reasoning channel (Inspect ``ContentReasoning``).

    Providers that separate reasoning (vLLM/SGLang with a reasoning parser, OpenAI-compatible
    servers returning ``reasoning_content``, or a ``<think>`` block that Inspect's OpenAI
    converters split off) put it in ``output.message.content`` as ``ContentReasoning`` parts;
    ``output.completion`` then holds only the text parts. Redacted reasoning contributes its
    summary, if any (its raw text is encrypted). The one extractor of gcop: the guide step and
    acceptance sampling's teacher calls both use it.
    """
    if not output.choices or isinstance(output.message.content, str):
        return None
    parts = [
        (part.summary or "") if part.redacted else part.reasoning
        for part in output.message.content
        if isinstance(part, ContentReasoning)
    ]
    text = "\n\n".join(p.strip() for p in parts if p and p.strip())
    return text or None


@solver
def guide_step(
    domain: Literal["math", "code"],
    *,
    max_strategy_tokens: int = DEFAULT_MAX_STRATEGY_TOKENS,
    role: str = "guide",
    required: bool = True,
    problem: Callable[[TaskState], str] | None = None,
    count_tokens: Callable[[str], int] | None = None,
    config: GenerateConfig | None = None,
    max_tokens: int | None = None,
    system_prompt: str | None = None,
) -> Solver:
    """Ask the ``role`` model for a strategy and store it in ``state.metadata["guide"]``.

    Args:
      domain: ``math`` or ``code`` (picks the guide prompt).
      max_strategy_tokens: the strategy's token budget (beyond it the strategy is invalid).
      role: the model role the guide is bound to.
      required: with no model bound to ``role``, raise :class:`GuideRoleMissingError` (True)
        or leave the state untouched (False: no ``"guide"`` key is written).
      problem: the problem text for a state (default ``state.input_text``).
      count_tokens: token counter for the budget (default :func:`guide_token_counter`: the guide's
        own tokenizer where it is on this machine, else the parser's offline approximation).
      config: generation config for the guide call (merged over the role's own).
      max_tokens: the guide call's output cap (default :func:`guide_max_tokens`: a think budget
        plus ``max_strategy_tokens``); a ``max_tokens`` in ``config`` wins.
      system_prompt: the guide's system prompt instead of the domain's (see
        :func:`~guides.prompts.guide_messages`); recorded as ``prompt_version`` ``custom-<hash of the text>``.

    The stored dict has ``raw``, ``reasoning``, ``strategy``, ``valid``, ``reason``,
    ``strategy_tokens`` (see :class:`~guides.strategy.ParsedStrategy`), ``input_tokens`` and
    ``output_tokens`` (the call's usage, None when unreported), ``stop_reason``, ``max_tokens``
    (the cap the call ran under), ``token_counter`` (what counted ``strategy_tokens``), ``model``
    and ``prompt_version``. A guide call that fails (after Inspect's retries) raises, so Inspect
    records a sample error rather than an invalid strategy.
    """
    if domain not in ("math", "code"):
        raise ValueError(f"domain must be 'math' or 'code', got {domain!r}")
    if max_strategy_tokens <= 0:
        raise ValueError(f"max_strategy_tokens must be > 0, got {max_strategy_tokens}")
    cap = max_tokens if max_tokens is not None else guide_max_tokens(max_strategy_tokens)
    if cap < max_strategy_tokens:
        raise ValueError(f"max_tokens ({cap}) must be >= max_strategy_tokens ({max_strategy_tokens})")
    default_config = GenerateConfig(max_tokens=cap).merge(config or GenerateConfig())

    def sampled_as_trained(model_name: str) -> tuple[GenerateConfig, str | None]:
        """The call's config: a guide folder's recorded sampling (and cap, unless ``max_tokens``
        was given) under what the caller set in ``config``."""
        recorded = folder_sampling(model_name)
        if not recorded:
            return default_config, None
        fields = {k: recorded[k] for k in ("temperature", "top_p", "top_k") if recorded.get(k) is not None}
        if max_tokens is None and recorded.get("max_new_tokens"):
            fields["max_tokens"] = max(int(recorded["max_new_tokens"]), max_strategy_tokens)
        return GenerateConfig(**{"max_tokens": cap, **fields}).merge(config or GenerateConfig()), SAMPLING_FILE

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        if not guide_role_bound(role):
            if required:
                raise GuideRoleMissingError(role)
            return state
        model = get_model(role=role, required=True)
        check_not_retired(str(model))  # before the first call, with the replacement named
        if (no_template := _template_problem(str(model))) is not None:
            raise GuideTemplateError(no_template)
        problem_text = problem(state) if problem is not None else state.input_text
        messages = guide_messages(domain, problem_text, max_strategy_tokens, system_prompt=system_prompt)
        call_config, sampling_source = sampled_as_trained(str(model))
        output = await model.generate(messages, config=call_config)
        if count_tokens is not None:
            counter, counted_with = count_tokens, "the caller's counter"
        else:
            counter, counted_with = guide_token_counter(str(model))
        parsed = parse_guide_output(
            output.completion,
            reasoning=reasoning_text(output),
            max_strategy_tokens=max_strategy_tokens,
            count_tokens=counter,
        )
        usage = output.usage
        recounted = _recounted_usage(str(model), messages, output.completion, call_config.max_tokens)
        state.metadata[GUIDE_METADATA_KEY] = {
            **parsed.to_dict(),
            "input_tokens": usage.input_tokens if usage is not None else None,
            "output_tokens": usage.output_tokens if usage is not None else None,
            "stop_reason": output.stop_reason if output.choices else None,
            **(recounted or {}),
            **({"provider_usage": {"input_tokens": usage.input_tokens if usage else None,
                                   "output_tokens": usage.output_tokens if usage else None}} if recounted else {}),
            "max_tokens": call_config.max_tokens,
            "sampling": {"temperature": call_config.temperature, "top_p": call_config.top_p, "top_k": call_config.top_k,
                         "source": f"the guide folder's {sampling_source}" if sampling_source else "the task's"},
            "token_counter": counted_with,
            "model": str(model),
            "prompt_version": prompt_version(system_prompt),
        }
        return state

    return solve


def guide_max_tokens(max_strategy_tokens: int = DEFAULT_MAX_STRATEGY_TOKENS,
                     think_tokens: int = DEFAULT_GUIDE_THINK_TOKENS) -> int:
    """The default output cap of a guide call: its think budget plus its strategy budget."""
    return think_tokens + max_strategy_tokens


def strategy_from_state(state: TaskState) -> dict[str, Any] | None:
    """The guide's stored result for this sample (the dict :func:`guide_step` wrote), or None."""
    guide = state.metadata.get(GUIDE_METADATA_KEY)
    return guide if isinstance(guide, dict) else None
