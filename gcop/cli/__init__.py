"""The ``gcop`` command line: the commands are listed in :data:`COMMANDS`, each module of this
package registering its own subcommands (``checks``: verify, selfcheck, sandbox; ``guide``: prepare; ``train``:
accept, sft, grpo; ``train_models``: reward; ``results``: grid, leaderboard, regress, executability).

Each command imports what it runs inside its own function, the one rule for this package's
function-level imports: ``gcop --help`` and ``gcop verify`` load none of Inspect, torch or the
training code (``gcop verify`` starts in about 70 ms; ``bench/bench_sandbox.py`` times it against
OpenAI's harness). Everywhere else in gcop a function-level import of gcop's own code says why
on its line (``tests/test_layers.py`` checks both)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from .checks import register_sandbox, register_selfcheck, register_verify
from .common import EXIT_FAILED, EXIT_OK, EXIT_SANDBOX, EXIT_USAGE, apply_docker_hosts
from .guide import register_guide
from .results import register_executability, register_grid, register_leaderboard, register_regress
from .train import register_train
from .train_models import register_reward

__all__ = ["COMMANDS", "EXIT_FAILED", "EXIT_OK", "EXIT_SANDBOX", "EXIT_USAGE", "build_parser", "console", "main"]

#: Every subcommand, in the order ``gcop --help`` lists them.
COMMANDS: tuple[Callable[[argparse._SubParsersAction], None], ...] = (
    register_verify, register_selfcheck, register_sandbox, register_guide, register_train, register_reward,
    register_grid, register_leaderboard, register_regress, register_executability,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gcop",
        description=(
            "gcop: evaluation harness, benchmarks and training for guide-core policies. A small guide "
            "model writes a <strategy>; a black-box core model solves the problem with it."
        ),
        epilog="Run `gcop COMMAND --help` for a command's options.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for register in COMMANDS:
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return _main(argv)[0]


def console() -> None:
    """The ``gcop`` command and ``python -m gcop``: :func:`main`, then exit with its code.

    A command that sets ``frozen_exit`` has nothing left to release when it returns (``gcop
    verify``: its sandboxes closed, its files written and closed). Everything still alive then
    dies with the process, so it is frozen out of the garbage collection the interpreter runs
    as it shuts down, which with the Docker SDK and asyncio loaded takes about 50 ms: a tenth
    of what a short ``gcop verify`` spends outside judging. Exit handlers still run."""
    code, args = _main(None)
    if getattr(args, "frozen_exit", False):
        import gc

        gc.freeze()
    sys.exit(code)


def _main(argv: Sequence[str] | None) -> tuple[int, argparse.Namespace]:
    from gcop.evals.data import DataRecordError, DataUnavailableError
    from gcop.sandbox.executors import SandboxUnavailableError

    parser = build_parser()
    # `gcop train sft|grpo` pass what they do not know to TRL's parser (--learning_rate 2e-5, ...).
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "takes_trl_arguments", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.extra = extra
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if error := apply_docker_hosts(args):
        parser.error(error)
    try:
        return int(args.func(args) or 0), args
    except SandboxUnavailableError as exc:
        print(f"gcop {args.command}: {exc}", file=sys.stderr)
        return EXIT_SANDBOX, args
    except (DataUnavailableError, DataRecordError) as exc:
        print(f"gcop {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE, args
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130, args


if __name__ == "__main__":
    console()
