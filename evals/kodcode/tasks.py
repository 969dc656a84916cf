"""KodCode as an Inspect task: ``inspect eval gcop/kodcode`` (or ``inspect eval evals/kodcode/tasks.py``)."""
# Absolute imports: `inspect eval evals/kodcode/tasks.py` loads this file as a standalone module.

from __future__ import annotations

from typing import Any

from inspect_ai import Task, task

from gcop.evals.options import benchmark_task


@task
def kodcode(**options: Any) -> Task:
    """KodCode: 1,000 problems sampled with a fixed seed, 80/20 train/test, judged by their pytest tests in the sandbox.

    Options (``-T name=value``): the fields of :class:`gcop.evals.options.TaskOptions` that apply
    to it, the same for every gcop benchmark (a misspelt one is an error listing them).
    """
    return benchmark_task("kodcode", options)
