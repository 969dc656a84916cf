"""GRPO for guides (TRL ``GRPOTrainer``): ExecTune and the Advisor baseline, two configs of one trainer.

Prompts are the guide's own inputs for the training problems (:func:`gcop.guides.prompts.guide_messages`
for ExecTune; :func:`gcop.train.rewards.advisor_messages`, free-form advice, for Advisor), one row
per problem with its ``problem_id``; the rewards are :class:`gcop.train.rewards.GuideRewards`'s
components with their weights (``GRPOConfig.reward_weights``, set from ``recipe`` and
``reward_beta`` / ``reward_gamma`` / ``reward_kappa``). The config is TRL's ``GRPOConfig``
(:class:`gcop.train.config.GuideGRPOConfig`); training starts from ``model_name_or_path`` (the SFT
checkpoint, any path or Hub id).

Defaults follow the paper: KL beta 0.004, learning rate 1e-6, weight decay 0.1, 8 prompts per
step with 8 completions each (the paper's configs add its 2,048-token completions). Rollouts sample as the guide is
evaluated (``eval_temperature``/``eval_top_p``/``eval_top_k``, the guide's cap) unless the config
sets TRL's ``temperature``/``top_p``/``top_k``/``max_completion_length`` apart, as the paper's
configs do (temperature 1.0 rollouts, 2,048 tokens); the run prints where they differ and the
card records both. The checkpoint carries the guide's sampling (``generation_config.json``,
``gcop_sampling.json``).
Generation uses vLLM when ``use_vllm`` is true (``vllm_mode`` colocate or server, TRL's keys);
plain transformers otherwise. ``resume=True`` continues from the last ``checkpoint-N`` in
``output_dir`` (``save_steps`` writes them), or from a given path.

Every core and judge call is recorded in ``<output_dir>/ledger.json`` (tokens and $ per phase,
continued across resumed runs); with ``budget_usd`` set, training stops after the step in which
the spend reaches it (the checkpoint and model card are still written). Each call is one fsynced
row of ``ledger.jsonl`` (:mod:`gcop.train.ledger`), tagged with its step, the moment it returns: a
run killed mid-step keeps every call it made, and ``--resume`` (from the last *complete*
checkpoint, :func:`last_complete_checkpoint`) adds the calls of the steps it redoes once more.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gcop.costs import apply_prices
from gcop.preflight import check_guide_source

from .checkpoint import RECORD_FILE, TrainResult, final_metrics, load_guide, save_checkpoint, write_model_card
from .config import GuideGRPOConfig
from .distributed import any_rank, is_main_process, process_index, world_size
from .evaluate import HeldOutEvaluation, reward_per_step
from .inputs import grpo_dataset, load_train_problems
from .ledger import LEDGER_FILE, CostLedger
from .rewards import ADVISOR_PROMPT_VERSION, JUDGE_PROMPT_VERSION, REWARD_VERSION, GuideRewards, build_rewards, preflight_reward_models

log = logging.getLogger(__name__)

__all__ = ["last_complete_checkpoint", "run_grpo"]

def last_complete_checkpoint(output_dir: str | Path) -> Path | None:
    """The ``checkpoint-N`` with the highest N whose ``trainer_state.json`` (the Trainer writes it
    after the weights, optimizer and RNG states) reads as JSON; a checkpoint cut short by a crash
    is skipped with a warning (Transformers would take the highest N, torn or not)."""
    candidates = []
    for path in Path(output_dir).glob("checkpoint-*"):
        suffix = path.name.removeprefix("checkpoint-")
        if path.is_dir() and suffix.isdigit():
            candidates.append((int(suffix), path))
    for _, path in sorted(candidates, reverse=True):
        try:
            json.loads((path / "trainer_state.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            log.warning("skipping %s: incomplete (trainer_state.json: %s), a save cut short by a crash?", path, exc)
            continue
        return path
    return None


def _resume_point(resume: bool | str, output_dir: Path) -> str | bool | None:
    """What to hand ``trainer.train(resume_from_checkpoint=...)``: with ``resume=True``, the last
    complete checkpoint; when every checkpoint is incomplete, none (training starts over)."""
    if resume is not True:
        return resume or None
    checkpoint = last_complete_checkpoint(output_dir)
    if checkpoint is not None:
        return str(checkpoint)
    if any(output_dir.glob("checkpoint-*")):
        log.warning("no complete checkpoint in %s: training starts from the beginning", output_dir)
        return None
    return True  # no checkpoint at all: Transformers' own error says so


def _budget_callback(ledger: Any) -> Any:
    """Saves the ledger after every step and stops training once its budget is reached."""
    from transformers import TrainerCallback

    class BudgetStop(TrainerCallback):
        stopped_at: int | None = None

        def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            # each journal row names the step its call belongs to: a step redone after a resume
            # shows as the same step twice (both were paid for)
            context = getattr(ledger, "context", None)
            if isinstance(context, dict):
                context["step"] = state.global_step + 1
                if world_size() > 1:
                    context["rank"] = process_index()

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if ledger.path is not None and is_main_process():
                ledger.save()  # the summary of every rank's rows (the journal)
            # every rank reads the shared journal, but at its own moment: they stop together on
            # one answer, or the ranks that go on would wait for the one that stopped
            if any_rank(ledger.exceeded, device=args.device) and not control.should_training_stop:
                log.warning("budget of $%.2f reached ($%.4f spent) after step %d: stopping",
                            ledger.budget_usd, ledger.total_usd, state.global_step)
                self.stopped_at = state.global_step
                control.should_training_stop = True
                control.should_save = True

    return BudgetStop()


def _preflight(config: GuideGRPOConfig) -> None:
    """Every model and the guide's checkpoint, checked before anything is loaded or paid for."""

    check_guide_source("model_name_or_path", config.model_name_or_path)
    preflight_reward_models(config, judge=config.recipe == "exectune" and config.reward_gamma > 0)


def _start_label(init: str) -> str:
    """"SFT" when the start checkpoint is a gcop SFT run (its gcop_train.json says so), else "start"."""
    record = Path(init) / RECORD_FILE
    try:
        return "SFT" if str(json.loads(record.read_text())["recipe"]).startswith("sft") else "start"
    except (OSError, ValueError, KeyError, TypeError):
        return "start"


def run_grpo(
    config: GuideGRPOConfig,
    *,
    resume: bool | str = False,
    rewards: GuideRewards | None = None,
    callbacks: Sequence[Any] = (),
    ledger: Any = None,
) -> TrainResult:
    """Train with TRL's ``GRPOTrainer`` (``config`` is its ``GRPOConfig``) and save the final
    checkpoint (+ model card) in ``output_dir``. ``rewards`` replaces the engine the config
    describes (tests). The config's ``reward_weights`` are set from the engine's."""
    from transformers import set_seed
    from trl import GRPOTrainer

    output_dir = Path(config.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    set_seed(config.seed)
    init = config.model_name_or_path
    if rewards is None:
        _preflight(config)
    for deviation in config.rollout_deviations():
        print(f"grpo: rollouts sample apart from the evaluated guide: {deviation}", flush=True)
    problems = load_train_problems(config)
    with config.main_process_first(desc="guide"):  # a `tiny` guide is built once, then loaded by every rank
        model, tokenizer, base = load_guide(init, workdir=output_dir, problems=problems, bf16=bool(config.bf16))

    def count_tokens(text: str) -> int:
        return len(tokenizer.encode(text, add_special_tokens=False))



    apply_prices()  # priced models' calls carry their cost into the ledger
    if ledger is None:
        ledger = getattr(rewards, "ledger", None) or CostLedger.load(output_dir / LEDGER_FILE, budget_usd=config.budget_usd)

    heldout = HeldOutEvaluation(config, output_dir=output_dir, recipe=config.recipe, ledger=ledger)
    heldout.before(model, tokenizer, label=_start_label(init), model_name=init, count_tokens=count_tokens)
    engine = rewards or build_rewards(config, problems, recipe=config.recipe, count_tokens=count_tokens, ledger=ledger)
    if engine.ledger is None:
        engine.ledger = ledger
    budget = _budget_callback(ledger)
    if engine.recipe != config.recipe:
        raise ValueError(f"reward engine recipe {engine.recipe!r} does not match config recipe {config.recipe!r}")
    dataset = grpo_dataset(problems, recipe=config.recipe, max_strategy_tokens=config.max_strategy_tokens)
    config.reward_weights = list(engine.reward_weights())
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=engine.reward_funcs(),  # type: ignore[arg-type]  # async reward functions: TRL awaits them; its annotation names sync ones
        args=config,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=config.lora_config(),
        callbacks=[*callbacks, budget],
    )
    started = time.time()
    try:
        trainer.train(resume_from_checkpoint=_resume_point(resume, output_dir))
    finally:
        loop = getattr(trainer, "async_loop", None)
        if loop is not None and rewards is None:
            try:
                engine.close_on(loop)
            except Exception as exc:  # noqa: BLE001 - cleanup must not hide the training error
                log.warning("closing the reward engine's sandbox failed: %s", exc)
    elapsed = time.time() - started
    history = list(trainer.state.log_history)
    heldout.reward_per_step = reward_per_step(history)
    heldout.after(trainer.model, tokenizer, label=f"GRPO {config.recipe}", model_name=str(output_dir),
                  count_tokens=count_tokens)
    if is_main_process():  # the Trainer saves its checkpoints once; so is the final model
        save_checkpoint(trainer.model, tokenizer, output_dir, config)
    if ledger.path is not None:
        ledger.refresh()  # every rank's calls, for the figures below
    reward_keys = [f"rewards/{name}/mean" for name in engine.components]
    metrics = {"steps": trainer.state.global_step, "train_seconds": round(elapsed, 1),
               **final_metrics(history, ("reward", "reward_std", "kl", *reward_keys, "rewards_info/unscorable_frac")),
               "reward_stats": dict(engine.stats),
               "cost_usd": {name: round(ledger.phase(name).cost_usd, 6) for name in ledger.phases} | {"total": round(ledger.total_usd, 6)}}
    if budget.stopped_at is not None:
        metrics["stopped"] = f"budget ${ledger.budget_usd:g} reached after step {budget.stopped_at}"
    if ledger.path is not None and is_main_process():
        ledger.save()
    data = {"benchmark": config.benchmark, "split": config.split, "problems": len(problems),
            "data_dir": config.data_dir or "(default)", "core": engine.core_name,
            "judge": str(engine.judge_name), "core_config": json.dumps(engine.core_config.model_dump(exclude_none=True)), "reward_version": REWARD_VERSION,
            "judge_prompt_version": JUDGE_PROMPT_VERSION, "leak_reward": engine.leak_reward,
            "reward_weights": dict(zip(engine.components, engine.reward_weights(), strict=True))}
    if config.recipe == "advisor":
        data["advisor_prompt_version"] = ADVISOR_PROMPT_VERSION
    if is_main_process():
        write_model_card(output_dir, recipe=f"grpo-{config.recipe}", config=config, base_model=base, data=data,
                         metrics=metrics, evaluation=heldout.report())
    result = TrainResult(output_dir=output_dir, steps=trainer.state.global_step, metrics=metrics, log_history=history,
                         evaluation=heldout.report())
    result.trainer = trainer  # type: ignore[attr-defined]
    return result
