"""GRPO rewards for guides: each component a separate (async) TRL reward function.

ExecTune's reward for a guide completion ``g`` on problem ``x`` is::

    R(x, s) + beta * I_str(g) + gamma * J(x, s) - kappa * max(0, -dR),   dR = R(x, s) - R(x, none)

* ``I_str`` -- the deterministic format check (:func:`gcop.guides.strategy.parse_guide_output`);
  ``s`` is the parsed strategy.
* ``R`` -- the core run on the problem with the strategy, scored by the task's own scorer
  (:func:`gcop.evals.scorers.judge_response`, the function the Inspect scorers call; code runs in the
  sandbox executor).
* ``J`` -- an LLM judge's score of the strategy, strict JSON ``{"score": x, "leaks": b}`` with
  0 <= x <= 1 (the judge is also asked, apart from the score, whether the strategy leaks).
* **Leaks are never paid.** The leak check (:func:`gcop.evals.leaks.check_leak`: the gold value in
  any notation or as an expression, the task's answer extraction, code in the strategy run as
  candidate solutions against the hidden tests in the sandbox) and the judge's ``"leaks": true``
  decide whether a strategy gives the answer away. With ``leak_reward="zero"`` (the default) a
  leaking strategy gets 0 from every component, exactly like a malformed one, whatever the core
  then scored: a policy cannot earn R by smuggling the answer to the core. A leak found before
  any call (the math rules) calls nothing. ``leak_reward="judge_only"`` is the paper's looser
  reading (Appendix A.7 sets only J to 0 and keeps R, I_str and the regression term); with the
  shipped weights it pays a leak whenever the honest success rate is below 0.9, so it is for
  reproducing the paper, not for training.
* ``dR_penalty`` = ``-max(0, -dR)``: the core did worse with the strategy than without.
  ``R(x, none)`` is computed once per problem and cached on disk, content-keyed by the core
  model, core prompt version, problem id and sampling config (:class:`BaselineCache`), so it is
  reused across rollouts, epochs and runs.

Each component is its own reward function (so TRL logs ``rewards/<name>/mean`` for each); the
weights ``[1, beta, gamma, kappa]`` go to ``GRPOConfig.reward_weights``
(:meth:`GuideRewards.reward_weights`). The components are computed once per completion and
shared: the first component TRL calls for a batch starts every completion's work at once (core
calls, sandbox runs, judge calls, baselines -- all under one concurrency limit) and the others
await the same per-batch results.

Rules:

* A **malformed** strategy (``I_str = 0``) gets 0 from every component; the core and the judge
  are not called.
* A core call (or judge call, or sandbox run) that **fails for good** -- after Inspect's
  retries, or a sandbox infrastructure error after the executor's retry -- makes the completion
  *unscorable*: every component returns ``None`` for it. TRL 1.16 turns None into NaN; a row
  that is NaN in every component is masked (excluded from the group's mean and std, advantage
  forced to 0), whereas a row NaN in only some components would have those silently summed as
  0 (``nansum``) -- which is why all components go None together. A judge reply that is not
  valid strict JSON is retried (``judge_attempts``), then counts as a failed call.
* **Advisor** (``recipe="advisor"``): the completion is free-form advice (no strategy schema;
  a leading think block is dropped) passed to the core as its strategy, and the only component
  is ``R``.

TRL 1.16 supports async reward functions natively: it runs them with ``asyncio.gather`` on one
event loop kept on a daemon thread for the trainer's lifetime, so the model clients and the
sandbox pool made on the first batch are reused by every later batch. Outside a trainer,
``await`` the functions directly, or call :meth:`GuideRewards.compute` (sync, one event loop
per call).
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import hashlib
import json
import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from inspect_ai.model import ChatMessage, GenerateConfig, Model, ModelOutput

from gcop.evals.benchmarks import benchmark_for
from gcop.evals.leaks import LeakCheckError, check_leak, judge_finding, static_leak
from gcop.evals.prompts import CORE_PROMPT_VERSION, DEFAULT_MAX_CORE_TOKENS, core_messages
from gcop.evals.scorers import judge_response
from gcop.guides.strategy import DEFAULT_MAX_STRATEGY_TOKENS, parse_guide_output
from gcop.lifecycle import default_model
from gcop.preflight import preflight
from gcop.sandbox.executors import make_executor
from gcop.sandbox.protocol import Status
from gcop.train.ledger import BudgetExceeded

from .baselines import BaselineCache
from .offline_models import OFFLINE_MODELS, offline_model
from .reward_prompts import (
    ADVISOR_PROMPT_VERSION,
    JUDGE_PROMPT_VERSION,
    JudgeFormatError,
    JudgeReply,
    advisor_messages,
    judge_messages,
    parse_judge_reply,
    parse_judge_score,
)

log = logging.getLogger(__name__)

__all__ = [
    "ADVISOR_PROMPT_VERSION",
    "COMPONENTS",
    "JUDGE_PROMPT_VERSION",
    "REWARD_VERSION",
    "BaselineCache",
    "GuideRewards",
    "JudgeFormatError",
    "JudgeReply",
    "LEAK_REWARDS",
    "Outcome",
    "ProblemInfo",
    "RewardModels",
    "RewardSettings",
    "advisor_messages",
    "build_rewards",
    "completion_text",
    "judge_messages",
    "parse_judge_reply",
    "parse_judge_score",
    "preflight_reward_models",
    "problem_info",
]

REWARD_VERSION = "rewards-v1"

#: Component names, in reward-weight order (TRL logs ``rewards/<name>/mean``).
COMPONENTS: dict[str, tuple[str, ...]] = {
    "exectune": ("R", "I_str", "J", "dR_penalty"),
    "advisor": ("R",),
}

#: GenerateConfig fields that change what the core samples (part of the baseline's cache key);
#: transport settings (connections, retries, timeouts) do not.
SAMPLING_FIELDS = (
    "temperature", "top_p", "top_k", "max_tokens", "seed", "stop_seqs", "frequency_penalty",
    "presence_penalty", "system_message", "reasoning_effort", "reasoning_tokens", "num_choices",
)

Recipe = Literal["exectune", "advisor"]
LeakReward = Literal["zero", "judge_only"]
LEAK_REWARDS: tuple[str, ...] = ("zero", "judge_only")


# ---------------------------------------------------------------------------------------------
# Problems
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProblemInfo:
    """What the rewards need about one problem: the text the guide and core see, the scorer's
    target/metadata (from the spec's :meth:`~evals.benchmarks.Benchmark.sample`) and the leak check's arguments."""

    id: str
    benchmark: str
    domain: Literal["math", "code"]
    #: Judged in the sandbox (the benchmark's spec says).
    sandboxed: bool
    text: str
    target: str
    metadata: dict[str, Any]
    leak_args: dict[str, Any]


def problem_info(problem: Any) -> ProblemInfo:
    """A :class:`ProblemInfo` from a benchmark's problem record (its spec builds the sample)."""

    spec = benchmark_for(problem)
    sample = spec.sample(problem)
    metadata = dict(sample.metadata or {})
    target = sample.target if isinstance(sample.target, str) else "".join(sample.target)
    if not isinstance(sample.input, str):
        raise TypeError(f"{spec.name}: a sample's input must be the problem text (a string) for training")
    return ProblemInfo(id=str(sample.id), benchmark=spec.name, domain=spec.domain, sandboxed=spec.sandboxed,
                       text=sample.input, target=target, metadata=metadata,
                       leak_args=spec.leak_args(target, metadata))


_THINK_END = re.compile(r"</think\s*>", re.IGNORECASE)


def completion_text(completion: Any) -> tuple[str, str | None]:
    """(text, separate reasoning) of a TRL completion: a string, or a list of message dicts
    (conversational; the last assistant message's ``content``, and its ``reasoning_content`` /
    ``reasoning`` when the tokenizer's response parser split the think block off)."""
    if isinstance(completion, str):
        return completion, None
    if isinstance(completion, Mapping):
        completion = [completion]
    if isinstance(completion, Sequence) and completion:
        message = completion[-1]
        if isinstance(message, Mapping):
            content = message.get("content") or ""
            if isinstance(content, list):  # content blocks
                content = "".join(str(b.get("text", "")) for b in content if isinstance(b, Mapping))
            reasoning = message.get("reasoning_content") or message.get("reasoning")
            return str(content), (str(reasoning) if reasoning else None)
    return "", None


# ---------------------------------------------------------------------------------------------
# Outcomes
# ---------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """Everything computed for one completion. ``failed`` set: unscorable (all components None)."""

    valid: bool
    reason: str = ""
    strategy: str | None = None
    leaked: bool | None = None
    #: Which rule found the leak and where (:meth:`gcop.guides.leaks.LeakFinding.describe`).
    leak_reason: str | None = None
    #: Leaked under ``leak_reward="zero"``: every component is 0.
    zeroed: bool = False
    #: Unscorable by rule (an in-process verdict), not by an infrastructure failure.
    masked: bool = False
    r_with: float | None = None
    r_without: float | None = None
    judge: float | None = None
    failed: str | None = None
    core_response: str | None = None
    verdict_status: str | None = None

    @property
    def ok(self) -> bool:
        return self.failed is None

    @property
    def d_r(self) -> float | None:
        if self.r_with is None or self.r_without is None:
            return None
        return self.r_with - self.r_without

    def component(self, name: str) -> float | None:
        if not self.ok:
            return None
        if not self.valid or self.zeroed:
            return 0.0
        if name == "R":
            return float(self.r_with or 0.0)
        if name == "I_str":
            return 1.0
        if name == "J":
            return float(self.judge or 0.0)
        if name == "dR_penalty":
            d_r = self.d_r
            return min(0.0, d_r) if d_r is not None else 0.0  # = -max(0, -dR)
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class UnscorableRewardsError(RuntimeError):
    """Too many rollouts of the last reward batches were unscorable: training would learn nothing."""


class _CallFailed(Exception):
    """A model call or sandbox run that failed for good (the completion becomes unscorable)."""


class _Masked(_CallFailed):
    """A verdict that may not be a reward (judged in-process): unscorable, but no failure of the
    infrastructure, so it does not count towards ``max_unscorable_share``."""


class _DedupingExecutor:
    """Runs sandbox jobs on ``inner`` under the shared concurrency limit; identical jobs (same
    style, code, tests, entry point and limit) share one run when ``dedupe`` is on."""

    def __init__(self, inner: Any, semaphore: asyncio.Semaphore, dedupe: bool, stats: collections.Counter) -> None:
        self.inner = inner
        self.semaphore = semaphore
        self.dedupe = dedupe
        self.stats = stats
        self._results: collections.OrderedDict[str, asyncio.Future] = collections.OrderedDict()

    @staticmethod
    def _key(job: Any) -> str:
        wire = job.to_wire()
        wire.pop("id", None)
        return hashlib.sha256(json.dumps(wire, sort_keys=True).encode()).hexdigest()

    async def _run(self, job: Any) -> Any:
        async with self.semaphore:
            self.stats["sandbox_runs"] += 1
            return await self.inner.run(job)

    async def run(self, job: Any) -> Any:
        self.stats["sandbox_jobs"] += 1
        if not self.dedupe:
            return await self._run(job)
        key = self._key(job)
        future = self._results.get(key)
        if future is None or (future.done() and (future.cancelled() or future.exception() is not None
                                                 or getattr(future.result(), "status", None) == "error")):
            future = asyncio.ensure_future(self._run(job))
            self._results[key] = future
            while len(self._results) > 4096:
                self._results.popitem(last=False)
        else:
            self._results.move_to_end(key)
        return await asyncio.shield(future)


@dataclass
class _LoopState:
    """Per-event-loop resources (model clients, the sandbox pool and asyncio primitives are
    bound to the loop they were made on)."""

    loop: asyncio.AbstractEventLoop
    semaphore: asyncio.Semaphore
    core: Model | None = None
    judge: Model | None = None
    executor: Any = None
    executor_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    owns_executor: bool = False
    sandbox: _DedupingExecutor | None = None
    baselines: dict[str, asyncio.Future] = field(default_factory=dict)
    batches: collections.OrderedDict = field(default_factory=collections.OrderedDict)


# ---------------------------------------------------------------------------------------------
# The reward engine
# ---------------------------------------------------------------------------------------------


class _Component:
    """One TRL reward function (async callable with a ``__name__``), backed by the engine."""

    def __init__(self, engine: GuideRewards, name: str) -> None:
        self.engine = engine
        self.__name__ = name

    async def __call__(self, prompts: Sequence[Any] | None = None, completions: Sequence[Any] = (), **kwargs: Any) -> list[float | None]:
        outcomes = await self.engine.outcomes(completions, prompts=prompts, **kwargs)
        if self.__name__ == self.engine.components[0]:
            self.engine._log_batch(outcomes, kwargs.get("log_metric"), kwargs.get("log_extra"))
            self.engine.check_unscorable(outcomes)
        return [o.component(self.__name__) for o in outcomes]

    def __repr__(self) -> str:
        return f"<reward component {self.__name__}>"


@dataclass(frozen=True)
class RewardModels:
    """The models the rewards call.

    Args:
      core: the core, an Inspect model spec or :class:`~inspect_ai.model.Model`
        (``mockllm/reference`` etc.: :func:`gcop.train.offline_models.offline_core`; None: gcop's
        default core, results/models.yaml).
      judge: the judge (spec or Model); needed when ``gamma > 0``.
      core_config / judge_config: GenerateConfig fields for their calls (the core's sampling fields
        are part of the baseline cache key).
      core_args: extra Inspect model args for the core.
      core_name: the core's name in the baseline cache key (default: the spec string, or
        ``str(model)`` for a Model instance -- give distinct names to distinct custom models).
    """

    core: str | Model | None = None
    judge: str | Model | None = None
    core_config: GenerateConfig | Mapping[str, Any] | None = None
    judge_config: GenerateConfig | Mapping[str, Any] | None = None
    core_args: Mapping[str, Any] | None = None
    core_name: str | None = None


@dataclass(frozen=True)
class RewardSettings:
    """How the reward is computed.

    Args:
      recipe: ``exectune`` (components R, I_str, J, dR_penalty) or ``advisor`` (R only).
      beta, gamma, kappa: the weights of I_str, J and the regression penalty (``reward_weights``).
        ``gamma = 0`` skips judge calls (J = 0), ``kappa = 0`` skips baselines.
      judge_attempts: judge calls per strategy before an invalid reply makes it unscorable.
      leak_reward: what a leaking strategy earns: ``zero`` (every component 0, the default) or
        ``judge_only`` (the paper's reading: J = 0, the rest as computed).
      allow_in_process_verdicts: pay code verdicts judged with the solution inside the judge's
        process (tests that patch or seed what the solution sees; a forgeable verdict). Off: such
        a completion is masked (all components None, counted as ``masked``).
      max_concurrency: core calls, judge calls and sandbox runs in flight at once.
      executor: ``docker`` / ``local`` (made on first use, closed by :meth:`GuideRewards.aclose`)
        or an :class:`~sandbox.executors.Executor` (not closed here).
      baseline_cache: folder of the on-disk baseline cache (None: memory only).
      max_strategy_tokens: the strategy budget for I_str.
      max_unscorable_share, unscorable_window: raise :class:`UnscorableRewardsError` once more than
        this share of the rollouts of the last ``unscorable_window`` batches were unscorable
        (None: never).
      phase_prefix: put before the ledger's phase names (``core``, ``judge``): ``eval_`` records the
        held-out evaluation's calls apart from training's.
    """

    recipe: Recipe = "exectune"
    beta: float = 0.1
    gamma: float = 0.1
    kappa: float = 0.5
    judge_attempts: int = 2
    leak_reward: LeakReward = "zero"
    allow_in_process_verdicts: bool = False
    max_concurrency: int = 144
    executor: str | Any = "docker"
    executor_workers: int = 2
    executor_hosts: tuple[str, ...] = ()
    dedupe_sandbox_jobs: bool = True
    baseline_cache: str | Path | None = None
    baseline_samples: int = 1
    max_strategy_tokens: int = DEFAULT_MAX_STRATEGY_TOKENS
    max_unscorable_share: float | None = 0.5
    unscorable_window: int = 3
    phase_prefix: str = ""

    def __post_init__(self) -> None:
        if self.recipe not in COMPONENTS:
            raise ValueError(f"recipe must be one of {sorted(COMPONENTS)}, got {self.recipe!r}")
        if self.leak_reward not in LEAK_REWARDS:
            raise ValueError(f"leak_reward must be one of {LEAK_REWARDS}, got {self.leak_reward!r}")
        if self.max_concurrency < 1 or self.judge_attempts < 1 or self.baseline_samples < 1:
            raise ValueError("max_concurrency, judge_attempts and baseline_samples must be >= 1")


#: Where :meth:`GuideRewards.from_config` reads each :class:`RewardSettings` field in a training
#: config (:class:`gcop.train.config.GuideFields`): the weights carry a ``reward_`` prefix there, beside
#: TRL's own (KL) ``beta``. ``tests/train/test_rewards.py`` checks that every field is read from here
#: or listed in :data:`SETTINGS_NOT_FROM_CONFIG`, and that both sides' defaults agree.
SETTINGS_FROM_CONFIG = {
    "beta": "reward_beta", "gamma": "reward_gamma", "kappa": "reward_kappa",
    "judge_attempts": "judge_attempts", "leak_reward": "leak_reward",
    "allow_in_process_verdicts": "allow_in_process_verdicts", "max_concurrency": "max_concurrency",
    "executor": "executor", "executor_workers": "executor_workers", "dedupe_sandbox_jobs": "dedupe_sandbox_jobs",
    "baseline_cache": "baseline_cache", "baseline_samples": "baseline_samples",
    "max_strategy_tokens": "max_strategy_tokens",
    "max_unscorable_share": "max_unscorable_share", "unscorable_window": "unscorable_window",
}
#: Set otherwise: the recipe (the trainer's), the engines (the config's ``docker_hosts``), and the
#: ledger's phase names (the held-out evaluation's).
SETTINGS_NOT_FROM_CONFIG = frozenset({"recipe", "executor_hosts", "phase_prefix"})


class GuideRewards:
    """The reward engine behind the reward functions (see the module docstring): ``problems``
    (problem records, :mod:`gcop.evals.benchmarks`, looked up by ``problem_id``), the models it calls
    (:class:`RewardModels`) and how it computes the reward (:class:`RewardSettings`);
    :meth:`from_config` reads both from a training config. ``count_tokens``: the guide's token
    counter for I_str; ``ledger``: optional cost ledger, each call's usage is recorded there."""

    @classmethod
    def from_config(cls, config: Any, problems: Sequence[Any], *, recipe: Recipe = "exectune",
                    count_tokens: Callable[[str], int] | None = None, ledger: Any = None,
                    models: Mapping[str, Any] | None = None, settings: Mapping[str, Any] | None = None) -> GuideRewards:
        """The engine a training config describes (:class:`gcop.train.config.GuideFields`); ``models`` /
        ``settings`` replace single fields of either section (tests, the held-out evaluation)."""
        judge = config.judge_model if (recipe == "exectune" and config.reward_gamma > 0) else None
        chosen = RewardModels(core=config.core, judge=judge, core_config=config.core_config,
                              judge_config=config.judge_config, core_args=config.core_args)
        how = RewardSettings(
            recipe=recipe, executor_hosts=tuple(getattr(config, "docker_hosts", None) or ()),
            **{name: getattr(config, key) for name, key in SETTINGS_FROM_CONFIG.items()},
        )
        return cls(problems, dataclasses.replace(chosen, **(models or {})), dataclasses.replace(how, **(settings or {})),
                   count_tokens=count_tokens, ledger=ledger)

    def __init__(
        self,
        problems: Sequence[Any],
        models: RewardModels | None = None,
        settings: RewardSettings | None = None,
        *,
        count_tokens: Callable[[str], int] | None = None,
        ledger: Any = None,
    ) -> None:
        models = models or RewardModels()
        settings = settings or RewardSettings()
        if settings.recipe == "exectune" and settings.gamma > 0 and models.judge is None:
            raise ValueError("gamma > 0 needs a judge model")
        self.settings = settings
        self.recipe: Recipe = settings.recipe
        self.components = COMPONENTS[settings.recipe]
        self.problems: dict[str, ProblemInfo] = {}
        self._records: dict[str, Any] = {}
        for problem in problems:
            info = problem_info(problem)
            self.problems[info.id] = info
            self._records[info.id] = problem
        core = models.core
        if core is None:

            core = default_model("core")
        self.core_name = models.core_name or (core if isinstance(core, str) else str(core))
        self.judge_name = models.judge if isinstance(models.judge, str) or models.judge is None else str(models.judge)
        self.core_spec = offline_model(core, problems)
        self.judge_spec = offline_model(models.judge)
        self.core_args = dict(models.core_args or {})
        self.core_config = _generate_config(models.core_config, settings.max_concurrency,
                                            max_tokens=DEFAULT_MAX_CORE_TOKENS)
        self.judge_config = _generate_config(models.judge_config, settings.max_concurrency)
        self.beta, self.gamma, self.kappa = float(settings.beta), float(settings.gamma), float(settings.kappa)
        self.judge_attempts = settings.judge_attempts
        self.leak_reward = settings.leak_reward
        self.allow_in_process_verdicts = settings.allow_in_process_verdicts
        self.max_concurrency = settings.max_concurrency
        self.executor_spec = settings.executor
        self.executor_workers = settings.executor_workers
        self.executor_hosts = settings.executor_hosts
        self.dedupe_sandbox_jobs = settings.dedupe_sandbox_jobs
        self.baseline_cache = BaselineCache(settings.baseline_cache)
        self.baseline_samples = settings.baseline_samples
        self.max_strategy_tokens = settings.max_strategy_tokens
        self.count_tokens = count_tokens
        self.ledger = ledger
        self.phase_prefix = settings.phase_prefix
        self.stats: collections.Counter[str] = collections.Counter()
        self._loops: dict[int, _LoopState] = {}
        self.max_unscorable_share = settings.max_unscorable_share
        self._recent: collections.deque[tuple[int, int]] = collections.deque(maxlen=max(1, settings.unscorable_window))
        #: The last failure that made a rollout unscorable (which call, model, error).
        self.last_failure: str | None = None

    # ------------------------------------------------------------------ TRL interface

    def reward_funcs(self) -> list[_Component]:
        """The reward functions, one per component, in :meth:`reward_weights` order."""
        return [_Component(self, name) for name in self.components]

    def reward_weights(self) -> list[float]:
        weights = {"R": 1.0, "I_str": self.beta, "J": self.gamma, "dR_penalty": self.kappa}
        return [weights[name] for name in self.components]

    def total(self, outcome: Outcome) -> float | None:
        """The weighted reward of one outcome (None: unscorable)."""
        values = [outcome.component(n) for n in self.components]
        scored = [v for v in values if v is not None]
        if len(scored) < len(values):
            return None
        return float(sum(w * v for w, v in zip(self.reward_weights(), scored, strict=True)))

    def compute(self, problem_ids: Sequence[str], completions: Sequence[Any]) -> dict[str, list[float | None]]:
        """Every component for a batch, synchronously (one event loop for the whole batch)."""

        async def run() -> dict[str, list[float | None]]:
            try:
                outcomes = await self.outcomes(completions, problem_id=list(problem_ids))
                return {name: [o.component(name) for o in outcomes] for name in self.components}
            finally:
                await self.aclose()

        return asyncio.run(run())

    # ------------------------------------------------------------------ per-batch sharing

    def _state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        state = self._loops.get(id(loop))
        if state is None or state.loop is not loop:
            for key, old in list(self._loops.items()):
                if old.loop.is_closed():
                    del self._loops[key]
            state = _LoopState(loop=loop, semaphore=asyncio.Semaphore(self.max_concurrency))
            self._loops[id(loop)] = state
        return state

    @staticmethod
    def _batch_key(problem_ids: Sequence[str], texts: Sequence[tuple[str, str | None]], step: Any) -> str:
        h = hashlib.sha256(repr(step).encode())
        for pid, (text, reasoning) in zip(problem_ids, texts, strict=True):
            h.update(b"\x00" + pid.encode() + b"\x01" + text.encode() + b"\x02" + (reasoning or "").encode())
        return h.hexdigest()

    async def outcomes(self, completions: Sequence[Any], *, problem_id: Sequence[str] | None = None,
                       prompts: Sequence[Any] | None = None, trainer_state: Any = None, **_: Any) -> list[Outcome]:
        """The outcomes of a batch (one per completion), computed once and shared by the components.

        ``problem_id`` is the dataset column TRL passes through (one id per completion). A batch is
        identified by its ids, completion texts and the trainer's global step; the last few batches
        are kept, so each component's call for the same batch awaits the same work.
        """
        if problem_id is None:
            raise ValueError("the reward functions need the dataset's 'problem_id' column")
        ids = [str(p) for p in problem_id]
        if len(ids) != len(completions):
            raise ValueError(f"{len(ids)} problem ids for {len(completions)} completions")
        unknown = sorted({p for p in ids if p not in self.problems})
        if unknown:
            raise KeyError(f"problem id(s) not among the reward engine's problems: {unknown[:5]}")
        texts = [completion_text(c) for c in completions]
        state = self._state()
        step = getattr(trainer_state, "global_step", None)
        key = self._batch_key(ids, texts, step)
        tasks = state.batches.get(key)
        if tasks is None:
            tasks = [asyncio.ensure_future(self._outcome(state, pid, text, reasoning)) for pid, (text, reasoning) in zip(ids, texts, strict=True)]
            state.batches[key] = tasks
            while len(state.batches) > 8:
                state.batches.popitem(last=False)
        return list(await asyncio.gather(*(asyncio.shield(t) for t in tasks)))

    # ------------------------------------------------------------------ one completion

    async def _outcome(self, state: _LoopState, pid: str, text: str, reasoning: str | None) -> Outcome:
        info = self.problems[pid]
        try:
            if self.recipe == "advisor":
                advice = _THINK_END.split(text)[-1].strip() if _THINK_END.search(text) else text.strip()
                r_with, response, status = await self._core_reward(state, info, advice or None)
                return Outcome(valid=True, strategy=advice, r_with=r_with, core_response=response, verdict_status=status)

            parsed = parse_guide_output(text, reasoning=reasoning, max_strategy_tokens=self.max_strategy_tokens,
                                        count_tokens=self.count_tokens)
            if not parsed.valid:
                self.stats["malformed"] += 1
                return Outcome(valid=False, reason=parsed.reason)
            strategy = parsed.strategy or ""
            zero = self.leak_reward == "zero"
            found = static_leak(strategy, info.benchmark, target=info.target, metadata=info.metadata, problem=info.text)
            if found is not None and zero:
                # Nothing to learn from the core or the judge: the strategy earns 0 whatever they say.
                self.stats["leaked"] += 1
                return Outcome(valid=True, strategy=strategy, leaked=True, leak_reason=found.describe(), zeroed=True)
            jobs: list[Any] = [self._core_reward(state, info, strategy)]
            jobs.append(self._baseline(state, info) if self.kappa > 0 else _const(None))
            jobs.append(self._judge(state, info, strategy) if (self.gamma > 0 and found is None) else _const(None))
            jobs.append(self._code_leak(state, info, strategy) if found is None else _const(None))
            # return_exceptions: one failed call does not cancel the others (a baseline still
            # completes and is cached), then the first failure makes the completion unscorable.
            results: list[Any] = await asyncio.gather(*jobs, return_exceptions=True)
            for result in results:
                if isinstance(result, BaseException):
                    raise result
            (r_with, response, status), r_without, reply, code_leak = results
            found = found or code_leak or (judge_finding() if reply is not None and reply.leaks else None)
            if found is not None:
                self.stats["leaked"] += 1
                self.stats[f"leaked_{found.rule.split('.')[0]}"] += 1
            judge = 0.0 if (found is not None or reply is None) else reply.score
            return Outcome(valid=True, strategy=strategy, leaked=found is not None,
                           leak_reason=found.describe() if found else None, zeroed=found is not None and zero,
                           r_with=r_with, r_without=r_without, judge=judge, core_response=response,
                           verdict_status=status)
        except _Masked as exc:
            self.stats["masked"] += 1
            return Outcome(valid=True, failed=str(exc), masked=True)
        except _CallFailed as exc:
            self.stats["unscorable"] += 1
            self.last_failure = str(exc)
            log.warning("reward for a completion of %s is unscorable: %s", pid, exc)
            return Outcome(valid=True, failed=str(exc))

    async def _model(self, state: _LoopState, which: str) -> Model:
        if which == "core":
            if state.core is None:
                state.core = _resolve_model(self.core_spec, self.core_config, self.core_args)
            return state.core
        if state.judge is None:
            assert self.judge_spec is not None
            state.judge = _resolve_model(self.judge_spec, self.judge_config, {})
        return state.judge

    async def _generate(self, state: _LoopState, which: str, messages: list[ChatMessage]) -> ModelOutput:
        model = await self._model(state, which)
        config = self.core_config if which == "core" else self.judge_config
        # One model-call path for all of train/: budget check, usage recording, and a throwaway
        # transcript per call (outside a sample, Inspect would otherwise keep every call).
        from gcop.inspect_models import ModelCallError, generate_output

        self.stats[f"{which}_calls"] += 1
        try:
            return await generate_output(model, messages, config, ledger=self.ledger, phase=self.phase_prefix + which,
                                         limiter=state.semaphore)
        except ModelCallError as exc:
            self.stats[f"{which}_failures"] += 1
            raise _CallFailed(f"{which} call failed: {exc}") from exc
        except BudgetExceeded as exc:
            # Not started: the completion is unscorable (masked), and the trainer's budget
            # callback stops training at the end of this step.
            self.stats["budget_refusals"] += 1
            raise _CallFailed(f"{which} call not made: {exc}") from exc

    async def _sandbox(self, state: _LoopState) -> _DedupingExecutor:
        if state.sandbox is None:
            async with state.executor_lock:
                if state.sandbox is None:
                    if isinstance(self.executor_spec, str):

                        hosts = {"hosts": self.executor_hosts} if self.executor_spec == "docker" else {}
                        executor = make_executor(self.executor_spec, self.executor_workers, **hosts)
                        await executor.start()
                        state.owns_executor = True
                    else:
                        executor = self.executor_spec
                    state.executor = executor
                    state.sandbox = _DedupingExecutor(executor, state.semaphore, self.dedupe_sandbox_jobs, self.stats)
        return state.sandbox

    async def _score(self, state: _LoopState, info: ProblemInfo, response: str) -> tuple[float, str]:

        sandbox = await self._sandbox(state) if info.sandboxed else None
        verdict = await judge_response(response, info.benchmark, target=info.target, metadata=info.metadata,
                                       sample_id=info.id, executor=sandbox)  # type: ignore[arg-type]
        if verdict.status is Status.ERROR:
            self.stats["sandbox_errors"] += 1
            raise _CallFailed(f"sandbox infrastructure error: {verdict.reason}")
        if verdict.in_process is not None and not self.allow_in_process_verdicts:
            # The solution ran inside the judge: a forged pass looks like a real one. Never a reward.
            self.stats["in_process_verdicts"] += 1
            raise _Masked(f"verdict judged in-process ({verdict.in_process}): masked, never a reward")
        return (1.0 if verdict.passed else 0.0), verdict.status.value

    async def _core_reward(self, state: _LoopState, info: ProblemInfo, strategy: str | None) -> tuple[float, str, str]:

        output = await self._generate(state, "core", core_messages(info.domain, info.text, strategy=strategy))
        response = output.completion
        reward, status = await self._score(state, info, response)
        return reward, response, status

    def baseline_key_fields(self, info: ProblemInfo) -> dict[str, Any]:
        """What the baseline R(without) of ``info`` depends on (its cache key)."""

        core = self.core_name
        sampling = {k: v for k, v in self.core_config.model_dump(exclude_none=True).items() if k in SAMPLING_FIELDS}
        return {"core_model": core, "core_prompt_version": CORE_PROMPT_VERSION, "benchmark": info.benchmark,
                "problem_id": info.id, "sampling": sampling, "samples": self.baseline_samples,
                "reward_version": REWARD_VERSION}

    async def _baseline(self, state: _LoopState, info: ProblemInfo) -> float:
        fields = self.baseline_key_fields(info)
        key = BaselineCache.key(fields)
        future = state.baselines.get(key)
        if future is not None and future.done() and future.exception() is not None:
            future = None  # a failed baseline is retried next time, never cached
        if future is None:
            future = asyncio.ensure_future(self._compute_baseline(state, info, key, fields))
            state.baselines[key] = future
        else:
            self.stats["baseline_memory_hits"] += 1
        return await asyncio.shield(future)

    async def _compute_baseline(self, state: _LoopState, info: ProblemInfo, key: str, fields: dict[str, Any]) -> float:
        record = self.baseline_cache.get(key)
        if record is None:
            # other processes (ranks, runs) sharing the cache may be computing it right now: one pays
            async with self.baseline_cache.computing(key):
                record = self.baseline_cache.get(key)
                if record is None:
                    self.stats["baseline_computed"] += 1
                    results = await asyncio.gather(*(self._core_reward(state, info, None)
                                                     for _ in range(self.baseline_samples)))
                    reward = sum(r for r, _, _ in results) / len(results)
                    self.baseline_cache.put(key, {**fields, "reward": reward, "statuses": [s for _, _, s in results],
                                                  "computed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
                                            key_fields=fields)
                    return reward
        self.stats["baseline_disk_hits"] += 1
        return float(record["reward"])

    async def _code_leak(self, state: _LoopState, info: ProblemInfo, strategy: str) -> Any:
        """The leak check's code rule: code in the strategy run as candidate solutions (None: no leak)."""
        if info.domain != "code":
            return None

        sandbox = await self._sandbox(state) if info.sandboxed else None
        try:
            verdict = await check_leak(strategy, info.benchmark, target=info.target, metadata=info.metadata,
                                       problem=info.text, sample_id=info.id, executor=sandbox)  # type: ignore[arg-type]
        except LeakCheckError as exc:
            self.stats["sandbox_errors"] += 1
            raise _CallFailed(str(exc)) from exc
        self.stats["leak_candidates_run"] += verdict.candidates_run
        return verdict.finding

    async def _judge(self, state: _LoopState, info: ProblemInfo, strategy: str) -> JudgeReply:
        messages = judge_messages(info.domain, info.text, strategy)
        errors: list[str] = []
        for _ in range(self.judge_attempts):
            output = await self._generate(state, "judge", messages)
            try:
                return parse_judge_reply(output.completion)
            except JudgeFormatError as exc:
                self.stats["judge_invalid"] += 1
                errors.append(str(exc))
        raise _CallFailed(f"judge gave no valid score in {self.judge_attempts} attempt(s): {errors[-1]}")

    # ------------------------------------------------------------------ logging, cleanup

    def check_unscorable(self, outcomes: Sequence[Outcome]) -> None:
        """Record one batch; raise :class:`UnscorableRewardsError` when the window is full and more
        than ``max_unscorable_share`` of its rollouts were unscorable."""
        if not outcomes:
            return
        self._recent.append((len(outcomes), sum(1 for o in outcomes if not o.ok and not o.masked)))
        if self.max_unscorable_share is None or len(self._recent) < (self._recent.maxlen or 1):
            return
        total = sum(n for n, _ in self._recent)
        bad = sum(b for _, b in self._recent)
        if bad / total > self.max_unscorable_share:
            raise UnscorableRewardsError(
                f"{bad} of the last {total} rollouts ({len(self._recent)} reward batches) were unscorable, more "
                f"than rewards.max_unscorable_share = {self.max_unscorable_share:g}: stopping. Core: {self.core_name}; "
                f"judge: {self.judge_name}. Last error: {self.last_failure or 'none recorded'}")

    def _log_batch(self, outcomes: Sequence[Outcome], log_metric: Callable[[str, float], None] | None,
                   log_extra: Callable[[str, list[Any]], None] | None = None) -> None:
        """TRL's per-batch metrics (``rewards_info/*``) and completion-table columns."""
        if log_extra is not None and outcomes:
            log_extra("reward_status", [o.failed or ("ok" if o.valid else f"malformed: {o.reason}") for o in outcomes])
            log_extra("core_verdict", [o.verdict_status for o in outcomes])
        if log_metric is None or not outcomes:
            return
        n = len(outcomes)
        scorable = [o for o in outcomes if o.ok]
        valid = [o for o in scorable if o.valid]
        log_metric("rewards_info/unscorable_frac", (n - len(scorable)) / n)
        log_metric("rewards_info/masked_frac", sum(o.masked for o in outcomes) / n)
        if self.recipe == "exectune":
            leaked = [o for o in valid if o.leaked]
            log_metric("rewards_info/leak_rate", len(leaked) / len(valid) if valid else 0.0)
            with_baseline = [o.d_r for o in valid if o.d_r is not None]
            if with_baseline:
                log_metric("rewards_info/dR_mean", sum(with_baseline) / len(with_baseline))
        for name in ("core_calls", "judge_calls", "baseline_disk_hits", "baseline_computed", "sandbox_runs"):
            log_metric(f"rewards_info/{name}_total", float(self.stats[name]))

    async def aclose(self) -> None:
        """Close the sandbox pool this engine started on the running loop."""
        state = self._loops.pop(id(asyncio.get_running_loop()), None)
        if state is not None and state.owns_executor and state.executor is not None:
            await state.executor.close()

    def close_on(self, loop: asyncio.AbstractEventLoop, timeout: float = 60.0) -> None:
        """Close the sandbox pool started on ``loop`` (e.g. TRL's reward loop thread), from another thread."""
        if loop.is_closed():
            return
        asyncio.run_coroutine_threadsafe(self.aclose(), loop).result(timeout)


async def _const(value: Any) -> Any:
    return value


def _generate_config(config: GenerateConfig | Mapping[str, Any] | None, max_concurrency: int,
                     max_tokens: int | None = None) -> GenerateConfig:
    """``config`` with gcop's defaults where it sets nothing: the concurrency, and ``max_tokens``
    (the core's: the Inspect tasks' cap, so rewards see the core the leaderboard rows ran)."""
    if config is None:
        config = GenerateConfig()
    elif not isinstance(config, GenerateConfig):
        config = GenerateConfig(**dict(config))
    if config.max_connections is None:
        config = config.merge(GenerateConfig(max_connections=max_concurrency))
    if max_tokens is not None and config.max_tokens is None:
        config = config.merge(GenerateConfig(max_tokens=max_tokens))
    return config


def _resolve_model(spec: str | Model, config: GenerateConfig, model_args: Mapping[str, Any]) -> Model:
    """An Inspect model for calls outside ``eval()``: a fresh (unmemoized) instance per event loop,
    since provider clients are bound to the loop they were made on."""
    if isinstance(spec, Model):
        return spec
    from inspect_ai.model import get_model

    return get_model(spec, config=config, memoize=False, **dict(model_args))


def build_rewards(config: Any, problems: Sequence[Any], *, recipe: str = "exectune", count_tokens: Any = None,
                  ledger: Any = None, models: dict[str, Any] | None = None,
                  settings: dict[str, Any] | None = None) -> GuideRewards:
    """The reward engine a config describes (:meth:`GuideRewards.from_config`)."""
    return GuideRewards.from_config(config, problems, recipe=recipe, count_tokens=count_tokens,  # type: ignore[arg-type]
                                    ledger=ledger, models=models, settings=settings)


def preflight_reward_models(config: Any, *, judge: bool) -> None:
    """The core (and judge) a config names, checked before anything is loaded or paid for (SFT's
    held-out evaluation calls them too)."""

    report = preflight({"core": config.core, "judge": config.judge_model if judge else None},
                       budget=config.budget_usd is not None, offline=OFFLINE_MODELS,
                       live=config.preflight_calls, model_args={"core": config.core_args})
    if report.live_calls:
        log.info("%s", report.format())
