"""KodCode (Xu et al., 2025): 1,000 sampled coding problems, judged by their pytest tests.

One folder per benchmark: the spec (``spec.py``: records, loader, prompts, judging), the Inspect
task (``tasks.py``: ``inspect eval gcop/kodcode``), ``README.md`` and ``eval.yaml``.
"""

from typing import Any

from .spec import KODCODE, KodCodeBenchmark, KodCodeProblem, kodcode_job, load_kodcode

__all__ = ['KODCODE', 'kodcode', 'kodcode_job', 'KodCodeBenchmark', 'KodCodeProblem', 'load_kodcode']


def __getattr__(attribute: str) -> Any:
    # The task is loaded on first use: it imports Inspect, which judging a sample (``gcop verify``)
    # never needs.
    if attribute == "kodcode":
        from .tasks import kodcode  # on first use: the task imports Inspect

        globals()["kodcode"] = kodcode
        return kodcode
    raise AttributeError(f"module {__name__!r} has no attribute {attribute!r}")
