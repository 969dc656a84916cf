"""The load benchmark's quick mode (bench/bench_load.py --quick): 100 GSM8K samples, guided, both
roles on the fake Anthropic API, with and without 30% injected faults, as whole inspect processes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT, SHARED_DATA, needs_shared_data


@pytest.mark.slow
@needs_shared_data
def test_load_quick(tmp_path):
    out = tmp_path / "load.json"
    run = subprocess.run(
        [sys.executable, str(REPO_ROOT / "bench" / "bench_load.py"), "--quick", "--data-dir", str(SHARED_DATA),
         "--output", str(out)],
        capture_output=True, text=True, timeout=900, cwd=tmp_path,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["parameters"]["samples"] == 100 and report["parameters"]["max_connections"] == 64
    assert report["all_samples_scored_no_errors"]
    assert report["samples_lost"] == {"fault_free": 0, "faults": 0}
    for name, run_ in report["runs"].items():
        assert run_["samples_in_log"] == run_["samples_scored"] == run_["correct"] == 100, name
        assert run_["samples_with_error"] == 0 and run_["guide_valid"] == 100, name
        assert "--max-connections 64" in run_["command"]
    clean, faulty = report["runs"]["fault_free"], report["runs"]["faults"]
    assert clean["injected_faults"] == 0
    assert 0.15 < faulty["injected_share"] < 0.45  # 30% of attempts, over a few hundred requests
    assert faulty["http_requests"] > clean["http_requests"]
    assert report["ratio_faults_over_fault_free"] == pytest.approx(faulty["seconds"] / clean["seconds"], abs=1e-3)
    assert not (tmp_path / "logs").exists(), "the benchmark wrote into the working folder"
