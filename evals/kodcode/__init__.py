"""KodCode (Xu et al., 2025): 1,000 sampled coding problems, judged by their pytest tests.

One folder per benchmark: the spec (``spec.py``: records, loader, prompts, judging), the Inspect
task (``tasks.py``: ``inspect eval gcop/kodcode``), ``README.md`` and ``eval.yaml``.
"""

from gcop.evals.benchmarks.base import task_on_first_use

from .spec import KODCODE, KodCodeBenchmark, KodCodeProblem, kodcode_job, load_kodcode

__all__ = ['KODCODE', 'kodcode', 'kodcode_job', 'KodCodeBenchmark', 'KodCodeProblem', 'load_kodcode']


__getattr__ = task_on_first_use(__name__, "kodcode")  # the task, on first use: it imports Inspect
