"""The soak benchmark's quick mode (bench/bench_soak.py --quick): 600 KodCode jobs through one
Docker pool, resources sampled in the first and last windows, verdicts checked, no zombies."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT, SHARED_DATA, docker_ready, needs_shared_data


@pytest.mark.docker
@pytest.mark.slow
@needs_shared_data
def test_soak_quick(tmp_path):
    if not docker_ready():
        pytest.skip("no Docker engine or sandbox image")
    out = tmp_path / "soak.json"
    run = subprocess.run(
        [sys.executable, str(REPO_ROOT / "bench" / "bench_soak.py"), "--quick", "--data-dir", str(SHARED_DATA),
         "--output", str(out)],
        capture_output=True, text=True, timeout=900, cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["parameters"]["jobs"] == 600 and report["parameters"]["window"] == 200
    assert report["templates"]["references"] == 152 and report["templates"]["trials"] == 417
    verdicts = report["verdicts"]
    assert sum(verdicts["statuses"].values()) == 600
    assert verdicts["disagreements"] == 0 and verdicts["agree_with_expected"] == 600, verdicts["disagreeing_templates"]
    assert "error" not in verdicts["statuses"]
    throughput = report["throughput"]
    assert len(throughput["per_window"]) == 3 and all(w["jobs_per_s"] > 0 for w in throughput["per_window"])
    resources = report["resources"]
    for window in (resources["first_window"], resources["last_window"]):
        assert window["samples"] > 0 and window["container_samples"] > 0
        assert window["memory_mib"]["median"] > 0 and window["host_fds"]["max"] > 0
    assert set(resources["flat"]) >= {"memory_mib", "container_pids", "host_fds"}
    assert resources["flat"]["host_fds"]["pass"], resources["flat"]
    assert report["zombies"]["pass"], report["zombies"]
    containers = report["containers"]
    assert containers["distinct_seen_on_workers"] >= 2 and containers["left_behind_after_close"] == []
    assert containers["used_by_replacements"] >= containers["workers"] == 2
    assert not any(tmp_path.glob("logs")), "the benchmark wrote into the working folder"
