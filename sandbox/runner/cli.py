"""The modes: ``serve`` (a fork server reading jobs as JSON lines) and ``once`` (one job)."""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

from .files import default_work_root
from .forkserver import _PytestForkServer
from .jobprocess import job_environment, set_environment
from .server import Runner
from .verdicts import STATUS_ERROR


def _read_jobs(stdin: Any, send: Callable[[dict[str, Any]], None]) -> Iterator[dict[str, Any]]:
    """Jobs from stdin, one JSON object per line; a bad line is answered here and skipped."""
    for line in stdin:
        if not line.strip():
            continue
        try:
            job = json.loads(line)
            if not isinstance(job, dict):
                raise ValueError("a job must be a JSON object")
        except ValueError as exc:
            send(Runner._answer("", STATUS_ERROR, f"bad job line: {exc}", time.monotonic()))
            continue
        yield job


def serve(isolation: str) -> None:
    """Fork-server loop: one JSON job per stdin line, one JSON answer per stdout line."""
    stdin = sys.stdin.buffer
    stdout = sys.stdout.buffer
    work_root = default_work_root()
    # From here on the server's environment is a job's, and so is the zygote's, forked from it:
    # a job's judge or sample then sets only its own directory (the shared pytest session adds
    # PYTEST_VERSION, as a pytest judge's environment has it). It also means only the plugins
    # pytest ships with (PYTEST_DISABLE_PLUGIN_AUTOLOAD), whatever the host venv holds, and no
    # PYTEST_ADDOPTS.
    set_environment(job_environment("/"))
    runner = Runner(isolation=isolation, work_root=work_root)

    def send(answer: dict[str, Any]) -> None:
        if runner.retire and "status" in answer:
            answer["retire"] = runner.retire  # the host replaces this sandbox after this answer
        stdout.write(json.dumps(answer).encode() + b"\n")
        stdout.flush()

    import gc

    gc.collect()
    gc.freeze()  # shared by every job: keep it out of their collections
    send({"ready": True, "pid": os.getpid(), "python": sys.version.split()[0], "isolation": isolation})
    jobs = _read_jobs(stdin, send)
    if isolation == "container":
        # Jobs that need no pytest (HumanEval style) are judged before pytest is even imported:
        # the sandbox is ready sooner, and a judge forked from a smaller process forks and exits
        # faster. Not in a local run: there a sample can write wherever its user can, and what
        # the server imports after samples have run could be a module one of them planted (in a
        # container nothing on the import path is writable).
        for job in jobs:
            if job.get("style") == "pytest":
                jobs = itertools.chain([job], jobs)
                break
            answer = runner.run(job)
            assert answer is not None
            send(answer)
        else:
            return
    server = _PytestForkServer(runner, jobs, send)
    if server.serve():
        return
    # The shared session failed to start: every job runs a whole pytest session of its own.
    print(
        f"gcop runner: could not start a shared pytest session (pytest exited with {server.pytest_exit_code}); "
        "running one per job",
        file=sys.stderr,
    )
    runner._prewarm()
    for job in jobs:
        answer = runner.run(job)
        assert answer is not None
        send(answer)


def once(isolation: str) -> None:
    job = json.loads(sys.stdin.read())
    answer = Runner(isolation=isolation).run(job)
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mode", choices=["serve", "once"])
    parser.add_argument("--isolation", choices=["container", "local"], default="local")
    args = parser.parse_args(argv)
    if args.mode == "serve":
        serve(args.isolation)
    else:
        once(args.isolation)
