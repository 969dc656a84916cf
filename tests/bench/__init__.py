"""Tests of the benchmarks in bench/."""

from __future__ import annotations

import importlib
from types import ModuleType


def bench_script(name: str) -> ModuleType:
    """A script of ``bench/`` as a module (its ``main()`` not run), e.g. ``bench_script("bench_sandbox")``."""
    return importlib.import_module(f"bench.{name}")
