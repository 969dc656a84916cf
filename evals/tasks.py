"""What every benchmark's Inspect task shares: :func:`build_task` turns a registered benchmark
(:mod:`gcop.evals.benchmarks`) and the task options into a Task (samples, the guide-core solver, the
scorer, metadata recording the data revision, prompt versions and prices)."""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence

from inspect_ai import Task
from inspect_ai.dataset import MemoryDataset
from inspect_ai.model import GenerateConfig
from inspect_ai.util import SandboxEnvironmentType

from gcop.costs import apply_prices
from gcop.guides.prompts import GUIDE_PROMPT_VERSION
from gcop.guides.strategy import DEFAULT_MAX_STRATEGY_TOKENS

from .benchmarks import get_benchmark
from .cascade import CascadeSettings
from .data import DATA_DIR_ENV
from .icl import Retriever
from .memory import MemoryCascade
from .prompts import CORE_PROMPT_VERSION, DEFAULT_MAX_CORE_TOKENS
from .scorers import task_scorer
from .solvers import CASCADE_MODES, MODES, ON_INVALID, guide_core

#: Default sandbox for code tasks: the project's warm Docker pool (see gcop.sandbox.inspect_provider).
DEFAULT_SANDBOX = "gcop"


@functools.lru_cache(maxsize=8)
def icl_retriever(benchmark: str, data_dir: str | None) -> Retriever:
    """Retrieval pool: the **train** split of the benchmark's ICL pool (its own, or the one its
    spec names: HumanEval has no train split and retrieves from KodCode's)."""
    pool = get_benchmark(get_benchmark(benchmark).icl_pool or benchmark)
    problems = pool.load("train", data_dir)
    texts = [str(pool.sample(p).input) for p in problems]
    return Retriever(texts, [pool.icl_example(p) for p in problems], [p.id for p in problems])


def build_task(
    benchmark: str,
    *,
    split: str | None,
    mode: str | None = None,
    icl_k: int = 3,
    max_strategy_tokens: int = DEFAULT_MAX_STRATEGY_TOKENS,
    on_invalid: str = "run_core_without",
    max_guide_tokens: int | None = None,
    max_core_tokens: int = DEFAULT_MAX_CORE_TOKENS,
    data_dir: str | None = None,
    limit_ids: Sequence[str] | None = None,
    sandbox: SandboxEnvironmentType | None = None,
    cascade_rule: str = "agreement",
    cascade_k: int | None = None,
    cascade_threshold: float = 1.0,
    memory_k: int = 3,
    memory_warm: int = 0,
) -> Task:
    """The Inspect task of a registered benchmark: its samples (``split``; None or ``"all"``: every
    split), the guide-core solver in ``mode``, the benchmark's scorer, and ``sandbox`` for the
    benchmarks judged in one. A benchmark's ``@task`` calls it through
    :func:`gcop.evals.options.benchmark_task`, which checks the options.

    The cascade modes (:mod:`gcop.evals.cascade`) defer by ``cascade_rule`` with ``cascade_k`` cheap
    samples below ``cascade_threshold``; ``memory`` mode retrieves ``memory_k`` strategies and
    first warms its memory with the first ``memory_warm`` train problems of the ICL pool."""
    if mode is not None and mode not in MODES:
        raise ValueError(f"-T mode must be one of {', '.join(MODES)}, got {mode!r}")
    if on_invalid not in ON_INVALID:
        raise ValueError(f"-T on_invalid must be one of {', '.join(ON_INVALID)}, got {on_invalid!r}")
    if icl_k < 0 or max_strategy_tokens <= 0:
        raise ValueError("-T icl_k must be >= 0 and -T max_strategy_tokens > 0")
    if not isinstance(max_core_tokens, int) or max_core_tokens < 1:
        raise ValueError(f"-T max_core_tokens must be a whole number >= 1, got {max_core_tokens!r}")
    if max_guide_tokens is not None and max_guide_tokens < max_strategy_tokens:
        raise ValueError(f"-T max_guide_tokens ({max_guide_tokens}) must be >= -T max_strategy_tokens ({max_strategy_tokens})")
    spec = get_benchmark(benchmark)
    data_dir = data_dir or os.environ.get(DATA_DIR_ENV) or None
    if split == "all":
        split = None
    if split is not None and split not in spec.splits:
        raise ValueError(f"-T split must be one of {', '.join(spec.splits)} or all for {spec.name}, got {split!r}")
    if mode == "icl" and spec.icl_pool is None and split in (None, "train"):
        raise ValueError("-T mode=icl retrieves from the train split, so it cannot evaluate it: use -T split=test")
    cascade = CascadeSettings.from_options(cascade_rule, cascade_k, cascade_threshold, sandboxed=spec.sandboxed) \
        if mode in CASCADE_MODES else None
    if not isinstance(memory_k, int) or memory_k < 1 or not isinstance(memory_warm, int) or memory_warm < 0:
        raise ValueError(f"-T memory_k must be >= 1 and -T memory_warm >= 0, got {memory_k!r} and {memory_warm!r}")
    if mode == "memory" and memory_warm and spec.icl_pool is None and split in (None, "train"):
        raise ValueError("-T memory_warm warms the memory from the train split, so it cannot evaluate it: use -T split=test")
    prices = apply_prices()
    problems = spec.load(split, data_dir)
    if limit_ids:
        wanted = set(limit_ids)
        problems = [p for p in problems if p.id in wanted]
    samples = [spec.sample(p) for p in problems]
    memory: MemoryCascade | None = None
    if mode == "memory":
        pool = get_benchmark(spec.icl_pool or spec.name)
        warm = [pool.sample(p) for p in pool.load("train", data_dir)[:memory_warm]] if memory_warm else []
        memory = MemoryCascade(samples, lambda: icl_retriever(spec.name, data_dir).embedder, k=memory_k, warm=warm)

    return Task(
        dataset=memory if memory is not None else MemoryDataset(samples, name=spec.name),
        solver=guide_core(
            spec.domain,
            mode,  # type: ignore[arg-type]
            icl_k=icl_k,
            retriever=(lambda: icl_retriever(spec.name, data_dir)),
            max_strategy_tokens=max_strategy_tokens,
            max_guide_tokens=max_guide_tokens,
            on_invalid=on_invalid,
            leak_answer=lambda state: spec.leak_args(state.target.text, state.metadata),
            benchmark=spec,
            cascade=cascade,
            memory=memory,
        ),
        scorer=task_scorer(spec),
        sandbox=sandbox,
        # The core's cap (the guide step sets its own); `inspect eval --max-tokens` overrides it.
        config=GenerateConfig(max_tokens=max_core_tokens),
        metadata={
            "benchmark": spec.name,
            "split": split or "all",
            "data_revision": spec.data_revision(data_dir),
            "core_prompt_version": CORE_PROMPT_VERSION,
            "guide_prompt_version": GUIDE_PROMPT_VERSION,
            "mode": mode or "auto (guided when a guide role is bound, else core)",
            "on_invalid": on_invalid,
            "max_core_tokens": max_core_tokens,
            **({"cascade": cascade.as_dict()} if cascade is not None else {}),
            **({"memory": {"k": memory_k, "warm": memory_warm, "order": "data set order, one sample at a time"}}
               if mode == "memory" else {}),
            "prices_per_million_tokens": {m: c.model_dump() for m, c in prices.items() if m.startswith("anthropic/")},
        },
    )


def sandbox_spec(sandbox: str, executor: str) -> tuple[str, str] | str:
    """A code task's sandbox from its -T sandbox / -T executor options."""
    if sandbox == "gcop":
        if executor not in ("docker", "local"):
            raise ValueError(f"-T executor must be docker or local, got {executor!r}")
        return ("gcop", executor)
    if sandbox in ("docker", "k8s", "local"):
        return sandbox
    raise ValueError(f"-T sandbox must be gcop, docker, k8s or local, got {sandbox!r}")
