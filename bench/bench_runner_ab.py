"""Two sandboxes side by side: what a job costs in each, measured in the same minutes.

A change to the runner or to the image moves a job's cost by a few percent, while this machine's
speed drifts by up to 15% within minutes: two runs taken one after the other do not compare. Here
side A and side B are each one sandbox container, started with the pool's limits, and every job
is sent to both at once, so both sides meet the same drift. Per side and round: the container's
CPU a job and its page faults a job, read from its cgroup around the jobs (after a warm-up of 5),
and per round the ratio B/A; the figure is the median ratio.

A side is an image, and optionally a runner directory mounted over the image's
(``sandbox/runner`` of another checkout, or a copy with a change in it)::

    .venv/bin/python bench/bench_runner_ab.py --b-image gcop-sandbox:old [--jobs kodcode|humaneval] [--rounds 3]
    .venv/bin/python bench/bench_runner_ab.py --b-runner /tmp/changed/runner

Every job must pass on both sides (the same verdicts are the point of a speed change). Needs
Docker, the images, and the Docker cgroups readable (v1 ``cpuacct``/``memory``, or v2).
Writes ``reports/benchmarks/runner_ab_kodcode.json`` (or ``_humaneval``) and prints a summary.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_sandbox import hardened_docker_run  # noqa: E402
from bench.provenance import code_version  # noqa: E402
from gcop.evals.humaneval.spec import humaneval_job, load_humaneval  # noqa: E402
from gcop.evals.kodcode.spec import kodcode_job, load_kodcode  # noqa: E402
from gcop.sandbox.executors import DEFAULT_IMAGE, VERDICT_HASH_SEED, ContainerLimits  # noqa: E402

OUT = ROOT / "reports" / "benchmarks" / "runner_ab_{jobs}.json"
WARM_UP_JOBS = 5


def sandbox_argv(image: str, runner_dir: str | None, cid_file: str, limits: ContainerLimits) -> list[str]:
    """``docker run`` of a serving sandbox with the pool's limits (``_DockerWorker`` makes the same
    container through the API)."""
    argv = [
        *hardened_docker_run(limits),
        # what the pool's containers have beyond the baseline's one-shot ones
        "--ipc", "private", "--shm-size", "16m",
        "--ulimit", f"nofile={limits.nofile}:{limits.nofile}", "--ulimit", "core=0:0",
        "-w", "/work", "--cidfile", cid_file,
        "-e", f"PYTHONHASHSEED={VERDICT_HASH_SEED}", "-e", "PYTHONPATH=/opt/gcop",
    ]
    if runner_dir:
        argv += ["-v", f"{os.path.abspath(runner_dir)}:/opt/gcop/runner:ro"]
    return argv + [image, "python3", "-P", "-m", "runner", "serve", "--isolation", "container"]


def cgroup_counters(container_id: str) -> tuple[float, int]:
    """The container's CPU so far (seconds) and its page faults, from its cgroup (v1 or v2)."""
    v1 = Path("/sys/fs/cgroup/cpuacct/docker") / container_id / "cpuacct.usage"
    if v1.exists():
        cpu = int(v1.read_text()) / 1e9
        memory_stat = Path("/sys/fs/cgroup/memory/docker") / container_id / "memory.stat"
    else:
        scope = Path("/sys/fs/cgroup/system.slice") / f"docker-{container_id}.scope"
        if not scope.exists():
            raise RuntimeError(f"no cgroup found for container {container_id[:12]} (v1 cpuacct or v2 system.slice)")
        usage = dict(line.split() for line in (scope / "cpu.stat").read_text().splitlines())
        cpu = int(usage["usage_usec"]) / 1e6
        memory_stat = scope / "memory.stat"
    faults = dict(line.split() for line in memory_stat.read_text().splitlines())
    return cpu, int(faults["pgfault"])


class Side:
    """One serving sandbox: started, sent job lines, read answers from, stopped."""

    def __init__(self, name: str, image: str, runner_dir: str | None, limits: ContainerLimits, scratch: str) -> None:
        cid_file = os.path.join(scratch, f"cid-{name}")
        self.process = subprocess.Popen(sandbox_argv(image, runner_dir, cid_file, limits),
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.stdin: IO[str] = self.process.stdin  # type: ignore[assignment]
        self.stdout: IO[str] = self.process.stdout  # type: ignore[assignment]
        hello = json.loads(self.stdout.readline() or "{}")
        if not hello.get("ready"):
            self.stop()
            raise RuntimeError(f"side {name}: the sandbox did not start ({image}, runner {runner_dir or 'the image'})")
        self.python = hello.get("python")
        self.container_id = Path(cid_file).read_text().strip()

    def send(self, line: str) -> None:
        self.stdin.write(line + "\n")
        self.stdin.flush()

    def answer(self) -> dict[str, Any]:
        return json.loads(self.stdout.readline())

    def stop(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        self.process.wait(timeout=60)


def one_round(lines: list[str], sides: dict[str, tuple[str, str | None]], limits: ContainerLimits) -> dict[str, dict]:
    """Both sandboxes started, warmed up, then every job sent to both at once; each side's CPU and
    faults a job over the jobs (the warm-up left out)."""
    with tempfile.TemporaryDirectory(prefix="gcop-ab-") as scratch:
        started: dict[str, Side] = {}
        try:
            for name, (image, runner_dir) in sides.items():
                started[name] = Side(name, image, runner_dir, limits, scratch)
            for line in lines[:WARM_UP_JOBS]:
                for side in started.values():
                    side.send(line)
                for side in started.values():
                    side.answer()
            before = {name: cgroup_counters(side.container_id) for name, side in started.items()}
            failed: dict[str, list[str]] = {name: [] for name in started}
            for line in lines:
                for side in started.values():
                    side.send(line)
                for name, side in started.items():
                    answer = side.answer()
                    if answer.get("status") != "passed" or answer.get("retire"):
                        failed[name].append(f"{answer.get('id')}: {answer.get('status')} {answer.get('retire') or answer.get('reason')}")
            after = {name: cgroup_counters(side.container_id) for name, side in started.items()}
        finally:
            for side in started.values():
                side.stop()
    for name, failures in failed.items():
        if failures:
            raise RuntimeError(f"side {name}: {len(failures)} job(s) did not pass cleanly, e.g. {failures[0]}")
    return {name: {"cpu_ms_per_job": (after[name][0] - before[name][0]) / len(lines) * 1e3,
                   "faults_per_job": (after[name][1] - before[name][1]) / len(lines),
                   "python": started[name].python}
            for name in started}


def summarise(rounds: list[dict[str, dict]]) -> dict[str, Any]:
    """Per side the medians over the rounds; per round and in median, B over A."""
    out: dict[str, Any] = {}
    for name in ("A", "B"):
        rows = [r[name] for r in rounds]
        out[name] = {"python": rows[0]["python"],
                     "cpu_ms_per_job": round(statistics.median(r["cpu_ms_per_job"] for r in rows), 3),
                     "faults_per_job": round(statistics.median(r["faults_per_job"] for r in rows)),
                     "rounds": [{k: round(v, 3) if isinstance(v, float) else v for k, v in r.items()} for r in rows]}
    cpu = [r["B"]["cpu_ms_per_job"] / r["A"]["cpu_ms_per_job"] for r in rounds]
    faults = [r["B"]["faults_per_job"] / r["A"]["faults_per_job"] for r in rounds]
    out["b_over_a_cpu_each_round"] = [round(x, 3) for x in cpu]
    out["b_over_a_cpu"] = round(statistics.median(cpu), 3)
    out["b_over_a_faults"] = round(statistics.median(faults), 3)
    return out


def job_lines(which: str, data_dir: str | None) -> list[str]:
    if which == "kodcode":
        return [json.dumps(kodcode_job(p, p.solution).to_wire()) for p in load_kodcode(None, data_dir)]
    return [json.dumps(humaneval_job(p, p.canonical_solution).to_wire()) for p in load_humaneval()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--a-image", default=DEFAULT_IMAGE)
    parser.add_argument("--a-runner", default=None, help="runner directory mounted over side A's image's")
    parser.add_argument("--b-image", default=DEFAULT_IMAGE)
    parser.add_argument("--b-runner", default=None, help="runner directory mounted over side B's image's")
    parser.add_argument("--jobs", choices=["kodcode", "humaneval"], default="kodcode")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--data-dir", default=os.environ.get("GCOP_DATA_DIR", str(ROOT.parent / "shared" / "data")))
    parser.add_argument("--out", default=str(OUT), help="where the figures go ({jobs}: the job set's name)")
    args = parser.parse_args()
    sides = {"A": (args.a_image, args.a_runner), "B": (args.b_image, args.b_runner)}
    if sides["A"] == sides["B"]:
        parser.error("sides A and B are the same: name another --b-image or --b-runner")
    lines = job_lines(args.jobs, args.data_dir)
    rounds = [one_round(lines, sides, ContainerLimits()) for _ in range(args.rounds)]
    figures = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "code": code_version("sandbox/runner"),
        "jobs": f"{args.jobs}: {len(lines)} reference solutions, each sent to both sides at once",
        "sides": {name: {"image": image, "runner": runner or "the image's"} for name, (image, runner) in sides.items()},
        **summarise(rounds),
    }
    out = Path(args.out.format(jobs=args.jobs))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps({k: figures[k] for k in ("sides", "b_over_a_cpu", "b_over_a_cpu_each_round", "b_over_a_faults")}, indent=2))
    for name in ("A", "B"):
        print(f"{name}: Python {figures[name]['python']}, {figures[name]['cpu_ms_per_job']} ms CPU and "
              f"{figures[name]['faults_per_job']} page faults a job (medians of {args.rounds} rounds)")


if __name__ == "__main__":
    main()
