"""Acceptance sampling (train/accept.py), the cost ledger and Inspect models outside eval().

Offline: teacher and core are mockllm models whose outputs come from scripted callables (with
explicit usage); GSM8K and KodCode problems come from the shared data folder.
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from inspect_ai.model import ChatMessage, GenerateConfig, ModelCost, ModelUsage, get_model

from gcop.evals.benchmarks import benchmark_for, load_problems
from gcop.inspect_models import ModelCallError, generate_output, generate_text, run_sync
from gcop.inspect_models import get_model as gcop_get_model
from gcop.train.accept import (
    AcceptConfig,
    AcceptSettingsMismatch,
    acceptance_bounds,
    canonical_guide_output,
    compute_stats,
    guarantee,
    hoeffding_lcb,
    load_state,
    run_acceptance,
    teacher_messages,
)
from gcop.train.ledger import BudgetExceeded, CostLedger
from tests.conftest import SHARED_DATA, mock_output, needs_shared_data

KEYWORD = "TABULATE"
GOOD = f"<think>\nI see how it goes.\n</think>\n<strategy>\n1. {KEYWORD} the quantities.\n2. Combine them.\n</strategy>"
BAD = "<think>\nHmm.\n</think>\n<strategy>\n1. Read the problem.\n2. Answer it.\n</strategy>"


def gsm8k(n: int) -> list[Any]:
    return load_problems("gsm8k", "train", SHARED_DATA)[:n]


class Scripted:
    """A mockllm model whose reply is ``reply(messages, call_number)``; records every input."""

    def __init__(self, name: str, reply: Callable[[list[ChatMessage], int], str], tokens: tuple[int, int] = (100, 20)) -> None:
        self.name = name
        self.reply = reply
        self.tokens = tokens
        self.calls: list[list[ChatMessage]] = []
        self.lock = threading.Lock()

    def __call__(self, input: list[ChatMessage], tools: Any, tool_choice: Any, config: GenerateConfig) -> Any:
        with self.lock:
            self.calls.append(list(input))
            number = len(self.calls)
        content = self.reply(list(input), number)
        return mock_output(content, model=self.name, input_tokens=self.tokens[0], output_tokens=self.tokens[1])

    def model(self) -> Any:
        return get_model(self.name, custom_outputs=self, memoize=False)

    def count(self, text: str) -> int:
        """Calls whose prompt contains ``text``."""
        return sum(1 for call in self.calls if any(text in m.text for m in call))


def problem_of(messages: list[ChatMessage], problems: list[Any]) -> Any:
    prompt = messages[-1].text if messages else ""
    whole = "\n".join(m.text for m in messages)
    for p in problems:
        if p.question.strip() in prompt or p.question.strip() in whole:
            return p
    raise AssertionError("no problem in the prompt")


def keyword_core(problems: list[Any], wrong: str = "I get \\boxed{-7}.") -> Scripted:
    """Right answer when the strategy in the prompt has the keyword, else ``wrong``."""

    def reply(messages: list[ChatMessage], _: int) -> str:
        p = problem_of(messages, problems)
        return f"So \\boxed{{{p.target}}}." if KEYWORD in messages[-1].text else wrong

    return Scripted("mockllm/core", reply)


def config(tmp_path: Path, teacher: Scripted, core: Scripted, **kw: Any) -> AcceptConfig:
    settings: dict[str, Any] = dict(benchmark="gsm8k", split="train", k=4, tau=0.75, rounds=2, out_dir=tmp_path / "out",
                                    concurrency=4, progress=False, data_dir=str(SHARED_DATA), max_retries=1)
    settings.update(kw)
    return AcceptConfig(teacher=teacher.model(), core=core.model(), **settings)


def rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# --------------------------------------------------------------------------- accept / reject


@needs_shared_data
def test_accepted_and_rejected(tmp_path: Path) -> None:
    problems = gsm8k(3)
    hopeless = problems[2].question.strip()
    teacher = Scripted("mockllm/teacher", lambda m, _: BAD if hopeless in m[1].text else GOOD)
    core = keyword_core(problems)
    result = run_acceptance(config(tmp_path, teacher, core), problems=problems)

    corpus = rows(result.corpus_path)
    assert [r["id"] for r in corpus] == [problems[0].id, problems[1].id]
    row = corpus[0]
    assert set(row) == {"id", "benchmark", "problem", "guide_output", "strategy", "q_K", "round", "teacher", "core",
                        "prompt_version"}
    assert row["benchmark"] == "gsm8k" and row["problem"] == problems[0].question
    assert row["q_K"] == 1.0 and row["round"] == 1
    assert row["teacher"] == "mockllm/teacher" and row["core"] == "mockllm/core" and row["prompt_version"] == "guide-v1"
    assert row["guide_output"] == "<think>\nI see how it goes.\n</think>\n<strategy>\n" + row["strategy"] + "\n</strategy>"
    assert KEYWORD in row["strategy"]

    # the SFT loader takes the corpus as it is
    from gcop.train.sft import load_corpus

    loaded, skipped = load_corpus(result.corpus_path)
    assert len(loaded) == 2 and not skipped

    state = load_state(result.state_path)
    assert state[problems[2].id]["status"] == "rejected"
    assert [r["round"] for r in state[problems[2].id]["rounds"]] == [1, 2]
    assert len(teacher.calls) == 1 + 1 + 2
    assert len(core.calls) == 4 * 4  # K executions per valid proposal
    # the teacher saw the problem and its reference solution; the core saw the strategy, never the reference
    assert problems[0].answer.split("####")[0].strip()[:40] in teacher.calls[0][1].text
    assert all("Reference solution" not in m.text for call in core.calls for m in call)

    stats = json.loads(result.stats_path.read_text())
    assert stats["problems"] == {"finished": 3, "accepted": 2, "rejected": 1, "error": 0}
    assert stats["per_round"][0]["proposals"] == 3 and stats["per_round"][0]["accepted"] == 2
    assert stats["per_round"][1]["proposals"] == 1 and stats["per_round"][1]["accepted"] == 0
    # the numbers, by hand: 2 of 3 problems, 2 of 4 proposals
    d = math.sqrt(math.log(1 / 0.05) / (2 * 3))
    assert stats["acceptance_problems"]["rate"] == pytest.approx(2 / 3)
    assert stats["acceptance_problems"]["rate_lcb"] == pytest.approx(max(0.0, 2 / 3 - d)) == 0.0  # 2/3 - 0.707: clamped
    assert stats["acceptance_proposals"]["rate"] == pytest.approx(0.5)
    assert stats["acceptance_proposals"]["rate_lcb"] == pytest.approx(max(0.0, 0.5 - math.sqrt(math.log(20) / 8)))
    assert stats["guarantee"]["overall"] == pytest.approx(max(0.0, 0.65 * (1 - math.exp(-2 * 4 * 0.01) / 0.5)))
    assert stats["cost"]["phases"]["teacher"]["calls"] == 4 and stats["cost"]["phases"]["core"]["calls"] == 16
    ledger = json.loads(result.ledger_path.read_text())
    assert ledger["phases"]["teacher"]["input_tokens"] == 400 and ledger["phases"]["core"]["output_tokens"] == 16 * 20
    assert "2/3 problems accepted" in result.format()


@needs_shared_data
def test_refinement_feeds_back_the_core_failures(tmp_path: Path) -> None:
    problems = gsm8k(1)
    marker = "FAILURE-MARKER-9431"

    def teach(messages: list[ChatMessage], number: int) -> str:
        if number == 1:
            return BAD
        # the feedback is the last user message of a continued conversation
        assert [m.role for m in messages] == ["system", "user", "assistant", "user"]
        return GOOD if marker in messages[-1].text else BAD

    teacher = Scripted("mockllm/teacher", teach)
    core = keyword_core(problems, wrong=f"{marker}: I get \\boxed{{-7}}.")
    result = run_acceptance(config(tmp_path, teacher, core, rounds=3), problems=problems)
    corpus = rows(result.corpus_path)
    assert len(corpus) == 1 and corpus[0]["round"] == 2 and corpus[0]["q_K"] == 1.0
    feedback = teacher.calls[1][-1].text
    assert "succeeded 0 time(s)" in feedback and "differs from the gold" in feedback
    assert teacher.calls[1][2].text == BAD  # its own previous answer
    assert len(teacher.calls) == 2 and len(core.calls) == 8
    stats = result.stats
    assert [(r["proposals"], r["accepted"]) for r in stats["per_round"]] == [(1, 0), (1, 1), (0, 0)]
    assert stats["guarantee"]["per_problem"]["n"] == 1
    assert stats["guarantee"]["per_problem"]["mean"] == pytest.approx(guarantee(0.75, 0.1, 4, 0.5))


@needs_shared_data
def test_malformed_and_leaking_outputs_count_as_rounds(tmp_path: Path) -> None:
    problems = gsm8k(1)
    gold = problems[0].target
    replies = ["no tags at all", f"<think>x</think><strategy>\n1. The answer is {gold}.\n</strategy>", GOOD]
    teacher = Scripted("mockllm/teacher", lambda m, n: replies[n - 1])
    core = keyword_core(problems)
    result = run_acceptance(config(tmp_path, teacher, core, rounds=3), problems=problems)
    record = load_state(result.state_path)[problems[0].id]
    assert record["status"] == "accepted" and record["round"] == 3
    first, second, _ = record["rounds"]
    assert first["valid"] is False and first["reason"] == "no <strategy> tag"
    assert second["valid"] is False and second["reason"].startswith("leak:") and second["leak"] is True
    assert "could not be used: no <strategy> tag" in teacher.calls[1][-1].text
    assert "gives the solution away" in teacher.calls[2][-1].text
    assert len(core.calls) == 4  # only the third proposal was executed
    assert result.stats["per_round"][1]["leaked"] == 1


@needs_shared_data
def test_partial_success_against_tau(tmp_path: Path) -> None:
    problems = gsm8k(2)
    lucky = problems[0].question.strip()
    per_problem: dict[str, int] = {}
    lock = threading.Lock()

    def reply(messages: list[ChatMessage], _: int) -> str:
        p = problem_of(messages, problems)
        with lock:
            per_problem[p.id] = per_problem.get(p.id, 0) + 1
            n = per_problem[p.id]
        wins = 3 if lucky in messages[-1].text else 2  # of every 4 executions
        return f"\\boxed{{{p.target}}}" if (n - 1) % 4 < wins else "\\boxed{-1}"

    teacher = Scripted("mockllm/teacher", lambda m, _: GOOD)
    result = run_acceptance(config(tmp_path, teacher, Scripted("mockllm/core", reply), rounds=1, concurrency=1),
                            problems=problems)
    state = load_state(result.state_path)
    assert state[problems[0].id]["status"] == "accepted" and state[problems[0].id]["q_K"] == 0.75
    assert state[problems[1].id]["status"] == "rejected" and state[problems[1].id]["rounds"][0]["q_K"] == 0.5


# --------------------------------------------------------------------------- resume, errors, budget


@needs_shared_data
def test_resume_skips_finished_problems(tmp_path: Path) -> None:
    problems = gsm8k(5)
    teacher = Scripted("mockllm/teacher", lambda m, _: GOOD)
    core = keyword_core(problems)
    first = run_acceptance(config(tmp_path, teacher, core, limit=2), problems=problems)
    assert first.this_run == {"accepted": 2} and len(teacher.calls) == 2
    # a crash mid-write leaves a cut line: it is skipped, and the next line starts fresh
    with first.state_path.open("a") as f:
        f.write('{"id": "cut')
    second = run_acceptance(config(tmp_path, teacher, core, limit=4), problems=problems)
    assert second.skipped == 2 and second.this_run == {"accepted": 2}
    assert len(teacher.calls) == 4
    asked = [problem_of(call, problems).id for call in teacher.calls]
    assert sorted(asked) == sorted(p.id for p in problems[:4])  # none asked twice
    third = run_acceptance(config(tmp_path, teacher, core, limit=4), problems=problems)
    assert third.skipped == 4 and third.this_run == {} and len(teacher.calls) == 4
    assert [r["id"] for r in rows(third.corpus_path)] == [p.id for p in problems[:4]]
    # the ledger accumulates over the runs
    assert json.loads(third.ledger_path.read_text())["phases"]["teacher"]["calls"] == 4
    # other settings in the same folder are refused
    with pytest.raises(AcceptSettingsMismatch, match="tau"):
        run_acceptance(config(tmp_path, teacher, core, tau=0.5), problems=problems)


@needs_shared_data
def test_a_failing_core_makes_one_problem_error_not_the_run(tmp_path: Path) -> None:
    problems = gsm8k(3)
    doomed = problems[1].question.strip()

    def reply(messages: list[ChatMessage], _: int) -> str:
        if doomed in messages[-1].text:
            raise RuntimeError("core API is down for this one")
        p = problem_of(messages, problems)
        return f"\\boxed{{{p.target}}}"

    teacher = Scripted("mockllm/teacher", lambda m, _: GOOD)
    result = run_acceptance(config(tmp_path, teacher, Scripted("mockllm/core", reply)), problems=problems)
    state = load_state(result.state_path)
    assert [state[p.id]["status"] for p in problems] == ["accepted", "error", "accepted"]
    assert "core API is down" in state[problems[1].id]["error"]
    assert result.stats["problems"]["error"] == 1 and result.stats["errors"][0]["id"] == problems[1].id
    assert len(rows(result.corpus_path)) == 2

    # the next run retries the error only
    teacher2 = Scripted("mockllm/teacher", lambda m, _: GOOD)
    again = run_acceptance(config(tmp_path, teacher2, keyword_core(problems)), problems=problems)
    assert again.skipped == 2 and again.this_run == {"accepted": 1}
    assert [problem_of(c, problems).id for c in teacher2.calls] == [problems[1].id]
    assert [r["id"] for r in rows(again.corpus_path)] == [p.id for p in problems]
    assert again.stats["problems"]["error"] == 0


@needs_shared_data
def test_budget_stops_starting_calls(tmp_path: Path) -> None:
    problems = gsm8k(6)
    teacher = Scripted("mockllm/teacher", lambda m, _: GOOD, tokens=(1000, 0))
    core = keyword_core(problems)
    # the teacher costs $0.001 a call (priced by the ledger: mockllm has no Inspect cost data)
    ledger = CostLedger(0.0025, prices={"mockllm/teacher": ModelCost(input=1.0, output=0.0, input_cache_write=0.0,
                                                                      input_cache_read=0.0)})
    result = run_acceptance(config(tmp_path, teacher, core, concurrency=1), problems=problems, ledger=ledger)
    assert result.stopped == "budget"
    assert len(teacher.calls) == 3  # $0, $0.001, $0.002 < budget: started; $0.003: refused
    assert ledger.total_usd == pytest.approx(0.003)
    # the third problem's core calls were refused: it is left unfinished (redone by the next run)
    assert len(core.calls) == 8
    assert result.this_run == {"accepted": 2} and len(load_state(result.state_path)) == 2
    saved = json.loads(result.ledger_path.read_text())
    # the offline core costs the offline rate ($0): priced, not unpriced
    assert saved["total_usd"] == pytest.approx(0.003) and saved["phases"]["core"]["unpriced_calls"] == 0
    assert "STOPPED (budget)" in result.format()


# --------------------------------------------------------------------------- code, through the local sandbox


@needs_shared_data
def test_kodcode_reference_core_through_the_local_executor(tmp_path: Path) -> None:
    problems = load_problems("kodcode", "train", SHARED_DATA)[:2]
    teacher = Scripted("mockllm/teacher", lambda m, _: (
        "<think>\nplan\n</think>\n<strategy>\n1. Follow the task statement.\n2. Handle empty input.\n</strategy>"))

    def reply(messages: list[ChatMessage], _: int) -> str:
        prompt = messages[-1].text
        return next(benchmark_for(p).reference_answer(p) for p in problems if p.question.strip() in prompt)

    core = Scripted("mockllm/core", reply)
    result = run_acceptance(config(tmp_path, teacher, core, benchmark="kodcode", executor="local", k=2, rounds=1),
                            problems=problems)
    corpus = rows(result.corpus_path)
    assert [r["q_K"] for r in corpus] == [1.0, 1.0] and {r["benchmark"] for r in corpus} == {"kodcode"}
    assert corpus[0]["problem"] == problems[0].question
    assert teacher.calls[0][1].text.startswith("Task:\n") and problems[0].solution.strip()[:30] in teacher.calls[0][1].text


# --------------------------------------------------------------------------- stats by hand


def test_bounds_by_hand() -> None:
    assert hoeffding_lcb(0.5, 0, 0.05) is None
    assert hoeffding_lcb(0.9, 100, 0.05) == pytest.approx(0.9 - math.sqrt(math.log(20) / 200))
    assert hoeffding_lcb(0.1, 10, 0.05) == 0.0  # clamped
    assert guarantee(0.75, 0.5, 8, 0.4) == pytest.approx(0.25 * (1 - math.exp(-4) / 0.4))
    assert guarantee(0.75, 0.1, 4, 0.5) == 0.0  # vacuous: clamped
    assert guarantee(0.75, 0.1, 4, None) == 0.0 and guarantee(0.75, 0.1, 4, 0.0) == 0.0
    b = acceptance_bounds(8, 10, k=8, tau=0.75, eta=0.5, delta=0.1)
    lcb = 0.8 - math.sqrt(math.log(10) / 20)
    assert b["rate"] == 0.8 and b["rate_lcb"] == pytest.approx(lcb)
    assert b["guarantee_lcb"] == pytest.approx(0.25 * (1 - math.exp(-4) / lcb))


def test_compute_stats_by_hand() -> None:
    rd = lambda n, acc, q=None, valid=True: {"round": n, "accepted": acc, "q_K": q, "valid": valid}  # noqa: E731
    records = [
        {"id": "a", "status": "accepted", "round": 1, "q_K": 1.0, "rounds": [rd(1, True, 1.0)]},
        {"id": "b", "status": "accepted", "round": 2, "q_K": 0.75, "rounds": [rd(1, False, None, False), rd(2, True, 0.75)]},
        {"id": "c", "status": "rejected", "round": None, "q_K": 0.25, "rounds": [rd(1, False, 0.25), rd(2, False, 0.0)]},
        {"id": "d", "status": "error", "error": "boom"},
    ]
    s = compute_stats(records, k=8, tau=0.75, rounds=2, eta=0.5, delta=0.5)
    assert s["problems"] == {"finished": 3, "accepted": 2, "rejected": 1, "error": 1}
    assert s["acceptance_problems"]["rate"] == pytest.approx(2 / 3)
    assert s["acceptance_proposals"]["attempted"] == 5 and s["acceptance_proposals"]["rate"] == pytest.approx(0.4)
    h = math.exp(-2 * 8 * 0.25)
    assert s["guarantee"]["hoeffding_term"] == pytest.approx(h)
    assert s["guarantee"]["overall"] == pytest.approx(0.25 * (1 - h / 0.4))
    lcb = 0.4 - math.sqrt(math.log(2) / 10)
    assert s["acceptance_proposals"]["rate_lcb"] == pytest.approx(lcb)
    assert s["guarantee"]["overall_lcb"] == pytest.approx(max(0.0, 0.25 * (1 - h / lcb)))
    per = s["guarantee"]["per_problem"]
    assert per["max"] == pytest.approx(0.25 * (1 - h)) and per["min"] == pytest.approx(0.25 * (1 - 2 * h))
    assert per["mean"] == pytest.approx(0.25 * (1 - 1.5 * h))
    r1, r2 = s["per_round"]
    assert (r1["problems_reaching"], r1["proposals"], r1["valid"], r1["accepted"]) == (3, 3, 2, 1)
    assert (r2["problems_reaching"], r2["proposals"], r2["accepted"], r2["cumulative_accepted"]) == (2, 2, 1, 2)
    assert r1["acceptance_rate"] == pytest.approx(1 / 3) and r2["cumulative_rate"] == pytest.approx(2 / 3)
    assert s["q_K"]["accepted_mean"] == pytest.approx(0.875)
    assert s["errors"] == [{"id": "d", "error": "boom"}]
    json.dumps(s)  # serialisable


def test_prompts_and_canonical_output() -> None:
    msgs = teacher_messages("math", "What is {x}?", "It is {problem} 4.\n#### 4", 300)
    assert "300 tokens" in msgs[0].text and "Never state the final answer" in msgs[0].text
    assert "What is {x}?" in msgs[1].text and "It is {problem} 4." in msgs[1].text
    assert "No implementation" in teacher_messages("code", "t", "r")[0].text
    out = canonical_guide_output("I think <strategy>x</strategy> and </think>", " 1. Do it. ")
    assert out == "<think>\nI think x and\n</think>\n<strategy>\n1. Do it.\n</strategy>"
    assert canonical_guide_output(None, "s") == "<think>\n\n</think>\n<strategy>\ns\n</strategy>"


# --------------------------------------------------------------------------- the ledger


def test_ledger_costs_budget_and_json(tmp_path: Path) -> None:
    ledger = CostLedger(0.01, prices={"mockllm/x": {"input": 2.0, "output": 10.0, "input_cache_write": 0.0,
                                                   "input_cache_read": 0.0}})
    priced = ModelUsage(input_tokens=10, output_tokens=5, total_tokens=15, total_cost=0.004)
    assert ledger.record_usage("anthropic/some", priced, role="core") == 0.004  # Inspect's own cost wins
    assert ledger.record_usage("mockllm/x", ModelUsage(input_tokens=1000, output_tokens=100, total_tokens=1100),
                               phase="teacher") == pytest.approx(0.003)
    # an offline model costs the offline rate ($0), not "unpriced"
    assert ledger.record_usage("mockllm/free", ModelUsage(input_tokens=7, output_tokens=1, total_tokens=8), phase="judge") == 0.0
    ledger.check_budget()
    assert ledger.total_usd == pytest.approx(0.007) and ledger.remaining_usd == pytest.approx(0.003)
    ledger.record_usage("anthropic/some", priced, phase="core")
    with pytest.raises(BudgetExceeded) as err:
        ledger.check_budget()
    assert err.value.spent_usd == pytest.approx(0.011)
    assert ledger.phase("core").calls == 2 and ledger.phase("judge").unpriced_calls == 0
    assert ledger.totals().input_tokens == 10 + 1000 + 7 + 10
    # priced from Inspect's model database when usage carries no cost
    from gcop.costs import apply_prices

    apply_prices()
    cost = ledger.record_usage("anthropic/claude-haiku-4-5", ModelUsage(input_tokens=10**6, output_tokens=0), phase="core")
    assert cost == pytest.approx(1.0)  # $1 per million input tokens (results/prices.yaml)

    path = ledger.save(tmp_path / "ledger.json")
    again = CostLedger.load(path, budget_usd=5.0)
    assert again.to_dict()["phases"] == json.loads(path.read_text())["phases"]
    assert again.total_usd == pytest.approx(ledger.total_usd) and again.budget_usd == 5.0
    assert "teacher" in again.format()


def test_ledger_is_thread_safe() -> None:
    ledger = CostLedger()
    usage = ModelUsage(input_tokens=1, output_tokens=1, total_tokens=2, total_cost=0.001)

    def hammer() -> None:
        for _ in range(500):
            ledger.record_usage("m", usage, phase="core")

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert ledger.phase("core").calls == 4000 and ledger.total_usd == pytest.approx(4.0)


# --------------------------------------------------------------------------- Inspect models outside eval()


def test_generate_outside_eval_records_and_leaves_no_transcript() -> None:
    from inspect_ai.log._transcript import transcript

    model = Scripted("mockllm/m", lambda m, n: f"reply {n}")
    ledger = CostLedger()

    async def main() -> list[str]:
        # Other tests' log records may already sit in the process-wide transcript: count ours.
        before = len(transcript().events)
        m = gcop_get_model(model.model(), max_connections=2)
        texts = []
        for _ in range(5):
            text, usage = await generate_text(m, "hello", {"temperature": 0.2}, ledger=ledger, phase="core")
            assert usage.input_tokens == 100
            texts.append(text)
        assert len(transcript().events) == before  # each call had its own throwaway transcript
        return texts

    assert run_sync(main) == [f"reply {n}" for n in range(1, 6)]
    assert ledger.phase("core").calls == 5 and ledger.phase("core").output_tokens == 100


def test_generate_raises_model_call_error_and_respects_budget() -> None:
    def boom(messages: list[ChatMessage], _: int) -> str:
        raise RuntimeError("down")

    failing = Scripted("mockllm/f", boom)
    ledger = CostLedger(0.0)

    async def main() -> None:
        m = gcop_get_model(failing.model(), max_retries=1)
        with pytest.raises(ModelCallError, match="down"):
            await generate_output(m, "x")
        with pytest.raises(BudgetExceeded):
            await generate_output(m, "x", ledger=ledger)

    run_sync(main)
    assert len(failing.calls) == 1  # the budget check came before the second call


@needs_shared_data
def test_accept_against_the_fake_anthropic_api(tmp_path: Path, fake_anthropic: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from gcop.testing.fake_anthropic import FaultConfig, fast_inspect_retries, prompt_text

    fast_inspect_retries(monkeypatch)
    problems = gsm8k(3)

    core_caps = []

    def respond(request: dict[str, Any]) -> str:
        text = prompt_text(request)
        if "Reference solution" in text:
            return GOOD
        p = next((p for p in problems if p.question.strip() in text), None)
        if p is not None:
            core_caps.append(request["max_tokens"])
        return "ok" if p is None else f"\\boxed{{{p.target}}}"  # "ok": the preflight's test call

    fake_anthropic.responder = respond
    fake_anthropic.set_faults(FaultConfig(rate_limit=0.2, overloaded=0.1, seed=7))
    cfg = AcceptConfig(benchmark="gsm8k", teacher="anthropic/claude-sonnet-5-5",
                       core="anthropic/claude-haiku-4-5", k=2, rounds=1, out_dir=tmp_path / "out", progress=False,
                       data_dir=str(SHARED_DATA), teacher_args={"max_retries": 0}, core_args={"max_retries": 0})
    result = run_acceptance(cfg, problems=problems)
    assert result.this_run == {"accepted": 3}
    assert fake_anthropic.injected > 0  # faults happened and were retried
    # the core's requests carry the Inspect tasks' core cap, not the provider's default
    assert core_caps and set(core_caps) == {2048}
    # one preflight call per model came first
    first = [r for r in fake_anthropic.records if r.status == 200][:2]
    assert {r.prompt for r in first} == {"Reply with the word: ok"}
    ledger = json.loads(result.ledger_path.read_text())
    assert ledger["phases"]["teacher"]["calls"] == 3 and ledger["phases"]["core"]["calls"] == 6
    assert ledger["phases"]["teacher"]["unpriced_calls"] == 0 and ledger["total_usd"] > 0
    assert rows(result.corpus_path)[0]["teacher"] == "anthropic/claude-sonnet-5-5"


# --------------------------------------------------------------------------- CLI


@needs_shared_data
def test_cli_accept_offline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from gcop.cli import build_parser, main

    out = tmp_path / "cli"
    argv = ["train", "accept", "--benchmark", "gsm8k", "--teacher", "mockllm/teacher", "--core", "mockllm/strategy_gated",
            "-K", "2", "--tau", "1", "-R", "1", "--limit", "3", "--out", str(out), "--no-progress",
            "--data-dir", str(SHARED_DATA), "--core-config", "temperature=0.5"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "3/3 problems accepted" in printed and "corpus:" in printed
    assert len(rows(out / "corpus.jsonl")) == 3
    assert json.loads((out / "run.json").read_text())["settings"]["core_config"] == {"temperature": 0.5}
    # different settings in the same folder: a usage error
    assert main([*argv[:-1], "temperature=0.9"]) == 2
    assert "other settings" in capsys.readouterr().err
    # the group lists every action
    help_text = build_parser()._subparsers._group_actions[0].choices["train"].format_help()  # type: ignore[union-attr]
    assert "accept" in help_text and "sft" in help_text and "grpo" in help_text


def test_cli_accept_bad_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from gcop.cli import main

    assert main(["train", "accept", "--out", str(tmp_path), "--tau", "1.5", "--no-progress"]) == 2
    assert "tau must be in (0, 1]" in capsys.readouterr().err


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="K must be >= 1"):
        AcceptConfig(k=0).validate()
    with pytest.raises(ValueError, match="unknown GenerateConfig"):
        AcceptConfig(core_config={"temprature": 1}).validate()
    assert asyncio.iscoroutinefunction(generate_text)


@needs_shared_data
def test_reasoning_from_the_separate_channel_becomes_the_think_block(tmp_path: Path) -> None:
    from inspect_ai.model import ChatMessageAssistant, ContentReasoning, ContentText, ModelOutput

    problems = gsm8k(1)

    def teach(input: list[ChatMessage], tools: Any, tool_choice: Any, config: GenerateConfig) -> ModelOutput:
        message = ChatMessageAssistant(content=[ContentReasoning(reasoning="extended thinking here"),
                                                ContentText(text=f"<strategy>\n1. {KEYWORD} it.\n</strategy>")])
        output = ModelOutput.from_message(message)
        output.usage = ModelUsage(input_tokens=5, output_tokens=5, total_tokens=10)
        return output

    cfg = config(tmp_path, Scripted("mockllm/teacher", lambda m, n: ""), keyword_core(problems))
    cfg.teacher = get_model("mockllm/teacher", custom_outputs=teach, memoize=False)
    result = run_acceptance(cfg, problems=problems)
    (row,) = rows(result.corpus_path)
    assert row["guide_output"] == f"<think>\nextended thinking here\n</think>\n<strategy>\n1. {KEYWORD} it.\n</strategy>"


def test_the_bound_says_when_it_is_vacuous_and_which_k_would_make_it_hold() -> None:
    from gcop.train.accept import AcceptResult, nonvacuous_settings

    # 32 problems, every first proposal accepted (A = 1): at K = 4, eta = 0.1 the arithmetic gives a
    # bound of 0.05 next to an observed mean of 1.0, and the condition exp(-2 K eta^2) <= A - eps fails.
    records = [{"id": str(i), "status": "accepted", "round": 1, "q_K": 1.0, "rounds": [{"round": 1, "accepted": True,
                "q_K": 1.0, "valid": True}]} for i in range(32)]
    stats = compute_stats(records, k=4, tau=0.75, rounds=1, eta=0.1, delta=0.05)
    nv = stats["guarantee"]["nonvacuous"]
    eps = math.sqrt(math.log(1 / 0.05) / (2 * 32))
    assert nv["rate_lcb"] == pytest.approx(1 - eps) and nv["hoeffding_term"] == pytest.approx(math.exp(-0.08))
    assert nv["meaningful"] is False
    assert nv["k_needed"] == math.ceil(math.log(1 / (1 - eps)) / (2 * 0.01))
    assert nv["eta_needed"] == pytest.approx(math.sqrt(math.log(1 / (1 - eps)) / 8))

    def line(s) -> str:
        result = AcceptResult(out_dir=Path("."), corpus_path=Path("c"), stats_path=Path("s"), state_path=Path("t"),
                              ledger_path=Path("l"), stats={**s, "settings": {"benchmark": "gsm8k", "split": "train",
                              "teacher": "t", "core": "c", "rounds": 1}, "cost": {"total_usd": 0.0, "phases": {}}},
                              stopped=None, skipped=0, this_run={})
        return result.format()

    text = line(stats)
    assert "VACUOUS" in text and f"K >= {nv['k_needed']}" in text and "mean 1.000" in text
    # at the K it names, the same acceptance makes it hold, and the summary says so
    again = compute_stats(records, k=nv["k_needed"], tau=0.75, rounds=1, eta=0.1, delta=0.05)
    assert again["guarantee"]["nonvacuous"]["meaningful"] is True
    assert "VACUOUS" not in line(again) and "meaningful" in line(again)
    # with a lower bound of 0, no K helps
    assert nonvacuous_settings(0.0, k=4, eta=0.1, tau=0.75)["k_needed"] is None
