"""HumanEval (Chen et al., 2021): 164 Python functions to complete, judged by their ``check``.

One folder per benchmark: the spec (``spec.py``: records, loader, prompts, judging), the Inspect
task (``tasks.py``: ``inspect eval gcop/humaneval``), ``README.md`` and ``eval.yaml``.
"""

from gcop.evals.benchmarks.base import task_on_first_use

from .spec import HUMANEVAL, HumanEvalBenchmark, HumanEvalProblem, humaneval_job, load_humaneval

__all__ = ['HUMANEVAL', 'humaneval', 'humaneval_job', 'HumanEvalBenchmark', 'HumanEvalProblem', 'load_humaneval']


__getattr__ = task_on_first_use(__name__, "humaneval")  # the task, on first use: it imports Inspect
