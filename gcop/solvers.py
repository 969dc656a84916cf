"""gcop's drop-in solvers for any Inspect task (``gcop/guided``, ``gcop/icl``, ``gcop/cascade``,
``gcop/wrap``): the public import path; they live in :mod:`gcop.evals.dropin`."""

from gcop.evals.dropin import (
    cascade,
    guide_prompt_version,
    guided,
    icl,
    load_task,
    wrap,
    wrap_task,
)

__all__ = ["cascade", "guide_prompt_version", "guided", "icl", "load_task", "wrap", "wrap_task"]
