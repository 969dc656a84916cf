"""KodCode (Xu et al., 2025): Python tasks with pytest tests, sampled to 1,000 problems, 80/20.

Data: the full ``KodCode/KodCode-V1`` table (Hub, split "train"), or ``kodcode/kodcode_sample.jsonl``
in a data folder (which also carries judged trials). The sampling protocol is in
:func:`load_kodcode`. Judged in the sandbox: the response's code as ``solution.py`` and the
problem's tests as ``test_solution.py`` behind ``from solution import *``, run by pytest.
"""

from __future__ import annotations

import functools
import math
import os
import random
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from gcop.evals.benchmarks.base import DataDir, SampleRecord
from gcop.evals.benchmarks.code import PytestCodeBenchmark, pytest_job
from gcop.evals.data import (
    DataRecordError,
    Parsed,
    RawRecord,
    check_split,
    files_fingerprint,
    read_records,
    report_bad_records,
    require_dir,
    require_file,
    resolve_data_dir,
    str_field,
    unavailable_error,
)
from gcop.evals.extraction import kodcode_solution
from gcop.evals.hub import HubUnavailable, hub_label, load_from_hub
from gcop.sandbox.protocol import TestJob

KODCODE_HF_PATH = "KodCode/KodCode-V1"
KODCODE_HF_SPLIT = "train"
# TODO: pin. No full commit SHA of KodCode/KodCode-V1 could be verified offline (the Hub's file
# listing only showed the abbreviated head "97d81f0", and the Hub does not resolve abbreviated
# SHAs as revisions). Replace "main" with the 40-hex commit of the revision the paper used
# (``huggingface_hub.HfApi().dataset_info("KodCode/KodCode-V1").sha``) once it can be checked.
KODCODE_REVISION = "main"

#: Default seed, sample size and held-out fraction of the KodCode protocol.
KODCODE_SEED = 42
KODCODE_SAMPLE_SIZE = 1000
KODCODE_TEST_FRACTION = 0.2

KODCODE_SPLITS = ("train", "test")


@dataclass(frozen=True, slots=True)
class KodCodeTrial:
    """A solution a model wrote for a KodCode problem, the tests it was judged on and KodCode's
    recorded verdict."""

    trial: str
    solution_code: str
    test_code: str
    passed: bool


@dataclass(frozen=True, slots=True)
class KodCodeProblem:
    """A KodCode-V1 problem with the split the sampling protocol gave it.

    ``test_info`` holds KodCode's per-function dicts (``function_name``, ``parameter_list``,
    ``function_declaration``, ``docstring``; empty when the data has none) and is left out of
    the hash so problems stay hashable. ``trials`` are recorded judged solutions (local sample
    file only; empty for data read from the Hub).
    """

    benchmark: ClassVar[str] = "kodcode"

    question_id: str
    split: str
    question: str
    solution: str
    test: str
    test_info: tuple[dict[str, Any], ...] = field(hash=False)
    style: str
    subset: str
    gpt_difficulty: str
    trials: tuple[KodCodeTrial, ...] = ()

    @property
    def id(self) -> str:
        return self.question_id



# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------


def _kodcode_trials(raw: Mapping[str, Any], label: str, line: int) -> tuple[KodCodeTrial, ...]:
    value = raw.get("trials")
    if value is None:
        return ()
    if not isinstance(value, list):
        raise DataRecordError(label, line, "trials", f"expected a list, got {type(value).__name__}")
    trials = []
    for index, item in enumerate(value):
        where = f"trials[{index}]"
        if not isinstance(item, dict):
            raise DataRecordError(
                label, line, where, f"expected an object, got {type(item).__name__}"
            )
        trial = str_field(item, "trial", label, line)
        solution_code = str_field(item, "solution_code", label, line, allow_empty=True)
        test_code = str_field(item, "test_code", label, line)
        passed = item.get("passed")
        if not isinstance(passed, bool):
            raise DataRecordError(
                label, line, f"{where}.passed", f"expected true/false, got {type(passed).__name__}"
            )
        trials.append(KodCodeTrial(trial, solution_code, test_code, passed))
    return tuple(trials)


def _kodcode_problem(
    raw: Mapping[str, Any], split: str, label: str, line: int, *, read_trials: bool
) -> KodCodeProblem:
    question_id = str_field(raw, "question_id", label, line)
    question = str_field(raw, "question", label, line)
    solution = str_field(raw, "solution", label, line)
    test = str_field(raw, "test", label, line)
    test_info_raw = raw.get("test_info")
    # KodCode-V1 has test_info null for some records (19 of the 152 in shared/data): no info.
    if test_info_raw is None:
        test_info: tuple[dict[str, Any], ...] = ()
    elif isinstance(test_info_raw, list):
        for index, item in enumerate(test_info_raw):
            if not isinstance(item, dict):
                raise DataRecordError(
                    label,
                    line,
                    f"test_info[{index}]",
                    f"expected an object, got {type(item).__name__}",
                )
        test_info = tuple(dict(item) for item in test_info_raw)
    else:
        raise DataRecordError(
            label, line, "test_info", f"expected a list, got {type(test_info_raw).__name__}"
        )
    style = str_field(raw, "style", label, line)
    subset = str_field(raw, "subset", label, line)
    gpt_difficulty = str_field(raw, "gpt_difficulty", label, line)
    trials = _kodcode_trials(raw, label, line) if read_trials else ()
    return KodCodeProblem(
        question_id=question_id,
        split=split,
        question=question,
        solution=solution,
        test=test,
        test_info=test_info,
        style=style,
        subset=subset,
        gpt_difficulty=gpt_difficulty,
        trials=trials,
    )


def _kodcode_frame(
    candidates: Iterable[tuple[str, int, Any]],
) -> tuple[list[tuple[str, int]], list[DataRecordError]]:
    """The sampling frame: (question_id, line) of every record with a usable, unique
    question_id, sorted by question_id. Records without one are bad records."""
    frame: list[tuple[str, int]] = []
    errors: list[DataRecordError] = []
    first_line: dict[str, int] = {}
    for label, line, question_id in candidates:
        if question_id is None:
            errors.append(DataRecordError(label, line, "question_id", "missing"))
        elif not isinstance(question_id, str):
            errors.append(
                DataRecordError(
                    label,
                    line,
                    "question_id",
                    f"expected a string, got {type(question_id).__name__}",
                )
            )
        elif not question_id.strip():
            errors.append(DataRecordError(label, line, "question_id", "empty"))
        elif question_id in first_line:
            errors.append(
                DataRecordError(
                    label, line, "question_id", f"duplicate of line {first_line[question_id]}"
                )
            )
        else:
            first_line[question_id] = line
            frame.append((question_id, line))
    frame.sort()
    return frame, errors


def _kodcode_draw(
    frame: list[tuple[str, int]], sample_size: int, seed: int, test_fraction: float
) -> list[tuple[str, int, str]]:
    """(question_id, line, split) of the drawn records, in draw order.

    ``random.Random(seed).sample`` over the frame sorted by question_id, so the draw depends only
    on the set of ids, never on file or row order. The first ``floor(k * (1 - test_fraction))``
    drawn are "train", the rest "test". The split follows draw order, not question_id order, on
    purpose: ids cluster by subset ("Algorithm_...", "Leetcode_...", "Prefill_..."), so an
    id-sorted cut would put whole subsets on one side.
    """
    k = min(sample_size, len(frame))
    drawn = random.Random(seed).sample(frame, k)
    n_train = math.floor(k * (1.0 - test_fraction) + 1e-9)
    return [(qid, line, "train" if i < n_train else "test") for i, (qid, line) in enumerate(drawn)]


def _kodcode_build(
    drawn: list[tuple[str, int, str]],
    fetch: Callable[[list[int]], list[RawRecord]],
    errors: list[DataRecordError],
    *,
    read_trials: bool,
) -> Parsed[KodCodeProblem]:
    """Validate the drawn records; a bad one is dropped (not replaced), so the others keep their
    splits. Problems come out sorted by question_id."""
    raws = fetch([line for _, line, _ in drawn])
    problems: list[KodCodeProblem] = []
    for (_, _, split), (label, line, raw) in zip(drawn, raws, strict=True):
        try:
            problems.append(_kodcode_problem(raw, split, label, line, read_trials=read_trials))
        except DataRecordError as exc:
            errors.append(exc)
    problems.sort(key=lambda p: p.question_id)
    errors.sort(key=lambda e: (e.path, e.line))  # file (row) order
    return tuple(problems), tuple(errors)


@functools.lru_cache(maxsize=16)
def _kodcode_from_file(
    path: str, fingerprint: tuple[Any, ...], sample_size: int, seed: int, test_fraction: float
) -> Parsed[KodCodeProblem]:
    del fingerprint  # cache key only
    raws, errors = read_records(Path(path))
    by_line = {line: (label, line, raw) for label, line, raw in raws}
    frame, frame_errors = _kodcode_frame(
        (label, line, raw.get("question_id")) for label, line, raw in raws
    )
    drawn = _kodcode_draw(frame, sample_size, seed, test_fraction)
    return _kodcode_build(
        drawn, lambda lines: [by_line[n] for n in lines], errors + frame_errors, read_trials=True
    )


@functools.lru_cache(maxsize=4)
def _kodcode_from_hub(
    revision: str, sample_size: int, seed: int, test_fraction: float
) -> Parsed[KodCodeProblem]:
    dataset = load_from_hub(KODCODE_HF_PATH, None, KODCODE_HF_SPLIT, revision)
    label = hub_label(KODCODE_HF_PATH, revision, KODCODE_HF_SPLIT)
    # Only the id column is read for the whole table; full rows only for the drawn sample.
    question_ids = list(dataset["question_id"])
    frame, errors = _kodcode_frame(
        (label, row, qid) for row, qid in enumerate(question_ids, start=1)
    )
    drawn = _kodcode_draw(frame, sample_size, seed, test_fraction)

    def fetch(rows: list[int]) -> list[RawRecord]:
        return [
            (label, row, dict(record))
            for row, record in zip(rows, dataset.select([r - 1 for r in rows]), strict=True)
        ]

    # The Hub table's trial columns are not in the judged-trial shape of the local sample file.
    return _kodcode_build(drawn, fetch, errors, read_trials=False)


def load_kodcode(
    split: str | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    sample_size: int = KODCODE_SAMPLE_SIZE,
    seed: int = KODCODE_SEED,
    test_fraction: float = KODCODE_TEST_FRACTION,
    *,
    strict: bool = False,
) -> list[KodCodeProblem]:
    """KodCode problems of ``split`` (``"train"`` / ``"test"``; ``None``: the whole sample),
    sorted by question_id.

    The protocol: from the full KodCode-V1 table (Hub ``KodCode/KodCode-V1`` split "train", or
    ``kodcode/kodcode_sample.jsonl`` in the data directory) take the records with a valid,
    unique ``question_id``, sort them by it, draw ``k = min(sample_size, n)`` with
    ``random.Random(seed).sample``; the first ``floor(k * (1 - test_fraction))`` in draw order
    are "train", the rest "test". A record's split therefore depends only on (data, seed,
    sample_size, test_fraction), not on row order. A drawn record that turns out bad is dropped
    without redrawing, so the other records' splits do not move. Only the frame (question ids)
    and the drawn records are validated.
    """
    check_split(split, KODCODE_SPLITS, "KodCode")
    if isinstance(sample_size, bool) or not isinstance(sample_size, int) or sample_size < 0:
        raise ValueError(f"sample_size must be a non-negative int, got {sample_size!r}")
    if not 0.0 <= test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction!r}")
    root = resolve_data_dir(data_dir)
    if root is None:
        try:
            parsed = _kodcode_from_hub(KODCODE_REVISION, sample_size, seed, float(test_fraction))
        except HubUnavailable as exc:
            hub = f"{KODCODE_HF_PATH} split {KODCODE_HF_SPLIT!r} @ {KODCODE_REVISION}"
            raise unavailable_error("KodCode", hub, exc, "kodcode/kodcode_sample.jsonl") from exc
    else:
        require_dir(root)
        path = require_file(root / "kodcode" / "kodcode_sample.jsonl", "KodCode")
        parsed = _kodcode_from_file(
            str(path), files_fingerprint([path]), sample_size, seed, float(test_fraction)
        )
    report_bad_records(parsed[1], "KodCode", strict)
    return [p for p in parsed[0] if split is None or p.split == split]


# ---------------------------------------------------------------------------------------------
# The spec
# ---------------------------------------------------------------------------------------------


class KodCodeBenchmark(PytestCodeBenchmark):
    name = "kodcode"
    in_selfcheck = True
    splits = KODCODE_SPLITS
    id_field = "question_id"
    verify_overrides = ("test",)
    task_ref = "gcop.evals.kodcode:kodcode"
    hub_revision = f"{KODCODE_HF_PATH}@{KODCODE_REVISION} seed={KODCODE_SEED}"

    def load(self, split: str | None = None, data_dir: DataDir = None, *, strict: bool = False) -> list[Any]:
        return list(load_kodcode(split, data_dir, strict=strict))

    def record(self, problem: KodCodeProblem) -> SampleRecord:
        return SampleRecord(
            id=problem.question_id, input=problem.question, target="",
            metadata={"benchmark": self.name, "split": problem.split, "test": problem.test,
                      "subset": problem.subset, "difficulty": problem.gpt_difficulty,
                      "reference": self.reference_answer(problem)},
        )

    def reference_answer(self, problem: KodCodeProblem) -> str:
        return "```python\n" + problem.solution.strip() + "\n```"

    def leak_args(self, target: str, metadata: Mapping[str, Any]) -> dict[str, Any]:
        """No single entry point: the first function the tests import."""
        names = re.findall(r"from solution import ([\w, ]+)", metadata.get("test", ""))
        first = names[0].split(",")[0].strip() if names else None
        return {"entry_point": first if first and first != "*" else None}

    def recorded_trials(self, problem: KodCodeProblem) -> list[tuple[str, TestJob, bool]]:
        """KodCode's judged trials, run as its own runner ran them (the response verbatim)."""
        return [(f"{problem.id}/{t.trial}", kodcode_job(problem, t.solution_code, test=t.test_code, verbatim=True), t.passed)
                for t in problem.trials]


KODCODE = KodCodeBenchmark()


def kodcode_job(
    problem: KodCodeProblem,
    response: str,
    *,
    test: str | None = None,
    timeout: float | None = None,
    verbatim: bool = False,
) -> TestJob:
    """KodCode's layout: the extracted code as ``solution.py``, the problem's tests (or ``test``,
    which replaces them) as ``test_solution.py`` behind ``from solution import *``.

    ``verbatim`` writes the response itself as ``solution.py``, without extracting code, as
    KodCode's own runner did when it recorded its trials (prose around the code fails there)."""
    solution = response if verbatim else kodcode_solution(response)
    # Other tests (a recorded trial's own) were written for another solution than the reference:
    # what they need of the candidate's objects is unknown, so handle operations stay allowed.
    reference = problem.solution if test is None else None
    return pytest_job(solution, problem.test if test is None else test, timeout, problem.question_id, reference)
