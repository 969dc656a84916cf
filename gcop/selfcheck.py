"""``gcop selfcheck``: the reference solutions of all three data sets through the sandbox.

Every reference must pass; KodCode's recorded trials (where the data has them) are re-judged
and compared with KodCode's own verdicts. This is the project's default job: it needs no model
and no API key, and it proves that data, extraction, sandbox and verdict rules agree.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from evals.data import GSM8KProblem, HumanEvalProblem, KodCodeProblem, load_problems
from evals.verification import gsm8k_verdict, humaneval_job, kodcode_job
from sandbox.executors import make_executor
from sandbox.protocol import Status, TestJob, Verdict


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
) -> list[CheckResult]:
    results: list[CheckResult] = []
    sandbox_jobs: list[tuple[str, list[str], list[TestJob], list[bool] | None]] = []
    for benchmark in benchmarks:
        problems = load_problems(benchmark, None, data_dir)
        if benchmark == "gsm8k":
            verdicts = [gsm8k_verdict(p.answer, p.target) for p in problems if isinstance(p, GSM8KProblem)]
            ids = [p.id for p in problems]
            failed = [(i, v) for i, v in zip(ids, verdicts) if not v.passed]
            results.append(CheckResult("gsm8k", len(verdicts), _count(verdicts), failed))
        elif benchmark == "humaneval":
            he = [p for p in problems if isinstance(p, HumanEvalProblem)]
            sandbox_jobs.append(("humaneval", [p.id for p in he], [humaneval_job(p, p.canonical_solution) for p in he], None))
        else:
            kc = [p for p in problems if isinstance(p, KodCodeProblem)]
            sandbox_jobs.append(("kodcode", [p.id for p in kc], [kodcode_job(p, p.solution) for p in kc], None))
            if trials:
                ids, jobs, expected = [], [], []
                for p in kc:
                    for t in p.trials:
                        ids.append(f"{p.id}/{t.trial}")
                        jobs.append(kodcode_job(p, t.solution_code, test=t.test_code, verbatim=True))
                        expected.append(t.passed)
                if jobs:
                    sandbox_jobs.append(("kodcode trials", ids, jobs, expected))
    if sandbox_jobs:
        async with make_executor(executor_kind, workers=workers) as pool:
            for name, ids, jobs, expected in sandbox_jobs:
                verdicts = await pool.run_many(jobs, on_done=lambda _i, _v: on_done())
                if expected is None:
                    failed = [(i, v) for i, v in zip(ids, verdicts) if not v.passed]
                    results.append(CheckResult(name, len(jobs), _count(verdicts), failed))
                else:
                    disagree = [(i, v) for i, v, e in zip(ids, verdicts, expected) if v.passed != e]
                    results.append(CheckResult(name, len(jobs), _count(verdicts), disagree, agree=len(jobs) - len(disagree)))
    return results


def run_selfcheck(
    executor: str = "docker",
    workers: int = 2,
    data_dir: str | os.PathLike[str] | None = None,
    benchmarks: list[str] | None = None,
    trials: bool = True,
    progress: bool = True,
) -> list[CheckResult]:
    from tqdm import tqdm

    with tqdm(desc="selfcheck", unit="job", disable=not progress) as bar:
        return asyncio.run(
            _check(executor, workers, data_dir, benchmarks or ["gsm8k", "humaneval", "kodcode"], trials, bar.update)
        )
