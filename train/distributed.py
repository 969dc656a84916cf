"""What a training run needs to know about its processes under ``accelerate launch`` / ``torchrun``.

Each rank generates its own completions and computes their rewards with its own reward engine
(its own sandbox pool, on the engines the shared configuration names); what must happen once
(the held-out evaluation, the model card, ``gcop_train.json``, the final summary) happens on the
main process, and decisions that stop training (the budget) are taken by all ranks together, or
the ranks that go on would wait for the one that stopped until the collective times out.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["any_rank", "close_process_group", "is_main_process", "process_index", "wait_for_everyone", "world_size"]


def process_index() -> int:
    """This process's global rank (0 when not launched as several processes)."""
    return int(os.environ.get("RANK", "0") or 0)


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1") or 1)


def is_main_process() -> bool:
    return process_index() == 0


def _process_group() -> Any:
    """torch.distributed when a process group is up (the Trainer starts it), else None."""
    if world_size() == 1:
        return None
    import torch.distributed as dist

    return dist if dist.is_available() and dist.is_initialized() else None


def wait_for_everyone() -> None:
    """A barrier across ranks (nothing when the run is one process)."""
    dist = _process_group()
    if dist is not None:
        dist.barrier()


def close_process_group(*, wait: bool) -> None:
    """Tear down the process group the Trainer started, once the run is over (nothing when the run
    is one process). ``wait``: meet the other ranks first (a run that succeeded everywhere; a rank
    that failed must not wait for ranks that may never come).

    Without it a rank that finishes first exits with gloo's worker threads still alive, and the
    interpreter's finalisation can abort it (SIGABRT, "terminate called without an active
    exception") after a run that succeeded: the launcher then kills the other ranks and the
    command fails.
    """
    dist = _process_group()
    if dist is None:
        return
    if wait:
        dist.barrier()
    dist.destroy_process_group()


def any_rank(flag: bool, device: Any = None) -> bool:
    """Whether ``flag`` is true on any rank; every rank gets the same answer. ``device``: where
    the collective's tensor lives (the Trainer's ``args.device``: NCCL needs a GPU tensor)."""
    dist = _process_group()
    if dist is None:
        return flag
    import torch

    value = torch.tensor([1 if flag else 0], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())
