"""Sandbox soak: 20,000 KodCode jobs through one Docker pool; resources flat, verdicts right.

One :class:`gcop.sandbox.executors.DockerPoolExecutor` (``make_executor("docker", workers=2)``) judges
``--jobs`` jobs (20,000) cycled from the KodCode sample's templates, as ``gcop selfcheck`` builds
them: every problem's reference solution (``gcop.evals.verification.prepare_judgement`` on the spec's
reference answer, expected to pass) and every recorded trial (``Benchmark.recorded_trials``, run
verbatim as KodCode's runner ran it, expected to get KodCode's recorded verdict). Jobs are fed in
order by ``2 x workers`` coroutines calling ``pool.run`` (so at most that many are in flight and
job ``i`` is the ``i``-th template of the cycle).

Measured:

* **resources**, sampled every ``--sample-interval`` s during the first and the last ``--window``
  (1,000) jobs (and every ``--timeline-interval`` s in between, for the timeline): each pool
  container's memory from the Docker stats API (``usage`` less inactive file pages, as
  ``docker stats`` shows it, and the raw usage), the processes inside it (``pids_stats.current``
  and ``container.top()``), and this process's open file descriptors (``/proc/self/fd``),
  threads and RSS. Each figure's last-window value over its first-window value (medians; the
  maximum for descriptors) must be within ``--tolerance`` (10%) or within a small absolute slack
  (stated in the JSON) -- "flat".
* **zombies** after the last job: processes in state Z inside each pool container (``ps`` via
  ``container.top``), then, once the pool is closed, children of this process in state Z, and
  pool containers left behind.
* **throughput**: jobs/s of each consecutive ``--window`` jobs, over the run.
* **verdicts**: every job's verdict against its expected outcome; disagreements counted (and
  which templates, how often), statuses counted.
* **containers**: how many the pool used (it replaces a container when the runner asks it to,
  "retire", or when one dies or hangs): distinct container ids seen on the pool's workers,
  replacements logged by the executor, and ``create`` events of gcop sandbox containers from the
  Docker engine during the run (the last also counts other processes' sandbox containers, if any
  ran meanwhile). ``foreign_containers_seen`` counts other processes' sandbox containers seen at
  the samples (they share the machine's CPUs, so they explain throughput dips; the timeline and
  each window say when).

Run from the repo root with Docker up and the image built::

    .venv/bin/python bench/bench_soak.py [--jobs 20000] [--workers 2] [--window 1000]
    .venv/bin/python bench/bench_soak.py --quick --output /tmp/soak.json     # 600 jobs, windows of 200

Writes ``reports/benchmarks/soak.json`` (and prints a summary).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import dataclasses
import json
import logging
import os
import platform
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.provenance import code_version  # noqa: E402
from gcop.evals.benchmarks import get_benchmark  # noqa: E402
from gcop.evals.verification import prepare_judgement  # noqa: E402
from gcop.sandbox.executors import CONTAINER_LABEL, make_executor  # noqa: E402
from gcop.sandbox.protocol import TestJob  # noqa: E402

OUT = ROOT / "reports" / "benchmarks" / "soak.json"
#: Absolute slack under which a change counts as flat whatever the ratio (small integer counts).
SLACK = {"memory_mib": 4.0, "raw_usage_mib": 8.0, "host_fds": 2, "container_pids": 1, "host_threads": 2, "host_rss_mib": 16.0}


# --------------------------------------------------------------------------- jobs


def templates(data_dir: str | None) -> list[tuple[str, TestJob, bool, str]]:
    """(id, job, expected passed, kind) for every KodCode reference and recorded trial."""
    spec = get_benchmark("kodcode")
    out: list[tuple[str, TestJob, bool, str]] = []
    problems = spec.load(None, data_dir)
    for problem in problems:
        sample = spec.sample(problem)
        target = sample.target if isinstance(sample.target, str) else "".join(sample.target)
        job = prepare_judgement(spec.name, spec.reference_answer(problem), target=target,
                                metadata=sample.metadata or {}, sample_id=problem.id)
        if not isinstance(job, TestJob):
            raise RuntimeError(f"reference of {problem.id} was judged without the sandbox: {job}")
        out.append((f"{problem.id}/reference", job, True, "reference"))
    for problem in problems:
        for trial_id, job, expected in spec.recorded_trials(problem):
            out.append((trial_id, job, bool(expected), "trial"))
    return out


# --------------------------------------------------------------------------- sampling


def _mib(n: float) -> float:
    return round(n / 2**20, 2)


def _host() -> dict[str, float]:
    fds = len(os.listdir("/proc/self/fd"))
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return {"host_fds": fds, "host_threads": int(status["Threads"].strip()),
            "host_rss_mib": round(int(status["VmRSS"].split()[0]) / 1024, 1)}


def _working_set(memory: dict[str, Any]) -> tuple[float, float]:
    """(usage less inactive file pages, raw usage) in bytes, as the docker CLI computes it."""
    usage = float(memory.get("usage") or 0)
    stats = memory.get("stats") or {}
    inactive = stats.get("total_inactive_file", stats.get("inactive_file"))
    if inactive is None:
        inactive = stats.get("cache", 0)
    return max(0.0, usage - float(inactive)), usage


def _top(api: Any, cid: str) -> list[dict[str, str]]:
    """Processes of a container: pid, ppid, state, command (``ps`` on the host, via the engine)."""
    top = api.top(cid, ps_args="-o pid,ppid,stat,comm")
    titles = [t.upper() for t in top.get("Titles") or []]
    return [dict(zip(titles, row, strict=False)) for row in top.get("Processes") or []]


class Sampler(threading.Thread):
    """Samples the pool's containers and this process on its own thread and Docker client."""

    def __init__(self, pool: Any, progress: list[int], total: int, window: int, interval: float,
                 timeline_interval: float) -> None:
        super().__init__(name="soak-sampler", daemon=True)
        import docker

        self.client = docker.from_env(timeout=30)
        self.pool, self.progress, self.total, self.window = pool, progress, total, window
        self.interval, self.timeline_interval = interval, timeline_interval
        self.samples: list[dict[str, Any]] = []
        self.container_ids: list[str] = []  # in order first seen on the pool's workers
        self.foreign: set[str] = set()
        self.stop_event = threading.Event()
        self.errors: collections.Counter[str] = collections.Counter()
        self.zombies_seen = 0

    def pool_containers(self) -> list[str]:
        ids = []
        for worker in list(getattr(self.pool, "_all", [])):
            cid = getattr(worker, "_container_id", None)
            if cid:
                ids.append(cid)
                if cid not in self.container_ids:
                    self.container_ids.append(cid)
        return ids

    def phase(self, done: int) -> str:
        if done < self.window:
            return "first"
        if done >= self.total - self.window:
            return "last"
        return "middle"

    def sample(self, phase: str, done: int) -> dict[str, Any]:
        row: dict[str, Any] = {"t": round(time.monotonic(), 3), "done": done, "phase": phase, **_host(), "containers": []}
        mine = self.pool_containers()
        try:  # sandbox containers of other processes (other runs or tests on this engine share its CPUs)
            others = {c["Id"] for c in self.client.api.containers(filters={"label": f"{CONTAINER_LABEL}=1"})} - set(self.container_ids)
            self.foreign |= others
            row["foreign_containers"] = len(others)
        except Exception as exc:  # noqa: BLE001
            self.errors[type(exc).__name__] += 1
        for cid in mine:
            try:
                stats = self.client.api.stats(cid, stream=False, one_shot=True)
                processes = _top(self.client.api, cid)
            except Exception as exc:  # noqa: BLE001 - replaced (retired) between listing and asking
                self.errors[type(exc).__name__] += 1
                continue
            working, usage = _working_set(stats.get("memory_stats") or {})
            zombies = sum(p.get("STAT", "").startswith("Z") for p in processes)
            self.zombies_seen += zombies
            row["containers"].append({"id": cid[:12], "memory_mib": _mib(working), "raw_usage_mib": _mib(usage),
                                      "pids": (stats.get("pids_stats") or {}).get("current"),
                                      "top_processes": len(processes), "zombies": zombies})
        row["sample_s"] = round(time.monotonic() - row["t"], 3)
        self.samples.append(row)
        return row

    def run(self) -> None:
        last_timeline = 0.0
        while not self.stop_event.is_set():
            done = self.progress[0]
            phase = self.phase(done)
            now = time.monotonic()
            if phase != "middle" or now - last_timeline >= self.timeline_interval:
                self.sample(phase, done)
                last_timeline = now
            self.stop_event.wait(self.interval)

    def note_foreign(self) -> None:
        mine = set(self.container_ids)
        for container in self.client.containers.list(all=True, filters={"label": f"{CONTAINER_LABEL}=1"}):
            if container.id not in mine:
                self.foreign.add(container.id)


class RetireCounter(logging.Handler):
    """Counts the executor's log lines about replacing a sandbox."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.counts: collections.Counter[str] = collections.Counter()
        self.examples: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("replacing the sandbox"):
            self.counts["retire"] += 1
        elif "infrastructure error" in message:
            self.counts["infrastructure_error"] += 1
        else:
            return
        if len(self.examples) < 10:
            self.examples.append(message[:300])


# --------------------------------------------------------------------------- the run


def _window_figures(samples: list[dict[str, Any]], phase: str) -> dict[str, Any]:
    rows = [s for s in samples if s["phase"] == phase]
    per_container = [c for s in rows for c in s["containers"]]

    def med(values: list[float]) -> float | None:
        return round(statistics.median(values), 2) if values else None

    return {
        "samples": len(rows),
        "container_samples": len(per_container),
        "memory_mib": {"median": med([c["memory_mib"] for c in per_container]),
                       "max": max((c["memory_mib"] for c in per_container), default=None)},
        "raw_usage_mib": {"median": med([c["raw_usage_mib"] for c in per_container]),
                          "max": max((c["raw_usage_mib"] for c in per_container), default=None)},
        "container_pids": {"median": med([c["pids"] for c in per_container if c["pids"] is not None]),
                           "max": max((c["pids"] for c in per_container if c["pids"] is not None), default=None)},
        "container_top_processes": {"median": med([c["top_processes"] for c in per_container]),
                                    "max": max((c["top_processes"] for c in per_container), default=None)},
        "host_fds": {"median": med([s["host_fds"] for s in rows]), "max": max((s["host_fds"] for s in rows), default=None)},
        "host_threads": {"median": med([s["host_threads"] for s in rows]), "max": max((s["host_threads"] for s in rows), default=None)},
        "host_rss_mib": {"median": med([s["host_rss_mib"] for s in rows]), "max": max((s["host_rss_mib"] for s in rows), default=None)},
        "zombies_seen_in_samples": sum(c["zombies"] for c in per_container),
        "samples_with_foreign_sandbox_containers": sum(1 for s in rows if s.get("foreign_containers")),
    }


def _flat(first: dict[str, Any], last: dict[str, Any], tolerance: float) -> dict[str, Any]:
    checks = {}
    for name, stat in (("memory_mib", "median"), ("raw_usage_mib", "median"), ("container_pids", "median"),
                       ("host_fds", "max"), ("host_threads", "max"), ("host_rss_mib", "median")):
        a, b = first[name][stat], last[name][stat]
        if a is None or b is None:
            checks[name] = {"statistic": stat, "first": a, "last": b, "ratio": None, "pass": False}
            continue
        ratio = round(b / a, 4) if a else (1.0 if b == a else None)
        ok = (ratio is not None and ratio <= 1 + tolerance) or (b - a) <= SLACK[name]
        checks[name] = {"statistic": stat, "first": a, "last": b, "ratio_last_over_first": ratio,
                        "absolute_change": round(b - a, 2), "pass": bool(ok)}
    return checks


def _host_zombies() -> list[dict[str, Any]]:
    me, found = os.getpid(), []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        comm_end = stat.rfind(")")
        fields = stat[comm_end + 2:].split()
        state, ppid = fields[0], int(fields[1])
        if ppid == me and state == "Z":
            found.append({"pid": int(entry.name), "comm": stat[stat.find("(") + 1:comm_end]})
    return found


async def soak(args: argparse.Namespace, cycle: list[tuple[str, TestJob, bool, str]]) -> dict[str, Any]:
    import docker

    counter = RetireCounter()
    logging.getLogger("gcop.sandbox.executors").addHandler(counter)
    logging.getLogger("gcop.sandbox.executors").setLevel(logging.INFO)
    engine = docker.from_env(timeout=30)
    events_since = int(time.time()) - 1

    total = args.jobs
    progress = [0]
    finished_at = [0.0] * total
    statuses: collections.Counter[str] = collections.Counter()
    disagree: collections.Counter[str] = collections.Counter()
    disagree_status: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    verdicts_by_template: dict[str, set[str]] = collections.defaultdict(set)
    attempts_2 = 0
    slowest: list[tuple[float, str]] = []

    started = time.perf_counter()
    pool = make_executor("docker", workers=args.workers)
    await pool.start()
    ready = time.perf_counter()
    sampler = Sampler(pool, progress, total, args.window, args.sample_interval, args.timeline_interval)
    sampler.start()
    next_index = 0

    async def feeder() -> None:
        nonlocal next_index, attempts_2
        while next_index < total:
            index = next_index
            next_index += 1
            template_id, job, expected, _kind = cycle[index % len(cycle)]
            verdict = await pool.run(dataclasses.replace(job, id=f"{template_id}#{index}"))
            statuses[verdict.status.value] += 1
            verdicts_by_template[template_id].add(verdict.status.value)
            attempts_2 += verdict.attempts > 1
            if verdict.passed != expected:
                disagree[template_id] += 1
                disagree_status[template_id][f"{verdict.status.value}: {verdict.reason[:120]}"] += 1
            slowest.append((verdict.duration_s, template_id))
            if len(slowest) > 64:
                slowest.sort(reverse=True)
                del slowest[10:]
            progress[0] += 1
            finished_at[progress[0] - 1] = time.perf_counter()

    try:
        await asyncio.gather(*(feeder() for _ in range(2 * args.workers)))
        ended = time.perf_counter()
        await asyncio.sleep(0.5)  # let the runner reap the last job's processes before looking
        sampler.stop_event.set()
        sampler.join(timeout=30)
        after_run = sampler.sample("after", progress[0])
        container_processes = {}
        for cid in sampler.pool_containers():
            container_processes[cid[:12]] = _top(sampler.client.api, cid)
        sampler.note_foreign()
    finally:
        sampler.stop_event.set()
        await pool.close()
    closed = time.perf_counter()
    logging.getLogger("gcop.sandbox.executors").removeHandler(counter)

    left_behind = []
    for cid in sampler.container_ids:
        try:
            engine.api.inspect_container(cid)
            left_behind.append(cid[:12])
        except docker.errors.NotFound:
            pass
    created = list(engine.events(since=events_since, until=int(time.time()) + 1, decode=True,
                                 filters={"type": "container", "event": "create", "label": f"{CONTAINER_LABEL}=1"}))
    host_zombies = _host_zombies()

    # throughput per window of jobs, from the pool's start
    windows = []
    previous = ready
    for end in range(args.window, total + 1, args.window):
        t = finished_at[end - 1]
        windows.append({"jobs": f"{end - args.window + 1}-{end}", "seconds": round(t - previous, 3),
                        "jobs_per_s": round(args.window / (t - previous), 2)})
        previous = t
    first, last = _window_figures(sampler.samples, "first"), _window_figures(sampler.samples, "last")
    flat = _flat(first, last, args.tolerance)
    container_zombies = sum(p.get("STAT", "").startswith("Z") for procs in container_processes.values() for p in procs)
    disagreements = sum(disagree.values())
    flaky = {k: sorted(v) for k, v in verdicts_by_template.items() if len(v) > 1}
    slowest.sort(reverse=True)
    rates = [w["jobs_per_s"] for w in windows]

    return {
        "jobs": total,
        "templates": {"total": len(cycle), "references": sum(k == "reference" for *_, k in cycle),
                      "trials": sum(k == "trial" for *_, k in cycle),
                      "expected_pass": sum(e for _, _, e, _ in cycle), "cycles": round(total / len(cycle), 2)},
        "seconds": {"total_with_start_and_close": round(closed - started, 2), "pool_start": round(ready - started, 3),
                    "jobs": round(ended - ready, 2), "pool_close": round(closed - ended, 3)},
        "throughput": {
            "jobs_per_s_overall": round(total / (ended - ready), 2),
            "per_window": windows,
            "first_window_jobs_per_s": rates[0] if rates else None,
            "last_window_jobs_per_s": rates[-1] if rates else None,
            "ratio_last_over_first": round(rates[-1] / rates[0], 3) if rates else None,
            "min_jobs_per_s": min(rates, default=None), "max_jobs_per_s": max(rates, default=None),
        },
        "verdicts": {
            "statuses": dict(statuses),
            "agree_with_expected": total - disagreements,
            "disagreements": disagreements,
            "disagreeing_templates": {k: {"times": n, "verdicts": dict(disagree_status[k])} for k, n in disagree.most_common()},
            "templates_with_varying_verdicts": flaky,
            "jobs_retried_after_infrastructure_error": attempts_2,
            "slowest_jobs_s": [{"template": t, "duration_s": round(d, 3)} for d, t in slowest[:5]],
        },
        "resources": {
            "first_window": first, "last_window": last,
            "flat": flat, "tolerance": args.tolerance, "absolute_slack": SLACK,
            "all_flat": all(c["pass"] for c in flat.values()),
            "after_run": after_run,
            "sampler_errors": dict(sampler.errors),
            "sample_seconds_median": round(statistics.median(s["sample_s"] for s in sampler.samples), 3),
            "timeline": [{"done": s["done"], "t_s": round(s["t"] - sampler.samples[0]["t"], 1), "host_fds": s["host_fds"],
                          "host_rss_mib": s["host_rss_mib"], "foreign_containers": s.get("foreign_containers"),
                          "memory_mib": [c["memory_mib"] for c in s["containers"]],
                          "pids": [c["pids"] for c in s["containers"]]}
                         for s in sampler.samples if s["phase"] in ("middle", "after")],
        },
        "zombies": {
            "in_containers_after_run": container_zombies,
            "container_processes_after_run": {cid: [f"{p.get('PID')} {p.get('STAT')} {p.get('COMMAND', p.get('COMM', ''))}"
                                                    for p in procs] for cid, procs in container_processes.items()},
            "host_children_after_close": len(host_zombies), "host_zombie_list": host_zombies,
            "seen_in_samples_during_run": sampler.zombies_seen,
            "pass": container_zombies == 0 and not host_zombies,
        },
        "containers": {
            "workers": args.workers,
            "distinct_seen_on_workers": len(sampler.container_ids),
            "replacements_logged": dict(counter.counts),
            "replacement_examples": counter.examples,
            "used_by_replacements": args.workers + sum(counter.counts.values()),
            "engine_create_events": {"total": len(created),
                                     "of_this_pool": sum(e.get("id") in sampler.container_ids for e in created),
                                     "note": "the engine keeps a bounded event backlog, so this can undercount"},
            "foreign_containers_seen": len(sampler.foreign),
            "left_behind_after_close": left_behind,
        },
        "samples": sampler.samples if args.keep_samples else None,
    }


CODE = code_version("sandbox/executors.py", "sandbox/runner")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=20_000, help="jobs through the one pool (default 20,000)")
    parser.add_argument("--workers", type=int, default=2, help="pool containers (default 2)")
    parser.add_argument("--window", type=int, default=1_000, help="jobs per measured window (default 1,000)")
    parser.add_argument("--sample-interval", type=float, default=0.5, help="seconds between samples in the first/last window")
    parser.add_argument("--timeline-interval", type=float, default=10.0, help="seconds between samples in between")
    parser.add_argument("--tolerance", type=float, default=0.10, help="allowed last/first growth (default 0.10)")
    parser.add_argument("--quick", action="store_true", help="smoke test: 600 jobs, windows of 200")
    parser.add_argument("--keep-samples", action="store_true", help="write every sample into the JSON")
    parser.add_argument("--data-dir", default=os.environ.get("GCOP_DATA_DIR") or str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--output", "--out", dest="output", default=str(OUT))
    args = parser.parse_args()
    if args.quick:
        args.jobs, args.window = 600, 200
    if args.jobs < 2 * args.window:
        parser.error("--jobs must be at least two windows")
    cycle = templates(args.data_dir)
    result = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "code": CODE,
        "parameters": {"jobs": args.jobs, "workers": args.workers, "window": args.window, "executor": "docker",
                       "sample_interval_s": args.sample_interval, "timeline_interval_s": args.timeline_interval,
                       "tolerance": args.tolerance, "quick": args.quick, "data_dir": args.data_dir},
        **asyncio.run(soak(args, cycle)),
    }
    if result["samples"] is None:
        del result["samples"]
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    summary = {k: result[k] for k in ("jobs", "seconds")}
    summary.update(throughput={k: v for k, v in result["throughput"].items() if k != "per_window"},
                   disagreements=result["verdicts"]["disagreements"], statuses=result["verdicts"]["statuses"],
                   flat={k: (v["ratio_last_over_first"] if "ratio_last_over_first" in v else None, v["pass"])
                         for k, v in result["resources"]["flat"].items()},
                   zombies=result["zombies"]["pass"], containers=result["containers"])
    print(json.dumps(summary, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
