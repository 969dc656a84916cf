"""HumanEval (Chen et al., 2021): 164 Python functions to complete, judged by their ``check``.

One folder per benchmark: the spec (``spec.py``: records, loader, prompts, judging), the Inspect
task (``tasks.py``: ``inspect eval gcop/humaneval``), ``README.md`` and ``eval.yaml``.
"""

from typing import Any

from .spec import HUMANEVAL, HumanEvalBenchmark, HumanEvalProblem, humaneval_job, load_humaneval

__all__ = ['HUMANEVAL', 'humaneval', 'humaneval_job', 'HumanEvalBenchmark', 'HumanEvalProblem', 'load_humaneval']


def __getattr__(attribute: str) -> Any:
    # The task is loaded on first use: it imports Inspect, which judging a sample (``gcop verify``)
    # never needs.
    if attribute == "humaneval":
        from .tasks import humaneval  # on first use: the task imports Inspect

        globals()["humaneval"] = humaneval
        return humaneval
    raise AttributeError(f"module {__name__!r} has no attribute {attribute!r}")
