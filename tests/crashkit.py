"""Test helpers for the crash-safety tests: run a ``gcop`` command in a subprocess, wait until its
output files show some progress, then ``kill -9`` it.

``python -m tests.crashkit [--latency S] -- <gcop arguments>`` runs ``gcop <arguments>`` (the CLI's
own ``main``) with every offline model answering after ``S`` seconds, so that a run of a few dozen
problems lasts long enough to be killed at a chosen point. The delay is put in here, by patching,
so the shipped code has no test hook.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]


def _slow_offline_models(latency: float) -> None:
    """Every offline model (``mockllm/*`` of training, ``gcop/*`` of the evals) waits ``latency`` s."""
    import asyncio

    import gcop.evals.providers as providers
    import gcop.train.accept as accept
    import gcop.train.offline_models as offline
    original = providers.ReferenceModel.generate

    async def slow_generate(self: Any, *args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(latency)
        return await original(self, *args, **kwargs)

    providers.ReferenceModel.generate = slow_generate  # type: ignore[method-assign]

    def slow_offline_model(name: Any, problems: Sequence[Any] = ()) -> Any:
        if isinstance(name, str) and name in offline.OFFLINE_CORES:
            return offline.offline_core(name, problems, latency=latency)
        return offline.offline_model(name, problems)

    accept.offline_model = slow_offline_model  # type: ignore[assignment]


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    latency = 0.0
    if args[:1] == ["--latency"]:
        latency, args = float(args[1]), args[2:]
    if args[:1] == ["--"]:
        args = args[1:]
    if latency:
        _slow_offline_models(latency)
    from gcop.cli import main as gcop_main

    return gcop_main(args)


# --------------------------------------------------------------------------- used by the tests


def gcop_process(args: Sequence[str], *, cwd: Path, latency: float = 0.0, log: Path | None = None) -> subprocess.Popen:
    """``gcop <args>`` in a subprocess started in ``cwd`` (the tests' temporary folder), its output
    in ``log``."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
           "PYTHONUNBUFFERED": "1", "INSPECT_LOG_DIR": str(cwd / "inspect-logs")}
    command = [sys.executable, "-m", "tests.crashkit", *(["--latency", str(latency)] if latency else []), "--", *args]
    out = open(log or os.devnull, "ab")  # noqa: SIM115 - handed to the child, closed by the caller's wait
    return subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)


def run_gcop(args: Sequence[str], *, cwd: Path, latency: float = 0.0, timeout: float = 900, log: Path | None = None) -> int:
    """``gcop <args>`` to the end; its exit status."""
    process = gcop_process(args, cwd=cwd, latency=latency, log=log)
    return process.wait(timeout=timeout)


def kill_when(process: subprocess.Popen, ready: Callable[[], bool], *, timeout: float = 600, poll: float = 0.02) -> bool:
    """``kill -9`` the process as soon as ``ready()`` is true (at once when it is true already);
    True when it was still running at the kill (the kill interrupted it), False when it had ended."""
    deadline = time.monotonic() + timeout
    while not ready():
        if process.poll() is not None:
            return False
        if time.monotonic() > deadline:
            process.kill()
            process.wait()
            raise TimeoutError("the process never reached the point to kill it at")
        time.sleep(poll)
    alive = process.poll() is None
    if alive:
        os.kill(process.pid, signal.SIGKILL)
    process.wait()
    return alive


def count_lines(path: Path) -> int:
    """Complete lines (ending in a newline) of a file; 0 when there is none."""
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def jsonl_rows(path: Path) -> list[dict[str, Any]]:
    """Every line of a JSON Lines file, each required to be a whole JSON object ending in a
    newline (no torn line, no corrupt line)."""
    data = path.read_bytes()
    assert not data or data.endswith(b"\n"), f"{path}: the last line is torn"
    rows = []
    for number, line in enumerate(data.decode("utf-8").splitlines(), start=1):
        value = json.loads(line)  # raises on a corrupt line, naming it below
        assert isinstance(value, dict), f"{path}:{number}: not a JSON object"
        rows.append(value)
    return rows


if __name__ == "__main__":
    sys.exit(main())
