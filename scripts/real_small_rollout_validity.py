"""Why GRPO did not move the real guide's held-out figures (scripts/real_small_chain.sh): the SFT
and GRPO checkpoints evaluated on the same held-out problems at the evaluation sampling
(temperature 0.6, top-p 0.95, where both score 24/24) and at the rollouts' sampling (temperature
1.0, top-p 1.0, where GRPO's reward had room to act), several outputs per problem, validity
only (the offline core is right exactly on a valid strategy, so R is validity). Paired outputs:
same problems, same seed, same order; exact McNemar test on the pairs.

    .venv/bin/python scripts/real_small_rollout_validity.py    # after scripts/real_small_chain.sh
Writes reports/real_small/rollout_validity.json.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SAMPLES = 4  # outputs per problem


def main() -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from gcop.train.config import load_config
    from gcop.train.evaluate import evaluate_guide, heldout_problems, paired_test

    torch.set_num_threads(2)
    config = load_config("grpo", ROOT / "train/configs/real_small_grpo.yaml",
                         ["--heldout_rewards", "false", "--heldout_samples", str(SAMPLES)])
    problems = heldout_problems(config)
    report: dict = {"command": "scripts/real_small_rollout_validity.py", "problems": len(problems),
                    "outputs_per_problem": SAMPLES, "sampling": {}}
    for name, (temperature, top_p) in {"evaluation": (0.6, 0.95), "rollouts": (1.0, 1.0)}.items():
        config.eval_temperature, config.eval_top_p = temperature, top_p
        flags = {}
        row: dict = {"temperature": temperature, "top_p": top_p}
        for label in ("sft", "grpo"):
            folder = ROOT / "checkpoints" / "real_small" / label
            model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
            tokenizer = AutoTokenizer.from_pretrained(folder)
            started = time.monotonic()
            result = evaluate_guide(model, tokenizer, config, problems, label=label, model_name=str(folder))
            flags[label] = result.valid_flags
            row[label] = {"validity": result.validity, "ci95": result.validity_ci, "outputs": result.outputs,
                          "invalid_reasons": result.invalid_reasons, "seconds": round(time.monotonic() - started, 1)}
            print(f"{name:10} {label:4} validity {result.validity:.3f} {result.validity_ci} "
                  f"of {result.outputs} outputs; invalid: {result.invalid_reasons}", flush=True)
        row["paired"] = paired_test(flags["sft"], flags["grpo"])
        print(f"{name:10} paired: {row['paired']}", flush=True)
        report["sampling"][name] = row
    out = ROOT / "reports" / "real_small" / "rollout_validity.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=list) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
