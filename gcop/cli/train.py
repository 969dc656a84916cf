"""The ``gcop train`` command group: ``accept`` here, ``sft`` and ``grpo`` from
:mod:`gcop.cli.train_models`."""

from __future__ import annotations

import argparse
import sys
import textwrap
from typing import Any

from gcop.evals.benchmarks import BenchmarkChoices
from gcop.guides.strategy import DEFAULT_MAX_STRATEGY_TOKENS

from .common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, add_data_option, add_docker_host_option


def register_train(sub: argparse._SubParsersAction) -> None:
    from .train_models import register_grpo, register_sft

    parser = sub.add_parser(
        "train",
        help="train guides: acceptance sampling (accept), SFT (sft), GRPO (grpo)",
        description=(
            "Train guides with the ExecTune recipe: 'accept' builds the SFT corpus by teacher-guided "
            "acceptance sampling, 'sft' fine-tunes the guide on it, 'grpo' trains it with the core in "
            "the loop."
        ),
        epilog="Run `gcop train ACTION --help` for an action's options.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    for register in (register_accept, register_sft, register_grpo):
        register(actions)


# --------------------------------------------------------------------------- accept


def _key_value(text: str) -> tuple[str, Any]:
    from gcop.readers import key_value

    try:
        return key_value(text, flag="this option")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def register_accept(actions: argparse._SubParsersAction) -> None:
    parser = actions.add_parser(
        "accept",
        help="stage 1: build the SFT corpus by teacher-guided acceptance sampling",
        description=textwrap.fill(
            "For each training problem the teacher reads the problem and its reference solution and "
            "writes a guide output (<think> then <strategy>, without the answer or the code); the core "
            "executes the strategy K times and the evals' scorers judge each answer; the strategy is "
            "accepted when q_K = successes/K >= tau, otherwise the teacher refines it with the core's "
            "failing answers, for up to R rounds. Writes OUT/corpus.jsonl (the SFT corpus), "
            "OUT/stats.json (acceptance per round, acceptance rate with its Hoeffding lower bound, the "
            "E[q] guarantee), OUT/ledger.json (tokens and $ per phase) and OUT/state.jsonl. Resumable: "
            "re-running the same command skips finished problems and retries those that ended in error."
        ),
        epilog=(
            "examples:\n"
            "  gcop train accept --benchmark gsm8k --split train --teacher anthropic/claude-sonnet-5-5 \\\n"
            "      --core anthropic/claude-haiku-4-5 -K 4 --tau 0.75 -R 2 --limit 500 --out runs/gsm8k_accept \\\n"
            "      --budget-usd 20\n"
            "  gcop train accept --benchmark kodcode --executor local --teacher mockllm/teacher \\\n"
            "      --core mockllm/reference --limit 10 --out /tmp/accept_smoke      # offline smoke run\n\n"
            "Offline stand-ins: --teacher mockllm/teacher (synthetic guide outputs); --core mockllm/reference,\n"
            "mockllm/strategy_gated, mockllm/wrong or mockllm/copies_leaks.\n"
            "Exit code: 0 every selected problem is finished; 1 the run stopped early (budget, repeated\n"
            "errors) or some problems ended in error (re-run to retry them); 2 bad options or settings that\n"
            "differ from the run already in OUT; 3 the sandbox cannot be used."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    what = parser.add_argument_group("problems and models")
    what.add_argument("--benchmark", choices=BenchmarkChoices(), default="gsm8k", metavar="BENCHMARK",
                      help="benchmark (default gsm8k): %(choices)s")
    what.add_argument("--split", choices=("train", "test", "all"), default="train",
                      help="split (default train; HumanEval has only test)")
    what.add_argument("--limit", type=int, default=None, metavar="N",
                      help="only the first N problems of the split (raise it later to extend the corpus)")
    what.add_argument("--teacher", default="anthropic/claude-sonnet-5-5", metavar="MODEL",
                      help="teacher model, an Inspect model spec (default %(default)s)")
    what.add_argument("--core", default="anthropic/claude-haiku-4-5", metavar="MODEL",
                      help="core model, an Inspect model spec (default %(default)s)")
    what.add_argument("--teacher-config", action="append", type=_key_value, default=[], metavar="K=V",
                      help="GenerateConfig field for the teacher's calls, e.g. temperature=1.0 (repeatable)")
    what.add_argument("--core-config", action="append", type=_key_value, default=[], metavar="K=V",
                      help="GenerateConfig field for the core's calls (default: provider defaults, as the evals)")
    what.add_argument("--teacher-arg", action="append", type=_key_value, default=[], metavar="K=V",
                      help="Inspect model arg for the teacher, e.g. max_retries=0 (repeatable)")
    what.add_argument("--core-arg", action="append", type=_key_value, default=[], metavar="K=V",
                      help="Inspect model arg for the core (repeatable)")

    rule = parser.add_argument_group("acceptance")
    rule.add_argument("-K", type=int, default=4, dest="k", help="core executions per strategy (default 4)")
    rule.add_argument("--tau", type=float, default=0.75, help="accept when q_K >= tau (default 0.75)")
    rule.add_argument("-R", "--rounds", type=int, default=2,
                      help="teacher rounds per problem: the first proposal plus up to R-1 refinements (default 2)")
    rule.add_argument("--eta", type=float, default=0.1, help="slack of the E[q] guarantee (default 0.1)")
    rule.add_argument("--delta", type=float, default=0.05,
                      help="the Hoeffding bounds hold with probability >= 1-delta (default 0.05)")
    rule.add_argument("--max-strategy-tokens", type=int, default=DEFAULT_MAX_STRATEGY_TOKENS, metavar="N",
                      help="strategy budget, as the guide's (default %(default)s)")
    rule.add_argument("--allow-leaks", action="store_true",
                      help="accept strategies that fail the leak check (default: sent back to the teacher)")

    run = parser.add_argument_group("running")
    run.add_argument("--out", required=True, metavar="DIR", help="output folder (resumed when it holds a run)")
    run.add_argument("--concurrency", type=int, default=8, metavar="N", help="problems in flight (default 8)")
    run.add_argument("--max-calls", type=int, default=None, metavar="N",
                     help="model calls in flight, teacher and core together (default concurrency*K)")
    run.add_argument("--budget-usd", type=float, default=None, metavar="X",
                     help="stop starting calls once the spend recorded in OUT/ledger.json (all runs) reaches X")
    run.add_argument("--max-retries", type=int, default=None, metavar="N", help="Inspect retries per call (default 8)")
    run.add_argument("--timeout", type=int, default=None, metavar="S",
                     help="seconds per call, retries included (default 900)")
    run.add_argument("--executor", choices=("docker", "local"), default="docker",
                     help="sandbox for code: docker (default) or local (WEAKER isolation)")
    run.add_argument("--workers", type=int, default=2, metavar="N", help="sandboxes running at once (default 2; per Docker engine)")
    add_docker_host_option(run)
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument("--no-preflight-calls", action="store_true",
                     help="skip the one short test call per remote model before the run (names and prices are checked anyway)")
    add_data_option(run)
    parser.set_defaults(func=_accept)


def _accept(args: argparse.Namespace) -> int:
    from gcop.train.accept import AcceptConfig, AcceptSettingsMismatch, run_acceptance

    config = AcceptConfig(
        benchmark=args.benchmark, split=args.split, teacher=args.teacher, core=args.core, k=args.k, tau=args.tau,
        rounds=args.rounds, limit=args.limit, out_dir=args.out, concurrency=args.concurrency,
        max_calls=args.max_calls, budget_usd=args.budget_usd, executor=args.executor, workers=args.workers,
        data_dir=args.data_dir, eta=args.eta, delta=args.delta, max_strategy_tokens=args.max_strategy_tokens,
        teacher_config=dict(args.teacher_config), core_config=dict(args.core_config),
        teacher_args=dict(args.teacher_arg), core_args=dict(args.core_arg), max_retries=args.max_retries,
        timeout=args.timeout, reject_leaks=not args.allow_leaks, progress=not args.no_progress,
        preflight_calls=not args.no_preflight_calls,
    )
    try:
        config.validate()
        result = run_acceptance(config)
    except AcceptSettingsMismatch as exc:
        print(f"gcop train accept: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ValueError as exc:
        if type(exc).__name__ in ("DataRecordError",):
            raise
        print(f"gcop train accept: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(result.format())
    errors = result.stats["problems"]["error"]
    return EXIT_FAILED if (result.stopped or errors) else EXIT_OK
