"""Did training help? The guide evaluated on held-out problems before and after SFT or GRPO.

``gcop train sft`` and ``gcop train grpo`` call :func:`evaluate_guide` on the model they start
from and on the model they end with: the same problems (the first ``heldout_limit`` of
``heldout_split``), the same prompts as training, the same seed and sampling (the checkpoint's
evaluation sampling unless ``eval`` says otherwise) and the token cap ``inspect eval`` gives the
guide. Each output is scored by the reward engine (:class:`gcop.train.rewards.GuideRewards`, so the
task's own scorers), which gives:

* **strategy validity**: the share of outputs the strategy checker accepts (ExecTune's I_str);
* **R**: the task score of the core's answer when it executes the strategy (0 for an invalid
  one, as in the reward);
* **J**, **dR_penalty** and the weighted **reward** GRPO maximises.

Validity and R come with 95% Wilson intervals over the outputs (one per problem unless
``heldout_samples`` > 1, then the interval counts outputs and is optimistic), and their changes with
an exact McNemar test over the paired outputs (the same problems before and after: paired, so
more sensitive than comparing the two intervals); a change with p >= 0.05 is marked "not
significant". GRPO adds the mean reward of each training step (from TRL's log).
"""

from __future__ import annotations

import asyncio
import logging
import math
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from gcop.evals.benchmarks import load_problems
from gcop.guides.strategy import parse_guide_output
from gcop.stats import mcnemar_exact, wilson_interval

from .config import GuideFields
from .distributed import is_main_process
from .inputs import grpo_dataset
from .ledger import LEDGER_FILE, CostLedger
from .rewards import UnscorableRewardsError, build_rewards, preflight_reward_models

log = logging.getLogger(__name__)

__all__ = [
    "GuideEval",
    "HeldOutEvaluation",
    "HeldOutReport",
    "comparison_rows",
    "evaluate_guide",
    "format_comparison",
    "format_reward_per_step",
    "generate_guide_outputs",
    "heldout_problems",
    "paired_test",
    "reward_per_step",
]


@dataclass
class GuideEval:
    """A guide's held-out figures (means over scorable outputs; None where they do not apply)."""

    label: str
    model: str
    problems: int
    outputs: int
    validity: float | None
    validity_ci: tuple[float, float] | None
    components: dict[str, float | None] = field(default_factory=dict)
    r_ci: tuple[float, float] | None = None
    reward: float | None = None
    unscorable: int = 0
    invalid_reasons: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    #: How the outputs were made and scored (split, sampling, cap, core): the same for both sides.
    settings: dict[str, Any] = field(default_factory=dict)
    #: Why the evaluation did not run or failed (then the figures are absent).
    error: str | None = None
    #: The last failure that made an output unscorable (which call, model, error).
    last_failure: str | None = None
    #: Per output, in order: problem id, valid (None: not checked), R (None: unscorable or not
    #: scored). Before and after are paired by position (same problems, same order).
    ids: list[str] = field(default_factory=list)
    valid_flags: list[bool | None] = field(default_factory=list)
    r_values: list[float | None] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------------------------------------
# Problems, prompts and generation
# ---------------------------------------------------------------------------------------------


def heldout_problems(config: GuideFields) -> list[Any]:
    """The first ``heldout_limit`` problems of ``heldout_split``."""
    if config.heldout_limit <= 0:
        return []
    return load_problems(config.benchmark, config.heldout_split, config.data_dir)[: config.heldout_limit]


def eval_settings(config: GuideFields, *, recipe: str) -> dict[str, Any]:
    c = config
    return {
        "split": c.heldout_split,
        "held_out": c.heldout_split != c.split and c.split != "all",
        "limit": c.heldout_limit,
        "samples": c.heldout_samples,
        "max_new_tokens": c.guide_cap,
        "temperature": c.eval_temperature,
        "top_p": c.eval_top_p,
        "top_k": c.eval_top_k,
        "seed": getattr(c, "seed", 0),
        "recipe": recipe,
        "scored": c.heldout_rewards,
        "core": c.core if c.heldout_rewards else None,
    }


def generate_guide_outputs(model: Any, tokenizer: Any, prompts: Sequence[list[dict[str, str]]], *,
                           max_new_tokens: int, temperature: float, top_p: float, seed: int,
                           top_k: int = 0, batch_size: int = 16) -> list[str]:
    """One completion per prompt (chat messages), with the chat template and the guide's sampling
    (temperature 0: greedy; every field given, none left to the model's generation_config). The
    prompt is the template's text tokenized with no special tokens added, the ids TRL's rollouts
    and Inspect's hf provider get for a guide folder of gcop's. Left-padded batches; the model's
    training mode is restored."""
    import torch
    from transformers import set_seed

    was_training = model.training
    padding_side = tokenizer.padding_side
    model.eval()
    tokenizer.padding_side = "left"
    device = next(model.parameters()).device
    if device.type == "cpu" and torch.cuda.is_available():
        # a guide loaded for training sits on the CPU until the trainer places it; generating
        # there would take hours for a real guide (the trainer moves it to the GPU anyway)
        model.to("cuda")
        device = next(model.parameters()).device
    set_seed(seed)
    sampling: dict[str, Any] = (
        {"do_sample": True, "temperature": temperature, "top_p": top_p, "top_k": top_k} if temperature > 0
        else {"do_sample": False}
    )
    outputs: list[str] = []
    try:
        for start in range(0, len(prompts), batch_size):
            texts = [tokenizer.apply_chat_template(p, add_generation_prompt=True, tokenize=False)
                     for p in prompts[start:start + batch_size]]
            batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
            with torch.no_grad():
                generated = model.generate(**batch, max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id,
                                           **sampling)
            new_tokens = generated[:, batch["input_ids"].shape[1]:]
            outputs.extend(tokenizer.batch_decode(new_tokens, skip_special_tokens=True))
    finally:
        tokenizer.padding_side = padding_side
        model.train(was_training)
    return outputs


# ---------------------------------------------------------------------------------------------
# Scoring
# ---------------------------------------------------------------------------------------------


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def evaluate_guide(
    model: Any,
    tokenizer: Any,
    config: GuideFields,
    problems: Sequence[Any],
    *,
    label: str,
    model_name: str,
    recipe: str = "exectune",
    engine: Any = None,
    count_tokens: Callable[[str], int] | None = None,
) -> GuideEval:
    """The guide's figures on ``problems`` (see the module docstring).

    ``engine`` scores the outputs (a :class:`~train.rewards.GuideRewards` over ``problems``;
    None with ``heldout_rewards`` false: validity only, checked with the strategy checker).
    """
    settings = eval_settings(config, recipe=recipe)
    started = time.time()
    rows = grpo_dataset(problems, recipe=recipe, max_strategy_tokens=config.max_strategy_tokens)
    prompts = [row["prompt"] for row in rows for _ in range(config.heldout_samples)]
    ids = [row["problem_id"] for row in rows for _ in range(config.heldout_samples)]
    texts = generate_guide_outputs(model, tokenizer, prompts, max_new_tokens=settings["max_new_tokens"],
                                   temperature=settings["temperature"], top_p=settings["top_p"],
                                   top_k=settings["top_k"], seed=settings["seed"], batch_size=config.heldout_batch_size)
    result = GuideEval(label=label, model=model_name, problems=len(problems), outputs=len(texts),
                       validity=None, validity_ci=None, settings=settings, ids=list(ids))
    exectune = recipe == "exectune"
    reasons: list[str] = []  # of the invalid outputs
    if engine is None:
        result.r_values = [None] * len(texts)
        result.valid_flags = [None] * len(texts)
        if exectune:
            parsed = [parse_guide_output(t, max_strategy_tokens=config.max_strategy_tokens,
                                         count_tokens=count_tokens) for t in texts]
            result.valid_flags = [p.valid for p in parsed]
            reasons = [p.reason for p in parsed if not p.valid]
    else:
        async def score() -> list[Any]:
            try:
                return await engine.outcomes(texts, problem_id=ids)
            finally:
                await engine.aclose()

        outcomes = asyncio.run(score())
        # an unscorable output has no validity here: it is left out of the rate, not counted valid
        result.valid_flags = [o.valid if (o.ok and exectune) else None for o in outcomes]
        result.r_values = [o.component("R") for o in outcomes]
        reasons = [o.reason for o in outcomes if not o.valid]
        scorable = [o for o in outcomes if o.ok]
        result.unscorable = len(outcomes) - len(scorable)
        result.last_failure = engine.last_failure
        for name in engine.components:
            result.components[name] = _mean([o.component(name) for o in scorable])
        r_values = [o.component("R") for o in scorable]
        if r_values and all(v in (0.0, 1.0) for v in r_values):
            result.r_ci = wilson_interval(int(sum(r_values)), len(r_values))
        result.reward = _mean([engine.total(o) for o in scorable])
    checked = [flag for flag in result.valid_flags if flag is not None]
    if checked:
        result.validity, result.validity_ci = sum(checked) / len(checked), wilson_interval(sum(checked), len(checked))
    for reason in reasons:
        result.invalid_reasons[reason] = result.invalid_reasons.get(reason, 0) + 1
    result.seconds = round(time.time() - started, 1)
    return result


# ---------------------------------------------------------------------------------------------
# GRPO's reward per step
# ---------------------------------------------------------------------------------------------


def reward_per_step(log_history: Sequence[Mapping[str, Any]]) -> list[dict[str, float]]:
    """``{"step", "reward", "reward_std"}`` for every logged training step (TRL's ``reward`` is the
    batch's mean weighted reward)."""
    out = []
    for entry in log_history:
        # a step whose rewards were all NaN (e.g. the cost budget stopped the calls) is logged
        # with reward None: it has no mean reward to report
        if "reward" in entry and "step" in entry and entry["reward"] is not None:
            row = {"step": int(entry["step"]), "reward": float(entry["reward"])}
            if entry.get("reward_std") is not None:
                row["reward_std"] = float(entry["reward_std"])
            out.append(row)
    return out


def format_reward_per_step(rows: Sequence[Mapping[str, float]], *, max_items: int = 12) -> str:
    """One line: the mean reward per step (every k-th when there are many), then the first and
    last quarter's means."""
    if not rows:
        return "mean reward per step: (none logged)"
    stride = max(1, math.ceil(len(rows) / max_items))
    shown = list(rows[::stride])
    if shown[-1] is not rows[-1]:
        shown.append(rows[-1])
    items = ", ".join(f"{int(r['step'])}: {r['reward']:.3f}" for r in shown)
    line = f"mean reward per step ({len(rows)} steps): {items}"
    if len(rows) >= 4:
        quarter = max(1, len(rows) // 4)
        first = sum(r["reward"] for r in rows[:quarter]) / quarter
        last = sum(r["reward"] for r in rows[-quarter:]) / quarter
        line += f"; first {quarter} steps {first:.3f}, last {quarter} steps {last:.3f}"
    return line


# ---------------------------------------------------------------------------------------------
# Reports
# ---------------------------------------------------------------------------------------------


def _cell(value: float | None, ci: tuple[float, float] | None = None) -> str:
    if value is None:
        return "n/a"
    text = f"{value:.3f}"
    if ci is not None:
        text += f" [{ci[0]:.2f}, {ci[1]:.2f}]"
    return text


def paired_test(before: Sequence[Any], after: Sequence[Any]) -> dict[str, Any] | None:
    """Exact McNemar test on paired binary outcomes (the same outputs' positions before and after;
    pairs with a None on either side are left out). None when the values are not all 0/1."""
    if len(before) != len(after):
        raise ValueError(f"paired outcomes of different lengths: {len(before)} and {len(after)}")
    pairs = [(x, y) for x, y in zip(before, after, strict=True) if x is not None and y is not None]
    if not pairs or any(float(v) not in (0.0, 1.0) for pair in pairs for v in pair):
        return None
    lost = sum(1 for x, y in pairs if x and not y)
    gained = sum(1 for x, y in pairs if y and not x)
    return {"pairs": len(pairs), "gained": gained, "lost": lost, "p": mcnemar_exact(lost, gained)["two_sided"]}


def _change(before: float | None, after: float | None, test: dict[str, Any] | None = None) -> str:
    if before is None or after is None:
        return "n/a"
    text = f"{after - before:+.3f}"
    if test is not None:
        verdict = "" if test["p"] < 0.05 else ", not significant"
        text += f" (+{test['gained']}/-{test['lost']} paired, McNemar p = {test['p']:.2g}{verdict})"
    return text


def comparison_rows(before: GuideEval, after: GuideEval) -> list[tuple[str, str, str, str]]:
    """(metric, before, after, change) rows; validity and R changes carry an exact McNemar test
    over the paired outputs (the same problems before and after)."""
    paired = before.ids == after.ids  # the same problems in the same order (always, from one run)

    def test(b: Sequence[Any], a: Sequence[Any]) -> dict[str, Any] | None:
        return paired_test(b, a) if paired else None

    rows = [("strategy validity", _cell(before.validity, before.validity_ci), _cell(after.validity, after.validity_ci),
             _change(before.validity, after.validity, test(before.valid_flags, after.valid_flags)))]
    names = [n for n in ("R", "J", "dR_penalty") if n in before.components or n in after.components]
    descriptions = {"R": "R (core's task score)", "J": "J (judge)", "dR_penalty": "dR_penalty"}
    for name in names:
        b, a = before.components.get(name), after.components.get(name)
        if name == "R":
            rows.append((descriptions[name], _cell(b, before.r_ci), _cell(a, after.r_ci),
                         _change(b, a, test(before.r_values, after.r_values))))
        else:
            rows.append((descriptions[name], _cell(b), _cell(a), _change(b, a)))
    if before.reward is not None or after.reward is not None:
        rows.append(("reward (weighted)", _cell(before.reward), _cell(after.reward), _change(before.reward, after.reward)))
    if before.unscorable or after.unscorable:
        rows.append(("unscorable outputs", str(before.unscorable), str(after.unscorable), ""))
    return rows


def _header(before: GuideEval) -> str:
    s = before.settings
    held = "held out" if s.get("held_out") else "NOT held out: the training split"
    sampling = ("greedy" if s.get("temperature") == 0 else
                f"temperature {s.get('temperature')}, top-p {s.get('top_p')}, top-k {s.get('top_k') or 'off'}")
    scored = f"scored with core {s.get('core')}" if s.get("scored") else "validity only (heldout_rewards: false)"
    per = f"{s.get('samples')} outputs" if s.get("samples", 1) > 1 else "1 output"
    return (f"{before.problems} problems of the {s.get('split')} split ({held}), {per} each, {sampling}, "
            f"up to {s.get('max_new_tokens')} tokens, seed {s.get('seed')}; {scored}")


def format_comparison(before: GuideEval | None, after: GuideEval | None, *, markdown: bool = False) -> str:
    """The before/after table (plain text for the terminal, or markdown for the model card)."""
    if before is None or after is None:
        return "held-out evaluation: not run (heldout_limit: 0)"
    failed = [e for e in (before, after) if e.error]
    if failed:
        return "held-out evaluation: " + "; ".join(f"{e.label} failed: {e.error}" for e in failed)
    rows = comparison_rows(before, after)
    head = ("metric", f"before ({before.label})", f"after ({after.label})", "change")
    if markdown:
        lines = [_header(before) + ".", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
    else:
        widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
        lines = [f"held-out evaluation: {_header(before)}"]
        lines += ["  " + "  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [head, *rows]]
    reasons = after.invalid_reasons
    if reasons:
        top = sorted(reasons.items(), key=lambda kv: -kv[1])[:3]
        lines.append(("" if not markdown else "\n") + "invalid outputs after training: "
                     + "; ".join(f"{n} x {why}" for why, n in top))
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# The before/after pair a training run makes
# ---------------------------------------------------------------------------------------------


@dataclass
class HeldOutReport:
    """The held-out figures of the guide a run started from and the guide it ended with."""

    before: GuideEval | None
    after: GuideEval | None
    #: GRPO: the mean reward of each logged training step.
    reward_per_step: list[dict[str, float]] | None = None

    def format(self, *, markdown: bool = False) -> str:
        text = format_comparison(self.before, self.after, markdown=markdown)
        if self.reward_per_step is not None:
            line = format_reward_per_step(self.reward_per_step)
            text += ("\n\n" if markdown else "\n") + (f"Training: {line}." if markdown else f"training: {line}")
        return text

    def to_dict(self) -> dict[str, Any]:
        return {"before": self.before.to_dict() if self.before else None,
                "after": self.after.to_dict() if self.after else None,
                "reward_per_step": self.reward_per_step}


class HeldOutEvaluation:
    """Runs :func:`evaluate_guide` before and after a training run on the same held-out problems.

    ``ledger``: where the scoring calls are recorded (as ``eval_core`` / ``eval_judge``; default
    ``<output_dir>/ledger.json``). The evaluation before training raises on failure (nothing has
    been spent on training yet); the one after training never does: a failure is reported in
    the model card and the checkpoint is saved all the same. In a multi-process run it runs on
    the main process only.
    """

    def __init__(self, config: GuideFields, *, output_dir: Any, recipe: str, ledger: Any = None) -> None:
        self.config = config
        self.output_dir = output_dir
        self.recipe = recipe
        self.ledger = ledger
        # Once per run: under `accelerate launch` only the main process evaluates (the other ranks
        # go on to training and wait for it at the Trainer's first collective).
        self.enabled = config.heldout_limit > 0 and is_main_process()
        self.problems: list[Any] = heldout_problems(config) if self.enabled else []
        self.judge = recipe == "exectune" and config.reward_gamma > 0
        self._before: GuideEval | None = None
        self._after: GuideEval | None = None
        self.reward_per_step: list[dict[str, float]] | None = None

    def preflight(self) -> None:
        """Check the scoring models (SFT has no other reason to; GRPO checks them itself)."""
        if self.enabled and self.config.heldout_rewards:
            preflight_reward_models(self.config, judge=self.judge)

    def _engine(self, count_tokens: Callable[[str], int] | None) -> Any:
        if not self.config.heldout_rewards:
            return None
        if self.ledger is None:
            self.ledger = CostLedger.load(Path(self.output_dir) / LEDGER_FILE, budget_usd=self.config.budget_usd)
        return build_rewards(self.config, self.problems, recipe=self.recipe, count_tokens=count_tokens,
                             ledger=self.ledger, models={"judge": self.config.judge_model if self.judge else None},
                             settings={"phase_prefix": "eval_", "max_unscorable_share": None})

    def _run(self, model: Any, tokenizer: Any, *, label: str, model_name: str,
             count_tokens: Callable[[str], int] | None) -> GuideEval:
        print(f"gcop: evaluating the {label} guide on {len(self.problems)} held-out {self.config.benchmark} "
              f"problems ({self.config.heldout_split} split)", file=sys.stderr, flush=True)
        result = evaluate_guide(model, tokenizer, self.config, self.problems, label=label, model_name=model_name,
                                recipe=self.recipe, engine=self._engine(count_tokens), count_tokens=count_tokens)
        if self.ledger is not None and getattr(self.ledger, "path", None) is not None:
            self.ledger.save()
        return result

    def before(self, model: Any, tokenizer: Any, *, label: str, model_name: str,
               count_tokens: Callable[[str], int] | None = None) -> GuideEval | None:
        if self.enabled:
            self._before = self._run(model, tokenizer, label=label, model_name=model_name, count_tokens=count_tokens)
            self._check_scorable(self._before)
        return self._before

    def _check_scorable(self, result: GuideEval) -> None:
        """Before training: a core or judge that fails on most held-out outputs would fail on the
        rollouts too, so stop now rather than after the first reward batches."""
        share = self.config.max_unscorable_share
        if result.outputs and result.unscorable / result.outputs > share:
            raise UnscorableRewardsError(
                f"{result.unscorable} of the {result.outputs} held-out outputs of the {result.label} guide were "
                f"unscorable before training, more than max_unscorable_share = {share:g}: stopping. "
                f"Core: {self.config.core}; judge: {self.config.judge_model if self.judge else None}. "
                f"Last error: {result.last_failure or 'none recorded'}")

    def after(self, model: Any, tokenizer: Any, *, label: str, model_name: str,
              count_tokens: Callable[[str], int] | None = None) -> GuideEval | None:
        if not self.enabled:
            return None
        try:
            self._after = self._run(model, tokenizer, label=label, model_name=model_name, count_tokens=count_tokens)
        except Exception as exc:  # noqa: BLE001 - a failed report must not lose the trained model
            log.warning("the held-out evaluation after training failed: %s: %s", type(exc).__name__, exc)
            self._after = GuideEval(label=label, model=model_name, problems=len(self.problems), outputs=0,
                                    validity=None, validity_ci=None, error=f"{type(exc).__name__}: {exc}")
        return self._after

    def report(self) -> HeldOutReport:
        return HeldOutReport(self._before, self._after, self.reward_per_step)
