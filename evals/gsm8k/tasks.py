"""GSM8K as an Inspect task: ``inspect eval gcop/gsm8k`` (or ``inspect eval evals/gsm8k/tasks.py``)."""
# Absolute imports: `inspect eval evals/gsm8k/tasks.py` loads this file as a standalone module.

from __future__ import annotations

from typing import Any

from inspect_ai import Task, task

from gcop.evals.options import benchmark_task


@task
def gsm8k(**options: Any) -> Task:
    """GSM8K: grade-school math word problems, judged by the final number.

    Options (``-T name=value``): the fields of :class:`gcop.evals.options.TaskOptions` that apply
    to it, the same for every gcop benchmark (a misspelt one is an error listing them).
    """
    return benchmark_task("gsm8k", options)
