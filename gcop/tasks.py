"""The benchmark tasks under the ``gcop/`` namespace (``inspect eval gcop/gsm8k``).

Inspect namespaces a task by the distribution its function's module belongs to: the ``@task``
functions of ``gcop.evals`` register as ``gcop/<name>`` where they are defined; importing them here
(through the entry point's ``gcop._registry``) is what registers them.
"""

from __future__ import annotations

from gcop.evals.gsm8k import gsm8k
from gcop.evals.humaneval import humaneval
from gcop.evals.kodcode import kodcode

__all__ = ["gsm8k", "humaneval", "kodcode"]
