"""GSM8K (Cobbe et al., 2021): grade-school word problems, judged by the final number.

Data: ``gsm8k/train.jsonl`` and ``gsm8k/test.jsonl`` (fields ``question`` / ``answer``) in a data
folder, else ``openai/gsm8k`` on the Hub at a pinned revision. Ids: ``"gsm8k-" +
sha256(question.strip())[:12]``. Judged without a sandbox: the response's final answer (last
``\\boxed{}``, ``#### N`` or "answer is N") against the gold number after ``####``.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from gcop.evals.benchmarks.base import Benchmark, DataDir, SampleRecord
from gcop.evals.data import (
    DataRecordError,
    RawRecord,
    check_split,
    files_fingerprint,
    hub_rows,
    read_records,
    report_bad_records,
    require_dir,
    require_file,
    resolve_data_dir,
    str_field,
    unavailable_error,
)
from gcop.evals.extraction import extract_gsm8k_answer, gsm8k_is_correct, gsm8k_target
from gcop.evals.hub import HubUnavailable, hub_label, load_from_hub
from gcop.sandbox.protocol import Status, Verdict

GSM8K_HF_PATH = "openai/gsm8k"
GSM8K_HF_CONFIG = "main"
#: openai/gsm8k commit, the revision inspect_evals pins in its GSM8K task
#: (``GSM8K_DATASET_REVISION``, inspect_evals 0.20.0).
GSM8K_REVISION = "cc7b047b6e5bb11b4f1af84efc572db110a51b3c"

GSM8K_SPLITS = ("train", "test")

_GSM8K_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


@dataclass(frozen=True, slots=True)
class GSM8KProblem:
    """A GSM8K problem. ``answer`` is the full reference rationale (ending ``#### N``);
    ``target`` the gold number after the final ``####``, thousands commas removed."""

    benchmark: ClassVar[str] = "gsm8k"

    id: str
    split: str
    question: str
    answer: str
    target: str


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------


def _gsm8k_problem(raw: Mapping[str, Any], label: str, line: int) -> tuple[str, str, str]:
    """(question, answer, target) of a raw GSM8K record, or DataRecordError."""
    question = str_field(raw, "question", label, line)
    answer = str_field(raw, "answer", label, line)
    if "####" not in answer:
        raise DataRecordError(label, line, "answer", "missing '####' gold answer")
    target = gsm8k_target(answer)
    if not target:
        raise DataRecordError(label, line, "answer", "empty gold answer after '####'")
    if not _GSM8K_NUMBER.fullmatch(target):
        raise DataRecordError(label, line, "answer", f"gold answer {target!r} is not a number")
    return question, answer, target


# GSM8K errors carry their split, so a load of one split reports only that split's bad records.
_GSM8KParsed = tuple[tuple[GSM8KProblem, ...], tuple[tuple[str, DataRecordError], ...]]


def _gsm8k_parse(sources: Sequence[tuple[str, list[RawRecord], list[DataRecordError]]]) -> _GSM8KParsed:
    """Problems of all splits, in split order then source order, with their stable ids."""
    problems: list[GSM8KProblem] = []
    errors: list[tuple[str, DataRecordError]] = []
    seen: dict[str, int] = {}
    for split, raws, read_errors in sources:
        split_errors = list(read_errors)
        for label, line, raw in raws:
            try:
                question, answer, target = _gsm8k_problem(raw, label, line)
            except DataRecordError as exc:
                split_errors.append(exc)
                continue
            base = "gsm8k-" + hashlib.sha256(question.strip().encode("utf-8")).hexdigest()[:12]
            # Duplicate questions (none in the current data, train+test checked) would share a
            # content hash. The first occurrence, in the order train file, test file, keeps the
            # plain id; the n-th (n >= 2) becomes "<id>-<split>-<n>". Deterministic for given
            # files, and the ids of unique questions never depend on the rule.
            count = seen.get(base, 0) + 1
            seen[base] = count
            problem_id = base if count == 1 else f"{base}-{split}-{count}"
            problems.append(GSM8KProblem(problem_id, split, question, answer, target))
        errors.extend((split, e) for e in sorted(split_errors, key=lambda e: e.line))  # file order
    return tuple(problems), tuple(errors)


@functools.lru_cache(maxsize=16)
def _gsm8k_from_dir(data_dir: str, fingerprint: tuple[Any, ...]) -> _GSM8KParsed:
    del fingerprint  # cache key only
    sources: list[Any] = []
    for split in GSM8K_SPLITS:
        path = Path(data_dir) / "gsm8k" / f"{split}.jsonl"
        if path.is_file():
            sources.append((split, *read_records(path)))
    return _gsm8k_parse(sources)


@functools.lru_cache(maxsize=4)
def _gsm8k_from_hub(revision: str) -> _GSM8KParsed:
    sources: list[Any] = []
    for split in GSM8K_SPLITS:
        dataset = load_from_hub(GSM8K_HF_PATH, GSM8K_HF_CONFIG, split, revision)
        sources.append((split, hub_rows(dataset, hub_label(GSM8K_HF_PATH, revision, split)), []))
    return _gsm8k_parse(sources)


def _gsm8k_parsed(data_dir: str | os.PathLike[str] | None, split: str | None) -> _GSM8KParsed:
    root = resolve_data_dir(data_dir)
    if root is None:
        try:
            return _gsm8k_from_hub(GSM8K_REVISION)
        except HubUnavailable as exc:
            hub = f"{GSM8K_HF_PATH} config {GSM8K_HF_CONFIG!r} @ {GSM8K_REVISION}"
            raise unavailable_error("GSM8K", hub, exc, "gsm8k/train.jsonl and gsm8k/test.jsonl") from exc
    require_dir(root)
    files = [root / "gsm8k" / f"{s}.jsonl" for s in GSM8K_SPLITS]
    for needed in [root / "gsm8k" / f"{split}.jsonl"] if split else files:
        require_file(needed, f"GSM8K {needed.stem} split")
    return _gsm8k_from_dir(str(root), files_fingerprint(files))


def load_gsm8k(
    split: str | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    *,
    strict: bool = False,
) -> list[GSM8KProblem]:
    """GSM8K problems of ``split`` (``"train"`` / ``"test"``; ``None``: train then test), in
    source order.

    Ids are computed over train+test together, so a problem's id does not depend on which split
    was asked for. Should two questions share a content hash (none do in the current data), the
    first in the order train file, test file keeps ``gsm8k-<hash>`` and the n-th (n >= 2) gets
    ``gsm8k-<hash>-<split>-<n>``.
    """
    check_split(split, GSM8K_SPLITS, "GSM8K")
    problems, errors = _gsm8k_parsed(data_dir, split)
    report_bad_records([e for s, e in errors if split is None or s == split], "GSM8K", strict)
    return [p for p in problems if split is None or p.split == split]


# ---------------------------------------------------------------------------------------------
# The spec
# ---------------------------------------------------------------------------------------------


class GSM8KBenchmark(Benchmark):
    name = "gsm8k"
    in_selfcheck = True
    domain = "math"
    splits = GSM8K_SPLITS
    sandboxed = False
    id_field = "id"
    task_ref = "gcop.evals.gsm8k:gsm8k"
    hub_revision = f"{GSM8K_HF_PATH}@{GSM8K_REVISION}"
    #: The self-check answers the 1,319 test problems (the train split alone is 7,473).
    selfcheck_split = "test"

    def load(self, split: str | None = None, data_dir: DataDir = None, *, strict: bool = False) -> list[Any]:
        return list(load_gsm8k(split, data_dir, strict=strict))

    def record(self, problem: GSM8KProblem) -> SampleRecord:
        return SampleRecord(
            id=problem.id, input=problem.question, target=problem.target,
            metadata={"benchmark": self.name, "split": problem.split, "reference": self.reference_answer(problem)},
        )

    def reference_answer(self, problem: GSM8KProblem) -> str:
        rationale = problem.answer.split("####")[0].strip()
        return f"{rationale}\n\nThe answer is \\boxed{{{gsm8k_target(problem.answer)}}}."

    def verdict(self, response: str, target: str, metadata: Mapping[str, Any]) -> Verdict:
        """Numeric comparison of the response's final answer with the gold number."""
        answer = extract_gsm8k_answer(response)
        if answer is None:
            return Verdict(Status.FAILED, "no final answer found (no \\boxed{}, '#### N' or 'answer is N')")
        if gsm8k_is_correct(response, target):
            return Verdict(Status.PASSED, f"answer {answer} equals the gold {target}", 1, 1)
        return Verdict(Status.FAILED, f"answer {answer} differs from the gold {target}", 1, 0)

    def extracted_answer(self, response: str) -> str | None:
        return extract_gsm8k_answer(response)

    def wrong_answer(self, target: str, metadata: Mapping[str, Any]) -> str:
        """The gold number plus one: never right by accident."""
        try:
            wrong = str(int(float(target)) + 1)
        except ValueError:
            wrong = "none"
        return f"I am not sure how to solve this.\n\nThe answer is \\boxed{{{wrong}}}."

    def leak_args(self, target: str, metadata: Mapping[str, Any]) -> dict[str, Any]:
        return {"gold_answer": target}


GSM8K = GSM8KBenchmark()
