"""How strong the verdicts are: the boundary's report over the KodCode sample and HumanEval.

Judges every reference solution (HumanEval's 164 canonical solutions, the KodCode sample's 152)
and every recorded KodCode trial, then counts, per benchmark:

* tests decided by value only (no comparison went through a handle, i.e. through the sample's
  own ``__eq__``/``__bool__``/...), tests with at least one such comparison, and the total;
* arithmetic, conversions, indexing and iteration done on the sample's objects (``handle_data_ops``)
  and what each job allowed them (``handle_ops_allowed``: from the reference solution, see
  ``gcop.sandbox.protocol.handle_ops_of``);
* jobs judged ``in-process`` (the test needs what cannot cross the boundary) and why;
* trial verdicts that disagree with KodCode's recorded ones.

Targets (issue 10): no HumanEval job in-process, under 5% of KodCode's.

Also the host side: the seconds ``extract_code`` takes on 100 KB responses made to be slow (runs of
lines that each fail to parse only at their end: 18 KB of them took 53 s before the search had
a budget), median of 5.

Run from the repo root::

    .venv/bin/python bench/bench_boundary.py [--executor docker|local] [--data-dir ../shared/data]

Writes ``reports/benchmarks/boundary.json`` (and prints it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import sys
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gcop.evals.benchmarks import load_problems  # noqa: E402
from gcop.evals.humaneval.spec import HumanEvalProblem, humaneval_job  # noqa: E402
from gcop.evals.kodcode.spec import KodCodeProblem, kodcode_job  # noqa: E402
from gcop.sandbox.executors import make_executor  # noqa: E402
from gcop.sandbox.protocol import TestJob, Verdict, boundary_totals  # noqa: E402


def boundary_shares(verdicts: list[Verdict]) -> dict[str, Any]:
    """Counts of how the verdicts' tests were decided (see the module docstring), from
    :func:`gcop.sandbox.protocol.boundary_totals`, with the reasons for in-process jobs."""
    totals = boundary_totals(verdicts)
    reasons = Counter(
        str(v.extra["boundary"].get("reason", ""))
        for v in verdicts
        if isinstance(v.extra.get("boundary"), dict) and v.extra["boundary"].get("mode") == "in-process"
    )
    tests = totals["tests_by_value"] + totals["tests_through_handle"]
    return {
        "jobs": len(verdicts),
        "tests_by_value": totals["tests_by_value"],
        "tests_through_handle": totals["tests_through_handle"],
        "share_by_value": round(totals["tests_by_value"] / tests, 4) if tests else None,
        "handle_comparisons": sum(int((v.extra.get("boundary") or {}).get("handle_comparisons") or 0) for v in verdicts),
        # arithmetic, conversions, indexing, iteration on the sample's objects (allowed ones)
        "handle_data_ops": sum(int((v.extra.get("boundary") or {}).get("handle_data_ops") or 0) for v in verdicts),
        # what the jobs let handles do, from their reference solutions: "none", "any", or the ops
        "handle_ops_allowed": dict(Counter(str((v.extra.get("boundary") or {}).get("handle_ops", "unrecorded"))
                                           for v in verdicts).most_common()),
        "jobs_in_process": totals["jobs_in_process"],
        "share_in_process": round(totals["jobs_in_process"] / len(verdicts), 4) if verdicts else None,
        "in_process_reasons": dict(reasons),
        "jobs_without_report": totals["jobs_unrecorded"],
        # pytest-style jobs whose test module needed no pytest session (gcop.sandbox.runner.plain)
        "jobs_without_session": totals["jobs_without_session"],
    }


async def judge(kind: str, workers: int, jobs: list[TestJob]) -> list[Verdict]:
    async with make_executor(kind, workers=workers) as pool:
        return await pool.run_many(jobs)


def extraction_seconds() -> dict[str, float]:
    import statistics
    import time

    from gcop.evals.extraction import _parse_outcome, extract_code, humaneval_program

    cases = {
        "decorators without a def": "@x\n" * 33_000,
        "lines continued to the end": "def f():\n" + "    x = 1 + \\\n" * 7_000,
        "an open call": "def f(\n" + "a,\n" * 33_000,
        "prose after code": "def f():\n    return 1\n" + "and then some prose\n" * 5_000,
    }
    out = {}
    for name, text in cases.items():
        text = text[:100_000]
        runs = []
        for _ in range(5):
            _parse_outcome.cache_clear()  # each run parses afresh, as a new response would
            started = time.perf_counter()
            extract_code(text)
            humaneval_program("def f():\n", text, "f")
            runs.append(time.perf_counter() - started)
        out[f"{name} ({len(text)} chars)"] = round(statistics.median(runs), 4)
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--executor", default="docker", choices=["docker", "local"])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--out", default=str(ROOT / "reports" / "benchmarks" / "boundary.json"))
    args = parser.parse_args(argv)

    humaneval = [p for p in load_problems("humaneval", None, args.data_dir) if isinstance(p, HumanEvalProblem)]
    kodcode = [p for p in load_problems("kodcode", None, args.data_dir) if isinstance(p, KodCodeProblem)]
    trial_jobs, trial_ids, expected = [], [], []
    for problem in kodcode:
        for trial in problem.trials:
            trial_jobs.append(kodcode_job(problem, trial.solution_code, test=trial.test_code, verbatim=True))
            trial_ids.append(f"{problem.id}/{trial.trial}")
            expected.append(trial.passed)
    he_jobs = [humaneval_job(p, p.canonical_solution) for p in humaneval]
    kc_jobs = [kodcode_job(p, p.solution) for p in kodcode]
    verdicts = asyncio.run(judge(args.executor, args.workers, he_jobs + kc_jobs + trial_jobs))
    he, kc, trials = verdicts[: len(he_jobs)], verdicts[len(he_jobs) : len(he_jobs) + len(kc_jobs)], verdicts[len(he_jobs) + len(kc_jobs) :]
    disagree = [
        {"trial": i, "recorded_passed": e, "status": v.status.value, "reason": v.reason[:300]}
        for i, v, e in zip(trial_ids, trials, expected, strict=False)
        if v.passed != e
    ]
    report = {
        "executor": args.executor,
        "machine": f"{platform.machine()}, {platform.system()}",
        "humaneval_references": {"passed": sum(v.passed for v in he), **boundary_shares(he)},
        "kodcode_references": {"passed": sum(v.passed for v in kc), **boundary_shares(kc)},
        "kodcode_trials": {"agree": len(trials) - len(disagree), "disagree": disagree, **boundary_shares(trials)},
        "extraction_seconds_100kb": extraction_seconds(),
        "targets": {"humaneval_in_process": 0, "kodcode_share_in_process_below": 0.05},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
