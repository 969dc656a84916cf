"""Every gcop task, guided, with guide and core on the fake Anthropic API injecting 429/529/500,
dropped connections and slow replies: all samples scored, none lost; a permanently failing call
errors one sample (retryable with eval_retry) without sinking the run."""

from __future__ import annotations

import pytest
from inspect_ai import eval, eval_retry
from inspect_ai.model import get_model

from gcop.evals.gsm8k import gsm8k
from gcop.evals.humaneval import humaneval
from gcop.evals.kodcode import kodcode
from gcop.testing.fake_anthropic import FakeAnthropic, FaultConfig, fast_inspect_retries, prompt_text
from tests.conftest import SHARED_DATA, needs_shared_data

pytestmark = [needs_shared_data, pytest.mark.slow]
DATA = str(SHARED_DATA)
MODEL = "anthropic/claude-haiku-4-5-20251001"
GUIDE = "anthropic/claude-haiku-4-5"


def responder(request: dict) -> str:
    system = str(request.get("system", ""))
    if "<strategy>" in system:
        return "<think>plan</think>\n<strategy>Work step by step and check the result.</strategy>"
    if "Python" in system:
        return "```python\ndef placeholder():\n    return None\n```"
    return "The answer is \\boxed{0}."


def _tasks():
    return [
        gsm8k(split="test", mode="guided", data_dir=DATA),
        humaneval(mode="guided", executor="local", data_dir=DATA),
        kodcode(split="test", mode="guided", executor="local", data_dir=DATA),
    ]


def _guide(fake):
    # Both roles at the fake; the SDK's own retries off, so every fault is Inspect's to retry.
    return get_model(GUIDE, base_url=fake.base_url, max_retries=0)


def _eval(tasks, fake, tmp_path, **kwargs):
    return eval(
        tasks, model=MODEL, model_roles={"guide": _guide(fake)}, model_base_url=fake.base_url,
        model_args={"max_retries": 0}, max_retries=6, timeout=60, limit=6,
        display="none", log_dir=str(tmp_path), **kwargs,
    )


def test_every_task_survives_injected_faults(tmp_path, monkeypatch):
    fast_inspect_retries(monkeypatch)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "fake")
    faults = FaultConfig.uniform(0.3, slow=0.1, slow_seconds=0.5, retry_after=0.05, max_faults_per_request=3, seed=3)
    with FakeAnthropic(responder, faults=faults, schedule=["rate_limit", "overloaded", "api_error", "drop", "slow"]) as fake:
        logs = _eval(_tasks(), fake, tmp_path)
        summary = fake.summary()
    for log in logs:
        assert log.status == "success", log.error
        assert log.results.completed_samples == 6 and not any(s.error for s in log.samples)
        for sample in log.samples:
            assert sample.scores, sample.id
            assert sample.metadata["guide"]["valid"] is True
            assert set(sample.role_usage) >= {"guide"}
        # cost per role from Inspect's own machinery and the committed price table
        assert log.stats.role_usage["guide"].total_cost > 0
        assert log.stats.model_usage[MODEL].total_cost > 0
    for kind in (429, 529, 500, "drop"):
        assert summary["status"].get(kind, 0) >= 1, summary


def test_permanent_failure_errors_one_sample_and_is_retryable(tmp_path, monkeypatch):
    fast_inspect_retries(monkeypatch)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "fake")
    task = gsm8k(split="test", mode="guided", data_dir=DATA)
    doomed = task.dataset[2].input
    with FakeAnthropic(responder) as fake:
        fake.set_fail_when(lambda request: doomed[:60] in prompt_text(request), status=500)
        [log] = eval(task, model=MODEL, model_roles={"guide": _guide(fake)}, model_base_url=fake.base_url,
                     model_args={"max_retries": 0}, max_retries=2, limit=6, display="none",
                     log_dir=str(tmp_path), fail_on_error=False)
        assert log.status == "success"
        errored = [s for s in log.samples if s.error]
        assert len(errored) == 1 and errored[0].input == doomed
        assert log.results.completed_samples == 5
        fake.set_fail_when(None)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.base_url)  # the retry rebuilds models from the log
        [retried] = eval_retry(log, log_dir=str(tmp_path), display="none")
    assert retried.status == "success" and retried.results.completed_samples == 6
