"""GSM8K (Cobbe et al., 2021): grade-school math word problems, judged by the final number.

One folder per benchmark: the spec (``spec.py``: records, loader, prompts, judging), the Inspect
task (``tasks.py``: ``inspect eval gcop/gsm8k``), ``README.md`` and ``eval.yaml``.
"""

from gcop.evals.benchmarks.base import task_on_first_use

from .spec import GSM8K, GSM8KBenchmark, GSM8KProblem, load_gsm8k

__all__ = ['GSM8K', 'gsm8k', 'GSM8KBenchmark', 'GSM8KProblem', 'load_gsm8k']


__getattr__ = task_on_first_use(__name__, "gsm8k")  # the task, on first use: it imports Inspect
