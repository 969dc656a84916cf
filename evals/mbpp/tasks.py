"""MBPP as an Inspect task: ``inspect eval gcop/mbpp`` (or ``inspect eval evals/mbpp/tasks.py``)."""
# Absolute imports: `inspect eval evals/mbpp/tasks.py` loads this file as a standalone module.

from __future__ import annotations

from typing import Any

from inspect_ai import Task, task

from gcop.evals.options import benchmark_task


@task
def mbpp(**options: Any) -> Task:
    """MBPP: the sanitized config's problems, judged by their assert tests in the sandbox.

    Options (``-T name=value``): the fields of :class:`gcop.evals.options.TaskOptions` that apply
    to it, the same for every gcop benchmark (a misspelt one is an error listing them).
    """
    return benchmark_task("mbpp", options)
