"""A fourth benchmark, written the way a user adds one: one module with its records, its loader,
its :class:`~evals.benchmarks.Benchmark` spec and its Inspect task (tests/evals/test_benchmarks.py
registers it and runs it through an Inspect task, ``gcop verify``, ``gcop selfcheck`` and a GRPO
reward call, none of which names it).

"toy": tiny Python functions, each judged by a pytest file in the sandbox. Data: ``toy/problems.jsonl``
in a data folder, one ``{"id", "split", "prompt", "solution", "test"}`` per line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from inspect_ai import Task, task

from gcop.evals.benchmarks import Benchmark, DataDir, SampleRecord
from gcop.evals.data import (
    DataRecordError,
    check_split,
    read_records,
    report_bad_records,
    require_file,
    resolve_data_dir,
    str_field,
)
from gcop.evals.extraction import extract_code
from gcop.evals.tasks import build_task, sandbox_spec
from gcop.sandbox.protocol import TestJob

SPLITS = ("train", "test")


@dataclass(frozen=True)
class ToyProblem:
    benchmark: ClassVar[str] = "toy"

    id: str
    split: str
    prompt: str
    solution: str
    test: str


def load_toy(split: str | None, data_dir: DataDir, *, strict: bool = False) -> list[ToyProblem]:
    check_split(split, SPLITS, "toy")
    root = resolve_data_dir(data_dir)
    if root is None:
        raise ValueError("the toy benchmark has no Hub copy: give a data folder")
    records, errors = read_records(require_file(Path(root) / "toy" / "problems.jsonl", "toy"))
    problems = []
    for label, line, raw in records:
        try:
            fields = {name: str_field(raw, name, label, line) for name in ("id", "split", "prompt", "solution", "test")}
            if fields["split"] not in SPLITS:
                raise DataRecordError(label, line, "split", f"must be one of {SPLITS}")
        except DataRecordError as exc:
            errors.append(exc)
            continue
        problems.append(ToyProblem(**fields))
    report_bad_records(errors, "toy", strict)
    return [p for p in problems if split is None or p.split == split]


class ToyBenchmark(Benchmark):
    name = "toy"
    domain = "code"
    splits = SPLITS
    sandboxed = True
    task_ref = "tests.evals.toy_benchmark:toy"
    hub_revision = "(no Hub copy)"

    def load(self, split: str | None = None, data_dir: DataDir = None, *, strict: bool = False) -> list[Any]:
        return list(load_toy(split, data_dir, strict=strict))

    def record(self, problem: ToyProblem) -> SampleRecord:
        return SampleRecord(id=problem.id, input=problem.prompt, target="",
                            metadata={"benchmark": self.name, "split": problem.split, "test": problem.test,
                                      "reference": self.reference_answer(problem)})

    def reference_answer(self, problem: ToyProblem) -> str:
        return "```python\n" + problem.solution + "```"

    def test_job(self, response: str, target: str, metadata: Mapping[str, Any], *, sample_id: str = "",
                 timeout: float | None = None) -> TestJob:
        return TestJob(style="pytest", solution=extract_code(response), test=metadata["test"], timeout=timeout, id=sample_id)

    def extracted_answer(self, response: str) -> str | None:
        return extract_code(response) or None

    def wrong_answer(self, target: str, metadata: Mapping[str, Any]) -> str:
        return "```python\ndef nothing():\n    return None\n```"


TOY = ToyBenchmark()


@task
def toy(split: str = "test", mode: str | None = None, executor: str = "local", data_dir: str | None = None) -> Task:
    """The toy benchmark in the gcop sandbox."""
    return build_task("toy", split=split, mode=mode, data_dir=data_dir, sandbox=sandbox_spec("gcop", executor))
