"""gcop.train.config: the stages' configs are TRL's SFTConfig / GRPOConfig plus gcop's fields, read
with TRL's parser from flat YAML files and --key value arguments."""

from __future__ import annotations

import pytest
from trl import GRPOConfig, SFTConfig

from gcop.train.config import (
    ConfigError,
    GuideGRPOConfig,
    GuideSFTConfig,
    config_dict,
    config_hash,
    load_config,
    make_config,
)
from gcop.train.rewards import GuideRewards
from tests.conftest import REPO_ROOT

CONFIGS = REPO_ROOT / "train" / "configs"


def test_the_configs_are_trls_own():
    assert issubclass(GuideSFTConfig, SFTConfig) and issubclass(GuideGRPOConfig, GRPOConfig)
    grpo = make_config("grpo", output_dir="unused")
    # TRL's names and meanings: beta is the KL coefficient, no renamed copies
    assert (grpo.beta, grpo.learning_rate, grpo.weight_decay, grpo.num_generations) == (0.004, 1e-6, 0.1, 8)
    assert grpo.per_device_train_batch_size * grpo.gradient_accumulation_steps == 64  # 8 prompts x 8 completions
    assert (grpo.reward_beta, grpo.reward_gamma, grpo.reward_kappa) == (0.1, 0.1, 0.5)
    for cls in (GuideSFTConfig, GuideGRPOConfig):
        import dataclasses

        missing = [f.name for f in dataclasses.fields(cls) if f.init and not f.metadata.get("help")]
        assert not missing, f"{cls.__name__} fields without help: {missing}"


def test_paper_configs_load_with_the_paper_settings():
    for name in ("gsm8k", "kodcode"):
        for recipe in ("sft", "exectune", "advisor"):
            stage = "sft" if recipe == "sft" else "grpo"
            config = load_config(stage, CONFIGS / f"{name}_{recipe}.yaml")
            assert config.benchmark == name and config.core == "anthropic/claude-haiku-4-5"
            assert config.judge_model == "anthropic/claude-sonnet-5-5"
            assert config.source == str(CONFIGS / f"{name}_{recipe}.yaml")
            if recipe == "sft":
                assert isinstance(config, GuideSFTConfig) and config.model_name_or_path == "Qwen/Qwen3-1.7B"
                assert config.per_device_train_batch_size * config.gradient_accumulation_steps == 16
                continue
            assert config.recipe == recipe
            assert (config.beta, config.learning_rate, config.weight_decay, config.num_generations,
                    config.max_completion_length) == (0.004, 1e-6, 0.1, 8, 2048)
            assert config.per_device_train_batch_size * config.gradient_accumulation_steps == 64
            assert (config.eval_temperature, config.eval_top_p) == (0.6, 0.95)
            assert config.use_vllm is True and config.vllm_mode == "colocate"
            assert config.model_name_or_path == (f"checkpoints/{name}_sft" if recipe == "exectune" else "Qwen/Qwen3-1.7B")
    sft = load_config("sft", CONFIGS / "smoke_sft.yaml")
    grpo = load_config("grpo", CONFIGS / "smoke_grpo.yaml")
    assert sft.model_name_or_path == "tiny" and sft.core.startswith("mockllm/") and sft.bf16 is False
    assert grpo.model_name_or_path == sft.output_dir  # GRPO starts from the smoke SFT checkpoint


def test_unknown_keys_name_the_key_the_file_and_the_nearest_known(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("benchmark: gsm8k\nlernig_rate: 1.0e-6\n")
    with pytest.raises(ConfigError, match=r"unknown key 'lernig_rate' in .*bad\.yaml; did you mean learning_rate"):
        load_config("grpo", path)
    path.write_text("benchmark: gsm8k\ncoer: x\n")
    with pytest.raises(ConfigError, match=r"unknown key 'coer' in .*bad\.yaml; did you mean core"):
        load_config("sft", path)
    path.write_text("grpo:\n  learning_rate: 1.0e-6\n")  # the old nested layout
    with pytest.raises(ConfigError, match="unknown key 'grpo'"):
        load_config("grpo", path)
    path.write_text("recipe: exectune\n")  # a GRPO key in an SFT config
    with pytest.raises(ConfigError, match=r"key 'recipe' in .*bad\.yaml belongs to `gcop train grpo`'s config, not sft's"):
        load_config("sft", path)
    with pytest.raises(ConfigError, match=r"unknown key 'num_generatons' in the command line; did you mean num_generations"):
        load_config("grpo", None, ["--num_generatons", "4"])


def test_bad_values_are_errors_naming_the_key(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("per_device_train_batch_size: eight\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: argument --per_device_train_batch_size.*invalid int value: 'eight'"):
        load_config("grpo", path)
    path.write_text("core_config: {temprature: 0.5}\n")
    with pytest.raises(ConfigError, match="temprature"):
        load_config("grpo", path)
    path.write_text("executor: k8s\n")
    with pytest.raises(ConfigError, match=r"executor must be docker or local, got 'k8s' \(in .*bad\.yaml\)"):
        load_config("sft", path)
    path.write_text("benchmark: no_such_benchmark\n")
    with pytest.raises(ConfigError, match="benchmark must be one of gsm8k, humaneval, kodcode, mbpp"):
        load_config("sft", path)
    with pytest.raises(ConfigError, match="reward_weights is derived"):
        make_config("grpo", output_dir="x", reward_weights=[1.0, 1.0, 1.0, 1.0])
    with pytest.raises(ConfigError, match="recipe must be exectune or advisor"):
        make_config("grpo", output_dir="x", recipe="ppo")
    # TRL's own checks stand: a generation batch the group size does not divide
    with pytest.raises(ValueError, match="num_generations"):
        make_config("grpo", output_dir="x", per_device_train_batch_size=3, gradient_accumulation_steps=1,
                    num_generations=8)


def test_command_line_arguments_override_the_file_trl_style():
    config = load_config("sft", CONFIGS / "gsm8k_sft.yaml", ["--use_peft", "--learning_rate", "2e-5", "--limit", "10"])
    assert config.use_peft is True and config.learning_rate == 2e-5 and config.limit == 10
    assert config.lora_config().r == 16 and config.lora_config().target_modules == "all-linear"
    grpo = load_config("grpo", CONFIGS / "gsm8k_exectune.yaml", ["--beta", "0.01", "--use_vllm", "false", "--no_merge_lora", "--reward_kappa", "0"])
    assert (grpo.beta, grpo.use_vllm, grpo.merge_lora, grpo.reward_kappa) == (0.01, False, False, 0.0)
    server = load_config("grpo", CONFIGS / "gsm8k_exectune.yaml",
                         ["--vllm_mode", "server", "--vllm_server_base_url", "http://gpu-box:8000"])
    assert (server.use_vllm, server.vllm_mode, server.vllm_server_base_url) == (True, "server", "http://gpu-box:8000")


def test_the_hash_and_the_record_follow_the_settings():
    a = make_config("grpo", output_dir="x")
    b = make_config("grpo", output_dir="x")
    c = make_config("grpo", output_dir="x", reward_kappa=0.25)
    assert config_hash(a) == config_hash(b) != config_hash(c)
    record = config_dict(c)
    assert record["reward_kappa"] == 0.25 and record["beta"] == 0.004 and record["benchmark"] == "gsm8k"


def test_the_reward_engine_is_built_from_the_config(tmp_path):
    from gcop.evals.gsm8k.spec import GSM8KProblem

    problem = GSM8KProblem(id="p", split="train", question="What is 2 + 2?", answer="2 + 2 = 4\n#### 4", target="4")
    config = make_config("grpo", output_dir=str(tmp_path), core="mockllm/strategy_gated", judge="mockllm/judge",
                         reward_beta=0.2, reward_gamma=0.3, reward_kappa=0.4, baseline_cache=str(tmp_path / "b"),
                         executor="local")
    engine = GuideRewards.from_config(config, [problem], recipe="exectune")
    assert engine.reward_weights() == [1.0, 0.2, 0.3, 0.4] and engine.core_name == "mockllm/strategy_gated"
    assert engine.compute(["p"], ["<think>t</think>\n<strategy>\n1. Add.\n2. Check.\n</strategy>"])["R"] == [1.0]
    advisor = GuideRewards.from_config(config, [problem], recipe="advisor")
    assert advisor.reward_weights() == [1.0] and advisor.judge_name is None


#: Defaults that differ on purpose: an engine built in code keeps its baselines in memory; training
#: keeps them on disk, shared by runs.
_DEFAULTS_APART = {"baseline_cache"}


def test_every_reward_setting_is_read_from_the_config_with_the_same_default(tmp_path):
    import dataclasses

    from gcop.train.config import GuideFields
    from gcop.train.rewards import SETTINGS_FROM_CONFIG, SETTINGS_NOT_FROM_CONFIG, RewardSettings

    settings = {f.name: f for f in dataclasses.fields(RewardSettings)}
    config_fields = {f.name: f for f in dataclasses.fields(GuideFields)}
    assert set(settings) == set(SETTINGS_FROM_CONFIG) | SETTINGS_NOT_FROM_CONFIG
    assert not set(SETTINGS_FROM_CONFIG) & SETTINGS_NOT_FROM_CONFIG
    for name, key in SETTINGS_FROM_CONFIG.items():
        assert key in config_fields, f"RewardSettings.{name} reads GuideFields.{key}, which does not exist"
        if name not in _DEFAULTS_APART:
            assert settings[name].default == config_fields[key].default, f"{name} / {key}: the defaults differ"
    # and each is read: a config whose every such field differs from the default gives settings that do too
    changed = {"reward_beta": 0.3, "reward_gamma": 0.0, "reward_kappa": 0.0, "judge_attempts": 3,
               "leak_reward": "judge_only", "allow_in_process_verdicts": True, "max_concurrency": 7,
               "executor": "local", "executor_workers": 3, "dedupe_sandbox_jobs": False,
               "baseline_cache": str(tmp_path / "b"), "baseline_samples": 2, "max_strategy_tokens": 300,
               "max_unscorable_share": 0.25, "unscorable_window": 5}
    assert set(changed) == set(SETTINGS_FROM_CONFIG.values())
    config = make_config("grpo", output_dir=str(tmp_path), core="mockllm/strategy_gated", **changed)
    engine = GuideRewards.from_config(config, [], recipe="exectune")
    for name, key in SETTINGS_FROM_CONFIG.items():
        assert getattr(engine.settings, name) == changed[key], name
