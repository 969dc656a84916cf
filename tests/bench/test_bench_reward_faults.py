"""The reward-fault benchmark's quick mode (bench/bench_reward_faults.py --quick): a core that
fails for good on prompts chosen in advance masks exactly those rollouts, and scores the rest."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT, SHARED_DATA, needs_shared_data


@pytest.mark.slow
@needs_shared_data
def test_reward_faults_quick(tmp_path):
    out = tmp_path / "reward_faults.json"
    run = subprocess.run(
        [sys.executable, str(REPO_ROOT / "bench" / "bench_reward_faults.py"), "--quick", "--executor", "local",
         "--fail-rate", "0.25", "--data-dir", str(SHARED_DATA), "--output", str(out)],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["parameters"]["completions"] == 12 and report["executor"] == "local"
    chosen = report["failing_calls"]
    assert chosen["failing_prompts"] == round(0.25 * chosen["distinct_prompts"]) > 0
    assert chosen["expected_masked"] > 0
    assert report["all_pass"]
    clean = report["runs"]["no_faults"]
    assert clean["masked"] == 0 and clean["scored"] == 12 and clean["scored_R_all_1"]
    for name in ("retried_500", "immediate_400"):
        faulty = report["runs"][name]
        assert faulty["masked_exactly_as_expected"] and faulty["wrong_masks"] == [] and faulty["partly_none"] == 0
        assert faulty["masked"] == chosen["expected_masked"]
        assert faulty["scored"] == 12 - chosen["expected_masked"] and faulty["scored_R_all_1"]
        assert faulty["fake_refused_exactly_the_chosen"]
        assert faulty["engine_stats"]["unscorable"] == chosen["expected_masked"]
    # 500s are retried by Inspect (1 retry in quick mode: 2 attempts each); 400s are not retried
    assert report["runs"]["retried_500"]["attempts_per_failing_call"] == [2]
    assert report["runs"]["immediate_400"]["attempts_per_failing_call"] == [1]
