"""Training configs: YAML files read into typed, validated dataclasses.

One file format serves SFT and GRPO (ExecTune, Advisor); see ``train/configs/*.yaml``. Every
section is optional and defaults apply, but every key that is given must be known: a misspelt
key is an error naming the key path and the file (``unknown key 'grpo.lernig_rate' in
gsm8k_exectune.yaml; known keys under grpo: ...``). Values are type-checked the same way.

Overrides (``--override k=v`` on the command line) use dotted key paths and YAML values:
``sft.learning_rate=2e-5``, ``sft.lora.enabled=true``, ``data.limit=null``.

Relative paths in a config (``sft.output_dir``, ``data.corpus``, ``grpo.init``, ...) are relative
to the working directory the command runs in, like every other gcop path.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

import yaml

from evals.benchmarks import benchmark_names, get_benchmark
from gcop.lifecycle import default_model
from guides.strategy import DEFAULT_MAX_STRATEGY_TOKENS

__all__ = [
    "ConfigError",
    "DataSection",
    "EvalSection",
    "GRPOSection",
    "LoraSection",
    "ModelsSection",
    "RewardsSection",
    "SFTSection",
    "TrainConfig",
    "apply_overrides",
    "config_hash",
    "load_config",
    "parse_config",
]



class ConfigError(ValueError):
    """A config file that cannot be used; the message names the file and the key."""


@dataclass
class ModelsSection:
    #: The guide to start from: a Hub id, a local path, or ``tiny`` (a random-weight tiny Qwen3
    #: built offline into ``<sft.output_dir>/tiny_base``, for the smoke config and tests).
    guide: str = "Qwen/Qwen3-1.7B"
    #: The black-box core the rewards run (an Inspect model spec). ``mockllm/reference`` and
    #: ``mockllm/strategy_gated`` are offline cores (see :mod:`gcop.testing.offline_models`).
    core: str = field(default_factory=lambda: default_model("core"))
    #: The teacher (acceptance sampling); default and core from results/models.yaml ``defaults``.
    teacher: str = field(default_factory=lambda: default_model("teacher"))
    #: The strategy judge (J); None: the teacher.
    judge: str | None = None
    #: Inspect GenerateConfig fields for the core's calls (temperature, max_tokens, ...).
    core_config: dict[str, Any] = field(default_factory=dict)
    judge_config: dict[str, Any] = field(default_factory=lambda: {"reasoning_effort": "none", "max_tokens": 256})
    #: Extra Inspect model args for the core (e.g. ``max_retries: 0`` for the anthropic SDK).
    core_args: dict[str, Any] = field(default_factory=dict)


@dataclass
class DataSection:
    #: Local data folder (default: $GCOP_DATA_DIR, else the Hub).
    data_dir: str | None = None
    #: Problems GRPO trains on.
    split: str = "train"
    #: The accepted corpus for SFT (JSONL: problem, guide_output, benchmark), or ``synthetic``
    #: (synthetic well-formed guide outputs for the training problems: smoke runs only).
    corpus: str | None = None
    #: Use only the first N problems / corpus rows (None: all).
    limit: int | None = None
    max_strategy_tokens: int = DEFAULT_MAX_STRATEGY_TOKENS


@dataclass
class LoraSection:
    enabled: bool = False
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: str | list[str] = "all-linear"
    #: Merge the adapter into the base weights when saving (a plain checkpoint any loader reads).
    merge: bool = True


@dataclass
class SFTSection:
    output_dir: str = "checkpoints/sft"
    epochs: float = 2.0
    #: > 0 overrides epochs.
    max_steps: int = -1
    learning_rate: float = 1e-5
    weight_decay: float = 0.0
    warmup_ratio: float = 0.03
    lr_scheduler: str = "cosine"
    #: Sequences per optimizer step = batch_size * grad_accum.
    batch_size: int = 8
    grad_accum: int = 1
    max_length: int = 4096
    gradient_checkpointing: bool = False
    #: bf16 autocast: true, false, or auto (on when CUDA supports it).
    bf16: bool | str = "auto"
    logging_steps: int = 10
    save_steps: int | None = None
    lora: LoraSection = field(default_factory=LoraSection)


@dataclass
class GRPOSection:
    output_dir: str = "checkpoints/grpo"
    #: Starting checkpoint: a path or Hub id; ``sft`` means ``sft.output_dir``; None: models.guide.
    init: str | None = None
    learning_rate: float = 1e-6
    #: KL coefficient against the reference (initial) policy.
    kl_beta: float = 0.004
    weight_decay: float = 0.1
    #: Prompts per optimizer step.
    batch_size: int = 8
    num_generations: int = 8
    #: Completions per forward/backward pass (gradient accumulation covers the rest).
    micro_batch_size: int = 8
    max_completion_length: int = 2048
    #: Sampling temperature of the training rollouts.
    temperature: float = 1.0
    top_p: float = 1.0
    #: Sampling for evaluating the trained guide (written to the checkpoint's generation_config).
    eval_temperature: float = 0.6
    eval_top_p: float = 0.95
    epochs: float = 1.0
    max_steps: int = -1
    warmup_ratio: float = 0.0
    lr_scheduler: str = "constant"
    #: vLLM generation: true, false, or auto (when vllm is installed and CUDA is available).
    use_vllm: bool | str = "auto"
    #: ``colocate`` (vLLM shares the training GPU) or ``server`` (a separate ``trl vllm-serve``).
    vllm_mode: str = "colocate"
    vllm_gpu_memory_utilization: float = 0.3
    #: Server mode: the ``trl vllm-serve`` URL (None: TRL's default, http://0.0.0.0:8000).
    vllm_server_base_url: str | None = None
    bf16: bool | str = "auto"
    gradient_checkpointing: bool = False
    logging_steps: int = 1
    save_steps: int = 50
    save_total_limit: int | None = 3
    #: LoRA for GRPO (off: full fine-tune).
    lora: LoraSection = field(default_factory=LoraSection)
    #: Loss variant (TRL ``loss_type``).
    loss_type: str = "dapo"
    scale_rewards: str = "group"
    mask_truncated_completions: bool = False
    log_completions: bool = False


@dataclass
class RewardsSection:
    #: Weight of I_str (strategy well-formedness).
    beta: float = 0.1
    #: Weight of J (the judge's strategy score).
    gamma: float = 0.1
    #: Weight of the regression penalty max(0, R(without) - R(with)).
    kappa: float = 0.5
    #: Judge calls per strategy before an invalid JSON reply makes the sample unscorable.
    judge_attempts: int = 2
    #: Core calls, judge calls and sandbox runs in flight at once (one limit for all). The default
    #: holds one batch of the paper's size (64 core + 64 judge calls + 8 baselines).
    max_concurrency: int = 144
    #: Sandbox for code rewards: docker (warm pool) or local (weaker isolation).
    executor: str = "docker"
    executor_workers: int = 2
    #: Share one sandbox run between identical jobs (same code, same tests) of a batch.
    dedupe_sandbox_jobs: bool = True
    #: Where the no-strategy baseline R(without) is cached (content-keyed JSON files).
    baseline_cache: str = "~/.cache/gcop/baselines"
    #: Core samples averaged into the baseline.
    baseline_samples: int = 1
    #: Stop training once the core and judge calls' spend, recorded in
    #: ``<grpo.output_dir>/ledger.json`` over all runs there (resumes included), reaches this
    #: many US$ (None: no budget). Calls already in flight finish; later ones are not started.
    budget_usd: float | None = None
    #: Stop training (non-zero exit, no checkpoint) when more than this share of the rollouts of
    #: the last ``unscorable_window`` reward batches were unscorable (a failing core or judge
    #: masks every sample; without this, such a run would "finish" having learnt nothing).
    max_unscorable_share: float = 0.5
    unscorable_window: int = 3
    #: Before training, one short call to each remote model whose API key is set (names, local
    #: paths and prices are checked in any case).
    preflight_calls: bool = True


@dataclass
class EvalSection:
    """The held-out evaluation ``gcop train sft`` and ``grpo`` run on the guide before and after
    training (:mod:`train.evaluate`); the model card and the run's last lines report it."""

    #: Held-out problems: the first N of ``eval.split`` (0: no evaluation).
    limit: int = 100
    #: Their split; ``test`` is held out from the ``train`` problems SFT and GRPO learn from
    #: (the same split as the training data is allowed, and the report says it is not held out).
    split: str = "test"
    #: Score each output with the reward engine (the core, the judge and the no-strategy baseline,
    #: as in GRPO; calls are recorded in the ledger as ``eval_core`` / ``eval_judge``); false:
    #: strategy validity only, no model calls.
    rewards: bool = True
    #: Guide outputs per problem.
    samples: int = 1
    #: Token cap per guide output (None: the Inspect tasks' guide cap, 1,024 +
    #: ``data.max_strategy_tokens``, so the figures are what ``inspect eval`` would see).
    max_new_tokens: int | None = None
    #: Sampling (None: ``grpo.eval_temperature`` / ``grpo.eval_top_p``, the checkpoint's evaluation
    #: sampling; 0: greedy). Before and after use the same seed (``seed``).
    temperature: float | None = None
    top_p: float | None = None
    #: Prompts per ``generate`` call.
    batch_size: int = 16


@dataclass
class TrainConfig:
    #: The GRPO recipe: exectune (strategy schema, all reward components) or advisor (free-form
    #: advice, reward = the core's task reward only). SFT ignores it.
    recipe: Literal["exectune", "advisor"] = "exectune"
    #: A registered benchmark (evals.benchmarks): gsm8k, humaneval, kodcode or one of yours.
    benchmark: str = "gsm8k"
    seed: int = 0
    models: ModelsSection = field(default_factory=ModelsSection)
    data: DataSection = field(default_factory=DataSection)
    sft: SFTSection = field(default_factory=SFTSection)
    grpo: GRPOSection = field(default_factory=GRPOSection)
    rewards: RewardsSection = field(default_factory=RewardsSection)
    eval: EvalSection = field(default_factory=EvalSection)
    #: Which sections the file itself gave (``gcop train grpo`` needs ``grpo``).
    sections: tuple[str, ...] = field(default=(), repr=False)
    #: The file it came from (None: built in code).
    source: str | None = field(default=None, repr=False)

    @property
    def domain(self) -> str:
        return get_benchmark(self.benchmark).domain

    @property
    def judge_model(self) -> str:
        return self.models.judge or self.models.teacher

    def grpo_init(self) -> str:
        init = self.grpo.init
        if init is None:
            return self.models.guide
        return self.sft.output_dir if init == "sft" else init

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data.pop("sections", None)
        data.pop("source", None)
        return data


def config_hash(config: TrainConfig) -> str:
    """sha256 of the config's canonical JSON (the model card records it)."""
    return hashlib.sha256(json.dumps(config.to_dict(), sort_keys=True, default=str).encode()).hexdigest()


# ---------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------


def _type_name(tp: Any) -> str:
    if get_origin(tp) is Literal:
        return " | ".join(repr(a) for a in get_args(tp))
    if get_origin(tp) in (Union, types.UnionType):
        return " | ".join(_type_name(a) for a in get_args(tp))
    if tp is type(None):
        return "null"
    return getattr(tp, "__name__", str(tp))


def _convert(value: Any, tp: Any, where: str, source: str) -> Any:
    """``value`` checked against type ``tp`` (dataclass sections recurse)."""
    origin = get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping in {source}, got {type(value).__name__}")
        return _build(tp, value, where, source)
    if origin in (Union, types.UnionType):
        errors = []
        for arg in get_args(tp):
            try:
                return _convert(value, arg, where, source)
            except ConfigError as exc:
                errors.append(exc)
        raise ConfigError(f"{where}: expected {_type_name(tp)} in {source}, got {value!r}")
    if origin is Literal:
        if value in get_args(tp):
            return value
        raise ConfigError(f"{where}: expected one of {_type_name(tp)} in {source}, got {value!r}")
    if tp is type(None):
        if value is None:
            return None
        raise ConfigError(f"{where}: expected null in {source}, got {value!r}")
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML reads "1e-6" (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
    elif tp is str:
        if isinstance(value, str):
            return value
    elif origin is list:
        (item,) = get_args(tp) or (Any,)
        if isinstance(value, list):
            return [_convert(v, item, f"{where}[{i}]", source) for i, v in enumerate(value)]
    elif origin is dict:
        if isinstance(value, dict):
            return dict(value)
    elif origin is tuple:
        if isinstance(value, list | tuple):
            return tuple(value)
    else:  # pragma: no cover - a field type this loader does not know
        raise ConfigError(f"{where}: unsupported field type {tp!r}")
    raise ConfigError(f"{where}: expected {_type_name(tp)} in {source}, got {value!r}")


def _build(cls: type, raw: dict[str, Any], prefix: str, source: str) -> Any:
    hints = get_type_hints(cls)
    known = [f.name for f in dataclasses.fields(cls) if f.name not in ("sections", "source")]
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        where = f"{prefix}.{key}" if prefix else str(key)
        if key not in known:
            scope = f"under {prefix}" if prefix else "at the top level"
            raise ConfigError(f"unknown key '{where}' in {source}; known keys {scope}: {', '.join(known)}")
        kwargs[key] = _convert(value, hints[key], where, source)
    return cls(**kwargs)


def _check(config: TrainConfig, source: str) -> None:
    def need(ok: bool, message: str) -> None:
        if not ok:
            raise ConfigError(f"{message} (in {source})")

    need(config.benchmark in benchmark_names(),
         f"benchmark must be one of {', '.join(benchmark_names())}, got {config.benchmark!r}")
    need(config.data.max_strategy_tokens > 0, "data.max_strategy_tokens must be > 0")
    need(config.data.limit is None or config.data.limit > 0, "data.limit must be > 0 or null")
    need(config.data.split in ("train", "test", "all"), "data.split must be train, test or all")
    for name, section in (("sft", config.sft), ("grpo", config.grpo)):
        need(section.learning_rate > 0, f"{name}.learning_rate must be > 0")
        need(section.bf16 in (True, False, "auto"), f"{name}.bf16 must be true, false or auto")
        need(section.lora.r > 0, f"{name}.lora.r must be > 0")
    need(config.sft.batch_size > 0 and config.sft.grad_accum > 0, "sft.batch_size and sft.grad_accum must be > 0")
    g = config.grpo
    need(g.num_generations >= 2, "grpo.num_generations must be >= 2 (GRPO compares completions of one prompt)")
    need(g.batch_size > 0 and g.micro_batch_size > 0, "grpo.batch_size and grpo.micro_batch_size must be > 0")
    need((g.batch_size * g.num_generations) % g.micro_batch_size == 0,
         "grpo.micro_batch_size must divide grpo.batch_size * grpo.num_generations")
    need(g.use_vllm in (True, False, "auto"), "grpo.use_vllm must be true, false or auto")
    need(g.vllm_mode in ("colocate", "server"), "grpo.vllm_mode must be colocate or server")
    need(g.kl_beta >= 0, "grpo.kl_beta must be >= 0")
    r = config.rewards
    need(min(r.beta, r.gamma, r.kappa) >= 0, "rewards.beta, gamma and kappa must be >= 0")
    need(r.judge_attempts >= 1 and r.max_concurrency >= 1 and r.baseline_samples >= 1,
         "rewards.judge_attempts, max_concurrency and baseline_samples must be >= 1")
    need(r.executor in ("docker", "local"), "rewards.executor must be docker or local")
    need(0 <= r.max_unscorable_share <= 1, "rewards.max_unscorable_share must be in [0, 1]")
    need(r.unscorable_window >= 1, "rewards.unscorable_window must be >= 1")
    e = config.eval
    need(e.limit >= 0, "eval.limit must be >= 0 (0: no evaluation)")
    need(e.split in ("train", "test"), "eval.split must be train or test")
    need(e.samples >= 1 and e.batch_size >= 1, "eval.samples and eval.batch_size must be >= 1")
    need(e.max_new_tokens is None or e.max_new_tokens > 0, "eval.max_new_tokens must be > 0 or null")
    need(e.temperature is None or e.temperature >= 0, "eval.temperature must be >= 0 or null")
    need(e.top_p is None or 0 < e.top_p <= 1, "eval.top_p must be in (0, 1] or null")
    from inspect_ai.model import GenerateConfig

    for name in ("core_config", "judge_config"):
        unknown = set(getattr(config.models, name)) - set(GenerateConfig.model_fields)
        need(not unknown, f"models.{name}: unknown GenerateConfig field(s) {sorted(unknown)}")


def parse_config(raw: dict[str, Any] | None, source: str = "<dict>") -> TrainConfig:
    """A :class:`TrainConfig` from a parsed YAML mapping (validated)."""
    raw = raw or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: a config file must be a YAML mapping")
    config = _build(TrainConfig, raw, "", source)
    config.sections = tuple(k for k in raw if dataclasses.is_dataclass(getattr(config, k)))
    config.source = source
    _check(config, source)
    return config


def _set_path(raw: dict[str, Any], path: str, value: Any, source: str) -> None:
    keys = path.split(".")
    node: Any = raw
    cls: Any = TrainConfig
    for depth, key in enumerate(keys):
        known = {f.name: f for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else None
        if known is None or key not in known or key in ("sections", "source"):
            raise ConfigError(f"--override {path}: unknown key '{'.'.join(keys[: depth + 1])}' (config {source})")
        if depth == len(keys) - 1:
            node[key] = value
            return
        cls = get_type_hints(cls)[key]
        if not dataclasses.is_dataclass(cls):
            raise ConfigError(f"--override {path}: '{'.'.join(keys[: depth + 1])}' is not a section (config {source})")
        node = node.setdefault(key, {})
        if node is None:
            node = raw[key] = {}


def apply_overrides(raw: dict[str, Any], overrides: list[str] | tuple[str, ...], source: str = "<dict>") -> dict[str, Any]:
    """``raw`` with ``key.path=value`` overrides applied (values parsed as YAML)."""
    from gcop.readers import key_value

    raw = json.loads(json.dumps(raw or {}))
    for item in overrides:
        try:
            path, value = key_value(item, flag="--override")
        except ValueError as exc:
            raise ConfigError(f"{exc} (a dotted key path = a YAML value)") from exc
        _set_path(raw, path, value, source)
    return raw


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> TrainConfig:
    """Read, override and validate a config file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"no such config file: {path}")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if raw is not None and not isinstance(raw, dict):
        raise ConfigError(f"{path}: a config file must be a YAML mapping")
    raw = apply_overrides(raw or {}, list(overrides), str(path))
    return parse_config(raw, str(path))
