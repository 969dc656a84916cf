"""The real guide on this machine: how long ``gcop guide prepare gemma3-270m`` takes (the whole
command, as a user times it), and guide generation speed with the prepared folder's weights in
bfloat16 against float32, on GSM8K guide prompts (batch 1 and batch 4, 64 new tokens, the
folder's sampling), median of ``--repeats``.

Run from the repo root (nothing else running: 2 cores)::

    .venv/bin/python bench/bench_real_guide.py [--repeats 3] [--data-dir ../shared/data]

Writes ``reports/benchmarks/real_guide.json`` (and prints it).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.provenance import code_version  # noqa: E402

NEW_TOKENS = 64


def prompts(data_dir: Path, n: int) -> list[list[dict[str, str]]]:
    from gcop.guides.prompts import guide_messages

    lines = (data_dir / "gsm8k" / "test.jsonl").read_text().splitlines()[:n]
    return [[{"role": m.role, "content": m.text} for m in guide_messages("math", json.loads(line)["question"])]
            for line in lines]


def generation_speed(folder: Path, dtype: str, chats: list[list[dict[str, str]]], batch: int, repeats: int) -> dict[str, Any]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    tokenizer.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=getattr(torch, dtype))
    model.eval()
    texts = [tokenizer.apply_chat_template(c, add_generation_prompt=True, tokenize=False) for c in chats[:batch]]
    inputs = tokenizer(texts, return_tensors="pt", padding=True)
    times = []
    for seed in range(repeats):
        torch.manual_seed(seed)
        started = time.perf_counter()
        with torch.no_grad():
            # min_new_tokens: every run generates the same number of tokens, stop ids or not
            model.generate(**inputs, max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS)
        times.append(time.perf_counter() - started)
    seconds = statistics.median(times)
    return {"dtype": dtype, "batch": batch, "seconds": round(seconds, 2),
            "tokens_per_s": round(batch * NEW_TOKENS / seconds, 1), "prompt_tokens": int(inputs["input_ids"].shape[1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "benchmarks" / "real_guide.json")
    args = parser.parse_args()
    import torch

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "gemma3-270m"
        started = time.perf_counter()
        subprocess.run([str(ROOT / ".venv" / "bin" / "gcop"), "guide", "prepare", "gemma3-270m", "--out", str(folder)],
                       check=True, cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        prepare_s = time.perf_counter() - started
        card = json.loads((folder / "gcop_guide.json").read_text())
        chats = prompts(args.data_dir, 4)
        runs = [generation_speed(folder, dtype, chats, batch, args.repeats)
                for batch in (1, 4) for dtype in ("float32", "bfloat16")]
    speedups = {f"batch {b}": round(next(r["seconds"] for r in runs if r["batch"] == b and r["dtype"] == "float32")
                                    / next(r["seconds"] for r in runs if r["batch"] == b and r["dtype"] == "bfloat16"), 2)
                for b in (1, 4)}
    report = {
        "command": f".venv/bin/python bench/bench_real_guide.py --repeats {args.repeats}",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "torch": torch.__version__,
                    "torch_threads": torch.get_num_threads()},
        "prepare_whole_command_s": round(prepare_s, 1),
        "card": {k: card[k] for k in ("weights_of", "parameters", "dtype", "probe_max_logit_difference_vs_gguf",
                                      "template_check")},
        "generation": runs,
        "bf16_speedup_over_fp32": speedups,
        "code_version": code_version("train/real_guides.py"),
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
