"""MBPP (Austin et al., 2021): short Python programming problems, judged by their assert tests.

Data: ``mbpp/<split>.jsonl`` in a data folder (rows of the Hub's ``sanitized`` config), else
``google-research-datasets/mbpp`` (config ``sanitized``) on the Hub at a pinned revision. Splits:
``train``, ``test``, ``validation``, ``prompt``. The statement shows the first assert only (MBPP's
own prompt shows them all: see :meth:`MBPPBenchmark.record`). Judged in the sandbox, pytest
style: the answer's code as ``solution.py``, each assert of ``test_list`` one test of
``test_solution.py`` behind ``from solution import *``.
"""

from __future__ import annotations

import ast
import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from gcop.evals.benchmarks.base import DataDir, SampleRecord
from gcop.evals.benchmarks.code import PytestCodeBenchmark
from gcop.evals.data import (
    DataRecordError,
    Parsed,
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
from gcop.evals.hub import HubUnavailable, hub_label, load_from_hub

MBPP_HF_PATH = "google-research-datasets/mbpp"
MBPP_HF_CONFIG = "sanitized"
#: google-research-datasets/mbpp commit, the revision inspect_evals pins in its MBPP task
#: (``MBPP_DATASET_REVISION`` in mbpp.py).
MBPP_REVISION = "4bb6404fdc6cacfda99d4ac4205087b89d32030c"
MBPP_SPLITS = ("train", "test", "validation", "prompt")


@dataclass(frozen=True, slots=True)
class MBPPProblem:
    """An MBPP problem (the ``sanitized`` config's fields; ``task_id`` as the string ``mbpp/<n>``)."""

    benchmark: ClassVar[str] = "mbpp"

    task_id: str
    prompt: str
    code: str
    test_imports: tuple[str, ...]
    test_list: tuple[str, ...]
    split: str

    @property
    def id(self) -> str:
        return self.task_id


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------


def _str_list(raw: Mapping[str, Any], name: str, label: str, line: int, *, allow_empty: bool) -> tuple[str, ...]:
    value = raw.get(name)
    if value is None:
        raise DataRecordError(label, line, name, "missing")
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise DataRecordError(label, line, name, "expected a list of strings")
    if not value and not allow_empty:
        raise DataRecordError(label, line, name, "empty")
    return tuple(value)


def _mbpp_parse(raws: list[RawRecord], read_errors: list[DataRecordError], split: str) -> Parsed[MBPPProblem]:
    problems: list[MBPPProblem] = []
    errors = list(read_errors)
    first_line: dict[str, int] = {}
    for label, line, raw in raws:
        try:
            number = raw.get("task_id")
            if isinstance(number, bool) or not isinstance(number, int | str) or not str(number).strip():
                raise DataRecordError(label, line, "task_id", "expected an integer or a non-empty string")
            task_id = f"mbpp/{number}"
            if task_id in first_line:
                raise DataRecordError(label, line, "task_id", f"duplicate of line {first_line[task_id]}")
            problem = MBPPProblem(
                task_id=task_id,
                prompt=str_field(raw, "prompt", label, line),
                code=str_field(raw, "code", label, line),
                test_imports=_str_list(raw, "test_imports", label, line, allow_empty=True),
                test_list=_str_list(raw, "test_list", label, line, allow_empty=False),
                split=split,
            )
        except DataRecordError as exc:
            errors.append(exc)
            continue
        first_line[task_id] = line
        problems.append(problem)
    return tuple(problems), tuple(errors)


@functools.lru_cache(maxsize=16)
def _mbpp_from_file(path: str, split: str, fingerprint: tuple[Any, ...]) -> Parsed[MBPPProblem]:
    del fingerprint  # cache key only
    return _mbpp_parse(*read_records(Path(path)), split)


@functools.lru_cache(maxsize=8)
def _mbpp_from_hub(split: str, revision: str) -> Parsed[MBPPProblem]:
    dataset = load_from_hub(MBPP_HF_PATH, MBPP_HF_CONFIG, split, revision)
    return _mbpp_parse(hub_rows(dataset, hub_label(MBPP_HF_PATH, revision, split)), [], split)


def load_mbpp(split: str | None = "test", data_dir: str | os.PathLike[str] | None = None, *,
              strict: bool = False) -> list[MBPPProblem]:
    """The problems of ``split`` (None: every split whose file exists locally, or all four from the Hub)."""
    check_split(split, MBPP_SPLITS, "mbpp")
    root = resolve_data_dir(data_dir)
    splits = [split] if split is not None else list(MBPP_SPLITS)
    problems: list[MBPPProblem] = []
    for name in splits:
        if root is None:
            try:
                parsed = _mbpp_from_hub(name, MBPP_REVISION)
            except HubUnavailable as exc:
                hub = f"{MBPP_HF_PATH} ({MBPP_HF_CONFIG}) @ {MBPP_REVISION}"
                raise unavailable_error("MBPP", hub, exc, "mbpp/<split>.jsonl") from exc
        else:
            require_dir(root)
            path = root / "mbpp" / f"{name}.jsonl"
            if split is None and not path.is_file():
                continue
            require_file(path, f"MBPP's {name} split")
            parsed = _mbpp_from_file(str(path), name, files_fingerprint([path]))
        report_bad_records(parsed[1], "MBPP", strict)
        problems.extend(parsed[0])
    return problems


# ---------------------------------------------------------------------------------------------
# The spec
# ---------------------------------------------------------------------------------------------


def entry_point(problem: MBPPProblem) -> str | None:
    """The function the tests call: the first function the reference defines whose name the
    tests use (MBPP's statements rarely name it)."""
    try:
        tree = ast.parse(problem.code)
    except SyntaxError:
        return None
    tests = "\n".join(problem.test_list)
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and f"{node.name}(" in tests:
            return node.name
    return None


def test_file(problem: MBPPProblem) -> str:
    """``test_solution.py``: the test imports, then one test per assert. The entry point is also
    imported by name: ``from solution import *`` binds no ``test_*`` name (it would be collected as
    a test), and MBPP has functions named so (``test_duplicate``)."""
    entry = entry_point(problem)
    lines = ["from solution import *", *([f"from solution import {entry}"] if entry else []), *problem.test_imports, ""]
    for number, assertion in enumerate(problem.test_list, start=1):
        lines += ["", f"def test_{number}():", f"    {assertion.strip()}", ""]
    return "\n".join(lines)


class MBPPBenchmark(PytestCodeBenchmark):
    name = "mbpp"
    splits = MBPP_SPLITS
    id_field = "task_id"
    task_ref = "gcop.evals.mbpp:mbpp"
    hub_revision = f"{MBPP_HF_PATH}/{MBPP_HF_CONFIG}@{MBPP_REVISION}"
    in_selfcheck = False  # no copy in the project's shared data folder

    def load(self, split: str | None = None, data_dir: DataDir = None, *, strict: bool = False) -> list[Any]:
        return load_mbpp(split, data_dir, strict=strict)

    def record(self, problem: MBPPProblem) -> SampleRecord:
        # One assert shown, as the function's signature by example; every assert judged. MBPP's own
        # prompt shows all of them, and a verdict on exactly what the statement shows is a reward
        # an answer earns by returning the shown values (a lookup table), without solving anything.
        text = f"{problem.prompt.strip()}\n\nFor example, your code should pass this test:\n\n```python\n{problem.test_list[0]}\n```"
        return SampleRecord(
            id=problem.task_id, input=text, target=entry_point(problem) or "",
            metadata={"benchmark": self.name, "split": problem.split, "test": test_file(problem),
                      "entry_point": entry_point(problem), "reference": self.reference_answer(problem)},
        )

    def reference_answer(self, problem: MBPPProblem) -> str:
        return "```python\n" + problem.code.strip() + "\n```"

    def leak_args(self, target: str, metadata: Mapping[str, Any]) -> dict[str, Any]:
        return {"entry_point": metadata.get("entry_point")}


MBPP = MBPPBenchmark()
