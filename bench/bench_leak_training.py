"""Does GRPO under gcop's reward learn to stop leaking? An offline run with a leaking shortcut.

The guide is the smoke chain's tiny random-weight Qwen3, fine-tuned (SFT) on a corpus where half
of the outputs leak: for each of 16 GSM8K train problems, two honest synthetic strategies and two
that add a last step stating the problem's gold answer ("4. The result is 72."). The core is
``mockllm/copies_leaks``: right whenever the strategy gives the answer away, right on a fixed half
of the problems with an honest strategy. So leaking is the better policy for any reward that pays
for it.

GRPO then trains two copies of that SFT guide, with the smoke GRPO settings (the offline judge,
the same weights, seed 0), differing only in ``leak_reward``:

* ``zero`` (gcop's default): a leaking strategy earns 0 from every component;
* ``judge_only`` (the paper's looser reading): J = 0 for a leak, R and I_str kept.

Reported per run: the leak rate of the rollouts (``rewards_info/leak_rate``, TRL's log) per step,
and the means of the first and last 10 steps. Run from the repository root
(about 8 minutes on two cores):

    .venv/bin/python bench/bench_leak_training.py [--steps 80] [--sft-steps 600] [--work runs/leak_training]

Writes ``reports/benchmarks/leak_training.json`` (and prints it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATA = os.environ.get("GCOP_DATA_DIR") or str(ROOT.parent / "shared" / "data")
PROBLEMS = 16


def leaking_corpus(path: Path, problems: list[Any]) -> tuple[int, int]:
    """Two honest and two leaking outputs per problem; (honest, leaking) line counts."""
    from gcop.evals.benchmarks import get_benchmark
    from gcop.evals.leaks import static_leak
    from gcop.train.tiny import synthetic_guide_output

    spec = get_benchmark("gsm8k")
    counts = [0, 0]
    with path.open("w", encoding="utf-8") as handle:
        for problem in problems:
            sample = spec.sample(problem)
            text = str(sample.input)
            for seed in range(4):
                output = synthetic_guide_output(text, "math", seed=seed)
                if seed >= 2:
                    steps = output.split("<strategy>\n", 1)[1].split("\n</strategy>")[0].count("\n") + 2
                    output = output.replace("\n</strategy>", f"\n{steps}. The result is {problem.target}.\n</strategy>")
                    strategy = output.split("<strategy>\n", 1)[1].split("\n</strategy>")[0]
                    assert static_leak(strategy, "gsm8k", target=problem.target, metadata=sample.metadata or {},
                                       problem=text) is not None
                counts[seed >= 2] += 1
                handle.write(json.dumps({"id": problem.id, "problem": text, "benchmark": "gsm8k",
                                         "guide_output": output}) + "\n")
    return counts[0], counts[1]


def steps_of(history: list[dict[str, Any]], key: str) -> list[float]:
    return [float(entry[key]) for entry in history if key in entry and "step" in entry]


def mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=80, help="GRPO steps per run")
    parser.add_argument("--sft-steps", type=int, default=600, help="SFT steps")
    parser.add_argument("--work", default="runs/leak_training", help="folder for the checkpoints")
    args = parser.parse_args()

    from gcop.evals.benchmarks import get_benchmark
    from gcop.train.config import load_config
    from gcop.train.grpo import run_grpo
    from gcop.train.sft import run_sft

    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    problems = get_benchmark("gsm8k").load("train", DATA)[:PROBLEMS]
    honest, leaking = leaking_corpus(work / "corpus.jsonl", problems)
    report: dict[str, Any] = {
        "benchmark": "GRPO with a leaking shortcut: leak rate over training under leak_reward zero and judge_only",
        "command": f".venv/bin/python bench/bench_leak_training.py --steps {args.steps} --sft-steps {args.sft_steps}",
        "setup": {"problems": PROBLEMS, "corpus": {"honest": honest, "leaking": leaking},
                  "guide": "tiny random-weight Qwen3 (train/tiny.py), SFT on the corpus",
                  "core": "mockllm/copies_leaks (right when the strategy leaks; else right on a fixed half of the problems)",
                  "judge": "mockllm/judge", "grpo": "train/configs/smoke_grpo.yaml, limit 16, seed 0"},
        "runs": {},
    }
    started = time.time()
    sft = load_config("sft", ROOT / "train/configs/smoke_sft.yaml", [
        "--corpus", str(work / "corpus.jsonl"), "--output_dir", str(work / "sft"), "--limit", str(PROBLEMS),
        "--max_steps", str(args.sft_steps), "--heldout_limit", "0", "--data_dir", DATA,
        "--baseline_cache", str(work / "baselines")])
    run_sft(sft)
    report["setup"]["sft_seconds"] = round(time.time() - started, 1)
    for rule in ("zero", "judge_only"):
        started = time.time()
        config = load_config("grpo", ROOT / "train/configs/smoke_grpo.yaml", [
            "--model_name_or_path", str(work / "sft"), "--output_dir", str(work / f"grpo_{rule}"),
            "--core", "mockllm/copies_leaks", "--limit", str(PROBLEMS), "--leak_reward", rule,
            "--max_steps", str(args.steps), "--heldout_limit", "0", "--save_steps", "100000", "--data_dir", DATA,
            "--baseline_cache", str(work / "baselines")])
        result = run_grpo(config)
        leak = steps_of(result.log_history, "rewards_info/leak_rate")
        window = max(1, min(10, len(leak) // 3))
        report["runs"][rule] = {
            "leak_rate_per_step": [round(v, 3) for v in leak],
            "leak_rate_first_steps": round(mean(leak[:window]) or 0.0, 3),
            "leak_rate_last_steps": round(mean(leak[-window:]) or 0.0, 3),
            "steps_with_leaks_in_the_last_half": sum(v > 0 for v in leak[len(leak) // 2:]),
            "window_steps": window,
            "seconds": round(time.time() - started, 1),
        }
    out = ROOT / "reports" / "benchmarks" / "leak_training.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
