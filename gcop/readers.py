"""The two input readers every part of gcop uses: JSON Lines files and ``KEY=VALUE`` options.

**JSON Lines** (:func:`read_jsonl`): one rule for bad lines everywhere (data files, the accepted
corpus, replay recordings, acceptance state, ``gcop verify`` input). Blank lines are skipped; a
line that is not valid JSON, or not a JSON object, becomes a :class:`JsonlLineError` naming the
file and the line, and the good lines are kept: one bad line never sinks the others. ``.gz``
files are read compressed. What a caller does with the errors (warn, count, refuse) is its own
business; what counts as a bad line is decided here.

**KEY=VALUE** (:func:`key_value`): the value is read as a YAML scalar, as Inspect reads ``-T`` and
``-M`` (``3`` is an int, ``true`` a bool, ``null`` and an empty value are None); text YAML cannot
parse is kept as given. A missing ``=`` or an empty key is an error naming the flag.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["JsonlLineError", "key_value", "read_jsonl"]


@dataclass
class JsonlLineError:
    """One bad line of a JSON Lines file."""

    path: str
    line: int
    #: What is wrong, in a few words that group alike lines ("not valid JSON").
    message: str
    #: The field at fault, when a caller checks fields (None: the line as a whole).
    field: str | None = None
    #: The parser's own words, if any (shown in parentheses).
    detail: str | None = None

    @property
    def reason(self) -> str:
        """The message with the parser's detail."""
        return f"{self.message} ({self.detail})" if self.detail else self.message

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}"
        return f"{where}: {self.field}: {self.reason}" if self.field else f"{where}: {self.reason}"


def _lines(path: Path, errors: str) -> Iterator[str]:
    if path.name.endswith(".gz"):
        with gzip.open(path, "rt", encoding="utf-8", errors=errors) as handle:
            yield from handle
    else:
        with path.open(encoding="utf-8", errors=errors) as handle:
            yield from handle


def read_jsonl(path: str | Path, *, errors: str = "strict") -> tuple[list[tuple[int, dict[str, Any]]], list[JsonlLineError]]:
    """``([(line number, object), ...], [bad line, ...])`` for a ``.jsonl`` or ``.jsonl.gz`` file
    (line numbers from 1). ``errors``: the text decoder's rule (``replace`` reads a file with a
    stray byte; ``strict`` raises). A file that cannot be opened raises ``OSError``."""
    path = Path(path)
    records: list[tuple[int, dict[str, Any]]] = []
    bad: list[JsonlLineError] = []
    for number, line in enumerate(_lines(path, errors), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            bad.append(JsonlLineError(str(path), number, "not valid JSON", detail=f"{exc.msg} at column {exc.colno}"))
            continue
        if not isinstance(value, dict):
            bad.append(JsonlLineError(str(path), number, f"expected a JSON object, got {type(value).__name__}"))
            continue
        records.append((number, value))
    return records, bad


def key_value(text: str, *, flag: str = "option") -> tuple[str, Any]:
    """``(key, value)`` from ``KEY=VALUE`` (see the module docstring); ValueError names ``flag``."""
    import yaml

    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ValueError(f"{flag} takes KEY=VALUE, got {text!r}")
    if not raw.strip():
        return key, None
    try:
        return key, yaml.safe_load(raw)
    except yaml.YAMLError:
        return key, raw
