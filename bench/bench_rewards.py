"""Reward-stage benchmark: one GRPO batch's rewards, concurrent against one after another.

64 rollouts (8 KodCode problems x 8 guide completions, all well-formed strategies) go through
:class:`gcop.train.rewards.GuideRewards` as TRL calls it (every component at once). The core is the
local fake Anthropic API (:mod:`gcop.testing.fake_anthropic`, in a child process so that it does not
share this process's GIL) answering after a fixed latency ``L`` with the problem's reference
solution in a ```python block, called through Inspect's ``anthropic/`` provider. Code is judged
in the sandbox (the Docker pool when Docker and the image are there, else the local executor;
recorded). Each batch needs 64 guided core calls, 8 no-strategy baselines (one per problem) and
72 sandbox jobs.

Measured in one process, on one warm sandbox pool, each run with a fresh baseline cache:

* ``concurrent``: one concurrency limit for calls and runs that holds a whole batch's calls
  (256: 64 core + 64 judge + 8 baselines), as a training config would set it for this batch.
* ``sequential``: the same engine with ``max_concurrency=1`` -- every core call and sandbox run
  one after another.
* ``sandbox_own``: the sandbox alone on the jobs the stage ran (``run_many`` on the same pool).

Targets: concurrent <= 2L + sandbox_own, and sequential / concurrent >= 20. Three variants:

* ``core_only`` -- the setup above, with identical sandbox jobs shared (the engine's default:
  the responder's answers are identical across a problem's rollouts, so 8 unique jobs run);
* ``core_only_no_dedupe`` -- every one of the 72 jobs runs in the sandbox;
* ``exectune_with_judge`` -- the full ExecTune reward: the judge (the same fake, same latency,
  answering ``{"score": 0.8, "leaks": false}``) adds 64 calls.

    .venv/bin/python bench/bench_rewards.py [--latency 0.5] [--workers 2] [--executor auto]

Writes ``reports/benchmarks/rewards.json`` (and prints it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gcop.evals.benchmarks import benchmark_for, load_problems  # noqa: E402
from gcop.evals.verification import prepare_judgement  # noqa: E402
from gcop.testing import fake_anthropic  # noqa: E402
from gcop.train.rewards import GuideRewards, RewardModels, RewardSettings, problem_info  # noqa: E402
from gcop.train.tiny import synthetic_guide_output  # noqa: E402

OUT = ROOT / "reports" / "benchmarks" / "rewards.json"
CORE = "anthropic/claude-haiku-4-5"
PROBLEMS, ROLLOUTS = 8, 8


def responder_for(problems: list[Any]):
    references = {problem_info(p).text.strip(): benchmark_for(p).reference_answer(p) for p in problems}

    def respond(request: dict[str, Any]) -> str:
        if "You grade a plan" in fake_anthropic._content_text(request.get("system")):
            return '{"score": 0.8, "leaks": false}'
        prompt = fake_anthropic.last_user_text(request)
        body = prompt.split("Task:\n", 1)[-1]
        for text, answer in references.items():
            if body.startswith(text):
                return answer
        return "```python\nraise SystemExit(1)\n```"

    return respond


async def reward_batch(engine: GuideRewards, ids: list[str], completions: list[Any]) -> dict[str, list[float | None]]:
    """All components of one batch, as TRL calls them (same lists, gathered)."""
    funcs = engine.reward_funcs()
    results = await asyncio.gather(*(f(prompts=[None] * len(ids), completions=completions, problem_id=ids) for f in funcs))
    return {f.__name__: r for f, r in zip(funcs, results, strict=True)}


async def run_stage(problems, ids, completions, executor, *, max_concurrency: int, judge: bool, dedupe: bool,
                    base_url: str, warm: Any) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as cache:
        engine = GuideRewards(
            problems + [warm],
            RewardModels(core=CORE, judge=CORE if judge else None, core_args={"base_url": base_url, "max_retries": 0}),
            RewardSettings(gamma=0.1 if judge else 0.0, max_concurrency=max_concurrency, executor=executor,
                           dedupe_sandbox_jobs=dedupe, baseline_cache=cache),
        )
        # warm the HTTP client on this loop (one call, another problem), then time the batch
        await engine.outcomes([completions[0]], problem_id=[warm.id])
        engine.stats.clear()
        started = time.perf_counter()
        rewards = await reward_batch(engine, ids, completions)
        seconds = time.perf_counter() - started
        outcomes = await engine.outcomes(completions, problem_id=ids)  # the same batch: shared, no new work
    return {
        "seconds": round(seconds, 3),
        "max_concurrency": max_concurrency,
        "R_mean": sum(r for r in rewards["R"] if r is not None) / len(ids),
        "unscorable": sum(r is None for r in rewards["R"]),
        "core_calls": engine.stats["core_calls"],
        "judge_calls": engine.stats["judge_calls"],
        "baselines_computed": engine.stats["baseline_computed"],
        "sandbox_jobs": engine.stats["sandbox_jobs"],
        "sandbox_runs": engine.stats["sandbox_runs"],
        "_responses": [o.core_response for o in outcomes],
    }


async def sandbox_own(executor, problems_by_id, ids, responses, *, dedupe: bool) -> dict[str, Any]:
    """The sandbox alone on the jobs the stage ran (rollouts' code + one baseline per problem)."""
    jobs = []
    for pid, response in zip(ids, responses, strict=True):
        info = problems_by_id[pid]
        jobs.append(prepare_judgement(info.benchmark, response, target=info.target, metadata=info.metadata, sample_id=info.id))
    for pid in dict.fromkeys(ids):  # baselines: the same reference answers
        info = problems_by_id[pid]
        jobs.append(prepare_judgement(info.benchmark, responses[ids.index(pid)], target=info.target, metadata=info.metadata, sample_id=info.id))
    if dedupe:
        unique = {}
        for job in jobs:
            unique.setdefault((job.solution, job.test), job)
        jobs = list(unique.values())
    started = time.perf_counter()
    verdicts = await executor.run_many(jobs)
    return {"seconds": round(time.perf_counter() - started, 3), "jobs": len(jobs), "passed": sum(v.passed for v in verdicts)}


async def main_async(args: argparse.Namespace, base_url: str, problems, warm) -> dict[str, Any]:
    from gcop.sandbox.executors import docker_image_available, make_executor

    infos = {problem_info(p).id: problem_info(p) for p in problems + [warm]}
    ids = [p.id for p in problems for _ in range(ROLLOUTS)]
    completions = [[{"role": "assistant", "content": synthetic_guide_output(p.question, "code", seed=k)}]
                   for p in problems for k in range(ROLLOUTS)]
    kind = args.executor if args.executor != "auto" else ("docker" if docker_image_available() else "local")
    result: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "latency_s": args.latency, "rollouts": len(ids), "problems": PROBLEMS, "completions_per_problem": ROLLOUTS,
        "core": f"{CORE} via Inspect, on gcop.testing.fake_anthropic in a child process (every reply delayed by latency_s)",
        "executor": kind, "workers": args.workers, "runs": {},
    }
    executor = make_executor(kind, args.workers)
    await executor.start()
    try:
        variants = (("core_only", False, True), ("core_only_no_dedupe", False, False), ("exectune_with_judge", True, True))
        for name, judge, dedupe in variants:
            common = dict(judge=judge, dedupe=dedupe, base_url=base_url, warm=warm)
            concurrent = await run_stage(problems, ids, completions, executor, max_concurrency=args.concurrency, **common)
            own = await sandbox_own(executor, infos, ids, concurrent.pop("_responses"), dedupe=dedupe)
            sequential = await run_stage(problems, ids, completions, executor, max_concurrency=1, **common)
            sequential.pop("_responses")
            bound = 2 * args.latency + own["seconds"]
            speedup = sequential["seconds"] / concurrent["seconds"]
            result["runs"][name] = {
                "judge": judge, "dedupe_sandbox_jobs": dedupe,
                "concurrent": concurrent, "sequential": sequential, "sandbox_own": own,
                "bound_2L_plus_sandbox_s": round(bound, 3),
                "concurrent_over_bound": round(concurrent["seconds"] / bound, 3),
                "target_concurrent_le_bound": concurrent["seconds"] <= bound,
                "speedup_sequential_over_concurrent": round(speedup, 2),
                "target_speedup_ge_20": speedup >= 20,
            }
            print(name, json.dumps(result["runs"][name]), flush=True)
    finally:
        await executor.close()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency", type=float, default=0.5, help="the fake core's reply latency L in seconds")
    parser.add_argument("--workers", type=int, default=2, help="sandboxes (default 2)")
    parser.add_argument("--concurrency", type=int, default=256, help="the engine's concurrency limit (default 256)")
    parser.add_argument("--executor", choices=("auto", "docker", "local"), default="auto")
    parser.add_argument("--data-dir", default=os.environ.get("GCOP_DATA_DIR") or str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args()
    problems = load_problems("kodcode", "train", args.data_dir)[: PROBLEMS + 1]
    warm, problems = problems[PROBLEMS], problems[:PROBLEMS]
    with fake_anthropic.FakeAnthropicProcess(responder_for, problems + [warm], latency=args.latency,
                                             start_method="fork") as fake:
        os.environ.update(fake.env())
        result = asyncio.run(main_async(args, fake.base_url, problems, warm))
    result["fake_api_summary"] = fake.summary
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
