"""The evals/ tasks under the ``gcop/`` namespace (``inspect eval gcop/gsm8k``).

Inspect namespaces a task by the installed package its function lives in; ``evals`` is not a
distribution of its own, so the same task functions are re-registered here, in ``gcop``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from inspect_ai import task

from evals import gsm8k as _gsm8k
from evals import humaneval as _humaneval
from evals import kodcode as _kodcode


def _reexport(fn: Callable[..., Any]) -> Any:
    original = getattr(fn, "__wrapped__", fn)

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return original(*args, **kwargs)

    wrapper.__module__ = __name__
    return task(name=original.__name__)(wrapper)


gsm8k = _reexport(_gsm8k.gsm8k)
humaneval = _reexport(_humaneval.humaneval)
kodcode = _reexport(_kodcode.kodcode)
