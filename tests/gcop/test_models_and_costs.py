"""Current models, prices that are never silently zero, cost per role, preflight checks and
bounded guide calls, against the fake Anthropic API where a model answers."""

from __future__ import annotations

import time

import pytest
from inspect_ai import eval
from inspect_ai.model import ModelUsage, get_model

from gcop.cli import main
from gcop.costs import apply_prices, format_role_table, role_rows
from gcop.evals.gsm8k import gsm8k
from gcop.lifecycle import RetiredModelError, check_not_retired, lookup, table
from gcop.preflight import PreflightError, check_guide_source, check_model, preflight
from gcop.testing.fake_anthropic import FakeAnthropic, fast_inspect_retries
from gcop.train.ledger import BudgetUnenforceable, CostLedger
from tests.conftest import REPO_ROOT, SHARED_DATA, needs_shared_data

DATA = str(SHARED_DATA)
REPO = REPO_ROOT


def responder(request: dict) -> str:
    system = str(request.get("system", ""))
    if "<strategy>" in system:
        return "<think>plan</think>\n<strategy>Work step by step and check the result.</strategy>"
    return "The answer is \\boxed{0}."


@pytest.fixture
def fake(monkeypatch):
    fast_inspect_retries(monkeypatch)
    with FakeAnthropic(responder) as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "fake")
        yield server


# --------------------------------------------------------------------------- the lifecycle table


def test_every_default_answers_today_and_the_papers_models_are_retired():
    for role in ("core", "teacher", "judge", "strong"):
        name = table()["defaults"][role]
        status = check_not_retired(name)  # raises if retired
        assert status is not None and not status.is_retired  # listed in the table, and served
    for name, retired, replacement in [
        ("anthropic/claude-3-5-haiku-latest", "2026-02-19", "anthropic/claude-haiku-4-5"),
        ("anthropic/claude-3-haiku-20240307", "2026-04-20", "anthropic/claude-haiku-4-5"),
        ("anthropic/claude-3-5-sonnet-20241022", "2025-10-22", "anthropic/claude-sonnet-5-5"),
        ("anthropic/claude-sonnet-4-5-20250929", "2026-11-30", "anthropic/claude-sonnet-5-5"),
    ]:
        with pytest.raises(RetiredModelError) as err:
            check_not_retired(name)
        assert retired in str(err.value) and replacement in str(err.value)
    # partner platforms keep their own schedules: never refused here
    assert check_not_retired("anthropic/bedrock/anthropic.claude-3-5-haiku-20241022-v1:0") is None


def test_the_committed_configs_and_defaults_name_no_retired_model():
    import yaml

    from gcop.results.grid import DEFAULT_CORE
    from gcop.train.accept import AcceptConfig
    from gcop.train.config import load_config

    names = {DEFAULT_CORE, AcceptConfig().teacher, AcceptConfig().core}
    for path in sorted((REPO / "train" / "configs").glob("*.yaml")):
        config = load_config("sft" if path.stem.endswith("sft") else "grpo", path)
        names |= {config.core, config.teacher, config.judge_model}
        assert "temperature" not in config.judge_config, path  # Sonnet 5.5 rejects sampling parameters
    for name in names:
        if name.startswith("anthropic/"):
            check_not_retired(name)
            assert lookup(name) is not None, f"{name} is not in results/models.yaml"
    readme = "\n".join(path.read_text() for path in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))])
    for status in table()["models"].values():
        if status.is_retired:
            assert f"--model {status.name}" not in readme and f"--core {status.name}" not in readme
    assert yaml.safe_load((REPO / "results" / "models.yaml").read_text())["checked"]


def test_current_models_have_list_prices_and_batch_is_half():
    from gcop.costs import load_prices
    from gcop.lifecycle import batch_discount

    prices = load_prices()
    assert prices["anthropic/claude-haiku-4-5"].input == 1.0 and prices["anthropic/claude-haiku-4-5"].output == 5.0
    assert prices["anthropic/claude-haiku-5-5"].input == 0.10 and prices["anthropic/claude-haiku-5-5"].output == 0.50
    assert prices["anthropic/claude-sonnet-5-5"].input == 2.0 and prices["anthropic/claude-sonnet-5-5"].output == 10.0
    for role in ("core", "teacher", "judge", "strong"):
        assert table()["defaults"][role] in prices
    assert batch_discount("anthropic/claude-haiku-4-5") == 0.5 and batch_discount("openai/gpt-x") is None


# --------------------------------------------------------------------------- the fake API, as today


def test_the_fake_api_answers_404_for_retired_models_and_thinks_like_the_current_ones(fake):
    import anthropic

    client = anthropic.Anthropic(base_url=fake.base_url, api_key="fake", max_retries=0)
    with pytest.raises(anthropic.NotFoundError) as err:
        client.messages.create(model="claude-3-5-haiku-latest", max_tokens=16,
                               messages=[{"role": "user", "content": "hi"}])
    assert err.value.body["error"]["type"] == "not_found_error"
    thinking = client.messages.create(model="claude-haiku-5-5", max_tokens=256, messages=[{"role": "user", "content": "hi"}])
    assert [b.type for b in thinking.content] == ["thinking", "text"]
    thought = thinking.usage.output_tokens_details.thinking_tokens
    assert thought > 0 and thinking.usage.output_tokens == thought + len(thinking.content[1].text.split())
    off = client.messages.create(model="claude-haiku-5-5", max_tokens=256, thinking={"type": "disabled"},
                                 messages=[{"role": "user", "content": "hi"}])
    assert [b.type for b in off.content] == ["text"]
    plain = client.messages.create(model="claude-haiku-4-5", max_tokens=256, messages=[{"role": "user", "content": "hi"}])
    assert [b.type for b in plain.content] == ["text"]  # Haiku 4.5 thinks only when asked
    with client.messages.stream(model="claude-haiku-5-5", max_tokens=256, messages=[{"role": "user", "content": "hi"}]) as stream:
        streamed = stream.get_final_message()
    assert [b.type for b in streamed.content] == ["thinking", "text"] and streamed.usage.output_tokens == thinking.usage.output_tokens


# --------------------------------------------------------------------------- evals: refusals, cost per role


@needs_shared_data
def test_a_retired_core_fails_before_any_call_with_its_replacement_named(fake, tmp_path):
    [log] = eval(gsm8k(split="test", data_dir=DATA), model="anthropic/claude-3-5-haiku-latest", limit=2,
                 display="none", log_dir=str(tmp_path))
    assert log.status == "error"
    assert "retired" in log.error.message and "2026-02-19" in log.error.message
    assert "anthropic/claude-haiku-4-5" in log.error.message
    assert fake.requests == 0  # refused before any call


@needs_shared_data
def test_thinking_tokens_land_in_the_roles_cost_and_the_table_adds_up(fake, tmp_path):
    # guide and core are the same model: Inspect's model_usage merges them, gcop keeps them apart
    model = "anthropic/claude-haiku-5-5"
    [log] = eval(gsm8k(split="test", data_dir=DATA, mode="guided"), model=model, model_base_url=fake.base_url,
                 model_roles={"guide": get_model(model, base_url=fake.base_url, memoize=False)},
                 limit=3, display="none", log_dir=str(tmp_path))
    assert log.status == "success", log.error
    rows = role_rows(log)
    assert set(rows) == {"guide", "core"}
    # per sample, the core's own usage is kept in the log (metadata "core"), thinking included
    core_samples = [s.metadata["core"] for s in log.samples]
    assert all(c["model"] == model and c["reasoning_tokens"] > 0 for c in core_samples)
    for key in ("input_tokens", "output_tokens", "reasoning_tokens"):
        assert rows["core"][key] == sum(c[key] for c in core_samples)
        assert rows["core"][key] + rows["guide"][key] == _total(log, key)
    assert rows["core"]["cost"] == pytest.approx(sum(c["cost"] for c in core_samples))
    # by hand: Haiku 5.5 is $0.10 in / $0.50 out per million tokens, thinking billed as output
    core = rows["core"]
    assert core["cost"] == pytest.approx((core["input_tokens"] * 0.10 + core["output_tokens"] * 0.50) / 1e6)
    assert core["output_tokens"] > core["reasoning_tokens"] > 0
    assert rows["guide"]["cost"] + core["cost"] == pytest.approx(log.stats.model_usage[model].total_cost)
    text = format_role_table(rows)
    assert "guide" in text and "core" in text and f"{core['cost'] + rows['guide']['cost']:.4f}" in text


def _total(log, key):
    usage = log.stats.model_usage["anthropic/claude-haiku-5-5"]
    if key == "input_tokens":
        return usage.input_tokens + (usage.input_tokens_cache_read or 0) + (usage.input_tokens_cache_write or 0)
    return int(getattr(usage, key) or 0)


@needs_shared_data
def test_the_guide_call_is_capped_and_the_cap_is_logged(tmp_path):
    caps = []

    def rambling(messages, tools, tool_choice, config):
        caps.append(config.max_tokens)
        from tests.conftest import mock_output

        return mock_output("<think>" + "hmm " * 50 + "</think><strategy>Add them.</strategy>")

    guide = get_model("mockllm/model", custom_outputs=rambling)
    for option, cap in ((None, 1024 + 512), (700, 700)):
        caps.clear()
        task = gsm8k(split="test", data_dir=DATA, mode="guided", **({"max_guide_tokens": option} if option else {}))
        [log] = eval(task, model="gcop/reference", model_roles={"guide": guide}, limit=2, display="none",
                     log_dir=str(tmp_path))
        assert log.status == "success", log.error
        assert caps == [cap, cap] and all(s.metadata["guide"]["max_tokens"] == cap for s in log.samples)
    with pytest.raises(ValueError, match="max_guide_tokens"):
        gsm8k(split="test", data_dir=DATA, max_guide_tokens=100)


# --------------------------------------------------------------------------- budgets and prices


def test_a_budget_refuses_an_unpriced_paid_model():
    ledger = CostLedger(1.0)
    ledger.record_usage("anthropic/claude-haiku-9-9", ModelUsage(input_tokens=100, output_tokens=10), phase="core")
    with pytest.raises(BudgetUnenforceable, match="claude-haiku-9-9"):
        ledger.check_budget()
    assert CostLedger().check_budget() is None  # no budget: nothing to enforce


@needs_shared_data
def test_accept_with_a_budget_refuses_an_unpriced_core_before_any_call(fake, tmp_path, capsys):
    code = main(["train", "accept", "--benchmark", "gsm8k", "--teacher", "anthropic/claude-sonnet-5-5",
                 "--core", "anthropic/claude-haiku-9-9", "--limit", "2", "--out", str(tmp_path / "out"),
                 "--budget-usd", "0.00001", "--no-progress", "--data-dir", DATA])
    err = capsys.readouterr().err
    assert code == 2 and "claude-haiku-9-9 has no price" in err and "budget cannot be enforced" in err
    assert fake.requests == 0


@needs_shared_data
def test_accept_refuses_a_misspelt_offline_model_and_a_retired_teacher(tmp_path, capsys):
    code = main(["train", "accept", "--benchmark", "gsm8k", "--teacher", "mockllm/teachr",
                 "--core", "mockllm/strategy_gated", "--limit", "2", "--out", str(tmp_path / "out"),
                 "--no-progress", "--data-dir", DATA])
    err = capsys.readouterr().err
    assert code == 2 and "mockllm/teachr is not one of this command's offline models" in err
    assert "mockllm/teacher" in err
    code = main(["train", "accept", "--benchmark", "gsm8k", "--teacher", "anthropic/claude-sonnet-4-5-20250929",
                 "--core", "mockllm/strategy_gated", "--limit", "2", "--out", str(tmp_path / "out2"),
                 "--no-progress", "--data-dir", DATA])
    err = capsys.readouterr().err
    assert code == 2 and "2026-11-30" in err and "anthropic/claude-sonnet-5-5" in err


# --------------------------------------------------------------------------- preflight


def test_preflight_names_every_problem_at_once(monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(PreflightError) as err:
        preflight({"core": "claude-haiku-4-5", "teacher": "anthropc/claude-sonnet-5-5",
                   "judge": "anthropic/claude-sonnet-5-5", "strong": "anthropic/claude-3-5-sonnet-latest"}, live=False)
    text = str(err.value)
    assert "core: 'claude-haiku-4-5' is not a model name" in text
    assert "unknown model provider 'anthropc'" in text
    assert "judge: anthropic/claude-sonnet-5-5 needs an API key: set ANTHROPIC_API_KEY" in text
    assert "strong: anthropic/claude-3-5-sonnet-latest was retired" in text


def test_a_missing_local_guide_fails_in_under_a_second(tmp_path, monkeypatch):
    started = time.monotonic()
    problems, _ = check_model("guide", f"hf/{tmp_path}/no-such-checkpoint")
    with pytest.raises(PreflightError, match="no such local model folder"):
        check_guide_source("models.guide", str(tmp_path / "missing"))
    # a relative path under an existing folder is a local path too, not a Hub id
    monkeypatch.chdir(tmp_path)
    (tmp_path / "checkpoints").mkdir()
    relative, _ = check_model("guide", "vllm/checkpoints/gsm8k_sft")
    # a Hub id that is not cached, with the Hub off: refused without a network lookup
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hub, _ = check_model("guide", "hf/someone/not-cached-model")
    assert time.monotonic() - started < 1.0
    assert problems and "no such local model folder" in problems[0]
    assert relative and "no such local model folder" in relative[0]
    assert hub and "HF_HUB_OFFLINE" in hub[0]
    (tmp_path / "checkpoints" / "gsm8k_sft").mkdir()
    (tmp_path / "checkpoints" / "gsm8k_sft" / "chat_template.jinja").write_text("{{ messages }}")
    assert check_model("guide", "vllm/checkpoints/gsm8k_sft") == ([], [])


def test_preflight_makes_one_short_call_per_remote_model(fake):
    apply_prices()
    report = preflight({"core": "anthropic/claude-haiku-4-5", "teacher": "anthropic/claude-sonnet-5-5",
                        "judge": "anthropic/claude-sonnet-5-5", "offline": "mockllm/teacher"},
                       offline=("mockllm/teacher",), budget=True)
    assert set(report.live_calls) == {"core", "teacher"}  # the judge is the teacher's model: one call
    assert fake.requests == 2 and all("answered" in v for v in report.live_calls.values())
    fake.set_fail_when(lambda request: request.get("model") == "claude-haiku-4-5", status=400)
    with pytest.raises(PreflightError, match="core: anthropic/claude-haiku-4-5 did not answer a test call"):
        preflight({"core": "anthropic/claude-haiku-4-5"})


def test_an_unpriced_model_without_a_budget_is_a_loud_warning(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "fake")
    with pytest.warns(UserWarning, match="claude-haiku-9-9 has no price"):
        report = preflight({"core": "anthropic/claude-haiku-9-9"}, live=False)
    assert report.warnings and "unknown" in report.warnings[0]


# --------------------------------------------------------------------------- GRPO fails fast


@needs_shared_data
@pytest.mark.slow
def test_grpo_with_a_failing_core_exits_non_zero_within_the_window(fake, tmp_path, capsys):
    fake.set_fail_when(lambda request: True, status=400)  # every core call fails for good (not retried)
    out = tmp_path / "grpo"
    # the Advisor recipe calls the core for every rollout, even a random-weight guide's
    code = main(["train", "grpo", "--config", str(REPO / "train" / "configs" / "smoke_grpo.yaml"),
                 "--recipe", "advisor", "--core", "anthropic/claude-haiku-4-5", "--save_steps", "100",
                 "--heldout_limit", "0", "--num_generations", "4", "--per_device_train_batch_size", "4",
                 "--gradient_accumulation_steps", "2", "--model_name_or_path", "tiny", "--output_dir", str(out),
                 "--max_steps", "10", "--unscorable_window", "2", "--preflight_calls", "false",
                 "--executor", "local", "--baseline_cache", str(tmp_path / "b"), "--data_dir", DATA])
    err = capsys.readouterr().err
    assert code == 1, err
    assert "were unscorable" in err and "anthropic/claude-haiku-4-5" in err and "Last error: core call failed" in err
    assert not (out / "gcop_train.json").exists() and not (out / "README.md").exists()  # no model card
    # stopped within the window: two reward batches of 2 prompts x 4 rollouts, one core call each
    assert 0 < fake.requests <= 16


# --------------------------------------------------------------------------- grid --estimate, batch prices


@needs_shared_data
def test_grid_estimate_from_a_pilot_is_close_to_the_full_runs_cost(fake, tmp_path):
    from inspect_ai import task_with
    from inspect_ai.dataset import MemoryDataset

    from gcop.results.grid import build_tasks, estimate_rows, plan_rows, run_grid

    core = "anthropic/claude-haiku-4-5"
    args = {"split": "test", "data_dir": DATA}
    # Inspect memoizes models by name: the base URL keeps this test's fake from another test's
    pilot = run_grid("gsm8k", core, icl=True, log_dir=str(tmp_path / "pilot"), limit=2, task_args=args, display="none",
                     model_base_url=fake.base_url)
    assert pilot.success
    rows = plan_rows(core, icl=True)
    # the "full run" here is the first 8 problems, so that it can be run and compared
    tasks = [task_with(t, dataset=MemoryDataset(list(t.dataset)[:8])) for t in build_tasks("gsm8k", rows, task_args=args)]
    estimates = estimate_rows("gsm8k", pilot.logs, tasks, pilot=2)
    full = run_grid("gsm8k", core, icl=True, log_dir=str(tmp_path / "full"), limit=8, task_args=args, display="none",
                    model_base_url=fake.base_url)
    actual = {(log.eval.metadata or {})["gcop_grid"]["row"]: role_rows(log)["core"]["cost"] for log in full.logs}
    for estimate in estimates:
        assert estimate.full_samples == 8 and estimate.pilot_samples == 2
        assert estimate.expected["core"] == pytest.approx(actual[estimate.row], rel=0.25), estimate
        assert estimate.pilot_cost < estimate.expected_total


@needs_shared_data
def test_batch_runs_are_priced_at_the_batch_rate(fake, tmp_path):
    from inspect_ai.log import read_eval_log, write_eval_log

    from gcop.results.logs import read_run

    [log] = eval(gsm8k(split="test", data_dir=DATA), model="anthropic/claude-haiku-4-5", limit=2,
                 model_base_url=fake.base_url, display="none", log_dir=str(tmp_path))
    listed = read_run(log.location)
    assert listed.info.batch_priced == {}
    batched = read_eval_log(log.location)
    batched.eval.model_generate_config.batch = True  # as `inspect eval --batch` records it
    path = str(tmp_path / "batched.eval")
    write_eval_log(batched, path)
    run = read_run(path)
    assert run.info.batch_priced == {"core": 0.5}
    for a, b in zip(listed.samples, run.samples, strict=True):
        assert b.cost["core"] == pytest.approx(a.cost["core"] * 0.5) and b.cost["total"] == pytest.approx(b.cost["core"])


@needs_shared_data
def test_an_eval_with_an_unpriced_core_warns_at_the_start_and_shows_unknown_cost(fake, tmp_path, capsys):
    [log] = eval(gsm8k(split="test", data_dir=DATA), model="anthropic/claude-haiku-9-9", limit=1,
                 model_base_url=fake.base_url, display="none", log_dir=str(tmp_path))
    assert log.status == "success", log.error
    err = capsys.readouterr().err
    assert "WARNING: the core model anthropic/claude-haiku-9-9 has no price" in err
    assert role_rows(log)["core"]["cost"] is None  # unknown, not $0
    assert "unknown" in err.split("cost by role")[-1]  # the table printed at the end says so


@needs_shared_data
def test_cli_grid_estimate_runs_a_pilot_and_stops(tmp_path, capsys):
    log_dir = tmp_path / "grid"
    code = main(["grid", "--benchmark", "gsm8k", "--core", "gcop/reference", "--guide", "ref=gcop/reference",
                 "--estimate", "--limit", "2", "--display", "none", "--log-dir", str(log_dir), "--data-dir", DATA])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "gcop/reference alone" in out and "gcop/reference + guide ref (gcop/reference)" in out
    assert "(1319 samples)" in out and "expected total: $0.00" in out  # the whole test split, offline models free
    assert not log_dir.exists() and (tmp_path / "grid-pilot").is_dir()  # the real run's folder is untouched


def test_a_budget_with_a_self_hosted_core_is_priced_at_the_self_hosted_rate(monkeypatch):
    # preflight lets a self-hosted core through a budget (it has gcop's self-hosted rate), so the
    # ledger must price it the same way, not count it as unpriced and refuse every later call
    monkeypatch.setenv("GCOP_SELF_HOSTED_PRICE", "0.05,0.20")
    ledger = CostLedger(1.0)
    cost = ledger.record_usage("vllm/my-own-core", ModelUsage(input_tokens=10**6, output_tokens=10**6), phase="core")
    assert cost == pytest.approx(0.25)
    assert ledger.unpriced_models() == [] and ledger.check_budget() is None
