"""gcop's recipes as drop-in solvers on tasks gcop did not write: a task file written here the
way a user would, and inspect_evals' own GSM8K task (its prompt, solver and scorer) with its Hub
dataset replaced by local samples. Guide, core and strong models are scripted mockllm models."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest
from inspect_ai import Task, eval
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import get_model
from inspect_ai.scorer import match
from inspect_ai.solver import generate, prompt_template, use_tools
from inspect_ai.tool import tool

from gcop.evals.dropin import UnsupportedTaskError, answer_key, cascade, guided, icl, wrap_task
from tests.conftest import SHARED_DATA, mock_output, needs_shared_data

QUESTIONS = [("What is 2 + 3?", "5"), ("What is 10 - 4?", "6"), ("What is 3 * 3?", "9")]


def user_task(tools: bool = False) -> Task:
    """A task as a user writes one: a template the scorer's format relies on, then generate()."""
    solver = [prompt_template("{prompt}\n\nEnd with ANSWER: <number>."), generate()]
    if tools:
        @tool
        def calculator():
            async def run(expression: str) -> str:
                """Evaluate.

                Args:
                  expression: an arithmetic expression.
                """
                return expression

            return run

        solver.insert(0, use_tools(calculator()))
    return Task(dataset=MemoryDataset([Sample(id=f"q{i}", input=q, target=a) for i, (q, a) in enumerate(QUESTIONS)]),
                solver=solver, scorer=match(numeric=True))


def answering_core(wrong: set[str] = frozenset()):
    """A core that answers each question right (``ANSWER: n``), except those in ``wrong``; it
    records every prompt it was given."""
    prompts: list[str] = []

    def reply(messages, tools, tool_choice, config):
        text = "\n".join(m.text for m in messages)
        prompts.append(text)
        for question, answer in QUESTIONS:
            if question in text:
                return mock_output(f"Working.\nANSWER: {int(answer) + 1 if question in wrong else answer}")
        return mock_output("ANSWER: 0")

    return get_model("mockllm/model", custom_outputs=reply), prompts


def strategy_guide(leak_for: str | None = None):
    def reply(messages, tools, tool_choice, config):
        text = messages[-1].text
        if leak_for and leak_for in text:
            return mock_output("<think>easy</think><strategy>1. The answer is 9.</strategy>", output_tokens=9)
        return mock_output("<think>plan</think><strategy>1. Read the operation.\n2. Compute it.</strategy>",
                           output_tokens=12)

    return get_model("mockllm/model", custom_outputs=reply)


def test_a_user_task_wrapped_in_the_guide_step_scores_with_its_own_scorer(tmp_path, capsys):
    core, prompts = answering_core()
    task = wrap_task(user_task(), "guided")
    [log] = eval(task, model=core, model_roles={"guide": strategy_guide(leak_for="3 * 3")}, display="none",
                 log_dir=str(tmp_path))
    assert log.status == "success", log.error
    assert log.results.scores[0].name == "match" and log.results.scores[0].metrics["accuracy"].value == 1.0
    guides = {s.id: s.metadata["guide"] for s in log.samples}
    assert all(g["valid"] and g["input_tokens"] == 10 for g in guides.values())
    assert guides["q2"]["leaked"] is True and guides["q0"]["leaked"] is False  # "The answer is 9." on 3 * 3
    # the strategy sits in the core's turn, after the task's own template
    assert all("<strategy>" in p and "End with ANSWER" in p for p in prompts)
    assert "guide" in (log.stats.role_usage or {})
    assert "cost by role" in capsys.readouterr().err  # the end-of-run table, on a task gcop did not write


def test_a_guide_prompt_for_another_domain_replaces_gcops(tmp_path):
    """``guide_prompt`` (a file or the text) is the guide's system prompt, its budget filled in
    and gcop's answer format appended; the record says the prompt was custom."""
    seen = []

    def reply(messages, tools, tool_choice, config):
        seen.append(messages[0].text)
        return mock_output("<strategy>1. Balance the equation.</strategy>")

    prompt = tmp_path / "chemistry.txt"
    prompt.write_text("You plan chemistry tasks in at most {max_strategy_tokens} tokens.")
    core, _ = answering_core()
    [log] = eval(wrap_task(user_task(), "guided", guide_prompt=str(prompt), max_strategy_tokens=77), model=core,
                 model_roles={"guide": get_model("mockllm/model", custom_outputs=reply)}, display="none",
                 log_dir=str(tmp_path))
    assert len(seen) == 3
    assert all(text.startswith("You plan chemistry tasks in at most 77 tokens.") and "<strategy>" in text for text in seen)
    from gcop.evals.dropin import guide_prompt_version

    assert {s.metadata["guide"]["prompt_version"] for s in log.samples} == {guide_prompt_version(str(prompt))}
    assert guide_prompt_version(str(prompt)).startswith("custom-") and guide_prompt_version() == "guide-v1"
    assert guide_prompt_version(str(prompt)) != guide_prompt_version("You plan biology tasks.")


def test_an_invalid_strategy_scores_zero_when_asked(tmp_path):
    core, prompts = answering_core()
    silent = get_model("mockllm/model", custom_outputs=lambda *a: mock_output("no strategy here"))
    task = wrap_task(user_task(), "guided", on_invalid="score_zero")
    [log] = eval(task, model=core, model_roles={"guide": silent}, display="none", log_dir=str(tmp_path))
    assert log.results.scores[0].metrics["accuracy"].value == 0.0 and prompts == []
    assert all(s.metadata["guide"]["valid"] is False and s.metadata["core_skipped"] for s in log.samples)


def test_options_and_tasks_it_cannot_serve_fail_clearly(tmp_path):
    with pytest.raises(ValueError, match="-S domain must be one of"):
        guided(domain="chemistry")
    with pytest.raises(ValueError, match="-S on_invalid"):
        guided(on_invalid="skip")
    with pytest.raises(TypeError):
        guided(domian="math")  # a misspelt option
    with pytest.raises(ValueError, match="-S k must be >= 2"):
        cascade(k=1)
    with pytest.raises(FileNotFoundError, match="-S examples"):
        icl(examples=str(tmp_path / "missing.jsonl"))
    core, _ = answering_core()
    [log] = eval(wrap_task(user_task(tools=True), "guided"), model=core, model_roles={"guide": strategy_guide()},
                 display="none", log_dir=str(tmp_path), fail_on_error=False)
    errors = [s.error.message for s in log.samples if s.error]
    assert errors and all("single-turn generation tasks" in e and "tool" in e for e in errors)
    assert issubclass(UnsupportedTaskError, ValueError)


def test_icl_shows_the_nearest_examples_of_a_file_the_user_names(tmp_path):
    examples = tmp_path / "train.jsonl"
    examples.write_text("".join(json.dumps(r) + "\n" for r in [
        {"id": "t1", "input": "What is 2 + 2?", "target": "4"},
        {"id": "t2", "input": "Name a colour.", "target": "red"},
        {"id": "t3", "input": "What is 3 * 4?", "target": "12"},
    ]))
    core, prompts = answering_core()
    [log] = eval(wrap_task(user_task(), "icl", examples=str(examples), k=1), model=core, display="none",
                 log_dir=str(tmp_path))
    ids = {s.id: s.metadata["icl_ids"] for s in log.samples}
    assert ids["q0"] == ["t1"] and ids["q2"] == ["t3"]
    assert "What is 2 + 2?" in prompts[0] and "End with ANSWER" in prompts[0]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"input": "x", "target": "1"}\n{"question": "y"}\n')
    with pytest.raises(ValueError, match=re.escape(f"{bad}:2: no field 'input'")):
        icl(examples=str(bad))


def test_cascade_escalates_when_the_cheap_answers_disagree(tmp_path):
    calls = {"n": 0}

    def wavering(messages, tools, tool_choice, config):
        calls["n"] += 1
        text = messages[-1].text
        if "3 * 3" in text:  # disagrees with itself on this one
            return mock_output(f"ANSWER: {calls['n']}")
        return mock_output("ANSWER: 5" if "2 + 3" in text else "ANSWER: 6")

    strong, strong_prompts = answering_core()
    task = wrap_task(user_task(), "cascade", k=3)
    [log] = eval(task, model=get_model("mockllm/model", custom_outputs=wavering), model_roles={"strong": strong},
                 display="none", log_dir=str(tmp_path))
    cascades = {s.id: s.metadata["cascade"] for s in log.samples}
    assert cascades["q2"]["escalated"] and not cascades["q0"]["escalated"] and not cascades["q1"]["escalated"]
    assert log.results.scores[0].metrics["accuracy"].value == 1.0
    assert len(strong_prompts) == 1 and "3 * 3" in strong_prompts[0]
    assert answer_key("so ANSWER: 1,000.") == answer_key("1000") and answer_key("") is None


def test_the_solver_from_the_command_line_replaces_the_task_solver(tmp_path):
    """``inspect eval TASK --solver gcop/guided`` (here: eval(solver=...)): the guide's strategy
    and the sample's input, then generate(); the task's template does not run."""
    core, prompts = answering_core()
    [log] = eval(user_task(), solver=guided(), model=core, model_roles={"guide": strategy_guide()}, display="none",
                 log_dir=str(tmp_path))
    assert log.status == "success" and all("<strategy>" in p and "End with ANSWER" not in p for p in prompts)
    assert log.eval.solver == "gcop/guided"


@needs_shared_data
def test_inspect_evals_gsm8k_with_the_guide_step(tmp_path, monkeypatch):
    """inspect_evals' GSM8K (its template, solver and match scorer), its Hub dataset replaced by
    the first local test problems; the leak check reads its short numeric targets."""
    gsm8k_module = pytest.importorskip("inspect_evals.gsm8k.gsm8k")
    records = [json.loads(line) for line in (Path(SHARED_DATA) / "gsm8k" / "test.jsonl").read_text().splitlines()[:3]]

    def local_dataset(**kwargs):
        return MemoryDataset([gsm8k_module.record_to_sample(r) for r in records])

    monkeypatch.setattr(gsm8k_module, "hf_dataset", local_dataset)
    targets = [r["answer"].split("####")[-1].strip() for r in records]

    def core_reply(messages, tools, tool_choice, config):
        text = messages[-1].text
        for record, target in zip(records, targets, strict=False):
            if record["question"][:60] in text:
                return mock_output(f"Reasoning...\nANSWER: {target}")
        return mock_output("ANSWER: 0")

    def guide_reply(messages, tools, tool_choice, config):
        text = messages[-1].text
        if records[0]["question"][:60] in text:
            return mock_output(f"<strategy>1. Compute it; it comes to {targets[0]}.</strategy>")
        return mock_output("<strategy>1. Find the quantities.\n2. Combine them.</strategy>")

    task = wrap_task(gsm8k_module.gsm8k(fewshot=0), "guided")
    [log] = eval(task, model=get_model("mockllm/model", custom_outputs=core_reply),
                 model_roles={"guide": get_model("mockllm/model", custom_outputs=guide_reply)}, display="none",
                 log_dir=str(tmp_path))
    assert log.status == "success", log.error
    assert log.results.scores[0].name == "match" and log.results.scores[0].metrics["accuracy"].value == 1.0
    leaked = [s.metadata["guide"]["leaked"] for s in log.samples]
    assert sorted(leaked) == [False, False, True]


def test_gcop_wrap_builds_the_wrapped_task_by_name(tmp_path):
    """``inspect eval gcop/wrap -T task=... -T recipe=...``: a task named on the command line."""
    task_file = tmp_path / "user_tasks.py"
    task_file.write_text(textwrap.dedent(
        """
        from inspect_ai import Task, task
        from inspect_ai.dataset import MemoryDataset, Sample
        from inspect_ai.scorer import match
        from inspect_ai.solver import generate, prompt_template

        @task
        def arithmetic():
            return Task(dataset=MemoryDataset([Sample(id="q0", input="What is 2 + 3?", target="5")]),
                        solver=[prompt_template("{prompt}\\n\\nEnd with ANSWER: <number>."), generate()],
                        scorer=match(numeric=True))
        """
    ))
    from gcop.evals.dropin import wrap

    core, prompts = answering_core()
    [log] = eval(wrap(task=f"{task_file}@arithmetic", recipe="guided"), model=core,
                 model_roles={"guide": strategy_guide()}, display="none", log_dir=str(tmp_path))
    assert log.status == "success", log.error
    assert log.results.scores[0].metrics["accuracy"].value == 1.0 and "<strategy>" in prompts[0]
    with pytest.raises(ValueError, match="JSON"):
        wrap(task=f"{task_file}@arithmetic", options="not json")


MBPP_FEWSHOT = [
    {"task_id": n, "text": f"Write a function f{n} returning {n}.", "code": f"def f{n}():\n    return {n}",
     "test_list": [f"assert f{n}() == {n}"]}
    for n in (2, 3, 4)
]
MBPP_RECORDS = [
    {"task_id": 11, "prompt": "Write a function add(a, b) that returns the sum of a and b.",
     "code": "def add(a, b):\n    return a + b", "test_list": ["assert add(2, 3) == 5", "assert add(-1, 1) == 0"],
     "test_imports": [], "source_file": "local"},
    {"task_id": 12, "prompt": "Write a function double(x) that returns twice x.",
     "code": "def double(x):\n    return 2 * x", "test_list": ["assert double(4) == 8"],
     "test_imports": [], "source_file": "local"},
]


def test_inspect_evals_mbpp_with_the_guide_step(tmp_path, monkeypatch):
    """inspect_evals' MBPP (its few-shot template, its scorer running the tests with ``python -c``
    in the task's sandbox, here the local one) with two local problems: the core answers one
    right; the scorer's verdicts are the task's own, the guide's metadata gcop's."""
    mbpp_module = pytest.importorskip("inspect_evals.mbpp.mbpp")
    datasets = pytest.importorskip("datasets")
    monkeypatch.setattr(mbpp_module, "load_dataset", lambda *a, **k: datasets.Dataset.from_list(MBPP_FEWSHOT))
    monkeypatch.setattr(mbpp_module, "hf_dataset",
                        lambda **k: MemoryDataset([mbpp_module.record_to_sample(r) for r in MBPP_RECORDS]))

    def core_reply(messages, tools, tool_choice, config):
        text = messages[-1].text.split("Now, do it for the following task.")[-1]
        if "add(a, b)" in text:
            return mock_output("```python\ndef add(a, b):\n    return a + b\n```")
        return mock_output("```python\ndef double(x):\n    return x + 1\n```")  # wrong

    from inspect_ai import task_with

    task = task_with(mbpp_module.mbpp(), sandbox="local", epochs=1)
    [log] = eval(wrap_task(task, "guided", domain="code"), model=get_model("mockllm/model", custom_outputs=core_reply),
                 model_roles={"guide": strategy_guide()}, display="none", log_dir=str(tmp_path))
    assert log.status == "success", log.error
    scores = {s.id: next(iter(s.scores.values())).value for s in log.samples}
    assert scores == {11: "C", 12: "I"}
    assert all(s.metadata["guide"]["valid"] and s.metadata["guide"]["domain"] == "code" for s in log.samples)
    assert all(s.metadata["guide"]["leaked"] is None for s in log.samples)  # tests, not a short answer


@needs_shared_data
def test_gcops_gsm8k_and_inspect_evals_gsm8k_make_the_same_guide_decisions(tmp_path):
    """The same recorded guide and core outputs through gcop's GSM8K task and inspect_evals' GSM8K
    task with gcop/guided (bench/bench_gsm8k_tasks.py, smaller): the same strategy validity and
    leak verdicts; the scorers differ where match() reads another number than gcop's judge."""
    pytest.importorskip("inspect_evals.gsm8k.gsm8k")
    from bench.bench_gsm8k_tasks import compare, load_records, run_both

    records = load_records(Path(SHARED_DATA), 36)
    ours, theirs, forms = run_both(records, Path(SHARED_DATA), tmp_path)
    report = compare(records, ours, theirs, forms)
    assert report["strategy_validity"] == {"same": 36}
    assert report["leak_verdict_where_both_valid"] == {"same": 24}  # 4 of the 6 guide forms are valid
    # gcop's judge reads the recorded answer in every form: its accuracy is the recordings' own
    assert report["accuracy"]["gcop"] == report["accuracy"]["recorded_right"]
    # match() skips \boxed{N} (not a number token) and takes the check's last number instead
    by_form = report["scorer_verdicts_by_core_form"]
    assert "gcop C, match I, recorded right" in by_form["boxed"] and "gcop C, match I, recorded right" in by_form["check_after"]
    assert set(by_form["answer_colon"]) <= {"gcop C, match C, recorded right", "gcop I, match I, recorded wrong"}
