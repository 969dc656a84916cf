"""How faithful the cascade's visible examples are (evals/examples.py): for HumanEval and KodCode,
how many statements show examples the parser can run, and how many of those the data set's own
reference solution passes in full, in the sandbox. An example the reference fails is one the
statement gets wrong (or the parser misreads): it would escalate an honest answer. Writes
``reports/benchmarks/visible_examples.json``::

    GCOP_DATA_DIR=../shared/data .venv/bin/python bench/bench_examples.py [--executor docker]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gcop.evals.benchmarks import get_benchmark  # noqa: E402
from gcop.evals.examples import examples_job, visible_examples  # noqa: E402
from gcop.sandbox.executors import make_executor  # noqa: E402


async def measure(benchmark: str, executor, data_dir: str | None) -> dict:
    spec = get_benchmark(benchmark)
    problems = spec.load(None, data_dir)
    shown = examples = full = 0
    failing: list[dict] = []
    started = time.perf_counter()
    for problem in problems:
        sample = spec.sample(problem)
        metadata = sample.metadata or {}
        found = visible_examples(str(metadata.get("problem_text") or sample.input))
        if not found:
            continue
        shown += 1
        examples += len(found)
        target = sample.target if isinstance(sample.target, str) else "".join(sample.target)
        program = spec.test_job(metadata["reference"], target, metadata, sample_id=str(sample.id)).solution
        verdict = await executor.run(examples_job(program, found, job_id=str(sample.id)))
        passed = len(verdict.extra.get("passed_tests") or [])
        if passed == len(found):
            full += 1
        else:
            failing.append({"id": str(sample.id), "passed": passed, "examples": len(found)})
    return {"problems": len(problems), "with_examples": shown, "examples": examples,
            "reference_passes_all": full, "share": round(full / shown, 4) if shown else None,
            "reference_fails_some": failing, "seconds": round(time.perf_counter() - started, 2)}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executor", default="local", choices=["local", "docker"])
    parser.add_argument("--out", default=str(ROOT / "reports" / "benchmarks" / "visible_examples.json"))
    args = parser.parse_args()
    executor = make_executor(args.executor)
    data_dir = os.environ.get("GCOP_DATA_DIR")
    try:
        figures = {name: await measure(name, executor, data_dir) for name in ("humaneval", "kodcode")}
    finally:
        close = getattr(executor, "close", None)
        if close is not None:
            await close()
    figures["executor"] = args.executor
    Path(args.out).write_text(json.dumps(figures, indent=2) + "\n")
    for name in ("humaneval", "kodcode"):
        f = figures[name]
        print(f"{name}: {f['with_examples']}/{f['problems']} statements show runnable examples ({f['examples']} in all); "
              f"the reference passes all of them on {f['reference_passes_all']} ({f['share']})")


if __name__ == "__main__":
    asyncio.run(main())
