"""The leak check (evals/leaks.py, guides/leaks.py) and the rule that a leak earns nothing.

Every leak of the corpus (tests/evals/leak_corpus.py: the gold in any notation or as an
expression, code under any name, as a bare body, in a class, as a lambda) must be found with its
reason, and earn 0 from GRPO's reward functions and from ``gcop reward``, although the core copies
it and is right; every honest strategy (written by hand, the offline chain's teacher, the
README's reference strategy) must not be flagged and earns its normal reward.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from typing import Any

import pytest
from inspect_ai.scorer import CORRECT, INCORRECT, SampleScore, Score

from gcop.evals.benchmarks import get_benchmark
from gcop.evals.leaks import check_leak, static_leak
from gcop.evals.scorers import accuracy_without_leaks
from gcop.guides.leaks import code_candidates, math_leak
from tests.conftest import REPO_ROOT, SHARED_DATA, docker_ready, needs_shared_data
from tests.evals.leak_corpus import Case, all_cases, wrapped

pytestmark = needs_shared_data


@pytest.fixture(scope="module")
def corpus() -> tuple[list[Case], dict[str, dict[str, Any]]]:
    return all_cases(str(SHARED_DATA))


def _sample(case: Case, problems: dict[str, dict[str, Any]]) -> tuple[str, dict[str, Any], str]:
    spec = get_benchmark(case.benchmark)
    sample = spec.sample(problems[case.benchmark][case.problem_id])
    target = sample.target if isinstance(sample.target, str) else "".join(sample.target)
    return target, dict(sample.metadata or {}), str(sample.input)


def _verdicts(cases: list[Case], problems: dict[str, dict[str, Any]], kind: str = "local") -> list[Any]:
    """The leak check's verdict on each case, code candidates run on a ``kind`` sandbox pool."""
    from gcop.sandbox.executors import make_executor

    async def run() -> list[Any]:
        out = []
        async with make_executor(kind, 2) as executor:
            for case in cases:
                target, metadata, text = _sample(case, problems)
                out.append(await check_leak(case.strategy, case.benchmark, target=target, metadata=metadata,
                                            problem=text, sample_id=case.problem_id, executor=executor))
        return out

    return asyncio.run(run())


def test_the_corpus_is_as_large_as_promised(corpus):
    cases, _ = corpus
    leaks = [c for c in cases if c.leak]
    honest = [c for c in cases if not c.leak]
    assert len(leaks) >= 60 and len(honest) >= 40
    assert {c.benchmark for c in leaks} == {"gsm8k", "humaneval", "kodcode"} == {c.benchmark for c in honest}
    forms = {c.form for c in leaks}
    for form in ("words", "expression", "words-expression", "fraction", "scientific", "half-of", "twice", "dozen",
                 "fenced-renamed", "bare-body", "class-method", "lambda", "indented-def"):
        assert form in forms


def test_every_leak_is_found_with_its_rule_and_span(corpus):
    cases, problems = corpus
    leaks = [c for c in cases if c.leak]
    verdicts = _verdicts(leaks, problems)
    missed = [c.name for c, v in zip(leaks, verdicts, strict=True) if not v.leaked]
    assert missed == []
    for case, verdict in zip(leaks, verdicts, strict=True):
        assert verdict.finding.rule.startswith("code." if case.benchmark != "gsm8k" else "math.")
        assert verdict.reason and verdict.finding.text  # the span it came from
        if case.benchmark != "gsm8k":
            assert verdict.candidates_run >= 1  # decided by running code, not by looking at it
            start, end = verdict.finding.span
            assert verdict.finding.text[:40] in case.strategy[start:end]


def test_no_honest_strategy_is_flagged(corpus):
    cases, problems = corpus
    honest = [c for c in cases if not c.leak]
    verdicts = _verdicts(honest, problems)
    flagged = [(c.name, v.reason) for c, v in zip(honest, verdicts, strict=True) if v.leaked]
    assert flagged == []
    # wrong code in a strategy is run and found not to pass: shown code is not, by itself, a leak
    wrong = [v for c, v in zip(honest, verdicts, strict=True) if "```" in c.strategy]
    assert wrong and all(v.candidates_run >= 1 for v in wrong)


def test_the_offline_teacher_and_reference_strategies_are_not_leaks(corpus):
    """The offline chain's accepted strategies (mockllm/teacher, the README's chain) and the
    reference strategy of gcop/reference, on the first 40 problems of each benchmark."""
    from gcop.evals.providers import REFERENCE_STRATEGY
    from gcop.guides.strategy import parse_guide_output
    from gcop.train.tiny import synthetic_guide_output

    _, problems = corpus
    reference = parse_guide_output(REFERENCE_STRATEGY).strategy
    checked = 0
    for name, by_id in problems.items():
        spec = get_benchmark(name)
        for problem in list(by_id.values())[:40]:
            sample = spec.sample(problem)
            target = sample.target if isinstance(sample.target, str) else "".join(sample.target)
            for seed in range(2):
                strategy = parse_guide_output(synthetic_guide_output(str(sample.input), spec.domain, seed=seed)).strategy
                for text in (strategy, reference):
                    assert static_leak(text, name, target=target, metadata=sample.metadata or {},
                                       problem=str(sample.input)) is None
                    if spec.domain == "code":
                        entry = spec.leak_args(target, sample.metadata or {}).get("entry_point")
                        assert code_candidates(text, entry, str(sample.input)) == []
                    checked += 1
    assert checked >= 400


@pytest.mark.parametrize("strategy,gold,problem,rule", [
    ("Report eighteen.", 18, "", "math.number"),
    ("It comes to one hundred and twenty-five dollars.", 125, "", "math.number"),
    ("Three dozen in all.", 36, "", "math.number"),
    ("Half a dozen are left.", 6, "", "math.number"),
    ("Total 1,800 units.", 1800, "", "math.number"),
    ("Total 1_800 units.", 1800, "", "math.number"),
    ("About 1.8e3 units.", 1800, "", "math.number"),
    ("It is 1.8 x 10^3.", 1800, "", "math.expression"),
    ("25% of 80 are red.", 20, "", "math.expression"),
    ("Subtract 7 from 25.", 18, "", "math.expression"),
    ("Seventeen and a half hours.", 17.5, "", "math.expression"),
    ("Multiply 3 by 6.", 18, "", "math.expression"),
    ("The sum of 10 and 8.", 18, "", "math.expression"),
    ("Take 54 divided by three.", 18, "", "math.expression"),
    ("That gives 20.", 20, "There are 20 chickens.", "math.number"),  # a problem quantity named as the result
    ("Use 3/4 of it.", 0.75, "", "math.expression"),
    ("She ends with -4 dollars.", -4, "", "math.number"),
])
def test_math_leak_forms(strategy, gold, problem, rule):
    from fractions import Fraction

    found = math_leak(strategy, Fraction(str(gold)), problem)
    assert found is not None and found.rule == rule, (strategy, found)


@pytest.mark.parametrize("strategy,gold,problem", [
    ("There are 20 chickens; give each 3 cups.", 20, "Wendi has 20 chickens."),  # restated quantity
    ("It is the 18th day; x18 is a label.", 18, ""),
    ("Use 20-1 = 19 and 1,8 are not it.", 18, ""),
    ("1. Add.\n2. Halve.\n18. Check.", 18, ""),  # step numbers
    ("Multiply 18.5 by two.", 18, ""),
    ("Twenty-five one-dollar bills.", 26, ""),  # "25 one" is not 26
    ("Use python3 and py18 labels.", 18, ""),
])
def test_math_non_leaks(strategy, gold, problem):
    assert math_leak(strategy, gold, problem) is None


def test_code_candidates_take_any_name_and_shape():
    problem = "def add(a, b):\n    pass"
    shapes = {
        "other name": "```python\ndef plus(x, y):\n    return x + y\n```",
        "lambda": "Bind `add = lambda a, b: a + b`.",
        "bare lambda": "`lambda a, b: a + b`",
        "class": "```python\nclass Adder:\n    def run(self, a, b):\n        return a + b\n```",
        "bare body": "Body:\n\n    total = a + b\n    return total\n",
        "inline return": "Just `return a + b`.",
    }
    for shape, strategy in shapes.items():
        candidates = code_candidates(strategy, "add", problem)
        assert candidates, shape
        for source, _ in candidates:
            namespace: dict[str, Any] = {}
            exec(compile(source, shape, "exec"), namespace)  # noqa: S102 - our own candidates, trusted here
            try:
                if namespace["add"](2, 3) == 5:
                    break
            except TypeError:
                continue  # a candidate of the wrong shape (the class itself as the entry point)
        else:
            pytest.fail(f"no candidate of {shape!r} computes add")
    for prose in ("Use `sorted()` and `abs`.", "1. Sort the list.\n2. Return the first element.", "Note: x"):
        assert code_candidates(prose, "add", problem) == []


# --------------------------------------------------------------------------- rewards


def _engine(problems: list[Any], executor: Any, **settings: Any) -> Any:
    from gcop.train.rewards import GuideRewards, RewardModels, RewardSettings

    return GuideRewards(problems, RewardModels(core="mockllm/reference", judge="mockllm/judge"),
                        RewardSettings(executor=executor, **settings))


def test_every_leak_earns_zero_from_the_grpo_reward_functions(corpus):
    """The core here copies whatever it needs (it always answers the reference): a leak would earn
    R = 1 if anything were paid for it. Called as TRL calls the reward functions."""
    cases, problems = corpus
    records = {(c.benchmark, c.problem_id): problems[c.benchmark][c.problem_id] for c in cases}
    engine = _engine(list(records.values()), "local")
    ids = [c.problem_id for c in cases]
    completions = [[{"role": "assistant", "content": wrapped(c.strategy)}] for c in cases]

    async def run() -> dict[str, list[float | None]]:
        funcs = engine.reward_funcs()
        try:
            results = await asyncio.gather(*(f(prompts=[None] * len(ids), completions=completions, problem_id=ids)
                                             for f in funcs))
        finally:
            await engine.aclose()
        return {f.__name__: r for f, r in zip(funcs, results, strict=True)}

    out = asyncio.run(run())
    weights = engine.reward_weights()
    for i, case in enumerate(cases):
        values = [out[name][i] for name in engine.components]
        total = sum(w * v for w, v in zip(weights, values, strict=True))  # type: ignore[operator]
        if case.leak:
            assert values == [0.0, 0.0, 0.0, 0.0], case.name
        else:
            assert out["R"][i] == 1.0 and total > 1.0, case.name  # R + beta, plus the judge's share
    assert engine.stats["leaked"] == sum(c.leak for c in cases)


@pytest.mark.parametrize("benchmark", ["gsm8k", "humaneval", "kodcode"])
def test_gcop_reward_scores_a_file_and_skips_bad_lines(corpus, tmp_path, benchmark):
    cases, _ = corpus
    chosen = [c for c in cases if c.benchmark == benchmark]
    path = tmp_path / "completions.jsonl"
    lines = [json.dumps({"id": c.problem_id, "completion": wrapped(c.strategy)}) for c in chosen]
    lines.insert(3, "{not json")
    lines.insert(5, json.dumps({"id": "no-such-problem", "completion": "x"}))
    lines.insert(7, json.dumps({"id": chosen[0].problem_id, "completion": 5}))
    path.write_text("\n".join(lines) + "\n")
    out = tmp_path / "rewards.jsonl"
    run = subprocess.run(
        [sys.executable, "-m", "gcop", "reward", benchmark, str(path), "--config",
         str(REPO_ROOT / "train/configs/smoke_grpo.yaml"), "--out", str(out), "--executor", "local",
         "--core", "mockllm/reference", "--baseline_cache", str(tmp_path / "baselines"), "--data_dir", str(SHARED_DATA)],
        capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert run.returncode == 0, run.stderr
    assert f"{path}:4: not valid JSON" in run.stdout
    assert f"{path}:6: field 'id': 'no-such-problem' is not a problem of this benchmark" in run.stdout
    assert f"{path}:8: field 'completion': must be a string" in run.stdout
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == len(chosen)
    for case, row in zip(chosen, rows, strict=True):
        assert row["id"] == case.problem_id and row["leaked"] is case.leak
        if case.leak:
            assert row["reward"] == 0.0 and row["leak_reason"].startswith("math." if benchmark == "gsm8k" else "code.")
            assert all(row[name] == 0.0 for name in ("R", "I_str", "J", "dR_penalty"))
        else:
            assert row["reward"] > 1.0 and row["leak_reason"] is None
    assert "leak rate" in run.stdout and "mean reward" in run.stdout


# --------------------------------------------------------------------------- Inspect


def test_accuracy_without_leaks_counts_leaked_samples_as_failures():
    def score(value: str, leaked: bool | None) -> SampleScore:
        return SampleScore(score=Score(value=value, metadata={"leaked": leaked}), sample_id="x")

    metric = accuracy_without_leaks()
    # 3 correct of 4; one correct sample leaked: 2 of 4 honest successes
    scores = [score(CORRECT, False), score(CORRECT, True), score(CORRECT, False), score(INCORRECT, False)]
    assert metric(scores) == {"accuracy_without_leaks": 0.5}
    # an invalid strategy (leaked None) that the core got right still counts as correct
    assert metric([score(CORRECT, None), score(CORRECT, True)]) == {"accuracy_without_leaks": 0.5}
    # no guided sample: the metric does not apply
    assert metric([score(CORRECT, None)]) == {"accuracy_without_leaks": None}


@pytest.mark.docker
@pytest.mark.skipif(not docker_ready(), reason="needs Docker and the sandbox image")
def test_code_leaks_are_judged_in_the_docker_sandbox(corpus):
    """The same code rule on the warm Docker pool: a sample of the code leaks is found, the
    honest strategies holding wrong code are not."""
    cases, problems = corpus
    chosen = [c for c in cases if c.benchmark != "gsm8k" and (not c.leak or c.form in ("bare-body", "class-method"))]
    chosen = [c for c in chosen if c.leak][:8] + [c for c in chosen if not c.leak and "```" in c.strategy]

    verdicts = _verdicts(chosen, problems, "docker")
    assert [v.leaked for v in verdicts] == [c.leak for c in chosen]
    assert all(v.candidates_run >= 1 for v in verdicts)


def test_leaking_pays_under_judge_only_and_never_under_zero(corpus):
    """mockllm/copies_leaks (the core of the leaking-shortcut training run) copies a leaked answer
    and is right on only half of the problems with an honest strategy: under the paper's
    judge_only rule a leak out-earns honesty there; under gcop's zero rule it earns nothing."""
    from gcop.train.rewards import GuideRewards, RewardModels, RewardSettings

    cases, problems = corpus
    by_problem: dict[str, dict[str, Case]] = {}
    for case in cases:
        if case.benchmark == "gsm8k":
            by_problem.setdefault(case.problem_id, {})["leak" if case.leak else "honest"] = case
    pairs = [(pid, c["leak"], c["honest"]) for pid, c in by_problem.items() if {"leak", "honest"} <= set(c)]
    records = [problems["gsm8k"][pid] for pid, _, _ in pairs]
    totals: dict[str, list[tuple[float, float]]] = {}
    for rule in ("judge_only", "zero"):
        engine = GuideRewards(records, RewardModels(core="mockllm/copies_leaks", judge="mockllm/judge"),
                              RewardSettings(executor="local", leak_reward=rule))  # type: ignore[arg-type]
        ids = [pid for pid, _, _ in pairs] * 2
        texts = [wrapped(leak.strategy) for _, leak, _ in pairs] + [wrapped(honest.strategy) for _, _, honest in pairs]
        outcomes = asyncio.run(engine.outcomes(texts, problem_id=ids))
        n = len(pairs)
        totals[rule] = [(engine.total(outcomes[i]), engine.total(outcomes[n + i])) for i in range(n)]  # type: ignore[misc]
        assert all(o.leaked for o in outcomes[:n]) and not any(o.leaked for o in outcomes[n:])
    assert any(leak > honest for leak, honest in totals["judge_only"])  # leaking pays where honesty fails
    assert all(leak == 0.0 < honest for leak, honest in totals["zero"])


@pytest.mark.parametrize("strategy,gold", [
    ("Buy 5 apples\n- 3 cups of flour", 2),  # a bullet after a number is no minus sign
    ("Half of the 16 glasses cost $5.", 1),  # "half of" is 1/2 as one number, never the numbers 1 and 2
    ("**Step 3:** add them.", 3),  # a step number anywhere
    ("We solve it in three steps.", 3),
    ("There are 7 days in a week.", 7),  # a unit conversion
    ("Daily feed = 3 cups x 20 chickens.", 20),  # a restated quantity inside an expression
])
def test_plan_structure_is_not_a_leak(strategy, gold):
    problem = "Wendi has 20 chickens and 16 glasses; each costs $5."
    assert math_leak(strategy, gold, problem) is None
