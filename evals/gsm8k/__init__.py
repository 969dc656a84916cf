"""GSM8K (Cobbe et al., 2021): grade-school math word problems, judged by the final number.

One folder per benchmark: the spec (``spec.py``: records, loader, prompts, judging), the Inspect
task (``tasks.py``: ``inspect eval gcop/gsm8k``), ``README.md`` and ``eval.yaml``.
"""

from typing import Any

from .spec import GSM8K, GSM8KBenchmark, GSM8KProblem, load_gsm8k

__all__ = ['GSM8K', 'gsm8k', 'GSM8KBenchmark', 'GSM8KProblem', 'load_gsm8k']


def __getattr__(attribute: str) -> Any:
    # The task is loaded on first use: it imports Inspect, which judging a sample (``gcop verify``)
    # never needs.
    if attribute == "gsm8k":
        from .tasks import gsm8k  # on first use: the task imports Inspect

        globals()["gsm8k"] = gsm8k
        return gsm8k
    raise AttributeError(f"module {__name__!r} has no attribute {attribute!r}")
