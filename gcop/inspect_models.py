"""Calling teacher, core and judge models through Inspect's model API outside ``eval()``.

Inspect's :meth:`~inspect_ai.model.Model.generate` works in a plain asyncio program: no
``init_active_model``, ``init_model_usage`` or ``init_concurrency`` is required. What a program
outside ``eval()`` should know (Inspect 0.3.x, read from ``inspect_ai/model/_model.py`` and
``inspect_ai/util/_concurrency.py``):

* **Retries and timeouts** come from the :class:`~inspect_ai.model.GenerateConfig` given to
  :func:`inspect_ai.model.get_model` or to ``generate`` (``max_retries``, ``timeout`` for the
  whole call with its retries, ``attempt_timeout`` per attempt). A call that still fails raises
  (the provider's exception); some providers return an output with ``error`` set instead.
  Provider SDKs may retry on their own too (anthropic's SDK: 2 retries); pass the model arg
  ``max_retries=0`` (:func:`get_model`'s ``sdk_retries``) to leave retrying to Inspect.
* **Connections**: every ``generate`` holds a slot of a process-wide semaphore registry keyed by
  model/endpoint. With ``max_connections`` unset, Inspect uses *adaptive* concurrency (a
  controller that grows/shrinks the limit); an explicit ``max_connections`` gives a fixed limit.
  The registry is global and the **first** limit created for a key wins for the process, so a
  second run in the same process with another ``max_connections`` would silently keep the
  first; :func:`run_sync` resets the registry (``init_concurrency()``), as ``eval()`` does at
  start. The limiters are anyio primitives that bind to a loop only while a waiter waits, so
  reusing them across ``asyncio.run`` calls works.
* **Usage and cost**: ``output.usage`` is filled by the provider (mockllm counts tokens with a
  tokenizer download unless the output carries usage: give mock outputs explicit usage);
  ``usage.total_cost`` is set by Inspect for models with cost data (after
  :func:`gcop.costs.apply_prices`), None otherwise. Inspect's own per-model totals
  (``model_usage()``) are only kept once ``init_model_usage()`` has run in the context, which
  :func:`run_sync` does; the :class:`gcop.train.ledger.CostLedger` is what gcop relies on.
* **Transcript**: outside a sample, each ``generate`` appends a ``ModelEvent`` (with the whole
  input and output) to an ambient ``Transcript`` that nobody ever writes out or clears -- a
  memory leak over thousands of calls. :func:`generate_output` gives every call outside a sample
  its own throwaway transcript.
* **Model instances**: ``get_model`` memoizes by default (never for mockllm); provider clients
  are bound to the event loop they were made on, so make models inside the loop that uses them
  (or pass ``memoize=False``, as :func:`get_model` here does).
* gcop's offline models: ``mockllm/model`` with a ``custom_outputs`` callable
  ``(input, tools, tool_choice, config) -> ModelOutput`` (sync or async) works;
  ``gcop/reference`` and ``gcop/replay`` answer per Inspect *sample* and cannot be used here.
* The fake Anthropic server (:mod:`gcop.testing.fake_anthropic`) works as in an eval: set
  ``ANTHROPIC_BASE_URL``/``ANTHROPIC_API_KEY`` or pass ``base_url``/``api_key``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from inspect_ai.model import ChatMessage, GenerateConfig, Model, ModelOutput, ModelUsage

__all__ = [
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_TIMEOUT",
    "ModelCallError",
    "generate_config",
    "generate_output",
    "generate_text",
    "get_model",
    "run_sync",
]

T = TypeVar("T")

#: Inspect retries per call (rate limits, overload, dropped connections) before giving up.
DEFAULT_MAX_RETRIES = 8
#: Seconds for one call with all its retries.
DEFAULT_TIMEOUT = 900


class ModelCallError(RuntimeError):
    """A model call that failed for good (after Inspect's retries) or returned an error."""


def generate_config(
    config: GenerateConfig | Mapping[str, Any] | None = None,
    *,
    max_retries: int | None = None,
    timeout: int | None = None,
    max_connections: int | None = None,
    **fields: Any,
) -> GenerateConfig:
    """A :class:`GenerateConfig` from a config or a mapping of its fields, with the transport
    settings filled in where the config leaves them unset (``max_retries`` and ``timeout``
    default to :data:`DEFAULT_MAX_RETRIES`, :data:`DEFAULT_TIMEOUT`)."""
    if config is None:
        config = GenerateConfig()
    elif not isinstance(config, GenerateConfig):
        unknown = set(config) - set(GenerateConfig.model_fields)
        if unknown:
            raise ValueError(f"unknown GenerateConfig field(s): {sorted(unknown)}")
        config = GenerateConfig(**dict(config))
    extra = {k: v for k, v in fields.items() if v is not None}
    defaults: dict[str, Any] = {
        "max_retries": max_retries if max_retries is not None else DEFAULT_MAX_RETRIES,
        "timeout": timeout if timeout is not None else DEFAULT_TIMEOUT,
        "max_connections": max_connections,
    }
    fill = {k: v for k, v in defaults.items() if v is not None and getattr(config, k) is None}
    return config.merge(GenerateConfig(**fill, **extra)) if (fill or extra) else config


def get_model(
    name: str | Model,
    *,
    config: GenerateConfig | Mapping[str, Any] | None = None,
    max_retries: int | None = None,
    timeout: int | None = None,
    max_connections: int | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    sdk_retries: int | None = None,
    model_args: Mapping[str, Any] | None = None,
    **more_model_args: Any,
) -> Model:
    """An Inspect model for calls outside ``eval()`` (not memoized: make it on the loop that uses it).

    ``config`` / ``max_retries`` / ``timeout`` / ``max_connections``: see :func:`generate_config`.
    ``sdk_retries``: the provider SDK's own retry count (model arg ``max_retries``), e.g. 0 to
    leave retrying to Inspect; None leaves the SDK default. ``model_args`` (and any other keyword)
    go to the provider (a ``max_retries`` there is the SDK's, as ``sdk_retries``). A
    :class:`Model` is returned as is.
    """
    if isinstance(name, Model):
        return name
    from inspect_ai.model import get_model as inspect_get_model

    args = {**dict(model_args or {}), **more_model_args}
    if sdk_retries is not None:
        args["max_retries"] = sdk_retries
    return inspect_get_model(
        name,
        config=generate_config(config, max_retries=max_retries, timeout=timeout, max_connections=max_connections),
        base_url=base_url,
        api_key=api_key,
        memoize=False,
        **args,
    )


@contextlib.contextmanager
def _own_transcript() -> Iterator[None]:
    """Outside a sample, give the enclosed call a throwaway transcript (see the module docstring)."""
    try:
        from inspect_ai.log._samples import sample_active
        from inspect_ai.log._transcript import Transcript, _transcript
    except ImportError:  # pragma: no cover - private API moved: do nothing
        yield
        return
    if sample_active() is not None:
        yield
        return
    token = _transcript.set(Transcript())
    try:
        yield
    finally:
        _transcript.reset(token)


async def generate_output(
    model: Model,
    messages: str | Sequence[ChatMessage],
    config: GenerateConfig | Mapping[str, Any] | None = None,
    *,
    ledger: Any = None,
    phase: str | None = None,
    limiter: asyncio.Semaphore | None = None,
) -> ModelOutput:
    """One ``model.generate`` outside ``eval()``.

    ``ledger`` (a :class:`gcop.train.ledger.CostLedger`): its budget is checked before the call
    starts (raising :class:`gcop.train.ledger.BudgetExceeded`) and the call's usage is recorded under
    ``phase`` when it returns. ``limiter``: a semaphore held for the call (after the budget
    check, and checked again once a slot is free). Raises :class:`ModelCallError` when the call
    fails after Inspect's retries or returns an error.
    """
    if config is None:
        config = GenerateConfig()
    elif not isinstance(config, GenerateConfig):
        config = GenerateConfig(**dict(config))
    if ledger is not None:
        ledger.check_budget()
    async with (limiter if limiter is not None else contextlib.nullcontext()):
        if ledger is not None:
            ledger.check_budget()
        try:
            with _own_transcript():
                output = await model.generate(list(messages) if not isinstance(messages, str) else messages,
                                              config=config)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - after Inspect's retries, any failure is final
            raise ModelCallError(f"{model}: {type(exc).__name__}: {exc}") from exc
    if ledger is not None:  # a call without usage still counts as a call
        ledger.record_usage(str(model), output.usage or ModelUsage(), phase=phase)
    if output.error:
        raise ModelCallError(f"{model}: the call returned an error: {output.error}")
    return output


async def generate_text(
    model: Model,
    messages: str | Sequence[ChatMessage],
    config: GenerateConfig | Mapping[str, Any] | None = None,
    *,
    ledger: Any = None,
    phase: str | None = None,
    limiter: asyncio.Semaphore | None = None,
) -> tuple[str, ModelUsage]:
    """``(completion text, usage)`` of one call; see :func:`generate_output`."""
    output = await generate_output(model, messages, config, ledger=ledger, phase=phase, limiter=limiter)
    return output.completion, output.usage or ModelUsage()


def run_sync(main: Callable[[], Awaitable[T]], *, fresh_concurrency: bool = True) -> T:
    """Run ``main()`` (an async function of no arguments) in a new event loop, set up the way
    ``eval()`` sets up Inspect: a fresh connection-limit registry (``fresh_concurrency``; it is
    process-wide, so do not reset it while another loop in this process is calling models) and
    Inspect's per-model usage totals for this run (``inspect_ai.model._model.model_usage()``)."""

    async def runner() -> T:
        try:
            from inspect_ai.model._model import init_model_usage

            init_model_usage({})
        except ImportError:  # pragma: no cover
            pass
        return await main()

    if fresh_concurrency:
        try:
            from inspect_ai.util._concurrency import init_concurrency

            init_concurrency()
        except ImportError:  # pragma: no cover
            pass
    return asyncio.run(runner())
