"""What gcop registers with Inspect (through the ``inspect_ai`` entry point): the benchmarks'
tasks (one folder each under evals/) as ``gcop/gsm8k``, ``gcop/humaneval``, ``gcop/kodcode``,
``gcop/mbpp`` (Inspect namespaces a task by the distribution of the module it is defined in); the offline models ``gcop/reference`` and
``gcop/replay``; the drop-in solvers ``gcop/guided``, ``gcop/icl``, ``gcop/cascade`` and the
wrapping task ``gcop/wrap``; the ``gcop`` sandbox; the hook that prints $ per role after each gcop task."""

from __future__ import annotations

from gcop.evals.dropin import cascade, guided, icl, wrap  # noqa: F401
from gcop.evals.gsm8k import gsm8k  # noqa: F401
from gcop.evals.hooks import RoleCosts  # noqa: F401
from gcop.evals.humaneval import humaneval  # noqa: F401
from gcop.evals.kodcode import kodcode  # noqa: F401
from gcop.evals.mbpp import mbpp  # noqa: F401
from gcop.evals.providers import gcop_offline  # noqa: F401
from gcop.sandbox.inspect_provider import GcopSandboxEnvironment  # noqa: F401
