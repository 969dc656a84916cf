"""Supervised fine-tuning of the guide on the accepted corpus (TRL ``SFTTrainer``).

The corpus is JSONL, one accepted teacher output per line: ``problem`` (the problem text),
``guide_output`` (``<think>..</think><strategy>..</strategy>``) and ``benchmark``. Each line
becomes a conversational prompt-completion example: the prompt is the guide's own input
(:func:`gcop.guides.prompts.guide_messages`: its system prompt and the problem), the completion the
accepted output, and the loss covers the completion only. Lines that are malformed, or whose
output fails the strategy checker, are skipped and counted (the model card says how many).

Full fine-tune or LoRA (``use_peft``; merged into the weights on save by default). The
checkpoint in ``output_dir`` holds the model, the tokenizer with its chat template, a
``generation_config.json`` with the evaluation sampling settings, ``gcop_train.json`` (the run's
record) and a model card (``README.md``: recipe, data hash, config). Inspect loads it as the guide
with ``--model-role guide=hf/<output_dir>``; GRPO starts from it (``model_name_or_path``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gcop.evals.benchmarks import benchmark_names, get_benchmark
from gcop.guides.strategy import DEFAULT_MAX_STRATEGY_TOKENS, parse_guide_output
from gcop.preflight import check_guide_source
from gcop.readers import read_jsonl

from .checkpoint import TrainResult, final_metrics, load_guide, save_checkpoint, write_model_card
from .config import GuideSFTConfig
from .distributed import is_main_process
from .evaluate import HeldOutEvaluation
from .inputs import guide_chat, load_train_problems
from .tiny import synthetic_corpus

log = logging.getLogger(__name__)

__all__ = ["CorpusError", "corpus_hash", "load_corpus", "run_sft", "sft_dataset"]

CORPUS_FIELDS = ("problem", "guide_output", "benchmark")


class CorpusError(ValueError):
    """The corpus cannot be used (missing file, no usable line)."""


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------


def corpus_hash(path: str | Path) -> str:
    """sha256 of the corpus file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_corpus(path: str | Path, *, limit: int | None = None, max_strategy_tokens: int = DEFAULT_MAX_STRATEGY_TOKENS,
                count_tokens: Any = None) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The usable rows of an accepted corpus, and counts of what was skipped and why."""

    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"no such corpus file: {path}")
    lines, bad = read_jsonl(path)
    rows: list[dict[str, Any]] = []
    skipped: dict[str, int] = {}

    def skip(why: str) -> None:
        skipped[why] = skipped.get(why, 0) + 1

    for error in bad:
        skip(error.message)  # "not valid JSON", "expected a JSON object, got list"
    if bad:
        log.warning("corpus %s: bad lines: %s", path, "; ".join(str(e) for e in bad[:5]))
    for _, row in lines:
        missing = [k for k in CORPUS_FIELDS if not isinstance(row.get(k), str) or not row[k].strip()]
        if missing:
            skip(f"missing {', '.join(missing)}")
            continue
        if row["benchmark"] not in benchmark_names():
            skip(f"unknown benchmark {row['benchmark']!r}")
            continue
        parsed = parse_guide_output(row["guide_output"], max_strategy_tokens=max_strategy_tokens, count_tokens=count_tokens)
        if not parsed.valid:
            skip(f"invalid guide output: {parsed.reason}")
            continue
        rows.append(row)
        if limit is not None and len(rows) >= limit:
            break
    if not rows:
        raise CorpusError(f"{path}: no usable line (skipped: {skipped or 'none, the file is empty'})")
    if skipped:
        log.warning("corpus %s: skipped %d line(s): %s", path, sum(skipped.values()), skipped)
    return rows, skipped


def sft_dataset(rows: Sequence[dict[str, Any]], max_strategy_tokens: int = DEFAULT_MAX_STRATEGY_TOKENS) -> Any:
    """A conversational prompt-completion ``datasets.Dataset`` from corpus rows."""
    from datasets import Dataset

    return Dataset.from_list([
        {
            "prompt": guide_chat(get_benchmark(row["benchmark"]).domain, row["problem"], max_strategy_tokens),
            "completion": [{"role": "assistant", "content": row["guide_output"]}],
        }
        for row in rows
    ])


# ---------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------


def run_sft(config: GuideSFTConfig, *, callbacks: Sequence[Any] = ()) -> TrainResult:
    """Fine-tune ``model_name_or_path`` on ``corpus`` with TRL's ``SFTTrainer``; ``config`` is its
    ``SFTConfig`` (:class:`gcop.train.config.GuideSFTConfig`)."""
    from transformers import set_seed
    from trl import SFTTrainer


    check_guide_source("model_name_or_path", config.model_name_or_path)
    output_dir = Path(config.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    set_seed(config.seed)
    if not config.corpus:
        raise CorpusError("sft needs corpus (the accepted corpus JSONL, or 'synthetic' for a smoke run)")
    corpus_path = Path(config.corpus)
    problems: list[Any] = []
    if config.corpus == "synthetic":

        problems = load_train_problems(config)
        with config.main_process_first(desc="synthetic corpus"):  # one writer; the other ranks read it
            corpus_path = synthetic_corpus(output_dir / "synthetic_corpus.jsonl", problems, benchmark=config.benchmark)
    elif config.model_name_or_path == "tiny":
        problems = load_train_problems(config)

    heldout = HeldOutEvaluation(config, output_dir=output_dir, recipe="exectune")
    heldout.preflight()
    with config.main_process_first(desc="guide"):  # a `tiny` guide is built once, then loaded by every rank
        model, tokenizer, base = load_guide(config.model_name_or_path, workdir=output_dir, problems=problems,
                                            bf16=bool(config.bf16))

    def count_tokens(text: str) -> int:
        return len(tokenizer.encode(text, add_special_tokens=False))

    heldout.before(model, tokenizer, label="base", model_name=base, count_tokens=count_tokens)
    rows, skipped = load_corpus(corpus_path, limit=config.limit, max_strategy_tokens=config.max_strategy_tokens,
                                count_tokens=count_tokens)
    dataset = sft_dataset(rows, config.max_strategy_tokens)
    trainer = SFTTrainer(
        model=model,
        args=config,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=config.lora_config(),
        callbacks=list(callbacks) or None,
    )
    started = time.time()
    train_output = trainer.train()
    elapsed = time.time() - started
    heldout.after(trainer.model, tokenizer, label="SFT", model_name=str(output_dir), count_tokens=count_tokens)
    if is_main_process():  # the Trainer saves its checkpoints once; so is the final model
        save_checkpoint(trainer.model, tokenizer, output_dir, config)
    history = list(trainer.state.log_history)
    metrics = {"steps": trainer.state.global_step, "train_seconds": round(elapsed, 1),
               **final_metrics(history, ("loss", "train_loss", "mean_token_accuracy")),
               **{k: v for k, v in (train_output.metrics or {}).items() if k == "train_loss"}}
    data = {"corpus": str(corpus_path), "corpus_sha256": corpus_hash(corpus_path), "rows": len(rows),
            "skipped": sum(skipped.values()), "skipped_reasons": json.dumps(skipped) if skipped else "{}"}
    if is_main_process():
        write_model_card(output_dir, recipe="sft" + ("+lora" if config.use_peft else ""), config=config,
                         base_model=base, data=data, metrics=metrics, evaluation=heldout.report())
    return TrainResult(output_dir=output_dir, steps=trainer.state.global_step, metrics=metrics, log_history=history,
                       evaluation=heldout.report())
