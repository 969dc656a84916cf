"""The cascade modes (evals/cascade.py, evals/memory.py) with scripted cheap and strong models:
escalation exactly when the rule says, strong cost only for escalated samples, per-role costs
that add up, a memory that grows only from strong answers and never stores a leaking strategy,
and memory runs that repeat exactly."""

from __future__ import annotations

import json

import pytest
from inspect_ai import eval as inspect_eval
from inspect_ai.model import get_model

from gcop.costs import role_rows
from gcop.evals.benchmarks import get_benchmark
from gcop.evals.cascade import CascadeSettings, decide
from gcop.evals.gsm8k import gsm8k
from gcop.evals.humaneval import humaneval
from gcop.evals.memory import memory_path
from tests.conftest import SHARED_DATA, mock_output, needs_shared_data

DATA = str(SHARED_DATA)
GSM8K = get_benchmark("gsm8k")


def _current():
    from inspect_ai.solver._task_state import sample_state

    return sample_state()


def _problems(n: int = 4):
    return GSM8K.load("test", DATA)[:n]


def _scripted_cheap(plan: dict[int, list[bool]], problems, prompts: list[str] | None = None):
    """The cheap core: for problem i and seed s, the gold answer when plan[i][s], else gold + 1."""
    index = {p.question.strip()[:60]: (i, p) for i, p in enumerate(problems)}

    def respond(input, tools, tool_choice, config):
        prompt = input[-1].text
        if prompts is not None:
            prompts.append(prompt)
        i, problem = next(v for k, v in index.items() if k in prompt)
        right = plan[i][config.seed or 0]
        answer = problem.target if right else str(int(problem.target) + 1)
        return mock_output(f"so \\boxed{{{answer}}}", input_tokens=100, output_tokens=10)

    return get_model("mockllm/model", custom_outputs=respond, memoize=False)


def _scripted_strong(problems, leak_on: set[int] = frozenset(), calls: list[str] | None = None):
    """The strong model: the gold answer; asked for a strategy (the guide prompt), a generic one,
    or one stating the gold answer for the problems in ``leak_on``."""
    index = {p.question.strip()[:60]: (i, p) for i, p in enumerate(problems)}

    def respond(input, tools, tool_choice, config):
        prompt = input[-1].text
        i, problem = next(v for k, v in index.items() if k in prompt)
        if any(m.role == "system" and "<strategy>" in m.text for m in input):
            if calls is not None:
                calls.append(f"strategy:{i}")
            text = f"the answer is {problem.target}" if i in leak_on else f"1. list the quantities of problem kind {i}\n2. combine them"
            return mock_output(f"<think>plan</think><strategy>\n{text}\n</strategy>", model="mockllm/strong",
                               input_tokens=1000, output_tokens=100)
        if calls is not None:
            calls.append(f"answer:{i}")
        return mock_output(f"\\boxed{{{problem.target}}}", model="mockllm/strong", input_tokens=1000, output_tokens=100)

    return get_model("mockllm/strong", custom_outputs=respond, memoize=False)


def _run(task, cheap, strong, tmp_path, **kwargs):
    [log] = inspect_eval(task, model=cheap, model_roles={"strong": strong}, display="none",
                         log_dir=str(tmp_path), **kwargs)
    assert log.status == "success", log.error
    return log


def _by_position(log, problems):
    order = {p.id: i for i, p in enumerate(problems)}
    return sorted(log.samples, key=lambda s: order[s.id])


# Problem 0: the cheap core is always right; 1: right once in 3; 2: always wrong (and agrees with
# itself); 3: right twice in 3.
PLAN = {0: [True] * 3, 1: [True, False, False], 2: [False] * 3, 3: [True, True, False]}


@needs_shared_data
def test_agreement_escalates_exactly_below_the_threshold_and_charges_the_strong_model_only_then(tmp_path):
    problems = _problems()
    calls: list[str] = []
    log = _run(gsm8k(mode="cascade", data_dir=DATA), _scripted_cheap(PLAN, problems),
               _scripted_strong(problems, calls=calls), tmp_path, limit=4)
    samples = _by_position(log, problems)
    cascade = [s.metadata["cascade"] for s in samples]
    assert [c["confidence"] for c in cascade] == pytest.approx([1.0, 2 / 3, 1.0, 2 / 3])
    assert [c["escalated"] for c in cascade] == [False, True, False, True]
    assert [s.scores["math_scorer"].value for s in samples] == ["C", "C", "I", "C"]
    # the cheap answer kept is the majority's: wrong for problem 1, right for problem 3
    assert [s.scores["math_scorer"].metadata["cheap_correct"] for s in samples] == [True, False, False, True]
    metrics = {k: v.value for k, v in log.results.scores[0].metrics.items()}
    assert metrics["escalation_rate"] == 0.5 and metrics["cheap_accuracy"] == 0.5 and metrics["accuracy"] == 0.75
    assert sorted(calls) == ["answer:1", "answer:3"]
    # strong usage only where escalated; per-sample records add up to the log's roles
    assert [c["strong"] is not None for c in cascade] == [False, True, False, True]
    assert all(c["cheap"]["input_tokens"] == 300 for c in cascade)  # k = 3 cheap calls each
    rows = role_rows(log)
    assert rows["strong"]["input_tokens"] == sum(c["strong"]["input_tokens"] for c in cascade if c["strong"]) == 2000
    assert rows["core"]["input_tokens"] == sum(c["cheap"]["input_tokens"] for c in cascade) == 1200
    assert all("3 samples agree" in c["reason"] or "of 3 samples agree" in c["reason"] for c in cascade)


@needs_shared_data
def test_the_threshold_moves_the_escalations(tmp_path):
    problems = _problems()
    log = _run(gsm8k(mode="cascade", cascade_threshold=0.5, data_dir=DATA), _scripted_cheap(PLAN, problems),
               _scripted_strong(problems), tmp_path, limit=4)
    assert not any(s.metadata["cascade"]["escalated"] for s in log.samples)  # 2/3 >= 0.5
    log = _run(gsm8k(mode="cascade", cascade_threshold=1.01, data_dir=DATA), _scripted_cheap(PLAN, problems),
               _scripted_strong(problems), tmp_path / "always", limit=4)
    assert all(s.metadata["cascade"]["escalated"] for s in log.samples)
    assert log.results.scores[0].metrics["accuracy"].value == 1.0


@needs_shared_data
def test_cascade_needs_the_strong_role(tmp_path):
    problems = _problems(1)
    [log] = inspect_eval(gsm8k(mode="cascade", data_dir=DATA), model=_scripted_cheap(PLAN, problems), limit=1,
                         display="none", log_dir=str(tmp_path))
    assert log.status == "error" and "--model-role strong=" in log.error.message


def test_bad_cascade_options_are_named():
    with pytest.raises(ValueError, match="-T cascade_rule"):
        CascadeSettings.from_options("vote", None, 1.0, sandboxed=False)
    with pytest.raises(ValueError, match="code benchmarks"):
        CascadeSettings.from_options("examples", None, 1.0, sandboxed=False)
    with pytest.raises(ValueError, match="-T cascade_k"):
        CascadeSettings.from_options("agreement", 1, 1.0, sandboxed=False)
    with pytest.raises(ValueError, match="-T cascade_threshold"):
        CascadeSettings.from_options("agreement", 3, 2.0, sandboxed=False)
    assert CascadeSettings.from_options("examples", None, 1.0, sandboxed=True).k == 1


async def test_no_answer_never_forms_a_majority():
    decision = await decide(GSM8K, CascadeSettings(k=3), ["no idea", "", "\\boxed{4}"], problem="p", target="4",
                            metadata={}, sample_id="s")
    assert decision.confidence == pytest.approx(1 / 3) and decision.chosen == 2
    decision = await decide(GSM8K, CascadeSettings(k=2), ["no idea", ""], problem="p", target="4", metadata={}, sample_id="s")
    assert decision.confidence == 0.0


# --------------------------------------------------------------------------- memory

def _memory_run(tmp_path, problems, leak_on=frozenset(), prompts=None, **options):
    calls: list[str] = []
    log = _run(gsm8k(mode="memory", data_dir=DATA, **options), _scripted_cheap(PLAN, problems, prompts),
               _scripted_strong(problems, leak_on=set(leak_on), calls=calls), tmp_path, limit=len(problems),
               max_samples=4)
    return log, calls


@needs_shared_data
def test_memory_grows_only_from_strong_answers_and_drops_a_leaking_strategy(tmp_path):
    problems = _problems()
    prompts: list[str] = []
    log, calls = _memory_run(tmp_path, problems, leak_on={3}, prompts=prompts)
    samples = _by_position(log, problems)
    memory = [s.metadata["memory"] for s in samples]
    # escalated: 1 (stores its strategy) and 3 (its strategy states the gold answer: dropped)
    assert [m["stored"] is not None for m in memory] == [False, True, False, False]
    assert memory[3]["dropped"] == 1 and "leaks" in memory[3]["drop_reason"]
    assert [m["size"] for m in memory] == [0, 1, 1, 1]
    assert calls == ["answer:1", "strategy:1", "answer:3", "strategy:3"]  # the stream's order
    # what a query retrieves is what the queries before it stored, and its prompt shows it
    assert [m["retrieved"] for m in memory] == [[], [], [problems[1].id], [problems[1].id]]
    shown = [p for p in prompts if problems[2].question.strip()[:60] in p]
    assert shown and all("list the quantities of problem kind 1" in p for p in shown)
    assert not any("the answer is" in p for p in prompts)
    metrics = {k: v.value for k, v in log.results.scores[0].metrics.items()}
    assert metrics["memory_size"] == 1 and metrics["memory_dropped"] == 1
    saved = [json.loads(line) for line in open(memory_path(log.location))]
    assert [e["source_id"] for e in saved] == [problems[1].id]
    assert saved[0]["strategy"].startswith("1. list the quantities of problem kind 1")


@needs_shared_data
def test_two_identical_memory_runs_give_identical_scores_and_memories(tmp_path):
    problems = _problems(6)
    plan = {**PLAN, 4: [False, True, True], 5: [True, False, True]}
    logs = []
    for run in ("a", "b"):
        [log] = inspect_eval(gsm8k(mode="memory", data_dir=DATA), model=_scripted_cheap(plan, problems),
                             model_roles={"strong": _scripted_strong(problems)}, limit=6, max_samples=6,
                             display="none", log_dir=str(tmp_path / run))
        logs.append(log)
    a, b = ([(s.id, s.scores["math_scorer"].value, s.metadata["memory"]) for s in _by_position(log, problems)] for log in logs)
    assert a == b
    memories = [open(memory_path(log.location)).read() for log in logs]
    assert memories[0] == memories[1] and len(memories[0].splitlines()) >= 2


@needs_shared_data
def test_memory_warms_from_the_train_split_first(tmp_path):
    problems = _problems(2)
    train = GSM8K.load("train", DATA)[:2]
    everyone = [*problems, *train]
    [log] = inspect_eval(gsm8k(mode="memory", memory_warm=2, data_dir=DATA),
                         model=_scripted_cheap({0: [True] * 3, 1: [True] * 3}, problems),
                         model_roles={"strong": _scripted_strong(everyone)}, limit=2, display="none",
                         log_dir=str(tmp_path))
    assert log.status == "success", log.error
    first = _by_position(log, problems)[0].metadata["memory"]
    assert first["warm"] == {"problems": 2, "stored": 2, "dropped": 0}
    assert first["size_before"] == 2 and sorted(first["retrieved"]) == sorted(p.id for p in train)
    # the warm-up's strong calls are charged, inside the first sample
    assert role_rows(log)["strong"]["input_tokens"] == 4 * 1000


def test_memory_warm_cannot_evaluate_the_train_split():
    with pytest.raises(ValueError, match="-T split=test"):
        gsm8k(mode="memory", split="train", memory_warm=5, data_dir=DATA)


# --------------------------------------------------------------------------- code: visible examples

def _humaneval_cheap(wrong_ids: set[str], wrong_seeds: set[int] = frozenset({0, 1, 2})):
    spec = get_benchmark("humaneval")

    def respond(input, tools, tool_choice, config):
        state = _current()
        meta = state.metadata
        if state.sample_id in wrong_ids and (config.seed or 0) in wrong_seeds:
            return mock_output(spec.wrong_answer(state.target.text, meta))
        return mock_output(meta["reference"])

    return get_model("mockllm/model", custom_outputs=respond, memoize=False)


def _humaneval_strong():
    def respond(input, tools, tool_choice, config):
        return mock_output(_current().metadata["reference"], model="mockllm/strong")

    return get_model("mockllm/strong", custom_outputs=respond, memoize=False)


@pytest.mark.slow
def test_examples_rule_runs_the_statements_examples_in_the_sandbox(tmp_path):
    ids = ["HumanEval/0", "HumanEval/2", "HumanEval/38"]  # 38's statement shows no example
    log = _run(humaneval(mode="cascade", cascade_rule="examples", executor="local"), _humaneval_cheap({"HumanEval/2"}),
               _humaneval_strong(), tmp_path, sample_id=ids)
    by_id = {s.id: s.metadata["cascade"] for s in log.samples}
    assert by_id["HumanEval/0"]["escalated"] is False and by_id["HumanEval/0"]["confidence"] == 1.0
    assert by_id["HumanEval/2"]["escalated"] is True and by_id["HumanEval/2"]["confidence"] < 1.0
    assert by_id["HumanEval/38"]["escalated"] is True and "no example" in by_id["HumanEval/38"]["reason"]
    assert all(s.scores["code_scorer"].value == "C" for s in log.samples)
    assert {s.id: s.scores["code_scorer"].metadata["cheap_correct"] for s in log.samples} == \
        {"HumanEval/0": True, "HumanEval/2": False, "HumanEval/38": True}


@pytest.mark.slow
def test_code_agreement_compares_behaviour_on_the_visible_examples(tmp_path):
    log = _run(humaneval(mode="cascade", executor="local"), _humaneval_cheap({"HumanEval/0"}, wrong_seeds={1}),
               _humaneval_strong(), tmp_path, sample_id=["HumanEval/0"])
    [sample] = log.samples
    cascade = sample.metadata["cascade"]
    assert cascade["confidence"] == pytest.approx(2 / 3) and cascade["escalated"] is True
    assert cascade["votes"][0] == cascade["votes"][2] != cascade["votes"][1]
    assert cascade["votes"][0] == ["test_example_1", "test_example_2"]


@needs_shared_data
def test_guided_cascade_gives_the_strategy_to_the_cheap_core_only(tmp_path):
    problems = _problems()
    prompts: list[str] = []
    strong_prompts: list[str] = []

    def guide(input, tools, tool_choice, config):
        return mock_output("<think>t</think><strategy>\n1. add the parts\n</strategy>", model="mockllm/guide")

    recorded = get_model("mockllm/guide", custom_outputs=guide, memoize=False)
    [log] = inspect_eval(gsm8k(mode="guided_cascade", data_dir=DATA), model=_scripted_cheap(PLAN, problems, prompts),
                         model_roles={"strong": _scripted_strong(problems, calls=strong_prompts), "guide": recorded},
                         limit=4, display="none", log_dir=str(tmp_path))
    assert log.status == "success", log.error
    assert prompts and all("<strategy>\n1. add the parts\n</strategy>" in p for p in prompts)
    samples = _by_position(log, problems)
    assert [s.metadata["cascade"]["escalated"] for s in samples] == [False, True, False, True]
    assert all(s.metadata["guide"]["valid"] for s in samples)
    assert sorted(strong_prompts) == ["answer:1", "answer:3"]
    # the strong model answers the problem alone (the strong-core row's prompt), without the strategy
    for sample in samples:
        carried = any("<strategy>" in m.text for m in sample.messages if m.role == "user")
        assert carried is (not sample.metadata["cascade"]["escalated"])
    roles = role_rows(log)
    assert set(roles) == {"guide", "strong", "core"} and roles["guide"]["input_tokens"] == 4 * 10
