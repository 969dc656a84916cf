"""Reward-stage fault benchmark: a core that fails for good on a known 10% of its calls.

One GRPO reward batch -- ``--problems`` (8) KodCode problems x ``--rollouts`` (8) guide
completions, all well-formed strategies -- goes through :class:`gcop.train.rewards.GuideRewards` as
TRL calls it (every component at once), with the full ExecTune reward (core, judge, no-strategy
baselines). The core and the judge are the local fake Anthropic API
(:mod:`gcop.testing.fake_anthropic`, in a child process) called through Inspect's ``anthropic/``
provider; the core answers with the problem's reference solution, the judge ``{"score": 0.8, "leaks": false}``.

The failing calls are chosen before the batch runs: every distinct core prompt of the batch (each
rollout's prompt with its strategy, and each problem's no-strategy baseline prompt) is ranked by
a seeded hash (``sha256(seed, prompt)``) and the first ``round(fail_rate x prompts)`` fail
*for good*: the fake answers them with a permanent error on every attempt (the judge never
fails). A rollout is then expected to be masked (every component ``None``) exactly when its own
prompt fails or its problem's baseline fails; every other rollout must be scored (all
components numbers, ``R = 1``). The script asserts that, and that the fake refused exactly the
chosen prompts.

Runs, each on a fresh engine and baseline cache, one warm sandbox pool:

* ``no_faults``: the same batch, nothing fails (the wall-time reference);
* ``retried_500``: failing calls get 500 ``api_error``, which Inspect retries (``--core-retries``
  times, its own backoff of 3 s, 6 s, ... with jitter) before the call fails for good;
* ``immediate_400``: failing calls get 400 ``invalid_request_error``, which is not retried.

    .venv/bin/python bench/bench_reward_faults.py [--problems 8] [--rollouts 8] [--fail-rate 0.1] [--seed 0]
    .venv/bin/python bench/bench_reward_faults.py --quick --executor local --output /tmp/rf.json

Writes ``reports/benchmarks/reward_faults.json`` (and prints it). Exits 1 if a mask is wrong.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import logging
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.provenance import code_version  # noqa: E402
from gcop.evals.benchmarks import benchmark_for, load_problems  # noqa: E402
from gcop.evals.prompts import core_messages  # noqa: E402
from gcop.guides.strategy import parse_guide_output  # noqa: E402
from gcop.testing import fake_anthropic  # noqa: E402
from gcop.train.rewards import GuideRewards, RewardModels, RewardSettings, problem_info  # noqa: E402
from gcop.train.tiny import synthetic_guide_output  # noqa: E402

OUT = ROOT / "reports" / "benchmarks" / "reward_faults.json"
CORE = "anthropic/claude-haiku-4-5"
JUDGE_MARK = "You grade a plan"


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def rank(text: str, seed: int) -> str:
    return hashlib.sha256(f"{seed}\x00{text}".encode()).hexdigest()


# --------------------------------------------------------------------------- the fake, in a child


def _responder(references: dict[str, str]):
    def respond(request: dict[str, Any]) -> str:
        if JUDGE_MARK in fake_anthropic._content_text(request.get("system")):
            return '{"score": 0.8, "leaks": false}'
        body = fake_anthropic.last_user_text(request).split("Task:\n", 1)[-1]
        for text, answer in references.items():
            if body.startswith(text):
                return answer
        return "```python\nraise SystemExit(1)\n```"

    return respond


def _serve(conn: Any, references: dict[str, str]) -> None:
    """The fake in this child; the parent sets the failing prompts (digests) and status per run."""
    failing: set[str] = set()
    refused: dict[str, int] = {}

    def fail_when(request: dict[str, Any]) -> bool:
        if JUDGE_MARK in fake_anthropic._content_text(request.get("system")):
            return False
        key = digest(fake_anthropic.last_user_text(request))
        if key in failing:
            refused[key] = refused.get(key, 0) + 1
            return True
        return False

    with fake_anthropic.FakeAnthropic(_responder(references), fail_when=fail_when) as fake:
        conn.send(fake.base_url)
        while True:
            message = conn.recv()
            if message[0] == "set":
                failing.clear()
                failing.update(message[1])
                refused.clear()
                fake.permanent_status = message[2]
                conn.send("ok")
            elif message[0] == "report":
                conn.send({"refused": dict(refused), "summary": fake.summary()})
            else:
                conn.send(fake.summary())
                return


class FakeCore:
    def __init__(self, references: dict[str, str]) -> None:
        import multiprocessing

        context = multiprocessing.get_context("fork")
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child, references), daemon=True)

    def __enter__(self) -> FakeCore:
        self.process.start()
        self.base_url = self.conn.recv()
        return self

    def set(self, failing: set[str], status: int) -> None:
        self.conn.send(("set", sorted(failing), status))
        self.conn.recv()

    def report(self) -> dict[str, Any]:
        self.conn.send(("report",))
        return self.conn.recv()

    def __exit__(self, *exc: object) -> None:
        try:
            self.conn.send(("stop",))
            self.conn.poll(10)
        finally:
            self.process.join(timeout=10)
            if self.process.is_alive():
                self.process.terminate()


# --------------------------------------------------------------------------- the batch


def plan(problems: list[Any], rollouts: int, fail_rate: float, seed: int) -> dict[str, Any]:
    """The batch, its core prompts, the failing ones and the rollouts expected to be masked."""
    infos = [problem_info(p) for p in problems]
    ids, completions, own, base = [], [], [], []
    for info, problem in zip(infos, problems, strict=True):
        baseline_prompt = core_messages(info.domain, info.text)[-1].text
        for k in range(rollouts):
            text = synthetic_guide_output(problem.question, info.domain, seed=k)
            strategy = parse_guide_output(text).strategy
            ids.append(info.id)
            completions.append([{"role": "assistant", "content": text}])
            own.append(core_messages(info.domain, info.text, strategy=strategy)[-1].text)
            base.append(baseline_prompt)
    prompts = sorted(set(own) | set(base), key=lambda t: rank(t, seed))
    failing_prompts = set(prompts[: round(fail_rate * len(prompts))])
    expected = [o in failing_prompts or b in failing_prompts for o, b in zip(own, base, strict=True)]
    # calls the engine makes with each failing prompt: one per rollout showing it, one per baseline
    calls = {digest(t): (own.count(t) if t in own else 1) for t in failing_prompts}
    return {
        "calls": calls,
        "ids": ids, "completions": completions, "expected_masked": expected,
        "failing": {digest(t) for t in failing_prompts},
        "distinct_prompts": len(prompts), "guided_prompts": len(set(own)), "baseline_prompts": len(set(base)),
        "failing_guided": len(failing_prompts & set(own)), "failing_baselines": len(failing_prompts & set(base)),
        "rollouts_own_prompt_fails": sum(o in failing_prompts for o in own),
        "rollouts_baseline_fails": sum(b in failing_prompts for b in base),
    }


async def reward_batch(engine: GuideRewards, ids: list[str], completions: list[Any]) -> dict[str, list[float | None]]:
    """All components of one batch, as TRL calls them (same lists, gathered)."""
    funcs = engine.reward_funcs()
    results = await asyncio.gather(*(f(prompts=[None] * len(ids), completions=completions, problem_id=ids) for f in funcs))
    return {f.__name__: r for f, r in zip(funcs, results, strict=True)}


async def one_run(name: str, status: int, failing: set[str], batch: dict[str, Any], problems: list[Any], warm: Any,
                  executor: Any, fake: FakeCore, args: argparse.Namespace) -> dict[str, Any]:
    fake.set(set(), status)
    with tempfile.TemporaryDirectory() as cache:
        engine = GuideRewards(
            problems + [warm],
            RewardModels(core=CORE, judge=CORE, core_args={"base_url": fake.base_url, "max_retries": 0},
                         core_config={"max_retries": args.core_retries}),
            RewardSettings(gamma=0.1, executor=executor, baseline_cache=cache, max_unscorable_share=None,
                           max_concurrency=args.concurrency),
        )
        # warm the HTTP client on this loop (another problem, nothing failing), then time the batch
        warm_text = synthetic_guide_output(warm.question, problem_info(warm).domain, seed=0)
        await engine.outcomes([[{"role": "assistant", "content": warm_text}]], problem_id=[warm.id])
        engine.stats.clear()
        fake.set(failing, status)
        before = fake.report()["summary"]
        started = time.perf_counter()
        rewards = await reward_batch(engine, batch["ids"], batch["completions"])
        seconds = time.perf_counter() - started
        seen = fake.report()
    after = seen["summary"]
    statuses = {str(k): v - before["status"].get(k, 0) for k, v in after["status"].items() if v - before["status"].get(k, 0)}
    expected = batch["expected_masked"] if failing else [False] * len(batch["ids"])
    masked = [all(rewards[c][i] is None for c in rewards) for i in range(len(batch["ids"]))]
    partly = [any(rewards[c][i] is None for c in rewards) and not masked[i] for i in range(len(batch["ids"]))]
    scored = [i for i, m in enumerate(masked) if not m]
    refused = seen["refused"]
    result = {
        "status_of_failing_calls": status if failing else None,
        "seconds": round(seconds, 3),
        "rollouts": len(masked),
        "expected_masked": sum(expected),
        "masked": sum(masked),
        "scored": len(scored),
        "masked_exactly_as_expected": masked == expected,
        "wrong_masks": [i for i, (m, e) in enumerate(zip(masked, expected, strict=True)) if m != e],
        "partly_none": sum(partly),
        "scored_all_components_numbers": all(rewards[c][i] is not None for c in rewards for i in scored),
        "scored_R_mean": round(sum(rewards["R"][i] for i in scored) / len(scored), 4) if scored else None,
        "scored_R_all_1": all(rewards["R"][i] == 1.0 for i in scored),
        "fake_refused_prompts": len(refused),
        "fake_refused_exactly_the_chosen": set(refused) == failing,
        "attempts_per_failing_call": sorted({round(n / batch["calls"].get(k, 1), 3) for k, n in refused.items()}),
        "fake_requests": after["requests"] - before["requests"],
        "fake_status_counts": statuses,
        "engine_stats": {k: v for k, v in sorted(engine.stats.items())},
    }
    result["pass"] = bool(result["masked_exactly_as_expected"] and not any(partly) and result["scored_all_components_numbers"]
                          and result["scored_R_all_1"] and (not failing or result["fake_refused_exactly_the_chosen"]))
    print(name, json.dumps({k: v for k, v in result.items() if k != "engine_stats"}), flush=True)
    return result


async def main_async(args: argparse.Namespace, problems: list[Any], warm: Any, fake: FakeCore) -> dict[str, Any]:
    from gcop.sandbox.executors import docker_image_available, make_executor

    batch = plan(problems, args.rollouts, args.fail_rate, args.seed)
    kind = args.executor if args.executor != "auto" else ("docker" if docker_image_available() else "local")
    executor = make_executor(kind, args.workers)
    await executor.start()
    try:
        runs = {}
        for name, status, failing in (("no_faults", 500, set()), ("retried_500", 500, batch["failing"]),
                                      ("immediate_400", 400, batch["failing"])):
            runs[name] = await one_run(name, status, failing, batch, problems, warm, executor, fake, args)
    finally:
        await executor.close()
    chosen = {k: batch[k] for k in ("distinct_prompts", "guided_prompts", "baseline_prompts", "failing_guided",
                                    "failing_baselines", "rollouts_own_prompt_fails", "rollouts_baseline_fails")}
    chosen["failing_prompts"] = len(batch["failing"])
    chosen["expected_masked"] = sum(batch["expected_masked"])
    chosen["expected_masked_rollouts"] = [i for i, m in enumerate(batch["expected_masked"]) if m]
    return {"executor": kind, "failing_calls": chosen, "runs": runs,
            "all_pass": all(r["pass"] for r in runs.values())}


CODE = code_version("train/rewards.py", "sandbox/executors.py")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--problems", type=int, default=8, help="problems in the batch (default 8)")
    parser.add_argument("--rollouts", type=int, default=8, help="completions per problem (default 8)")
    parser.add_argument("--fail-rate", type=float, default=0.10, help="share of the core's prompts that fail for good")
    parser.add_argument("--seed", type=int, default=0, help="seed of the hash that picks the failing prompts")
    parser.add_argument("--core-retries", type=int, default=2, help="Inspect's max_retries for core calls (default 2)")
    parser.add_argument("--concurrency", type=int, default=256, help="the engine's concurrency limit (default 256)")
    parser.add_argument("--workers", type=int, default=2, help="sandboxes (default 2)")
    parser.add_argument("--executor", choices=("auto", "docker", "local"), default="auto")
    parser.add_argument("--benchmark", default="kodcode", help="the problems' benchmark (default kodcode)")
    parser.add_argument("--quick", action="store_true", help="smoke test: 3 problems x 4 rollouts, 1 core retry")
    parser.add_argument("--data-dir", default=os.environ.get("GCOP_DATA_DIR") or str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--output", "--out", dest="output", default=str(OUT))
    args = parser.parse_args()
    if args.quick:
        args.problems, args.rollouts, args.core_retries = 3, 4, 1
    # every failing call is expected here: keep the engine's per-completion warnings out of the output
    logging.getLogger("gcop.train.rewards").setLevel(logging.ERROR)
    problems = load_problems(args.benchmark, "train", args.data_dir)[: args.problems + 1]
    warm, problems = problems[args.problems], problems[: args.problems]
    references = {problem_info(p).text.strip(): benchmark_for(p).reference_answer(p) for p in problems + [warm]}
    with FakeCore(references) as fake:
        os.environ.update({"ANTHROPIC_BASE_URL": fake.base_url, "ANTHROPIC_API_KEY": "fake"})  # the judge's
        figures = asyncio.run(main_async(args, problems, warm, fake))
    result = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "code": CODE,
        "parameters": {"benchmark": args.benchmark, "problems": args.problems, "rollouts": args.rollouts,
                       "completions": args.problems * args.rollouts, "fail_rate": args.fail_rate, "seed": args.seed,
                       "core_retries": args.core_retries, "concurrency": args.concurrency, "workers": args.workers,
                       "quick": args.quick, "recipe": "exectune (R, I_str, J, dR_penalty; beta 0.1, gamma 0.1, kappa 0.5)"},
        "core": f"{CORE} via Inspect (SDK retries off), on gcop.testing.fake_anthropic in a child process",
        **figures,
    }
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0 if result["all_pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
