"""What every benchmark spec must satisfy, checked on its data: :func:`assert_benchmark_conforms`.

The tests run it over every registered benchmark; a new benchmark's author runs it on theirs.
Judging runs through the same path as ``gcop verify`` (:func:`~gcop.evals.verification.prepare_judgement`),
code in the given executor.
"""

from __future__ import annotations

import asyncio
from typing import Any

from gcop.evals.examples import visible_examples
from gcop.evals.verification import prepare_judgement
from gcop.sandbox.executors import make_executor
from gcop.sandbox.protocol import Status, TestJob, Verdict

from . import benchmark_for
from .base import Benchmark, DataDir

REQUIRED_METADATA = ("benchmark", "split", "reference")


def _judge(items: list[Verdict | TestJob], executor: str) -> list[Verdict]:
    jobs = [item for item in items if isinstance(item, TestJob)]

    async def run() -> list[Verdict]:
        async with make_executor(executor, workers=2) as pool:
            return await pool.run_many(jobs)

    judged = iter(asyncio.run(run()) if jobs else [])
    return [next(judged) if isinstance(item, TestJob) else item for item in items]


def assert_benchmark_conforms(spec: Benchmark, data_dir: DataDir, *, limit: int = 5, executor: str = "local") -> None:
    """Raise ``AssertionError`` saying what ``spec`` gets wrong on the data in ``data_dir``:

    * it loads problems, with string ids, unique across its splits, each in one of its splits,
      each naming the spec as its benchmark;
    * every sample carries the metadata every consumer reads (``benchmark``, ``split``,
      ``reference``) and the problem's id;
    * on the first ``limit`` problems, the reference answer passes and the wrong answer fails;
    * a code benchmark whose statement shows examples (doctests, asserts) has them found.
    """
    problems: list[Any] = spec.load(None, data_dir)
    assert problems, f"{spec.name}: no problems loaded from {data_dir}"
    ids = [problem.id for problem in problems]
    assert all(isinstance(i, str) and i for i in ids), f"{spec.name}: ids must be non-empty strings: {ids[:5]}"
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    assert not duplicates, f"{spec.name}: duplicate ids {duplicates[:5]}"
    records = []
    for problem in problems:
        assert problem.split in spec.splits, f"{spec.name}: {problem.id} is in split {problem.split!r}, not one of {spec.splits}"
        assert benchmark_for(problem) is spec, f"{spec.name}: {problem.id}'s record names benchmark {type(problem).benchmark!r}"
        record = spec.record(problem)
        missing = [key for key in REQUIRED_METADATA if not record.metadata.get(key)]
        assert not missing, f"{spec.name}: {problem.id}'s sample lacks metadata {missing}"
        assert record.id == problem.id and record.metadata["benchmark"] == spec.name, f"{spec.name}: {problem.id}'s sample names another id or benchmark"
        records.append(record)
    checked = records[:limit]
    answers = [(r, spec.reference_answer(p), True) for r, p in zip(checked, problems, strict=False)]
    answers += [(r, spec.wrong_answer(r.target, r.metadata), False) for r in checked]
    items = [prepare_judgement(spec.name, answer, target=r.target, metadata=r.metadata, sample_id=r.id)
             for r, answer, _ in answers]
    for (record, _, should_pass), verdict in zip(answers, _judge(items, executor), strict=True):
        expected = Status.PASSED if should_pass else Status.FAILED
        what = "reference answer" if should_pass else "wrong answer"
        assert verdict.status is expected, f"{spec.name}: {record.id}'s {what} was judged {verdict.status.value}: {verdict.reason}"
    if spec.sandboxed:
        shown = [r for r in records if ">>>" in r.input or "\nassert " in r.input]
        found = [r for r in shown if visible_examples(r.input, r.metadata.get("entry_point"))]
        assert len(found) * 2 >= len(shown), (
            f"{spec.name}: {len(shown)} statements show examples but only {len(found)} had them found "
            "(gcop.evals.examples.visible_examples)")
