"""The scorer path on Inspect's ``k8s`` sandbox (``-T sandbox=k8s``), against a stand-in.

No cluster is reachable here and the inspect-k8s-sandbox package is not installed, so this test
registers, under the name ``k8s``, a sandbox that speaks Inspect's ``SandboxEnvironment``
interface the way the k8s one does for what ``run_test_job`` needs: every sample gets its own pod
(here a fresh directory), ``exec`` runs a command in it with ``input`` on stdin and the given
``env``, raises ``TimeoutError`` past its ``timeout``; ``write_file`` writes relative to the pod's
working directory; the pod's image is not gcop's (no ``/opt/gcop/runner/``), so the runner is
copied in. What runs the commands is a local process, so isolation is not what is tested: the
protocol is (probe, copy, one ``once`` run of the runner's zipapp per job, the verdict read from its last JSON line).
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from inspect_ai import eval as inspect_eval
from inspect_ai.util import ExecResult, SandboxEnvironment, sandboxenv

from gcop.sandbox.inspect_provider import IMAGE_RUNNER_PATH, RUNNER_COPY, run_test_job
from gcop.sandbox.protocol import Status, TestJob

#: Every call the stand-in received, for the assertions (one test process, so a module list).
CALLS: list[tuple[str, Any]] = []


@sandboxenv(name="k8s")
class K8sStandIn(SandboxEnvironment):
    """One "pod" per sample: a directory; commands run there with the image's python3 first on PATH."""

    def __init__(self, pod: Path) -> None:
        super().__init__()
        self.pod = pod

    @classmethod
    async def sample_init(cls, task_name: str, config: Any, metadata: dict[str, str]) -> dict[str, SandboxEnvironment]:
        CALLS.append(("sample_init", task_name))
        return {"default": cls(Path(tempfile.mkdtemp(prefix="gcop-pod-")))}

    @classmethod
    async def sample_cleanup(cls, task_name: str, config: Any, environments: dict[str, SandboxEnvironment],
                             interrupted: bool) -> None:
        for env in environments.values():
            shutil.rmtree(env.as_type(K8sStandIn).pod, ignore_errors=True)

    async def exec(self, cmd: list[str], input: str | bytes | None = None, cwd: str | None = None,
                   env: dict[str, str] | None = None, user: str | None = None, timeout: int | None = None,
                   timeout_retry: bool = True, concurrency: bool = True) -> ExecResult[str]:
        CALLS.append(("exec", {"cmd": cmd, "input": input, "env": env, "timeout": timeout}))
        path = f"{Path(sys.executable).parent}:/usr/bin:/bin"  # the "image's" python3 has pytest
        if isinstance(input, str):
            input = input.encode()
        try:
            done = await asyncio.to_thread(subprocess.run, cmd, input=input, capture_output=True,
                                           cwd=self.pod / (cwd or "."), timeout=timeout,
                                           env={"PATH": path, **(env or {})})
        except subprocess.TimeoutExpired as exc:
            raise TimeoutError(f"command timed out after {timeout} s") from exc
        return ExecResult(done.returncode == 0, done.returncode, done.stdout.decode(errors="replace"),
                          done.stderr.decode(errors="replace"))

    async def write_file(self, file: str, contents: str | bytes) -> None:
        CALLS.append(("write_file", file))
        target = self.pod / file
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(contents.encode() if isinstance(contents, str) else contents)

    async def read_file(self, file: str, text: bool = True) -> Any:
        data = (self.pod / file).read_bytes()
        return data.decode() if text else data


@pytest.fixture(autouse=True)
def _fresh_calls():
    CALLS.clear()
    yield
    CALLS.clear()


TEST = "def test_add():\n    assert add(2, 3) == 5\n"


def _judge(solution: str, timeout: float | None = None) -> tuple[Any, K8sStandIn]:
    async def main():
        env = (await K8sStandIn.sample_init("t", None, {}))["default"]
        try:
            return await run_test_job(TestJob("pytest", solution, TEST, timeout=timeout), env), env
        finally:
            await K8sStandIn.sample_cleanup("t", None, {"default": env}, False)

    return asyncio.run(main())


def test_run_test_job_probes_copies_the_runner_and_runs_it_once_per_job():
    verdict, _ = _judge("def add(a, b):\n    return a + b\n")
    assert verdict.status is Status.PASSED and verdict.executor == "inspect"
    execs = [args for kind, args in CALLS if kind == "exec"]
    assert execs[0]["cmd"] == ["sh", "-c", f"test -f {IMAGE_RUNNER_PATH}"]
    assert ("write_file", RUNNER_COPY) in CALLS
    [run] = execs[1:]
    assert run["cmd"] == ["python3", RUNNER_COPY, "once", "--isolation", "container"]
    assert run["env"] == {"PYTHONHASHSEED": "0"} and '"style": "pytest"' in run["input"]


def test_wrong_and_forging_answers_fail_on_the_stand_in_too():
    assert _judge("def add(a, b):\n    return a - b\n")[0].status is Status.FAILED
    assert _judge("import os\nos._exit(0)\n")[0].status is Status.FAILED
    # a pass printed by the sample is not the judge's report
    forged = 'print(\'{"status": "passed", "reason": "forged"}\')\ndef add(a, b):\n    return 0\n'
    assert _judge(forged)[0].status is Status.FAILED


def test_a_job_past_its_limit_is_a_timeout():
    verdict, _ = _judge("import time\ntime.sleep(60)\ndef add(a, b):\n    return a + b\n", timeout=0.5)
    assert verdict.status is Status.TIMEOUT


@pytest.mark.slow
def test_humaneval_task_scores_through_the_k8s_sandbox(tmp_path):
    """The task's own scorer, `-T sandbox=k8s`: reference answers pass, one job per sample."""
    from gcop.evals.humaneval import humaneval

    [log] = inspect_eval(humaneval(mode="core", sandbox="k8s"), model="gcop/reference", limit=4,
                         display="none", log_dir=str(tmp_path / "logs"))
    assert log.status == "success", log.error
    assert log.results.scores[0].metrics["accuracy"].value == 1.0
    runs = [args for kind, args in CALLS if kind == "exec" and args["cmd"][:2] == ["python3", RUNNER_COPY]]
    assert len(runs) == 4 and all(args["env"] == {"PYTHONHASHSEED": "0"} for args in runs)
