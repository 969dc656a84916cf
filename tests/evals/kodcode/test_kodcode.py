"""kodcode: the spec conforms (gcop.evals.benchmarks.conformance) and the task runs end to end,
the reference model scoring every sample and a mock model's wrong answers none."""

from __future__ import annotations

from inspect_ai import eval as inspect_eval
from inspect_ai.model import get_model

from gcop.evals.benchmarks import get_benchmark
from gcop.evals.benchmarks.conformance import assert_benchmark_conforms
from gcop.evals.kodcode import kodcode
from tests.conftest import SHARED_DATA, mock_output, needs_shared_data

DATA = SHARED_DATA


@needs_shared_data
def test_the_kodcode_spec_conforms():
    assert_benchmark_conforms(get_benchmark("kodcode"), DATA)


@needs_shared_data
def test_kodcode_end_to_end_with_the_reference_and_a_mock_model(tmp_path):
    spec = get_benchmark("kodcode")
    [problem, *_] = spec.load("test", DATA)
    wrong = spec.wrong_answer(spec.record(problem).target, spec.record(problem).metadata)
    mock = get_model("mockllm/model", custom_outputs=[mock_output(wrong) for _ in range(2)], memoize=False)
    for model, accuracy in (("gcop/reference", 1.0), (mock, 0.0)):
        [log] = inspect_eval(kodcode(split="test", mode="core", data_dir=str(DATA), executor="local"), model=model, limit=2,
                             display="none", log_dir=str(tmp_path / "logs"))
        assert log.status == "success", log.error
        assert log.results is not None and log.results.scores[0].metrics["accuracy"].value == accuracy
