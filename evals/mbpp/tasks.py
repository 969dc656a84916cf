"""MBPP as an Inspect task: ``inspect eval evals/mbpp/tasks.py`` or ``inspect eval gcop/mbpp``."""
# Absolute imports: `inspect eval evals/<task>.py` loads this file as a standalone module.

from __future__ import annotations

from typing import Any

from inspect_ai import Task, task

from gcop.evals.prompts import DEFAULT_MAX_CORE_TOKENS
from gcop.evals.tasks import DEFAULT_SANDBOX, build_task, reject_unknown_options, sandbox_spec
from gcop.guides.strategy import DEFAULT_MAX_STRATEGY_TOKENS


@task
def mbpp(
    split: str = "test",
    mode: str | None = None,
    icl_k: int = 3,
    max_strategy_tokens: int = DEFAULT_MAX_STRATEGY_TOKENS,
    max_guide_tokens: int | None = None,
    max_core_tokens: int = DEFAULT_MAX_CORE_TOKENS,
    on_invalid: str = "run_core_without",
    cascade_rule: str = "agreement",
    cascade_k: int | None = None,
    cascade_threshold: float = 1.0,
    memory_k: int = 3,
    memory_warm: int = 0,
    sandbox: str = DEFAULT_SANDBOX,
    executor: str = "docker",
    data_dir: str | None = None,
    **unknown: Any,
) -> Task:
    """MBPP (the sanitized config) judged by its assert tests, each one a pytest test.

    Args:
      split: train | test | validation | prompt | all.
      mode: core | icl | guided | cascade | guided_cascade | memory (default: guided when --model-role guide=... is given, else core).
      icl_k: retrieved train examples in icl mode.
      max_strategy_tokens: the guide's strategy budget.
      max_guide_tokens: cap on the guide call's output (default: a think budget of 1,024 plus
        max_strategy_tokens); recorded in each sample's guide metadata.
      max_core_tokens: cap on each core call's output (default 2,048; `--max-tokens` overrides it).
      on_invalid: run_core_without | score_zero, for an unparseable strategy.
      cascade_rule: the cascade modes' deferral rule: agreement | examples (code: the statement's examples, in the sandbox).
      cascade_k: cheap-core samples the rule reads (default 3 for agreement, 1 for examples).
      cascade_threshold: escalate to the strong role when the rule's confidence is below this.
      memory_k: strategies a memory query retrieves. memory_warm: train problems that warm it first.
      sandbox: gcop (the warm pool, default) | docker | k8s | local (Inspect's own sandboxes).
      executor: for the gcop sandbox: docker (default) | local (weaker isolation).
      data_dir: local data folder (default $GCOP_DATA_DIR, else the Hub).
    """
    reject_unknown_options("mbpp", unknown)
    return build_task(
        "mbpp", split=split, mode=mode, icl_k=icl_k,
        max_strategy_tokens=max_strategy_tokens, max_guide_tokens=max_guide_tokens,
        max_core_tokens=max_core_tokens, on_invalid=on_invalid,
        cascade_rule=cascade_rule, cascade_k=cascade_k, cascade_threshold=cascade_threshold,
        memory_k=memory_k, memory_warm=memory_warm, data_dir=data_dir,
        sandbox=sandbox_spec(sandbox, executor),
    )
