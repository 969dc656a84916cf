"""Executors: where test jobs run. One async interface, two implementations.

* :class:`DockerPoolExecutor` keeps a warm pool of hardened containers of the gcop sandbox image
  (no network, read-only root, tmpfs work dir, memory/CPU/pid limits, all capabilities dropped,
  no-new-privileges, non-root, none of the host's environment). Each container runs the fork
  server of :mod:`sandbox.runner` as PID 1 and is talked to over its attached stdin/stdout.
* :class:`LocalExecutor` runs the same fork server as a plain subprocess. **Weaker isolation**:
  rlimits and (where a network namespace can be made) no network, but the sample can read the
  host's files and signal processes of the same user. For machines without Docker.

Both retry a job once on an infrastructure error (engine down, container died under us) and
report it apart from failures; a sample that kills or poisons its sandbox gets the sandbox
replaced and never changes another sample's verdict.
"""

from __future__ import annotations

import abc
import asyncio
import hashlib
import json
import logging
import os
import shutil
import socket
import struct
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox.protocol import Status, TestJob, Verdict

log = logging.getLogger(__name__)

RUNNER_PATH = Path(__file__).with_name("runner.py")
DEFAULT_IMAGE = "gcop-sandbox:latest"
RUNNER_HASH_LABEL = "gcop.runner.sha256"
CONTAINER_LABEL = "gcop.sandbox"
#: The fork server's (and so every job's) str hash seed. Fixed, so that code whose result
#: depends on set or dict order of strings gets the same verdict on every run and every pool.
VERDICT_HASH_SEED = "0"
#: Extra seconds the host waits beyond a job's own limit before declaring the sandbox hung.
HOST_GRACE_S = 15.0
START_TIMEOUT_S = 60.0


class SandboxUnavailableError(RuntimeError):
    """The sandbox cannot be used at all (no engine, no image); the message says what to do."""


class InfrastructureError(Exception):
    """The sandbox failed under a job through no fault of the job; retried once.

    ``during_job`` says the sandbox died after it had been handed the job (rather than failing to
    start): when that happens on both attempts, the job itself is the likeliest cause.
    """

    def __init__(self, message: str, *, during_job: bool = False) -> None:
        super().__init__(message)
        self.during_job = during_job


class SandboxKilledBySample(Exception):
    """The job brought its sandbox down (e.g. out of memory); the job fails, the sandbox is replaced."""


class SandboxHung(Exception):
    """No answer within the job's limit plus a grace period; the sandbox is replaced."""


def runner_sha256() -> str:
    return hashlib.sha256(RUNNER_PATH.read_bytes()).hexdigest()


class _Worker(abc.ABC):
    """One sandbox that runs one job at a time. Starts lazily, restarts after ``reset``."""

    @abc.abstractmethod
    async def exchange(self, wire: dict[str, Any], timeout: float) -> dict[str, Any]: ...

    @abc.abstractmethod
    async def reset(self) -> None:
        """Throw the sandbox away; the next ``exchange`` starts a fresh one."""

    @abc.abstractmethod
    async def close(self) -> None: ...


class Executor(abc.ABC):
    """Runs :class:`TestJob` objects concurrently on ``workers`` sandboxes.

    Use as an async context manager, or call :meth:`start` and :meth:`close`.
    """

    name: str = "executor"

    def __init__(self, workers: int = 2) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.workers = workers
        self._idle: asyncio.Queue[_Worker] | None = None
        self._all: list[_Worker] = []

    async def __aenter__(self) -> "Executor":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        if self._idle is not None:
            return
        await self._check_available()
        self._all = [self._new_worker() for _ in range(self.workers)]
        # Warm every sandbox now, so the first jobs do not pay for start-up.
        results = await asyncio.gather(*(w.exchange({"ping": True}, START_TIMEOUT_S) for w in self._all), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            await asyncio.gather(*(w.close() for w in self._all), return_exceptions=True)
            raise SandboxUnavailableError(f"{self.name} executor could not start its sandboxes: {errors[0]}") from errors[0]
        self._idle = asyncio.Queue()
        for worker in self._all:
            self._idle.put_nowait(worker)

    async def close(self) -> None:
        await asyncio.gather(*(w.close() for w in self._all), return_exceptions=True)
        self._all = []
        self._idle = None

    async def run(self, job: TestJob) -> Verdict:
        """Judge one job. Never raises for anything the job does; infrastructure trouble that
        survives one retry comes back as ``Status.ERROR``."""
        if self._idle is None:
            await self.start()
        assert self._idle is not None
        worker = await self._idle.get()
        try:
            return await self._run_on(worker, job)
        finally:
            self._idle.put_nowait(worker)

    async def _run_on(self, worker: _Worker, job: TestJob) -> Verdict:
        wire = job.to_wire()
        limit = job.effective_timeout + HOST_GRACE_S
        last_error: BaseException | None = None
        deaths_during_job = 0
        for attempt in (1, 2):
            try:
                answer = await worker.exchange(wire, limit)
                if answer.get("retire"):
                    # The job left something its sandbox could not clean: judged, but the next
                    # job gets a fresh sandbox.
                    log.info("replacing the sandbox after job %r: %s", job.id, answer["retire"])
                    await worker.reset()
                return Verdict.from_wire(answer, attempts=attempt, executor=self.name)
            except SandboxKilledBySample as exc:
                await worker.reset()
                return Verdict(Status.FAILED, str(exc), attempts=attempt, executor=self.name)
            except SandboxHung:
                await worker.reset()
                return Verdict(
                    Status.TIMEOUT,
                    f"sandbox gave no answer within {limit:g} s; it was replaced",
                    attempts=attempt,
                    executor=self.name,
                )
            except InfrastructureError as exc:
                log.warning("sandbox infrastructure error on job %r (attempt %d): %s", job.id, attempt, exc)
                last_error = exc
                deaths_during_job += exc.during_job
                await worker.reset()
        if deaths_during_job == 2:
            # A fresh sandbox died under this job twice in a row: the job kills its sandbox (e.g.
            # it signals the local runner). That is the sample's failure, not the engine's.
            return Verdict(
                Status.FAILED,
                f"the sample brought its sandbox down on both attempts: {last_error}",
                attempts=2,
                executor=self.name,
            )
        return Verdict(Status.ERROR, f"sandbox infrastructure error, after one retry: {last_error}", attempts=2, executor=self.name)

    async def run_many(
        self,
        jobs: Sequence[TestJob],
        on_done: Callable[[int, Verdict], None] | None = None,
    ) -> list[Verdict]:
        """Judge many jobs on all workers; results in input order. ``on_done(index, verdict)``
        is called as each finishes (for progress bars)."""

        async def one(index: int, job: TestJob) -> Verdict:
            verdict = await self.run(job)
            if on_done is not None:
                on_done(index, verdict)
            return verdict

        return list(await asyncio.gather(*(one(i, job) for i, job in enumerate(jobs))))

    async def _check_available(self) -> None:
        """Raise SandboxUnavailableError with advice when the executor cannot work here."""

    @abc.abstractmethod
    def _new_worker(self) -> _Worker: ...


# --------------------------------------------------------------------------- local


class _LocalWorker(_Worker):
    def __init__(self) -> None:
        self._proc: asyncio.subprocess.Process | None = None
        self._work_root: str | None = None

    async def _ensure(self) -> asyncio.subprocess.Process:
        if self._proc is not None and self._proc.returncode is None:
            return self._proc
        await self.reset()
        self._work_root = tempfile.mkdtemp(prefix="gcop-local-")
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONHASHSEED": VERDICT_HASH_SEED,
            "GCOP_WORK_ROOT": self._work_root,
        }
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable, str(RUNNER_PATH), "serve", "--isolation", "local",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            env=env,
            cwd=self._work_root,
            limit=16 * 1024 * 1024,
            # A process group of its own: a sample that signals its runner's group
            # (os.killpg(os.getpgid(os.getppid()), ...)) must not reach the host process.
            start_new_session=True,
        )
        assert self._proc.stdout is not None
        hello = await asyncio.wait_for(self._proc.stdout.readline(), START_TIMEOUT_S)
        if not hello:
            raise InfrastructureError("local runner exited before it was ready")
        return self._proc

    async def exchange(self, wire: dict[str, Any], timeout: float) -> dict[str, Any]:
        try:
            proc = await self._ensure()
        except (OSError, asyncio.TimeoutError) as exc:
            raise InfrastructureError(f"cannot start the local runner: {exc!r}") from exc
        if wire.get("ping"):
            return {"ready": True}
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(json.dumps(wire).encode() + b"\n")
            await proc.stdin.drain()
            line = await asyncio.wait_for(proc.stdout.readline(), timeout)
        except asyncio.TimeoutError as exc:
            raise SandboxHung() from exc
        except (ConnectionError, OSError) as exc:
            raise InfrastructureError(f"local runner pipe broke: {exc!r}", during_job=True) from exc
        if not line:
            raise InfrastructureError(f"local runner died (exit code {await proc.wait()})", during_job=True)
        return json.loads(line)

    async def reset(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.returncode is None:
            proc.kill()
            await proc.wait()
        if self._work_root:
            shutil.rmtree(self._work_root, ignore_errors=True)
            self._work_root = None

    async def close(self) -> None:
        await self.reset()


class LocalExecutor(Executor):
    """Fork server in a local subprocess: weaker isolation, see the module docstring."""

    name = "local"

    def _new_worker(self) -> _Worker:
        return _LocalWorker()


# --------------------------------------------------------------------------- docker


@dataclass(frozen=True)
class ContainerLimits:
    memory_mb: int = 1024
    cpus: float = 1.0
    pids: int = 128
    work_tmpfs_mb: int = 256
    tmp_tmpfs_mb: int = 64
    nofile: int = 1024


class _DockerWorker(_Worker):
    def __init__(self, client: Any, image: str, limits: ContainerLimits) -> None:
        self._client = client
        self._image = image
        self._limits = limits
        self._container_id: str | None = None
        self._sock: socket.socket | None = None
        self._buffer = b""
        self._stderr_tail = b""

    # All docker-py calls block, so they run in a thread; one job at a time per worker.
    async def exchange(self, wire: dict[str, Any], timeout: float) -> dict[str, Any]:
        return await asyncio.to_thread(self._exchange_sync, wire, timeout)

    async def reset(self) -> None:
        await asyncio.to_thread(self._remove_sync)

    async def close(self) -> None:
        await self.reset()

    def _create_sync(self) -> None:
        import docker.types

        api = self._client.api
        lim = self._limits
        host_config = api.create_host_config(
            network_mode="none",
            read_only=True,
            tmpfs={
                "/work": f"rw,nosuid,nodev,noexec,size={lim.work_tmpfs_mb}m,uid=10001,gid=10001,mode=0700",
                "/tmp": f"rw,nosuid,nodev,noexec,size={lim.tmp_tmpfs_mb}m,mode=1777",
            },
            mem_limit=f"{lim.memory_mb}m",
            memswap_limit=f"{lim.memory_mb}m",
            nano_cpus=int(lim.cpus * 1e9),
            pids_limit=lim.pids,
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            ulimits=[
                docker.types.Ulimit(name="nofile", soft=lim.nofile, hard=lim.nofile),
                docker.types.Ulimit(name="core", soft=0, hard=0),
            ],
            shm_size="16m",
            ipc_mode="private",
        )
        container = api.create_container(
            self._image,
            command=["python3", "/opt/gcop/runner.py", "serve", "--isolation", "container"],
            user="10001:10001",
            working_dir="/work",
            stdin_open=True,
            tty=False,
            network_disabled=True,
            environment={"GCOP_WORK_ROOT": "/work", "PYTHONHASHSEED": VERDICT_HASH_SEED},
            labels={CONTAINER_LABEL: "1"},
            host_config=host_config,
        )
        self._container_id = container["Id"]
        raw = api.attach_socket(self._container_id, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
        self._sock = getattr(raw, "_sock", raw)
        self._buffer = b""
        self._stderr_tail = b""
        api.start(self._container_id)
        hello = self._read_line(START_TIMEOUT_S)
        if not json.loads(hello).get("ready"):
            raise InfrastructureError(f"sandbox runner did not say it was ready: {hello[:200]!r}")

    def _exchange_sync(self, wire: dict[str, Any], timeout: float) -> dict[str, Any]:
        import docker.errors
        import requests.exceptions

        try:
            if self._sock is None:
                self._create_sync()
            if wire.get("ping"):
                return {"ready": True}
            assert self._sock is not None
            self._sock.settimeout(timeout)
            self._sock.sendall(json.dumps(wire).encode() + b"\n")
            return json.loads(self._read_line(timeout))
        except socket.timeout as exc:
            raise SandboxHung() from exc
        except _StreamClosed as exc:
            raise self._why_closed(exc) from exc
        except (docker.errors.DockerException, requests.exceptions.RequestException, OSError, ValueError) as exc:
            raise InfrastructureError(f"{type(exc).__name__}: {exc}") from exc

    def _read_line(self, timeout: float) -> bytes:
        """Read one line of the container's stdout from the multiplexed attach stream."""
        assert self._sock is not None
        self._sock.settimeout(timeout)
        while b"\n" not in self._buffer:
            header = self._recv_exactly(8)
            stream, size = header[0], struct.unpack(">I", header[4:])[0]
            payload = self._recv_exactly(size)
            if stream == 1:
                self._buffer += payload
            else:
                self._stderr_tail = (self._stderr_tail + payload)[-4000:]
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line

    def _recv_exactly(self, n: int) -> bytes:
        assert self._sock is not None
        chunks = []
        while n:
            data = self._sock.recv(min(n, 1 << 20))
            if not data:
                raise _StreamClosed()
            chunks.append(data)
            n -= len(data)
        return b"".join(chunks)

    def _why_closed(self, exc: Exception) -> Exception:
        """The container's stream ended mid-job: the sample's doing (OOM) or the engine's."""
        state: dict[str, Any] = {}
        try:
            if self._container_id:
                state = self._client.api.inspect_container(self._container_id).get("State", {})
        except Exception as inspect_error:  # noqa: BLE001 - the engine may be gone entirely
            return InfrastructureError(f"sandbox container vanished: {inspect_error}")
        if state.get("OOMKilled"):
            return SandboxKilledBySample("memory limit exceeded: the sample's container was killed out of memory")
        stderr = self._stderr_tail.decode("utf-8", "replace").strip()[-500:]
        message = f"sandbox container stopped (status {state.get('Status')!r}, exit code {state.get('ExitCode')!r})"
        return InfrastructureError(message + (f": {stderr}" if stderr else ""), during_job=True)

    def _remove_sync(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass
        cid, self._container_id = self._container_id, None
        if cid is not None:
            try:
                self._client.api.remove_container(cid, force=True)
            except Exception as exc:  # noqa: BLE001 - best effort; a leftover is labelled for cleanup
                log.warning("could not remove sandbox container %s: %s", cid[:12], exc)


class _StreamClosed(Exception):
    pass


class DockerPoolExecutor(Executor):
    """A warm pool of hardened sandbox containers (see the module docstring)."""

    name = "docker"

    def __init__(self, workers: int = 2, image: str = DEFAULT_IMAGE, limits: ContainerLimits | None = None) -> None:
        super().__init__(workers)
        self.image = image
        self.limits = limits or ContainerLimits()
        self._client: Any = None

    async def _check_available(self) -> None:
        await asyncio.to_thread(self._check_sync)

    def _check_sync(self) -> None:
        try:
            import docker
        except ImportError as exc:  # pragma: no cover - docker is a core dependency
            raise SandboxUnavailableError("the 'docker' Python package is not installed") from exc
        try:
            client = docker.from_env(timeout=30)
            client.ping()
        except Exception as exc:  # noqa: BLE001 - any failure here means "no engine"
            raise SandboxUnavailableError(
                f"Docker is not reachable ({type(exc).__name__}: {exc}). Start the Docker engine "
                "(e.g. `sudo systemctl start docker`, or `sudo ../shared/tools/docker-up.sh` on the "
                "project's machines), or run with `--executor local` (weaker isolation)."
            ) from exc
        try:
            image = client.images.get(self.image)
        except docker.errors.ImageNotFound as exc:
            raise SandboxUnavailableError(
                f"sandbox image {self.image!r} not found. Build it with `gcop sandbox build` "
                "(or `gcop sandbox build --debootstrap` on hosts with no container registry)."
            ) from exc
        built_with = (image.labels or {}).get(RUNNER_HASH_LABEL)
        if built_with and built_with != runner_sha256():
            log.warning(
                "sandbox image %s was built from another version of sandbox/runner.py; "
                "rebuild it with `gcop sandbox build`",
                self.image,
            )
        self._client = client

    def _new_worker(self) -> _Worker:
        return _DockerWorker(self._client, self.image, self.limits)

    async def close(self) -> None:
        await super().close()
        if self._client is not None:
            self._client.close()
            self._client = None


EXECUTORS = ("docker", "local")


def make_executor(kind: str = "docker", workers: int = 2, **kwargs: Any) -> Executor:
    """``docker`` (hardened warm pool) or ``local`` (weaker isolation, no Docker needed)."""
    if kind == "docker":
        return DockerPoolExecutor(workers=workers, **kwargs)
    if kind == "local":
        return LocalExecutor(workers=workers)
    raise ValueError(f"unknown executor {kind!r}; expected one of {', '.join(EXECUTORS)}")


def docker_image_available(image: str = DEFAULT_IMAGE) -> bool:
    """Whether a Docker engine answers and holds the sandbox ``image`` (for choosing an executor;
    :meth:`DockerPoolExecutor.start` gives the reason when it cannot start)."""
    try:
        import docker

        client = docker.from_env(timeout=10)
        try:
            client.ping()
            client.images.get(image)
        finally:
            client.close()
        return True
    except Exception:  # noqa: BLE001 - no SDK, no engine, no image: not available
        return False


def remove_stale_containers() -> int:
    """Remove sandbox containers left behind by a crashed process. Returns how many."""
    import docker

    client = docker.from_env()
    stale = client.containers.list(all=True, filters={"label": f"{CONTAINER_LABEL}=1"})
    for container in stale:
        container.remove(force=True)
    return len(stale)
