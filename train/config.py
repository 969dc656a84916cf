"""Training configs are TRL's own: :class:`GuideSFTConfig` is a ``trl.SFTConfig`` and
:class:`GuideGRPOConfig` a ``trl.GRPOConfig``, each with gcop's fields (the benchmark, the models,
the data, the rewards, the held-out evaluation) added beside TRL's, every one with ``help``.

One flat YAML file per stage, read with TRL's parser (``trl.TrlParser``) as TRL's own scripts
read theirs; ``--key value`` after the file overrides it::

    gcop train sft  --config train/configs/gsm8k_sft.yaml --learning_rate 2e-5 --use_peft
    gcop train grpo --config train/configs/gsm8k_exectune.yaml --num_generations 8 --beta 0.004

TRL's keys keep TRL's names and meanings (``beta`` is GRPO's KL coefficient,
``per_device_train_batch_size`` counts completions, ``use_vllm``, ``lr_scheduler_type``, ...) and
TRL validates them. gcop's reward weights of the paper's R~ = I_str * (R + beta + gamma * J -
kappa * max(0, -dR)) are ``reward_beta``, ``reward_gamma`` and ``reward_kappa``. A key that is
neither TRL's nor gcop's is an error naming the file, the key and the nearest known keys.

Relative paths (``output_dir``, ``corpus``, ``model_name_or_path``, ...) are relative to the
working directory the command runs in, like every other gcop path.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from trl import GRPOConfig, SFTConfig, TrlParser

from gcop.evals.benchmarks import benchmark_names, get_benchmark
from gcop.guides.solver import GUIDE_SAMPLING, guide_max_tokens
from gcop.guides.strategy import DEFAULT_MAX_STRATEGY_TOKENS
from gcop.lifecycle import default_model

__all__ = [
    "ConfigError",
    "GuideFields",
    "GuideGRPOConfig",
    "GuideSFTConfig",
    "config_hash",
    "load_config",
]


class ConfigError(ValueError):
    """A config that cannot be used; the message names the file and the key."""


def _help(text: str, **kwargs: Any) -> Any:
    return field(metadata={"help": text}, **kwargs)


@dataclass
class GuideFields:
    """gcop's fields, shared by both stages (SFT evaluates with the same rewards GRPO trains on)."""

    # -- what is trained -----------------------------------------------------------------------
    benchmark: str = _help("A registered benchmark (gcop.evals.benchmarks): gsm8k, humaneval, kodcode or one of yours.",
                           default="gsm8k")
    model_name_or_path: str = _help(
        "The guide to start from: a Hub id, a local checkpoint (GRPO: usually the SFT output_dir), or 'tiny' "
        "(a random-weight tiny Qwen3 built offline into <output_dir>/tiny_base; smoke runs and tests).",
        default="Qwen/Qwen3-1.7B")
    use_peft: bool = _help("Train a LoRA adapter instead of the full model (TRL ModelConfig's name).", default=False)
    lora_r: int = _help("LoRA rank.", default=16)
    lora_alpha: int = _help("LoRA alpha.", default=32)
    lora_dropout: float = _help("LoRA dropout.", default=0.05)
    lora_target_modules: list[str] = _help("LoRA target modules ('all-linear': every linear layer).",
                                           default_factory=lambda: ["all-linear"])
    merge_lora: bool = _help("Merge the adapter into the base weights when saving (a plain checkpoint any loader reads).",
                             default=True)
    eval_temperature: float = _help("The guide's sampling temperature, one for GRPO's rollouts (unless `temperature` "
                                    "is set apart), the held-out evaluation and the checkpoint (generation_config.json "
                                    "and gcop_sampling.json, which inspect eval's guide step reads).",
                                    default=GUIDE_SAMPLING["temperature"])
    eval_top_p: float = _help("The guide's top-p (as eval_temperature).", default=GUIDE_SAMPLING["top_p"])
    eval_top_k: int = _help("The guide's top-k, 0: off (as eval_temperature).", default=GUIDE_SAMPLING["top_k"])

    # -- the models the rewards call -------------------------------------------------------------
    core: str = _help("The black-box core the rewards run (an Inspect model; mockllm/reference, mockllm/strategy_gated, "
                      "mockllm/wrong and mockllm/copies_leaks are offline cores, see gcop.train.offline_models).",
                      default_factory=lambda: default_model("core"))
    teacher: str = _help("The teacher of acceptance sampling, and the judge when judge is unset.",
                         default_factory=lambda: default_model("teacher"))
    judge: str | None = _help("The strategy judge (J); unset: the teacher. mockllm/judge is an offline judge.",
                              default=None)
    core_config: dict[str, Any] = _help("Inspect GenerateConfig fields for the core's calls (temperature, max_tokens, "
                                        "...; YAML only). max_tokens unset: 2,048, the Inspect tasks' core cap.",
                                        default_factory=dict)
    judge_config: dict[str, Any] = _help("Inspect GenerateConfig fields for the judge's calls (YAML only).",
                                         default_factory=lambda: {"reasoning_effort": "none", "max_tokens": 256})
    core_args: dict[str, Any] = _help("Extra Inspect model args for the core, e.g. max_retries: 0 (YAML only).",
                                      default_factory=dict)

    # -- data ------------------------------------------------------------------------------------
    data_dir: str | None = _help("Local data folder (default: $GCOP_DATA_DIR, else the Hub).", default=None)
    split: str = _help("The split trained on: train, test or all.", default="train")
    corpus: str | None = _help("SFT: the accepted corpus (JSONL: problem, guide_output, benchmark), or 'synthetic' "
                               "(synthetic well-formed guide outputs for the training problems: smoke runs only).",
                               default=None)
    limit: int | None = _help("Use only the first N problems / corpus rows (unset: all).", default=None)
    max_strategy_tokens: int = _help("The strategy budget of the guide's prompt and of the checker (I_str).",
                                     default=DEFAULT_MAX_STRATEGY_TOKENS)

    # -- rewards (GRPO's, and the held-out evaluation's) ------------------------------------------
    reward_beta: float = _help("beta of R~: the weight of I_str (strategy well-formedness).", default=0.1)
    reward_gamma: float = _help("gamma of R~: the weight of J (the judge's strategy score); 0: no judge.", default=0.1)
    reward_kappa: float = _help("kappa of R~: the weight of the regression penalty max(0, R(without) - R(with)).",
                                default=0.5)
    judge_attempts: int = _help("Judge calls per strategy before an invalid JSON reply makes the sample unscorable.",
                                default=2)
    leak_reward: str = _help("What a strategy that leaks the answer or the code earns (the leak check and the judge's "
                             "'leaks' decide): zero (every reward component 0, like a malformed strategy) or "
                             "judge_only (the paper's reading: J = 0, R, I_str and the regression term kept; leaking "
                             "then pays whenever the honest success rate is below 0.9).", default="zero")
    allow_in_process_verdicts: bool = _help("Pay code verdicts judged with the solution inside the judge's process "
                                            "(tests that patch or seed what the solution sees: a verdict a sample "
                                            "could forge). Off: such a rollout is masked, never a reward.",
                                            default=False)
    max_concurrency: int = _help("Core calls, judge calls and sandbox runs in flight at once (one limit for all); the "
                                 "default holds one batch of the paper's size.", default=144)
    executor: str = _help("Sandbox for code rewards: docker (the warm pool) or local (weaker isolation).",
                          default="docker")
    executor_workers: int = _help("Sandboxes running at once (per Docker engine).", default=2)
    docker_hosts: list[str] = _help("Docker engines of the sandbox pool, URL[=N] each (unix://, tcp://, ssh://); "
                                    "empty: $GCOP_DOCKER_HOSTS, else the environment's engine. Every rank of a "
                                    "multi-process run shares this list.", default_factory=list)
    dedupe_sandbox_jobs: bool = _help("Share one sandbox run between identical jobs (same code, same tests) of a batch.",
                                      default=True)
    baseline_cache: str = _help("Where the no-strategy baseline R(without) is cached (content-keyed JSON files).",
                                default="~/.cache/gcop/baselines")
    baseline_samples: int = _help("Core samples averaged into the baseline.", default=1)
    budget_usd: float | None = _help("Stop once the core and judge calls' spend in <output_dir>/ledger.json (all runs "
                                     "there) reaches this many US$ (unset: no budget).", default=None)
    max_unscorable_share: float = _help("Stop (non-zero exit, no checkpoint) when more than this share of the rollouts "
                                        "of the last unscorable_window reward batches were unscorable.", default=0.5)
    unscorable_window: int = _help("Reward batches the unscorable share is measured over.", default=3)
    preflight_calls: bool = _help("Before training, one short call to each remote model whose API key is set (names, "
                                  "local paths and prices are checked in any case).", default=True)

    # -- the held-out evaluation before and after training (gcop.train.evaluate) ----------------------
    heldout_limit: int = _help("Held-out problems: the first N of heldout_split (0: no evaluation).", default=100)
    heldout_split: str = _help("Their split: train or test (test is held out from the train problems).",
                               default="test")
    heldout_rewards: bool = _help("Score each held-out output with the reward engine (core, judge, baseline; ledger "
                                  "phases eval_core / eval_judge); false: strategy validity only, no model calls.",
                                  default=True)
    heldout_samples: int = _help("Guide outputs per held-out problem.", default=1)
    heldout_max_new_tokens: int | None = _help("The guide's cap: per held-out output, recorded in the checkpoint for "
                                               "inspect eval, and GRPO's rollouts unless max_completion_length is set "
                                               "(unset: the Inspect tasks' guide cap, 1,024 + max_strategy_tokens).",
                                               default=None)
    heldout_batch_size: int = _help("Prompts per generate call of the held-out evaluation.", default=16)

    @property
    def domain(self) -> str:
        return get_benchmark(self.benchmark).domain

    @property
    def guide_cap(self) -> int:
        """The guide's output cap: the held-out evaluation's, the one inspect eval's guide step uses."""
        return self.heldout_max_new_tokens or guide_max_tokens(self.max_strategy_tokens)

    @property
    def guide_sampling(self) -> dict[str, Any]:
        """The guide's one sampling (see ``eval_temperature``), with its cap."""
        return {"temperature": self.eval_temperature, "top_p": self.eval_top_p, "top_k": self.eval_top_k,
                "max_new_tokens": self.guide_cap}

    @property
    def judge_model(self) -> str:
        return self.judge or self.teacher

    def check_guide_fields(self) -> None:
        """gcop's own checks (TRL checks TRL's fields); raises :class:`ConfigError`."""
        problems = []

        def need(ok: bool, message: str) -> None:
            if not ok:
                problems.append(message)

        need(self.benchmark in benchmark_names(),
             f"benchmark must be one of {', '.join(benchmark_names())}, got {self.benchmark!r}")
        need(self.split in ("train", "test", "all"), f"split must be train, test or all, got {self.split!r}")
        need(self.max_strategy_tokens > 0, "max_strategy_tokens must be > 0")
        need(self.limit is None or self.limit > 0, "limit must be > 0 or unset")
        need(self.lora_r > 0, "lora_r must be > 0")
        need(min(self.reward_beta, self.reward_gamma, self.reward_kappa) >= 0,
             "reward_beta, reward_gamma and reward_kappa must be >= 0")
        need(self.judge_attempts >= 1 and self.max_concurrency >= 1 and self.baseline_samples >= 1,
             "judge_attempts, max_concurrency and baseline_samples must be >= 1")
        need(self.leak_reward in ("zero", "judge_only"), f"leak_reward must be zero or judge_only, got {self.leak_reward!r}")
        need(self.executor in ("docker", "local"), f"executor must be docker or local, got {self.executor!r}")
        need(0 <= self.max_unscorable_share <= 1, "max_unscorable_share must be in [0, 1]")
        need(self.unscorable_window >= 1, "unscorable_window must be >= 1")
        need(self.heldout_limit >= 0, "heldout_limit must be >= 0 (0: no evaluation)")
        # The guide step lifts a recorded cap below the strategy budget up to that budget, so a
        # lower cap here would make `inspect eval` sample the checkpoint apart from how it was evaluated.
        need(self.heldout_max_new_tokens is None or self.heldout_max_new_tokens >= self.max_strategy_tokens,
             f"heldout_max_new_tokens ({self.heldout_max_new_tokens}) must be >= max_strategy_tokens "
             f"({self.max_strategy_tokens}), as the guide step's cap must")
        need(self.heldout_split in ("train", "test"), "heldout_split must be train or test")
        need(self.heldout_samples >= 1 and self.heldout_batch_size >= 1, "heldout_samples and heldout_batch_size must be >= 1")
        need(self.heldout_max_new_tokens is None or self.heldout_max_new_tokens > 0, "heldout_max_new_tokens must be > 0")
        need(self.eval_temperature >= 0 and 0 < self.eval_top_p <= 1 and self.eval_top_k >= 0,
             "eval_temperature must be >= 0, eval_top_p in (0, 1] and eval_top_k >= 0")
        from inspect_ai.model import GenerateConfig

        for name in ("core_config", "judge_config", "core_args"):
            need(isinstance(getattr(self, name), dict), f"{name} must be a mapping")
        for name in ("core_config", "judge_config"):
            unknown = set(getattr(self, name)) - set(GenerateConfig.model_fields)
            need(not unknown, f"{name}: unknown GenerateConfig field(s) {sorted(unknown)}")
        if problems:
            raise ConfigError("; ".join(problems))

    def lora_config(self) -> Any:
        """The PEFT ``LoraConfig`` of ``use_peft`` (None when it is off)."""
        if not self.use_peft:
            return None
        from peft import LoraConfig

        targets: Any = self.lora_target_modules
        if list(targets) == ["all-linear"]:
            targets = "all-linear"
        return LoraConfig(r=self.lora_r, lora_alpha=self.lora_alpha, lora_dropout=self.lora_dropout,
                          target_modules=targets, task_type="CAUSAL_LM")


def _bf16_supported() -> bool:
    import torch

    return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())


# TRL's defaults where the paper or gcop's use differs; every other TRL default stands.


@dataclass
class _TrainingDefaults:
    """TRL defaults both stages change, and the checks both run (first in the MRO, so these win)."""

    activation_checkpointing: bool | None = _help("Recompute activations in the backward pass (less memory).",
                                                  default=False)
    disable_tqdm: bool | None = _help("No progress bars (gcop prints its own lines).", default=True)
    seed: int = _help("Seed of training and of the held-out sampling (before and after use the same).", default=0)
    bf16: bool | None = _help("bf16 mixed precision; unset: on when the GPU supports it (off on a CPU).", default=None)

    def __post_init__(self) -> None:
        self.check_guide_fields()  # type: ignore[attr-defined]
        self.bf16 = _bf16_supported() if self.bf16 is None else self.bf16
        super().__post_init__()  # type: ignore[misc]


@dataclass
class GuideSFTConfig(_TrainingDefaults, SFTConfig, GuideFields):  # type: ignore[misc]  # bf16: None (auto) here, bool in TRL
    """``gcop train sft``: TRL's ``SFTConfig`` (completion-only loss on the guide's own prompt) plus
    :class:`GuideFields`."""

    output_dir: str = _help("Where the checkpoint, model card and held-out report go.", default="checkpoints/sft")
    num_train_epochs: float = _help("Epochs over the corpus (max_steps > 0 overrides).", default=2.0)
    learning_rate: float = _help("Peak learning rate.", default=1e-5)
    lr_scheduler_type: str = _help("Learning-rate schedule.", default="cosine")
    warmup_steps: float = _help("Warm-up steps (a float below 1: a share of the steps).", default=0.03)
    per_device_train_batch_size: int = _help("Sequences per device per step.", default=8)
    max_length: int | None = _help("Longest tokenised example (prompt + guide output).", default=4096)
    logging_steps: float = _help("Log every N steps.", default=10)
    save_strategy: str = _help("Intermediate checkpoints: no (the final one is always written) or steps.",
                               default="no")
    completion_only_loss: bool | None = _help("Loss on the guide's output only, not its prompt.", default=True)



@dataclass
class GuideGRPOConfig(_TrainingDefaults, GRPOConfig, GuideFields):  # type: ignore[misc]  # as GuideSFTConfig
    """``gcop train grpo``: TRL's ``GRPOConfig`` plus :class:`GuideFields` and the recipe. The paper's
    defaults: KL beta 0.004, learning rate 1e-6, weight decay 0.1, 8 prompts x 8 completions per step
    (``per_device_train_batch_size`` x ``gradient_accumulation_steps`` = 64 completions). Rollouts
    sample as the guide is evaluated unless TRL's sampling keys set them apart (the paper's configs
    do: temperature 1.0, top-p 1.0, completions of up to 2,048 tokens)."""

    recipe: str = _help("exectune (the strategy schema, every reward component) or advisor (free-form advice, "
                        "reward = the core's task reward only).", default="exectune")
    output_dir: str = _help("Where checkpoints, the final model, the ledger and the model card go.",
                            default="checkpoints/grpo")
    learning_rate: float = _help("Learning rate.", default=1e-6)
    beta: float = _help("KL coefficient against the reference (initial) policy.", default=0.004)
    weight_decay: float = _help("Weight decay.", default=0.1)
    per_device_train_batch_size: int = _help("Completions per device per forward/backward pass.", default=8)
    gradient_accumulation_steps: int = _help("Passes per optimizer step.", default=8)
    num_generations: int = _help("Completions per prompt (the group GRPO normalises over).", default=8)
    max_completion_length: int | None = _help("Longest guide output sampled in training (unset: the guide's cap, "
                                              "the held-out evaluation's and inspect eval's).", default=None)
    # None (unset) where TRL has a number: rollouts then sample as the guide is evaluated.
    temperature: float | None = _help("Rollout temperature (unset: eval_temperature, so that rollouts sample as the "  # type: ignore[assignment]
                                      "guide is evaluated; set apart, the card records both).", default=None)
    top_p: float | None = _help("Rollout top-p (unset: eval_top_p).", default=None)  # type: ignore[assignment]
    top_k: int | None = _help("Rollout top-k (unset: eval_top_k).", default=None)  # type: ignore[assignment]
    lr_scheduler_type: str = _help("Learning-rate schedule.", default="constant")
    logging_steps: float = _help("Log every N steps.", default=1)
    save_steps: float = _help("Write a checkpoint-N every N steps (for --resume).", default=50)
    save_total_limit: int | None = _help("Checkpoints kept.", default=3)

    def __post_init__(self) -> None:
        if self.recipe not in ("exectune", "advisor"):
            raise ConfigError(f"recipe must be exectune or advisor, got {self.recipe!r}")
        if self.reward_weights is not None:
            raise ConfigError("reward_weights is derived from recipe, reward_beta, reward_gamma and reward_kappa; "
                              "set those instead")
        # rollouts sample as the guide is evaluated unless a key sets them apart (rollout_deviations)
        self.temperature = self.eval_temperature if self.temperature is None else self.temperature
        self.top_p = self.eval_top_p if self.top_p is None else self.top_p
        self.top_k = self.eval_top_k if self.top_k is None else self.top_k
        self.max_completion_length = self.max_completion_length or self.guide_cap
        super().__post_init__()

    @property
    def rollout_sampling(self) -> dict[str, Any]:
        return {"temperature": self.temperature, "top_p": self.top_p, "top_k": self.top_k,
                "max_new_tokens": self.max_completion_length}

    def rollout_deviations(self) -> list[str]:
        """Where rollouts sample unlike the evaluated guide (set on purpose, e.g. the paper's
        temperature 1.0 rollouts): printed at the start and kept in the card."""
        guide = self.guide_sampling
        return [f"{key} {value} in rollouts, {guide[key]} in evaluation" for key, value in self.rollout_sampling.items()
                if value != guide[key]]


STAGES: dict[str, type[GuideFields]] = {"sft": GuideSFTConfig, "grpo": GuideGRPOConfig}
TRL_CONFIGS = {"sft": "SFTConfig", "grpo": "GRPOConfig"}


def _known(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls) if f.init]


def _unknown_key(key: str, cls: type, where: str) -> ConfigError:
    stage = "grpo" if cls is GuideGRPOConfig else "sft"
    other = "sft" if stage == "grpo" else "grpo"
    if key in _known(STAGES[other]):
        kind = "an SFT" if other == "sft" else "a GRPO"
        return ConfigError(f"key '{key}' in {where} belongs to `gcop train {other}`'s config, not {stage}'s: "
                           f"is this {kind} config?")
    near = difflib.get_close_matches(key, _known(cls), n=3)
    hint = f"; did you mean {', '.join(near)}?" if near else ""
    return ConfigError(f"unknown key '{key}' in {where}{hint} (the keys are TRL's {TRL_CONFIGS[stage]} fields "
                       f"and gcop's: `gcop train {stage} --config FILE --print-config` lists them)")


def load_config(stage: str, path: str | Path | None, args: list[str] | tuple[str, ...] = ()) -> Any:
    """The config of ``stage`` (``sft`` | ``grpo``) from a YAML file and ``--key value`` arguments,
    through TRL's parser. Unknown keys and bad values are :class:`ConfigError` naming where."""
    cls = STAGES[stage]
    argv = list(args)
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"no such config file: {path}")
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: a config file must be a YAML mapping of keys to values")
        known = set(_known(cls)) | {"env"}
        for key, value in raw.items():
            if key not in known:
                raise _unknown_key(str(key), cls, str(path))
            if isinstance(value, dict) and key not in ("core_config", "judge_config", "core_args", "env"):
                raise ConfigError(f"{path}: key '{key}' takes a value, not a section (configs are flat, as TRL's)")
        argv = ["--config", str(path), *argv]
    for token in args:
        if token.startswith("--"):
            name = token[2:].split("=", 1)[0]
            if name not in _known(cls) and not (name.startswith("no_") and name[3:] in _known(cls)):
                raise _unknown_key(name, cls, "the command line")
    parser = TrlParser([cls], exit_on_error=False)  # type: ignore[list-item]  # TRL's stub wants its own dataclass type
    try:
        (config,) = parser.parse_args_and_config(argv)
    except ConfigError as exc:
        raise ConfigError(f"{exc} (in {path or 'the command line'})") from None
    except (argparse.ArgumentError, ValueError) as exc:
        raise ConfigError(f"{path or 'the command line'}: {exc}") from exc
    config.source = str(path) if path is not None else None
    return config


def make_config(stage: str, **values: Any) -> Any:
    """A config built in code (tests, notebooks), checked as a file would be."""
    cls = STAGES[stage]
    for key in values:
        if key not in _known(cls):
            raise _unknown_key(key, cls, "make_config()")
    config: Any = cls(**values)
    config.source = None
    return config


def config_hash(config: Any) -> str:
    """sha256 of the config's canonical JSON (the model card records it)."""
    return hashlib.sha256(json.dumps(config_dict(config), sort_keys=True, default=str).encode()).hexdigest()


def config_dict(config: Any) -> dict[str, Any]:
    """The config's fields as TRL serialises them, without the machine-dependent ones."""
    data = config.to_dict()
    for name in ("logging_dir", "local_rank", "_n_gpu", "distributed_state"):
        data.pop(name, None)
    return data
