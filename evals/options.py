"""The options of every benchmark's Inspect task (``-T name=value``): one dataclass with help text,
shared by every task, as the training configs are (:mod:`gcop.train.config`).

A benchmark's ``@task`` takes ``**options`` and calls :func:`benchmark_task`, which checks them
against :class:`TaskOptions` (a misspelt option is an error naming the valid ones, never a no-op)
and builds the task (:func:`gcop.evals.tasks.build_task`). Two options apply only where they mean
something: ``split`` to a benchmark with more than one split, ``sandbox`` and ``executor`` to one
judged in the sandbox.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from inspect_ai import Task

from gcop.guides.strategy import DEFAULT_MAX_STRATEGY_TOKENS

from .benchmarks import Benchmark, get_benchmark
from .prompts import DEFAULT_MAX_CORE_TOKENS
from .tasks import DEFAULT_SANDBOX, build_task, sandbox_spec


def _option(default: Any, help: str, *, applies: str = "all") -> Any:
    return field(default=default, metadata={"help": help, "applies": applies})


@dataclass(frozen=True)
class TaskOptions:
    """Every option of a gcop benchmark task, with its default and what it does."""

    split: str = _option("test", "the split to evaluate: one of the benchmark's splits, or all", applies="splits")
    mode: str | None = _option(None, "core | icl | guided | cascade | guided_cascade | memory (default: guided when "
                                     "--model-role guide=... is given, else core)")
    icl_k: int = _option(3, "retrieved train examples in icl mode (from the benchmark's ICL pool: HumanEval "
                            "retrieves from KodCode's train split)")
    max_strategy_tokens: int = _option(DEFAULT_MAX_STRATEGY_TOKENS, "the guide's strategy budget")
    max_guide_tokens: int | None = _option(None, "cap on the guide call's output (default: a think budget of 1,024 "
                                                 "plus max_strategy_tokens); recorded in each sample's guide metadata")
    max_core_tokens: int = _option(DEFAULT_MAX_CORE_TOKENS, "cap on each core call's output (default 2,048; "
                                                            "--max-tokens overrides it)")
    on_invalid: str = _option("run_core_without", "run_core_without | score_zero, for an unparseable strategy")
    cascade_rule: str = _option("agreement", "the cascade modes' deferral rule: agreement | examples (code: the "
                                             "statement's examples, in the sandbox)")
    cascade_k: int | None = _option(None, "cheap-core samples the rule reads (default 3 for agreement, 1 for examples)")
    cascade_threshold: float = _option(1.0, "escalate to the strong role when the rule's confidence is below this")
    memory_k: int = _option(3, "strategies a memory query retrieves")
    memory_warm: int = _option(0, "train problems that warm the memory first")
    sandbox: str = _option(DEFAULT_SANDBOX, "gcop (the warm pool, default) | docker | k8s | local (Inspect's own "
                                            "sandboxes)", applies="sandboxed")
    executor: str = _option("docker", "for the gcop sandbox: docker (default) | local (weaker isolation)",
                            applies="sandboxed")
    data_dir: str | None = _option(None, "local data folder (default $GCOP_DATA_DIR, else the Hub)")


def _applies(option: dataclasses.Field[Any], spec: Benchmark) -> bool:
    applies = option.metadata["applies"]
    return (applies == "all" or (applies == "splits" and len(spec.splits) > 1)
            or (applies == "sandboxed" and spec.sandboxed))


def option_names(benchmark: str) -> list[str]:
    """The options ``benchmark``'s task takes, in :class:`TaskOptions` order."""
    spec = get_benchmark(benchmark)
    return [option.name for option in dataclasses.fields(TaskOptions) if _applies(option, spec)]


def option_help(benchmark: str) -> str:
    """One line per option of ``benchmark``'s task: name, default, what it does."""
    defaults = TaskOptions()
    fields = {option.name: option for option in dataclasses.fields(TaskOptions)}
    return "\n".join(f"  -T {name} (default {getattr(defaults, name)!r}): {fields[name].metadata['help']}"
                     for name in option_names(benchmark))


def task_options(benchmark: str, options: Mapping[str, Any]) -> TaskOptions:
    """``options`` (what Inspect passes from ``-T``) as :class:`TaskOptions`; an option the task does
    not take is a ``ValueError`` listing those it does."""
    valid = option_names(benchmark)
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ValueError(f"unknown task option(s) for {benchmark}: {', '.join(f'-T {name}' for name in unknown)}; "
                         f"valid options:\n{option_help(benchmark)}")
    return TaskOptions(**options)


def benchmark_task(benchmark: str, options: Mapping[str, Any]) -> Task:
    """The Inspect task of a registered benchmark with ``options`` (see :class:`TaskOptions`)."""
    spec = get_benchmark(benchmark)
    chosen = dataclasses.asdict(task_options(benchmark, options))
    split, sandbox, executor = chosen.pop("split"), chosen.pop("sandbox"), chosen.pop("executor")
    return build_task(spec.name, split=split if "split" in option_names(benchmark) else None,
                      sandbox=sandbox_spec(sandbox, executor) if spec.sandboxed else None, **chosen)
