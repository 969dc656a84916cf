"""``gcop train sft`` and ``gcop train grpo``, registered by the ``gcop train`` group
(:mod:`gcop.cli.train`)."""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from collections.abc import Callable
from typing import Any

from .common import EXIT_FAILED, EXIT_OK, EXIT_USAGE

_CONFIG_HELP = ("training config: a flat YAML file of TRL's {cls} keys and gcop's (see train/configs/ and "
                "train/config.py); any key may follow as --key value, TRL-style, and overrides the file")


def _common(parser: argparse.ArgumentParser, cls: str) -> None:
    parser.add_argument("--config", required=True, metavar="X.yaml", help=_CONFIG_HELP.format(cls=cls))
    parser.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    parser.set_defaults(takes_trl_arguments=True)


def register_sft(actions: argparse._SubParsersAction) -> None:
    parser = actions.add_parser(
        "sft", allow_abbrev=False,
        help="supervised fine-tuning of the guide on the accepted corpus",
        description=textwrap.fill(
            "Fine-tune model_name_or_path on corpus (JSONL: problem, guide_output, benchmark) with the "
            "guide's own prompt, full or LoRA (use_peft), with TRL's SFTTrainer. Saves model, tokenizer, "
            "chat template and a model card (recipe, data hash, config) in output_dir, loadable as "
            "the guide with --model-role guide=hf/<output_dir>."
        ),
        epilog="example:\n  gcop train sft --config train/configs/gsm8k_sft.yaml --use_peft --learning_rate 2e-5",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _common(parser, "SFTConfig")
    parser.set_defaults(func=_sft)


def register_grpo(actions: argparse._SubParsersAction) -> None:
    parser = actions.add_parser(
        "grpo", allow_abbrev=False,
        help="GRPO of the guide with the core-in-the-loop rewards (ExecTune, Advisor)",
        description=textwrap.fill(
            "Train the guide from model_name_or_path with TRL's GRPOTrainer; the rewards run the core "
            "on each strategy and score it with the task's scorer, plus I_str, the judge and the "
            "no-strategy baseline (recipe: exectune), or the task reward alone (recipe: advisor). "
            "Checkpoints every save_steps; the final model and a model card go to output_dir."
        ),
        epilog="example:\n  gcop train grpo --config train/configs/gsm8k_exectune.yaml --resume",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _common(parser, "GRPOConfig")
    parser.add_argument(
        "--resume", nargs="?", const=True, default=False, metavar="CHECKPOINT",
        help="continue from the last checkpoint-N in output_dir (or from CHECKPOINT)",
    )
    parser.set_defaults(func=_grpo)


def _load(args: argparse.Namespace, command: str):
    from gcop.train.config import ConfigError, load_config

    try:
        return load_config(command, args.config, args.extra)
    except ConfigError as exc:
        print(f"gcop train {command}: {exc}", file=sys.stderr)
        return None


def _config_or_exit(args: argparse.Namespace, stage: str) -> tuple[Any, int | None]:
    """``(config, None)`` to go on with, or ``(config, exit code)`` when the command is done: the
    config could not be read, or ``--print-config`` printed it."""
    config = _load(args, stage)
    if config is None:
        return None, EXIT_USAGE
    if args.print_config:
        return config, _print_config(config)
    return config, None


def _print_config(config: Any) -> int:
    from gcop.train.config import config_dict

    print(json.dumps(config_dict(config), indent=2, default=str))
    return EXIT_OK


def _summary(result) -> str:
    metrics = {k: v for k, v in result.metrics.items() if not isinstance(v, dict)}
    text = f"saved {result.output_dir} after {result.steps} step(s); " + json.dumps(metrics, default=str)
    if result.evaluation is not None:
        text += "\n" + result.evaluation.format()
    return text


def _train(command: str, run: Callable[[], Any], usage_errors: tuple[type[Exception], ...], unscorable_note: str) -> int:
    """Run a training command: bad settings exit 2, unscorable rewards 1 (with ``unscorable_note``)."""
    from gcop.train.distributed import close_process_group, is_main_process
    from gcop.train.rewards import UnscorableRewardsError

    succeeded = False
    try:
        result = run()
        succeeded = True
    except usage_errors as exc:
        print(f"gcop train {command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except UnscorableRewardsError as exc:
        print(f"gcop train {command}: {exc}\n{unscorable_note}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        close_process_group(wait=succeeded)  # under `accelerate launch`: every rank, once it is done
    if is_main_process():  # under `accelerate launch`, one summary, not one per rank
        print(_summary(result))
    return EXIT_OK


def _sft(args: argparse.Namespace) -> int:
    config, done = _config_or_exit(args, "sft")
    if done is not None:
        return done
    from gcop.preflight import PreflightError
    from gcop.train.sft import CorpusError, run_sft

    return _train("sft", lambda: run_sft(config), (CorpusError, PreflightError),
                  "(set heldout_rewards: false to evaluate strategy validity alone)")


def _grpo(args: argparse.Namespace) -> int:
    config, done = _config_or_exit(args, "grpo")
    if done is not None:
        return done
    from gcop.preflight import PreflightError
    from gcop.train.grpo import run_grpo

    return _train("grpo", lambda: run_grpo(config, resume=args.resume), (PreflightError,),
                  "no checkpoint was saved for this run")


# --------------------------------------------------------------------------- reward


def register_reward(sub: argparse._SubParsersAction) -> None:
    from gcop.evals.benchmarks import BenchmarkChoices

    parser = sub.add_parser(
        "reward", allow_abbrev=False,
        help="the GRPO reward of guide completions from a file, without a trainer",
        description=textwrap.fill(
            "Score guide completions (JSONL lines {\"id\": problem id, \"completion\": the guide's output}) "
            "with the training reward of a GRPO config: its core, judge, sandbox, weights and leak rule "
            "(a strategy that leaks the answer or the code earns 0 under leak_reward: zero). Prints the mean "
            "reward, strategy validity and leak rate; --out writes one JSON line per completion with every "
            "component, the reward, and whether and why it leaked. Bad lines are reported with file:line "
            "and skipped."
        ),
        epilog="example:\n  gcop reward gsm8k runs/guide_outputs.jsonl --config train/configs/smoke_grpo.yaml "
               "--out runs/rewards.jsonl",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("benchmark", choices=BenchmarkChoices(), metavar="BENCHMARK",
                        help="the benchmark the completions' ids belong to: %(choices)s")
    parser.add_argument("completions", metavar="COMPLETIONS.jsonl", help="the guide completions")
    parser.add_argument("--out", metavar="OUT.jsonl", help="write one JSON line per scored completion")
    _common(parser, "GRPOConfig")
    parser.set_defaults(func=_reward)


def _reward(args: argparse.Namespace) -> int:
    from pathlib import Path

    from gcop.train.score_file import score_completions

    config, done = _config_or_exit(args, "grpo")
    if done is not None:
        return done
    if not Path(args.completions).is_file():
        print(f"gcop reward: no such file: {args.completions}", file=sys.stderr)
        return EXIT_USAGE
    report = score_completions(args.benchmark, args.completions, config, out=args.out)
    print(report.format())
    if args.out:
        print(f"wrote {len(report.rows)} line(s) to {args.out}")
    return EXIT_OK if report.rows else EXIT_FAILED
