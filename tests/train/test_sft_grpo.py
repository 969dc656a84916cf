"""SFT and GRPO end to end on a tiny random-weight Qwen3 guide (CPU, offline), then Inspect
loading the trained checkpoint as the guide (``hf/<path>``).

One SFT run (module fixture) teaches the tiny guide the output format; GRPO continues from it
with a scripted core that fails for good on one problem; the Inspect eval uses the GRPO
checkpoint. The CLI test runs the smoke config's two stages with a handful of steps (LoRA SFT,
GRPO, then GRPO resumed from its checkpoint)."""

from __future__ import annotations

import json
import math
import stat
from pathlib import Path

import pytest
from inspect_ai.model import get_model

from gcop.durable import new_file_mode
from gcop.evals.benchmarks import load_problems
from gcop.train.config import load_config, make_config
from gcop.train.rewards import GuideRewards
from tests.conftest import REPO_ROOT, SHARED_DATA, mock_output, needs_shared_data

pytestmark = [needs_shared_data, pytest.mark.slow]
DATA = str(SHARED_DATA)
SMOKE_SFT = REPO_ROOT / "train" / "configs" / "smoke_sft.yaml"
SMOKE_GRPO = REPO_ROOT / "train" / "configs" / "smoke_grpo.yaml"
GOOD = "<think>\nplan\n</think>\n<strategy>\n1. List the quantities.\n2. Add them up.\n</strategy>"


def valid_rate(model, tokenizer, problems, *, samples: int = 32, max_new_tokens: int = 96) -> tuple[float, list[str]]:
    """The share of sampled guide outputs that pass the strategy checker, sampled as the guide is
    evaluated (temperature 0.6, top-p 0.95)."""
    import torch

    from gcop.guides.strategy import parse_guide_output
    from gcop.train.inputs import guide_chat

    tokenizer.padding_side = "left"
    texts = [tokenizer.apply_chat_template(guide_chat("math", p.question), tokenize=False, add_generation_prompt=True)
             for p in problems[:samples]]
    batch = tokenizer(texts, return_tensors="pt", padding=True)
    torch.manual_seed(0)
    with torch.no_grad():
        out = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=True, temperature=0.6, top_p=0.95,
                             pad_token_id=tokenizer.pad_token_id)
    decoded = tokenizer.batch_decode(out[:, batch["input_ids"].shape[1]:], skip_special_tokens=True)
    return sum(parse_guide_output(d).valid for d in decoded) / len(decoded), decoded


def common(root: Path) -> dict:
    return {"benchmark": "gsm8k", "seed": 0, "core": "mockllm/strategy_gated", "judge": "mockllm/judge",
            "data_dir": DATA, "executor": "local", "baseline_cache": str(root / "baselines"), "heldout_limit": 0,
            "bf16": False}


def sft_config(root: Path, **values):
    return make_config("sft", **{**common(root), "model_name_or_path": "tiny", "corpus": "synthetic", "limit": 64,
                                 "output_dir": str(root / "sft"), "max_steps": 150, "learning_rate": 4e-3,
                                 "warmup_steps": 0, "lr_scheduler_type": "constant", "per_device_train_batch_size": 8,
                                 "max_length": 1024, "logging_steps": 25, **values})


def grpo_config(root: Path, **values):
    return make_config("grpo", **{**common(root), "recipe": "exectune", "model_name_or_path": str(root / "sft"),
                                  **values})


@pytest.fixture(scope="module")
def held_out():
    return load_problems("gsm8k", "test", DATA)[:32]


@pytest.fixture(scope="module")
def sft_run(tmp_path_factory, held_out):
    from gcop.train.checkpoint import load_guide
    from gcop.train.sft import run_sft

    root = tmp_path_factory.mktemp("train")
    # the built-in held-out evaluation on the same 32 problems as valid_rate, scored by the core
    config = sft_config(root, heldout_limit=32, heldout_max_new_tokens=512)  # >= the strategy budget
    from gcop.train.inputs import load_train_problems

    model, tokenizer, _ = load_guide("tiny", workdir=config.output_dir, problems=load_train_problems(config))
    before, _ = valid_rate(model, tokenizer, held_out)
    result = run_sft(config)
    return {"root": root, "config": config, "result": result, "before": before}


def test_sft_teaches_the_output_format(sft_run, held_out):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from gcop.train.sft import corpus_hash

    out = sft_run["result"].output_dir
    tokenizer = AutoTokenizer.from_pretrained(out)
    model = AutoModelForCausalLM.from_pretrained(out)
    after, samples = valid_rate(model, tokenizer, held_out)
    assert sft_run["before"] <= 0.1, sft_run["before"]
    assert after >= 0.8, (after, samples[:3])
    assert sft_run["result"].steps == 150
    # checkpoint: model, tokenizer + chat template, eval sampling defaults, model card
    assert tokenizer.chat_template and "<strategy>" in tokenizer.get_vocab()
    generation = json.loads((out / "generation_config.json").read_text())
    assert generation["temperature"] == 0.6 and generation["top_p"] == 0.95
    card = (out / "README.md").read_text()
    corpus = out / "synthetic_corpus.jsonl"
    assert "recipe: **sft**" in card and corpus_hash(corpus) in card and "learning_rate: 0.004" in card
    record = json.loads((out / "gcop_train.json").read_text())
    assert record["data"]["rows"] == 64 and record["config_sha256"] in card


def test_sft_reports_whether_training_helped(sft_run):
    """The run's own before/after evaluation agrees with the independent measurement above:
    validity near 0 before, high after; with the strategy-gated core, R equals validity."""
    evaluation = sft_run["result"].evaluation
    before, after = evaluation.before, evaluation.after
    assert before.label == "base" and after.label == "SFT" and before.problems == after.problems == 32
    assert before.validity <= 0.1 and after.validity >= 0.7, (before.validity, after.validity)
    assert before.components["R"] == before.validity and after.components["R"] == after.validity
    assert after.validity_ci[0] > before.validity_ci[1]  # a change far outside the noise
    assert "McNemar p = " in evaluation.format()
    assert after.reward > before.reward
    out = sft_run["result"].output_dir
    card = (out / "README.md").read_text()
    assert "## Did training help?" in card and "| strategy validity |" in card and "before (base)" in card
    record = json.loads((out / "gcop_train.json").read_text())
    assert record["evaluation"]["after"]["validity"] == after.validity
    ledger = json.loads((out / "ledger.json").read_text())
    assert ledger["phases"]["eval_core"]["calls"] >= round(after.validity * 32)


class FailingOnOneProblem:
    """A core that answers every problem right, except that any guided call for ``bad`` fails."""

    def __init__(self, problems, bad) -> None:
        self.gold = {p.question.strip()[:60]: p.target for p in problems}
        self.bad = bad.question.strip()[:60]
        self.calls: list[tuple[bool, str]] = []

    def __call__(self, input, tools, tool_choice, config):  # noqa: A002
        prompt = input[-1].text
        body = prompt.split("Problem:\n", 1)[1]
        guided = "<strategy>" in prompt
        self.calls.append((guided, body[:60]))
        if guided and body.startswith(self.bad):
            raise ConnectionError("core unavailable (for good)")
        target = next(v for k, v in self.gold.items() if body.startswith(k))
        return mock_output(f"\\boxed{{{target}}}")


@pytest.fixture(scope="module")
def grpo_run(sft_run):
    from gcop.train.grpo import run_grpo
    from gcop.train.inputs import load_train_problems
    from gcop.train.rewards import build_rewards

    root = sft_run["root"]
    config = grpo_config(root, limit=2, output_dir=str(root / "grpo"), max_steps=2, num_generations=4,
                         per_device_train_batch_size=4, gradient_accumulation_steps=2, max_completion_length=96,
                         learning_rate=1e-4, save_steps=1)
    problems = load_train_problems(config)
    core = FailingOnOneProblem(problems, bad=problems[1])

    def engine() -> GuideRewards:
        return build_rewards(config, problems, models={"core": get_model("mockllm/model", custom_outputs=core,
                                                                                  memoize=False),
                                                        "core_name": "scripted-core"})

    # an earlier run cached problem 0's no-strategy baseline on disk
    seeded = engine().compute([problems[0].id], [GOOD])
    assert seeded["R"] == [1.0]
    core.calls.clear()
    rewards = engine()
    result = run_grpo(config, rewards=rewards)
    return {"config": config, "result": result, "rewards": rewards, "core": core, "problems": problems}


def test_grpo_logs_every_component_masks_failures_and_reuses_the_baseline(grpo_run):
    result, rewards, core, problems = grpo_run["result"], grpo_run["rewards"], grpo_run["core"], grpo_run["problems"]
    assert result.steps == 2
    steps = [h for h in result.log_history if "loss" in h]
    assert len(steps) == 2
    for entry in steps:
        for name in ("R", "I_str", "J", "dR_penalty"):
            assert f"rewards/{name}/mean" in entry and f"rewards/{name}/std" in entry
        assert "reward" in entry and "kl" in entry and "rewards_info/unscorable_frac" in entry
    # the core failed for good on every guided call for problem 1: those completions are unscorable
    assert rewards.stats["core_failures"] >= 1 and rewards.stats["unscorable"] == rewards.stats["core_failures"]
    assert any(h["rewards_info/unscorable_frac"] > 0 for h in steps)
    trainer = result.trainer
    rows = list(zip(*(trainer._logs["rewards"][n] for n in ("R", "I_str", "J", "dR_penalty")), strict=True))
    advantages = list(trainer._logs["advantages"])
    masked = [i for i, row in enumerate(rows) if all(math.isnan(v) for v in row)]
    assert masked, rows  # the last batch had completions for problem 1 with a valid strategy
    assert all(advantages[i] == 0.0 for i in masked)  # TRL: all-None rows carry no learning signal
    # baselines: problem 0's came from the disk cache, problem 1's was computed once
    unguided = [body for guided, body in core.calls if not guided]
    assert rewards.stats["baseline_disk_hits"] == 1
    assert unguided == [problems[1].question.strip()[:60]] * rewards.stats["baseline_computed"]
    assert rewards.stats["baseline_computed"] <= 1


def test_grpo_saves_a_checkpoint_with_a_model_card(grpo_run):
    out = grpo_run["result"].output_dir
    for name in ("config.json", "model.safetensors", "tokenizer.json", "generation_config.json", "README.md", "gcop_train.json"):
        assert (out / name).is_file(), name
    assert (out / "checkpoint-1").is_dir() and (out / "checkpoint-2").is_dir()
    for path in out.iterdir():  # never safetensors' or mkstemp's 0600: what open() gives here
        if path.is_file():
            assert stat.S_IMODE(path.stat().st_mode) == new_file_mode(), path.name
    card = (out / "README.md").read_text()
    assert "grpo-exectune" in card and "scripted-core" in card and "'dR_penalty': 0.5" in card


def test_inspect_loads_the_trained_guide(grpo_run, tmp_path, monkeypatch):
    from inspect_ai import eval as inspect_eval

    import gcop.evals.gsm8k

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    core = get_model("mockllm/model", custom_outputs=lambda *a: mock_output("\\boxed{3}"), memoize=False)
    logs = inspect_eval(
        gcop.evals.gsm8k.gsm8k(split="test", mode="guided", data_dir=DATA), model=core,
        model_roles={"guide": f"hf/{grpo_run['result'].output_dir}"}, limit=2, display="none", log_dir=str(tmp_path),
    )
    log = logs[0]
    assert log.status == "success", log.error
    assert "guide" in log.stats.role_usage and log.stats.role_usage["guide"].output_tokens > 0
    assert all(s.metadata["guide"]["raw"] for s in log.samples)
    assert all(s.metadata["guide"]["model"].startswith("hf/") for s in log.samples)


def test_cli_smoke_stages_lora_and_resume(tmp_path, capsys):
    from gcop.cli import main as gcop_main

    def main(argv: list[str]) -> int:
        return gcop_main(["train", *argv])

    shared = ["--data_dir", DATA, "--limit", "8", "--baseline_cache", str(tmp_path / "baselines"),
              "--heldout_limit", "3", "--heldout_max_new_tokens", "512"]
    sft = ["--config", str(SMOKE_SFT), *shared, "--output_dir", str(tmp_path / "sft")]
    assert main(["sft", *sft, "--max_steps", "2", "--use_peft"]) == 0
    out = capsys.readouterr().out
    assert "saved" in out and "held-out evaluation: 3 problems of the test split (held out)" in out
    assert "before (base)" in out and "after (SFT)" in out and "strategy validity" in out
    sft_dir = tmp_path / "sft"
    assert (sft_dir / "model.safetensors").is_file() and not (sft_dir / "adapter_config.json").exists()  # merged
    assert "sft+lora" in (sft_dir / "README.md").read_text()
    grpo = ["--config", str(SMOKE_GRPO), *shared, "--model_name_or_path", str(tmp_path / "sft"),
            "--output_dir", str(tmp_path / "grpo"), "--save_steps", "1", "--max_completion_length", "32"]
    assert main(["grpo", *grpo, "--max_steps", "1"]) == 0
    out = capsys.readouterr().out
    assert "before (SFT)" in out and "after (GRPO exectune)" in out and "mean reward per step (1 steps): 1: " in out
    assert (tmp_path / "grpo" / "checkpoint-1").is_dir()
    assert main(["grpo", *grpo, "--max_steps", "2", "--resume"]) == 0
    record = json.loads((tmp_path / "grpo" / "gcop_train.json").read_text())
    assert record["metrics"]["steps"] == 2 and (tmp_path / "grpo" / "checkpoint-2").is_dir()
    capsys.readouterr()
    # config errors: exit code 2 and a message naming the key and the file
    assert main(["sft", *sft, "--lernig_rate", "1"]) == 2
    assert "unknown key 'lernig_rate' in the command line; did you mean learning_rate" in capsys.readouterr().err
    assert main(["grpo", "--config", str(REPO_ROOT / "train/configs/gsm8k_sft.yaml")]) == 2  # an SFT file
    assert "key 'max_length' in " in (err := capsys.readouterr().err) and "is this an SFT config?" in err


def test_grpo_records_costs_and_stops_at_its_budget(sft_run):
    from inspect_ai.model import ModelCost

    from gcop.train.grpo import run_grpo
    from gcop.train.ledger import LEDGER_FILE, CostLedger

    root = sft_run["root"]
    out = root / "grpo-budget"
    config = grpo_config(root, limit=4, output_dir=str(out), max_steps=4, num_generations=4,
                         per_device_train_batch_size=4, gradient_accumulation_steps=2, max_completion_length=64,
                         save_steps=100, budget_usd=0.0002, baseline_cache=str(root / "budget-baselines"))
    # $1 per M tokens in and out: step 1's calls (core and judge, ~100 words each) cost several
    # times $0.0002, so the budget is reached in step 1 and training stops there.
    price = ModelCost(input=1.0, output=1.0, input_cache_write=1.0, input_cache_read=1.0)
    ledger = CostLedger.load(out / LEDGER_FILE, budget_usd=config.budget_usd, prices={"mockllm/model": price})
    result = run_grpo(config, ledger=ledger)
    assert result.steps == 1
    assert result.metrics["stopped"] == "budget $0.0002 reached after step 1"
    saved = json.loads((out / LEDGER_FILE).read_text())
    assert saved["phases"]["core"]["calls"] >= 1 and saved["phases"]["core"]["cost_usd"] > 0
    assert result.metrics["cost_usd"]["total"] == pytest.approx(saved["total_usd"], abs=1e-6) and saved["total_usd"] >= 0.0002
    assert (out / "model.safetensors").is_file()  # the stopped run still saves its model
    # a call refused once the budget was spent makes its completions unscorable (masked), not 0
    assert result.metrics["reward_stats"]["budget_refusals"] > 0 and result.metrics["reward_stats"]["unscorable"] > 0
    logs = result.trainer._logs["rewards"]
    rows = list(zip(*(logs[n] for n in ("R", "I_str", "J", "dR_penalty")), strict=True))
    assert any(all(math.isnan(v) for v in row) for row in rows)


def test_the_smoke_grpo_settings_improve_on_sft_beyond_the_noise(sft_run, tmp_path):
    """The smoke config's GRPO section, from the SFT checkpoint, on 100 held-out problems: GRPO
    must raise strategy validity (= accuracy with the strategy-gated core) by more than the
    intervals. The old settings (4 steps of 2 x 4 rollouts) moved it by less than the noise."""
    from gcop.train.grpo import run_grpo

    config = load_config("grpo", SMOKE_GRPO, ["--data_dir", DATA, "--model_name_or_path", str(sft_run["result"].output_dir),
                                              "--output_dir", str(tmp_path / "grpo"), "--baseline_cache",
                                              str(tmp_path / "b"), "--save_steps", "1000"])
    assert config.max_steps == 40 and config.heldout_limit == 100
    result = run_grpo(config)
    before, after = result.evaluation.before, result.evaluation.after
    assert before.label == "SFT" and after.label == "GRPO exectune"
    # paired over the same 100 problems: more problems gained a valid strategy than lost one,
    # beyond chance (exact McNemar), and at least half of the invalid outputs are gone
    from gcop.train.evaluate import paired_test

    test = paired_test(before.valid_flags, after.valid_flags)
    assert test["gained"] > test["lost"], result.evaluation.format()
    # an exact McNemar test cannot reach p < 0.05 with fewer than 6 discordant pairs (2 / 2**5 =
    # 0.0625): when SFT leaves 5 or fewer invalid outputs (CPU numerics move the SFT checkpoint
    # from machine to machine), significance is out of reach and the halving below must carry it
    if sum(not flag for flag in before.valid_flags) >= 6:
        assert test["p"] < 0.05, result.evaluation.format()
    assert 1 - after.validity <= (1 - before.validity) / 2, result.evaluation.format()
    assert after.components["R"] == after.validity and after.reward > before.reward
    steps = result.evaluation.reward_per_step
    assert [s["step"] for s in steps] == list(range(1, 41))
    card = (result.output_dir / "README.md").read_text()
    assert "Training: mean reward per step (40 steps)" in card
