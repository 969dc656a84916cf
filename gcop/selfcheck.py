"""``gcop selfcheck``: the project's default job; no model, no API key.

1. The three Inspect tasks run with the offline ``gcop/reference`` model, which answers every
   sample with the data set's reference solution: data, prompts, extraction, sandbox, scorers and
   cost accounting end to end. Every sample must score.
2. KodCode's recorded trials (where the data has them) are re-judged in the sandbox and compared
   with KodCode's own verdicts.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gcop.evals.benchmarks import get_benchmark, selfcheck_names
from gcop.evals.options import option_names
from gcop.evals.verification import prepare_judgement
from gcop.sandbox.executors import make_executor
from gcop.sandbox.protocol import Status, TestJob, Verdict


@dataclass
class CheckResult:
    name: str
    total: int
    counts: Counter[str]
    #: (id, verdict) of every reference that did not pass, or every trial that disagreed.
    problems: list[tuple[str, Verdict]] = field(default_factory=list)
    #: For trials: how many verdicts agree with the recorded ones.
    agree: int | None = None

    @property
    def ok(self) -> bool:
        return not self.problems if self.agree is None else self.counts.get(Status.ERROR.value, 0) == 0

    def format(self) -> str:
        counts = ", ".join(f"{s}: {self.counts.get(s.value, 0)}" for s in Status)
        if self.agree is None:
            head = f"{self.name}: {self.counts.get('passed', 0)}/{self.total} references pass ({counts})"
        else:
            head = f"{self.name}: {self.agree}/{self.total} verdicts agree with KodCode's recorded ones ({counts})"
        lines = [head]
        for problem_id, verdict in self.problems[:10]:
            lines.append(f"    {problem_id}: {verdict.status.value}: {verdict.reason[:200]}")
        if len(self.problems) > 10:
            lines.append(f"    ... and {len(self.problems) - 10} more")
        return "\n".join(lines)


def _count(verdicts: list[Verdict]) -> Counter[str]:
    return Counter(v.status.value for v in verdicts)


async def _check(
    executor_kind: str,
    workers: int,
    data_dir: str | os.PathLike[str] | None,
    benchmarks: list[str],
    trials: bool,
    on_done: Callable[[], None],
    references: bool = True,
) -> list[CheckResult]:
    results: list[CheckResult] = []
    sandbox_jobs: list[tuple[str, list[str], list[TestJob], list[bool] | None]] = []
    for benchmark in benchmarks:
        spec = get_benchmark(benchmark)
        problems = spec.load(None, data_dir)
        if references:
            decided: list[tuple[str, Verdict]] = []  # judged on the spot (or an empty reference)
            job_ids, jobs = [], []
            for problem in problems:
                sample = spec.sample(problem)
                target = sample.target if isinstance(sample.target, str) else "".join(sample.target)
                judged = prepare_judgement(spec.name, spec.reference_answer(problem), target=target,
                                           metadata=sample.metadata or {}, sample_id=problem.id)
                if isinstance(judged, Verdict):
                    decided.append((problem.id, judged))
                else:
                    job_ids.append(problem.id)
                    jobs.append(judged)
            if decided:
                verdicts = [v for _, v in decided]
                failed = [(i, v) for i, v in decided if not v.passed]
                results.append(CheckResult(spec.name, len(verdicts), _count(verdicts), failed))
            if jobs:
                sandbox_jobs.append((spec.name, job_ids, jobs, None))
        if trials:
            recorded = [trial for problem in problems for trial in spec.recorded_trials(problem)]
            if recorded:
                sandbox_jobs.append((f"{spec.name} trials", [i for i, _, _ in recorded],
                                     [j for _, j, _ in recorded], [e for _, _, e in recorded]))
    if sandbox_jobs:
        async with make_executor(executor_kind, workers=workers) as pool:
            for name, ids, jobs, expected in sandbox_jobs:
                verdicts = await pool.run_many(jobs, on_done=lambda _i, _v: on_done())
                if expected is None:
                    failed = [(i, v) for i, v in zip(ids, verdicts, strict=False) if not v.passed]
                    results.append(CheckResult(name, len(jobs), _count(verdicts), failed))
                else:
                    disagree = [(i, v) for i, v, e in zip(ids, verdicts, expected, strict=False) if v.passed != e]
                    results.append(CheckResult(name, len(jobs), _count(verdicts), disagree, agree=len(jobs) - len(disagree)))
    return results


def run_selfcheck(
    executor: str = "docker",
    workers: int = 2,
    data_dir: str | os.PathLike[str] | None = None,
    benchmarks: list[str] | None = None,
    trials: bool = True,
    progress: bool = True,
    references: bool = True,
) -> list[CheckResult]:
    """References judged straight in the sandbox (no Inspect), and KodCode's recorded trials."""
    from tqdm import tqdm

    # disable=None: tqdm turns itself off when stderr is not a terminal (CI logs, pipes).
    with tqdm(desc="selfcheck", unit="job", disable=None if progress else True) as bar:
        return asyncio.run(
            _check(executor, workers, data_dir, benchmarks or list(selfcheck_names()), trials, bar.update, references)
        )


@dataclass
class TaskCheck:
    task: str
    samples: int
    accuracy: float
    stderr: float
    tokens: int
    cost: float | None
    log: str
    errors: int

    @property
    def ok(self) -> bool:
        return self.errors == 0 and self.accuracy == 1.0


def run_reference_tasks(
    executor: str = "docker",
    workers: int = 2,
    data_dir: str | None = None,
    benchmarks: list[str] | None = None,
    log_dir: str | None = None,
    limit: int | None = None,
) -> list[TaskCheck]:
    """The benchmarks' tasks (default: the built-in three) with ``gcop/reference`` in core mode, over
    each one's ``selfcheck_split`` (None: all splits); logs go to ``log_dir``."""
    from inspect_ai import eval as inspect_eval

    tasks = []
    for name in benchmarks or list(selfcheck_names()):
        spec = get_benchmark(name)
        function = spec.task_function()
        options = set(option_names(name))
        args: dict[str, Any] = {"mode": "core", "data_dir": data_dir}
        if "split" in options:
            args["split"] = spec.selfcheck_split or "all"
        if "executor" in options:
            args["executor"] = executor
        tasks.append(function(**args))
    logs = inspect_eval(
        tasks, model="gcop/reference", display="none", log_dir=log_dir, max_tasks=1,
        max_samples=max(8, workers * 4), limit=limit, fail_on_error=False,
        max_sandboxes=workers,
    )
    checks = []
    for log in logs:
        metrics = log.results.scores[0].metrics if log.results and log.results.scores else {}
        usage = log.stats.model_usage.values() if log.stats else []
        costs = [u.total_cost for u in usage if u.total_cost is not None]
        errors = sum(1 for s in (log.samples or []) if s.error) if log.samples else (0 if log.status == "success" else 1)
        checks.append(TaskCheck(
            task=log.eval.task.split("/")[-1],
            samples=log.results.completed_samples if log.results else 0,
            accuracy=float(metrics["accuracy"].value) if "accuracy" in metrics else 0.0,
            stderr=float(metrics["stderr"].value) if "stderr" in metrics else float("nan"),
            tokens=sum(u.total_tokens for u in usage),
            cost=sum(costs) if costs else None,
            log=log.location,
            errors=errors if log.status == "success" else max(errors, 1),
        ))
    return checks


def format_table(checks: list[TaskCheck]) -> str:
    rows = [("task", "samples", "accuracy", "stderr", "tokens", "cost $", "errors")]
    for c in checks:
        rows.append((c.task, str(c.samples), f"{c.accuracy:.4f}", f"{c.stderr:.4f}", str(c.tokens),
                     "-" if c.cost is None else f"{c.cost:.4f}", str(c.errors)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
