"""The benchmark registry: names to :class:`~evals.benchmarks.base.Benchmark` specs.

The built-in benchmarks (one module each beside this file) are imported on first use. Others
join by :func:`register` (a process-wide registration, as Inspect's own registry is), or by an
entry point in the ``gcop.benchmarks`` group of an installed package (``name = "pkg.module:SPEC"``),
found the first time a name is looked up.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Iterator
from typing import Any

from .base import Benchmark, DataDir, Problem, SampleRecord

__all__ = [
    "Benchmark",
    "BenchmarkChoices",
    "DataDir",
    "Problem",
    "SampleRecord",
    "benchmark_for",
    "benchmark_names",
    "selfcheck_names",
    "get_benchmark",
    "load_problems",
    "problem_index",
    "register",
    "unregister",
]

#: The benchmarks gcop ships, as "module:attribute" of their spec.
BUILTIN: dict[str, str] = {
    "gsm8k": "gcop.evals.gsm8k.spec:GSM8K",
    "humaneval": "gcop.evals.humaneval.spec:HUMANEVAL",
    "kodcode": "gcop.evals.kodcode.spec:KODCODE",
    "mbpp": "gcop.evals.mbpp.spec:MBPP",
}

ENTRY_POINT_GROUP = "gcop.benchmarks"

_registered: dict[str, Benchmark] = {}


def _load(ref: str) -> Benchmark:
    module, _, attribute = ref.partition(":")
    spec = getattr(importlib.import_module(module), attribute)
    if not isinstance(spec, Benchmark):
        raise TypeError(f"{ref} is a {type(spec).__name__}, not a gcop.evals.benchmarks.Benchmark")
    return spec


@functools.cache
def _entry_points() -> dict[str, str]:
    """Benchmarks other distributions declare; read once per process (the scan reads every
    installed distribution's metadata, and each CLI command's parser lists the names)."""
    import importlib.metadata  # here: 40 ms of imports that judging a built-in never needs

    return {ep.name: ep.value for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}


def register(spec: Benchmark, *, replace: bool = False) -> Benchmark:
    """Make ``spec`` available under ``spec.name`` to every gcop command and task in this process."""
    if not isinstance(spec, Benchmark):
        raise TypeError(f"register() takes a Benchmark instance, got {type(spec).__name__}")
    if not replace and (spec.name in _registered or spec.name in BUILTIN):
        raise ValueError(f"a benchmark named {spec.name!r} is already registered (pass replace=True)")
    _registered[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    """Remove a benchmark added by :func:`register` (built-ins stay)."""
    _registered.pop(name, None)


def benchmark_names() -> tuple[str, ...]:
    """Every benchmark name: the built-ins, then entry points, then registered ones."""
    names = dict.fromkeys([*BUILTIN, *_entry_points(), *_registered])
    return tuple(names)


def selfcheck_names() -> tuple[str, ...]:
    """The benchmarks ``gcop selfcheck`` runs by default: those whose spec says it can."""
    return tuple(name for name in benchmark_names() if get_benchmark(name).in_selfcheck)


class BenchmarkChoices:
    """Every benchmark name, as argparse's ``choices``: a built-in name is checked without
    reading any distribution's metadata (the entry points' scan costs a command 10-20 ms); the
    others, the help text and error messages see :func:`benchmark_names`. Give the argument a
    ``metavar`` (argparse lists choices without one when the argument is added) and name them in
    the help with ``%(choices)s``."""

    def __contains__(self, name: object) -> bool:
        return name in BUILTIN or name in _registered or name in benchmark_names()

    def __iter__(self) -> Iterator[str]:
        return iter(benchmark_names())


def get_benchmark(name: str) -> Benchmark:
    """The spec registered as ``name`` (case-insensitive); a clear error listing the names if none."""
    key = name.strip().lower() if isinstance(name, str) else name
    if key in _registered:
        return _registered[key]
    ref = BUILTIN.get(key) or _entry_points().get(key)
    if ref is None:
        raise ValueError(f"unknown benchmark {name!r}; choose one of {list(benchmark_names())}")
    spec = _registered[key] = _load(ref)
    return spec


def benchmark_for(problem: Any) -> Benchmark:
    """The spec of a problem record (its type's ``benchmark`` attribute)."""
    name = getattr(type(problem), "benchmark", None)
    if not isinstance(name, str):
        raise TypeError(f"{type(problem).__name__} is not a benchmark problem record (no 'benchmark' name)")
    return get_benchmark(name)


def load_problems(
    benchmark: str, split: str | None = None, data_dir: DataDir = None, *, strict: bool = False,
) -> list[Any]:
    """The problems of ``benchmark`` and ``split`` (None: all splits), with the loader's defaults."""
    spec = get_benchmark(benchmark)
    if split is not None and split not in spec.splits:
        raise ValueError(f"{spec.name} has no split {split!r}; choose one of {list(spec.splits)} or None")
    return list(spec.load(split, data_dir, strict=strict))


def problem_index(benchmark: str, data_dir: DataDir = None, *, strict: bool = False) -> dict[str, Any]:
    """``{problem.id: problem}`` over all splits of ``benchmark`` (a new dict each call)."""
    index: dict[str, Any] = {}
    for problem in load_problems(benchmark, None, data_dir, strict=strict):
        if problem.id in index:  # loaders guarantee unique ids; never silently overwrite
            raise AssertionError(f"duplicate {benchmark} id {problem.id!r}")
        index[problem.id] = problem
    return index
