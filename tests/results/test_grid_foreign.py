"""``gcop grid --task``: the rows of gcop's tables on a task gcop did not write (a task file
written here the way a user would), gcop's drop-in solvers around the task's own solver, its
scorer scoring; and the leaderboard showing those rows beside a gcop benchmark's."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from inspect_ai import eval
from inspect_ai.model import ModelCost, ModelInfo, get_model, get_model_info, set_model_cost, set_model_info

from gcop.cli import main
from gcop.results.grid import CascadePlan, ForeignOptions, GridConfigError, default_log_dir, run_grid
from gcop.results.leaderboard import build_leaderboard, to_markdown
from gcop.results.logs import read_header, run_info
from tests.conftest import SHARED_DATA, mock_output, needs_shared_data
from tests.gcop.test_solvers import QUESTIONS, user_task

TASK_FILE = """
from inspect_ai import Task, task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.scorer import match
from inspect_ai.solver import generate, prompt_template

QUESTIONS = {questions!r}


@task
def arithmetic():
    return Task(dataset=MemoryDataset([Sample(id=f"q{{i}}", input=q, target=a) for i, (q, a) in enumerate(QUESTIONS)]),
                solver=[prompt_template("{{prompt}}\\n\\nEnd with ANSWER: <number>."), generate()],
                scorer=match(numeric=True))
"""


@pytest.fixture
def task_file(tmp_path: Path) -> str:
    path = tmp_path / "user_tasks.py"
    path.write_text(textwrap.dedent(TASK_FILE.format(questions=QUESTIONS)))
    return f"{path}@arithmetic"


def models() -> dict:
    """A core that gets 3 * 3 wrong unless a strategy or an example is in its turn (and wavers
    on it, so that the cascade escalates), a guide that leaks on 3 * 3, a strong model that
    answers everything; each records the prompts it was given."""
    prompts: dict[str, list[str]] = {"core": [], "guide": [], "strong": []}
    calls = {"n": 0}

    def core(messages, tools, tool_choice, config):
        text = "\n".join(m.text for m in messages)
        prompts["core"].append(text)
        calls["n"] += 1
        for question, answer in QUESTIONS:
            if question in text.split("Now the task.")[-1]:
                helped = "<strategy>" in text or "Example 1" in text
                right = question != "What is 3 * 3?" or helped
                return mock_output(f"ANSWER: {answer if right else 100 + calls['n']}")
        return mock_output("ANSWER: 0")

    def guide(messages, tools, tool_choice, config):
        prompts["guide"].append(messages[-1].text)
        if "3 * 3" in messages[-1].text:
            return mock_output("<strategy>1. The answer is 9.</strategy>", output_tokens=8)
        return mock_output("<strategy>1. Read the operation.\n2. Compute it.</strategy>", output_tokens=12)

    def strong(messages, tools, tool_choice, config):
        text = "\n".join(m.text for m in messages)
        prompts["strong"].append(text)
        return mock_output(next((f"ANSWER: {a}" for q, a in QUESTIONS if q in text), "ANSWER: 0"))

    for name in ("core", "guide", "strong"):  # priced, as a user prices a model Inspect has no price for
        if get_model_info(f"mockllm/grid-{name}") is None:
            set_model_info(f"mockllm/grid-{name}", ModelInfo(organization="mockllm"))
        set_model_cost(f"mockllm/grid-{name}", ModelCost(input=1.0, output=5.0, input_cache_write=1.0, input_cache_read=0.1))
    return {"core": get_model("mockllm/grid-core", custom_outputs=core),
            "guide": get_model("mockllm/grid-guide", custom_outputs=guide),
            "strong": get_model("mockllm/grid-strong", custom_outputs=strong), "prompts": prompts}


def examples_file(tmp_path: Path) -> str:
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in [
        {"id": "t1", "question": "What is 2 + 2?", "answer": "4"},
        {"id": "t2", "question": "What is 3 * 4?", "answer": "12"},
    ]))
    return str(path)


def foreign_grid(task_file: str, tmp_path: Path, log_dir: Path, **overrides):
    m = models()
    options = dict(foreign=ForeignOptions(icl_examples=examples_file(tmp_path), icl_k=1, icl_input_field="question",
                                          icl_target_field="answer"),
                   icl=True, guides=[("plan", m["guide"])], cascade=CascadePlan(strong=m["strong"], thresholds=(1.0,)),
                   log_dir=str(log_dir), display="none")
    options.update(overrides)
    return run_grid(task_file, m["core"], **options), m["prompts"]


def test_a_foreign_task_gets_gcops_rows_scored_by_its_own_scorer(task_file, tmp_path):
    log_dir = tmp_path / "grid"
    result, prompts = foreign_grid(task_file, tmp_path, log_dir)
    assert result.success, result.summary()
    assert [r.recipe for r in result.rows] == ["core", "icl", "guided", "cascade"]  # no guided cascade: gcop's own
    by_recipe = {log.eval.metadata["gcop_grid"]["recipe"]: log for log in result.logs}
    for recipe, log in by_recipe.items():
        assert log.results.scores[0].name == "match", recipe  # the task's scorer, whatever the row
    accuracy = {recipe: log.results.scores[0].metrics["accuracy"].value for recipe, log in by_recipe.items()}
    assert accuracy == {"core": pytest.approx(2 / 3), "icl": 1.0, "guided": 1.0, "cascade": 1.0}
    # the task's template ran inside every recipe (the answer format its scorer relies on)
    assert all("End with ANSWER" in p for p in prompts["core"]) and prompts["strong"]

    board = build_leaderboard(str(log_dir))
    rows = {r.recipe: r for r in board.rows}
    assert set(rows) == {"core", "icl", "guided", "cascade"} and not board.skipped
    assert {r.benchmark for r in board.rows} == {task_file}
    guided = rows["guided"]
    assert guided.guide == "plan" and guided.strategy_validity == 1.0
    assert guided.leak_rate == pytest.approx(1 / 3) and guided.accuracy_without_leaks == pytest.approx(2 / 3)
    assert rows["cascade"].escalation_rate == pytest.approx(1 / 3) and rows["cascade"].strong_model == "mockllm/grid-strong"
    assert all(r.cost_per_1k["total"] is not None and r.cost_per_1k["total"] > 0 for r in board.rows)
    assert guided.cost_per_1k["guide"] > 0 and rows["core"].cost_per_1k["guide"] == 0
    # one data fingerprint and one prompt/scorer version: one panel, compared as gcop's rows are
    assert len({r.data_revision for r in board.rows}) == 1 and board.rows[0].data_revision.startswith("sha256:")
    assert all("scorer match" in r.core_prompt_version for r in board.rows) and not board.variants


def test_a_foreign_grid_resumes_and_refuses_other_recipe_options(task_file, tmp_path):
    log_dir = tmp_path / "grid"
    first, _ = foreign_grid(task_file, tmp_path, log_dir)
    assert first.success
    files = sorted(p.name for p in log_dir.glob("*.eval"))
    again, prompts = foreign_grid(task_file, tmp_path, log_dir)
    assert again.success and sorted(p.name for p in log_dir.glob("*.eval")) == files
    assert prompts == {"core": [], "guide": [], "strong": []}  # every row was complete: nothing ran
    with pytest.raises(GridConfigError, match="other settings"):
        foreign_grid(task_file, tmp_path, log_dir, foreign=ForeignOptions(guided={"domain": "math"}), icl=False)


@needs_shared_data
def test_the_leaderboard_shows_foreign_rows_beside_gcops_benchmarks(task_file, tmp_path):
    foreign_dir = tmp_path / "foreign"
    assert foreign_grid(task_file, tmp_path, foreign_dir, icl=False, cascade=None)[0].success
    gcop_dir = tmp_path / "gsm8k"
    assert run_grid("gsm8k", "gcop/noisy", guides=[("ref", "gcop/reference")], log_dir=str(gcop_dir), limit=4,
                    task_args={"data_dir": str(SHARED_DATA)}, display="none").success
    # a log of `inspect eval TASK --solver gcop/guided`, made outside the grid, is a row too
    solo_dir = tmp_path / "solo"
    m = models()
    from inspect_ai import task_with

    from gcop.evals.dropin import guided

    [solo] = eval(task_with(user_task(), name="user_task"), solver=guided(), model=m["core"],
                  model_roles={"guide": m["guide"]}, display="none", log_dir=str(solo_dir))
    info = run_info(read_header(solo.location))
    assert (info.benchmark, info.recipe, info.guide) == ("user_task", "guided", "mockllm/grid-guide")
    assert "scorer match" in info.core_prompt_version

    board = build_leaderboard([str(foreign_dir), str(gcop_dir), str(solo_dir)])
    benchmarks = [r.benchmark for r in board.rows]
    assert set(benchmarks) == {task_file, "gsm8k", "user_task"}
    assert benchmarks == sorted(benchmarks)  # grouped by task
    markdown = to_markdown(board)
    assert task_file in markdown and "| gsm8k" in markdown and "scorer match" in markdown


def test_grid_options_for_a_foreign_task_fail_clearly(task_file, tmp_path, capsys):
    base = ["grid", "--task", task_file, "--core", "gcop/noisy", "--log-dir", str(tmp_path / "g"),
            "--no-preflight-calls", "--display", "none"]
    cases = [
        (["--icl"], "--icl on --task"),
        (["--cascade", "gcop/reference", "--memory"], "--memory (Inter-Cascade) is for gcop's own benchmarks"),
        (["--cascade", "gcop/reference", "--cascade-rule", "examples"], "takes the agreement rule"),
        (["--guide", "g=gcop/reference", "-S", "domian=math"], "-S: gcop/guided got an unexpected keyword argument 'domian'"),
        (["--guide", "g=gcop/reference", "-S", "domain=chemistry"], "-S domain must be one of"),
        (["--icl", "--icl-examples", str(tmp_path / "missing.jsonl")], "--icl-examples: no such file"),
        (["--executor", "local"], "--executor and --data-dir are options of gcop's benchmarks"),
    ]
    for extra, message in cases:
        assert main([*base, *extra]) == 2, extra
        assert message in capsys.readouterr().err, extra
    assert main(["grid", "--task", str(tmp_path / "none.py") + "@nothing", "--core", "gcop/noisy",
                 "--no-preflight-calls", "--log-dir", str(tmp_path / "g")]) == 2
    assert "--task" in capsys.readouterr().err
    assert main(["grid", "--benchmark", "gsm8k", "-S", "domain=math", "--dry-run"]) == 2
    assert "-S and --icl-examples are for --task" in capsys.readouterr().err
    assert default_log_dir("inspect_evals/mbpp") == "logs/grid-inspect_evals-mbpp"
    assert default_log_dir("/home/me/tasks.py@arith") == "logs/grid-tasks.py-arith"
    assert not list(tmp_path.glob("g/*.eval"))  # nothing ran
