"""Offline end-to-end tests of the Inspect tasks: every mode, the guide role, ICL, scoring,
role usage and cost, and gcop/reference scoring 100%."""

from __future__ import annotations

import json

import pytest
from inspect_ai import eval
from inspect_ai.model import get_model

from gcop.evals.gsm8k import gsm8k
from gcop.evals.humaneval import humaneval
from gcop.evals.kodcode import kodcode
from tests.conftest import SHARED_DATA, mock_output, needs_shared_data

DATA = str(SHARED_DATA)


def _run(task, tmp_path, model="mockllm/model", **kwargs):
    [log] = eval(task, model=model, display="none", log_dir=str(tmp_path), **kwargs)
    return log


def _user_prompt(sample) -> str:
    return "\n".join(m.text for m in sample.messages if m.role == "user")


@needs_shared_data
def test_gsm8k_core_mode_scores_and_never_calls_a_guide(tmp_path):
    task = gsm8k(split="test", mode="core", data_dir=DATA)
    first = task.dataset[0]
    core = get_model("mockllm/model", custom_outputs=[mock_output(f"so \\boxed{{{first.target}}}"), mock_output("\\boxed{-1}")])
    log = _run(task, tmp_path, model=core, limit=2)
    assert log.status == "success"
    values = [s.scores["math_scorer"].value for s in log.samples]
    assert values == ["C", "I"]
    assert all(s.metadata["mode"] == "core" for s in log.samples)
    assert "<strategy>" not in _user_prompt(log.samples[0])
    assert log.eval.metadata["core_prompt_version"] and log.eval.metadata["data_revision"].startswith("local gsm8k files sha256:")
    assert str(SHARED_DATA) not in log.eval.metadata["data_revision"]  # content, not the machine's path
    # guide metrics do not apply to a core-only run: absent, not NaN
    metrics = log.results.scores[0].metrics
    assert set(metrics) == {"accuracy", "stderr"}


@needs_shared_data
def test_each_epoch_reducer_is_named_after_the_reducer(tmp_path, capsys):
    from inspect_ai import Epochs

    from gcop.evals.hooks import format_scores_by_reducer

    # two reducers: Inspect's own summary heads both tables "math_scorer"
    log = _run(gsm8k(split="test", mode="core", data_dir=DATA), tmp_path, model="gcop/reference", limit=2,
               epochs=Epochs(2, ["mean", "max"]))
    assert [(s.name, s.reducer) for s in log.results.scores] == [("math_scorer", "mean"), ("math_scorer", "max")]
    text = format_scores_by_reducer(log)
    assert "math_scorer[mean]  accuracy 1.000" in text and "math_scorer[max]   accuracy 1.000" in text
    # the hook prints it after the run's display
    assert "math_scorer[max]" in capsys.readouterr().err
    single = _run(gsm8k(split="test", mode="core", data_dir=DATA), tmp_path, model="gcop/reference", limit=1)
    assert format_scores_by_reducer(single) is None


@needs_shared_data
def test_gsm8k_guided_mode_strategy_reaches_the_core_and_roles_are_counted(tmp_path):
    task = gsm8k(split="test", data_dir=DATA)  # mode defaults to guided when the role is bound
    first = task.dataset[0]
    guide = get_model("mockllm/model", custom_outputs=[
        mock_output("<think>hmm</think><strategy>Add the two amounts, then halve.</strategy>", input_tokens=40, output_tokens=12)
    ])
    core = get_model("mockllm/model", custom_outputs=[mock_output(f"\\boxed{{{first.target}}}", input_tokens=100, output_tokens=7)])
    log = _run(task, tmp_path, model=core, model_roles={"guide": guide}, limit=1)
    [sample] = log.samples
    assert sample.metadata["mode"] == "guided"
    assert sample.metadata["guide"]["valid"] is True
    assert "Add the two amounts, then halve." in _user_prompt(sample)
    assert sample.scores["math_scorer"].value == "C"
    assert sample.role_usage["guide"].output_tokens == 12
    metrics = log.results.scores[0].metrics
    assert metrics["strategy_validity"].value == 1.0 and metrics["leak_rate"].value == 0.0


@needs_shared_data
@pytest.mark.parametrize("on_invalid,expected_core_calls", [("run_core_without", 1), ("score_zero", 0)])
def test_invalid_strategy_is_flagged_and_handled(tmp_path, on_invalid, expected_core_calls):
    task = gsm8k(split="test", data_dir=DATA, mode="guided", on_invalid=on_invalid)
    first = task.dataset[0]
    guide = get_model("mockllm/model", custom_outputs=[mock_output("I will not use tags.")])
    calls = []

    def core_output(*args):
        calls.append(1)
        return mock_output(f"\\boxed{{{first.target}}}")

    core = get_model("mockllm/model", custom_outputs=core_output)
    log = _run(task, tmp_path, model=core, model_roles={"guide": guide}, limit=1)
    [sample] = log.samples
    assert sample.metadata["guide"]["valid"] is False
    assert len(calls) == expected_core_calls
    assert sample.scores["math_scorer"].value == ("C" if expected_core_calls else "I")
    assert log.results.scores[0].metrics["strategy_validity"].value == 0.0


@needs_shared_data
def test_guided_mode_without_guide_role_is_a_clear_error(tmp_path):
    log = _run(gsm8k(split="test", mode="guided", data_dir=DATA), tmp_path, limit=1,
               model=get_model("mockllm/model", custom_outputs=[mock_output("x")]))
    assert log.status == "error"
    assert "--model-role guide=" in log.error.message


@needs_shared_data
def test_leaking_strategy_is_counted(tmp_path):
    task = gsm8k(split="test", mode="guided", data_dir=DATA)
    first = task.dataset[0]
    guide = get_model("mockllm/model", custom_outputs=[mock_output(f"<strategy>The result is {first.target}.</strategy>")])
    core = get_model("mockllm/model", custom_outputs=[mock_output(f"\\boxed{{{first.target}}}")])
    log = _run(task, tmp_path, model=core, model_roles={"guide": guide}, limit=1)
    assert log.samples[0].metadata["guide"]["leaked"] is True
    assert log.samples[0].metadata["guide"]["leak_reason"].startswith("math.number")
    metrics = log.results.scores[0].metrics
    assert metrics["leak_rate"].value == 1.0
    # the core copied the answer: right, and not counted as right without the leak
    assert metrics["accuracy"].value == 1.0 and metrics["accuracy_without_leaks"].value == 0.0


@needs_shared_data
def test_a_code_leak_is_run_in_the_sample_sandbox_and_counted(tmp_path):
    """A HumanEval guide that writes the solution under another name: the task runs the code in the
    sample's sandbox, finds that it passes the hidden tests and counts the sample as leaked; an
    honest guide on the next sample is not."""
    task = humaneval(mode="guided", sandbox="local", data_dir=DATA)
    first, second = task.dataset[0], task.dataset[1]
    body = first.metadata["reference"].split('"""')[-1].strip("`\n")
    leak = ("<strategy>\nUse this helper:\n```python\nfrom typing import List\n\n"
            "def helper(numbers: List[float], threshold: float) -> bool:\n" + body + "\n```\n</strategy>")
    honest = "<strategy>\n1. Split the string into groups.\n2. Return them in order.\n</strategy>"
    guide = get_model("mockllm/model", custom_outputs=[mock_output(leak), mock_output(honest)])
    core = get_model("mockllm/model", custom_outputs=[mock_output(first.metadata["reference"]),
                                                      mock_output(second.metadata["reference"])])
    log = _run(task, tmp_path, model=core, model_roles={"guide": guide}, limit=2, max_samples=1)
    leaked = {s.id: s.metadata["guide"]["leaked"] for s in log.samples}
    assert leaked == {first.id: True, second.id: False}
    metrics = log.results.scores[0].metrics
    assert metrics["accuracy"].value == 1.0 and metrics["accuracy_without_leaks"].value == 0.5


@needs_shared_data
def test_icl_retrieves_only_train_items(tmp_path):
    from gcop.evals.gsm8k.spec import load_gsm8k

    train_ids = {p.id for p in load_gsm8k("train", DATA)}
    task = gsm8k(split="test", mode="icl", icl_k=3, data_dir=DATA)
    core = get_model("mockllm/model", custom_outputs=[mock_output("\\boxed{1}") for _ in range(3)])
    log = _run(task, tmp_path, model=core, limit=3)
    for sample in log.samples:
        ids = sample.metadata["icl_ids"]
        assert len(ids) == 3 and set(ids) <= train_ids and sample.id not in ids
        assert _user_prompt(sample).count("Example ") == 3
    with pytest.raises(ValueError, match="split=test"):
        gsm8k(split="train", mode="icl", data_dir=DATA)


def test_icl_retrieval_is_relevant():
    from gcop.evals.icl import Retriever

    retriever = Retriever(
        ["apples and oranges in a basket", "a train travels 60 miles per hour", "cookies baked for a party"],
        ["a", "b", "c"], ["1", "2", "3"],
    )
    assert retriever.nearest("how fast does the train travel in miles", 1)[0][0] == "2"


def test_bad_task_options_are_clear_errors():
    with pytest.raises(ValueError, match="mode must be one of"):
        gsm8k(mode="fancy", data_dir=DATA)
    with pytest.raises(ValueError, match="on_invalid"):
        gsm8k(on_invalid="ignore", data_dir=DATA)
    with pytest.raises(ValueError, match="-T sandbox"):
        humaneval(sandbox="podman")


@needs_shared_data
def test_reference_model_scores_100_percent_on_all_three_tasks(tmp_path):
    logs = eval(
        [gsm8k(split="test", mode="core", data_dir=DATA),
         humaneval(mode="core", sandbox="gcop", executor="local", data_dir=DATA),
         kodcode(split="all", mode="core", sandbox="gcop", executor="local", data_dir=DATA)],
        model="gcop/reference", display="none", log_dir=str(tmp_path), limit=200,
    )
    for log in logs:
        assert log.status == "success", log.error
        scores = log.results.scores[0]
        assert scores.metrics["accuracy"].value == 1.0, (log.eval.task, scores.metrics)
        assert log.results.completed_samples >= (152 if log.eval.task.endswith("kodcode") else 164 if log.eval.task.endswith("humaneval") else 200)
        if not log.eval.task.endswith("gsm8k"):
            # how strong the verdicts are: every sample judged across the boundary, and the
            # share of tests decided by value only (HumanEval's checks compare data only)
            assert scores.metrics["in_process_share"].value == 0.0
            by_value = scores.metrics["by_value_share"].value
            assert by_value == 1.0 if log.eval.task.endswith("humaneval") else 0.95 < by_value < 1.0
            assert all(s.scores[next(iter(s.scores))].metadata["boundary"] == "process" for s in log.samples)


@needs_shared_data
def test_reference_model_as_guide_gives_valid_strategies(tmp_path):
    log = _run(humaneval(mode="guided", sandbox="gcop", executor="local", data_dir=DATA), tmp_path,
               model="gcop/reference", model_roles={"guide": "gcop/reference"}, limit=5)
    assert log.results.scores[0].metrics["accuracy"].value == 1.0
    assert log.results.scores[0].metrics["strategy_validity"].value == 1.0
    assert all("guide" in s.role_usage for s in log.samples)


@needs_shared_data
def test_gcop_namespace_tasks_resolve(tmp_path):
    log = _run("gcop/gsm8k", tmp_path, model="gcop/reference", limit=3,
               task_args={"mode": "core", "data_dir": DATA})
    assert log.status == "success" and log.results.scores[0].metrics["accuracy"].value == 1.0


def test_unknown_task_option_is_named(tmp_path):
    with pytest.raises(ValueError, match=r"-T mdoe; valid options:\n  -T split \(default 'test'\): the split to evaluate"):
        gsm8k(mdoe="core", data_dir=DATA)


def test_every_task_takes_the_options_of_one_dataclass():
    """The options live in gcop.evals.options.TaskOptions, with their help: each benchmark's task
    takes those that apply to it (split where there are several, sandbox and executor where the
    sandbox judges), and refuses the others by name."""
    import dataclasses

    from gcop.evals.humaneval import humaneval
    from gcop.evals.options import TaskOptions, option_names

    every = [f.name for f in dataclasses.fields(TaskOptions)]
    assert all(f.metadata["help"] for f in dataclasses.fields(TaskOptions))
    assert option_names("kodcode") == every
    assert option_names("humaneval") == [n for n in every if n != "split"]
    assert option_names("gsm8k") == [n for n in every if n not in ("sandbox", "executor")]
    with pytest.raises(ValueError, match=r"unknown task option\(s\) for humaneval: -T split"):
        humaneval(split="test")
    with pytest.raises(ValueError, match=r"unknown task option\(s\) for gsm8k: -T executor"):
        gsm8k(executor="local")


@needs_shared_data
def test_relative_data_dir_means_the_shell_directory(tmp_path, monkeypatch):
    from gcop.evals.data import resolve_data_dir

    monkeypatch.setenv("PWD", str(SHARED_DATA.parent))
    monkeypatch.chdir(tmp_path)  # as `inspect eval evals/x.py` does: cwd = the task file's folder
    assert resolve_data_dir("data") == SHARED_DATA.resolve()


@needs_shared_data
def test_cost_per_role_from_inspect_usage(tmp_path):
    from gcop.costs import role_split

    task = gsm8k(split="test", mode="guided", data_dir=DATA)
    guide = get_model("mockllm/model", custom_outputs=[mock_output("<strategy>Plan it.</strategy>", input_tokens=30, output_tokens=5)])
    core = get_model("mockllm/model", custom_outputs=[mock_output("\\boxed{1}", input_tokens=200, output_tokens=20)])
    log = _run(task, tmp_path, model=core, model_roles={"guide": guide}, limit=1)
    [sample] = log.samples
    split = role_split(sample.model_usage, sample.role_usage)
    assert split["guide"]["input_tokens"] == 30 and split["guide"]["output_tokens"] == 5
    assert split["core"]["input_tokens"] == 200 and split["core"]["output_tokens"] == 20
    run = role_split(log.stats.model_usage, log.stats.role_usage)
    assert run["core"]["total_tokens"] == 220 and run["guide"]["total_tokens"] == 35


@needs_shared_data
def test_labelled_replay_is_its_own_model_with_the_offline_price(tmp_path, monkeypatch):
    from gcop.evals.benchmarks import load_problems

    [problem] = load_problems("gsm8k", "test", DATA)[:1]
    replay = tmp_path / "recorded.jsonl"
    replay.write_text(json.dumps({"id": problem.id, "completion": f"\\boxed{{{problem.target}}}",
                                  "input_tokens": 1_000_000, "output_tokens": 500_000}) + "\n")
    monkeypatch.setenv("GCOP_OFFLINE_PRICE", "0.5,2")
    log = _run(gsm8k(split="test", mode="core", data_dir=DATA), tmp_path, model="gcop/replay/some-recorded-model",
               model_args={"path": str(replay)}, limit=1)
    assert log.eval.model == "gcop/replay/some-recorded-model"
    assert log.results.scores[0].metrics["accuracy"].value == 1.0
    [usage] = log.stats.model_usage.values()
    assert usage.total_cost == pytest.approx(0.5 + 1.0)  # 1M in at $0.5/M + 0.5M out at $2/M
    with pytest.raises(ValueError, match="gcop/replay/<label>"):
        get_model("gcop/reference/label", memoize=False)


@needs_shared_data
def test_a_data_revision_is_the_content_not_the_folder(tmp_path):
    import shutil

    from gcop.evals.benchmarks import get_benchmark

    def data_revision(name: str, data_dir: str) -> str:
        return get_benchmark(name).data_revision(data_dir)

    copy = tmp_path / "copy"
    shutil.copytree(DATA + "/kodcode", copy / "kodcode")
    assert data_revision("kodcode", str(copy)) == data_revision("kodcode", DATA)  # same files, another path
    sample = copy / "kodcode" / "kodcode_sample.jsonl"
    sample.chmod(0o644)
    sample.write_text(sample.read_text()[:-2] + "\n")
    assert data_revision("kodcode", str(copy)) != data_revision("kodcode", DATA)


def _model_calls(log, role: str | None) -> list:
    """The model events of the log's one sample made by ``role`` (None: the task's model)."""
    [sample] = log.samples
    return [e for e in sample.events if e.event == "model" and e.role == role]


@needs_shared_data
def test_the_core_call_has_gcops_cap_and_the_guide_keeps_its_own(tmp_path):
    """Every core call runs under -T max_core_tokens (default 2,048), whatever the provider's own
    default; `--max-tokens` overrides it, and the guide call keeps the guide's cap."""
    def run(task, **kwargs):
        guide = get_model("mockllm/model", custom_outputs=[mock_output("<strategy>Add, then halve.</strategy>")])
        return _run(task, tmp_path, model=get_model("mockllm/model"), model_roles={"guide": guide}, limit=1, **kwargs)

    log = run(gsm8k(split="test", data_dir=DATA, mode="guided"))
    [core_call] = _model_calls(log, None)
    [guide_call] = _model_calls(log, "guide")
    assert core_call.config.max_tokens == 2048 and log.eval.metadata["max_core_tokens"] == 2048
    assert guide_call.config.max_tokens == 1024 + 512  # the guide's own: think budget + strategy budget
    log = run(gsm8k(split="test", data_dir=DATA, mode="guided", max_core_tokens=300))
    assert _model_calls(log, None)[0].config.max_tokens == 300
    assert _model_calls(log, "guide")[0].config.max_tokens == 1536
    log = run(gsm8k(split="test", data_dir=DATA, mode="guided", max_core_tokens=300), max_tokens=77)
    assert _model_calls(log, None)[0].config.max_tokens == 77  # inspect eval --max-tokens wins
    with pytest.raises(ValueError, match="max_core_tokens must be a whole number >= 1, got 0"):
        gsm8k(data_dir=DATA, max_core_tokens=0)
