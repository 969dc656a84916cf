"""The sandbox benchmark's KodCode comparison (bench/bench_sandbox.py): where the docker-run
baseline's runs fall among the pool's, and each ratio, checked against figures worked by hand."""

from __future__ import annotations

import itertools

from tests.bench import bench_script


def _bench():
    return bench_script("bench_sandbox")


def test_each_baseline_run_is_compared_with_the_pool_runs_beside_it():
    bench = _bench()
    order: list[str] = []
    pool_seconds = iter([2.0, 2.2, 1.8, 2.4, 2.0])  # the machine slows down, then recovers
    baseline_seconds = iter([42.0, 44.0])
    counter = itertools.count()

    def measure(kind: str, seconds) -> dict:
        order.append(kind)
        return {"seconds": next(seconds), "passed": 152, "total": 152, "n": next(counter)}

    pool, in_sessions, baseline, speedups = bench.pool_against_docker_run(
        lambda: measure("pool", pool_seconds),
        lambda: measure("session", iter([3.0])),
        lambda: measure("baseline", baseline_seconds),
        repeats=5, baseline_runs=2,
    )
    # Five turns of (pool, session); the baseline after the 2nd and after the 3rd turn.
    assert order == ["pool", "session"] * 2 + ["baseline"] + ["pool", "session"] + ["baseline"] + ["pool", "session"] * 2
    # 42 s beside pool runs of 2.2 s and 1.8 s: 42 / 2.0 = 21; 44 s beside 1.8 s and 2.4 s: 44 / 2.1.
    assert speedups == [42.0 / 2.0, 44.0 / 2.1]
    assert pool["seconds"] == 2.0 and pool["runs_s"] == [1.8, 2.0, 2.0, 2.2, 2.4]
    assert baseline["runs_s"] == [42.0, 44.0] and baseline["all_passed"]
    assert in_sessions["seconds"] == 3.0 and len(in_sessions["runs_s"]) == 5


def test_more_baseline_runs_than_repeats_still_have_a_pool_run_on_each_side():
    bench = _bench()
    order: list[str] = []

    def measure(kind: str) -> dict:
        order.append(kind)
        return {"seconds": 1.0, "passed": 1, "total": 1}

    *_, speedups = bench.pool_against_docker_run(
        lambda: measure("pool"), lambda: measure("session"), lambda: measure("baseline"), repeats=1, baseline_runs=3,
    )
    pools_before = [order[:i].count("pool") for i, kind in enumerate(order) if kind == "baseline"]
    assert pools_before == [1, 2, 3] and order.count("pool") == 4 and order[-1] == "session"
    assert speedups == [1.0, 1.0, 1.0]
