"""gcop.evals.benchmarks: the registry, the built-in specs, and a fourth benchmark added in one module
(tests/evals/toy_benchmark.py) that runs through every consumer without any of them naming it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from inspect_ai import eval as inspect_eval

from gcop.evals.benchmarks import (
    Benchmark,
    BenchmarkChoices,
    benchmark_for,
    benchmark_names,
    get_benchmark,
    load_problems,
    register,
    unregister,
)
from gcop.evals.verification import prepare_judgement
from gcop.sandbox.protocol import TestJob, Verdict
from tests.conftest import SHARED_DATA, needs_shared_data
from tests.evals.toy_benchmark import TOY, ToyProblem, toy

TOY_PROBLEMS = [
    {"id": "toy-double", "split": "test", "prompt": "Write double(x), returning twice x.",
     "solution": "def double(x):\n    return 2 * x\n",
     "test": "def test_double():\n    assert double(3) == 6\n    assert double(-1) == -2\n"},
    {"id": "toy-last", "split": "test", "prompt": "Write last(items), returning the last item or None.",
     "solution": "def last(items):\n    return items[-1] if items else None\n",
     "test": "def test_last():\n    assert last([1, 2]) == 2\n    assert last([]) is None\n"},
    {"id": "toy-train", "split": "train", "prompt": "Write inc(x), returning x + 1.",
     "solution": "def inc(x):\n    return x + 1\n", "test": "def test_inc():\n    assert inc(1) == 2\n"},
]


@pytest.fixture
def toy_data(tmp_path: Path) -> Path:
    """A data folder with the toy problems and one bad line (missing ``test``), which is skipped."""
    folder = tmp_path / "data" / "toy"
    folder.mkdir(parents=True)
    bad = {"id": "toy-bad", "split": "test", "prompt": "p", "solution": "s"}
    lines = [json.dumps(p) for p in TOY_PROBLEMS[:2]] + [json.dumps(bad), json.dumps(TOY_PROBLEMS[2])]
    (folder / "problems.jsonl").write_text("\n".join(lines) + "\n")
    return tmp_path / "data"


@pytest.fixture
def registered():
    register(TOY)
    yield TOY
    unregister("toy")


# ------------------------------------------------------------------------------ the registry


def test_the_builtins_are_registered_with_what_differs_between_them():
    assert benchmark_names()[:3] == ("gsm8k", "humaneval", "kodcode")
    gsm8k, humaneval, kodcode = (get_benchmark(n) for n in ("gsm8k", "humaneval", "kodcode"))
    assert (gsm8k.domain, humaneval.domain, kodcode.domain) == ("math", "code", "code")
    assert (gsm8k.sandboxed, humaneval.sandboxed, kodcode.sandboxed) == (False, True, True)
    assert (gsm8k.id_field, humaneval.id_field, kodcode.id_field) == ("id", "task_id", "question_id")
    assert humaneval.icl_pool == "kodcode" and humaneval.splits == ("test",)
    assert get_benchmark(" GSM8K ") is gsm8k  # names are case- and space-insensitive


def test_unknown_and_duplicate_names_are_clear_errors(registered):
    with pytest.raises(ValueError, match=r"unknown benchmark 'no_such_benchmark'; choose one of \['gsm8k', 'humaneval', 'kodcode', 'mbpp', 'toy'\]"):
        get_benchmark("no_such_benchmark")
    with pytest.raises(ValueError, match="already registered"):
        register(TOY)
    with pytest.raises(ValueError, match="already registered"):
        register(type("Clash", (type(TOY),), {"name": "gsm8k"})())
    with pytest.raises(TypeError, match="Benchmark instance"):
        register("toy")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not a benchmark problem record"):
        benchmark_for(object())


def test_the_command_line_choices_check_a_builtin_without_scanning_entry_points(registered, monkeypatch):
    """Every gcop command lists the benchmarks as argparse choices. A built-in or registered name
    is accepted without reading any distribution's metadata (a 10-20 ms scan at every command's
    start); any other name, the help and the error message see every name."""
    import argparse

    import gcop.evals.benchmarks as registry
    def no_scan() -> dict[str, str]:
        raise AssertionError("entry points scanned for a built-in name")

    monkeypatch.setattr(registry, "_entry_points", no_scan)
    parser = argparse.ArgumentParser(prog="gcop verify")
    parser.add_argument("benchmark", choices=BenchmarkChoices(), metavar="BENCHMARK", help="one of: %(choices)s")
    assert parser.parse_args(["humaneval"]).benchmark == "humaneval"
    assert parser.parse_args(["toy"]).benchmark == "toy"
    monkeypatch.setattr(registry, "_entry_points", lambda: {"plugged": "somewhere:SPEC"})
    assert parser.parse_args(["plugged"]).benchmark == "plugged"
    assert list(BenchmarkChoices()) == ["gsm8k", "humaneval", "kodcode", "mbpp", "plugged", "toy"]
    with pytest.raises(SystemExit):
        parser.parse_args(["no_such_benchmark"])
    assert "one of: gsm8k, humaneval, kodcode, mbpp, plugged, toy" in parser.format_help()


def test_no_gcop_command_scans_entry_points_to_accept_a_builtin(monkeypatch):
    """The parser of every gcop command is built without reading any distribution's metadata."""
    import gcop.evals.benchmarks as registry
    from gcop.cli import build_parser

    def no_scan() -> dict[str, str]:
        raise AssertionError("entry points scanned while building the command line")

    monkeypatch.setattr(registry, "_entry_points", no_scan)
    args = build_parser().parse_args(["verify", "humaneval", "samples.jsonl"])
    assert args.benchmark == "humaneval"


def test_a_spec_must_implement_the_abstract_methods():
    class Half(Benchmark):
        name, domain, splits, sandboxed, task_ref = "half", "math", ("test",), False, "x:y"

    with pytest.raises(TypeError, match="abstract"):
        Half()  # type: ignore[abstract]


@needs_shared_data
@pytest.mark.parametrize("name", ["gsm8k", "humaneval", "kodcode"])
def test_every_builtin_reference_passes_and_its_wrong_answer_fails_on_the_spot(name):
    """Judged without a sandbox run: GSM8K's verdict, or the sandbox job that would run."""
    spec = get_benchmark(name)
    for problem in load_problems(name, None, SHARED_DATA)[:5]:
        sample = spec.sample(problem)
        assert benchmark_for(problem) is spec
        assert sample.metadata["benchmark"] == name and sample.metadata["reference"] == spec.reference_answer(problem)
        reference = prepare_judgement(name, spec.reference_answer(problem), target=sample.target,
                                      metadata=sample.metadata, sample_id=problem.id)
        wrong = prepare_judgement(name, spec.wrong_answer(sample.target, sample.metadata), target=sample.target,
                                  metadata=sample.metadata, sample_id=problem.id)
        if spec.sandboxed:
            assert isinstance(reference, TestJob) and reference.id == problem.id and reference.test
            assert isinstance(wrong, TestJob)
        else:
            assert isinstance(reference, Verdict) and reference.passed
            assert isinstance(wrong, Verdict) and not wrong.passed
        assert prepare_judgement(name, "  ", target=sample.target, metadata=sample.metadata).reason.startswith("empty")


# ------------------------------------------------------------------------ a fourth benchmark


def test_the_toy_loader_keeps_the_good_lines_and_names_the_bad_one(toy_data):
    with pytest.warns(UserWarning, match=r"problems\.jsonl:3: field 'test': missing"):
        problems = TOY.load(None, toy_data)
    assert [p.id for p in problems] == ["toy-double", "toy-last", "toy-train"]
    assert all(isinstance(p, ToyProblem) for p in problems)


def test_a_registered_benchmark_runs_as_an_inspect_task(toy_data, registered, tmp_path):
    """Core mode with the offline reference core scores every sample; the guided run with the
    strategy-gated core scores exactly as the guide's strategy is valid (here always)."""
    [log] = inspect_eval(toy(split="test", data_dir=str(toy_data)), model="gcop/reference", display="none",
                         log_dir=str(tmp_path / "logs"))
    assert log.status == "success", log.error
    assert [s.id for s in log.samples] == ["toy-double", "toy-last"]
    assert log.results.scores[0].metrics["accuracy"].value == 1.0
    assert log.eval.metadata["benchmark"] == "toy" and log.eval.metadata["data_revision"].startswith("local toy files")

    [log] = inspect_eval(toy(split="test", mode="guided", data_dir=str(toy_data)), model="gcop/strategy_gated",
                         model_roles={"guide": "gcop/reference"}, display="none", log_dir=str(tmp_path / "logs"))
    assert log.results.scores[0].metrics["accuracy"].value == 1.0
    assert log.results.scores[0].metrics["strategy_validity"].value == 1.0
    [log] = inspect_eval(toy(split="test", data_dir=str(toy_data)), model="gcop/strategy_gated", display="none",
                         log_dir=str(tmp_path / "logs"))
    assert log.results.scores[0].metrics["accuracy"].value == 0.0  # no strategy: the spec's wrong answer


def test_a_registered_benchmark_is_judged_by_gcop_verify(toy_data, registered, tmp_path, capsys):
    from gcop.cli import main

    samples = tmp_path / "samples.jsonl"
    samples.write_text("\n".join(json.dumps(r) for r in [
        {"id": "toy-double", "completion": "```python\ndef double(x):\n    return x + x\n```"},
        {"id": "toy-last", "completion": "```python\ndef last(items):\n    return items[-1]\n```"},  # fails on []
        {"id": "toy-nope", "completion": "x"},
    ]) + "\n")
    code = main(["verify", "toy", str(samples), "--executor", "local", "--data-dir", str(toy_data), "--no-progress"])
    results = [json.loads(line) for line in (tmp_path / "samples.jsonl_results.jsonl").read_text().splitlines()]
    assert [r["passed"] for r in results] == [True, False]
    assert "unknown id 'toy-nope' (not in any split of toy)" in capsys.readouterr().err
    assert code == 1  # a bad input line makes the run fail, after judging the rest


def test_a_registered_benchmark_is_checked_by_selfcheck(toy_data, registered, tmp_path):
    """Both halves of ``gcop selfcheck``: its Inspect task with gcop/reference over every split, and
    the references judged straight in the sandbox."""
    from gcop.selfcheck import run_reference_tasks, run_selfcheck

    [check] = run_reference_tasks(executor="local", workers=1, data_dir=str(toy_data), benchmarks=["toy"],
                                  log_dir=str(tmp_path / "logs"))
    assert (check.task, check.samples, check.accuracy, check.errors) == ("toy", 3, 1.0, 0)
    [result] = run_selfcheck(executor="local", workers=1, data_dir=toy_data, benchmarks=["toy"], trials=True,
                             progress=False)
    assert (result.name, result.total, result.counts["passed"], result.ok) == ("toy", 3, 3, True)


def test_selfcheck_names_a_reference_decided_without_the_sandbox(toy_data):
    """A reference that needs no sandbox run (here an empty one) is counted with its own id, apart
    from the jobs the sandbox runs."""
    from gcop.selfcheck import run_selfcheck
    from tests.evals.toy_benchmark import ToyBenchmark

    class EmptyFirst(ToyBenchmark):
        name = "toy-empty"

        def reference_answer(self, problem):
            return "" if problem.id == "toy-last" else super().reference_answer(problem)

    register(EmptyFirst())
    try:
        results = run_selfcheck(executor="local", workers=1, data_dir=toy_data, benchmarks=["toy-empty"], trials=False,
                                progress=False)
    finally:
        unregister("toy-empty")
    on_the_spot, in_sandbox = results
    assert (on_the_spot.total, [i for i, _ in on_the_spot.problems]) == (1, ["toy-last"])
    assert (in_sandbox.total, in_sandbox.counts["passed"], in_sandbox.problems) == (2, 2, [])


def test_a_registered_benchmark_is_a_grpo_reward(toy_data, registered, tmp_path):
    """The same spec judges the reward: a valid strategy earns R = 1 from the strategy-gated core
    (the reference passes the toy's tests), an invalid one R = 0 and the sandbox never runs it."""
    from gcop.train.rewards import GuideRewards, RewardModels, RewardSettings

    problems = TOY.load("test", toy_data)
    engine = GuideRewards(problems, RewardModels(core="mockllm/strategy_gated", judge="mockllm/judge"),
                          RewardSettings(executor="local", baseline_cache=tmp_path / "baselines"))
    good = "<think>t</think>\n<strategy>\n1. Read the signature.\n2. Handle the empty case.\n</strategy>"
    out = engine.compute([p.id for p in problems] + [problems[0].id], [good, good, "no strategy"])
    assert out["R"] == [1.0, 1.0, 0.0] and out["I_str"] == [1.0, 1.0, 0.0]
    assert out["dR_penalty"] == [0.0, 0.0, 0.0]  # baseline R(without) = 0: the wrong answer


# ----------------------------------------------------------------- the reference stays out of reach


@needs_shared_data
@pytest.mark.parametrize("name", ["gsm8k", "humaneval", "kodcode"])
def test_the_reference_in_a_samples_metadata_reaches_no_model_and_no_sandbox_job(name, tmp_path):
    """Samples carry the reference solution (for the offline reference cores). A policy must not be
    able to earn a pass by reading it: no prompt the guide or the core gets contains it, and the job
    the sandbox runs for a response holds only the response and the tests."""
    from inspect_ai.model import get_model

    from tests.conftest import mock_output

    spec = get_benchmark(name)
    problems = load_problems(name, None, SHARED_DATA)[:3]
    secret = {p.id: spec.reference_answer(p).strip("`\n").removeprefix("python\n") for p in problems}
    prompts: list[str] = []

    def recording(input, tools, tool_choice, config):  # noqa: A002
        prompts.append("\n".join(m.text for m in input))
        return mock_output("<strategy>\n1. Read the task.\n</strategy>\nno answer")

    task = spec.task_function()(mode="guided", data_dir=str(SHARED_DATA),
                                **({"executor": "local"} if spec.sandboxed else {}),
                                **({"split": "all"} if "train" in spec.splits else {}))
    model = get_model("mockllm/model", custom_outputs=recording, memoize=False)
    [log] = inspect_eval(task, model=model, model_roles={"guide": get_model("mockllm/model", custom_outputs=recording,
                                                                              memoize=False)},
                         sample_id=[p.id for p in problems], display="none", log_dir=str(tmp_path))
    assert log.status == "success", log.error
    assert len(prompts) == 6  # a guide and a core call per sample
    # the reference's solution body (for HumanEval: past the prompt, which the core is shown) is in no prompt
    bodies = [p.canonical_solution.strip() if name == "humaneval" else s for p, s in zip(problems, secret.values(), strict=False)]
    assert not any(body in prompt for body in bodies for prompt in prompts)
    for problem, body in zip(problems, bodies, strict=True):
        sample = spec.sample(problem)
        job = prepare_judgement(name, "```python\nx = 1\n```", target=sample.target, metadata=sample.metadata,
                                sample_id=problem.id)
        carried = json.dumps(job.to_wire()) if isinstance(job, TestJob) else job.reason
        assert body not in carried


def test_every_registered_benchmark_has_a_conformance_test():
    """A benchmark joins with its own folder under tests/evals/ whose test runs the conformance
    check on its data (gcop.evals.benchmarks.conformance)."""
    from gcop.evals.benchmarks import BUILTIN

    tests_root = Path(__file__).parent
    for name in BUILTIN:
        test = tests_root / name / f"test_{name}.py"
        assert test.is_file(), f"{name}: no {test.relative_to(tests_root.parent.parent)}"
        assert "assert_benchmark_conforms" in test.read_text(), f"{name}: its tests do not run the conformance check"


def test_the_default_selfcheck_runs_the_benchmarks_whose_spec_says_so(registered, monkeypatch):
    """`gcop selfcheck` with no --benchmark: the built-ins whose data every checkout has (not MBPP,
    which ../shared/data lacks), and a registered benchmark only when its spec sets in_selfcheck."""
    from gcop.evals.benchmarks import selfcheck_names

    assert selfcheck_names() == ("gsm8k", "humaneval", "kodcode")
    monkeypatch.setattr(type(registered), "in_selfcheck", True)
    assert selfcheck_names() == ("gsm8k", "humaneval", "kodcode", "toy")


def test_every_builtin_benchmarks_task_is_registered_as_gcop_name():
    """Inspect finds each built-in benchmark's task as gcop/<name> through gcop's entry point (the
    registry module imports each benchmark folder's task; inspect-evals-lint checks it does)."""
    from inspect_ai._util.registry import registry_info

    import gcop._registry  # noqa: F401 - what Inspect's entry point loads
    from gcop.evals.benchmarks import BUILTIN

    for name in BUILTIN:
        assert registry_info(get_benchmark(name).task_function()).name == f"gcop/{name}"
