"""The gcop executors as an Inspect sandbox, and the one function scorers call to judge a job.

``sandbox="gcop"`` (or ``("gcop", "local")``, or ``SandboxEnvironmentSpec("gcop",
GcopSandboxConfig(...))``) gives the eval run one warm pool per configuration, shared by samples; a sample's
environment hands test jobs to that pool. It runs gcop test jobs only: it is a judge, not a
general-purpose machine (``exec`` of anything else, ``read_file`` and ``write_file`` raise).

Scorers call :func:`run_test_job`, which works on *any* Inspect sandbox: on the gcop sandbox it
goes straight to the pool; on Inspect's ``docker``, ``k8s`` or ``local`` sandboxes it copies the
runner in (unless the image already has it, as the gcop image does) and runs its ``once`` mode
there, so the verdict rules are the same everywhere.

Registered through the ``inspect_ai`` entry point in ``pyproject.toml``.
"""

from __future__ import annotations

import asyncio
import json
import shlex
import sys
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal, overload

from inspect_ai.util import ExecResult, SandboxEnvironment, SandboxEnvironmentConfigType, sandboxenv
from pydantic import BaseModel, Field

from gcop.sandbox.executors import (
    DEFAULT_IMAGE,
    HOST_GRACE_S,
    VERDICT_HASH_SEED,
    Executor,
    local_runner,
    make_executor,
    remove_stale_containers,
)
from gcop.sandbox.protocol import Status, TestJob, Verdict

#: Where the gcop image keeps the runner (a package on the image's PYTHONPATH, run with -m); in
#: another image the runner's zipapp is copied to RUNNER_COPY first.
IMAGE_RUNNER_ROOT = "/opt/gcop"
IMAGE_RUNNER_PATH = f"{IMAGE_RUNNER_ROOT}/runner/__main__.py"
RUNNER_COPY = ".gcop_runner.pyz"


class GcopSandboxConfig(BaseModel, frozen=True):
    """Configuration of the ``gcop`` sandbox: which executor, how many sandboxes, and (docker) on
    which engines: ``docker_hosts`` as ``URL[=N]`` (default: ``$GCOP_DOCKER_HOSTS``, else the
    environment's engine)."""

    executor: Literal["docker", "local"] = "docker"
    workers: int = Field(default=2, ge=1)
    image: str = DEFAULT_IMAGE
    docker_hosts: tuple[str, ...] = ()


def _config(config: SandboxEnvironmentConfigType | None) -> GcopSandboxConfig:
    if config is None:
        return GcopSandboxConfig()
    if isinstance(config, GcopSandboxConfig):
        return config
    if isinstance(config, str):
        # Inspect resolves a string config against the task's directory, as a file path.
        path = Path(config)
        if path.is_file():
            import yaml

            try:
                return GcopSandboxConfig(**(yaml.safe_load(path.read_text()) or {}))
            except Exception as exc:  # noqa: BLE001 - YAML or validation errors, with the file named
                raise ValueError(f"{path}: not a valid gcop sandbox config: {exc}") from exc
        if path.name in ("docker", "local"):
            return GcopSandboxConfig(executor=path.name)  # type: ignore[arg-type]
        raise ValueError(
            f"gcop sandbox config must be 'docker', 'local', a YAML file with executor/workers/image/docker_hosts, "
            f"or a GcopSandboxConfig; got {config!r}"
        )
    if isinstance(config, BaseModel):
        return GcopSandboxConfig(**config.model_dump())
    raise TypeError(f"unsupported gcop sandbox config {config!r}")


_NOT_GENERAL = (
    "the gcop sandbox only judges gcop test jobs (see gcop.sandbox.inspect_provider.run_test_job); "
    "use Inspect's 'docker' sandbox with the gcop-sandbox image for general commands"
)


class _Pools:
    """The warm pools of one sandbox lifecycle: one per configuration, for the whole eval run
    (Inspect calls task_init("startup", config) and task_cleanup("shutdown", config) once per
    configuration, not once per task)."""

    def __init__(self) -> None:
        self.pools: dict[GcopSandboxConfig, Executor] = {}
        self.locks: dict[GcopSandboxConfig, asyncio.Lock] = {}


# The pools live in Inspect's per-run sandbox state (the lifecycle scope its eval opens before any
# task starts), as Inspect's own docker provider keeps its registry; outside a scope (the provider
# driven directly), in a ContextVar bound by whoever first needs them.
_OWNERLESS_POOLS: ContextVar[_Pools | None] = ContextVar("gcop_sandbox_pools", default=None)


def _run_pools() -> _Pools:
    try:
        from inspect_ai.util._sandbox.lifecycle import sandbox_lifecycle_state  # no public name for it
    except ImportError:  # pragma: no cover - an Inspect without lifecycle scopes
        scope = None
    else:
        scope = sandbox_lifecycle_state()
    if scope is not None:
        return scope.get(_Pools)
    pools = _OWNERLESS_POOLS.get()
    if pools is None:
        pools = _Pools()
        _OWNERLESS_POOLS.set(pools)
    return pools


def open_pools() -> int:
    """How many warm pools this run holds open (0 once every task has cleaned up)."""
    return len(_run_pools().pools)


@sandboxenv(name="gcop")
class GcopSandboxEnvironment(SandboxEnvironment):
    """One sample's handle on its task's warm pool."""

    def __init__(self, pool: Executor) -> None:
        super().__init__()
        self.pool = pool

    async def run_job(self, job: TestJob) -> Verdict:
        return await self.pool.run(job)

    @classmethod
    async def _pool(cls, task_name: str, config: SandboxEnvironmentConfigType | None) -> Executor:
        key = cfg = _config(config)
        state = _run_pools()
        lock = state.locks.setdefault(key, asyncio.Lock())
        async with lock:
            pool = state.pools.get(key)
            if pool is None:
                kwargs: dict[str, Any] = {"image": cfg.image, "hosts": cfg.docker_hosts} if cfg.executor == "docker" else {}
                pool = make_executor(cfg.executor, workers=cfg.workers, **kwargs)
                await pool.start()
                state.pools[key] = pool
        return pool

    @classmethod
    async def task_init(cls, task_name: str, config: SandboxEnvironmentConfigType | None) -> None:
        await cls._pool(task_name, config)

    @classmethod
    async def sample_init(
        cls, task_name: str, config: SandboxEnvironmentConfigType | None, metadata: dict[str, str]
    ) -> dict[str, SandboxEnvironment]:
        return {"default": cls(await cls._pool(task_name, config))}

    @classmethod
    async def sample_cleanup(
        cls,
        task_name: str,
        config: SandboxEnvironmentConfigType | None,
        environments: dict[str, SandboxEnvironment],
        interrupted: bool,
    ) -> None:
        """Nothing to do: every job already ran in a fresh process and directory."""

    @classmethod
    async def task_cleanup(cls, task_name: str, config: SandboxEnvironmentConfigType | None, cleanup: bool) -> None:
        pool = _run_pools().pools.pop(_config(config), None)
        if pool is not None:
            await pool.close()

    @classmethod
    async def cli_cleanup(cls, id: str | None) -> None:

        await asyncio.to_thread(remove_stale_containers)

    @classmethod
    def config_deserialize(cls, config: dict[str, Any]) -> BaseModel:
        return GcopSandboxConfig(**config)

    @classmethod
    def default_concurrency(cls) -> int | None:
        return None  # the pool itself bounds how many jobs run at once

    async def exec(
        self,
        cmd: list[str],
        input: str | bytes | None = None,
        cwd: str | None = None,
        env: dict[str, str] | None = None,
        user: str | None = None,
        timeout: int | None = None,
        timeout_retry: bool = True,
        concurrency: bool = True,
    ) -> ExecResult[str]:
        raise NotImplementedError(_NOT_GENERAL)

    async def write_file(self, file: str, contents: str | bytes) -> None:
        raise NotImplementedError(_NOT_GENERAL)

    @overload
    async def read_file(self, file: str, text: Literal[True] = True) -> str: ...

    @overload
    async def read_file(self, file: str, text: Literal[False]) -> bytes: ...

    async def read_file(self, file: str, text: bool = True) -> str | bytes:
        raise NotImplementedError(_NOT_GENERAL)


def _last_json_line(text: str) -> dict[str, Any] | None:
    for line in reversed(text.strip().splitlines()):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


async def _run_in_generic_sandbox(env: SandboxEnvironment, job: TestJob) -> Verdict:
    """The runner's ``once`` mode inside any Inspect sandbox that has Python 3 and pytest."""
    from inspect_ai.util._sandbox.local import LocalSandboxEnvironment

    try:
        env.as_type(LocalSandboxEnvironment)
        is_local = True
    except TypeError:
        is_local = False
    env_vars = {"PYTHONHASHSEED": VERDICT_HASH_SEED}  # same verdicts as the pool's fork servers
    if is_local:
        # -P and the zipapp: the archive alone on the path, not a folder a local sample can write to.
        command, isolation = [sys.executable, "-P", str(local_runner())], "local"
    else:
        isolation = "container"
        probe = await env.exec(["sh", "-c", f"test -f {shlex.quote(IMAGE_RUNNER_PATH)}"], timeout=30)
        if probe.success:
            command = ["python3", "-P", "-m", "runner"]
            env_vars["PYTHONPATH"] = IMAGE_RUNNER_ROOT  # as the image sets it
        else:
            await env.write_file(RUNNER_COPY, local_runner().read_bytes())
            command = ["python3", RUNNER_COPY]
    limit = int(job.effective_timeout + HOST_GRACE_S)
    try:
        result = await env.exec(
            [*command, "once", "--isolation", isolation],
            input=json.dumps(job.to_wire()),
            env=env_vars,
            timeout=limit,
        )
    except TimeoutError:
        return Verdict(Status.TIMEOUT, f"sandbox gave no answer within {limit} s", executor="inspect")
    answer = _last_json_line(result.stdout)
    if answer is None:
        return Verdict(
            Status.ERROR,
            f"runner gave no answer (exit {result.returncode}): {result.stderr.strip()[-300:]}",
            executor="inspect",
        )
    return Verdict.from_wire(answer, executor="inspect")


async def run_test_job(job: TestJob, env: SandboxEnvironment | None = None) -> Verdict:
    """Judge ``job`` in ``env`` (default: the current sample's Inspect sandbox)."""
    if env is None:
        from inspect_ai.util import sandbox

        env = sandbox()
    try:  # Inspect hands out proxies; as_type unwraps them
        gcop_env = env.as_type(GcopSandboxEnvironment)
    except TypeError:
        return await _run_in_generic_sandbox(env, job)
    return await gcop_env.run_job(job)
