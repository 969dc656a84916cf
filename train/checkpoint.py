"""What every training stage writes and reads: a guide loaded from a spec, a checkpoint saved with
the guide's sampling, the run's record (``gcop_train.json``) and model card, and what a run returns."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gcop.durable import share_like_new_files, write_atomic
from gcop.guides.prompts import GUIDE_PROMPT_VERSION
from gcop.guides.solver import SAMPLING_FILE

from .config import GuideFields, config_dict, config_hash

__all__ = ["RECORD_FILE", "TrainResult", "final_metrics", "load_guide", "save_checkpoint", "write_model_card"]

#: The run's record, beside the model card in every checkpoint gcop writes.
RECORD_FILE = "gcop_train.json"


@dataclass
class TrainResult:
    """What a training run produced."""

    output_dir: Path
    steps: int
    metrics: dict[str, Any] = field(default_factory=dict)
    log_history: list[dict[str, Any]] = field(default_factory=list)
    #: The held-out evaluation before and after training (:class:`gcop.train.evaluate.HeldOutReport`).
    evaluation: Any = None


def load_guide(spec: str, *, workdir: str | Path, problems: Sequence[Any] = (), bf16: bool = False) -> tuple[Any, Any, str]:
    """(model, tokenizer, where it came from) for a guide spec: a path, a Hub id, or ``tiny``
    (a random-weight tiny Qwen3 built into ``<workdir>/tiny_base``, tokenizer trained on the
    problems' texts)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = spec
    if spec == "tiny":
        from .tiny import save_tiny_guide  # torch and transformers: imported with the model they build

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


def final_metrics(log_history: list[dict[str, Any]], keys: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for entry in log_history:
        for key in keys:
            if key in entry:
                out[key] = entry[key]
    return out
