"""GPU benchmark: one GRPO step at the paper's batch, with our rewards against a constant reward.

A Qwen3-1.7B-shaped guide with random weights (28 layers, hidden 2048, 16/8 heads of 128,
intermediate 6144, 151,936-row tied embedding; bf16 on a GPU), a tokenizer trained locally, and
GSM8K training prompts. TRL's ``GRPOTrainer`` with the settings ``gcop train grpo`` builds
(:class:`gcop.train.config.GuideGRPOConfig`: 8 prompts x 8 completions per step, KL beta 0.004, lr 1e-6,
plain transformers generation) and a max completion of 256 tokens. Two runs in one process, each
from the same saved weights:

* ``constant``: one reward function returning 1.0 -- the trainer's own cost.
* ``exectune``: :class:`gcop.train.rewards.GuideRewards`, every ExecTune component (I_str, R, J, the
  dR penalty with its cached no-strategy baseline), the core and the judge called through
  Inspect's ``anthropic/`` provider on the local fake Anthropic API (a child process) answering
  after a fixed latency ``L`` (0.5 s). A random-weight guide never writes a ``<strategy>`` block,
  and a malformed strategy gets 0 without any core call, so the benchmark wraps each completion
  as ``<think>..</think><strategy>text</strategy>`` before the rewards see it: every rollout then
  takes the full path (64 core calls, 64 judge calls, 8 baselines per step).

Per step: wall time (CUDA-synchronised), its split from TRL's profiling hooks (generation,
reward, the rest of input preparation -- log-prob passes --, and the update: loss, backward,
optimizer), and peak GPU memory. Step 1 is a warm-up and reported apart; the figures are the mean
of the later steps. Target: the ExecTune step is at most 10% longer than the constant one.

    python bench/bench_grpo_step.py                     # the H100 run (needs CUDA)
    python bench/bench_grpo_step.py --shape tiny --batch 2 --generations 4 --max-completion 16 \\
        --out /tmp/grpo_step.json                       # a CPU dry run of the same code path

Writes ``reports/benchmarks/grpo_step.json`` (and prints it). On the device machine, which has
torch and transformers but not trl, datasets or inspect-ai, those travel as wheels (see the
device tool's README) and the repository's own packages from the working tree.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gcop.testing import fake_anthropic  # noqa: E402

OUT = ROOT / "reports" / "benchmarks" / "grpo_step.json"
CORE = "anthropic/claude-haiku-4-5"

#: Qwen3-1.7B's architecture (config.json of Qwen/Qwen3-1.7B), and a tiny one for CPU dry runs.
SHAPES: dict[str, dict[str, int]] = {
    "qwen3-1.7b": dict(hidden_size=2048, layers=28, heads=16, kv_heads=8, head_dim=128,
                       intermediate_size=6144, vocab_size=151936, max_positions=40960),
    "tiny": dict(hidden_size=64, layers=2, heads=4, kv_heads=2, head_dim=16, intermediate_size=128,
                 vocab_size=2048, max_positions=4096),
}

#: TRL profiling names -> our phases.
GENERATION = ("GRPOTrainer.transformers.generate", "GRPOTrainer.transformers.generate_batch", "GRPOTrainer.vLLM.generate")
REWARD = ("GRPOTrainer._calculate_rewards",)
PREPARE = ("GRPOTrainer._prepare_inputs",)


# ------------------------------------------------------------------------------- the fake core


def _answers(problems: list[Any]) -> dict[str, str]:
    from gcop.evals.benchmarks import benchmark_for

    return {p.question.strip(): benchmark_for(p).reference_answer(p) for p in problems}


def responder_for(problems: list[Any]):
    answers = _answers(problems)

    def respond(request: dict[str, Any]) -> str:
        if "You grade a plan" in fake_anthropic._content_text(request.get("system")):
            return '{"score": 0.8, "leaks": false}'
        prompt = fake_anthropic.prompt_text(request)
        for question, answer in answers.items():
            if question in prompt:
                return answer
        return "I cannot tell. \\boxed{0}"

    return respond


# ------------------------------------------------------------------------------- rewards


class WellFormed:
    """Wraps a reward component: each completion becomes a well-formed guide output first."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.__name__ = inner.__name__

    @staticmethod
    def wrap(completion: Any) -> Any:
        text = completion[-1]["content"] if isinstance(completion, list) else str(completion)
        text = re.sub(r"</?(think|strategy)>", " ", text)[:1500].strip() or "Work step by step."
        wrapped = f"<think>plan</think>\n<strategy>\n{text}\n</strategy>"
        return [{"role": "assistant", "content": wrapped}] if isinstance(completion, list) else wrapped

    async def __call__(self, prompts: Any = None, completions: Any = (), **kwargs: Any) -> list[float | None]:
        return await self.inner(prompts=prompts, completions=[self.wrap(c) for c in completions], **kwargs)


def constant_reward(completions: Any = (), **kwargs: Any) -> list[float]:
    return [1.0] * len(completions)


# ------------------------------------------------------------------------------- timing


class PhaseClock:
    """Collects TRL's profiling durations (``ProfilingContext``) and per-step wall times."""

    def __init__(self) -> None:
        self.current: dict[str, float] = {}
        self.steps: list[dict[str, float]] = []
        self.names: set[str] = set()

    def install(self) -> None:
        from trl.extras import profiling

        clock = self
        original = profiling.ProfilingContext._log_metrics

        def _log_metrics(self: Any, duration: float) -> None:
            clock.current[self.name] = clock.current.get(self.name, 0.0) + duration
            original(self, duration)

        profiling.ProfilingContext._log_metrics = _log_metrics

    def callback(self) -> Any:
        import torch
        from transformers import TrainerCallback

        clock = self

        class _StepTimer(TrainerCallback):
            def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
                if torch.cuda.is_available():
                    torch.cuda.synchronize()
                clock.current = {}
                clock._started = time.perf_counter()

            def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
                if torch.cuda.is_available():
                    torch.cuda.synchronize()
                total = time.perf_counter() - clock._started
                parts = clock.current
                generation = sum(parts.get(n, 0.0) for n in GENERATION)
                reward = sum(parts.get(n, 0.0) for n in REWARD)
                prepare = sum(parts.get(n, 0.0) for n in PREPARE)
                clock.names.update(parts)
                clock.steps.append({
                    "total_s": total,
                    "generation_s": generation,
                    "reward_s": reward,
                    "logprobs_and_other_prepare_s": max(prepare - generation - reward, 0.0),
                    "update_s": max(total - prepare, 0.0),
                })

        return _StepTimer()


# ------------------------------------------------------------------------------- the runs


def build_guide(path: Path, shape: str, problems: list[Any]) -> None:
    from gcop.train.tiny import build_model, build_tokenizer

    dims = dict(SHAPES[shape])
    tokenizer = build_tokenizer([p.question for p in problems][:400])
    model = build_model(tokenizer, **dims)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)


def train_config(args: argparse.Namespace, guide: Path, workdir: Path) -> Any:
    from gcop.train.config import make_config

    completions = args.batch * args.generations
    micro = args.micro_batch or completions
    return make_config(
        "grpo", recipe="exectune", benchmark="gsm8k", seed=0, model_name_or_path=str(guide), core=CORE, judge=CORE,
        core_args={"max_retries": 0}, data_dir=args.data_dir, split="train", limit=args.batch * args.steps,
        output_dir=str(workdir / "grpo"), num_generations=args.generations, per_device_train_batch_size=micro,
        gradient_accumulation_steps=completions // micro, max_completion_length=args.max_completion,
        max_steps=args.steps, use_vllm=False, save_steps=10_000, logging_steps=1,
        baseline_cache=str(workdir / "baselines"), max_concurrency=256, heldout_limit=0,
    )


def run_one(mode: str, config: Any, problems: list[Any]) -> dict[str, Any]:
    import torch
    from trl import GRPOTrainer

    from gcop.train.checkpoint import load_guide
    from gcop.train.inputs import grpo_dataset
    from gcop.train.rewards import build_rewards

    model, tokenizer, _ = load_guide(config.model_name_or_path, workdir=Path(config.output_dir), bf16=bool(config.bf16))
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    engine = None
    if mode == "constant":
        funcs, weights = [constant_reward], [1.0]
    else:
        engine = build_rewards(config, problems,
                               count_tokens=lambda text: len(tokenizer.encode(text, add_special_tokens=False)))
        funcs, weights = [WellFormed(f) for f in engine.reward_funcs()], engine.reward_weights()
    config.reward_weights = list(weights)
    clock = PhaseClock()
    trainer = GRPOTrainer(
        model=model, reward_funcs=funcs, args=config, processing_class=tokenizer,
        train_dataset=grpo_dataset(problems, recipe="exectune"), callbacks=[clock.callback()],
    )
    clock.install()
    trainer.train()
    if engine is not None:
        engine.close_on(trainer.async_loop)
    later = clock.steps[1:] or clock.steps
    mean = {key: round(statistics.mean(s[key] for s in later), 3) for key in later[0]}
    result: dict[str, Any] = {
        "steps": len(clock.steps),
        "warmup_step": {k: round(v, 3) for k, v in clock.steps[0].items()},
        "mean_of_later_steps": mean,
        "profiled": sorted(clock.names),
        "peak_gpu_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if torch.cuda.is_available() else None,
    }
    if engine is not None:
        result["reward_stats"] = dict(engine.stats)
        history = [h for h in trainer.state.log_history if "reward" in h]
        result["mean_reward"] = round(statistics.mean(h["reward"] for h in history), 4) if history else None
    del trainer, model
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", choices=sorted(SHAPES), default="qwen3-1.7b")
    parser.add_argument("--batch", type=int, default=8, help="prompts per step (default 8)")
    parser.add_argument("--generations", type=int, default=8, help="completions per prompt (default 8)")
    parser.add_argument("--micro-batch", type=int, default=None, help="completions per forward/backward (default: all)")
    parser.add_argument("--max-completion", type=int, default=256)
    parser.add_argument("--steps", type=int, default=3, help="optimizer steps per run; the first is a warm-up (default 3)")
    parser.add_argument("--latency", type=float, default=0.5, help="the fake API's latency per call, s (default 0.5)")
    parser.add_argument("--data-dir", default=os.environ.get("GCOP_DATA_DIR") or str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--modes", default="constant,exectune")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    import torch

    from gcop.evals.benchmarks import load_problems

    problems = load_problems("gsm8k", "train", args.data_dir)[: args.batch * args.steps]
    runs: dict[str, Any] = {}
    with fake_anthropic.FakeAnthropicProcess(responder_for, problems, latency=args.latency) as fake:
        # The core and the judge (Inspect's anthropic provider) both reach the fake through the
        # SDK's environment variables.
        os.environ.update(fake.env())
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            guide = workdir / "guide"
            build_guide(guide, args.shape, problems)
            config = train_config(args, guide, workdir)
            for mode in args.modes.split(","):
                runs[mode] = run_one(mode, config, problems)
                print(mode, json.dumps(runs[mode]), flush=True)

    report: dict[str, Any] = {
        "command": "python " + " ".join([f"bench/{Path(__file__).name}", *sys.argv[1:]]),
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "torch": torch.__version__,
                    "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None},
        "shape": {"name": args.shape, **SHAPES[args.shape]},
        "batch": {"prompts": args.batch, "generations": args.generations, "max_completion": args.max_completion},
        "latency_s": args.latency,
        "core": f"{CORE} via Inspect on gcop.testing.fake_anthropic (child process, every reply after latency_s)",
        "runs": runs,
        "fake_api_summary": fake.summary,
    }
    if "constant" in runs and "exectune" in runs:
        base = runs["constant"]["mean_of_later_steps"]["total_s"]
        ours = runs["exectune"]["mean_of_later_steps"]["total_s"]
        report["reward_overhead"] = {
            "step_s_constant": base, "step_s_exectune": ours,
            "added_fraction": round(ours / base - 1.0, 4),
            "target_added_fraction_le_0.10": ours / base - 1.0 <= 0.10,
        }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
