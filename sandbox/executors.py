"""Executors: where test jobs run. One async interface, two implementations.

* :class:`DockerPoolExecutor` keeps a warm pool of hardened containers of the gcop sandbox image
  on one Docker engine or several (``hosts=``, ``$GCOP_DOCKER_HOSTS``) (no network, read-only root, tmpfs work dir, memory/CPU/pid limits, all capabilities dropped,
  no-new-privileges, non-root, none of the host's environment). Each container runs the fork
  server of :mod:`gcop.sandbox.runner` as PID 1 and is talked to over its attached stdin/stdout.
* :class:`LocalExecutor` runs the same fork server as a plain subprocess. **Weaker isolation**:
  rlimits and (where a network namespace can be made) no network, but the sample can read the
  host's files and signal processes of the same user. For machines without Docker.

Both retry a job once on an infrastructure error (engine down, container died under us) and
report it apart from failures; a pool over several engines re-runs the jobs of an engine that
went away on the others; a sample that kills or poisons its sandbox gets the sandbox
replaced and never changes another sample's verdict.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from gcop.sandbox.protocol import Status, TestJob, Verdict

log = logging.getLogger(__name__)

#: The in-sandbox runner, a package that knows nothing of gcop (see its docstring). The image holds
#: it as a directory (``python3 -P -m runner``); elsewhere it travels as one zipapp.
RUNNER_PACKAGE = Path(__file__).with_name("runner")
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


def _runner_sources() -> list[Path]:
    return sorted(RUNNER_PACKAGE.glob("*.py"))


def runner_sha256() -> str:
    """One hash of the runner's sources (the image is labelled with the one it was built from)."""
    digest = hashlib.sha256()
    for source in _runner_sources():
        data = source.read_bytes()
        digest.update(f"{source.name}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


#: Fixed entry times: the same sources always make the same zipapp bytes.
_ZIP_TIME = (2020, 1, 1, 0, 0, 0)


def runner_zipapp(directory: Path) -> Path:
    """Write the runner as one zipapp, ``<directory>/runner.pyz`` (``python3 runner.pyz serve``), and
    return its path. Beside each module it holds this interpreter's bytecode (unchecked hash-based
    .pyc, which zipimport loads without compiling; another Python version ignores them and compiles
    the sources): a runner that compiles 3,800 lines at every start is 30 ms slower to start and its
    processes larger, which every fork pays. On the import path it puts the archive alone, so a
    module planted beside it is never imported."""
    import py_compile
    import zipfile

    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "runner.pyz"
    partial = directory / ".runner.pyz.partial"
    with tempfile.TemporaryDirectory() as scratch, zipfile.ZipFile(partial, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr(zipfile.ZipInfo("__main__.py", _ZIP_TIME), "from runner.cli import main\n\nmain()\n")
        for source in _runner_sources():
            data = source.read_bytes()  # once: the .py and its .pyc are the same source
            copy, compiled = Path(scratch) / source.name, Path(scratch) / f"{source.stem}.pyc"
            copy.write_bytes(data)
            # optimize=0: the same bytes whatever this interpreter's -O, and docstrings kept (the
            # runner's command line reads one).
            py_compile.compile(str(copy), cfile=str(compiled), dfile=f"runner/{source.name}", doraise=True,
                               optimize=0, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
            archive.writestr(zipfile.ZipInfo(f"runner/{source.name}", _ZIP_TIME), data)
            archive.writestr(zipfile.ZipInfo(f"runner/{source.stem}.pyc", _ZIP_TIME), compiled.read_bytes())
    os.replace(partial, path)
    return path


#: The local zipapp and the sha256 of its bytes when it was made.
_LOCAL_RUNNER: list[tuple[Path, str]] = []


def local_runner() -> Path:
    """The zipapp a local server starts from, made once per process in a private temporary folder
    and checked before every start: a local sample runs as you and can write over it (its
    unchecked bytecode included), so one whose bytes changed is made again."""
    if _LOCAL_RUNNER:
        path, digest = _LOCAL_RUNNER[0]
        if path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == digest:
            return path
    import atexit

    folder = Path(tempfile.mkdtemp(prefix="gcop-runner-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    path = runner_zipapp(folder)
    _LOCAL_RUNNER[:] = [(path, hashlib.sha256(path.read_bytes()).hexdigest())]
    return path


class _Worker(abc.ABC):
    """One sandbox that runs one job at a time. Starts lazily, restarts after ``reset``."""

    @abc.abstractmethod
    async def exchange(self, wire: dict[str, Any], timeout: float) -> dict[str, Any]: ...

    @abc.abstractmethod
    async def reset(self) -> None:
        """Throw the sandbox away; the next ``exchange`` starts a fresh one."""

    @abc.abstractmethod
    async def close(self) -> None: ...


class _NoEngineLeft(Exception):
    """Every engine of the pool has gone away."""


@dataclass(eq=False)
class Engine:
    """One place sandboxes run (a Docker engine, or this machine for the local executor) and
    its share of the pool: ``size`` sandboxes, of which ``idle`` are free now."""

    name: str
    size: int
    url: str | None = None
    client: Any = None
    workers: list[_Worker] = field(default_factory=list)
    idle: list[_Worker] = field(default_factory=list)
    busy: set[int] = field(default_factory=set)  # id() of the workers running a job now
    alive: bool = True
    jobs: int = 0
    lost: int = 0  # times this engine went away during the run


class Executor(abc.ABC):
    """Runs :class:`TestJob` objects concurrently on sandboxes spread over one or more engines.

    Each job goes to the engine with the largest free share of its sandboxes. When a sandbox
    fails under a job, the engine is probed: an engine that has gone away is taken out of the
    pool (and probed again in the background) and the job re-runs on another engine; that is
    counted in ``infrastructure_retries`` and never judged twice, since a job's verdict is only
    ever read from the one sandbox that answered. Use as an async context manager, or call
    :meth:`start` and :meth:`close`.
    """

    name: str = "executor"
    #: Replace a sandbox after every job (see DockerPoolExecutor).
    fresh_per_job: bool = False
    #: Seconds between probes of an engine that went away.
    REPROBE_S = 10.0

    def __init__(self, workers: int = 2) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.workers = workers
        self.engines: list[Engine] = []
        self.infrastructure_retries = 0
        self._available: asyncio.Condition | None = None
        self._watchers: set[asyncio.Task[None]] = set()
        self._opened: list[Engine] | None = None  # engines open() connected, for start()

    async def __aenter__(self) -> Executor:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def _all(self) -> list[_Worker]:
        return [w for engine in self.engines for w in engine.workers]

    async def open(self) -> None:
        """Connect to the engines (for Docker: import its SDK, reach the engine, check the image)
        without starting a sandbox. Optional: :meth:`start` opens them itself. A caller with CPU
        work of its own to do (reading its samples) opens first, then does that work while the
        sandboxes start, so that the two overlap instead of competing for the same CPU."""
        if self._available is None and self._opened is None:
            self._opened = await self._open_engines()

    async def start(self) -> None:
        if self._available is not None:
            return
        engines, self._opened = self._opened or await self._open_engines(), None
        for engine in engines:
            engine.workers = [self._new_worker(engine) for _ in range(engine.size)]
        # Warm every sandbox now, so the first jobs do not pay for start-up.
        workers = [(engine, w) for engine in engines for w in engine.workers]
        results = await asyncio.gather(*(w.exchange({"ping": True}, START_TIMEOUT_S) for _, w in workers),
                                       return_exceptions=True)
        failed: dict[int, BaseException] = {}
        for (engine, _), result in zip(workers, results, strict=False):
            if isinstance(result, BaseException):
                failed.setdefault(id(engine), result)
        if failed and (len(engines) == 1 or len(failed) == len(engines)):
            await asyncio.gather(*(w.close() for _, w in workers), return_exceptions=True)
            await asyncio.to_thread(self._close_engines, engines)
            error = next(iter(failed.values()))
            raise SandboxUnavailableError(f"{self.name} executor could not start its sandboxes: {error}") from error
        self.engines = engines
        self._available = asyncio.Condition()
        for engine in engines:
            if id(engine) in failed:
                log.warning("sandbox engine %s could not start its sandboxes (%s); running on the others",
                            engine.name, failed[id(engine)])
                self._take_out(engine)
            else:
                engine.idle = list(engine.workers)

    async def close(self) -> None:
        for task in self._watchers:
            task.cancel()
        await asyncio.gather(*self._watchers, return_exceptions=True)
        self._watchers.clear()
        await asyncio.gather(*(w.close() for w in self._all), return_exceptions=True)
        opened_only, self._opened = self._opened or [], None
        await asyncio.to_thread(self._close_engines, self.engines + opened_only)
        for engine in self.engines:
            engine.idle = []
        self._available = None  # the engines stay listed, for engine_report() after a run

    def engine_report(self) -> list[dict[str, Any]]:
        """Per engine: its name, size, jobs judged there, whether it is up, times it was lost."""
        return [{"engine": e.name, "size": e.size, "jobs": e.jobs, "alive": e.alive, "lost": e.lost}
                for e in self.engines]

    async def _acquire(self) -> tuple[Engine, _Worker]:
        assert self._available is not None
        async with self._available:
            while True:
                free = [e for e in self.engines if e.alive and e.idle]
                if free:
                    engine = max(free, key=lambda e: len(e.idle) / e.size)
                    worker = engine.idle.pop()
                    engine.busy.add(id(worker))
                    return engine, worker
                if not any(e.alive for e in self.engines):
                    raise _NoEngineLeft()
                await self._available.wait()

    async def _release(self, engine: Engine, worker: _Worker) -> None:
        assert self._available is not None
        async with self._available:
            engine.busy.discard(id(worker))
            if engine.alive:
                engine.idle.append(worker)
            self._available.notify()

    def _take_out(self, engine: Engine) -> None:
        """Stop placing jobs on ``engine``; probe it in the background and put it back if it answers."""
        if not engine.alive:
            return
        engine.alive = False
        engine.lost += 1
        engine.idle = []
        task = asyncio.get_running_loop().create_task(self._watch(engine))
        self._watchers.add(task)
        task.add_done_callback(self._watchers.discard)

    async def _watch(self, engine: Engine) -> None:
        # Busy workers are reset by their own job's failure; resetting them here would race it.
        await asyncio.gather(*(w.reset() for w in engine.workers if id(w) not in engine.busy), return_exceptions=True)
        while not await self._engine_alive(engine):
            await asyncio.sleep(self.REPROBE_S)
        log.warning("sandbox engine %s answers again; placing jobs on it", engine.name)
        assert self._available is not None
        async with self._available:
            engine.alive = True
            engine.idle = [w for w in engine.workers if id(w) not in engine.busy]
            self._available.notify_all()

    async def run(self, job: TestJob) -> Verdict:
        """Judge one job. Never raises for anything the job does; infrastructure trouble that
        survives one retry (or leaves no engine) comes back as ``Status.ERROR``."""
        if self._available is None:
            await self.start()
        wire = job.to_wire()
        limit = job.effective_timeout + HOST_GRACE_S
        last_error: BaseException | None = None
        attempts = failures = deaths_during_job = 0
        while failures < 2:
            try:
                engine, worker = await self._acquire()
            except _NoEngineLeft:
                return Verdict(Status.ERROR, f"no sandbox engine left to run the job: {last_error}",
                               attempts=max(attempts, 1), executor=self.name)
            if attempts:
                self.infrastructure_retries += 1
            attempts += 1
            try:
                verdict = await self._attempt(engine, worker, job, wire, limit, attempts)
                engine.jobs += 1
                if len(self.engines) > 1:
                    verdict.extra["engine"] = engine.name
                return verdict
            except InfrastructureError as exc:
                log.warning("sandbox infrastructure error on job %r (attempt %d, engine %s): %s",
                            job.id, attempts, engine.name, exc)
                last_error = exc
                await worker.reset()
                if len(self.engines) > 1 and not await self._engine_alive(engine):
                    # The engine went away, not the job's sandbox: the job re-runs elsewhere
                    # and this attempt counts against neither the job nor its retry.
                    log.warning("sandbox engine %s went away; its jobs re-run on the others", engine.name)
                    assert self._available is not None
                    async with self._available:
                        self._take_out(engine)
                        self._available.notify_all()
                    continue
                failures += 1
                deaths_during_job += exc.during_job
            finally:
                await self._release(engine, worker)
        if deaths_during_job == 2:
            # A fresh sandbox died under this job twice in a row: the job kills its sandbox (e.g.
            # it signals the local runner). That is the sample's failure, not the engine's.
            return Verdict(
                Status.FAILED,
                f"the sample brought its sandbox down on both attempts: {last_error}",
                attempts=attempts,
                executor=self.name,
            )
        return Verdict(Status.ERROR, f"sandbox infrastructure error, after one retry: {last_error}",
                       attempts=attempts, executor=self.name)

    async def _attempt(self, engine: Engine, worker: _Worker, job: TestJob, wire: dict[str, Any], limit: float,
                       attempt: int) -> Verdict:
        """One try on one sandbox; raises InfrastructureError when the sandbox failed under it."""
        try:
            answer = await worker.exchange(wire, limit)
        except SandboxKilledBySample as exc:
            await worker.reset()
            return Verdict(Status.FAILED, str(exc), attempts=attempt, executor=self.name)
        except SandboxHung:
            await worker.reset()
            if len(self.engines) > 1 and not await self._engine_alive(engine):
                # No answer because the engine itself stopped answering (a machine cut off
                # without closing the connection): not the job's timeout.
                raise InfrastructureError(f"engine {engine.name} stopped answering during the job") from None
            return Verdict(
                Status.TIMEOUT,
                f"sandbox gave no answer within {limit:g} s; it was replaced",
                attempts=attempt,
                executor=self.name,
            )
        if answer.get("retire"):
            # The job left something its sandbox could not clean: judged, but the next
            # job gets a fresh sandbox.
            log.info("replacing the sandbox after job %r: %s", job.id, answer["retire"])
            await worker.reset()
        elif self.fresh_per_job:
            await worker.reset()
        return Verdict.from_wire(answer, attempts=attempt, executor=self.name)

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

    async def _open_engines(self) -> list[Engine]:
        """The engines to run on, checked (raise SandboxUnavailableError with advice when the
        executor cannot work here). One local engine by default."""
        return [Engine(name="local", size=self.workers)]

    async def _engine_alive(self, engine: Engine) -> bool:
        """Whether ``engine`` still answers (asked after a sandbox failed on it)."""
        return True

    def _close_engines(self, engines: list[Engine]) -> None:  # noqa: B027 - optional hook, nothing to release by default
        """Release what :meth:`_open_engines` opened (runs in a thread)."""

    @abc.abstractmethod
    def _new_worker(self, engine: Engine) -> _Worker: ...


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
            # -P and a zipapp: the archive alone is on the server's import path, not its folder. A
            # local sample can write there (it runs as you), and a module it planted would run in
            # the next server.
            sys.executable, "-P", str(local_runner()), "serve", "--isolation", "local",
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
        except (TimeoutError, OSError) as exc:
            raise InfrastructureError(f"cannot start the local runner: {exc!r}") from exc
        if wire.get("ping"):
            return {"ready": True}
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(json.dumps(wire).encode() + b"\n")
            await proc.stdin.drain()
            line = await asyncio.wait_for(proc.stdout.readline(), timeout)
        except TimeoutError as exc:
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

    def _new_worker(self, engine: Engine) -> _Worker:
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
            # As a module (-m), not a script: a script is compiled at every start, a module is
            # read from the bytecode the image holds. -P: the working directory is not on the path.
            command=["python3", "-P", "-m", "runner", "serve", "--isolation", "container"],
            user="10001:10001",
            working_dir="/work",
            stdin_open=True,
            tty=False,
            network_disabled=True,
            environment={"GCOP_WORK_ROOT": "/work", "PYTHONHASHSEED": VERDICT_HASH_SEED, "PYTHONPATH": "/opt/gcop"},
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
        except TimeoutError as exc:
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


#: Environment variable naming the Docker engines of a pool (comma- or space-separated
#: ``URL[=WORKERS]``), read when no ``hosts`` are given; unset: the engine ``DOCKER_HOST`` names.
DOCKER_HOSTS_ENV = "GCOP_DOCKER_HOSTS"


@dataclass(frozen=True)
class EngineSpec:
    """One Docker engine of a pool: its address as the Docker SDK takes it (``unix://``,
    ``tcp://``, ``ssh://``; None: the environment's default engine) and how many sandboxes to
    keep there (None: the pool's ``workers``; ``"auto"``: as many as its CPUs and memory hold)."""

    url: str | None = None
    workers: int | Literal["auto"] | None = None

    @classmethod
    def parse(cls, text: str) -> EngineSpec:
        """``URL`` or ``URL=N`` or ``URL=auto``."""
        url, sep, size = text.strip().rpartition("=") if "=" in text else (text.strip(), "", "")
        if not url:
            raise ValueError(f"empty Docker engine address in {text!r}")
        if "://" not in url:
            raise ValueError(f"Docker engine {url!r} has no scheme: expected unix://, tcp:// or ssh://")
        if not sep:
            return cls(url)
        if size == "auto":
            return cls(url, "auto")
        try:
            workers = int(size)
        except ValueError:
            raise ValueError(f"Docker engine {text!r}: the size after '=' must be a number or 'auto'") from None
        if workers < 1:
            raise ValueError(f"Docker engine {text!r}: the size must be >= 1")
        return cls(url, workers)


def engines_from_env(value: str | None = None) -> list[EngineSpec]:
    """The engines ``$GCOP_DOCKER_HOSTS`` names (empty when it is unset)."""
    value = os.environ.get(DOCKER_HOSTS_ENV, "") if value is None else value
    return [EngineSpec.parse(part) for part in value.replace(",", " ").split()]


def _docker_client(url: str | None, timeout: int = 30) -> Any:
    """A Docker SDK client for ``url``, with the environment's TLS settings (DOCKER_TLS_VERIFY,
    DOCKER_CERT_PATH) as ``docker.from_env`` applies them; ``ssh://`` goes through the ssh binary."""
    import docker
    from docker.utils import kwargs_from_env

    kwargs = kwargs_from_env()
    if url is not None:
        kwargs["base_url"] = url
        if not url.startswith("tcp://"):
            kwargs.pop("tls", None)
    return docker.DockerClient(timeout=timeout, use_ssh_client=str(kwargs.get("base_url", "")).startswith("ssh://"),
                               **kwargs)


class DockerPoolExecutor(Executor):
    """A warm pool of hardened sandbox containers (see the module docstring) on one or more
    Docker engines: ``hosts`` (:class:`EngineSpec` or ``URL[=N]`` strings), else
    ``$GCOP_DOCKER_HOSTS``, else the environment's engine."""

    name = "docker"

    def __init__(self, workers: int = 2, image: str = DEFAULT_IMAGE, limits: ContainerLimits | None = None,
                 hosts: Sequence[str | EngineSpec] | None = None, fresh_per_job: bool = False) -> None:
        super().__init__(workers)
        #: Replace each container after every job: no counter or clock a container keeps (cgroup
        #: statistics, load average) passes from one job to the next, at the price of a container
        #: start per job (``bench/bench_sandbox.py`` measures it).
        self.fresh_per_job = fresh_per_job
        self.image = image
        self.limits = limits or ContainerLimits()
        specs = [h if isinstance(h, EngineSpec) else EngineSpec.parse(h) for h in hosts or ()]
        self.hosts = specs or engines_from_env() or [EngineSpec()]
        if len({h.url for h in self.hosts}) != len(self.hosts):
            raise ValueError(f"a Docker engine is named twice: {[h.url for h in self.hosts]}")

    async def _open_engines(self) -> list[Engine]:
        opened = await asyncio.gather(*(asyncio.to_thread(self._open_sync, spec) for spec in self.hosts),
                                      return_exceptions=True)
        engines = [e for e in opened if isinstance(e, Engine)]
        errors = [e for e in opened if isinstance(e, BaseException)]
        if not engines:
            raise errors[0]
        for spec, result in zip(self.hosts, opened, strict=False):
            if isinstance(result, BaseException):
                # One engine of several is down at start: run on the others, say so.
                log.warning("sandbox engine %s left out of the pool: %s", spec.url, result)
        return engines

    def _open_sync(self, spec: EngineSpec) -> Engine:
        import docker

        where = f" at {spec.url}" if spec.url else ""
        try:
            client = _docker_client(spec.url)
            client.ping()
        except Exception as exc:  # noqa: BLE001 - any failure here means "no engine"
            raise SandboxUnavailableError(
                f"Docker{where} is not reachable ({type(exc).__name__}: {exc}). Start the Docker engine "
                "(e.g. `sudo systemctl start docker`, or `sudo ../shared/tools/docker-up.sh` on the "
                "project's machines), or run with `--executor local` (weaker isolation)."
            ) from exc
        try:
            image = client.images.get(self.image)
        except docker.errors.ImageNotFound as exc:
            client.close()
            raise SandboxUnavailableError(
                f"sandbox image {self.image!r} not found{' on the engine' + where if where else ''}. Build it "
                "with `gcop sandbox build` (or `gcop sandbox build --debootstrap` on hosts with no container "
                "registry)" + (", or copy it there: `docker save IMAGE | docker -H URL load`" if where else "") + "."
            ) from exc
        built_with = (image.labels or {}).get(RUNNER_HASH_LABEL)
        if built_with and built_with != runner_sha256():
            log.warning(
                "sandbox image %s%s was built from another version of sandbox/runner/; "
                "rebuild it with `gcop sandbox build`",
                self.image, where,
            )
        size = spec.workers or self.workers
        if size == "auto":
            info = client.info()
            by_cpu = int(info.get("NCPU", 1) // max(self.limits.cpus, 0.01))
            by_memory = int(info.get("MemTotal", 0) // (self.limits.memory_mb * 2**20))
            size = max(1, min(by_cpu, by_memory))
        name = spec.url or os.environ.get("DOCKER_HOST") or "the default Docker engine"
        return Engine(name=name, size=int(size), url=spec.url, client=client)

    async def _engine_alive(self, engine: Engine) -> bool:
        def ping() -> bool:
            try:
                with contextlib.closing(_docker_client(engine.url, timeout=5)) as probe:
                    return bool(probe.ping())
            except Exception:  # noqa: BLE001 - no answer of any kind: gone
                return False

        return await asyncio.to_thread(ping)

    def _close_engines(self, engines: list[Engine]) -> None:
        for engine in engines:
            if engine.client is not None:
                engine.client.close()
                engine.client = None

    def _new_worker(self, engine: Engine) -> _Worker:
        return _DockerWorker(engine.client, self.image, self.limits)


EXECUTORS = ("docker", "local")


def make_executor(kind: str = "docker", workers: int = 2, **kwargs: Any) -> Executor:
    """``docker`` (hardened warm pool; ``hosts=`` for several engines) or ``local`` (weaker
    isolation, no Docker needed)."""
    if kind == "docker":
        return DockerPoolExecutor(workers=workers, **kwargs)
    if kind == "local":
        return LocalExecutor(workers=workers)
    raise ValueError(f"unknown executor {kind!r}; expected one of {', '.join(EXECUTORS)}")


def docker_image_available(image: str = DEFAULT_IMAGE) -> bool:
    """Whether a Docker engine answers and holds the sandbox ``image`` (for choosing an executor;
    :meth:`DockerPoolExecutor.start` gives the reason when it cannot start)."""
    for spec in engines_from_env() or [EngineSpec()]:
        try:
            client = _docker_client(spec.url, timeout=10)
            try:
                client.ping()
                client.images.get(image)
            finally:
                client.close()
            return True
        except Exception:  # noqa: BLE001 - no SDK, no engine, no image: not available there
            continue
    return False


def remove_stale_containers() -> int:
    """Remove sandbox containers left behind by a crashed process, on every engine of
    ``$GCOP_DOCKER_HOSTS`` (else the default engine). Returns how many."""
    removed = 0
    specs = engines_from_env() or [EngineSpec()]
    for spec in specs:
        try:
            with contextlib.closing(_docker_client(spec.url)) as client:
                stale = client.containers.list(all=True, filters={"label": f"{CONTAINER_LABEL}=1"})
                for container in stale:
                    container.remove(force=True)
                removed += len(stale)
        except Exception as exc:  # noqa: BLE001 - one engine down must not keep the others dirty
            if len(specs) == 1:
                raise
            log.warning("could not clean sandbox containers on %s: %s", spec.url, exc)
    return removed
