"""The lockstep A/B benchmark of two sandboxes (bench/bench_runner_ab.py): its summary against
figures worked by hand, and its containers made with the pool's limits."""

from __future__ import annotations

from tests.bench import bench_script


def _bench():
    return bench_script("bench_runner_ab")


def test_the_figure_is_the_median_of_each_rounds_ratio():
    bench = _bench()
    rounds = [
        # the machine slows in round 2: both sides slow together, the ratio holds
        {"A": {"cpu_ms_per_job": 20.0, "faults_per_job": 2500.0, "python": "3.11.7"},
         "B": {"cpu_ms_per_job": 19.0, "faults_per_job": 2300.0, "python": "3.13.5"}},
        {"A": {"cpu_ms_per_job": 24.0, "faults_per_job": 2500.0, "python": "3.11.7"},
         "B": {"cpu_ms_per_job": 24.0, "faults_per_job": 2250.0, "python": "3.13.5"}},
        {"A": {"cpu_ms_per_job": 20.0, "faults_per_job": 2400.0, "python": "3.11.7"},
         "B": {"cpu_ms_per_job": 17.0, "faults_per_job": 2400.0, "python": "3.13.5"}},
    ]
    figures = bench.summarise(rounds)
    # B/A each round: 19/20 = 0.95, 24/24 = 1.0, 17/20 = 0.85; the median is 0.95 (the mean 0.933)
    assert figures["b_over_a_cpu_each_round"] == [0.95, 1.0, 0.85]
    assert figures["b_over_a_cpu"] == 0.95
    # faults: 2300/2500 = 0.92, 2250/2500 = 0.9, 2400/2400 = 1.0; the median is 0.92
    assert figures["b_over_a_faults"] == 0.92
    # each side's medians are of its own rounds: A's CPU 20, 24, 20 -> 20; B's faults -> 2300
    assert figures["A"]["cpu_ms_per_job"] == 20.0 and figures["B"]["faults_per_job"] == 2300
    assert figures["A"]["python"] == "3.11.7" and figures["B"]["python"] == "3.13.5"


def test_a_side_is_a_sandbox_with_the_pools_limits_and_a_read_only_runner():
    bench = _bench()
    from gcop.sandbox.executors import ContainerLimits

    limits = ContainerLimits(memory_mb=512, cpus=1.0, pids=64, work_tmpfs_mb=128, tmp_tmpfs_mb=32, nofile=256)
    argv = bench.sandbox_argv("some-image", "runner-copy", "/scratch/cid-A", limits)
    text = " ".join(argv)
    for flag in ("--network none", "--read-only", "--cap-drop ALL", "--security-opt no-new-privileges",
                 "--user 10001:10001", "--memory 512m", "--memory-swap 512m", "--pids-limit 64",
                 "--cpus 1.0", "--ulimit nofile=256:256", "size=128m", "size=32m", "--cidfile /scratch/cid-A"):
        assert flag in text, flag
    mount = argv[argv.index("-v") + 1]
    assert mount.endswith("runner-copy:/opt/gcop/runner:ro") and mount.startswith("/")
    assert argv[-8:] == ["some-image", "python3", "-P", "-m", "runner", "serve", "--isolation", "container"]
    assert "-v" not in bench.sandbox_argv("some-image", None, "/scratch/cid-B", limits)
