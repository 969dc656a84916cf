"""GRPO reward components (train/rewards.py) and the training config loader (train/config.py).

Cores and judges are mockllm models with scripted, usage-carrying outputs; code rewards use the
local sandbox executor (the docker pool is exercised by bench/bench_rewards.py)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from inspect_ai.model import get_model

from gcop.evals.benchmarks import benchmark_for, load_problems
from gcop.train.offline_models import offline_core
from gcop.train.rewards import (
    COMPONENTS,
    BaselineCache,
    GuideRewards,
    JudgeFormatError,
    RewardModels,
    RewardSettings,
    completion_text,
    parse_judge_score,
)
from tests.conftest import REPO_ROOT, SHARED_DATA, mock_output, needs_shared_data

DATA = str(SHARED_DATA)
CONFIGS = REPO_ROOT / "train" / "configs"

GOOD = "<think>\nplan it\n</think>\n<strategy>\n1. List the quantities.\n2. Add them up.\n</strategy>"
GOOD_2 = "<think>\nanother plan\n</think>\n<strategy>\n1. Find the rate.\n2. Multiply by the time.\n3. Check.\n</strategy>"


@pytest.fixture(scope="module")
def gsm8k_problems():
    return load_problems("gsm8k", "train", DATA)[:4]


@pytest.fixture(scope="module")
def kodcode_problems():
    return load_problems("kodcode", "train", DATA)[:3]


class ScriptedModel:
    """A mockllm responder that records calls and in-flight concurrency.

    ``answer(prompt_text) -> str`` gives the reply (raise to fail the call)."""

    def __init__(self, answer: Callable[[str], str], latency: float = 0.0) -> None:
        self.answer = answer
        self.latency = latency
        self.prompts: list[str] = []
        self.max_tokens: list[int | None] = []  # each call's cap, as the model was asked
        self.in_flight = 0
        self.max_in_flight = 0

    async def __call__(self, input, tools, tool_choice, config):  # noqa: A002 - mockllm's signature
        prompt = input[-1].text
        self.prompts.append(prompt)
        self.max_tokens.append(config.max_tokens)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.latency:
                await asyncio.sleep(self.latency)
            return mock_output(self.answer(prompt))
        finally:
            self.in_flight -= 1

    @property
    def with_strategy(self) -> int:
        return sum("<strategy>" in p for p in self.prompts)

    @property
    def without_strategy(self) -> int:
        return sum("<strategy>" not in p for p in self.prompts)

    def model(self):
        return get_model("mockllm/model", custom_outputs=self, memoize=False)


def gold(problems):
    return {p.question.strip()[:60]: p.target for p in problems}


def answer_right(problems, *, without_strategy: bool = True, with_strategy: bool = True):
    """The right boxed answer when the call kind is enabled, a wrong one otherwise."""
    table = gold(problems)

    def answer(prompt: str) -> str:
        body = prompt.split("Problem:\n", 1)[1]
        target = next(v for k, v in table.items() if body.startswith(k))
        right = with_strategy if "<strategy>" in prompt else without_strategy
        return f"\\boxed{{{target if right else int(target) + 1}}}"

    return answer


def judge_returning(*replies: str) -> ScriptedModel:
    queue = list(replies)
    return ScriptedModel(lambda _prompt: queue.pop(0) if len(queue) > 1 else queue[0])


def engine(problems, core: ScriptedModel, judge: ScriptedModel | None = None, tmp_path: Path | None = None,
           core_config=None, **settings):
    models = RewardModels(core=core.model(), judge=(judge or judge_returning('{"score": 0.5, "leaks": false}')).model(),
                          core_config=core_config)
    return GuideRewards(problems, models, RewardSettings(
        baseline_cache=(tmp_path / "baselines") if tmp_path else None, executor="local", **settings))


async def components(eng: GuideRewards, ids, texts, **kwargs):
    """Call every reward function as TRL does (same lists, all at once)."""
    completions = [[{"role": "assistant", "content": t}] for t in texts]
    funcs = eng.reward_funcs()
    results = await asyncio.gather(*(f(prompts=[None] * len(texts), completions=completions, problem_id=ids, **kwargs) for f in funcs))
    return {f.__name__: r for f, r in zip(funcs, results, strict=True)}


# --------------------------------------------------------------------------- judge format


@pytest.mark.parametrize("reply,score", [('{"score": 0.7, "leaks": false}', 0.7), (' {"score": 1, "leaks": false}\n', 1.0), ('{"score": 0, "leaks": false}', 0.0)])
def test_judge_score_valid(reply, score):
    assert parse_judge_score(reply) == score


@pytest.mark.parametrize("reply", [
    "0.7", 'Score: {"score": 0.7}', '```json\n{"score": 0.7}\n```', '{"score": 0.7, "why": "ok"}',
    '{"score": true, "leaks": false}', '{"score": "0.7", "leaks": false}', '{"score": 1.5, "leaks": false}',
    '{"score": -0.1, "leaks": false}', '{"score": NaN, "leaks": false}', "", "[0.5]",
    # v2: the leak verdict is required and must be a boolean
    '{"score": 0.7}', '{"score": 0.7, "leaks": "no"}', '{"score": 0.7, "leaks": 0}',
])
def test_judge_score_invalid(reply):
    with pytest.raises(JudgeFormatError):
        parse_judge_score(reply)


def test_completion_text_forms():
    assert completion_text("plain") == ("plain", None)
    assert completion_text([{"role": "assistant", "content": "x", "reasoning_content": "r"}]) == ("x", "r")
    assert completion_text([{"role": "assistant", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}]) == ("ab", None)


# --------------------------------------------------------------------------- components


@needs_shared_data
async def test_each_component(gsm8k_problems, tmp_path):
    p = gsm8k_problems
    core = ScriptedModel(answer_right(p, without_strategy=False))
    judge = judge_returning('{"score": 0.75, "leaks": false}')
    eng = engine(p, core, judge, tmp_path, beta=0.1, gamma=0.2, kappa=0.5)
    assert [f.__name__ for f in eng.reward_funcs()] == list(COMPONENTS["exectune"]) == ["R", "I_str", "J", "dR_penalty"]
    assert eng.reward_weights() == [1.0, 0.1, 0.2, 0.5]
    out = await components(eng, [p[0].id, p[1].id], [GOOD, GOOD_2])
    assert out == {"R": [1.0, 1.0], "I_str": [1.0, 1.0], "J": [0.75, 0.75], "dR_penalty": [0.0, 0.0]}
    # computed once per completion and shared by the four components
    assert core.with_strategy == 2 and core.without_strategy == 2 and len(judge.prompts) == 2
    # the core saw the parsed strategy, not the think block
    assert "1. List the quantities." in core.prompts[0] + core.prompts[1]
    assert all("plan it" not in prompt for prompt in core.prompts)


@needs_shared_data
async def test_malformed_strategy_is_zero_everywhere_without_calls(gsm8k_problems, tmp_path):
    p = gsm8k_problems
    core, judge = ScriptedModel(answer_right(p)), judge_returning('{"score": 1, "leaks": false}')
    eng = engine(p, core, judge, tmp_path)
    bad = ["no tags at all", "<strategy>unclosed", "<think>open", "<strategy></strategy>", "<strategy>a</strategy><strategy>b</strategy>"]
    out = await components(eng, [p[0].id] * len(bad), bad)
    assert out == {name: [0.0] * len(bad) for name in COMPONENTS["exectune"]}
    assert core.prompts == [] and judge.prompts == []


@needs_shared_data
async def test_regression_penalty(gsm8k_problems, tmp_path):
    p = gsm8k_problems
    # right without the strategy, wrong with it: dR = -1
    core = ScriptedModel(answer_right(p, with_strategy=False))
    eng = engine(p, core, judge_returning('{"score": 0.5, "leaks": false}'), tmp_path, beta=0.1, gamma=0.2, kappa=0.5)
    out = await components(eng, [p[0].id], [GOOD])
    assert out == {"R": [0.0], "I_str": [1.0], "J": [0.5], "dR_penalty": [-1.0]}
    outcome = (await eng.outcomes([GOOD], problem_id=[p[0].id]))[0]
    assert outcome.d_r == -1.0
    assert eng.total(outcome) == pytest.approx(0.0 + 0.1 * 1 + 0.2 * 0.5 - 0.5 * 1)
    # better with the strategy than without: no penalty (the penalty only punishes regressions)
    core2 = ScriptedModel(answer_right(p, without_strategy=False))
    eng2 = engine(p, core2, judge_returning('{"score": 0.5, "leaks": false}'), tmp_path / "other")
    assert (await components(eng2, [p[0].id], [GOOD]))["dR_penalty"] == [0.0]


@needs_shared_data
async def test_a_leak_earns_nothing_and_calls_nothing(gsm8k_problems, tmp_path):
    """The default rule: a strategy stating the gold value earns 0 from every component, although
    the core would copy it and be right; neither the core nor the judge is called for it."""
    p = gsm8k_problems
    gold_number = p[0].target
    leaking = f"<think>x</think>\n<strategy>\n1. The total is {gold_number}.\n</strategy>"
    core, judge = ScriptedModel(answer_right(p)), judge_returning('{"score": 1, "leaks": false}')
    eng = engine(p, core, judge, tmp_path)
    out = await components(eng, [p[0].id, p[0].id], [leaking, GOOD])
    assert out == {"R": [0.0, 1.0], "I_str": [0.0, 1.0], "J": [0.0, 1.0], "dR_penalty": [0.0, 0.0]}
    assert len(judge.prompts) == 1 and gold_number not in judge.prompts[0].split("Strategy:")[1]
    assert core.with_strategy == 1  # the honest strategy's call only
    assert eng.stats["leaked"] == 1
    outcomes = await eng.outcomes([leaking], problem_id=[p[0].id])
    assert outcomes[0].leaked and outcomes[0].leak_reason.startswith("math.number: states the gold value")
    assert eng.total(outcomes[0]) == 0.0


@needs_shared_data
async def test_judge_only_keeps_the_papers_looser_rule(gsm8k_problems, tmp_path):
    """leak_reward=judge_only: J = 0 for a leak, R and I_str as computed (and the judge not asked)."""
    p = gsm8k_problems
    leaking = f"<think>x</think>\n<strategy>\n1. The total is {p[0].target}.\n</strategy>"
    core, judge = ScriptedModel(answer_right(p)), judge_returning('{"score": 1, "leaks": false}')
    eng = engine(p, core, judge, tmp_path, leak_reward="judge_only")
    out = await components(eng, [p[0].id, p[0].id], [leaking, GOOD])
    assert out["J"] == [0.0, 1.0] and out["R"] == [1.0, 1.0] and out["I_str"] == [1.0, 1.0]
    assert len(judge.prompts) == 1
    with pytest.raises(ValueError, match="leak_reward"):
        RewardSettings(leak_reward="sometimes")  # type: ignore[arg-type]


@needs_shared_data
async def test_the_judges_leak_verdict_zeroes_the_reward(gsm8k_problems, tmp_path):
    """A leak only the judge sees (here: the judge says so for an otherwise honest strategy) earns 0."""
    p = gsm8k_problems
    core, judge = ScriptedModel(answer_right(p)), judge_returning('{"score": 0.9, "leaks": true}')
    eng = engine(p, core, judge, tmp_path)
    out = await components(eng, [p[0].id], [GOOD])
    assert out == {"R": [0.0], "I_str": [0.0], "J": [0.0], "dR_penalty": [0.0]}
    outcome = (await eng.outcomes([GOOD], problem_id=[p[0].id]))[0]
    assert outcome.leaked and outcome.leak_reason.startswith("judge:")


@needs_shared_data
async def test_invalid_judge_reply_is_retried_then_unscorable(gsm8k_problems, tmp_path):
    p = gsm8k_problems
    # first reply invalid, second valid: the retry's score counts
    judge = judge_returning("I'd say 0.8", '{"score": 0.8, "leaks": false}')
    eng = engine(p, ScriptedModel(answer_right(p)), judge, tmp_path, judge_attempts=2)
    assert (await components(eng, [p[0].id], [GOOD]))["J"] == [0.8]
    assert len(judge.prompts) == 2 and eng.stats["judge_invalid"] == 1
    # never valid: the completion is unscorable (None everywhere), not a silent 0
    judge = judge_returning('{"score": 7, "leaks": false}')
    eng = engine(p, ScriptedModel(answer_right(p)), judge, tmp_path, judge_attempts=3)
    out = await components(eng, [p[0].id, p[1].id], [GOOD, "malformed"])
    assert out == {name: [None, 0.0] for name in COMPONENTS["exectune"]}
    assert len(judge.prompts) == 3


@needs_shared_data
async def test_failing_core_makes_the_completion_unscorable(gsm8k_problems, tmp_path):
    p = gsm8k_problems
    ok = answer_right(p)

    def answer(prompt: str) -> str:
        if "<strategy>" in prompt and "Multiply" in prompt:
            raise ConnectionError("core is down for good")
        return ok(prompt)

    core = ScriptedModel(answer)
    eng = engine(p, core, judge_returning('{"score": 0.5, "leaks": false}'), tmp_path)
    out = await components(eng, [p[0].id, p[0].id, p[1].id], [GOOD, GOOD_2, "garbage"])
    assert out == {"R": [1.0, None, 0.0], "I_str": [1.0, None, 0.0], "J": [0.5, None, 0.0], "dR_penalty": [0.0, None, 0.0]}
    assert eng.stats["unscorable"] == 1 and eng.stats["core_failures"] == 1


@needs_shared_data
async def test_failing_baseline_is_unscorable_and_not_cached(gsm8k_problems, tmp_path):
    p = gsm8k_problems
    ok = answer_right(p)
    down = {"on": True}

    def answer(prompt: str) -> str:
        if "<strategy>" not in prompt and down["on"]:
            raise ConnectionError("down")
        return ok(prompt)

    eng = engine(p, ScriptedModel(answer), judge_returning('{"score": 0.5, "leaks": false}'), tmp_path)
    assert (await components(eng, [p[0].id], [GOOD]))["R"] == [None]
    assert not list((tmp_path / "baselines").rglob("*.json"))
    down["on"] = False
    assert (await components(eng, [p[0].id], [GOOD], trainer_state=type("S", (), {"global_step": 1})()))["R"] == [1.0]
    assert len(list((tmp_path / "baselines").rglob("*.json"))) == 1


@needs_shared_data
async def test_baseline_cached_once_per_problem_and_on_disk(gsm8k_problems, tmp_path):
    p = gsm8k_problems
    core = ScriptedModel(answer_right(p))
    eng = engine(p, core, None, tmp_path)
    ids = [p[0].id] * 4 + [p[1].id] * 4
    await components(eng, ids, [GOOD, GOOD_2] * 4)
    assert core.without_strategy == 2  # one per problem, shared by the 4 rollouts of each
    files = sorted((tmp_path / "baselines").rglob("*.json"))
    assert len(files) == 2
    record = json.loads(files[0].read_text())
    assert {"core_model", "core_prompt_version", "problem_id", "sampling", "reward"} <= set(record)
    # a later step of the same run: memory hit, no new baseline call
    await components(eng, ids, [GOOD_2, GOOD] * 4, trainer_state=type("S", (), {"global_step": 7})())
    assert core.without_strategy == 2
    # a new run (new engine, same cache folder): disk hit, still no baseline call
    core2 = ScriptedModel(answer_right(p))
    eng2 = engine(p, core2, None, tmp_path)
    await components(eng2, ids, [GOOD] * 8)
    assert core2.without_strategy == 0 and core2.with_strategy == 8
    assert eng2.stats["baseline_disk_hits"] == 2
    # another sampling config is another key: recomputed
    core3 = ScriptedModel(answer_right(p))
    eng3 = engine(p, core3, None, tmp_path, core_config={"temperature": 0.3})
    await components(eng3, ids[:1], [GOOD])
    assert core3.without_strategy == 1
    assert len(list((tmp_path / "baselines").rglob("*.json"))) == 3


@needs_shared_data
async def test_core_calls_run_under_the_tasks_core_cap(gsm8k_problems, tmp_path):
    """The rewards' core calls (with and without the strategy) have the Inspect tasks' cap, so a
    reward is earned by the core the leaderboard rows ran; core_config's max_tokens wins."""
    p = gsm8k_problems
    core = ScriptedModel(answer_right(p))
    await components(engine(p, core, None, tmp_path), [p[0].id], [GOOD])
    assert core.with_strategy == core.without_strategy == 1 and core.max_tokens == [2048, 2048]
    capped = ScriptedModel(answer_right(p))
    eng = engine(p, capped, None, tmp_path, core_config={"max_tokens": 100})
    await components(eng, [p[0].id], [GOOD])
    assert capped.max_tokens == [100, 100]
    assert eng.baseline_key_fields(eng.problems[p[0].id])["sampling"]["max_tokens"] == 100


@needs_shared_data
def test_baseline_key_is_content_keyed(gsm8k_problems):
    p = gsm8k_problems
    a = GuideRewards(p, RewardModels(core="mockllm/reference"), RewardSettings(gamma=0))
    b = GuideRewards(p, RewardModels(core="mockllm/reference", core_config={"max_connections": 3, "timeout": 9}),
                     RewardSettings(gamma=0))
    c = GuideRewards(p, RewardModels(core="mockllm/wrong"), RewardSettings(gamma=0))
    info = a.problems[p[0].id]
    assert BaselineCache.key(a.baseline_key_fields(info)) == BaselineCache.key(b.baseline_key_fields(info))
    assert BaselineCache.key(a.baseline_key_fields(info)) != BaselineCache.key(c.baseline_key_fields(info))
    assert a.baseline_key_fields(info)["core_prompt_version"] == "core-v1"


@needs_shared_data
async def test_batch_runs_concurrently_under_one_limit(gsm8k_problems, tmp_path):
    p = gsm8k_problems
    latency = 0.3
    core = ScriptedModel(answer_right(p), latency=latency)
    judge = ScriptedModel(lambda _: '{"score": 0.5, "leaks": false}', latency=latency)
    eng = engine(p, core, judge, tmp_path)
    ids = [q.id for q in p for _ in range(4)]  # 16 completions, 4 problems
    started = time.perf_counter()
    out = await components(eng, ids, [GOOD] * 16)
    elapsed = time.perf_counter() - started
    assert out["R"] == [1.0] * 16
    # 16 strategy calls + 4 baselines + 16 judge calls, all in flight together
    assert core.max_in_flight == 20 and judge.max_in_flight == 16
    assert elapsed < 2 * latency + 0.5, elapsed
    # one limit for everything: 4 at a time
    core2 = ScriptedModel(answer_right(p), latency=0.05)
    judge2 = ScriptedModel(lambda _: '{"score": 0.5, "leaks": false}', latency=0.05)
    eng2 = engine(p, core2, judge2, tmp_path / "b", max_concurrency=4)
    await components(eng2, ids, [GOOD] * 16)
    assert core2.max_in_flight + judge2.max_in_flight <= 8 and max(core2.max_in_flight, judge2.max_in_flight) <= 4


@needs_shared_data
def test_sync_compute_and_offline_cores(gsm8k_problems, tmp_path):
    p = gsm8k_problems
    eng = GuideRewards(p, RewardModels(core="mockllm/strategy_gated", judge="mockllm/judge"),
                       RewardSettings(baseline_cache=tmp_path))
    out = eng.compute([p[0].id, p[1].id], [GOOD, "bad"])
    assert out == {"R": [1.0, 0.0], "I_str": [1.0, 0.0], "J": [0.5, 0.0], "dR_penalty": [0.0, 0.0]}
    assert eng.core_name == "mockllm/strategy_gated"
    out = GuideRewards(p, RewardModels(core="mockllm/wrong"),
                       RewardSettings(gamma=0, baseline_cache=tmp_path)).compute([p[0].id], [GOOD])
    assert out["R"] == [0.0] and out["J"] == [0.0]
    with pytest.raises(ValueError, match="unknown offline core"):
        offline_core("mockllm/nope", p)


@needs_shared_data
async def test_advisor_reward_is_the_task_reward_only(gsm8k_problems, tmp_path):
    p = gsm8k_problems
    core = ScriptedModel(answer_right(p, without_strategy=False))
    eng = GuideRewards(p, RewardModels(core=core.model()), RewardSettings(recipe="advisor", baseline_cache=tmp_path))
    assert [f.__name__ for f in eng.reward_funcs()] == ["R"] and eng.reward_weights() == [1.0]
    advice = "<think>hmm</think>Add the two amounts carefully; no tags needed."
    out = await components(eng, [p[0].id, p[1].id], [advice, "free-form tips without any schema"])
    assert out == {"R": [1.0, 1.0]}
    assert "Add the two amounts carefully" in core.prompts[0] and "hmm" not in core.prompts[0]
    assert core.without_strategy == 0  # no baseline in Advisor


@needs_shared_data
async def test_code_rewards_use_the_sandbox_and_share_identical_jobs(kodcode_problems, tmp_path):
    p = kodcode_problems
    references = {q.question.strip()[:60]: benchmark_for(q).reference_answer(q) for q in p}

    def answer(prompt: str) -> str:
        body = prompt.split("Task:\n", 1)[1]
        ref = next(v for k, v in references.items() if body.startswith(k))
        return ref if "<strategy>" in prompt else "```python\nx = 1\n```"

    core = ScriptedModel(answer)
    eng = engine(p, core, None, tmp_path, gamma=0.0)
    strategy = "<think>t</think>\n<strategy>\n1. Keep the signature.\n2. Handle empty input.\n</strategy>"
    try:
        out = await components(eng, [q.id for q in p for _ in range(2)], [strategy] * 6)
    finally:
        await eng.aclose()
    assert out["R"] == [1.0] * 6 and out["dR_penalty"] == [0.0] * 6 and out["J"] == [0.0] * 6
    # 6 graded strategy runs + 3 baselines, but identical jobs (same code, same tests) run once
    assert eng.stats["sandbox_jobs"] == 9 and eng.stats["sandbox_runs"] == 6


@needs_shared_data
def test_engine_rejects_bad_arguments(gsm8k_problems):
    with pytest.raises(ValueError, match="judge"):
        GuideRewards(gsm8k_problems, RewardModels(core="mockllm/reference"), RewardSettings(gamma=0.1))
    with pytest.raises(ValueError, match="recipe"):
        RewardSettings(recipe="nope")  # type: ignore[arg-type]
    eng = GuideRewards(gsm8k_problems, RewardModels(core="mockllm/reference"), RewardSettings(gamma=0))
    with pytest.raises(KeyError, match="not among"):
        eng.compute(["no-such-id"], [GOOD])


@needs_shared_data
async def test_batch_metrics_and_columns_are_logged_once(gsm8k_problems, tmp_path):
    p = gsm8k_problems
    eng = engine(p, ScriptedModel(answer_right(p)), None, tmp_path)
    metrics: list[tuple[str, float]] = []
    columns: dict[str, list] = {}
    await components(eng, [p[0].id, p[1].id], [GOOD, "bad"], log_metric=lambda k, v: metrics.append((k, v)),
                     log_extra=lambda k, v: columns.setdefault(k, []).extend(v))
    names = [k for k, _ in metrics]
    assert len(names) == len(set(names))  # one component logs for the batch, not four
    assert dict(metrics)["rewards_info/unscorable_frac"] == 0.0 and "rewards_info/leak_rate" in names
    assert columns["reward_status"] == ["ok", "malformed: no <strategy> tag"] and columns["core_verdict"] == ["passed", None]


@needs_shared_data
async def test_engines_sharing_a_cache_compute_a_missing_baseline_once(gsm8k_problems, tmp_path):
    """Two ranks (two engines, two lock descriptors: flock treats them as two processes) ask for the
    same missing baseline at once: one core call, the other finds it on disk."""
    p = gsm8k_problems
    cores = [ScriptedModel(answer_right(p), latency=0.3) for _ in range(2)]
    engines = [engine(p, core, None, tmp_path) for core in cores]
    await asyncio.gather(*(components(eng, [p[0].id] * 2, [GOOD, GOOD_2]) for eng in engines))
    assert sum(core.without_strategy for core in cores) == 1
    assert sorted(eng.stats["baseline_computed"] for eng in engines) == [0, 1]
    assert sorted(eng.stats["baseline_disk_hits"] for eng in engines) == [0, 1]


class _InProcessSandbox:
    """A sandbox whose every verdict says the solution ran inside the judge (a forgeable pass)."""

    def __init__(self) -> None:
        self.jobs = 0

    async def run(self, job):
        from gcop.sandbox.protocol import Status, Verdict

        self.jobs += 1
        return Verdict(Status.PASSED, "1 passed", extra={"boundary": {"mode": "in-process", "reason": "patches objects"}})


@needs_shared_data
async def test_an_in_process_verdict_is_never_a_reward(kodcode_problems, tmp_path):
    """A code verdict decided with the solution inside the judge can be forged (the classic
    TestReport patch): the rollout is masked, counted, and not taken for an infrastructure
    failure; allow_in_process_verdicts pays it."""
    p = kodcode_problems
    core = ScriptedModel(lambda prompt: "```python\ndef f():\n    return 1\n```")
    strategy = "<think>t</think>\n<strategy>\n1. Keep the signature.\n2. Handle empty input.\n</strategy>"
    for allow in (False, True):
        sandbox = _InProcessSandbox()
        eng = GuideRewards(p, RewardModels(core=core.model()), RewardSettings(
            gamma=0.0, executor=sandbox, allow_in_process_verdicts=allow, max_unscorable_share=0.0, unscorable_window=1,
            baseline_cache=tmp_path / str(allow)))
        out = await components(eng, [p[0].id, p[1].id], [strategy, strategy])
        assert sandbox.jobs > 0
        if allow:
            assert out["R"] == [1.0, 1.0]
        else:
            assert out == {name: [None, None] for name in COMPONENTS["exectune"]}
            assert eng.stats["masked"] == 2 and eng.stats["unscorable"] == 0  # no UnscorableRewardsError either
