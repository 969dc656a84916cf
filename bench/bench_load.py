"""Load benchmark: the GSM8K test split, guided, at 64 connections, with 30% injected faults.

``inspect eval gcop/gsm8k`` on the whole test split (1,319 samples) in guided mode, with both the
``guide`` role and the core (``--model``) on the local fake Anthropic API
(:mod:`gcop.testing.fake_anthropic`, served from this script's process while the eval runs as
its own process) and ``--max-connections 64``, twice:

* ``fault_free``: every request answered;
* ``faults``: ``--fault-rate`` (30%) of the attempts get a transient fault, split evenly between
  429 ``rate_limit_error`` (``retry-after: 1``), 529 ``overloaded_error``, 500 ``api_error`` and a
  dropped connection (``FaultConfig.uniform``; each draw seeded by the request and its attempt
  number, so a run's faults are the same on every run). Nothing else changes: the anthropic SDK's
  own retries and Inspect's (unlimited by default) are what a user gets.

The fake answers the guide with a valid strategy and the core with the problem's gold answer,
so every sample must be scored and correct. Each run is timed as a whole process (start-up,
imports, the eval, writing the log), as a user times the command; the log is then read back:
samples in the log, samples with an error (must be 0), samples with a score, accuracy.
A short untimed run (``--limit 5``) first warms the page cache for both.

    .venv/bin/python bench/bench_load.py [--fault-rate 0.3] [--max-connections 64] [--limit N]
    .venv/bin/python bench/bench_load.py --quick --output /tmp/load.json      # 100 samples

Writes ``reports/benchmarks/load.json`` (and prints it). Exits 1 if a sample is lost or errored.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.provenance import code_version  # noqa: E402
from gcop.evals.benchmarks import load_problems  # noqa: E402
from gcop.testing import fake_anthropic  # noqa: E402
from gcop.testing.fake_anthropic import FakeAnthropic, FaultConfig  # noqa: E402

OUT = ROOT / "reports" / "benchmarks" / "load.json"
MODEL = "anthropic/claude-haiku-4-5"
STRATEGY = "<think>\nplan it\n</think>\n<strategy>\n1. List the quantities given.\n2. Combine them step by step.\n3. Check the result.\n</strategy>"


def responder_for(problems: list[Any]):
    """The guide gets a valid strategy; the core the gold answer of the problem it is shown."""
    gold = [(p.question.strip(), p.target) for p in problems]

    def respond(request: dict[str, Any]) -> str:
        if "<strategy>" in fake_anthropic._content_text(request.get("system")):
            return STRATEGY
        body = fake_anthropic.last_user_text(request).split("Problem:\n", 1)[-1]
        for question, target in gold:
            if body.startswith(question):
                return f"Following the plan step by step.\nThe answer is \\boxed{{{target}}}."
        return "I cannot tell. \\boxed{-1}"

    return respond


def eval_command(args: argparse.Namespace, log_dir: str, limit: int | None) -> list[str]:
    inspect = str(Path(sys.executable).with_name("inspect"))
    command = [inspect, "eval", "gcop/gsm8k", "--model", MODEL, "--model-role", f"guide={MODEL}",
               "-T", "split=test", "-T", "mode=guided", "-T", f"data_dir={args.data_dir}",
               "--max-connections", str(args.max_connections), "--log-dir", log_dir, "--display", "none"]
    if limit is not None:
        command += ["--limit", str(limit)]
    return command


def read_log(log_dir: str) -> dict[str, Any]:
    from inspect_ai.log import list_eval_logs, read_eval_log

    logs = list_eval_logs(log_dir)
    if len(logs) != 1:
        raise RuntimeError(f"expected one log in {log_dir}, found {len(logs)}")
    log = read_eval_log(logs[0])
    samples = log.samples or []
    scores = [next(iter(s.scores.values())) for s in samples if s.scores]
    correct = sum(1 for sc in scores if sc.value in ("C", 1, 1.0, True))
    metrics = log.results.scores[0].metrics if log.results and log.results.scores else {}
    return {
        "status": log.status,
        "samples_in_log": len(samples),
        "completed_samples": log.results.completed_samples if log.results else 0,
        "samples_with_error": sum(1 for s in samples if s.error),
        "samples_scored": len(scores),
        "correct": correct,
        "accuracy": float(metrics["accuracy"].value) if "accuracy" in metrics else None,
        "guide_valid": sum(1 for s in samples if ((s.metadata or {}).get("guide") or {}).get("valid") is True),
        "distinct_ids": len({s.id for s in samples}),
    }


def timed_run(args: argparse.Namespace, fake: FakeAnthropic, faults: FaultConfig, limit: int | None) -> dict[str, Any]:
    fake.set_faults(faults)
    env = {**os.environ, **{"ANTHROPIC_BASE_URL": fake.base_url, "ANTHROPIC_API_KEY": "fake",
                            "GCOP_DATA_DIR": args.data_dir}}
    before = fake.summary()
    with tempfile.TemporaryDirectory() as log_dir:
        command = eval_command(args, log_dir, limit)
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=args.timeout)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(f"inspect eval failed ({done.returncode}): {done.stderr[-3000:]}")
        figures = read_log(log_dir)
    after = fake.summary()
    requests = after["requests"] - before["requests"]
    outcomes = {k: v - before["outcomes"].get(k, 0) for k, v in after["outcomes"].items() if v - before["outcomes"].get(k, 0)}
    faulted = sum(v for k, v in outcomes.items() if k != "ok")
    return {
        "seconds": round(seconds, 2),
        **figures,
        "http_requests": requests,
        "request_outcomes": outcomes,
        "injected_faults": faulted,
        "injected_share": round(faulted / requests, 4) if requests else None,
        "command": shlex.join(["inspect", *command[1:]]).replace(log_dir, "LOG_DIR"),
    }


CODE = code_version("gcop/testing/fake_anthropic.py", "evals/tasks.py")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fault-rate", type=float, default=0.30, help="share of attempts with a transient fault")
    parser.add_argument("--max-connections", type=int, default=64, help="Inspect's --max-connections (default 64)")
    parser.add_argument("--limit", type=int, default=None, help="samples (default: the whole test split, 1,319)")
    parser.add_argument("--seed", type=int, default=0, help="the fault draws' seed")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds allowed per run")
    parser.add_argument("--quick", action="store_true", help="smoke test: the first 100 samples")
    parser.add_argument("--data-dir", default=os.environ.get("GCOP_DATA_DIR") or str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--output", "--out", dest="output", default=str(OUT))
    args = parser.parse_args()
    args.data_dir = str(Path(args.data_dir).resolve())
    if args.quick and args.limit is None:
        args.limit = 100
    problems = load_problems("gsm8k", "test", args.data_dir)
    expected = len(problems) if args.limit is None else min(args.limit, len(problems))
    faults = FaultConfig.uniform(args.fault_rate, seed=args.seed)
    with FakeAnthropic(responder_for(problems)) as fake:
        timed_run(args, fake, FaultConfig(), 5)  # warm-up, untimed
        clean = timed_run(args, fake, FaultConfig(), args.limit)
        print("fault_free", json.dumps(clean), flush=True)
        faulty = timed_run(args, fake, faults, args.limit)
        print("faults", json.dumps(faulty), flush=True)

    def complete(run: dict[str, Any]) -> bool:
        return (run["status"] == "success" and run["samples_in_log"] == run["samples_scored"] == run["distinct_ids"] == expected
                and run["samples_with_error"] == 0 and run["correct"] == expected)

    result = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "code": CODE,
        "parameters": {"task": "gcop/gsm8k", "split": "test", "mode": "guided", "samples": expected,
                       "model": MODEL, "guide": MODEL, "max_connections": args.max_connections,
                       "fault_rate": args.fault_rate, "fault_kinds": ["rate_limit", "overloaded", "api_error", "drop"],
                       "retry_after_s": faults.retry_after, "seed": args.seed, "quick": args.quick,
                       "retries": "defaults: the anthropic SDK's (2) and Inspect's (unlimited)"},
        "fake": "gcop.testing.fake_anthropic.FakeAnthropic in the benchmark's process; inspect eval as a child process",
        "runs": {"fault_free": clean, "faults": faulty},
        "ratio_faults_over_fault_free": round(faulty["seconds"] / clean["seconds"], 3),
        "samples_lost": {"fault_free": expected - clean["samples_scored"], "faults": expected - faulty["samples_scored"]},
        "all_samples_scored_no_errors": complete(clean) and complete(faulty),
    }
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0 if result["all_samples_scored_no_errors"] else 1


if __name__ == "__main__":
    sys.exit(main())
