"""One prompt and one sampling for a guide everywhere: GRPO's rollouts, the held-out evaluation of
training, and ``inspect eval``'s guide step give the model the same token ids for a problem and
sample it the same way (temperature, top-p, top-k, cap), read from one config and, for
``inspect eval``, from the checkpoint's ``gcop_sampling.json``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SHARED_DATA, needs_shared_data

ROOT = Path(__file__).resolve().parents[2]


class GenerateCalls:
    """Records what every ``generate`` call of transformers got: the first row's ids, the sampling."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from transformers import GenerationMixin

        self.calls: list[dict[str, Any]] = []
        original = GenerationMixin.generate

        def generate(model: Any, *args: Any, **kwargs: Any) -> Any:
            config = kwargs.get("generation_config") or model.generation_config
            ids = kwargs.get("input_ids", args[0] if args else None)
            mask = kwargs.get("attention_mask")
            row = ids[0][mask[0].bool()] if mask is not None else ids[0]
            pick = {key: kwargs.get(key, getattr(config, key, None)) for key in ("temperature", "top_p", "top_k")}
            pick["max_new_tokens"] = kwargs.get("max_new_tokens", config.max_new_tokens)
            self.calls.append({"ids": row.tolist(), **pick})
            return original(model, *args, **kwargs)

        monkeypatch.setattr(GenerationMixin, "generate", generate)


@needs_shared_data
def test_rollouts_heldout_and_inspect_eval_prompt_and_sample_a_guide_alike(tmp_path, monkeypatch):
    from inspect_ai import eval
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOTrainer

    from gcop.evals.gsm8k import gsm8k
    from gcop.train.checkpoint import save_checkpoint
    from gcop.train.config import load_config
    from gcop.train.evaluate import eval_settings, generate_guide_outputs
    from gcop.train.inputs import grpo_dataset, load_train_problems
    from gcop.train.tiny import save_tiny_guide

    base = save_tiny_guide(tmp_path / "base")
    checkpoint = tmp_path / "checkpoint"
    checkpoint.mkdir()
    common = ["--model_name_or_path", str(base), "--data_dir", str(SHARED_DATA), "--split", "test", "--limit", "1",
              "--core", "mockllm/strategy_gated", "--judge", "mockllm/judge", "--executor", "local",
              "--max_strategy_tokens", "24", "--heldout_max_new_tokens", "40", "--eval_top_k", "20",
              "--baseline_cache", str(tmp_path / "baselines"), "--bf16", "false"]
    sft = load_config("sft", None, [*common, "--output_dir", str(checkpoint)])
    grpo = load_config("grpo", None, [*common, "--output_dir", str(tmp_path / "grpo"), "--num_generations", "2",
                                      "--per_device_train_batch_size", "2", "--use_vllm", "false"])
    assert grpo.rollout_deviations() == []
    model = AutoModelForCausalLM.from_pretrained(base)
    tokenizer = AutoTokenizer.from_pretrained(base)
    save_checkpoint(model, tokenizer, checkpoint, sft)  # as `gcop train sft` ends
    recorded = json.loads((checkpoint / "gcop_sampling.json").read_text())
    assert {k: recorded[k] for k in ("temperature", "top_p", "top_k", "max_new_tokens")} == \
        {"temperature": 0.6, "top_p": 0.95, "top_k": 20, "max_new_tokens": 40}

    problems = load_train_problems(grpo)
    prompt = grpo_dataset(problems, recipe="exectune", max_strategy_tokens=24)[0]["prompt"]
    calls = GenerateCalls(monkeypatch)

    # 1. the held-out evaluation of training
    settings = eval_settings(sft, recipe="sft")
    generate_guide_outputs(model, tokenizer, [prompt], max_new_tokens=settings["max_new_tokens"],
                           temperature=settings["temperature"], top_p=settings["top_p"], top_k=settings["top_k"],
                           seed=0)
    heldout = calls.calls[-1]

    # 2. GRPO's rollouts: the ids TRL tokenizes a prompt to, and the generation config it samples with
    trainer = GRPOTrainer(model=model, processing_class=tokenizer, args=grpo,
                          reward_funcs=[lambda completions, **kw: [0.0] * len(completions)],
                          train_dataset=grpo_dataset(problems, recipe="exectune", max_strategy_tokens=24))
    rollout_ids = trainer._tokenize_prompts([prompt])[0][0]  # TRL's own tokenization (private: test only)
    rollout = {"ids": list(rollout_ids), **{k: getattr(trainer.generation_config, k) for k in
                                            ("temperature", "top_p", "top_k", "max_new_tokens")}}

    # 3. inspect eval of the checkpoint, the guide step reading its gcop_sampling.json
    [log] = eval(gsm8k(mode="guided", split="test", max_strategy_tokens=24, data_dir=str(SHARED_DATA)),
                 model="gcop/strategy_gated", model_roles={"guide": f"hf/{checkpoint}"}, limit=1, display="none",
                 log_dir=str(tmp_path / "logs"))
    assert log.status == "success", log.error
    inspect_call = calls.calls[-1]
    assert log.samples[0].metadata["guide"]["sampling"]["source"] == "the guide folder's gcop_sampling.json"

    expected = {"temperature": 0.6, "top_p": 0.95, "top_k": 20, "max_new_tokens": 40}
    for name, call in (("held-out", heldout), ("rollouts", rollout), ("inspect eval", inspect_call)):
        assert {k: call[k] for k in expected} == expected, name
    assert heldout["ids"] == rollout["ids"] == inspect_call["ids"]
    from gcop.train.rewards import problem_info

    assert tokenizer.decode(heldout["ids"]).count(problem_info(problems[0]).text.strip()[:40]) == 1


def test_rollouts_set_apart_are_named_and_recorded():
    from gcop.train.config import load_config

    config = load_config("grpo", ROOT / "train" / "configs" / "gsm8k_exectune.yaml")
    assert config.rollout_deviations() == ["temperature 1.0 in rollouts, 0.6 in evaluation",
                                           "top_p 1.0 in rollouts, 0.95 in evaluation",
                                           "max_new_tokens 2048 in rollouts, 1536 in evaluation"]
    assert config.guide_sampling == {"temperature": 0.6, "top_p": 0.95, "top_k": 0, "max_new_tokens": 1536}
