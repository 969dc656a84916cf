"""The GPU GRPO-step benchmark's code path, dry-run on the CPU with a tiny model (the H100 run
itself needs the device; see bench/bench_grpo_step.py)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT, SHARED_DATA, needs_shared_data

ROOT = REPO_ROOT


@pytest.mark.slow
@needs_shared_data
def test_grpo_step_benchmark_dry_run_on_cpu(tmp_path):
    out = tmp_path / "grpo_step.json"
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_grpo_step.py"), "--shape", "tiny", "--batch", "2",
         "--generations", "4", "--max-completion", "16", "--steps", "2", "--latency", "0.2",
         "--data-dir", str(SHARED_DATA), "--out", str(out)],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(out.read_text())
    constant, exectune = report["runs"]["constant"], report["runs"]["exectune"]
    assert constant["steps"] == exectune["steps"] == 2
    for result in (constant, exectune):
        step = result["mean_of_later_steps"]
        assert step["generation_s"] > 0 and step["update_s"] > 0
        assert step["total_s"] >= step["generation_s"] + step["reward_s"]
        assert "GRPOTrainer.transformers.generate" in result["profiled"]
    # Every rollout took the full ExecTune path: a core and a judge call each, one baseline per problem.
    stats = exectune["reward_stats"]
    assert stats["core_calls"] == 2 * 2 * 4 + stats["baseline_computed"] and stats["judge_calls"] == 2 * 2 * 4
    assert stats["baseline_computed"] == 4 and not stats.get("unscorable")
    assert exectune["mean_reward"] == pytest.approx(1.0 + 0.1 + 0.1 * 0.8)  # R + beta*I_str + gamma*J
    # The calls wait on the fake's latency concurrently, not one after another.
    assert exectune["mean_of_later_steps"]["reward_s"] < 8 * 0.2
    assert report["reward_overhead"]["step_s_constant"] == constant["mean_of_later_steps"]["total_s"]
    assert report["fake_api_summary"]["requests"] == stats["core_calls"] + stats["judge_calls"]
