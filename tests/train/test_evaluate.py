"""Did training help? The strategy-gated offline core and the held-out before/after evaluation
(train/evaluate.py), with known answers computed by hand. The pure tests run without ../shared."""

from __future__ import annotations

import json

import pytest
from inspect_ai import eval as inspect_eval
from inspect_ai.model import get_model

from gcop.evals.benchmarks import load_problems
from gcop.evals.gsm8k import gsm8k
from gcop.train.config import ConfigError, make_config
from tests.conftest import SHARED_DATA, mock_output, needs_shared_data

DATA = str(SHARED_DATA)
VALID_3_STEPS = "<think>\nplan\n</think>\n<strategy>\n1. List the quantities.\n2. Add them.\n3. Check.\n</strategy>"
VALID_2_STEPS = "<think>\nplan\n</think>\n<strategy>\n1. List the quantities.\n2. Add them up.\n</strategy>"
INVALID = "<think>\nplan\n</think>\n<strategy>\n1. List the quantities.\n<strategy>\n</strategy>"


# --------------------------------------------------------------------------- gcop/strategy_gated


def test_carries_strategy_needs_a_non_empty_block():
    from gcop.evals.providers import carries_strategy

    assert carries_strategy("Problem:\nx\n<strategy>\n1. Add.\n</strategy>")
    assert not carries_strategy("Problem:\nx")
    assert not carries_strategy("Problem:\nx\n<strategy>\n  \n</strategy>")
    assert not carries_strategy("Problem:\nx\n<strategy>1. unclosed")


@needs_shared_data
def test_wrong_answer_is_scored_wrong_even_when_the_gold_is_minus_one():
    from gcop.evals.gsm8k.spec import GSM8K, GSM8KProblem

    problems = load_problems("gsm8k", "test", DATA)[:20]
    problems.append(GSM8KProblem(id="minus-one", split="test", question="What is 1 - 2?",
                                 answer="1 - 2 = -1\n#### -1", target="-1"))
    for problem in problems:
        target = problem.answer.rsplit("####", 1)[1].strip().replace(",", "")
        assert GSM8K.verdict(GSM8K.reference_answer(problem), target, {}).passed
        assert not GSM8K.verdict(GSM8K.wrong_answer(target, {}), target, {}).passed, problem.id


def _guided(tmp_path, guide, limit=4, core="gcop/strategy_gated"):
    [log] = inspect_eval(gsm8k(split="test", mode="guided", data_dir=DATA), model=core,
                         model_roles={"guide": guide}, limit=limit, display="none", log_dir=str(tmp_path))
    assert log.status == "success", log.error
    return log


@needs_shared_data
def test_strategy_gated_core_is_right_exactly_when_it_gets_a_valid_strategy(tmp_path):
    # a valid strategy from the guide: every answer right
    log = _guided(tmp_path, "gcop/reference")
    assert log.results.scores[0].metrics["accuracy"].value == 1.0
    # the same core alone: every answer wrong
    [alone] = inspect_eval(gsm8k(split="test", mode="core", data_dir=DATA), model="gcop/strategy_gated", limit=4,
                           display="none", log_dir=str(tmp_path))
    assert alone.results.scores[0].metrics["accuracy"].value == 0.0
    # a guide whose strategies alternate valid / invalid: the invalid ones run the core without a
    # strategy (on_invalid: run_core_without), so accuracy = validity = 1/2
    outputs = [mock_output(text) for text in (VALID_2_STEPS, INVALID, VALID_3_STEPS, INVALID)]
    guide = get_model("mockllm/model", custom_outputs=outputs, memoize=False)
    log = _guided(tmp_path, guide)
    metrics = log.results.scores[0].metrics
    assert metrics["accuracy"].value == 0.5 and metrics["strategy_validity"].value == 0.5
    for sample in log.samples:
        valid = sample.metadata["guide"]["valid"]
        assert next(iter(sample.scores.values())).value in ((1.0, "C") if valid else (0.0, "I"))


@needs_shared_data
def test_strategy_gated_core_gives_no_credit_for_a_strategy_that_is_not_one(tmp_path):
    """What a policy would try against this core: tags with nothing in them, the block hidden in its
    think part, or two blocks. The checker refuses each, the solver passes no strategy on, and
    the core answers wrong: accuracy 0, validity 0."""
    attempts = ["<think>\nplan\n</think>\n<strategy>\n   \n</strategy>",
                "<think>\n<strategy>\n1. Add.\n</strategy>\n</think>\nno plan here",
                "<strategy>\n1. Add.\n</strategy>\n<strategy>\n2. Again.\n</strategy>"]
    guide = get_model("mockllm/model", custom_outputs=[mock_output(text) for text in attempts], memoize=False)
    log = _guided(tmp_path, guide, limit=3)
    metrics = log.results.scores[0].metrics
    assert metrics["accuracy"].value == 0.0 and metrics["strategy_validity"].value == 0.0
    assert all("<strategy>" not in "\n".join(m.text for m in s.messages if m.role == "user") for s in log.samples)


# --------------------------------------------------------------------------- the evaluation


def _config(tmp_path, **heldout):
    values = {"heldout_limit": 4, **{f"heldout_{k}": v for k, v in heldout.items()}}
    return make_config("sft", output_dir=str(tmp_path / "out"), model_name_or_path="tiny", core="mockllm/strategy_gated",
                       judge="mockllm/judge", data_dir=DATA, executor="local", baseline_cache=str(tmp_path / "b"),
                       **values)


@needs_shared_data
def test_evaluate_guide_scores_outputs_with_the_reward_engine(tmp_path, monkeypatch):
    import gcop.train.evaluate as ev
    config = _config(tmp_path)
    problems = ev.heldout_problems(config)
    assert [p.id for p in problems] == [p.id for p in load_problems("gsm8k", "test", DATA)[:4]]
    texts = [VALID_3_STEPS, INVALID, VALID_2_STEPS, "no strategy at all"]
    monkeypatch.setattr(ev, "generate_guide_outputs", lambda *a, **k: list(texts))
    evaluation = ev.HeldOutEvaluation(config, output_dir=tmp_path, recipe="exectune")
    result = evaluation.before(None, None, label="base", model_name="m")
    # by hand: 2 of 4 valid; strategy_gated gives R = 1 for those, 0 otherwise; the offline judge
    # scores min(1, steps / 4): 3/4 and 2/4; R(without) = 0, so no penalty
    assert result.validity == 0.5 and result.components["R"] == 0.5
    assert result.components["J"] == pytest.approx((0.75 + 0.5) / 4)
    assert result.components["dR_penalty"] == 0.0
    # weighted reward: (1 + 0.1 + 0.1 * 0.75) + (1 + 0.1 + 0.1 * 0.5) over 4 outputs
    assert result.reward == pytest.approx((1.175 + 1.15) / 4)
    low, high = result.validity_ci
    assert 0.1 < low < 0.5 < high < 0.9  # Wilson on 2 of 4: [0.15, 0.85]
    assert result.invalid_reasons == {"nested <strategy> tags": 1, "no <strategy> tag": 1}
    assert result.settings["held_out"] is True and result.settings["max_new_tokens"] == 1024 + 512
    # the scoring calls are in the ledger under eval_*, apart from training's phases
    ledger = json.loads((tmp_path / "ledger.json").read_text())
    assert set(ledger["phases"]) == {"eval_core", "eval_judge"} and ledger["phases"]["eval_judge"]["calls"] == 2


@needs_shared_data
def test_validity_only_makes_no_calls(tmp_path, monkeypatch):
    import gcop.train.evaluate as ev
    config = _config(tmp_path, rewards=False, split="train")
    monkeypatch.setattr(ev, "generate_guide_outputs", lambda *a, **k: [VALID_3_STEPS, INVALID, INVALID, INVALID])
    result = ev.HeldOutEvaluation(config, output_dir=tmp_path, recipe="exectune").before(None, None, label="b", model_name="m")
    assert result.validity == 0.25 and result.components == {} and result.reward is None
    assert not (tmp_path / "ledger.json").exists()
    assert result.settings["held_out"] is False
    assert "NOT held out" in ev.format_comparison(result, result)


@needs_shared_data
def test_a_failing_evaluation_after_training_is_reported_not_raised(tmp_path, monkeypatch):
    import gcop.train.evaluate as ev
    config = _config(tmp_path)
    evaluation = ev.HeldOutEvaluation(config, output_dir=tmp_path, recipe="exectune")
    monkeypatch.setattr(ev, "generate_guide_outputs", lambda *a, **k: [VALID_3_STEPS] * 4)
    evaluation.before(None, None, label="base", model_name="m")

    def broken(*args, **kwargs):
        raise RuntimeError("CUDA out of memory")

    monkeypatch.setattr(ev, "generate_guide_outputs", broken)
    after = evaluation.after(None, None, label="SFT", model_name="m")
    assert after.error == "RuntimeError: CUDA out of memory"
    assert "SFT failed: RuntimeError: CUDA out of memory" in evaluation.report().format()


@needs_shared_data
def test_a_core_failing_on_the_held_out_problems_stops_before_training(tmp_path, monkeypatch):
    import gcop.train.evaluate as ev
    from gcop.train.rewards import UnscorableRewardsError

    config = _config(tmp_path)

    def failing_core(*args):
        raise ConnectionError("core unavailable")

    monkeypatch.setattr(ev, "generate_guide_outputs", lambda *a, **k: [VALID_3_STEPS] * 4)
    evaluation = ev.HeldOutEvaluation(config, output_dir=tmp_path, recipe="exectune")
    real_engine = evaluation._engine

    def engine(count_tokens):
        e = real_engine(count_tokens)
        e.core_spec = get_model("mockllm/model", custom_outputs=failing_core, memoize=False)
        return e

    monkeypatch.setattr(evaluation, "_engine", engine)
    with pytest.raises(UnscorableRewardsError, match=r"4 of the 4 held-out outputs .* Last error: core call failed"):
        evaluation.before(None, None, label="base", model_name="m")


def test_comparison_tests_the_paired_change():
    from gcop.stats import wilson_interval
    from gcop.train.evaluate import GuideEval, format_comparison

    def ev(label, flags):
        n, valid = len(flags), sum(flags)
        return GuideEval(label=label, model="m", problems=n, outputs=n, validity=valid / n,
                         validity_ci=wilson_interval(valid, n), components={"R": valid / n},
                         r_ci=wilson_interval(valid, n), reward=valid / n, valid_flags=list(flags),
                         r_values=[float(f) for f in flags],
                         settings={"split": "test", "held_out": True, "samples": 1, "temperature": 0.6,
                                   "top_p": 0.95, "max_new_tokens": 1536, "seed": 0, "scored": True, "core": "c"})

    # 41/50 -> 44/50 with 4 gained and 1 lost: McNemar p = 2 * P(X <= 1 | 5, 1/2) = 2 * 6/32 = 0.375
    before = [True] * 41 + [False] * 9
    after = [False] + [True] * 40 + [True] * 4 + [False] * 5
    text = format_comparison(ev("SFT", before), ev("GRPO", after))
    assert "+0.060 (+4/-1 paired, McNemar p = 0.38, not significant)" in text
    # 82/100 -> 98/100 with 17 gained, 1 lost: p = 2 * (1 + 18) / 2**18 = 0.000145
    before = [True] * 82 + [False] * 18
    after = [False] + [True] * 81 + [True] * 17 + [False]
    text = format_comparison(ev("SFT", before), ev("GRPO", after))
    assert "+0.160 (+17/-1 paired, McNemar p = 0.00014)" in text and "not significant" not in text
    assert "before (SFT)" in text and "after (GRPO)" in text and "100 problems of the test split (held out)" in text
    markdown = format_comparison(ev("SFT", before), ev("GRPO", after), markdown=True)
    assert "| strategy validity | 0.820 [0.73, 0.88] | 0.980 [0.93, 0.99] | +0.160 (+17/-1 paired, McNemar p = 0.00014) |" in markdown


def test_reward_per_step_from_trl_logs():
    from gcop.train.evaluate import format_reward_per_step, reward_per_step

    history = [{"step": s, "reward": r, "reward_std": 0.1, "loss": 0.0} for s, r in enumerate([0.2, 0.4, 0.6, 0.8], 1)]
    history.append({"step": 4, "train_runtime": 1.0})
    rows = reward_per_step(history)
    assert [r["reward"] for r in rows] == [0.2, 0.4, 0.6, 0.8]
    line = format_reward_per_step(rows)
    assert line == ("mean reward per step (4 steps): 1: 0.200, 2: 0.400, 3: 0.600, 4: 0.800; "
                    "first 1 steps 0.200, last 1 steps 0.800")
    many = [{"step": s, "reward": s / 100} for s in range(1, 101)]
    line = format_reward_per_step(many)
    assert "(100 steps)" in line and "100: 1.000" in line and "first 25 steps 0.130, last 25 steps 0.880" in line
    assert line.count(": ") <= 15


@needs_shared_data
def test_heldout_settings_are_validated(tmp_path):
    with pytest.raises(ConfigError, match="heldout_split must be train or test"):
        _config(tmp_path, split="all")
    with pytest.raises(ConfigError, match="heldout_limit must be >= 0"):
        _config(tmp_path, limit=-1)
    with pytest.raises(ConfigError, match="unknown key 'heldout_limt'.*did you mean heldout_limit"):
        make_config("sft", heldout_limt=3)
    # a cap under the strategy budget: the guide step would lift it to the budget at inspect eval,
    # sampling the checkpoint apart from how it was evaluated
    with pytest.raises(ConfigError, match=r"heldout_max_new_tokens \(100\) must be >= max_strategy_tokens \(512\)"):
        _config(tmp_path, max_new_tokens=100)
    assert _config(tmp_path, max_new_tokens=512).guide_cap == 512


@needs_shared_data
def test_judge_response_is_the_one_verdict_for_math_and_code():
    """The function rewards and acceptance call: the math judge for GSM8K, the unit tests for code
    (the local executor here; reference solutions pass, wrong_answer fails)."""
    import asyncio

    from gcop.evals.benchmarks import get_benchmark
    from gcop.evals.scorers import judge_response
    from gcop.sandbox.executors import make_executor
    from gcop.train.rewards import problem_info

    async def run() -> list[bool]:
        executor = make_executor("local", 1)
        await executor.start()
        try:
            out = []
            for problem in [load_problems("gsm8k", "test", DATA)[0], load_problems("humaneval", "test", DATA)[0]]:
                info = problem_info(problem)
                spec = get_benchmark(info.benchmark)
                for answer in (spec.reference_answer(problem), spec.wrong_answer(info.target, info.metadata)):
                    verdict = await judge_response(answer, info.benchmark, target=info.target, metadata=info.metadata,
                                                   sample_id=info.id, executor=executor)
                    out.append(verdict.passed)
            return out
        finally:
            await executor.close()

    assert asyncio.run(run()) == [True, False, True, False]


def test_leak_args_come_from_one_place_for_the_guide_step_and_the_rewards():
    from gcop.evals.benchmarks import get_benchmark

    def leak_args(name: str, target: str, metadata: dict) -> dict:
        return get_benchmark(name).leak_args(target, metadata)

    assert leak_args("gsm8k", "42", {}) == {"gold_answer": "42"}
    assert leak_args("humaneval", "", {"entry_point": "add"}) == {"entry_point": "add"}
    assert leak_args("kodcode", "", {"test": "from solution import merge, split\n"}) == {"entry_point": "merge"}
    assert leak_args("kodcode", "", {"test": "from solution import *\n"}) == {"entry_point": None}
    with pytest.raises(ValueError, match="unknown benchmark"):
        leak_args("no_such_benchmark", "", {})
