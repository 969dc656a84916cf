"""MBPP (Austin et al., 2021): short Python programming problems, judged by their assert tests.

One folder per benchmark: the spec (``spec.py``: records, loader, prompts, judging), the Inspect
task (``tasks.py``: ``inspect eval gcop/mbpp``), ``README.md`` and ``eval.yaml``.
"""

from gcop.evals.benchmarks.base import task_on_first_use

from .spec import MBPP, MBPPBenchmark, MBPPProblem, load_mbpp

__all__ = ['MBPP', 'mbpp', 'MBPPBenchmark', 'MBPPProblem', 'load_mbpp']


__getattr__ = task_on_first_use(__name__, "mbpp")  # the task, on first use: it imports Inspect
