"""The gcop pool as an Inspect sandbox, and run_test_job on Inspect's own sandboxes."""

from __future__ import annotations

import pytest
from inspect_ai import Task, eval
from inspect_ai.dataset import Sample
from inspect_ai.model import get_model
from inspect_ai.scorer import CORRECT, INCORRECT, Score, Target, accuracy, scorer
from inspect_ai.solver import TaskState
from inspect_ai.util import SandboxEnvironmentSpec

from gcop.sandbox.inspect_provider import GcopSandboxConfig, GcopSandboxEnvironment, open_pools, run_test_job
from gcop.sandbox.protocol import TestJob
from tests.conftest import docker_ready, mock_output

TEST = "def test_add():\n    assert add(2, 3) == 5\n"
ANSWERS = {
    "right": "def add(a, b):\n    return a + b\n",
    "wrong": "def add(a, b):\n    return a - b\n",
    "exit0": "import os\nos._exit(0)\n",
    # passes only with the fixed str hash seed that every executor and Inspect sandbox gets
    "seeded": "import sys\ndef add(a, b):\n    assert sys.flags.hash_randomization == 0\n    return a + b\n",
}


@scorer(metrics=[accuracy()])
def job_scorer():
    async def score(state: TaskState, target: Target) -> Score:
        verdict = await run_test_job(TestJob("pytest", state.output.completion, TEST))
        return Score(value=CORRECT if verdict.passed else INCORRECT, explanation=verdict.reason,
                     metadata={"status": verdict.status.value})

    return score


def _run(sandbox, log_dir) -> dict[str, str]:
    samples = [Sample(input=name, id=name) for name in ANSWERS]
    model = get_model("mockllm/model", custom_outputs=[mock_output(ANSWERS[n]) for n in ANSWERS])
    task = Task(dataset=samples, scorer=job_scorer(), sandbox=sandbox)
    [log] = eval(task, model=model, display="none", log_dir=str(log_dir), max_samples=1)
    assert log.status == "success", log.error
    return {s.id: s.scores["job_scorer"].metadata["status"] for s in log.samples}


EXPECTED = {"right": "passed", "wrong": "failed", "exit0": "failed", "seeded": "passed"}


def test_gcop_sandbox_local_executor(tmp_path, monkeypatch):
    import gcop.sandbox.inspect_provider as provider
    pools: list[tuple[object, list[str]]] = []
    real = provider.make_executor

    def recording(*args, **kwargs):
        pool = real(*args, **kwargs)
        events: list[str] = []
        close = pool.close

        async def closing() -> None:
            events.append("closed")
            await close()

        pool.close = closing  # type: ignore[method-assign]
        pools.append((pool, events))
        return pool

    monkeypatch.setattr(provider, "make_executor", recording)
    assert _run(SandboxEnvironmentSpec("gcop", GcopSandboxConfig(executor="local", workers=1)), tmp_path) == EXPECTED
    # one warm pool for the run's four samples, kept in Inspect's per-run sandbox state and closed at its end
    assert [events for _, events in pools] == [["closed"]]
    assert open_pools() == 0


def test_inspect_local_sandbox_runs_the_same_rules(tmp_path):
    assert _run("local", tmp_path) == EXPECTED


@pytest.mark.docker
def test_gcop_sandbox_docker_pool(tmp_path):
    if not docker_ready():
        pytest.skip("no Docker engine or sandbox image")
    assert _run(("gcop", "docker"), tmp_path) == EXPECTED


async def test_gcop_sandbox_refuses_general_commands():
    from gcop.sandbox.executors import LocalExecutor

    env = GcopSandboxEnvironment(LocalExecutor(workers=1))
    with pytest.raises(NotImplementedError, match="only judges gcop test jobs"):
        await env.exec(["ls"])
    with pytest.raises(NotImplementedError):
        await env.read_file("x")


def test_config_strings_and_files(tmp_path):
    from gcop.sandbox.inspect_provider import _config

    assert _config("local").executor == "local"
    assert _config(str(tmp_path / "docker")).executor == "docker"  # as Inspect resolves it
    assert _config(None).executor == "docker"
    config_file = tmp_path / "gcop.yaml"
    config_file.write_text("executor: local\nworkers: 3\n")
    assert _config(str(config_file)) == GcopSandboxConfig(executor="local", workers=3)
    config_file.write_text("workers: 0\n")
    with pytest.raises(ValueError, match="gcop.yaml"):
        _config(str(config_file))
    with pytest.raises(ValueError, match="'docker', 'local'"):
        _config("podman")
