"""HumanEval as an Inspect task: ``inspect eval gcop/humaneval`` (or ``inspect eval evals/humaneval/tasks.py``)."""
# Absolute imports: `inspect eval evals/humaneval/tasks.py` loads this file as a standalone module.

from __future__ import annotations

from typing import Any

from inspect_ai import Task, task

from gcop.evals.options import benchmark_task


@task
def humaneval(**options: Any) -> Task:
    """HumanEval: 164 Python functions to complete, judged by their check function in the sandbox.

    Options (``-T name=value``): the fields of :class:`gcop.evals.options.TaskOptions` that apply
    to it, the same for every gcop benchmark (a misspelt one is an error listing them).
    """
    return benchmark_task("humaneval", options)
