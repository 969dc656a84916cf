"""What a benchmark is to gcop: everything that differs between GSM8K, HumanEval, KodCode or a
benchmark of yours, behind one interface. The tasks, the scorers, GRPO's rewards, acceptance
sampling, ``gcop verify``, ``gcop selfcheck`` and ``gcop grid`` ask a :class:`Benchmark`; none of
them branches on a benchmark's name.

A benchmark is judged one of two ways, and says which with :attr:`Benchmark.sandboxed`:

* without a sandbox (``sandboxed = False``): :meth:`Benchmark.verdict` decides from the response
  and the sample's target (GSM8K's numeric comparison);
* in the sandbox (``sandboxed = True``): :meth:`Benchmark.test_job` turns the response into a
  :class:`~sandbox.protocol.TestJob` (a check function or a pytest file) that the sandbox runs.

Either way the judging depends only on what a sample carries (its target and metadata), so an
Inspect scorer, a training reward and ``gcop verify`` reach the same verdict on the same response.
"""

from __future__ import annotations

import importlib
import os
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:  # kept off the import path: the CLI lists benchmark names without loading Inspect
    from inspect_ai import Task
    from inspect_ai.dataset import Sample

    from gcop.sandbox.protocol import TestJob, Verdict

from gcop.evals.data import local_files_revision, resolve_data_dir


def task_on_first_use(package: str, task: str) -> Callable[[str], Any]:
    """A benchmark package's module ``__getattr__``: ``<package>.<task>`` imports the Inspect task
    from ``<package>.tasks`` on first use (it imports Inspect, which judging a sample never needs)."""

    def __getattr__(attribute: str) -> Any:
        if attribute != task:
            raise AttributeError(f"module {package!r} has no attribute {attribute!r}")
        function = getattr(importlib.import_module(f"{package}.tasks"), task)
        setattr(sys.modules[package], task, function)
        return function

    return __getattr__


@dataclass(frozen=True)
class SampleRecord:
    """What an Inspect sample of a problem holds, without importing Inspect (``gcop verify``
    judges samples without loading it): :meth:`Benchmark.sample` makes the Inspect sample."""

    id: str
    input: str
    target: str
    metadata: dict[str, Any] = field(default_factory=dict)


#: The prompt family a benchmark's problems get (gcop.evals.prompts, gcop.guides.prompts).
Domain = Literal["math", "code"]


@runtime_checkable
class Problem(Protocol):
    """A benchmark's problem record: a stable id, the split it belongs to, and the name of the
    benchmark that loads it (a class attribute of the record type)."""

    benchmark: ClassVar[str]

    @property
    def id(self) -> str: ...

    @property
    def split(self) -> str: ...


#: A data folder as the loaders take it: a path, or None for ``$GCOP_DATA_DIR`` else the Hub.
DataDir = str | os.PathLike[str] | None


class Benchmark(ABC):
    """One benchmark. Subclass it, set the class attributes, implement the abstract methods, and
    register an instance (:func:`gcop.evals.benchmarks.register`, or the ``gcop.benchmarks`` entry point).

    Every sample :meth:`sample` builds must carry ``metadata["benchmark"] = name``,
    ``metadata["split"]`` and ``metadata["reference"]`` (the reference solution written as a core
    answer, for the offline ``gcop/reference`` model); whatever else :meth:`verdict` /
    :meth:`test_job` and :meth:`leak_args` read goes there too.
    """

    #: Registry key and Inspect task name, e.g. ``"gsm8k"``.
    name: ClassVar[str]
    #: Prompt domain: which guide and core prompts the problems get.
    domain: ClassVar[Domain]
    #: The splits :meth:`load` accepts.
    splits: ClassVar[tuple[str, ...]]
    #: The split tasks and training evaluate by default.
    default_split: ClassVar[str] = "test"
    #: Judged in the sandbox (:meth:`test_job`) rather than here (:meth:`verdict`).
    sandboxed: ClassVar[bool]
    #: The field naming a problem in a ``gcop verify`` samples file.
    id_field: ClassVar[str] = "id"
    #: Fields a ``gcop verify`` line may carry to replace the sample's metadata of the same name
    #: (KodCode's ``test``: judge a solution against other tests).
    verify_overrides: ClassVar[tuple[str, ...]] = ()
    #: The Inspect task, as ``"module:function"`` (what ``gcop grid`` builds rows from; the
    #: function calls :func:`gcop.evals.tasks.build_task` with this benchmark's name).
    task_ref: ClassVar[str]
    #: The benchmark whose **train** split ICL examples are retrieved from (None: this one).
    icl_pool: ClassVar[str | None] = None
    #: The split ``gcop selfcheck`` runs the task on (None: all of them).
    selfcheck_split: ClassVar[str | None] = None
    #: Whether ``gcop selfcheck`` (with no ``--benchmark``) includes it: only a benchmark whose
    #: data every gcop checkout has (the project's data folder, or a package) should say so.
    in_selfcheck: ClassVar[bool] = False

    # -- data -----------------------------------------------------------------------------------

    @abstractmethod
    def load(self, split: str | None = None, data_dir: DataDir = None, *, strict: bool = False) -> list[Any]:
        """The problems of ``split`` (None: every split), from ``data_dir`` or the Hub. Bad records
        are skipped with a warning naming file, line and field (``strict``: one error listing
        them all); see :mod:`gcop.evals.data`."""

    #: The pinned Hub source, as a log records it (``repo@revision``, and any sampling settings).
    hub_revision: ClassVar[str]

    def data_revision(self, data_dir: DataDir) -> str:
        """Which data a run read, for its log: :attr:`hub_revision` without a data folder, else a
        content hash of the files in the folder's ``<name>/`` (never a path, which means nothing on
        another machine)."""
        root = resolve_data_dir(data_dir)
        return self.hub_revision if root is None else local_files_revision(self.name, root / self.name)

    @abstractmethod
    def record(self, problem: Any) -> SampleRecord:
        """A problem's sample: id, input, target and metadata (see the class docstring for the
        metadata it carries)."""

    def sample(self, problem: Any) -> Sample:
        """The Inspect sample of a problem (its :meth:`record`)."""
        from inspect_ai.dataset import Sample

        record = self.record(problem)
        return Sample(id=record.id, input=record.input, target=record.target, metadata=dict(record.metadata))

    @abstractmethod
    def reference_answer(self, problem: Any) -> str:
        """The data set's reference solution, written as a core would answer."""

    def icl_example(self, problem: Any) -> str:
        """The solution shown for ``problem`` when it is retrieved as an ICL example."""
        return self.reference_answer(problem)

    # -- judging ----------------------------------------------------------------------------------

    def verdict(self, response: str, target: str, metadata: Mapping[str, Any]) -> Verdict:
        """A sandbox-free benchmark's verdict on a non-empty response."""
        raise NotImplementedError(f"{self.name} is judged in the sandbox: use test_job")

    def test_job(
        self, response: str, target: str, metadata: Mapping[str, Any], *, sample_id: str = "",
        timeout: float | None = None,
    ) -> TestJob:
        """A sandboxed benchmark's job for a non-empty response."""
        raise NotImplementedError(f"{self.name} is judged without a sandbox: use verdict")

    @abstractmethod
    def wrong_answer(self, target: str, metadata: Mapping[str, Any]) -> str:
        """A core answer :meth:`verdict` / :meth:`test_job` always fails (for offline cores that
        must be wrong, e.g. ``gcop/strategy_gated`` without a strategy)."""

    def leak_args(self, target: str, metadata: Mapping[str, Any]) -> dict[str, Any]:
        """Keyword arguments of :func:`gcop.guides.strategy.strategy_leaks` for one sample: what a
        strategy must not give away (a gold answer, the function to write)."""
        return {}

    def recorded_trials(self, problem: Any) -> list[tuple[str, TestJob, bool]]:
        """Judged solutions the data set ships, as (id, job, recorded verdict), for ``gcop
        selfcheck`` to re-judge (none by default)."""
        return []

    def extracted_answer(self, response: str) -> str | None:
        """What the scorer shows as the sample's answer (the final number, the extracted code)."""
        return None

    # -- Inspect ----------------------------------------------------------------------------------

    def task_function(self) -> Callable[..., Task]:
        """The Inspect task function named by :attr:`task_ref`."""
        module, _, function = self.task_ref.partition(":")
        return getattr(importlib.import_module(module), function)

    def __repr__(self) -> str:
        return f"<Benchmark {self.name} ({self.domain}, splits {', '.join(self.splits)})>"
