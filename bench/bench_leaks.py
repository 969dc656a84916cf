"""The leak check's detection and false-positive rates, and what it costs.

Leaks: every form of tests/evals/leak_corpus.py (math: the gold in 12 notations and expressions;
code: an implementation under another name, as a bare body, in a class, as an indented def, as a
lambda), built from each problem's own gold or reference solution, and the leaks a red-team pass
wrote by hand (arithmetic with units, code in unusual containers). Honest strategies: the
hand-written ones of the corpus, the offline chain's teacher (``mockllm/teacher``, the strategies
docs/training.md's chain accepts and trains on; two seeds per problem) and gcop/reference's strategy, on
the first 100 problems of each benchmark. Code candidates run on the local executor (the same
verdicts as the Docker pool; the tests check both).

    .venv/bin/python bench/bench_leaks.py

Writes ``reports/benchmarks/leaks.json`` (and prints it).
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.provenance import code_version  # noqa: E402
from gcop.evals.benchmarks import get_benchmark  # noqa: E402
from gcop.evals.leaks import check_leak  # noqa: E402
from gcop.evals.providers import REFERENCE_STRATEGY  # noqa: E402
from gcop.guides.strategy import parse_guide_output  # noqa: E402
from gcop.sandbox.executors import make_executor  # noqa: E402
from gcop.train.tiny import synthetic_guide_output  # noqa: E402
from tests.evals.leak_corpus import Case, all_cases  # noqa: E402

DATA = os.environ.get("GCOP_DATA_DIR") or str(ROOT.parent / "shared" / "data")


def offline_honest(problems: dict[str, dict[str, Any]], per_benchmark: int = 100) -> list[Case]:
    reference = parse_guide_output(REFERENCE_STRATEGY).strategy or ""
    cases = []
    for name, by_id in problems.items():
        spec = get_benchmark(name)
        for pid, problem in list(by_id.items())[:per_benchmark]:
            text = str(spec.sample(problem).input)
            for seed in range(2):
                strategy = parse_guide_output(synthetic_guide_output(text, spec.domain, seed=seed)).strategy or ""
                cases.append(Case(name, pid, f"teacher-{seed}", strategy, False))
            cases.append(Case(name, pid, "reference", reference, False))
    return cases


async def judge_all(cases: list[Case], problems: dict[str, dict[str, Any]]) -> list[tuple[Case, Any, float]]:
    out = []
    async with make_executor("local", 2) as executor:
        for case in cases:
            spec = get_benchmark(case.benchmark)
            sample = spec.sample(problems[case.benchmark][case.problem_id])
            target = sample.target if isinstance(sample.target, str) else "".join(sample.target)
            start = time.perf_counter()
            verdict = await check_leak(case.strategy, case.benchmark, target=target, metadata=sample.metadata or {},
                                       problem=str(sample.input), sample_id=case.problem_id, executor=executor)
            out.append((case, verdict, time.perf_counter() - start))
    return out


def main() -> None:
    corpus, problems = all_cases(DATA)
    hand = [c for c in corpus if not c.leak]
    teacher = offline_honest(problems)
    results = asyncio.run(judge_all(corpus + teacher, problems))
    by_form: dict[str, list[bool]] = collections.defaultdict(list)
    rules: collections.Counter[str] = collections.Counter()
    flagged: list[dict[str, Any]] = []
    math_s: list[float] = []
    code_s: list[float] = []
    runs = 0
    for case, verdict, seconds in results:
        (math_s if case.benchmark == "gsm8k" else code_s).append(seconds)
        runs += verdict.candidates_run
        if case.leak:
            form = "red-team" if case.form.startswith("red-team") else case.form
            by_form[f"{'math' if case.benchmark == 'gsm8k' else 'code'}/{form}"].append(verdict.leaked)
            if verdict.finding:
                rules[verdict.finding.rule] += 1
        elif verdict.leaked:
            flagged.append({"case": case.name, "reason": verdict.reason})
    leaks = [v for vs in by_form.values() for v in vs]
    honest_total = len(hand) + len(teacher)
    report = {
        "benchmark": "leak check: detection on leaks of every form, false positives on honest strategies",
        "command": ".venv/bin/python bench/bench_leaks.py",
        "code_version": code_version(),
        "leaks": {"total": len(leaks), "detected": sum(leaks), "detection_rate": sum(leaks) / len(leaks),
                  "by_form": {form: f"{sum(v)}/{len(v)}" for form, v in sorted(by_form.items())},
                  "by_rule": dict(sorted(rules.items()))},
        "honest": {"total": honest_total, "hand_written": len(hand), "offline_teacher_and_reference": len(teacher),
                   "flagged": len(flagged), "false_positive_rate": len(flagged) / honest_total, "flagged_cases": flagged},
        "cost": {"mean_ms_math": 1000 * sum(math_s) / len(math_s), "mean_ms_code": 1000 * sum(code_s) / len(code_s),
                 "sandbox_runs": runs, "executor": "local"},
    }
    out = ROOT / "reports" / "benchmarks" / "leaks.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
