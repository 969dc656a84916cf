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
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gcop.durable import share_like_new_files, write_atomic
from gcop.evals.benchmarks import benchmark_names, get_benchmark
from gcop.guides.strategy import DEFAULT_MAX_STRATEGY_TOKENS
from gcop.readers import read_jsonl

from .config import GuideFields, GuideSFTConfig, config_dict, config_hash
from .distributed import is_main_process

log = logging.getLogger(__name__)

__all__ = [
    "CorpusError",
    "TrainResult",
    "corpus_hash",
    "guide_chat",
    "load_corpus",
    "load_guide",
    "load_train_problems",
    "run_sft",
    "sft_dataset",
    "write_model_card",
]

RECORD_FILE = "gcop_train.json"
CORPUS_FIELDS = ("problem", "guide_output", "benchmark")


class CorpusError(ValueError):
    """The corpus cannot be used (missing file, no usable line)."""


@dataclass
class TrainResult:
    """What a training run produced."""

    output_dir: Path
    steps: int
    metrics: dict[str, Any] = field(default_factory=dict)
    log_history: list[dict[str, Any]] = field(default_factory=list)
    #: The held-out evaluation before and after training (:class:`gcop.train.evaluate.HeldOutReport`).
    evaluation: Any = None


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
    from gcop.guides.strategy import parse_guide_output

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


def guide_chat(domain: str, problem: str, max_strategy_tokens: int = DEFAULT_MAX_STRATEGY_TOKENS) -> list[dict[str, str]]:
    """The guide's input as chat-template messages (role/content dicts)."""
    from gcop.guides.prompts import guide_messages

    return [{"role": m.role, "content": m.text} for m in guide_messages(domain, problem, max_strategy_tokens)]  # type: ignore[arg-type]


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


def load_train_problems(config: GuideFields) -> list[Any]:
    """The problems of ``split`` (the first ``limit``) of the config's benchmark."""
    from gcop.evals.benchmarks import load_problems

    split = None if config.split == "all" else config.split
    problems = load_problems(config.benchmark, split, config.data_dir)
    return problems[: config.limit] if config.limit else problems


# ---------------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------------


def load_guide(spec: str, *, workdir: str | Path, problems: Sequence[Any] = (), bf16: bool = False) -> tuple[Any, Any, str]:
    """(model, tokenizer, where it came from) for a guide spec: a path, a Hub id, or ``tiny``
    (a random-weight tiny Qwen3 built into ``<workdir>/tiny_base``, tokenizer trained on the
    problems' texts)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = spec
    if spec == "tiny":
        from .tiny import save_tiny_guide

        base = Path(workdir) / "tiny_base"
        if not (base / "config.json").is_file():
            texts: list[Any] = [getattr(p, "question", None) or getattr(p, "prompt", "") for p in problems][:400]
            save_tiny_guide(base, extra_texts=texts)
        source = str(base)
    tokenizer = AutoTokenizer.from_pretrained(source)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(source, dtype=torch.bfloat16 if bf16 else torch.float32)
    return model, tokenizer, source


def save_checkpoint(model: Any, tokenizer: Any, output_dir: Path, config: GuideFields) -> None:
    """Model (the LoRA adapter merged when ``merge_lora``), tokenizer with its chat template, and the
    guide's one sampling (:attr:`GuideFields.guide_sampling`) as the generation defaults
    (generation_config.json, what vLLM and Inspect's hf provider read) and in ``gcop_sampling.json``
    with the cap and stop ids (what gcop's guide step reads)."""
    from gcop.guides.solver import SAMPLING_FILE

    if config.use_peft and config.merge_lora and hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
    sampling = config.guide_sampling
    generation_config = getattr(model, "generation_config", None)
    stop_ids: list[int] = []
    if generation_config is not None:
        generation_config.do_sample = sampling["temperature"] > 0  # temperature 0: greedy
        generation_config.temperature = sampling["temperature"]
        generation_config.top_p = sampling["top_p"]
        generation_config.top_k = sampling["top_k"]
        if tokenizer.pad_token_id is not None and generation_config.pad_token_id is None:
            generation_config.pad_token_id = tokenizer.pad_token_id
        eos = generation_config.eos_token_id
        stop_ids = [eos] if isinstance(eos, int) else list(eos or [])
    model.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    write_atomic(Path(output_dir) / SAMPLING_FILE, json.dumps({**sampling, "stop_ids": stop_ids}, indent=2) + "\n")
    share_like_new_files(output_dir)  # safetensors writes model.safetensors 0600


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("gcop", "trl", "transformers", "peft", "torch", "inspect_ai", "vllm"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


def write_model_card(output_dir: str | Path, *, recipe: str, config: Any, base_model: str,
                     data: dict[str, Any], metrics: dict[str, Any], evaluation: Any = None) -> Path:
    """``README.md`` (model card) and ``gcop_train.json`` (the same record, machine-readable).
    ``evaluation``: the held-out before/after report (:class:`gcop.train.evaluate.HeldOutReport`)."""
    from gcop.guides.prompts import GUIDE_PROMPT_VERSION

    output_dir = Path(output_dir)
    record = {
        "recipe": recipe,
        "benchmark": config.benchmark,
        "base_model": base_model,
        "data": data,
        "config_sha256": config_hash(config),
        "config_file": getattr(config, "source", None),
        "config": config_dict(config),
        "guide_prompt_version": GUIDE_PROMPT_VERSION,
        "sampling": config.guide_sampling,
        **({"rollout_sampling": config.rollout_sampling} if hasattr(config, "rollout_sampling") else {}),
        "metrics": metrics,
        "evaluation": evaluation.to_dict() if evaluation is not None else None,
        "versions": _versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    write_atomic(output_dir / RECORD_FILE, json.dumps(record, indent=2, default=str) + "\n")  # never half a record
    front = {"library_name": "transformers", "base_model": None if os.path.exists(base_model) else base_model,
             "tags": ["gcop", "guide", recipe, config.benchmark]}
    front = {k: v for k, v in front.items() if v is not None}
    data_lines = "\n".join(f"- {k}: `{v}`" for k, v in data.items())
    metric_lines = "\n".join(f"- {k}: {v}" for k, v in metrics.items()) or "- (none)"
    card = (
        f"---\n{yaml.safe_dump(front, sort_keys=False)}---\n\n"
        f"# gcop guide: {recipe} on {config.benchmark}\n\n"
        f"A guide model for guide-core policies: it reads a problem and writes "
        f"`<think>..</think><strategy>..</strategy>` for a core model to execute.\n\n"
        f"- recipe: **{recipe}**\n- base model: `{base_model}`\n- benchmark: {config.benchmark}\n"
        f"- guide prompt version: {GUIDE_PROMPT_VERSION}\n"
        f"- config: `{record['config_file'] or '(in code)'}`, sha256 `{record['config_sha256']}`\n"
        f"- the guide's sampling (generation_config.json, gcop_sampling.json; the held-out evaluation's and "
        f"inspect eval's): {_sampling_text(config.guide_sampling)}\n"
        + (f"- rollouts sampled apart from it: {'; '.join(config.rollout_deviations())}\n"
           if hasattr(config, "rollout_deviations") and config.rollout_deviations() else "")
        + "\n"
        f"## Data\n\n{data_lines}\n\n"
        + (f"## Did training help?\n\n{evaluation.format(markdown=True)}\n\n" if evaluation is not None else "")
        + f"## Metrics\n\n{metric_lines}\n\n"
        f"## Use\n\n```bash\ninspect eval gcop/{config.benchmark} --model <core> --model-role guide=hf/{output_dir}\n```\n\n"
        f"## Config\n\n```yaml\n{yaml.safe_dump(json.loads(json.dumps(record['config'], default=str)), sort_keys=False)}```\n\n"
        f"## Versions\n\n" + "\n".join(f"- {k} {v}" for k, v in record["versions"].items()) + "\n"
    )
    return write_atomic(output_dir / "README.md", card)


def _sampling_text(sampling: dict[str, Any]) -> str:
    return (f"temperature {sampling['temperature']}, top-p {sampling['top_p']}, top-k {sampling['top_k'] or 'off'}, "
            f"up to {sampling['max_new_tokens']} tokens")


def _final_metrics(log_history: list[dict[str, Any]], keys: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for entry in log_history:
        for key in keys:
            if key in entry:
                out[key] = entry[key]
    return out


# ---------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------


def run_sft(config: GuideSFTConfig, *, callbacks: Sequence[Any] = ()) -> TrainResult:
    """Fine-tune ``model_name_or_path`` on ``corpus`` with TRL's ``SFTTrainer``; ``config`` is its
    ``SFTConfig`` (:class:`gcop.train.config.GuideSFTConfig`)."""
    from transformers import set_seed
    from trl import SFTTrainer

    from gcop.preflight import check_guide_source

    check_guide_source("model_name_or_path", config.model_name_or_path)
    output_dir = Path(config.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    set_seed(config.seed)
    if not config.corpus:
        raise CorpusError("sft needs corpus (the accepted corpus JSONL, or 'synthetic' for a smoke run)")
    corpus_path = Path(config.corpus)
    problems: list[Any] = []
    if config.corpus == "synthetic":
        from .tiny import synthetic_corpus

        problems = load_train_problems(config)
        with config.main_process_first(desc="synthetic corpus"):  # one writer; the other ranks read it
            corpus_path = synthetic_corpus(output_dir / "synthetic_corpus.jsonl", problems, benchmark=config.benchmark)
    elif config.model_name_or_path == "tiny":
        problems = load_train_problems(config)

    from .evaluate import HeldOutEvaluation

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
               **_final_metrics(history, ("loss", "train_loss", "mean_token_accuracy")),
               **{k: v for k, v in (train_output.metrics or {}).items() if k == "train_loss"}}
    data = {"corpus": str(corpus_path), "corpus_sha256": corpus_hash(corpus_path), "rows": len(rows),
            "skipped": sum(skipped.values()), "skipped_reasons": json.dumps(skipped) if skipped else "{}"}
    if is_main_process():
        write_model_card(output_dir, recipe="sft" + ("+lora" if config.use_peft else ""), config=config,
                         base_model=base, data=data, metrics=metrics, evaluation=heldout.report())
    return TrainResult(output_dir=output_dir, steps=trainer.state.global_step, metrics=metrics, log_history=history,
                       evaluation=heldout.report())
