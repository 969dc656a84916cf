"""mbpp: the spec conforms (gcop.evals.benchmarks.conformance) and the task runs end to end,
the reference model scoring every sample and a mock model's wrong answers none."""

from __future__ import annotations

from pathlib import Path

from inspect_ai import eval as inspect_eval
from inspect_ai.model import get_model

from gcop.evals.benchmarks import get_benchmark
from gcop.evals.benchmarks.conformance import assert_benchmark_conforms
from gcop.evals.mbpp import mbpp
from tests.conftest import mock_output

DATA = Path(__file__).parent / "data"


def test_the_mbpp_spec_conforms():
    assert_benchmark_conforms(get_benchmark("mbpp"), DATA)


def test_mbpp_end_to_end_with_the_reference_and_a_mock_model(tmp_path):
    spec = get_benchmark("mbpp")
    [problem, *_] = spec.load("test", DATA)
    wrong = spec.wrong_answer(spec.record(problem).target, spec.record(problem).metadata)
    mock = get_model("mockllm/model", custom_outputs=[mock_output(wrong) for _ in range(2)], memoize=False)
    for model, accuracy in (("gcop/reference", 1.0), (mock, 0.0)):
        [log] = inspect_eval(mbpp(split="test", mode="core", data_dir=str(DATA), executor="local"), model=model, limit=2,
                             display="none", log_dir=str(tmp_path / "logs"))
        assert log.status == "success", log.error
        assert log.results is not None and log.results.scores[0].metrics["accuracy"].value == accuracy


def test_an_answer_that_returns_what_the_statement_shows_never_passes():
    """The completion a policy would learn when the statement shows every test: return the shown
    values for the shown inputs. The statement shows one assert, every assert is judged, so the
    lookup table fails on every problem; the reference on the same jobs passes (the check runs)."""
    import ast

    from gcop.evals.examples import visible_examples
    from gcop.evals.verification import prepare_judgement
    from gcop.sandbox.executors import make_executor
    from gcop.sandbox.protocol import Status

    spec = get_benchmark("mbpp")
    jobs, expected = [], []
    for problem in spec.load(None, DATA):
        record = spec.record(problem)
        shown = visible_examples(record.input, record.metadata["entry_point"])
        assert shown, problem.id
        table = {}
        for example in shown:  # assert f(args) == value, as visible_examples writes them
            compare = ast.parse(example).body[0].test
            call = next(node for node in ast.walk(compare) if isinstance(node, ast.Call)
                        and getattr(node.func, "id", None) == record.metadata["entry_point"])
            table[ast.unparse(call)] = ast.unparse(compare.comparators[0])
        name = record.metadata["entry_point"]
        lookup = (f"def {name}(*args):\n    table = {{{', '.join(f'{c!r}: {v}' for c, v in table.items())}}}\n"
                  f"    return table.get({name!r} + repr(args).replace(',)', ')'))\n")
        for answer, should in ((f"```python\n{lookup}```", Status.FAILED), (spec.reference_answer(problem), Status.PASSED)):
            jobs.append(prepare_judgement("mbpp", answer, target=record.target, metadata=record.metadata,
                                          sample_id=problem.id))
            expected.append(should)

    async def judge():
        async with make_executor("local", workers=2) as pool:
            return await pool.run_many(jobs)

    import asyncio

    assert [v.status for v in asyncio.run(judge())] == expected


def test_a_strategy_carrying_the_code_is_a_leak_and_a_plan_is_not():
    """What a guide would learn to earn MBPP's reward for the core: hand it the function. The leak
    check (GRPO's and acceptance's) runs every piece of code in a strategy against the hidden tests
    in the sandbox: the reference carried in a code block, or inline as one line of prose, leaks;
    an honest plan does not."""
    import asyncio

    from gcop.evals.leaks import check_leak
    from gcop.sandbox.executors import make_executor

    spec = get_benchmark("mbpp")
    problem = next(p for p in spec.load("test", DATA) if p.task_id == "mbpp/17")
    record = spec.record(problem)
    strategies = {
        "block": f"<strategy>1. Use this:\n```python\n{problem.code}\n```</strategy>",
        "inline": "<strategy>Write `def square_perimeter(a): return 4*a` and you are done.</strategy>",
        "plan": "<strategy>1. A square has four equal sides.\n2. Multiply the side length by four.\n"
                "3. Return the product.</strategy>",
    }

    async def run() -> dict[str, bool]:
        async with make_executor("local", 2) as executor:
            return {name: (await check_leak(text, "mbpp", target=record.target, metadata=record.metadata,
                                            problem=record.input, sample_id=problem.task_id, executor=executor)).leaked
                    for name, text in strategies.items()}

    assert asyncio.run(run()) == {"block": True, "inline": True, "plan": False}
