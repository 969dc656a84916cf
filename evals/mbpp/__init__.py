"""MBPP (Austin et al., 2021): short Python programming problems, judged by their assert tests.

One folder per benchmark: the spec (``spec.py``: records, loader, prompts, judging), the Inspect
task (``tasks.py``: ``inspect eval gcop/mbpp``), ``README.md`` and ``eval.yaml``.
"""

from typing import Any

from .spec import MBPP, MBPPBenchmark, MBPPProblem, load_mbpp

__all__ = ['MBPP', 'mbpp', 'MBPPBenchmark', 'MBPPProblem', 'load_mbpp']


def __getattr__(attribute: str) -> Any:
    # The task is loaded on first use: it imports Inspect, which judging a sample (``gcop verify``)
    # never needs.
    if attribute == "mbpp":
        from .tasks import mbpp  # on first use: the task imports Inspect

        globals()["mbpp"] = mbpp
        return mbpp
    raise AttributeError(f"module {__name__!r} has no attribute {attribute!r}")
