"""``gcop train sft`` and ``gcop train grpo``: the training actions of the ``gcop train`` group.

Each action is an argparse registration function taking the ``gcop train`` group's
sub-parsers (``actions``): :func:`register_sft`, :func:`register_grpo`. When the group module
(:mod:`gcop.cli_train`) provides the ``train_action`` registration decorator they are
registered there on import; they also run standalone::

    python -m gcop.cli_train_models sft --config train/configs/smoke.yaml
    python -m gcop.cli_train_models grpo --config train/configs/smoke.yaml --resume
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from collections.abc import Sequence

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

_CONFIG_HELP = "training config (YAML; see train/configs/ and train/config.py)"
_OVERRIDE_HELP = "override a config value: dotted key path = YAML value, e.g. sft.learning_rate=2e-5 (repeatable)"


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, metavar="X.yaml", help=_CONFIG_HELP)
    parser.add_argument("--override", action="append", default=[], metavar="K=V", help=_OVERRIDE_HELP)
    parser.add_argument("--print-config", action="store_true", help="print the resolved config and exit")


def register_sft(actions: argparse._SubParsersAction) -> None:
    parser = actions.add_parser(
        "sft",
        help="supervised fine-tuning of the guide on the accepted corpus",
        description=textwrap.fill(
            "Fine-tune models.guide on data.corpus (JSONL: problem, guide_output, benchmark) with the "
            "guide's own prompt, full or LoRA (sft.lora.enabled). Saves model, tokenizer, chat "
            "template and a model card (recipe, data hash, config) in sft.output_dir, loadable as "
            "the guide with --model-role guide=hf/<sft.output_dir>."
        ),
        epilog="example:\n  gcop train sft --config train/configs/gsm8k_sft.yaml --override sft.lora.enabled=true",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _common(parser)
    parser.set_defaults(func=_sft)


def register_grpo(actions: argparse._SubParsersAction) -> None:
    parser = actions.add_parser(
        "grpo",
        help="GRPO of the guide with the core-in-the-loop rewards (ExecTune, Advisor)",
        description=textwrap.fill(
            "Train the guide from grpo.init with TRL's GRPOTrainer; the rewards run the core "
            "(models.core) on each strategy and score it with the task's scorer, plus I_str, the "
            "judge and the no-strategy baseline (recipe: exectune), or the task reward alone "
            "(recipe: advisor). Checkpoints every grpo.save_steps; the final model and a model card "
            "go to grpo.output_dir."
        ),
        epilog="example:\n  gcop train grpo --config train/configs/gsm8k_exectune.yaml --resume",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _common(parser)
    parser.add_argument(
        "--resume", nargs="?", const=True, default=False, metavar="CHECKPOINT",
        help="continue from the last checkpoint-N in grpo.output_dir (or from CHECKPOINT)",
    )
    parser.set_defaults(func=_grpo)


def _load(args: argparse.Namespace, command: str):  # type: ignore[no-untyped-def]
    from train.config import ConfigError, load_config

    try:
        return load_config(args.config, args.override)
    except ConfigError as exc:
        print(f"gcop train {command}: {exc}", file=sys.stderr)
        return None


def _summary(result) -> str:  # type: ignore[no-untyped-def]
    metrics = {k: v for k, v in result.metrics.items() if not isinstance(v, dict)}
    return f"saved {result.output_dir} after {result.steps} step(s); " + json.dumps(metrics, default=str)


def _sft(args: argparse.Namespace) -> int:
    config = _load(args, "sft")
    if config is None:
        return EXIT_USAGE
    if args.print_config:
        print(json.dumps(config.to_dict(), indent=2))
        return EXIT_OK
    from train.sft import CorpusError, run_sft

    try:
        result = run_sft(config)
    except CorpusError as exc:
        print(f"gcop train sft: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(_summary(result))
    return EXIT_OK


def _grpo(args: argparse.Namespace) -> int:
    config = _load(args, "grpo")
    if config is None:
        return EXIT_USAGE
    if "grpo" not in config.sections:
        print(f"gcop train grpo: {args.config} has no grpo section (is it an SFT config?)", file=sys.stderr)
        return EXIT_USAGE
    if args.print_config:
        print(json.dumps(config.to_dict(), indent=2))
        return EXIT_OK
    from train.grpo import run_grpo

    result = run_grpo(config, resume=args.resume)
    print(_summary(result))
    return EXIT_OK


def register_with_train_group() -> bool:
    """Register ``sft`` and ``grpo`` with the ``gcop train`` group (:mod:`gcop.cli_train`), if it
    exists and offers ``train_action``; idempotent. Returns whether they are registered there."""
    try:
        from gcop import cli_train  # type: ignore[attr-defined]
    except ImportError:
        return False
    decorator = getattr(cli_train, "train_action", None)
    if decorator is None:
        return False
    registered = getattr(cli_train, "TRAIN_ACTIONS", None)
    for register in (register_sft, register_grpo):
        if registered is None or register not in registered:
            decorator(register)
    return True


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gcop train", description="Train guides: SFT and GRPO.")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    register_sft(actions)
    register_grpo(actions)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    import logging

    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
