"""What gcop registers with Inspect (through the ``inspect_ai`` entry point): the tasks as
``gcop/gsm8k``, ``gcop/humaneval``, ``gcop/kodcode``; the offline models ``gcop/reference`` and
``gcop/replay``; the drop-in solvers ``gcop/guided``, ``gcop/icl``, ``gcop/cascade`` and the
wrapping task ``gcop/wrap``; the ``gcop`` sandbox; the hook that prints $ per role after each gcop task."""

from __future__ import annotations

from gcop.evals.dropin import cascade, guided, icl, wrap  # noqa: F401
from gcop.evals.hooks import RoleCosts  # noqa: F401
from gcop.evals.providers import gcop_offline  # noqa: F401
from gcop.sandbox.inspect_provider import GcopSandboxEnvironment  # noqa: F401
from gcop.tasks import gsm8k, humaneval, kodcode  # noqa: F401
