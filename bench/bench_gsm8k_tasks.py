"""gcop's GSM8K task against inspect_evals' GSM8K task with ``gcop/guided``, on the same recorded
outputs: do they make the same guided/unguided decisions, and where do their scorers differ?

Both tasks run the same test problems (the first ``--limit`` of ``../shared/data/gsm8k/test.jsonl``;
inspect_evals' Hub loader is replaced by that file, with ``fewshot=0``: the few-shot examples
only change the prompt, and the outputs here are recorded, not generated). The guide and the core
are scripted models that answer each problem with its recorded output, found by the problem's
text, whatever prompt each task builds around it. So every difference below is the tasks': their
strategy checks and their scorers, on identical text.

The recordings are built here, deterministically, not sampled from a model (no model answers on
this machine): for each problem one guide output and one core output, in turn of the forms models
produce.

* guide: a plan without numbers; a plan that uses the problem's numbers; one that states the
  answer ("the answer is N"); one whose last step computes it ("... = N"); an output without a
  ``<strategy>`` block; a strategy over the token budget.
* core: GSM8K's own reference solution (``... #### N``); ``ANSWER: N`` (inspect_evals' format);
  ``\\boxed{N}`` (gcop's); ``The answer is $N`` with thousands separators; ``N.00``; the answer
  followed by a check that ends on another number. Every third core answer is wrong (N + 1).

Per problem the report compares: the strategy's validity (whether the core got it), the leak
verdict, and the scorers' verdicts, with the disagreements counted by output form.

Run from the repo root::

    .venv/bin/python bench/bench_gsm8k_tasks.py [--limit 300] [--data-dir ../shared/data]

Writes ``reports/benchmarks/gsm8k_tasks.json`` (and prints it).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.provenance import code_version  # noqa: E402

GUIDE_FORMS = ("plan", "plan_with_numbers", "states_answer", "computes_answer", "no_block", "over_budget")
CORE_FORMS = ("reference_solution", "answer_colon", "boxed", "dollars_commas", "decimal", "check_after")


def gold(record: dict[str, Any]) -> str:
    return record["answer"].split("####")[-1].strip().replace(",", "")


def recorded_guide(record: dict[str, Any], index: int) -> tuple[str, str]:
    import re

    form = GUIDE_FORMS[index % len(GUIDE_FORMS)]
    numbers = re.findall(r"\d+(?:\.\d+)?", record["question"])[:2] or ["1", "1"]
    answer = gold(record)
    text = {
        "plan": "1. List the quantities given.\n2. Find how they combine.\n3. Compute the total asked for.",
        "plan_with_numbers": f"1. Start from {numbers[0]}.\n2. Combine it with {numbers[-1]} as the problem says.\n"
                             "3. Compute what is asked.",
        "states_answer": f"1. Work through the quantities.\n2. The answer is {answer}.",
        "computes_answer": f"1. Combine {numbers[0]} and {numbers[-1]}.\n2. The result: {numbers[0]} ... = {answer}.",
        "no_block": "",
        "over_budget": " ".join(f"Step {i}: reconsider the quantities carefully." for i in range(1, 200)),
    }[form]
    if form == "no_block":
        return form, "I would list the quantities and combine them."
    return form, f"<think>Plan it.</think>\n<strategy>\n{text}\n</strategy>"


def recorded_core(record: dict[str, Any], index: int) -> tuple[str, bool, str]:
    form = CORE_FORMS[(index // len(GUIDE_FORMS) + index) % len(CORE_FORMS)]
    right = index % 3 != 2
    answer = gold(record)
    value = answer if right else str(int(float(answer)) + 1)
    solution = record["answer"].split("####")[0].strip()
    number = float(value)
    text = {
        "reference_solution": f"{solution}\n#### {value}",
        "answer_colon": f"{solution}\nANSWER: {value}",
        "boxed": f"{solution}\nThe answer is \\boxed{{{value}}}.",
        "dollars_commas": f"{solution}\nThe answer is ${number:,.0f}." if number == int(number) else f"The answer is ${value}.",
        "decimal": f"{solution}\nSo the answer is {number:.2f}",
        "check_after": f"{solution}\nThe answer is {value}. Check: {value} + 0 = {value}, and 2 more would be "
                       f"{number + 2:g}.",
    }[form]
    return form, right, text


def load_records(data_dir: Path, limit: int) -> list[dict[str, Any]]:
    lines = (data_dir / "gsm8k" / "test.jsonl").read_text().splitlines()[:limit]
    return [json.loads(line) for line in lines]


def scripted(recordings: dict[str, str], kind: str) -> Any:
    """A model that answers with the recording of the problem its last user turn holds."""
    from inspect_ai.model import ModelOutput, ModelUsage, get_model

    def reply(messages: Any, tools: Any, tool_choice: Any, config: Any) -> ModelOutput:
        text = next(m.text for m in reversed(messages) if m.role == "user")
        found = [answer for question, answer in recordings.items() if question in text]
        if len(found) != 1:
            raise RuntimeError(f"{kind}: {len(found)} recordings match the prompt")
        output = ModelOutput.from_content(f"mockllm/{kind}", found[0])
        output.usage = ModelUsage(input_tokens=len(text) // 4, output_tokens=len(found[0]) // 4,
                                  total_tokens=(len(text) + len(found[0])) // 4)
        return output

    return get_model(f"mockllm/{kind}", custom_outputs=reply)


def run_both(records: list[dict[str, Any]], data_dir: Path, log_dir: Path) -> tuple[Any, Any, dict[str, Any]]:
    import importlib

    from inspect_ai import eval
    from inspect_ai.dataset import MemoryDataset

    ie_gsm8k = importlib.import_module("inspect_evals.gsm8k.gsm8k")  # the module (its package exports the function)
    from gcop.evals.gsm8k import gsm8k as gcop_gsm8k
    from gcop.solvers import wrap_task

    guide_text, core_text, forms = {}, {}, {}
    for i, record in enumerate(records):
        question = record["question"].strip()
        guide_form, guide_text[question] = recorded_guide(record, i)
        core_form, right, core_text[question] = recorded_core(record, i)
        forms[question] = {"guide_form": guide_form, "core_form": core_form, "recorded_right": right}
    ours = gcop_gsm8k(mode="guided", data_dir=str(data_dir))
    hub_loader = ie_gsm8k.hf_dataset
    ie_gsm8k.hf_dataset = lambda **kwargs: MemoryDataset([ie_gsm8k.record_to_sample(r) for r in records])
    try:  # the task reads its dataset when built
        theirs = wrap_task(ie_gsm8k.gsm8k(fewshot=0), "guided", domain="math")
    finally:
        ie_gsm8k.hf_dataset = hub_loader
    logs = []
    for task in (ours, theirs):
        [log] = eval(task, model=scripted(core_text, "core"), model_roles={"guide": scripted(guide_text, "guide")},
                     limit=len(records), display="none", log_dir=str(log_dir), max_connections=8)
        assert log.status == "success", log.error
        logs.append(log)
    return logs[0], logs[1], forms


def per_problem(log: Any) -> dict[str, dict[str, Any]]:
    from inspect_ai.scorer import value_to_float

    found = {}
    for sample in log.samples:
        question = sample.metadata.get("question") or sample.input
        if not isinstance(question, str):
            question = sample.input if isinstance(sample.input, str) else sample.input[-1].text
        guide = sample.metadata.get("guide") or {}
        score = next(iter(sample.scores.values()))
        found[" ".join(question.split())] = {"valid": bool(guide.get("valid")), "leaked": guide.get("leaked"),
                                              "correct": value_to_float()(score.value) >= 1.0, "answer": score.answer,
                                              "target": sample.target, "output": sample.output.completion}
    return found


def compare(records: list[dict[str, Any]], ours: Any, theirs: Any, forms: dict[str, Any]) -> dict[str, Any]:
    a, b = per_problem(ours), per_problem(theirs)
    keys = {" ".join(r["question"].split()): r["question"].strip() for r in records}
    missing = [k for k in keys if k not in a or k not in b]
    if missing:
        raise SystemExit(f"{len(missing)} problems not found in both logs, e.g. {missing[0][:80]!r}")
    validity = Counter()
    leak = Counter()
    scorer = Counter()
    scorer_by_form: dict[str, Counter] = defaultdict(Counter)
    leak_by_form: dict[str, Counter] = defaultdict(Counter)
    examples: dict[str, dict[str, Any]] = {}
    for key, question in keys.items():
        form = forms[question]
        validity["same" if a[key]["valid"] == b[key]["valid"] else "different"] += 1
        if a[key]["valid"] and b[key]["valid"]:
            same = a[key]["leaked"] == b[key]["leaked"]
            leak["same" if same else "different"] += 1
            leak_by_form[form["guide_form"]][f"gcop {a[key]['leaked']}, inspect_evals {b[key]['leaked']}"] += 1
        verdicts = (a[key]["correct"], b[key]["correct"])
        scorer["same" if verdicts[0] == verdicts[1] else "different"] += 1
        label = f"gcop {'C' if verdicts[0] else 'I'}, match {'C' if verdicts[1] else 'I'}, recorded " \
                f"{'right' if form['recorded_right'] else 'wrong'}"
        scorer_by_form[form["core_form"]][label] += 1
        if verdicts[0] != verdicts[1]:
            examples.setdefault(f"{form['core_form']}: {label}", {
                "target": b[key]["target"], "gcop_answer": a[key]["answer"], "match_answer": b[key]["answer"],
                "output_tail": b[key]["output"][-120:]})
    accuracy = {"gcop": sum(v["correct"] for v in a.values()) / len(a),
                "inspect_evals": sum(v["correct"] for v in b.values()) / len(b),
                "recorded_right": sum(f["recorded_right"] for f in forms.values()) / len(forms)}
    return {"problems": len(keys), "strategy_validity": dict(validity), "leak_verdict_where_both_valid": dict(leak),
            "leak_verdicts_by_guide_form": {k: dict(v) for k, v in sorted(leak_by_form.items())},
            "scorer_verdicts": dict(scorer),
            "scorer_verdicts_by_core_form": {k: dict(v) for k, v in sorted(scorer_by_form.items())},
            "accuracy": accuracy, "disagreements_one_example_each": examples}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=300)
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "benchmarks" / "gsm8k_tasks.json")
    args = parser.parse_args()
    import importlib.metadata

    records = load_records(args.data_dir, args.limit)
    with tempfile.TemporaryDirectory() as logs:
        ours, theirs, forms = run_both(records, args.data_dir, Path(logs))
        report = {
            "what": "gcop/gsm8k (mode=guided) against inspect_evals/gsm8k (fewshot=0) wrapped in gcop/guided, on the "
                    "same recorded guide and core outputs (built by this script, see its docstring)",
            "command": f".venv/bin/python bench/bench_gsm8k_tasks.py --limit {args.limit}",
            "versions": {name: importlib.metadata.version(name) for name in ("inspect-evals", "inspect-ai")},
            **compare(records, ours, theirs, forms),
            "code_version": code_version("evals/extraction.py", "evals/leaks.py", "evals/dropin.py", "guides/leaks.py"),
        }
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
